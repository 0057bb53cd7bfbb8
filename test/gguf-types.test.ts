// GGUF files of every ggml type: llama-quantize's own per-tensor choices and bytes reproduced from
// the f32 fixture by the writer, mixed files read with each matrix in its own type, and bad
// tensors (partial blocks, NaN scales, unknown types, types a role does not allow) refused by name.

import { describe, expect, test } from 'vitest';
import {
  FILE_TYPES, FfnkitError, GGML_TYPES, LlamaModel, fileTypeByName, ggmlTypeById, parseGguf, planGguf,
  readGguf, weightType, writeGguf, type FileType, type HostMatrix, type LlamaWeights,
} from '../src/node/index.js';
import { llamaConfig, randomLlamaWeights } from '../src/llm/random.js';
import { matrixF32 } from '../src/model/weights.js';
import type { GgufFile } from '../src/formats/gguf.js';
import { uploadedMatrixBytes } from '../src/llm/memory.js';
import { expectFfnkitError, ggufTypeOffset } from './helpers.js';
import { SHARED, sharedBytes } from './shared.js';

const FIXTURES: [string, FileType][] = [
  ['f32', 'F32'], ['f16', 'F16'], ['bf16', 'BF16'], ['q4_0', 'Q4_0'], ['q4_1', 'Q4_1'], ['q5_0', 'Q5_0'], ['q5_1', 'Q5_1'], ['q8_0', 'Q8_0'],
  ['q2_k', 'Q2_K'], ['q3_k_m', 'Q3_K_M'], ['q4_k_s', 'Q4_K_S'], ['q4_k_m', 'Q4_K_M'], ['q5_k_m', 'Q5_K_M'], ['q6_k', 'Q6_K'], ['iq4_nl', 'IQ4_NL'], ['iq4_xs', 'IQ4_XS'],
];

const fixture = (name: string) => sharedBytes('models', 'fixtures', `fixture-llama-${name}.gguf`);

/** name -> [ggml type name, data bytes] of every tensor of a GGUF file. */
function tensorsOf(bytes: Uint8Array): Map<string, [string, Uint8Array]> {
  const file: GgufFile = parseGguf(bytes);
  return new Map(file.tensors.map((t) => {
    const type = ggmlTypeById(t.type)!;
    const size = (t.dims.reduce((a, b) => a * b, 1) / type.blockSize) * type.blockBytes;
    return [t.name, [type.name, bytes.subarray(file.dataStart + t.offset, file.dataStart + t.offset + size)]];
  }));
}

describe.skipIf(!SHARED)('llama-quantize reproduced', () => {
  const f32 = SHARED ? readGguf(fixture('f32'), 'fixture-llama-f32.gguf').weights : undefined;

  test.each(FIXTURES.filter(([n]) => n !== 'f32'))('%s: every tensor gets llama.cpp\'s type and bytes, and the file its file type', (name, ft) => {
    const theirs = tensorsOf(fixture(name));
    const bytes = writeGguf(f32!, undefined, ft);
    const mine = tensorsOf(bytes);
    expect([...mine.keys()].sort()).toEqual([...theirs.keys()].sort());
    for (const [tensor, [type, data]] of theirs) {
      const [myType, myData] = mine.get(tensor)!;
      expect(myType, tensor).toBe(type);
      expect(Buffer.from(myData).equals(Buffer.from(data)), `${tensor} bytes`).toBe(true);
    }
    expect(parseGguf(bytes).metadata.get('general.file_type')).toBe(parseGguf(fixture(name)).metadata.get('general.file_type'));
  });

  test.each(FIXTURES)('%s: read with every matrix in its own type, the file writes back byte for byte; widened, it equals the dequantized tensors', (name, ft) => {
    const bytes = fixture(name);
    const kept = readGguf(bytes, name, { blocks: 'all' }).weights;
    const types = tensorsOf(bytes);
    const typeOf = (m: HostMatrix) => (m instanceof Float32Array ? 'F32' : m.type);
    expect(typeOf(kept.layers[1]!.wv)).toBe(types.get('blk.1.attn_v.weight')![0]);
    expect(typeOf(kept.layers[0]!.w2)).toBe(types.get('blk.0.ffn_down.weight')![0]);
    expect(typeOf(kept.classifier)).toBe(types.get('output.weight')![0]);
    const again = tensorsOf(writeGguf(kept, undefined, ft));
    for (const [tensor, [, data]] of types) expect(Buffer.from(again.get(tensor)![1]).equals(Buffer.from(data)), tensor).toBe(true);
    const wide = readGguf(bytes, name).weights;
    expect(Array.from(wide.layers[1]!.wv)).toEqual(Array.from(matrixF32(kept.layers[1]!.wv)));
  });

  test('the memory estimate counts each matrix in the type it is uploaded in', () => {
    // Q4_K_M read as runnable keeps its Q4_K and Q6_K blocks: sized between the uniform Q4_K and Q6_K estimates
    const runnable = readGguf(fixture('q4_k_m'), 'q4_k_m', { blocks: 'runnable' }).weights;
    expect(weightType(runnable)).toBe('q4_k+q6_k');
    const mixed = LlamaModel.memoryBytes(runnable.config, 64, runnable);
    expect(mixed).toBeGreaterThan(LlamaModel.memoryBytes(runnable.config, 64, 'q4_k'));
    expect(mixed).toBeLessThan(LlamaModel.memoryBytes(runnable.config, 64, 'q6_k'));
    // every matrix of the Q8_0 fixture stays Q8_0: the same as the uniform Q8_0 estimate, and less
    // than the f32 one by the f32 panels' minus the int8 groups' bytes of the classifier and the
    // layers, less the quantized activations of a 64-token block (int16 values and f32 scales)
    const q8 = readGguf(fixture('q8_0'), 'q8_0', { blocks: 'runnable' }).weights;
    const c = q8.config;
    expect(LlamaModel.memoryBytes(c, 64, q8)).toBe(LlamaModel.memoryBytes(c, 64, 'q8_0'));
    const saved = (rows: number, cols: number) => uploadedMatrixBytes('F32', rows, cols) - uploadedMatrixBytes('Q8_0', rows, cols);
    const perLayer = saved(c.dim + 256, c.dim) + saved(c.dim, c.dim) + 2 * saved(c.hiddenDim, c.dim) + saved(c.dim, c.hiddenDim);
    const activations = 4 * Math.ceil((1 / 2 + 1 / 32) * 64 * Math.max(c.dim, c.hiddenDim));
    expect(LlamaModel.memoryBytes(c, 64, 'f32') - LlamaModel.memoryBytes(c, 64, q8)).toBe(saved(c.vocabSize, c.dim) + c.nLayers * perLayer - activations);
  });
});

describe('the type plan', () => {
  const shape = (nLayers: number) => llamaConfig({ dim: 256, hiddenDim: 512, nLayers, nHeads: 8, nKvHeads: 8, vocabSize: 256, seqLen: 16, sharedClassifier: false });

  test('Q4_K_M gives Q6_K to half of the attn_v and ffn_down tensors of a 32-layer model (llama-quantize\'s description of the mix), Q4_K to the rest', () => {
    const plan = planGguf(randomLlamaWeights(shape(32), 1), 'Q4_K_M');
    for (const role of ['attn_v', 'ffn_down']) {
      const types = plan.filter((t) => t.name.endsWith(`${role}.weight`)).map((t) => t.type);
      expect(types.filter((t) => t === 'Q6_K').length, role).toBe(16);
      expect(types.filter((t) => t === 'Q4_K').length, role).toBe(16);
    }
    expect(plan.filter((t) => t.name.endsWith('attn_q.weight')).every((t) => t.type === 'Q4_K')).toBe(true);
    expect(plan.find((t) => t.name === 'output.weight')!.type).toBe('Q6_K');
    expect(plan.find((t) => t.name === 'blk.3.attn_norm.weight')!.type).toBe('F32');
  });

  test('--pure keeps the base type everywhere but the norms; rows that are not whole blocks still fall back', () => {
    const plan = planGguf(randomLlamaWeights(shape(4), 1), { type: 'Q4_K_M', pure: true });
    expect(new Set(plan.filter((t) => t.dims.length > 1).map((t) => t.type))).toEqual(new Set(['Q4_K']));
    const narrow = planGguf(randomLlamaWeights({ ...shape(4), hiddenDim: 160 }, 1), { type: 'Q4_K_M', pure: true });
    expect(narrow.find((t) => t.name === 'blk.0.ffn_down.weight')).toMatchObject({ type: 'Q5_0', wanted: 'Q4_K' });
    const odd = planGguf(randomLlamaWeights({ ...shape(4), hiddenDim: 100 }, 1), { type: 'Q4_K_M', pure: true });
    expect(odd.find((t) => t.name === 'blk.0.ffn_down.weight')).toMatchObject({ type: 'F16', wanted: 'Q4_K' });
    expect(odd.find((t) => t.name === 'blk.0.ffn_down.weight')!.beyondLlama).toBeUndefined();
    const q4 = planGguf(randomLlamaWeights({ ...shape(4), hiddenDim: 100 }, 1), 'Q4_0');
    expect(q4.find((t) => t.name === 'blk.0.ffn_down.weight')).toMatchObject({ type: 'F16', wanted: 'Q4_0', beyondLlama: true });
  });

  test('file types by name: llama-quantize\'s aliases and any case; unknown ones are refused', () => {
    expect([fileTypeByName('q4_k'), fileTypeByName('Q5_K'), fileTypeByName('q3_k'), fileTypeByName('iq4_xs'), fileTypeByName('Q4_K_X')]).toEqual(['Q4_K_M', 'Q5_K_M', 'Q3_K_M', 'IQ4_XS', undefined]);
    expect(Object.values(FILE_TYPES).every((t) => GGML_TYPES[t.base].weight)).toBe(true);
    expect(() => writeGguf(randomLlamaWeights(shape(1), 1), undefined, 'Q9' as FileType)).toThrow(/unknown file type 'Q9'/);
  });

  test('blocks of one type are not requantized to another unless allowed', () => {
    const w = randomLlamaWeights(shape(2), 3, 'q8_0');
    expect(() => writeGguf(w, undefined, 'Q4_0')).toThrow(/tensor token_embd\.weight is Q8_0 already; requantizing it to Q4_0 loses accuracy twice \(allowRequantize: true does it anyway\)/);
    // the plan says which tensors are requantized, and from what (the command line counts them)
    const plan = planGguf(w, { type: 'Q4_0', allowRequantize: true });
    expect(plan.find((t) => t.name === 'token_embd.weight')).toMatchObject({ type: 'Q4_0', requantizedFrom: 'Q8_0' });
    expect(plan.find((t) => t.name === 'blk.0.attn_norm.weight')!.requantizedFrom).toBeUndefined();
    const q = readGguf(writeGguf(w, undefined, { type: 'Q4_0', allowRequantize: true }), 'q', { blocks: 'all' }).weights;
    expect((q.layers[0]!.wq as { type: string }).type).toBe('Q4_0');
    expect(() => writeGguf(w, undefined, 'F16')).toThrow(FfnkitError);
  });
});

describe('bad tensors name the file, the tensor and the type', () => {
  const c = llamaConfig({ dim: 64, hiddenDim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 32, seqLen: 16, sharedClassifier: false });
  const weights: LlamaWeights = randomLlamaWeights(c, 2);
  const q4k = writeGguf(weights, undefined, { type: 'Q4_K_M', pure: true });

  const expectError = (f: () => unknown, code: string, pattern: RegExp) => expectFfnkitError(f, pattern, code);

  test('a valid file of 256-blocks reads', () => {
    const back = readGguf(q4k, 'q4k.gguf', { blocks: 'all' }).weights;
    expect(back.layers[0]!.w2).toMatchObject({ type: 'Q4_K', rows: 64, cols: 256 });
    // rows of 64 cannot be Q4_K: they fell back to Q5_0
    expect(back.layers[0]!.wq).toMatchObject({ type: 'Q5_0' });
  });

  test('truncated blocks', () => {
    expectError(() => readGguf(q4k.subarray(0, q4k.length - 40), 'cut.gguf'), 'E_FORMAT', /^cut\.gguf: data of tensor output\.weight \(Q5_0\): needs 1408 bytes at offset \d+, but the file has \d+/);
  });

  test('a row length that is not a multiple of the type\'s block', () => {
    const b = q4k.slice();
    new DataView(b.buffer).setUint32(ggufTypeOffset(b, 'blk.0.attn_q.weight'), GGML_TYPES.Q4_K.id, true);
    expectError(() => readGguf(b, 'rows.gguf'), 'E_FORMAT', /^rows\.gguf: tensor blk\.0\.attn_q\.weight: Q4_K needs rows of a multiple of 256 values, found 64/);
  });

  test.each([['NaN', 0x7e00], ['Inf', 0x7c00], ['-Inf', 0xfc00]])('a %s block scale', (_, bits) => {
    const b = q4k.slice();
    const file = parseGguf(b);
    const t = file.tensors.find((x) => x.name === 'blk.1.ffn_down.weight')!;
    // the second block's dmin (f16 at byte 2 of each 144-byte Q4_K block)
    new DataView(b.buffer).setUint16(file.dataStart + t.offset + 144 + 2, bits, true);
    expectError(() => readGguf(b, 'nan.gguf'), 'E_FORMAT', /^nan\.gguf: tensor blk\.1\.ffn_down\.weight \(Q4_K\): block 1 has a NaN or infinite scale/);
  });

  test('an unknown type id, and one ggml defines but ffnkit does not read', () => {
    const b = q4k.slice();
    const at = ggufTypeOffset(b, 'blk.1.ffn_up.weight');
    new DataView(b.buffer).setUint32(at, 99, true);
    expectError(() => readGguf(b, 'id.gguf'), 'E_FORMAT', /^id\.gguf: tensor blk\.1\.ffn_up\.weight has ggml type #99/);
    new DataView(b.buffer).setUint32(at, 18, true);
    expectError(() => readGguf(b, 'id.gguf'), 'E_UNSUPPORTED', /^id\.gguf: tensor blk\.1\.ffn_up\.weight has ggml type IQ3_XXS/);
  });

  test('types a role does not allow: a quantized norm, an activation type for a matrix', () => {
    const b = q4k.slice();
    new DataView(b.buffer).setUint32(ggufTypeOffset(b, 'blk.0.ffn_norm.weight'), GGML_TYPES.Q8_0.id, true);
    expectError(() => readGguf(b, 'norm.gguf'), 'E_UNSUPPORTED', /^norm\.gguf: tensor blk\.0\.ffn_norm\.weight is Q8_0; a norm, bias or router must be F32, F16 or BF16/);
    const m = writeGguf(weights, undefined, 'Q8_0').slice();
    new DataView(m.buffer).setUint32(ggufTypeOffset(m, 'blk.0.attn_k.weight'), GGML_TYPES.Q8_1.id, true);
    expectError(() => readGguf(m, 'act.gguf'), 'E_UNSUPPORTED', /^act\.gguf: tensor blk\.0\.attn_k\.weight is Q8_1; a matrix must be a weight type/);
  });

  test('a tensor the model does not use is refused, not ignored', () => {
    // claim one layer where the file holds two: blk.1.* is then no tensor of the model
    const b = writeGguf(weights, undefined, 'F32').slice();
    const key = Buffer.from(b).indexOf('llama.block_count');
    new DataView(b.buffer).setUint32(key + 'llama.block_count'.length + 4, 1, true);
    expectError(() => readGguf(b, 'extra.gguf'), 'E_UNSUPPORTED', /^extra\.gguf: tensors blk\.1\.attn_norm\.weight, blk\.1\.attn_q\.weight, blk\.1\.attn_k\.weight, blk\.1\.attn_v\.weight, \.\.\. are not part of the llama graph/);
  });
});
