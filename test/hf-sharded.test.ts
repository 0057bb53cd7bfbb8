// Sharded Hugging Face checkpoints (model.safetensors.index.json + model-0000i-of-0000N
// shards): fixtures turned into HF checkpoints by test/hf-checkpoint.ts's inverse mapping, written
// once as model.safetensors and once as shards whose tensors are in another order than the single
// file's; the sharded one must give the single file's logits bit for bit and llama.cpp's within
// hf-families.test.ts's tolerance. Then one refusal per way an index and its shards can disagree,
// the single-file preference, the { config, index, shards } form, and the CLI on a sharded dir
// (logits, info, quantize).

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { FfnkitError, loadModel, readWeights, type LlamaModel } from '../src/node/index.js';
import { hfCheckpoint, safetensorsOf, type HfTensor } from './hf-checkpoint.js';
import { againstReference } from './llamacpp.js';
import { SHARED, sharedJson } from './shared.js';

interface Golden {
  tokens: number[];
  vocab: number;
  logits: number[][];
}

const INDEX = 'model.safetensors.index.json';
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ffnkit-shards-'));
  dirs.push(dir);
  return dir;
}

const shardName = (i: number, n: number) => `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;

/**
 * A checkpoint split into `n` shards: the tensors in reverse order dealt round-robin, so each
 * shard's order and membership differ from the single file's; the index lists them by name, as
 * Hugging Face's writer does, with total_size their data bytes.
 */
function shardsOf(tensors: HfTensor[], n: number): { shards: HfTensor[][]; index: { metadata: { total_size: number }; weight_map: Record<string, string> } } {
  const shards: HfTensor[][] = Array.from({ length: n }, () => []);
  [...tensors].reverse().forEach((t, i) => shards[i % n]!.push(t));
  const weightMap: Record<string, string> = {};
  shards.forEach((s, i) => s.forEach((t) => (weightMap[t.name] = shardName(i, n))));
  const sorted = Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : 1)));
  const total = tensors.reduce((a, t) => a + t.data.byteLength, 0);
  return { shards, index: { metadata: { total_size: total }, weight_map: sorted } };
}

/** Writes config.json, the shards and the index (text as given when `indexText` is set) into `dir`. */
function writeSharded(dir: string, config: Record<string, unknown>, layout: ReturnType<typeof shardsOf>, indexText?: string): string {
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  layout.shards.forEach((s, i) => writeFileSync(join(dir, shardName(i, layout.shards.length)), safetensorsOf(s)));
  writeFileSync(join(dir, INDEX), indexText ?? JSON.stringify(layout.index, null, 2));
  return dir;
}

function writeSingle(dir: string, config: Record<string, unknown>, tensors: HfTensor[]): string {
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, 'model.safetensors'), safetensorsOf(tensors));
  return dir;
}

const golden = (fixture: string) => sharedJson<Record<string, Golden>>('golden', 'llamacpp-fixtures.json')[`fixture-${fixture}-f32.gguf`]!;

function allLogits(model: LlamaModel, tokens: number[], vocab: number): Float32Array[] {
  model.reset();
  const flat = model.forward(tokens, { allLogits: true });
  return tokens.map((_, p) => flat.slice(p * vocab, (p + 1) * vocab));
}

/** Asserts that `run` rejects with an FfnkitError of `code` whose message matches every pattern. */
async function expectRefusal(run: () => Promise<unknown>, code: string, ...patterns: (string | RegExp)[]): Promise<string> {
  let error: unknown;
  try {
    await run();
  } catch (e) {
    error = e;
  }
  expect(error, 'it was accepted').toBeInstanceOf(FfnkitError);
  const message = (error as FfnkitError).message;
  expect((error as FfnkitError).code, message).toBe(code);
  for (const p of patterns) {
    if (typeof p === 'string') expect(message).toContain(p);
    else expect(message).toMatch(p);
  }
  return message;
}

describe.skipIf(!SHARED)('a sharded checkpoint gives its single file\'s logits, and llama.cpp\'s', () => {
  // llama: q/k rows in half-split order; qwen2: biases, tied classifier; phi3: fused tensors
  for (const [fixture, n] of [['llama', 2], ['qwen2', 3], ['phi3', 3]] as const) {
    test(`${fixture} in ${n} shards`, async () => {
      const checkpoint = hfCheckpoint(fixture);
      const layout = shardsOf(checkpoint.tensors, n);
      // every shard holds tensors, and not in the single file's order
      expect(layout.shards.every((s) => s.length > 0)).toBe(true);
      expect(layout.shards[0]![0]!.name).not.toBe(checkpoint.tensors[0]!.name);
      const sharded = writeSharded(tempDir(), checkpoint.config, layout);
      const single = writeSingle(tempDir(), checkpoint.config, checkpoint.tensors);
      const ref = golden(fixture);
      const fromShards = await loadModel(sharded);
      const fromSingle = await loadModel(single);
      expect(fromShards.format).toBe('safetensors');
      const a = allLogits(fromShards, ref.tokens, ref.vocab);
      const b = allLogits(fromSingle, ref.tokens, ref.vocab);
      a.forEach((row, p) => expect(row, `position ${p}`).toEqual(b[p]));
      const { argmaxMisses, maxDiffOverStd } = againstReference(a, ref.logits.map((r) => Float32Array.from(r)));
      console.info(`HF ${fixture} in ${n} shards: max |diff| / std ${maxDiffOverStd.toFixed(5)}, argmax differs at ${argmaxMisses} of ${ref.tokens.length}`);
      expect(argmaxMisses).toBeLessThanOrEqual(1);
      expect(maxDiffOverStd).toBeLessThanOrEqual(0.02);
    });
  }

  test('the same weights as the single file, tensor for tensor', async () => {
    const checkpoint = hfCheckpoint('qwen2');
    const sharded = (await readWeights(writeSharded(tempDir(), checkpoint.config, shardsOf(checkpoint.tensors, 2)))).weights;
    const single = (await readWeights(writeSingle(tempDir(), checkpoint.config, checkpoint.tensors))).weights;
    expect(sharded.config).toEqual(single.config);
    // byte comparisons: toEqual over every float of every layer takes seconds
    const bytes = (a: unknown) => Buffer.from((a as Float32Array).buffer, (a as Float32Array).byteOffset, (a as Float32Array).byteLength);
    const same = (a: unknown, b: unknown, what: string) => expect(bytes(a).equals(bytes(b)), what).toBe(true);
    same(sharded.tokenEmbedding, single.tokenEmbedding, 'tokenEmbedding');
    same(sharded.finalNorm, single.finalNorm, 'finalNorm');
    sharded.layers.forEach((layer, i) => {
      const other = single.layers[i] as unknown as Record<string, unknown>;
      expect(Object.keys(layer).sort()).toEqual(Object.keys(other).sort());
      for (const [key, value] of Object.entries(layer)) same(value, other[key], `layer ${i} ${key}`);
    });
  });
});

describe.skipIf(!SHARED)('a sharded download the index disagrees with is refused, naming the file and tensor', () => {
  const checkpoint = SHARED ? hfCheckpoint('llama') : { config: {}, tensors: [] };
  const layout = () => shardsOf(checkpoint.tensors, 3);
  const shard = (i: number) => shardName(i, 3);

  test('the index is not JSON', async () => {
    const dir = writeSharded(tempDir(), checkpoint.config, layout(), '{"weight_map": {');
    await expectRefusal(() => loadModel(dir), 'E_FORMAT', join(dir, INDEX), 'not valid JSON');
  });

  test('the index has no weight_map', async () => {
    const dir = writeSharded(tempDir(), checkpoint.config, layout(), JSON.stringify({ metadata: { total_size: 1 } }));
    await expectRefusal(() => loadModel(dir), 'E_FORMAT', join(dir, INDEX), 'no weight_map');
    const other = writeSharded(tempDir(), checkpoint.config, layout(), JSON.stringify({ weight_map: { 'model.norm.weight': 7 } }));
    await expectRefusal(() => loadModel(other), 'E_FORMAT', join(other, INDEX), 'model.norm.weight');
  });

  test('a shard the index names is missing', async () => {
    const dir = writeSharded(tempDir(), checkpoint.config, layout());
    unlinkSync(join(dir, shard(1)));
    await expectRefusal(() => loadModel(dir), 'E_ARG', join(dir, INDEX), `shard ${shard(1)}`, 'cannot be read');
  });

  test('a tensor of the index is absent from its shard', async () => {
    const l = layout();
    const gone = l.shards[2]![1]!.name;
    l.shards[2] = l.shards[2]!.filter((t) => t.name !== gone);
    const dir = writeSharded(tempDir(), checkpoint.config, l);
    await expectRefusal(() => loadModel(dir), 'E_FORMAT', join(dir, shard(2)), `tensor ${gone} is missing`);
  });

  test('a tensor of a shard is not in the index', async () => {
    const l = layout();
    const unlisted = l.shards[1]![0]!.name;
    delete l.index.weight_map[unlisted];
    const dir = writeSharded(tempDir(), checkpoint.config, l);
    await expectRefusal(() => loadModel(dir), 'E_FORMAT', join(dir, shard(1)), `tensor ${unlisted} is not in ${join(dir, INDEX)}`);
  });

  test('a tensor in two shards', async () => {
    // a later shard repeating one of an earlier shard's tensors
    const l = layout();
    const twice = l.shards[0]![0]!;
    l.shards[2]!.push(twice);
    const dir = writeSharded(tempDir(), checkpoint.config, l);
    await expectRefusal(() => loadModel(dir), 'E_FORMAT', join(dir, shard(2)), `tensor ${twice.name} is also in shard ${shard(0)}`);
    // an earlier shard holding, besides its own, a tensor the index puts in a later one
    const m = layout();
    const early = m.shards[2]![0]!;
    m.shards[0]!.push(early);
    const dir2 = writeSharded(tempDir(), checkpoint.config, m);
    await expectRefusal(() => loadModel(dir2), 'E_FORMAT', join(dir2, shard(0)), `tensor ${early.name} is here`, `in shard ${shard(2)}`);
  });

  test('shard names that leave the directory', async () => {
    for (const escape of ['../outside.safetensors', '/tmp/outside.safetensors', 'sub/../../outside.safetensors', '..\\outside.safetensors', 'C:/outside.safetensors']) {
      const parent = tempDir();
      const dir = join(parent, 'model');
      mkdirSync(dir);
      // a readable, consistent shard really is there: the name alone is refused
      const l = shardsOf(checkpoint.tensors, 1);
      writeFileSync(join(parent, 'outside.safetensors'), safetensorsOf(l.shards[0]!));
      for (const name of Object.keys(l.index.weight_map)) l.index.weight_map[name] = escape;
      writeSharded(dir, checkpoint.config, l);
      unlinkSync(join(dir, shardName(0, 1)));
      await expectRefusal(() => loadModel(dir), 'E_FORMAT', join(dir, INDEX), JSON.stringify(escape), 'outside the checkpoint\'s directory');
    }
  });

  test('metadata.total_size other than the tensors\' bytes (a shard of another revision, say)', async () => {
    const l = layout();
    const total = l.index.metadata.total_size;
    l.index.metadata.total_size = total + 4;
    const dir = writeSharded(tempDir(), checkpoint.config, l);
    await expectRefusal(() => loadModel(dir), 'E_FORMAT', join(dir, INDEX), `total_size is ${total + 4}`, `hold ${total}`);
  });

  test('a truncated shard', async () => {
    const dir = writeSharded(tempDir(), checkpoint.config, layout());
    const bytes = safetensorsOf(layout().shards[1]!);
    writeFileSync(join(dir, shard(1)), bytes.subarray(0, bytes.length - 100));
    await expectRefusal(() => loadModel(dir), 'E_FORMAT', join(dir, shard(1)), /data_offsets .* outside/);
  });

  test('config.json is checked before any shard is read (a refused model_type, with every shard gone)', async () => {
    const dir = writeSharded(tempDir(), { ...checkpoint.config, model_type: 'mamba' }, layout());
    for (let i = 0; i < 3; i++) unlinkSync(join(dir, shard(i)));
    await expectRefusal(() => loadModel(dir), 'E_UNSUPPORTED', 'config.json: model_type \'mamba\'');
    const tied = writeSharded(tempDir(), { ...hfCheckpoint('gemma').config }, shardsOf([...hfCheckpoint('gemma').tensors, { name: 'lm_head.weight', shape: [1], data: new Float32Array(1) }], 2));
    for (let i = 0; i < 2; i++) unlinkSync(join(tied, shardName(i, 2)));
    await expectRefusal(() => loadModel(tied), 'E_UNSUPPORTED', /model-0000[12]-of-00002\.safetensors: tensor lm_head\.weight: gemma ties its classifier/);
  });

  test('a directory with neither model.safetensors nor an index', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'config.json'), JSON.stringify(checkpoint.config));
    await expectRefusal(() => loadModel(dir), 'E_ARG', dir, 'neither model.safetensors nor model.safetensors.index.json');
  });
});

describe.skipIf(!SHARED)('the index fuzzed', () => {
  test('characters of the index replaced: read, or an FfnkitError', async () => {
    const checkpoint = hfCheckpoint('qwen3');
    const layout = shardsOf(checkpoint.tensors, 2);
    const config = JSON.stringify(checkpoint.config);
    const shards = Object.fromEntries(layout.shards.map((s, i) => [shardName(i, 2), safetensorsOf(s)]));
    const text = JSON.stringify(layout.index);
    const alphabet = '{}[]":,.0123456789/\\ -_abz';
    let state = 11;
    const next = () => ((state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32);
    let rejected = 0;
    let read = 0;
    for (let i = 0; i < 150; i++) {
      const chars = [...text];
      for (let k = 0; k < 1 + Math.floor(next() * 3); k++) chars[Math.floor(next() * chars.length)] = alphabet[Math.floor(next() * alphabet.length)]!;
      try {
        await readWeights({ config, index: chars.join(''), shards });
        read++;
      } catch (e) {
        if (!(e instanceof FfnkitError)) throw new Error(`${chars.join('')}: ${String((e as Error).stack ?? e)}`);
        rejected++;
      }
    }
    console.info(`index fuzzed: ${read} read, ${rejected} refused`);
    expect(rejected).toBeGreaterThan(100);
  });
});

describe.skipIf(!SHARED)('which file, and the object form', () => {
  const checkpoint = SHARED ? hfCheckpoint('qwen2') : { config: {}, tensors: [] };
  const ref = SHARED ? golden('qwen2') : { tokens: [], vocab: 0, logits: [] };

  test('a directory with both model.safetensors and an index reads the single file (as Hugging Face\'s loaders do)', async () => {
    const dir = writeSingle(tempDir(), checkpoint.config, checkpoint.tensors);
    writeFileSync(join(dir, INDEX), '{"weight_map": {"broken": "model-00009-of-00009.safetensors"}}');
    const model = await loadModel(dir);
    const single = await loadModel(writeSingle(tempDir(), checkpoint.config, checkpoint.tensors));
    expect(allLogits(model, ref.tokens, ref.vocab)).toEqual(allLogits(single, ref.tokens, ref.vocab));
  });

  test('{ config, index, shards }: the index as text and the shards as bytes, or the index as a path with its shards beside it', async () => {
    const layout = shardsOf(checkpoint.tensors, 2);
    const single = allLogits(await loadModel(writeSingle(tempDir(), checkpoint.config, checkpoint.tensors)), ref.tokens, ref.vocab);
    const shards = Object.fromEntries(layout.shards.map((s, i) => [shardName(i, 2), safetensorsOf(s)]));
    const fromBytes = await loadModel({ config: JSON.stringify(checkpoint.config), index: JSON.stringify(layout.index), shards });
    expect(allLogits(fromBytes, ref.tokens, ref.vocab)).toEqual(single);
    const dir = writeSharded(tempDir(), checkpoint.config, layout);
    const fromPath = await loadModel({ config: join(dir, 'config.json'), index: join(dir, INDEX) });
    expect(allLogits(fromPath, ref.tokens, ref.vocab)).toEqual(single);
    // a Blob per shard, as a browser's file picker gives them
    const blobs = Object.fromEntries(layout.shards.map((s, i) => [shardName(i, 2), new Blob([safetensorsOf(s)])]));
    const fromBlobs = await loadModel({ config: JSON.stringify(checkpoint.config), index: new Blob([JSON.stringify(layout.index)]), shards: blobs });
    expect(allLogits(fromBlobs, ref.tokens, ref.vocab)).toEqual(single);
  });

  test('the object form refuses a shard not given, both forms at once, and shards without their index', async () => {
    const layout = shardsOf(checkpoint.tensors, 2);
    const config = JSON.stringify(checkpoint.config);
    const first = { [shardName(0, 2)]: safetensorsOf(layout.shards[0]!) };
    await expectRefusal(() => loadModel({ config, index: JSON.stringify(layout.index), shards: first }), 'E_ARG', `shard ${shardName(1, 2)}`, 'was not given');
    await expectRefusal(() => loadModel({ config, index: JSON.stringify(layout.index), safetensors: safetensorsOf(checkpoint.tensors) }), 'E_ARG', 'not both');
    await expectRefusal(() => readWeights({ config, safetensors: safetensorsOf(checkpoint.tensors), shards: first }), 'E_ARG', 'shards need their index');
  });
});

describe.skipIf(!SHARED)('the command line on a sharded directory', () => {
  test('ffnkit logits, info and quantize --model DIR', async () => {
    const checkpoint = hfCheckpoint('llama');
    const ref = golden('llama');
    const sharded = writeSharded(tempDir(), checkpoint.config, shardsOf(checkpoint.tensors, 3));
    const single = writeSingle(tempDir(), checkpoint.config, checkpoint.tensors);
    const bin = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'bin', 'ffnkit.js');
    const run = (...args: string[]) => new Promise<string>((done, fail) =>
      execFile(process.execPath, [bin, ...args], { timeout: 60_000, env: { ...process.env, FFNKIT_FROM_SOURCES: '1' } }, (e, out, err) => (e ? fail(new Error(`${e.message}\n${err}`)) : done(out))));
    const ids = ref.tokens.join(',');
    const [fromShards, fromSingle, info] = await Promise.all([run('logits', '--model', sharded, '--ids', ids, '--json'), run('logits', '--model', single, '--ids', ids, '--json'), run('info', '--model', sharded, '--json')]);
    const parsed = JSON.parse(fromShards) as { vocab: number; logits: number[][] };
    expect(parsed.vocab).toBe(ref.vocab);
    expect(parsed.logits).toEqual((JSON.parse(fromSingle) as { logits: number[][] }).logits);
    const { argmaxMisses, maxDiffOverStd } = againstReference(parsed.logits.map((r) => Float32Array.from(r)), ref.logits.map((r) => Float32Array.from(r)));
    expect(argmaxMisses).toBeLessThanOrEqual(1);
    expect(maxDiffOverStd).toBeLessThanOrEqual(0.02);
    const about = JSON.parse(info) as { format: string; nLayers: number; dim: number };
    expect([about.format, about.nLayers, about.dim]).toEqual(['safetensors', 2, 256]);
    // quantize, the way to run a checkpoint whose float32 weights pass wasm32's 4 GiB: the same file from either
    const out = tempDir();
    await Promise.all([run('quantize', '--model', sharded, '--type', 'Q8_0', '--out', join(out, 'sharded.gguf')), run('quantize', '--model', single, '--type', 'Q8_0', '--out', join(out, 'single.gguf'))]);
    const [a, b] = [readFileSync(join(out, 'sharded.gguf')), readFileSync(join(out, 'single.gguf'))];
    expect(a.length).toBeGreaterThan(100_000);
    expect(a.equals(b)).toBe(true);
  });
});
