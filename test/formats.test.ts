// Every format gives the same model: stories260K converted by our writers to llama2.c v0/v1,
// GGUF and Hugging Face safetensors (with q/k rows permuted for half-split RoPE) reproduces the
// golden logits; reduced-precision writes decode to exactly what was encoded.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  FfnkitError, LlamaModel, Tokenizer, loadModel, parseGguf, readGguf, readHfLlama, readLlama2c, readWeights,
  writeGguf, writeHfLlama, writeLlama2c, type LlamaWeights,
} from '../src/node/index.js';
import { floatToHalf, halfToFloat } from '../src/model/half.js';
import { SHARED, sharedBytes, sharedJson, sharedPath } from './shared.js';
import { maxAbsDiff } from '../testing/compare.js';
import { expectFfnkitError } from './helpers.js';
import { editGguf } from './gguf-edit.js';

const goldenLogits = () => new Float32Array(sharedBytes('golden', 'stories260K-logits.f32').slice().buffer);
const goldenIds = () => sharedJson<{ ids: number[] }>('golden', 'stories260K-logits.json').ids;
const stories = (): LlamaWeights => readLlama2c(sharedBytes('models', 'stories260K.bin'), 'stories260K.bin');

async function logitsOf(weights: LlamaWeights): Promise<Float32Array> {
  const model = await LlamaModel.create(weights, { backend: 'simd' });
  return model.forward(goldenIds(), { allLogits: true });
}

/** The same model with its classifier as a separate (copied) matrix. */
function untied(w: LlamaWeights): LlamaWeights {
  return { ...w, config: { ...w.config, sharedClassifier: false }, classifier: w.tokenEmbedding.slice() };
}

describe.skipIf(!SHARED)('formats reproduce the golden logits', () => {
  test('the shared GGUF file (written by a llama.cpp converter) gives the same weights and vocabulary', async () => {
    const { weights, tokenizer } = readGguf(sharedBytes('models', 'stories260K.gguf'), 'stories260K.gguf');
    expect(maxAbsDiff(await logitsOf(weights), goldenLogits())).toBeLessThan(1e-4);
    const tok512 = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    for (const e of sharedJson<{ encode: { text: string; ids: number[] }[] }>('golden', 'stories260K-greedy.json').encode) {
      expect(tokenizer!.encode(e.text)).toEqual(e.ids);
      expect(tokenizer!.decode(e.ids)).toBe(tok512.decode(e.ids));
    }
  });

  test.each([0, 1] as const)('llama2.c v%i written by us, tied and separate classifier', async (version) => {
    for (const w of [stories(), untied(stories())]) {
      const back = readLlama2c(writeLlama2c(w, version), `v${version}`);
      expect(back.config).toEqual(w.config);
      expect(maxAbsDiff(await logitsOf(back), goldenLogits())).toBeLessThan(1e-4);
    }
  });

  test('GGUF F32 written by us (v3, and the same bytes as v2) with its vocabulary', async () => {
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    for (const w of [stories(), untied(stories())]) {
      const bytes = writeGguf(w, tok.vocabulary(), 'F32');
      for (const version of [3, 2]) {
        new DataView(bytes.buffer).setUint32(4, version, true);
        const { weights, tokenizer } = readGguf(bytes, `v${version}`);
        expect(weights.config.sharedClassifier).toBe(w.config.sharedClassifier);
        expect(maxAbsDiff(await logitsOf(weights), goldenLogits())).toBeLessThan(1e-4);
        expect(tokenizer!.encode('Lily and Ben went to the park.')).toEqual(tok.encode('Lily and Ben went to the park.'));
      }
    }
  });

  test('GGUF F16 and Q8_0 decode to exactly the rounded or quantized values', () => {
    const w = stories();
    const wq = w.layers[2]!.wq;
    const f16 = readGguf(writeGguf(w, undefined, 'F16')).weights;
    expect(Array.from(f16.layers[2]!.wq)).toEqual(Array.from(wq, (v) => Math.fround(halfToFloat(floatToHalf(v)))));
    expect(f16.layers[2]!.attnNorm).toEqual(w.layers[2]!.attnNorm); // 1-D tensors stay F32
    const q8 = readGguf(writeGguf(w, undefined, 'Q8_0')).weights.layers[2]!.wq;
    // independent check of the block format: each value an integer multiple q of the block's
    // scale d (stored as f16), |q| <= 127, within half a step of the original plus what rounding
    // d to f16 moved the grid: |x - q·d16| <= d/2 + 127·|d16 - d|
    for (let b = 0; b < wq.length / 32; b++) {
      const block = wq.subarray(b * 32, b * 32 + 32);
      const exact = Math.max(...Array.from(block, Math.abs)) / 127;
      const d = Math.fround(halfToFloat(floatToHalf(exact)));
      for (let j = 0; j < 32; j++) {
        const q = q8[b * 32 + j]! / d;
        expect(Math.abs(q - Math.round(q))).toBeLessThan(1e-3);
        expect(Math.abs(q)).toBeLessThanOrEqual(127.001);
        expect(Math.abs(q8[b * 32 + j]! - block[j]!)).toBeLessThanOrEqual(exact * 0.5 + 127 * Math.abs(d - exact) + 1e-7);
      }
    }
  });

  test('Hugging Face directory (config.json + model.safetensors, half-split RoPE) written by us', async () => {
    for (const w of [stories(), untied(stories())]) {
      const { configJson, safetensors } = writeHfLlama(w, 'F32');
      const back = readHfLlama(configJson, safetensors);
      expect(back.config.ropeStyle).toBe('half');
      // q and k rows really were permuted: the raw matrices differ, the logits do not
      expect(maxAbsDiff(back.layers[0]!.wq, w.layers[0]!.wq)).toBeGreaterThan(0.01);
      expect(maxAbsDiff(await logitsOf(back), goldenLogits())).toBeLessThan(1e-4);
    }
  });

  test('safetensors F16 and BF16 decode to the rounded values; loadModel takes { config, safetensors }', async () => {
    const w = stories();
    const f16 = writeHfLlama(w, 'F16');
    const back16 = readHfLlama(f16.configJson, f16.safetensors);
    expect(Array.from(back16.layers[1]!.wv)).toEqual(Array.from(w.layers[1]!.wv, (v) => Math.fround(halfToFloat(floatToHalf(v)))));
    const bf16 = writeHfLlama(w, 'BF16');
    const backbf = readHfLlama(bf16.configJson, bf16.safetensors);
    const bits = new Uint32Array(Float32Array.from(w.layers[1]!.wv).buffer);
    const want = Array.from(bits, (u) => new Float32Array(new Uint32Array([((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16]).buffer)[0]);
    expect(Array.from(backbf.layers[1]!.wv)).toEqual(want);
    const model = await loadModel({ config: f16.configJson, safetensors: f16.safetensors }, { backend: 'simd' });
    expect(model.format).toBe('safetensors');
  });

  test('loadModel and readWeights detect the format from the bytes and paths', async () => {
    expect((await readWeights(sharedPath('models', 'stories260K.bin'))).format).toBe('llama2c');
    const gguf = await loadModel(sharedPath('models', 'stories260K.gguf'));
    expect(gguf.format).toBe('gguf');
    expect(gguf.tokenizer?.vocabSize).toBe(512);
    expect((await Tokenizer.load(sharedPath('models', 'stories260K.gguf'))).vocabSize).toBe(512);
    const { configJson, safetensors } = writeHfLlama(stories());
    await expect(readWeights(safetensors)).rejects.toThrow(/needs its config.json/);
    // a Hugging Face directory by path
    const dir = mkdtempSync(join(tmpdir(), 'ffnkit-hf-'));
    writeFileSync(join(dir, 'config.json'), configJson);
    writeFileSync(join(dir, 'model.safetensors'), safetensors);
    const hf = await loadModel(dir, { backend: 'simd' });
    expect(hf.format).toBe('safetensors');
    expect(maxAbsDiff(hf.forward(goldenIds(), { allLogits: true }), goldenLogits())).toBeLessThan(1e-4);
    rmSync(dir, { recursive: true });
    await expect(readWeights('/nonexistent/model.bin')).rejects.toThrow(/model: cannot read \/nonexistent\/model.bin/);
  });
});

describe.skipIf(!SHARED)('bad files are FfnkitErrors with useful messages', () => {
  const expectFormatError = expectFfnkitError;

  test('truncated files', () => {
    const bin = sharedBytes('models', 'stories260K.bin');
    expectFormatError(() => readLlama2c(bin.subarray(0, 1000), 'cut.bin'), /^cut.bin: .* need 1056540 bytes, but the file has 1000/);
    expectFormatError(() => readLlama2c(bin.subarray(0, 10), 'cut.bin'), /^cut.bin: .*needs 4 bytes at offset 8/);
    const gguf = sharedBytes('models', 'stories260K.gguf');
    expectFormatError(() => readGguf(gguf.subarray(0, 5000), 'cut.gguf'), /^cut.gguf: /);
    expectFormatError(() => readGguf(gguf.subarray(0, gguf.length - 100), 'cut.gguf'), /^cut.gguf: data of tensor output_norm.weight \(F32\): needs 256 bytes/);
    const { configJson, safetensors } = writeHfLlama(stories());
    expectFormatError(() => readHfLlama(configJson, safetensors.subarray(0, 100), 'cut.safetensors'), /^cut.safetensors: header length \d+ is larger than the file allows/);
    expectFormatError(() => readHfLlama(configJson, safetensors.subarray(0, safetensors.length - 4), 'cut.safetensors'), /data_offsets .* outside/);
    expectFormatError(() => Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin').subarray(0, 3001), 'cut tok'), /^cut tok: (score of |length of )?piece \d+/);
  });

  test('wrong magic and versions', () => {
    const gguf = sharedBytes('models', 'stories260K.gguf').slice();
    gguf[3] = 0x58; // "GGUX"
    expectFormatError(() => parseGguf(gguf, 'x.gguf'), /not a GGUF file/);
    const v1 = writeLlama2c(stories(), 1);
    new DataView(v1.buffer).setInt32(4, 2, true);
    expectFormatError(() => readLlama2c(v1, 'v2.bin'), /version 2 .*int8/, 'E_UNSUPPORTED');
    const g = sharedBytes('models', 'stories260K.gguf').slice();
    new DataView(g.buffer).setUint32(4, 1, true);
    expectFormatError(() => parseGguf(g, 'old.gguf'), /GGUF version 1/, 'E_UNSUPPORTED');
  });

  test('dimensions that disagree with the file size', () => {
    const bin = sharedBytes('models', 'stories260K.bin').slice();
    new DataView(bin.buffer).setInt32(4, 200, true); // hidden_dim 172 -> 200
    expectFormatError(() => readLlama2c(bin, 'grown.bin'), /hidden 200, .* need \d+ bytes, but the file has 1056540/);
    const bad = sharedBytes('models', 'stories260K.bin').slice();
    new DataView(bad.buffer).setInt32(12, 7, true); // 7 heads do not divide dim 64
    expectFormatError(() => readLlama2c(bad, 'heads.bin'), /dim 64 is not a multiple of n_heads 7/);
  });

  test('a GGUF tensor type ffnkit does not read, or that is no ggml type, names the tensor and the type', () => {
    const bytes = sharedBytes('models', 'stories260K.gguf').slice();
    const file = parseGguf(bytes);
    // find the type field of blk.0.attn_q.weight: it sits right before that tensor's u64 offset
    const name = new TextEncoder().encode('blk.0.attn_q.weight');
    let at = -1;
    for (let i = 0; i < bytes.length - name.length && at < 0; i++) if (name.every((b, j) => bytes[i + j] === b)) at = i;
    const typePos = at + name.length + 4 + 2 * 8; // n_dims, two dims
    expect(new DataView(bytes.buffer).getUint32(typePos, true)).toBe(file.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!.type);
    new DataView(bytes.buffer).setUint32(typePos, 16, true); // IQ2_XXS
    expectFormatError(() => readGguf(bytes, 'iq2.gguf'), /^iq2.gguf: tensor blk.0.attn_q.weight has ggml type IQ2_XXS \(F32, F16, Q4_0/, 'E_UNSUPPORTED');
    new DataView(bytes.buffer).setUint32(typePos, 77, true);
    expectFormatError(() => readGguf(bytes, 'bad.gguf'), /^bad.gguf: tensor blk.0.attn_q.weight has ggml type #77/);
  });

  test('a GGUF whose vocabulary does not match the model: the writer refuses to make one, the reader to read one', () => {
    const tok32k = Tokenizer.fromLlama2c(sharedBytes('models', 'tokenizer.bin'));
    expectFfnkitError(() => writeGguf(stories(), tok32k.vocabulary()), /^GGUF writer: the vocabulary has 32000 tokens but token_embd.weight only 512 rows/, 'E_SHAPE');
    // such a file as another writer could make it: the 512-token file with the 32k token list
    const pieces = tok32k.vocabulary().pieces.map((p) => p.replace(/ /g, '\u2581'));
    const bytes = editGguf(writeGguf(stories(), Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin')).vocabulary()), {
      meta: { 'tokenizer.ggml.tokens': pieces, 'tokenizer.ggml.scores': new Array<number>(pieces.length).fill(0), 'tokenizer.ggml.token_type': new Array<number>(pieces.length).fill(1) },
    });
    expectFormatError(() => readGguf(bytes, 'mixed.gguf'), /the tokenizer has 32000 tokens but token_embd.weight only 512 rows/);
  });
});
