// Hugging Face directories of every family against llama.cpp: each shared GGUF fixture is turned
// back into the checkpoint llama.cpp's converter would have made it from (test/hf-checkpoint.ts's
// inverse mapping, shared with hf-sharded.test.ts), loaded with loadModel, and its logits compared
// with llama.cpp's own on the fixture (argmax at every position but one, max |diff| <= 0.02 x std).
// Then the config keys each family refuses, and `ffnkit generate --model DIR`.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { FfnkitError, LlamaModel, createEngine, loadModel, readGguf, readHfLlama, writeHfLlama } from '../src/node/index.js';
import { llamaConfig, randomLlamaWeights } from '../src/llm/random.js';
import { HF_FAMILY_KEYS } from '../src/formats/hf-families.js';
import { hfCheckpoint, safetensorsOf } from './hf-checkpoint.js';
import { againstReference } from './llamacpp.js';
import { SHARED, sharedBytes, sharedJson, sharedPath } from './shared.js';

interface Golden {
  tokens: number[];
  vocab: number;
  logits: number[][];
}

const tinyLlama = randomLlamaWeights(llamaConfig({ dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: 8, seqLen: 8, ropeStyle: 'half' }), 3);
const FIXTURES = ['llama', 'llama3rope', 'qwen2', 'qwen3', 'phi3', 'gemma', 'gemma2', 'gemma3'];

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function writeDirectory(checkpoint: ReturnType<typeof hfCheckpoint>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ffnkit-hf-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(checkpoint.config, null, 2));
  writeFileSync(join(dir, 'model.safetensors'), safetensorsOf(checkpoint.tensors));
  return dir;
}

const golden = (fixture: string) => sharedJson<Record<string, Golden>>('golden', 'llamacpp-fixtures.json')[`fixture-${fixture}-f32.gguf`]!;

async function logitsAgainstLlamaCpp(dir: string, fixture: string) {
  const ref = golden(fixture);
  const model = await loadModel(dir);
  model.reset();
  const flat = model.forward(ref.tokens, { allLogits: true });
  const ours = ref.tokens.map((_, p) => flat.subarray(p * ref.vocab, (p + 1) * ref.vocab));
  return { model, ...againstReference(ours, ref.logits.map((r) => Float32Array.from(r))) };
}

describe.skipIf(!SHARED)('Hugging Face directories of every family give llama.cpp\'s logits', () => {
  for (const fixture of FIXTURES) {
    test(fixture, async () => {
      const checkpoint = hfCheckpoint(fixture);
      const { model, argmaxMisses, maxDiffOverStd } = await logitsAgainstLlamaCpp(writeDirectory(checkpoint), fixture);
      console.info(`HF ${fixture}: max |diff| / std ${maxDiffOverStd.toFixed(5)}, argmax differs at ${argmaxMisses} of 16`);
      expect(model.format).toBe('safetensors');
      expect(model.config.family ?? 'llama').toBe(fixture === 'llama3rope' ? 'llama' : fixture);
      expect(argmaxMisses).toBeLessThanOrEqual(1);
      expect(maxDiffOverStd).toBeLessThanOrEqual(0.02);
    });
  }

  test('rope_scaling llama3 gives the factors llama.cpp\'s converter wrote as rope_freqs.weight', () => {
    const checkpoint = hfCheckpoint('llama3rope');
    const w = readHfLlama(JSON.stringify(checkpoint.config), safetensorsOf(checkpoint.tensors));
    expect(w.ropeFactors).toHaveLength(32);
    w.ropeFactors!.forEach((f, i) => expect(f).toBeCloseTo(checkpoint.ropeFreqs![i]!, 5));
    expect(new Set(w.ropeFactors).size).toBeGreaterThan(2); // 1, 8 and blends between
  });

  test('rope_scaling linear is the GGUF file\'s linear scaling', () => {
    const checkpoint = hfCheckpoint('qwen2');
    const w = readHfLlama(JSON.stringify({ ...checkpoint.config, rope_scaling: { type: 'linear', factor: 4 } }), safetensorsOf(checkpoint.tensors));
    expect(w.config.ropeScale).toBe(0.25);
  });

  test('a reader without a convention fails the comparison (Gemma\'s norms used without their + 1)', async () => {
    const { argmaxMisses, maxDiffOverStd } = await logitsAgainstLlamaCpp(writeDirectory(hfCheckpoint('gemma', 'gemma-norm')), 'gemma');
    expect(argmaxMisses > 1 || maxDiffOverStd > 0.02).toBe(true);
  });

  test('the directory holds the GGUF fixture\'s weights', async () => {
    const checkpoint = hfCheckpoint('phi3');
    const hf = readHfLlama(JSON.stringify(checkpoint.config), safetensorsOf(checkpoint.tensors));
    const gguf = readGguf(sharedBytes('models', 'fixtures', 'fixture-phi3-f32.gguf')).weights;
    expect(hf.layers[1]!.wv).toEqual(gguf.layers[1]!.wv);
    expect(hf.layers[1]!.w3).toEqual(gguf.layers[1]!.w3);
    expect(await LlamaModel.create(hf)).toBeDefined();
  });

  test('ffnkit generate --model DIR', async () => {
    const dir = writeDirectory(hfCheckpoint('qwen3'));
    const fixture = sharedPath('models', 'fixtures', 'fixture-qwen3-f32.gguf');
    const bin = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'bin', 'ffnkit.js');
    const run = (model: string) => new Promise<string>((done, fail) =>
      execFile(process.execPath, [bin, 'generate', '--model', model, '--tokenizer', fixture, '--prompt', 'Once upon', '--temperature', '0', '--max-tokens', '12', '--ids'],
        { timeout: 60_000, env: { ...process.env, FFNKIT_FROM_SOURCES: '1' } }, (e, out) => (e ? fail(e) : done(out))));
    const [fromDir, fromGguf] = await Promise.all([run(dir), run(fixture)]);
    const ids = fromDir.trim().split(' ').map(Number);
    expect(ids.length).toBeGreaterThan(3);
    expect(ids).toEqual(fromGguf.trim().split(' ').map(Number));
  });
});

describe.skipIf(!SHARED)('what a Hugging Face config.json may not say', () => {
  const refused: [string, string, unknown][] = [
    ['llama', 'rope_scaling', { rope_type: 'yarn', factor: 4 }],
    ['llama', 'rope_scaling', { rope_type: 'dynamic', factor: 2 }],
    ['llama', 'attention_bias', true],
    ['llama', 'mlp_bias', true],
    ['llama', 'hidden_act', 'gelu'],
    ['llama', 'sliding_window', 4096],
    ['qwen2', 'use_sliding_window', true],
    ['qwen2', 'rope_scaling', { type: 'yarn', factor: 4, original_max_position_embeddings: 32768 }],
    ['qwen2', 'rope_scaling', { rope_type: 'llama3', factor: 8 }],
    ['qwen2', 'head_dim', 32],
    ['qwen3', 'attention_bias', true],
    ['phi3', 'rope_scaling', { type: 'longrope', short_factor: [1], long_factor: [1] }],
    ['phi3', 'partial_rotary_factor', 0.75],
    ['phi3', 'final_logit_softcapping', 30],
    ['gemma', 'hidden_activation', 'relu'],
    ['gemma', 'attn_logit_softcapping', 50],
    ['gemma2', 'layer_types', ['full_attention', 'sliding_attention']],
    ['gemma3', 'text_config', { hidden_size: 256 }],
    ['gemma3', 'use_bidirectional_attention', true],
  ];
  const fixtureOf: Record<string, string> = { llama: 'llama', qwen2: 'qwen2', qwen3: 'qwen3', phi3: 'phi3', gemma: 'gemma', gemma2: 'gemma2', gemma3: 'gemma3' };
  for (const [family, key, value] of refused) {
    test(`${family}: ${key} ${JSON.stringify(value)}`, () => {
      const checkpoint = hfCheckpoint(fixtureOf[family]!);
      try {
        readHfLlama(JSON.stringify({ ...checkpoint.config, [key]: value }), safetensorsOf(checkpoint.tensors));
      } catch (e) {
        expect(e).toBeInstanceOf(FfnkitError);
        expect((e as FfnkitError).code).toBe('E_UNSUPPORTED');
        expect((e as Error).message).toContain(`config.json: ${key}`);
        return;
      }
      throw new Error(`${family}: ${key} was accepted`);
    });
  }

  test('an unknown model_type, and a classifier a tied family has none of', () => {
    const checkpoint = hfCheckpoint('gemma');
    expect(() => readHfLlama(JSON.stringify({ ...checkpoint.config, model_type: 'mamba' }), safetensorsOf(checkpoint.tensors))).toThrow(/model_type 'mamba' \(ffnkit reads llama, mistral, qwen2/);
    const lmHead = { name: 'lm_head.weight', shape: [512, 256], data: new Float32Array(512 * 256) };
    expect(() => readHfLlama(JSON.stringify(checkpoint.config), safetensorsOf([...checkpoint.tensors, lmHead]))).toThrow(/lm_head\.weight: gemma ties its classifier/);
    const qwen = hfCheckpoint('qwen2');
    const missing = qwen.tensors.filter((t) => t.name !== 'model.layers.1.self_attn.k_proj.bias');
    expect(() => readHfLlama(JSON.stringify(qwen.config), safetensorsOf(missing))).toThrow(/tensor model\.layers\.1\.self_attn\.k_proj\.bias is missing/);
    const extra = { name: 'model.layers.0.self_attn.o_proj.bias', shape: [256], data: new Float32Array(256) };
    expect(() => readHfLlama(JSON.stringify(qwen.config), safetensorsOf([...qwen.tensors, extra]))).toThrow(/o_proj\.bias is not part of the qwen2 graph/);
  });
});

describe.skipIf(!SHARED)('the Hugging Face writer says Llama only', () => {
  test('a family model or Llama 3.1\'s RoPE factors are refused, not written as a plain Llama', () => {
    for (const fixture of ['gemma2', 'qwen2', 'llama3rope']) {
      const { weights } = readGguf(sharedBytes('models', 'fixtures', `fixture-${fixture}-f32.gguf`));
      expect(() => writeHfLlama(weights)).toThrow(/safetensors writer: writes Llama checkpoints only; this model has (family = |ropeFactors)/);
    }
  });
});

test('linear RoPE scaling is written as rope_scaling and reads back', () => {
  const { configJson, safetensors } = writeHfLlama({ ...tinyLlama, config: { ...tinyLlama.config, ropeScale: 0.25 } });
  expect(JSON.parse(configJson).rope_scaling).toEqual({ rope_type: 'linear', factor: 4 });
  expect(readHfLlama(configJson, safetensors).config.ropeScale).toBe(0.25);
});

describe.skipIf(!SHARED)('config.json fuzzed', () => {
  test('any value of any key a family reads: loaded and run, or an FfnkitError', async () => {
    const engine = await createEngine({ backend: 'simd' });
    const values: unknown[] = [-1, 0, 1, 2, 3.5, 8, 64, 2 ** 31, 1e300, null, 'x', 'linear', [], [1, 2], {}, { rope_type: 'llama3', factor: 'x' }, { rope_type: 'linear', factor: 0 }, ['sliding_attention']];
    let state = 7;
    const next = () => ((state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32);
    let rejected = 0;
    let loaded = 0;
    for (const fixture of ['llama3rope', 'qwen3', 'phi3', 'gemma2', 'gemma3']) {
      const checkpoint = hfCheckpoint(fixture);
      const bytes = safetensorsOf(checkpoint.tensors);
      const keys = Object.keys(checkpoint.config);
      for (let i = 0; i < 60; i++) {
        const config = { ...checkpoint.config, [keys[Math.floor(next() * keys.length)]!]: values[Math.floor(next() * values.length)] };
        try {
          const w = readHfLlama(JSON.stringify(config), bytes, 'fuzz.safetensors');
          engine.arena.reset();
          (await LlamaModel.create(w, { engine, blockSize: 4 })).forward([1, 2]);
          loaded++;
        } catch (e) {
          if (!(e instanceof FfnkitError)) throw new Error(`${fixture} ${JSON.stringify(config)}: ${String((e as Error).stack ?? e)}`);
          rejected++;
        }
      }
    }
    expect(rejected).toBeGreaterThan(50);
    expect(loaded).toBeGreaterThan(10);
  });
});

describe.skipIf(!SHARED)('config.json keys the fixtures leave at their defaults', () => {
  const read = (fixture: string, extra: Record<string, unknown>) => {
    const checkpoint = hfCheckpoint(fixture);
    return readHfLlama(JSON.stringify({ ...checkpoint.config, ...extra }), safetensorsOf(checkpoint.tensors)).config;
  };
  test('query_pre_attn_scalar other than head_dim scales attention by its inverse square root', () => {
    expect(read('gemma2', {}).attentionScale).toBeUndefined();
    expect(read('gemma2', { query_pre_attn_scalar: 144 }).attentionScale).toBe(Math.fround(1 / 12));
  });
  test('Gemma 3: linear rope_scaling scales the global layers only; rope_local_base_freq is the sliding layers\' base', () => {
    const c = read('gemma3', { rope_scaling: { rope_type: 'linear', factor: 8 }, rope_local_base_freq: 20000, num_hidden_layers: 2 });
    expect([c.ropeScale, c.ropeScaleSliding, c.ropeThetaSliding, c.ropeTheta]).toEqual([0.125, 1, 20000, 1e6]);
  });
  test('layer_types in the family\'s pattern are read; Gemma 2\'s caps default to 50 and 30, null is none', () => {
    expect(read('gemma2', { layer_types: ['sliding_attention', 'full_attention'] }).slidingPeriod).toBe(2);
    const defaults = read('gemma2', { attn_logit_softcapping: undefined, final_logit_softcapping: undefined });
    expect([defaults.attentionSoftcap, defaults.finalSoftcap]).toEqual([50, 30]);
    const none = read('gemma2', { attn_logit_softcapping: null, final_logit_softcapping: null });
    expect([none.attentionSoftcap, none.finalSoftcap]).toEqual([undefined, undefined]);
  });
  test('mistral is llama; its sliding_window null is no window', () => {
    const c = read('llama', { model_type: 'mistral', sliding_window: null });
    expect([c.family, c.ropeStyle, c.slidingWindow]).toEqual([undefined, 'half', undefined]);
  });
});

test('what each family\'s config.json reader looks at beyond the shape (reads or refuses)', () => {
  expect(HF_FAMILY_KEYS).toEqual({
    llama: ['rope_theta', 'rope_scaling', 'head_dim', 'hidden_act', 'attention_bias', 'mlp_bias', 'sliding_window'],
    qwen2: ['rope_theta', 'rope_scaling', 'hidden_act', 'use_sliding_window'],
    qwen3: ['rope_theta', 'rope_scaling', 'head_dim', 'hidden_act', 'attention_bias', 'use_sliding_window'],
    phi3: ['rope_theta', 'rope_scaling', 'hidden_act', 'partial_rotary_factor', 'sliding_window'],
    gemma: ['rope_theta', 'rope_scaling', 'head_dim', 'hidden_act', 'hidden_activation'],
    gemma2: ['rope_theta', 'rope_scaling', 'head_dim', 'hidden_act', 'hidden_activation', 'query_pre_attn_scalar', 'sliding_window', 'layer_types', 'attn_logit_softcapping', 'final_logit_softcapping'],
    gemma3: ['rope_theta', 'rope_scaling', 'head_dim', 'hidden_act', 'hidden_activation', 'query_pre_attn_scalar', 'sliding_window', 'sliding_window_pattern', 'layer_types', 'attn_logit_softcapping', 'final_logit_softcapping', 'rope_local_base_freq', 'use_bidirectional_attention'],
  });
});
