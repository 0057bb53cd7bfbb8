// FactorLLM files that leave ffnkit: `ffnkit factorize --llamacpp` writes a GGUF that llama.cpp
// (node-llama-cpp, native) loads and runs with ffnkit's logits; the combinations llama.cpp does
// not compute keep their router bias, which llama.cpp refuses rather than misreads.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { LlamaModel, Tokenizer, loadModel, parseGguf, readGguf, type LlamaWeights } from '../src/node/index.js';
import type { GgufFile } from '../src/formats/gguf.js';
import { ggmlTypeById } from '../src/model/ggml-types.js';
import { LLAMA_CPP, againstReference, llamaCppLogits } from './llamacpp.js';
import { SHARED, sharedPath, sharedText } from './shared.js';

const bin = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'bin', 'ffnkit.js');
const FROM_SOURCES = { ...process.env, FFNKIT_FROM_SOURCES: '1' }; // the sources under test, not dist/
const run = (args: string[]) =>
  new Promise<{ code: number; stderr: string }>((done) =>
    execFile(process.execPath, [bin, ...args], { timeout: 120_000, env: FROM_SOURCES }, (e, _out, stderr) => done({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stderr })),
  );
const factorize = (out: string, extra: string[]) => run([
  'factorize', '--model', sharedPath('models', 'stories260K.bin'), '--tokenizer', sharedPath('models', 'tok512.bin'),
  '--calib', sharedPath('data', 'tinystories-calib.txt'), '--experts', '4', '--top-k', '2', '--split', 'kmeans',
  '--steps', '40', '--calib-tokens', '1024', '--out', out, ...extra,
]);

describe.skipIf(!SHARED)('factorized files for llama.cpp', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ffnkit-llamacpp-moe-'));

  test('--llamacpp writes the weighted combination, no router bias, and the expert counts llama.cpp reads', async () => {
    const out = join(dir, 'moe.gguf');
    const r = await factorize(out, ['--llamacpp']);
    expect(r.stderr).toContain('weighted combination');
    expect(r.code).toBe(0);
    const file = parseGguf(new Uint8Array(readFileSync(out)));
    expect(file.metadata.get('llama.expert_count')).toBe(4);
    expect(file.metadata.get('llama.expert_used_count')).toBe(2);
    expect(file.metadata.get('ffnkit.combination')).toBe('weighted');
    const names = file.tensors.map((t) => t.name);
    expect(names.filter((n) => n.endsWith('ffn_gate_inp.weight'))).toHaveLength(5);
    expect(names.filter((n) => n.endsWith('ffn_gate_inp.bias'))).toEqual([]);
  });

  test('--llamacpp refuses the combinations llama.cpp does not compute, and writes nothing', async () => {
    const out = join(dir, 'sum.gguf');
    const r = await factorize(out, ['--llamacpp', '--combination', 'sum']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--combination sum: llama.cpp's llama graph weights the chosen experts/);
    expect(existsSync(out)).toBe(false);
  });

  test('a sum-combination file keeps its router bias (so llama.cpp refuses it)', async () => {
    const out = join(dir, 'sum-ffnkit.gguf');
    expect((await factorize(out, ['--steps', '0'])).code).toBe(0);
    const names = parseGguf(new Uint8Array(readFileSync(out))).tensors.map((t) => t.name);
    expect(names.filter((n) => n.endsWith('ffn_gate_inp.bias'))).toHaveLength(5);
    if (LLAMA_CPP) await expect(llamaCppLogits(out, [1, 403], 512)).rejects.toThrow();
  });

  test.skipIf(!LLAMA_CPP)('llama.cpp runs the --llamacpp file with the logits ffnkit computes', async () => {
    const out = join(dir, 'moe.gguf');
    if (!existsSync(out)) expect((await factorize(out, ['--llamacpp'])).code).toBe(0);
    const { argmaxMisses, maxDiffOverStd } = await againstLlamaCpp(out, sharedPath('models', 'tok512.bin'), 'factorized stories260K (E 4, k 2, weighted)');
    expect(argmaxMisses).toBeLessThanOrEqual(1);
    expect(maxDiffOverStd).toBeLessThanOrEqual(0.02);
  });
});

// The llama.cpp fixtures (random weights, tok512 vocabulary) factorized from each block type and
// family that travels: experts in the source's types, llama.cpp's MoE architecture for the family.
const fixture = (name: string) => sharedPath('models', 'fixtures', `fixture-${name}.gguf`);
const factorizeFixture = (name: string, out: string, extra: string[] = []) => run([
  'factorize', '--model', fixture(name), '--tokenizer', fixture(name), '--calib', sharedPath('data', 'tinystories-calib.txt'),
  '--experts', '4', '--top-k', '2', '--split', 'kmeans', '--steps', '40', '--calib-tokens', '1024', '--out', out, '--llamacpp', ...extra,
]);

describe.skipIf(!SHARED)('factorized fixtures for llama.cpp: block types and families', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ffnkit-llamacpp-moe-fixtures-'));
  // dim 256, FFN 768: an expert has 192 neurons, whole rows of every type for gate and up, but not
  // whole 256-value blocks for down, which the kmeans split gathers from scattered columns anyway
  const cases: { name: string; arch: string; gate: string[]; down: string[]; requantized: boolean }[] = [
    { name: 'llama-q4_k_m', arch: 'llama', gate: ['Q4_K'], down: ['Q5_0', 'Q8_0'], requantized: true },
    { name: 'llama-q4_0', arch: 'llama', gate: ['Q4_0'], down: ['Q4_0'], requantized: true },
    { name: 'llama-q6_k', arch: 'llama', gate: ['Q6_K'], down: ['Q8_0'], requantized: true },
    { name: 'llama-q8_0', arch: 'llama', gate: ['Q8_0'], down: ['Q8_0'], requantized: true },
    { name: 'qwen3-f32', arch: 'qwen3moe', gate: ['F32'], down: ['F32'], requantized: false },
    { name: 'phi3-f32', arch: 'phimoe', gate: ['F32'], down: ['F32'], requantized: false },
    { name: 'qwen2-f32', arch: 'qwen2moe', gate: ['F32'], down: ['F32'], requantized: false },
  ];
  for (const c of cases) {
    test(`${c.name}: experts in the source's block types, as llama.cpp's ${c.arch}${LLAMA_CPP ? ', with ffnkit\'s logits' : ''}`, async () => {
      const out = join(dir, `${c.name}.gguf`);
      const r = await factorizeFixture(c.name, out);
      expect(r.code, r.stderr).toBe(0);
      const file = parseGguf(new Uint8Array(readFileSync(out)));
      expect(file.metadata.get('general.architecture')).toBe(c.arch);
      expect(file.metadata.get(`${c.arch}.expert_count`)).toBe(4);
      expect(file.metadata.get(`${c.arch}.expert_feed_forward_length`)).toBe(192);
      const typesOf = (suffix: string) => [...new Set(file.tensors.filter((t) => t.name.endsWith(suffix)).map((t) => ggmlTypeById(t.type)!.name))].sort();
      expect(typesOf('ffn_gate_exps.weight')).toEqual(c.gate);
      expect(typesOf('ffn_up_exps.weight')).toEqual(c.gate);
      expect(typesOf('ffn_down_exps.weight')).toEqual(c.down);
      // the second rounding is said on the terminal and in the file
      const requantized = file.metadata.get('ffnkit.requantized') as string[] | undefined;
      if (c.requantized) {
        expect(r.stderr).toContain('requantized');
        expect(requantized).toHaveLength(2);
        expect(requantized![0]).toMatch(/^blk\.0: ffn_down_exps \S+ -> \S+$/);
      } else {
        expect(requantized).toBeUndefined();
      }
      // gate and up rows are the source's own blocks, byte for byte
      const source = parseGguf(new Uint8Array(readFileSync(fixture(c.name))));
      if (c.gate[0] !== 'F32') expect(sameRowBlocks(source, file, readFileSync(fixture(c.name)), readFileSync(out))).toBe(true);
      // phimoe's biases are there, as zeros, and read back as nothing
      if (c.arch === 'phimoe') {
        expect(file.tensors.filter((t) => t.name.endsWith('.bias')).map((t) => t.name).sort()).toEqual(
          ['attn_norm', 'attn_output', 'ffn_norm'].flatMap((n) => [0, 1].map((i) => `blk.${i}.${n}.bias`)).concat(['output.bias', 'output_norm.bias']).sort(),
        );
        expect(readGguf(new Uint8Array(readFileSync(out))).weights.config.family).toBe('phi3');
        // a bias that is not zero would change the model: refused, named
        const edited = new Uint8Array(readFileSync(out));
        const bias = file.tensors.find((t) => t.name === 'blk.1.ffn_norm.bias')!;
        new DataView(edited.buffer).setFloat32(file.dataStart + bias.offset + 4, 0.5, true);
        expect(() => readGguf(edited, 'edited.gguf')).toThrow(/edited\.gguf: tensor blk\.1\.ffn_norm\.bias is not zero/);
      }
      // qwen2moe's shared expert is there, all zeros (so it adds nothing), and the gating is qwen2moe's
      if (c.arch === 'qwen2moe') {
        expect(file.metadata.get('ffnkit.combination')).toBe('softmax');
        expect(file.metadata.get('qwen2moe.expert_shared_feed_forward_length')).toBe(32);
        const shared = file.tensors.filter((t) => t.name.includes('_shexp'));
        expect(shared.map((t) => t.name).filter((n) => n.startsWith('blk.0.')).sort()).toEqual(
          ['ffn_down_shexp', 'ffn_gate_inp_shexp', 'ffn_gate_shexp', 'ffn_up_shexp'].map((n) => `blk.0.${n}.weight`),
        );
        expect(file.tensors.some((t) => t.name === 'output.weight')).toBe(true);
        const edited = new Uint8Array(readFileSync(out));
        const down = file.tensors.find((t) => t.name === 'blk.0.ffn_down_shexp.weight')!;
        new DataView(edited.buffer).setFloat32(file.dataStart + down.offset + 8, 0.25, true);
        expect(() => readGguf(edited, 'edited.gguf')).toThrow(/edited\.gguf: tensor blk\.0\.ffn_down_shexp\.weight is not zero/);
      }
      if (!LLAMA_CPP) return;
      const { argmaxMisses, maxDiffOverStd } = await againstLlamaCpp(out, fixture(c.name), `factorized ${c.name} (E 4, k 2, ${String(file.metadata.get('ffnkit.combination'))})`);
      expect(argmaxMisses).toBeLessThanOrEqual(1);
      expect(maxDiffOverStd).toBeLessThanOrEqual(c.gate[0] === 'F32' ? 0.02 : 0.15);
    });
  }

  test('reading a factorized file builds the dense FFN its experts stand for only when asked, and that FFN is the experts\' sum', async () => {
    const out = join(dir, 'lazy.gguf');
    expect((await factorizeFixture('llama-q8_0', out, ['--steps', '0'])).code).toBe(0);
    const bytes = new Uint8Array(readFileSync(out));
    const held = () => {
      globalThis.gc?.();
      return process.memoryUsage().arrayBuffers;
    };
    const before = held();
    const { weights } = readGguf(bytes, out, { blocks: 'runnable' });
    const read = held() - before;
    const c = weights.config;
    const denseBytes = 3 * c.dim * c.hiddenDim * 4 * c.nLayers;
    // the experts stay Q8_0 views into the file's bytes; the float32 dense FFN is not built
    expect(read).toBeLessThan(denseBytes / 4);
    const dense = { ...weights, layers: weights.layers.map((l) => ({ ...l, routed: undefined })) };
    // asking for it builds it (other garbage collected meanwhile may hide a little of it)
    expect(held() - before).toBeGreaterThan(0.9 * denseBytes);
    expect(dense.layers[0]!.w1).toBe(weights.layers[0]!.w1); // built once, then kept
    // all experts summed (top-k = E, 'sum') is the dense FFN they were cut from (both in float32
    // here, so the kernels compute the same products)
    const f32 = readGguf(bytes, out).weights;
    const denseF32 = { ...f32, layers: f32.layers.map((l) => ({ ...l, routed: undefined })) };
    const all = { ...f32, layers: f32.layers.map((l) => ({ ...l, routed: { ...l.routed!, topK: l.routed!.experts, combination: 'sum' as const } })) };
    const ids = [1, 403, 72, 9, 300];
    const logits = async (w: typeof f32) => {
      const m = await LlamaModel.create(w);
      const out = m.forward(ids, { allLogits: true });
      m.engine.close();
      return out;
    };
    const [a, b] = [await logits(denseF32), await logits(all)];
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    expect(worst).toBeLessThan(1e-4);
  });

  for (const family of ['gemma', 'gemma2', 'gemma3']) {
    test(`--llamacpp refuses a ${family} model (llama.cpp has no MoE graph it fits) and writes nothing`, async () => {
      const out = join(dir, `${family}.gguf`);
      const r = await factorizeFixture(`${family}-f32`, out);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`a factorized ${family} model cannot be written for llama.cpp`);
      expect(existsSync(out)).toBe(false);
    });
  }

  test('without --llamacpp a gemma model is factorized for ffnkit alone (its own architecture name)', async () => {
    const out = join(dir, 'gemma-ffnkit.gguf');
    const r = await run([
      'factorize', '--model', fixture('gemma-f32'), '--tokenizer', fixture('gemma-f32'), '--calib', sharedPath('data', 'tinystories-calib.txt'),
      '--experts', '4', '--top-k', '2', '--split', 'contiguous', '--steps', '0', '--calib-tokens', '256', '--out', out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(parseGguf(new Uint8Array(readFileSync(out))).metadata.get('general.architecture')).toBe('gemma');
    expect(readGguf(new Uint8Array(readFileSync(out))).weights.layers[0]!.routed?.experts).toBe(4);
  });
});

/**
 * ffnkit's and llama.cpp's logits for a factorized file, on the 16-token window of the eval text
 * whose routing is clearest. Top-k routing is a discrete choice: where a router's k-th and
 * (k+1)-th logits nearly tie, llama.cpp's f16 KV cache (and its quantized activations) decide it
 * differently and every later position differs. So the window is chosen by its routing margin
 * (checked, not assumed).
 */
async function againstLlamaCpp(out: string, tokenizer: string, what: string): Promise<{ argmaxMisses: number; maxDiffOverStd: number }> {
  const model = await loadModel(out);
  const weights = readGguf(new Uint8Array(readFileSync(out))).weights;
  const tok = await Tokenizer.load(tokenizer);
  const text = tok.encode(sharedText('data', 'tinystories-eval.txt'), { bos: true });
  const span = 16;
  let best = { ids: [] as number[], margin: -Infinity };
  for (let at = 0; at + span <= Math.min(text.length, 40 * span); at += span) {
    const ids = text.slice(at, at + span);
    const margin = routingMargin(model, weights, ids);
    if (margin > best.margin) best = { ids, margin };
  }
  expect(best.margin).toBeGreaterThan(0.005);
  const vocab = model.config.vocabSize;
  model.reset();
  const all = model.forward(best.ids, { allLogits: true });
  const ours = best.ids.map((_, p) => all.slice(p * vocab, (p + 1) * vocab));
  const theirs = await llamaCppLogits(out, best.ids, vocab);
  const result = againstReference(ours, theirs);
  console.log(`${what} vs llama.cpp over ${span} positions (smallest routing margin ${best.margin.toFixed(3)}): argmax differs at ${result.argmaxMisses}, max |diff| = ${result.maxDiffOverStd.toFixed(5)} x std`);
  model.engine.close();
  return result;
}

/** True when every expert row of gate and up in `moe` is a row of the source's ffn_gate / ffn_up blocks. */
function sameRowBlocks(source: GgufFile, moe: GgufFile, sourceBytes: Uint8Array, moeBytes: Uint8Array): boolean {
  for (const [dense, experts] of [['ffn_gate.weight', 'ffn_gate_exps.weight'], ['ffn_up.weight', 'ffn_up_exps.weight']] as const) {
    for (let layer = 0; ; layer++) {
      const d = source.tensors.find((t) => t.name === `blk.${layer}.${dense}`);
      const e = moe.tensors.find((t) => t.name === `blk.${layer}.${experts}`);
      if (!d || !e) break;
      const type = ggmlTypeById(d.type)!;
      const rowBytes = (d.dims[0]! / type.blockSize) * type.blockBytes;
      const rows = new Set<string>();
      for (let r = 0; r < d.dims[1]!; r++) rows.add(Buffer.from(sourceBytes.subarray(source.dataStart + d.offset + r * rowBytes, source.dataStart + d.offset + (r + 1) * rowBytes)).toString('hex'));
      const expertRows = e.dims[1]! * e.dims[2]!;
      for (let r = 0; r < expertRows; r++) {
        if (!rows.has(Buffer.from(moeBytes.subarray(moe.dataStart + e.offset + r * rowBytes, moe.dataStart + e.offset + (r + 1) * rowBytes)).toString('hex'))) return false;
      }
    }
  }
  return true;
}

/**
 * The smallest gap, over layers and positions, between the k-th and (k+1)-th router logits that
 * ffnkit's routing sees on `ids` (teacher-forced from an empty cache), in float64 on the host.
 */
function routingMargin(model: LlamaModel, weights: LlamaWeights, ids: number[]): number {
  const d = model.config.dim;
  const inputs: Float32Array[] = [];
  const saved = model.layers.map((l) => l.ffn);
  model.layers.forEach((layer, i) => {
    const inner = saved[i]!;
    layer.ffn = {
      kind: inner.kind,
      forward(x, y, tokens) {
        inputs[i] = x.view().slice(0, tokens * d);
        inner.forward(x, y, tokens);
      },
      bytesPerToken: () => inner.bytesPerToken(),
    };
  });
  model.reset();
  model.forward(ids, { allLogits: true });
  model.layers.forEach((layer, i) => (layer.ffn = saved[i]!));
  let smallest = Infinity;
  weights.layers.forEach((l, li) => {
    const r = l.routed!;
    for (let p = 0; p < ids.length; p++) {
      const z = Array.from({ length: r.experts }, (_, e) => {
        let s = r.routerBias[e]!;
        for (let j = 0; j < d; j++) s += r.router[e * d + j]! * inputs[li]![p * d + j]!;
        return s;
      }).sort((a, b) => b - a);
      smallest = Math.min(smallest, z[r.topK - 1]! - z[r.topK]!);
    }
  });
  return smallest;
}
