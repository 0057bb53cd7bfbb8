// Mutation fuzzing of every reader: a small valid file of each format has its header and tensor
// table mutated (bit flips, random bytes, interesting integers, truncation, structured edits of
// the safetensors JSON) 2,000 times or more, and the reader must either return weights that a
// model can run or throw an FfnkitError: no other exception, no hang, no runaway allocation.

import { beforeAll, describe, expect, test } from 'vitest';
import {
  FILE_TYPES, FfnkitError, LlamaModel, Tokenizer, createEngine, parseGguf, readGguf, readHfLlama,
  readLlama2c, writeGguf, writeHfLlama, writeLlama2c, type Engine, type FileType, type HostMatrix, type LlamaWeights,
} from '../src/node/index.js';
import { llamaConfig, randomLlamaWeights } from '../src/llm/random.js';
import { rng } from '../testing/random.js';
import { ggufWith, tinyJson } from './tiny-tokenizer.js';

const ITERATIONS = 2000;
const config = llamaConfig({ dim: 8, hiddenDim: 12, nLayers: 2, nHeads: 2, nKvHeads: 1, vocabSize: 40, seqLen: 16 });
const weights = randomLlamaWeights(config, 5);
const pieces = ['<unk>', '<s>', '</s>', ' ', ...'abcdefghijklmnopqrstuvwxyz', ' a', ' b', 'ab', 'ba', 'aa', 'bb', ' ab', 'abc', 'cd', 'xy'];
const scores = pieces.map((_, i) => -i);

const INTERESTING = [0, 1, 2, 7, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 64, 256, 4096, 1 << 20];

/** One random mutation of `bytes` inside [0, end). Returns the mutated copy and what was done. */
function mutate(bytes: Uint8Array, end: number, next: () => number): [Uint8Array, string] {
  const pick = (n: number) => Math.floor(next() * n);
  const kind = pick(5);
  if (kind === 0) {
    const cut = pick(bytes.length);
    return [bytes.slice(0, cut), `truncate to ${cut}`];
  }
  const out = bytes.slice();
  const at = pick(Math.max(1, end));
  if (kind === 1) {
    out[at] = out[at]! ^ (1 << pick(8));
    return [out, `flip a bit at ${at}`];
  }
  if (kind === 2) {
    out[at] = pick(256);
    return [out, `random byte at ${at}`];
  }
  const dv = new DataView(out.buffer);
  const v = INTERESTING[pick(INTERESTING.length)]!;
  const pos = Math.min(at - (at % 4), out.length - 8);
  if (pos < 0) return [out, 'nothing'];
  if (kind === 3) {
    dv.setUint32(pos, v >>> 0, true);
    return [out, `u32 ${v} at ${pos}`];
  }
  dv.setBigUint64(pos, BigInt(v) * BigInt(1 + pick(3) * 1000003), true);
  return [out, `u64 ~${v} at ${pos}`];
}

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine({ backend: 'simd' });
});

/** Parses with `read` and uses the result (runs the model, encodes text); any throw must be an FfnkitError. */
async function fuzz(name: string, valid: Uint8Array, end: number, read: (b: Uint8Array) => LlamaWeights<HostMatrix> | Tokenizer | undefined, seed: number) {
  const next = rng(seed);
  let rejected = 0;
  let accepted = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const [bytes, what] = mutate(valid, end, next);
    try {
      const result = read(bytes);
      if (result && 'encode' in result) {
        const ids = result.encode('abc ab xy hello world <|end|> <tool>', { parseSpecial: true });
        result.decode(ids, { special: true });
      } else if (result) {
        engine.arena.reset();
        const model = await LlamaModel.create(result, { engine, blockSize: 4 });
        expect(model.forward([1, 3]).length).toBe(result.config.vocabSize);
      }
      accepted++;
    } catch (e) {
      if (!(e instanceof FfnkitError)) throw new Error(`${name} iteration ${i} (${what}): ${String((e as Error).stack ?? e)}`);
      expect(e.message.length).toBeGreaterThan(10);
      rejected++;
    }
  }
  // both outcomes happen: the mutations reach past the first check, and the checks reject
  expect(rejected).toBeGreaterThan(ITERATIONS / 10);
  expect(accepted + rejected).toBe(ITERATIONS);
}

describe('fuzzed headers and tensor tables give only FfnkitErrors', () => {
  test('llama2.c v0', async () => {
    await fuzz('llama2c v0', writeLlama2c(weights, 0), 28, (b) => readLlama2c(b, 'fuzz.bin'), 1);
  });

  test('llama2.c v1', async () => {
    await fuzz('llama2c v1', writeLlama2c(weights, 1), 40, (b) => readLlama2c(b, 'fuzz.bin'), 2);
  });

  test('GGUF with a vocabulary', async () => {
    const valid = writeGguf(weights, { pieces, scores });
    await fuzz('gguf', valid, parseGguf(valid).dataStart, (b) => readGguf(b, 'fuzz.gguf').weights, 3);
  });

  // one file per ggml weight type (every matrix in it: rows of 256 are whole blocks of all of
  // them), and llama.cpp's Q4_K_M mix; the mutations reach the first tensor's blocks (its scales)
  const wide = llamaConfig({ dim: 256, hiddenDim: 256, nLayers: 1, nHeads: 2, nKvHeads: 1, vocabSize: 16, seqLen: 8 });
  const wideWeights = randomLlamaWeights(wide, 9);
  // a file type per ggml weight type, by its base type (llama-quantize --pure)
  const byBase = new Map((Object.keys(FILE_TYPES) as FileType[]).reverse().map((t) => [FILE_TYPES[t].base as string, t]));
  test.each([...byBase].reverse().map(([base, type], i) => [base, type, i] as const))('GGUF with every matrix in %s', async (_, type, i) => {
    const valid = writeGguf(wideWeights, undefined, { type, pure: true });
    await fuzz(`gguf ${type}`, valid, parseGguf(valid).dataStart + 2048, (b) => readGguf(b, 'fuzz.gguf', { blocks: 'runnable' }).weights, 10 + i);
  });

  test('GGUF in the Q4_K_M mix', async () => {
    const valid = writeGguf(wideWeights, undefined, 'Q4_K_M');
    await fuzz('gguf Q4_K_M', valid, parseGguf(valid).dataStart + 2048, (b) => readGguf(b, 'fuzz.gguf', { blocks: 'runnable' }).weights, 40);
  });

  test('llama2.c tokenizer.bin', async () => {
    const w: number[] = [];
    const dv = (n: number, f: (d: DataView) => void) => {
      const b = new Uint8Array(n);
      f(new DataView(b.buffer));
      w.push(...b);
    };
    dv(4, (d) => d.setInt32(0, 8, true));
    pieces.forEach((p, i) => {
      const bytes = new TextEncoder().encode(p);
      dv(8, (d) => {
        d.setFloat32(0, scores[i]!, true);
        d.setInt32(4, bytes.length, true);
      });
      w.push(...bytes);
    });
    const valid = Uint8Array.from(w);
    await fuzz('tokenizer', valid, valid.length, (b) => Tokenizer.fromLlama2c(b, 'fuzz tokenizer'), 4);
  });

  test('GGUF with a byte-level BPE vocabulary (tokens, merges, types, pre-tokenizer name)', async () => {
    const valid = ggufWith(Tokenizer.fromHf(tinyJson(), undefined, 'tiny.json').vocabulary());
    await fuzz('gguf bpe', valid, parseGguf(valid).dataStart, (b) => readGguf(b, 'fuzz.gguf').tokenizer, 7);
  });

  test('tokenizer.json bytes, and its fields rewritten', async () => {
    const valid = new TextEncoder().encode(JSON.stringify(tinyJson()));
    await fuzz('tokenizer.json bytes', valid, valid.length, (b) => Tokenizer.fromHf(b, undefined, 'fuzz.json'), 8);

    // structured: one field anywhere in the JSON (or in tokenizer_config.json) set to an odd value
    const next = rng(9);
    const values: unknown[] = [-1, 0, 1, 3.5, 2 ** 31, 1e300, '', 'x', 'Ġ', '<|end|>', null, true, [], ['a'], ['h', 'e', 'x'], {}, { type: 'Sequence' }, { Regex: '(' }, { String: '' }];
    const paths = (v: unknown, at: (string | number)[] = []): (string | number)[][] => {
      if (v === null || typeof v !== 'object') return [at];
      const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
      // the 256-entry vocabulary: a few of its entries are enough
      const some = keys.length > 32 ? keys.filter((_, i) => i % 37 === 0 || i >= keys.length - 4) : keys;
      return [at, ...some.flatMap((k) => paths((v as Record<string | number, unknown>)[k], [...at, k]))];
    };
    const all = paths(tinyJson()).filter((p) => p.length > 0);
    let rejected = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const json = tinyJson();
      const config: Record<string, unknown> = { bos_token: '<|end|>', add_bos_token: false };
      const v = structuredClone(values[Math.floor(next() * values.length)]);
      let what: string;
      if (next() < 0.1) {
        const key = ['bos_token', 'eos_token', 'add_bos_token', 'add_eos_token'][Math.floor(next() * 4)]!;
        config[key] = v;
        what = `config ${key} = ${JSON.stringify(v)}`;
      } else {
        const path = all[Math.floor(next() * all.length)]!;
        let o = json as Record<string | number, unknown>;
        for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
        o[path[path.length - 1]!] = v;
        what = `${path.join('.')} = ${JSON.stringify(v)}`;
      }
      try {
        const tok = Tokenizer.fromHf(json, config, 'fuzz.json');
        tok.decode(tok.encode('hello world <|end|> <tool> héllo', { parseSpecial: true }), { special: true });
      } catch (e) {
        if (!(e instanceof FfnkitError)) throw new Error(`structured iteration ${i} (${what}): ${String((e as Error).stack ?? e)}`);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(ITERATIONS / 10);
  });

  test('safetensors header bytes and JSON fields, with config.json', async () => {
    const { configJson, safetensors } = writeHfLlama(weights);
    const headerEnd = 8 + Number(new DataView(safetensors.buffer).getBigUint64(0, true));
    await fuzz('safetensors bytes', safetensors, headerEnd, (b) => readHfLlama(configJson, b, 'fuzz.safetensors'), 5);

    // structured: rewrite one field of one entry (or of the config) and re-frame the header
    const next = rng(6);
    const header = JSON.parse(new TextDecoder().decode(safetensors.subarray(8, headerEnd))) as Record<string, Record<string, unknown>>;
    const data = safetensors.subarray(headerEnd);
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    const values: unknown[] = [-1, 0, 1, 3.5, 2 ** 31, 2 ** 53, 1e300, 'F64', 'I8', null, [], [1, 2, 3], [8, 8, 8, 8, 8], {}, 'x'];
    let rejected = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const h = structuredClone(header);
      let cfg = configJson;
      const v = values[Math.floor(next() * values.length)];
      if (next() < 0.2) {
        const c = JSON.parse(configJson) as Record<string, unknown>;
        const keys = Object.keys(c);
        c[keys[Math.floor(next() * keys.length)]!] = v;
        cfg = JSON.stringify(c);
      } else {
        const entry = h[names[Math.floor(next() * names.length)]!]!;
        const field = ['dtype', 'shape', 'data_offsets'][Math.floor(next() * 3)]!;
        const old = entry[field];
        entry[field] = Array.isArray(old) && typeof v === 'number' ? old.map((x, j) => (j === 0 ? v : x)) : v;
      }
      const json = new TextEncoder().encode(JSON.stringify(h));
      const bytes = new Uint8Array(8 + json.length + data.length);
      new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
      bytes.set(json, 8);
      bytes.set(data, 8 + json.length);
      try {
        const w = readHfLlama(cfg, bytes, 'fuzz.safetensors');
        engine.arena.reset();
        (await LlamaModel.create(w, { engine, blockSize: 4 })).forward([1]);
      } catch (e) {
        if (!(e instanceof FfnkitError)) throw new Error(`structured iteration ${i}: ${String((e as Error).stack ?? e)}`);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(ITERATIONS / 2);
  });
});
