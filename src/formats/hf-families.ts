// Hugging Face checkpoints of the families ffnkit runs: what each `model_type` calls the tensors
// of its GGUF table (gguf-families.ts), and how its config.json says the graph. The conventions
// are those of llama.cpp's convert_hf_to_gguf.py, so a directory reads as the GGUF file its
// converter would write: Gemma's RMSNorms scale by (1 + w), which the converter stores as w + 1
// and ffnkit uses as stored; Phi-3's fused qkv_proj and gate_up_proj are GGUF's attn_qkv and
// ffn_up row for row; every family but llama already rotates half-split (NEOX), and llama's q/k
// rows are kept in Hugging Face's order with ropeStyle 'half' (the converter permutes them to
// llama's interleaved order; the two compute the same). Llama 3.1's `rope_scaling` (rope_type
// llama3) becomes the frequency factors the converter writes as rope_freqs.weight.
// A config key that changes the computation in a way ffnkit does not compute is refused with
// E_UNSUPPORTED naming it (`refusedKey`), never ignored.

import { FfnkitError } from '../errors.js';
import type { Family, LlamaConfig } from '../model/weights.js';
import { checkConfig } from '../model/weights.js';
import { familyConfig } from './gguf-families.js';

/** config.json's `model_type` -> family. */
export const HF_MODEL_TYPES: Record<string, Family> = {
  llama: 'llama', mistral: 'llama', qwen2: 'qwen2', qwen3: 'qwen3', phi3: 'phi3', gemma: 'gemma', gemma2: 'gemma2', gemma3: 'gemma3', gemma3_text: 'gemma3',
};

/** Hugging Face names (after `model.layers.N.`) of the GGUF layer tensors (after `blk.N.`). */
const LAYER_NAMES: Record<string, string> = {
  'attn_norm.weight': 'input_layernorm.weight',
  'attn_q.weight': 'self_attn.q_proj.weight',
  'attn_k.weight': 'self_attn.k_proj.weight',
  'attn_v.weight': 'self_attn.v_proj.weight',
  'attn_q.bias': 'self_attn.q_proj.bias',
  'attn_k.bias': 'self_attn.k_proj.bias',
  'attn_v.bias': 'self_attn.v_proj.bias',
  'attn_qkv.weight': 'self_attn.qkv_proj.weight',
  'attn_q_norm.weight': 'self_attn.q_norm.weight',
  'attn_k_norm.weight': 'self_attn.k_norm.weight',
  'attn_output.weight': 'self_attn.o_proj.weight',
  'ffn_norm.weight': 'post_attention_layernorm.weight',
  'ffn_gate.weight': 'mlp.gate_proj.weight',
  'ffn_up.weight': 'mlp.up_proj.weight',
  'ffn_down.weight': 'mlp.down_proj.weight',
};

/** Gemma 2/3 norm both sides of each block: their post_attention_layernorm is GGUF's post_attention_norm. */
const GEMMA2_NAMES: Record<string, string> = {
  ...LAYER_NAMES,
  'post_attention_norm.weight': 'post_attention_layernorm.weight',
  'ffn_norm.weight': 'pre_feedforward_layernorm.weight',
  'post_ffw_norm.weight': 'post_feedforward_layernorm.weight',
};

/** Per family: the layer tensors' Hugging Face names, and whether its norms are stored as w (used as 1 + w). */
export const HF_FAMILIES: Record<Family, { layerNames: Record<string, string>; normPlusOne: boolean }> = {
  llama: { layerNames: LAYER_NAMES, normPlusOne: false },
  qwen2: { layerNames: LAYER_NAMES, normPlusOne: false },
  qwen3: { layerNames: LAYER_NAMES, normPlusOne: false },
  phi3: { layerNames: { ...LAYER_NAMES, 'ffn_up.weight': 'mlp.gate_up_proj.weight' }, normPlusOne: false },
  gemma: { layerNames: LAYER_NAMES, normPlusOne: true },
  gemma2: { layerNames: GEMMA2_NAMES, normPlusOne: true },
  gemma3: { layerNames: GEMMA2_NAMES, normPlusOne: true },
};

type Json = Record<string, unknown>;

/** The config keys beyond the shape that each family's reader looks at: reads, or refuses when set to what ffnkit does not compute. */
export const HF_FAMILY_KEYS: Record<Family, string[]> = {
  llama: ['rope_theta', 'rope_scaling', 'head_dim', 'hidden_act', 'attention_bias', 'mlp_bias', 'sliding_window'],
  qwen2: ['rope_theta', 'rope_scaling', 'hidden_act', 'use_sliding_window'],
  qwen3: ['rope_theta', 'rope_scaling', 'head_dim', 'hidden_act', 'attention_bias', 'use_sliding_window'],
  phi3: ['rope_theta', 'rope_scaling', 'hidden_act', 'partial_rotary_factor', 'sliding_window'],
  gemma: ['rope_theta', 'rope_scaling', 'head_dim', 'hidden_act', 'hidden_activation'],
  gemma2: ['rope_theta', 'rope_scaling', 'head_dim', 'hidden_act', 'hidden_activation', 'query_pre_attn_scalar', 'sliding_window', 'layer_types', 'attn_logit_softcapping', 'final_logit_softcapping'],
  gemma3: [
    'rope_theta', 'rope_scaling', 'head_dim', 'hidden_act', 'hidden_activation', 'query_pre_attn_scalar', 'sliding_window', 'sliding_window_pattern',
    'layer_types', 'attn_logit_softcapping', 'final_logit_softcapping', 'rope_local_base_freq', 'use_bidirectional_attention',
  ],
};

const refuse = (key: string, value: unknown, why: string) => new FfnkitError('E_UNSUPPORTED', `config.json: ${key} ${JSON.stringify(value)} ${why}`);
const given = (v: unknown) => v !== undefined && v !== null;

/** A number of config.json (or `fallback` when absent), E_FORMAT when it is something else. */
function num(hf: Json, key: string, fallback?: number): number {
  const v = hf[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new FfnkitError('E_FORMAT', `config.json: ${key} is ${v === undefined ? 'missing' : `not a number (${JSON.stringify(v)})`}`);
  return v;
}

/** Gemma 2/3 soft-caps: the default when the key is absent, none when it is null. */
function cap(hf: Json, key: string, fallback: number | undefined): number | undefined {
  return hf[key] === null ? undefined : hf[key] === undefined ? fallback : num(hf, key);
}

/**
 * Llama 3.1's RoPE frequency factors from `rope_scaling` (rope_type llama3), as llama.cpp's
 * converter computes rope_freqs.weight: 1 for short wavelengths, `factor` for long ones, and a
 * smooth blend between (wavelengths measured against the original context length).
 */
export function llama3RopeFactors(scaling: Json, theta: number, headDim: number): Float32Array {
  const get = (key: string, fallback: number) => {
    const v = scaling[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0)) throw new FfnkitError('E_FORMAT', `config.json: rope_scaling.${key} must be a positive number, found ${JSON.stringify(v)}`);
    return v;
  };
  const factor = get('factor', 8);
  const low = get('low_freq_factor', 1);
  const high = get('high_freq_factor', 4);
  const context = get('original_max_position_embeddings', 8192);
  if (!(high > low)) throw new FfnkitError('E_FORMAT', `config.json: rope_scaling.high_freq_factor ${high} must exceed low_freq_factor ${low}`);
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < out.length; i++) {
    const freq = Math.fround(1 / Math.fround(theta ** (2 * i / headDim)));
    const wavelength = (2 * Math.PI) / freq;
    if (wavelength < context / high) out[i] = 1;
    else if (wavelength > context / low) out[i] = factor;
    else {
      const smooth = (context / wavelength - low) / (high - low);
      out[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}

/** The graph a sliding-window pattern gives layer i (as isSlidingLayer: period p slides i % p < p - 1). */
const slides = (period: number, i: number) => period === 0 || i % period < period - 1;

/** Checks `layer_types` (newer configs list each layer) against the pattern the family reads. */
function checkLayerTypes(hf: Json, nLayers: number, period: number): void {
  const types = hf.layer_types;
  if (types === undefined || types === null) return;
  const want = Array.from({ length: nLayers }, (_, i) => (slides(period, i) ? 'sliding_attention' : 'full_attention'));
  if (!Array.isArray(types) || types.length !== nLayers || types.some((t, i) => t !== want[i])) {
    throw refuse('layer_types', types, `is not the pattern ffnkit computes (every ${period}th layer global: ${JSON.stringify(want)})`);
  }
}

/**
 * The config a family's config.json describes (vocabSize, seqLen and sharedClassifier as the
 * caller sets them), and Llama 3.1's RoPE factors when its rope_scaling asks for them.
 */
export function readHfFamilyConfig(family: Family, hf: Json, base: LlamaConfig): { config: LlamaConfig; ropeFactors?: Float32Array } {
  const c: LlamaConfig = { ...base, ropeTheta: num(hf, 'rope_theta', 10000) };
  const gemma = family.startsWith('gemma');
  if (gemma || given(hf.head_dim)) {
    // Gemma's heads are 256 wide whatever the width (transformers' default when absent)
    const hd = num(hf, 'head_dim', gemma ? 256 : base.dim / base.nHeads);
    if (hd !== base.dim / base.nHeads) {
      if (!HF_FAMILY_KEYS[family].includes('head_dim')) throw refuse('head_dim', hd, `(heads of another width than hidden_size / num_attention_heads) is not read for ${family}`);
      c.headDim = hd;
    }
  }
  refusedKey(family, hf, c);
  checkConfig(c, 'config.json'); // the shape, before anything is sized by it
  let ropeFactors: Float32Array | undefined;
  const scaling = hf.rope_scaling as Json | null | undefined;
  if (given(scaling)) {
    const type = scaling!.rope_type ?? scaling!.type;
    if (type === 'linear') {
      const factor = scaling!.factor;
      if (typeof factor !== 'number' || !(factor > 0)) throw new FfnkitError('E_FORMAT', `config.json: rope_scaling.factor must be a positive number, found ${JSON.stringify(factor)}`);
      if (factor !== 1) c.ropeScale = Math.fround(1 / factor);
    } else if (type === 'llama3' && family === 'llama') {
      ropeFactors = llama3RopeFactors(scaling!, c.ropeTheta, c.headDim ?? c.dim / c.nHeads);
    } else if (type !== 'default') {
      throw refuse('rope_scaling', scaling, `: ffnkit computes rope_type linear${family === 'llama' ? ' and llama3' : ''} for ${family}`);
    }
  }
  if (family === 'llama') return { config: c, ...(ropeFactors ? { ropeFactors } : {}) };
  const out = familyConfig(family, c);
  const set = <K extends keyof LlamaConfig>(field: K, value: LlamaConfig[K] | undefined) => {
    if (value === undefined) delete out[field];
    else out[field] = value;
  };
  if (family === 'gemma2' || family === 'gemma3') {
    const hd = out.headDim ?? out.dim / out.nHeads;
    const scalar = num(hf, 'query_pre_attn_scalar', 256);
    set('attentionScale', scalar === hd ? undefined : Math.fround(1 / Math.fround(Math.sqrt(scalar))));
    // transformers' defaults when a key is absent: Gemma 2 caps at 50 and 30, Gemma 3 does not
    set('attentionSoftcap', cap(hf, 'attn_logit_softcapping', family === 'gemma2' ? 50 : undefined));
    set('finalSoftcap', cap(hf, 'final_logit_softcapping', family === 'gemma2' ? 30 : undefined));
    set('slidingWindow', num(hf, 'sliding_window', 4096));
    const period = family === 'gemma2' ? 2 : num(hf, 'sliding_window_pattern', 6);
    set('slidingPeriod', period);
    checkLayerTypes(hf, out.nLayers, period);
    // Gemma 3's sliding layers rotate with their own base and without the global layers' scaling
    if (family === 'gemma3') {
      set('ropeThetaSliding', num(hf, 'rope_local_base_freq', 10000));
      set('ropeScaleSliding', 1);
    }
  }
  return { config: out };
}

/**
 * E_UNSUPPORTED naming the first key of `hf` that asks for a computation ffnkit does not do for
 * `family`: another activation, biases llama.cpp's graph lacks, Qwen's sliding window, a partial
 * rotary width.
 */
function refusedKey(family: Family, hf: Json, c: LlamaConfig): void {
  const gemma = family.startsWith('gemma');
  const act = hf.hidden_activation ?? hf.hidden_act;
  // Gemma 1's configs say 'gelu' but transformers and llama.cpp run its tanh form
  const acts = gemma ? ['gelu_pytorch_tanh', 'gelu_tanh', ...(family === 'gemma' ? ['gelu'] : [])] : ['silu'];
  if (given(act) && !acts.includes(act as string)) throw refuse(given(hf.hidden_activation) ? 'hidden_activation' : 'hidden_act', act, `(ffnkit's ${family} runs ${acts.join(' or ')})`);
  if (hf.attention_bias === true) throw refuse('attention_bias', true, `(biases on q/k/v/o) is not part of the ${family} graph ffnkit computes`);
  if (hf.mlp_bias === true) throw refuse('mlp_bias', true, 'is not part of the graph ffnkit computes');
  if (hf.use_bidirectional_attention === true) throw refuse('use_bidirectional_attention', true, '(an encoder: every token sees every other) is not computed');
  if (hf.use_sliding_window === true) throw refuse('use_sliding_window', true, `(${family} with sliding-window layers) is not computed`);
  if (given(hf.partial_rotary_factor) && hf.partial_rotary_factor !== 1) throw refuse('partial_rotary_factor', hf.partial_rotary_factor, `(RoPE on part of each head of ${c.headDim ?? c.dim / c.nHeads})`);
  if (given(hf.text_config) || given(hf.vision_config)) throw refuse(given(hf.text_config) ? 'text_config' : 'vision_config', '{...}', '(a multimodal checkpoint): pass a text-only one');
  const capped = family === 'gemma2' || family === 'gemma3';
  for (const key of ['attn_logit_softcapping', 'final_logit_softcapping']) if (!capped && given(hf[key])) throw refuse(key, hf[key], `is not part of the ${family} graph`);
  // Mistral 7B v0.1's window (later Mistrals say null); Phi-3's is read and not applied, as llama.cpp does
  if (family === 'llama' && given(hf.sliding_window)) throw refuse('sliding_window', hf.sliding_window, '(llama with sliding-window attention) is not computed');
}
