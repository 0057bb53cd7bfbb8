// Model families (GGUF general.architecture llama with RoPE factors, qwen2, qwen3, phi3, gemma,
// gemma2, gemma3) against llama.cpp: ../shared's random-weight fixtures with llama.cpp's own
// teacher-forced logits (golden/llamacpp-fixtures.json). Each must agree in the most likely token
// at every position but at most one and to 0.02 x the reference logits' standard deviation, in a
// prefill block and decoding one token at a time. Then what each family reads, what it refuses,
// and FactorLLM, FFN skipping and the GGUF writer on the families.

import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import {
  FfnkitError, LlamaModel, StaticSkip, familyReads, parseGguf, planGguf, readGguf, writeGguf,
  parseSafetensors, readHfLlama, writeHfLlama, writeSafetensors, type Family, type HostMatrix, type LlamaConfig, type LlamaWeights,
} from '../src/node/index.js';
import { factorizeLayer, splitNeurons } from '../src/entries/node/factor.js';
import { finetune } from '../src/entries/node/train.js';
import { llamaConfig, randomLlamaWeights } from '../src/llm/random.js';
import { safetensorsData } from '../src/formats/safetensors.js';
import { matrixF32 } from '../src/model/weights.js';
import { editGguf } from './gguf-edit.js';
import { againstReference } from './llamacpp.js';
import { SHARED, sharedBytes, sharedJson, sharedPath } from './shared.js';

interface Golden {
  tokens: number[];
  vocab: number;
  logits: number[][];
}

/** Fixture file -> family, in the order the issue lists them. */
const FIXTURES: [string, Family][] = [
  ['fixture-llama-f32.gguf', 'llama'],
  ['fixture-llama3rope-f32.gguf', 'llama'],
  ['fixture-qwen2-f32.gguf', 'qwen2'],
  ['fixture-qwen3-f32.gguf', 'qwen3'],
  ['fixture-phi3-f32.gguf', 'phi3'],
  ['fixture-gemma-f32.gguf', 'gemma'],
  ['fixture-gemma2-f32.gguf', 'gemma2'],
  ['fixture-gemma3-f32.gguf', 'gemma3'],
];

const fixture = (name: string) => sharedBytes('models', 'fixtures', name);
const golden = (name: string) => sharedJson<Record<string, Golden>>('golden', 'llamacpp-fixtures.json')[name]!;
const rows = (flat: Float32Array, vocab: number) => Array.from({ length: flat.length / vocab }, (_, p) => flat.subarray(p * vocab, (p + 1) * vocab));

/** Logits of every position of `ids`: in one prefill call, or decoding one token at a time. */
function logitsOf(model: LlamaModel, ids: number[], decode: boolean): Float32Array[] {
  model.reset();
  if (!decode) return rows(model.forward(ids, { allLogits: true }), model.config.vocabSize);
  return ids.map((id) => model.forward([id]).slice());
}

/** Bit-for-bit equality of two float arrays (faster than a deep equal at these sizes). */
function sameFloats(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function expectError(f: () => unknown, code: string, message: RegExp): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(FfnkitError);
    expect((e as FfnkitError).code).toBe(code);
    expect((e as Error).message).toMatch(message);
    return;
  }
  throw new Error(`expected ${code} matching ${message}`);
}

describe.skipIf(!SHARED)('families against llama.cpp on the shared fixtures', () => {
  for (const [name, family] of FIXTURES) {
    test(`${name} (${family}): prefill and decode give llama.cpp's logits`, async () => {
      const ref = golden(name);
      const { weights } = readGguf(fixture(name), name);
      expect(weights.config.family ?? 'llama').toBe(family);
      const model = await LlamaModel.create(weights, { blockSize: 8 }); // two prefill blocks over 16 positions
      const theirs = ref.logits.map((r) => Float32Array.from(r));
      for (const decode of [false, true]) {
        const { argmaxMisses, maxDiffOverStd } = againstReference(logitsOf(model, ref.tokens, decode), theirs);
        console.info(`${name} ${decode ? 'decode' : 'prefill'}: max |diff| / std ${maxDiffOverStd.toFixed(5)}, argmax differs at ${argmaxMisses} of ${ref.tokens.length}`);
        expect(argmaxMisses).toBeLessThanOrEqual(1);
        expect(maxDiffOverStd).toBeLessThanOrEqual(0.02);
      }
    });
  }

  test('without rope_freqs.weight the Llama 3 fixture is far from llama.cpp (the factors are applied)', async () => {
    const name = 'fixture-llama3rope-f32.gguf';
    const { weights } = readGguf(fixture(name), name);
    expect(weights.ropeFactors?.length).toBe(32);
    delete weights.ropeFactors;
    const { maxDiffOverStd } = againstReference(logitsOf(await LlamaModel.create(weights), golden(name).tokens, false), golden(name).logits.map((r) => Float32Array.from(r)));
    expect(maxDiffOverStd).toBeGreaterThan(0.5);
  });

  test('ffnkit logits --ids prints the model\'s logits as JSON', async () => {
    const name = 'fixture-gemma3-f32.gguf';
    const bin = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'bin', 'ffnkit.js');
    const stdout = await new Promise<string>((done, fail) =>
      execFile(process.execPath, [bin, 'logits', '--model', sharedPath('models', 'fixtures', name), '--ids', '1,403,407', '--json'], { maxBuffer: 1 << 24, env: { ...process.env, FFNKIT_FROM_SOURCES: '1' } }, (e, out) => (e ? fail(e) : done(out))),
    );
    const printed = JSON.parse(stdout) as { vocab: number; logits: number[][] };
    expect(printed.vocab).toBe(512);
    expect(printed.logits).toHaveLength(3);
    const model = await LlamaModel.create(readGguf(fixture(name), name).weights);
    const ours = rows(model.forward([1, 403, 407], { allLogits: true }), 512);
    printed.logits.forEach((row, p) => expect(Float32Array.from(row)).toEqual(ours[p]));
    const { argmaxMisses, maxDiffOverStd } = againstReference(printed.logits.map((r) => Float32Array.from(r)), golden(name).logits.slice(0, 3).map((r) => Float32Array.from(r)));
    expect(argmaxMisses).toBe(0);
    expect(maxDiffOverStd).toBeLessThanOrEqual(0.02);
  });
});

describe('what each family reads', () => {
  const common = [
    'context_length', 'embedding_length', 'block_count', 'feed_forward_length', 'attention.head_count', 'attention.head_count_kv',
    'attention.layer_norm_rms_epsilon', 'rope.freq_base', 'rope.dimension_count', 'attention.key_length', 'attention.value_length',
    'vocab_size', 'rope.scaling.type', 'rope.scaling.factor', 'rope.scale_linear', 'rope.scaling.attn_factor',
    'rope.scaling.original_context_length', 'rope.scaling.finetuned', 'expert_count', 'expert_used_count', 'expert_feed_forward_length',
    'expert_shared_feed_forward_length',
  ];
  const llamaLayer = ['attn_norm.weight', 'attn_q.weight', 'attn_k.weight', 'attn_v.weight', 'attn_output.weight', 'ffn_norm.weight', 'ffn_gate.weight', 'ffn_down.weight', 'ffn_up.weight'];
  const experts = ['ffn_gate_inp.weight', 'ffn_gate_inp.bias', 'ffn_gate_exps.weight', 'ffn_up_exps.weight', 'ffn_down_exps.weight'];
  const biases = ['attn_q.bias', 'attn_k.bias', 'attn_v.bias'];
  const qkNorms = ['attn_q_norm.weight', 'attn_k_norm.weight'];
  const postNorms = ['post_attention_norm.weight', 'post_ffw_norm.weight'];
  const expected: Record<Family, { keys: string[]; tensors: string[]; layer: string[] }> = {
    llama: { keys: [], tensors: ['output.weight', 'rope_freqs.weight'], layer: [...llamaLayer, ...biases] },
    qwen2: { keys: [], tensors: ['output.weight'], layer: [...llamaLayer, ...biases] },
    qwen3: { keys: [], tensors: ['output.weight'], layer: [...llamaLayer, ...qkNorms] },
    phi3: {
      keys: ['attention.sliding_window'], tensors: ['output.weight'],
      layer: ['attn_norm.weight', 'attn_qkv.weight', 'attn_output.weight', 'ffn_norm.weight', 'ffn_down.weight', 'ffn_up.weight'],
    },
    gemma: { keys: [], tensors: [], layer: llamaLayer },
    gemma2: {
      keys: ['attention.sliding_window', 'attention.sliding_window_pattern', 'attn_logit_softcapping', 'final_logit_softcapping', 'rope.freq_base_swa'],
      tensors: [], layer: [...llamaLayer, ...postNorms],
    },
    gemma3: {
      keys: ['attention.sliding_window', 'attention.sliding_window_pattern', 'final_logit_softcapping'],
      tensors: [], layer: [...llamaLayer, ...qkNorms, ...postNorms],
    },
  };
  for (const [family, want] of Object.entries(expected) as [Family, (typeof expected)[Family]][]) {
    test(`${family}: its keys and tensors`, () => {
      const reads = familyReads(family);
      expect(reads.keys).toEqual([...common, ...want.keys].map((k) => `${family}.${k}`));
      expect(reads.tensors).toEqual(['token_embd.weight', 'output_norm.weight', ...want.tensors]);
      expect(new Set(reads.layerTensors)).toEqual(new Set([...want.layer, ...experts].map((t) => `blk.N.${t}`)));
    });
  }

  test.skipIf(!SHARED)('every tensor and family key of each fixture is one its family reads', () => {
    for (const [name, family] of FIXTURES) {
      const reads = familyReads(family);
      const file = parseGguf(fixture(name), name);
      for (const t of file.tensors) expect([...reads.tensors, ...reads.layerTensors]).toContain(t.name.replace(/^blk\.\d+\./, 'blk.N.'));
      for (const key of file.metadata.keys()) if (key.startsWith(`${family}.`)) expect(reads.keys).toContain(key);
    }
  });
});

describe.skipIf(!SHARED)('what the families refuse, naming it', () => {
  const edited = (name: string, edit: Parameters<typeof editGguf>[1]) => () => readGguf(editGguf(fixture(name), edit), name);
  test('YaRN and LongRoPE scaling, an attention factor, partial rotary, odd value heads', () => {
    expectError(edited('fixture-qwen2-f32.gguf', { meta: { 'qwen2.rope.scaling.type': 'yarn' } }), 'E_UNSUPPORTED', /qwen2\.rope\.scaling\.type 'yarn'/);
    expectError(edited('fixture-llama3rope-f32.gguf', { meta: { 'llama.rope.scaling.type': 'longrope' } }), 'E_UNSUPPORTED', /llama\.rope\.scaling\.type 'longrope'/);
    expectError(edited('fixture-phi3-f32.gguf', { meta: { 'phi3.rope.scaling.attn_factor': 1.19 } }), 'E_UNSUPPORTED', /phi3\.rope\.scaling\.attn_factor/);
    expectError(edited('fixture-qwen3-f32.gguf', { meta: { 'qwen3.rope.dimension_count': 32 } }), 'E_UNSUPPORTED', /qwen3\.rope\.dimension_count 32: RoPE on part of each head/);
    expectError(edited('fixture-gemma3-f32.gguf', { meta: { 'gemma3.attention.value_length': 32 } }), 'E_UNSUPPORTED', /gemma3\.attention\.value_length 32/);
  });

  test('keys of the family no table names', () => {
    expectError(edited('fixture-gemma2-f32.gguf', { meta: { 'gemma2.attention.causal': false } }), 'E_UNSUPPORTED', /metadata gemma2\.attention\.causal is not something ffnkit computes/);
    // Gemma 3 has no attention soft-cap in llama.cpp: a file that says one is refused, not ignored
    expectError(edited('fixture-gemma3-f32.gguf', { meta: { 'gemma3.attn_logit_softcapping': 50 } }), 'E_UNSUPPORTED', /gemma3\.attn_logit_softcapping/);
    expectError(edited('fixture-llama-f32.gguf', { meta: { 'llama.rope.freq_base_swa': 10000 } }), 'E_UNSUPPORTED', /llama\.rope\.freq_base_swa/);
  });

  test('tensors of the file no table names', () => {
    expectError(edited('fixture-qwen2-f32.gguf', { addTensors: [{ name: 'blk.0.attn_output.bias', dims: [256] }] }), 'E_UNSUPPORTED', /tensor blk\.0\.attn_output\.bias is not part of the qwen2 graph/);
    expectError(edited('fixture-gemma-f32.gguf', { addTensors: [{ name: 'output.weight', dims: [256, 512] }] }), 'E_UNSUPPORTED', /tensor output\.weight .*always the embedding/);
    expectError(edited('fixture-phi3-f32.gguf', { addTensors: [{ name: 'rope_factors_long.weight', dims: [32] }] }), 'E_UNSUPPORTED', /rope_factors_long\.weight/);
    expectError(edited('fixture-qwen2-f32.gguf', { addTensors: [{ name: 'rope_freqs.weight', dims: [32] }] }), 'E_UNSUPPORTED', /rope_freqs\.weight/);
  });

  test('an unknown architecture, and a family\'s tensor missing', () => {
    expectError(edited('fixture-qwen2-f32.gguf', { meta: { 'general.architecture': 'mamba' } }), 'E_UNSUPPORTED', /general\.architecture is 'mamba' \(ffnkit runs llama, qwen2, qwen3, phi3, gemma, gemma2, gemma3, qwen3moe, qwen2moe, phimoe\)/);
    expectError(edited('fixture-qwen2-f32.gguf', { dropTensors: ['blk.1.attn_k.bias'] }), 'E_FORMAT', /tensor blk\.1\.attn_k\.bias is missing/);
    expectError(edited('fixture-gemma3-f32.gguf', { dropTensors: ['blk.0.post_ffw_norm.weight'] }), 'E_FORMAT', /tensor blk\.0\.post_ffw_norm\.weight is missing/);
    // llama's optional biases come all three or none
    expectError(edited('fixture-llama-f32.gguf', { addTensors: [{ name: 'blk.0.attn_q.bias', dims: [256] }] }), 'E_FORMAT', /tensor blk\.0\.attn_k\.bias is missing/);
  });
});

describe('Hugging Face Llama directories refuse what changes the graph', () => {
  const w = randomLlamaWeights(llamaConfig({ dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: 8, seqLen: 8, ropeStyle: 'half' }), 3);
  const { configJson, safetensors } = writeHfLlama(w);
  const config = JSON.parse(configJson) as Record<string, unknown>;
  test('rope_scaling, head_dim, attention_bias, mlp_bias', () => {
    expect(readHfLlama(configJson, safetensors).config.dim).toBe(16);
    const withField = (k: string, v: unknown) => JSON.stringify({ ...config, [k]: v });
    expectError(() => readHfLlama(withField('rope_scaling', { rope_type: 'yarn', factor: 8 }), safetensors), 'E_UNSUPPORTED', /config\.json: rope_scaling \{"rope_type":"yarn"/);
    // a head width of its own is read (q_proj then has another shape)
    expectError(() => readHfLlama(withField('head_dim', 4), safetensors), 'E_SHAPE', /q_proj\.weight: expected shape \[8,16\]/);
    expectError(() => readHfLlama(withField('attention_bias', true), safetensors), 'E_UNSUPPORTED', /attention_bias/);
    expectError(() => readHfLlama(withField('mlp_bias', true), safetensors), 'E_UNSUPPORTED', /mlp_bias/);
    expect(readHfLlama(withField('rope_scaling', null), safetensors).config.dim).toBe(16);
  });
  test('a tensor the graph does not read', () => {
    const file = parseSafetensors(safetensors);
    const tensors = [...file.tensors.keys()].filter((n) => n !== '__metadata__').map((name) => ({ name, shape: file.tensors.get(name)!.shape, data: safetensorsData(file, safetensors, name) }));
    const biased = writeSafetensors([...tensors, { name: 'model.layers.0.self_attn.q_proj.bias', shape: [16], data: new Float32Array(16) }]);
    expectError(() => readHfLlama(configJson, biased), 'E_UNSUPPORTED', /tensor model\.layers\.0\.self_attn\.q_proj\.bias is not part of the llama graph/);
  });
});

describe.skipIf(!SHARED)('FactorLLM, FFN skipping and the writer on the families', () => {
  /** Every layer split into 4 contiguous experts, k = E, summed: the dense FFN again. */
  const routedAll = (w: LlamaWeights): LlamaWeights => {
    const c = w.config;
    return {
      ...w,
      layers: w.layers.map((l) => {
        const groups = splitNeurons('contiguous', 4, { hidden: c.hiddenDim, dim: c.dim, w1: l.w1, w3: l.w3 });
        return { ...l, routed: factorizeLayer(l, c.dim, c.hiddenDim, groups, { topK: 4, combination: 'sum' }) };
      }),
    };
  };

  for (const [name] of FIXTURES) {
    test(`${name}: routed with k = E gives the dense logits, also after a GGUF round trip`, async () => {
      const { weights } = readGguf(fixture(name), name);
      const ids = golden(name).tokens;
      const dense = logitsOf(await LlamaModel.create(weights), ids, false);
      const routed = routedAll(weights);
      const fromFile = readGguf(writeGguf(routed), 'routed.gguf').weights;
      expect(fromFile.layers[0]!.routed?.experts).toBe(4);
      for (const w of [routed, fromFile]) {
        const model = await LlamaModel.create(w);
        expect(model.ffns.every((f) => f.kind !== 'dense')).toBe(true);
        logitsOf(model, ids, false).forEach((row, p) => {
          for (let v = 0; v < row.length; v += 37) expect(Math.abs(row[v]! - dense[p]![v]!)).toBeLessThan(1e-3);
        });
      }
    });
  }

  for (const [name] of FIXTURES.slice(1)) {
    test(`${name}: written by ffnkit and read back, the same weights and the same logits`, async () => {
      const { weights } = readGguf(fixture(name), name);
      const again = readGguf(writeGguf(weights), 'again.gguf').weights;
      expect(again.config).toEqual(weights.config);
      expect(again.ropeFactors).toEqual(weights.ropeFactors);
      again.layers.forEach((l, i) => {
        const fields = (x: object) => Object.keys(x).sort();
        expect(fields(l)).toEqual(fields(weights.layers[i]!));
        for (const [field, value] of Object.entries(weights.layers[i]!)) expect(sameFloats((l as unknown as Record<string, Float32Array>)[field]!, value as Float32Array), field).toBe(true);
      });
      const ids = golden(name).tokens.slice(0, 6);
      expect(logitsOf(await LlamaModel.create(again), ids, false)).toEqual(logitsOf(await LlamaModel.create(weights), ids, false));
    });
  }

  test('Phi-3 is written back with its fused attn_qkv and gate+up tensors', () => {
    const name = 'fixture-phi3-f32.gguf';
    const names = parseGguf(writeGguf(readGguf(fixture(name), name).weights)).tensors.map((t) => t.name);
    expect(names).toContain('blk.0.attn_qkv.weight');
    expect(names).not.toContain('blk.0.attn_q.weight');
    expect(names).not.toContain('blk.0.ffn_gate.weight');
  });

  test('a graph a family cannot say is refused by the writer', () => {
    const { weights } = readGguf(fixture('fixture-gemma2-f32.gguf'), 'gemma2');
    expectError(() => writeGguf({ ...weights, config: { ...weights.config, activation: 'silu' } }), 'E_UNSUPPORTED', /a gemma2 file cannot say activation = silu/);
    expectError(() => writeGguf({ ...weights, config: { ...weights.config, ropeStyle: 'interleaved' } }), 'E_UNSUPPORTED', /gemma2 files rotate with NEOX/);
    const qwen3 = readGguf(fixture('fixture-qwen3-f32.gguf'), 'qwen3').weights;
    expectError(() => writeGguf({ ...qwen3, config: { ...qwen3.config, family: 'qwen2' } }), 'E_UNSUPPORTED', /qwen2 files need blk\.0\.attn_q\.bias; this model has no bq/);
    const qwen2 = readGguf(fixture('fixture-qwen2-f32.gguf'), 'qwen2').weights;
    const normed = { ...qwen2, layers: qwen2.layers.map((l, i) => ({ ...l, qNorm: qwen3.layers[i]!.qNorm, kNorm: qwen3.layers[i]!.kNorm })) };
    expectError(() => writeGguf(normed), 'E_UNSUPPORTED', /qwen2 files have no tensor for this model's qNorm/);
  });

  test('fine-tuning runs on every family (test/train-families.test.ts checks it) and refuses what it does not compute, naming it', async () => {
    const text = 'Once upon a time there was a cat. '.repeat(40);
    for (const [name] of FIXTURES) {
      const { weights, tokenizer } = readGguf(fixture(name), name);
      const result = await finetune(weights, tokenizer!, text, { steps: 1, batch: 1, seqLen: 8 });
      expect(Number.isFinite(result.last!.total), name).toBe(true);
    }
    const { weights, tokenizer } = readGguf(fixture('fixture-gemma3-f32.gguf'), 'gemma3');
    const odd = { ...weights, config: { ...weights.config, attentionSinks: 4 } as LlamaConfig };
    await expect(finetune(odd, tokenizer!, text, { steps: 1, batch: 1, seqLen: 8 })).rejects.toThrow(/this gemma3 model has the config field attentionSinks/);
    await expect(finetune(odd, tokenizer!, text, { steps: 1, batch: 1, seqLen: 8 })).rejects.toBeInstanceOf(FfnkitError);
  });

  for (const [name] of FIXTURES) {
    test(`${name}: skipping every FFN while decoding is the model with no FFN`, async () => {
      const { weights } = readGguf(fixture(name), name);
      const ids = golden(name).tokens.slice(0, 10);
      const skipping = await LlamaModel.create(weights);
      skipping.skip = new StaticSkip(2, 0, 1);
      const none = { ...weights, layers: weights.layers.map((l) => ({ ...l, w2: new Float32Array(l.w2.length) })) } as LlamaWeights<HostMatrix>;
      const skipped = logitsOf(skipping, ids, true);
      expect(skipped).toEqual(logitsOf(await LlamaModel.create(none), ids, true));
      expect(skipped).not.toEqual(logitsOf(await LlamaModel.create(weights), ids, true));
    });
  }
});

describe.skipIf(!SHARED)('families in ggml block types (one GGUF table: the family\'s names, quantio\'s per-tensor types)', () => {
  for (const [name, family] of [['fixture-phi3-f32.gguf', 'phi3'], ['fixture-qwen2-f32.gguf', 'qwen2'], ['fixture-gemma3-f32.gguf', 'gemma3']] as const) {
    test(`${family} written as Q8_0 and Q4_K_M: vectors stay F32, matrices keep their blocks (fused ones split) and dequantize to what the f32 read gives`, async () => {
      const { weights } = readGguf(fixture(name), name);
      for (const type of ['Q8_0', 'Q4_K_M'] as const) {
        const plan = planGguf(weights, type);
        for (const t of plan) expect(t.type === 'F32').toBe(t.dims.length === 1 || t.name.includes('ffn_gate_inp'));
        const bytes = writeGguf(weights, undefined, type);
        const kept = readGguf(bytes, `${family}.${type}`, { blocks: 'all' }).weights;
        const widened = readGguf(bytes, `${family}.${type}`).weights;
        expect(kept.config).toEqual(widened.config);
        const l = kept.layers[0]!;
        const planned = (n: string) => plan.find((t) => t.name === `blk.0.${n}`)!.type;
        // a fused tensor's parts are row ranges of its blocks, in its type
        const qType = planned(family === 'phi3' ? 'attn_qkv.weight' : 'attn_q.weight');
        for (const m of [l.wq, l.wk, l.wv]) expect((m as { type: string }).type).toBe(qType);
        expect(Array.from(matrixF32(l.wk))).toEqual(Array.from(widened.layers[0]!.wk as Float32Array));
        expect(Array.from(matrixF32(l.w3))).toEqual(Array.from(widened.layers[0]!.w3 as Float32Array));
        if (family === 'qwen2') expect(l.bq).toBeInstanceOf(Float32Array);
        if (family === 'gemma3') expect(l.qNorm).toBeInstanceOf(Float32Array);
        // the kept blocks upload and run (Q8_0's kernel quantizes activations, so its logits are not the widened model's bit for bit)
        const logits = await LlamaModel.create(readGguf(bytes, type, { blocks: 'runnable' }).weights).then((m) => m.forward(golden(name).tokens.slice(0, 4)));
        expect(logits.length).toBe(kept.config.vocabSize);
        expect(logits.every(Number.isFinite)).toBe(true);
      }
    });
  }
});
