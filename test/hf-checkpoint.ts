// A shared GGUF fixture turned back into the Hugging Face checkpoint llama.cpp's converter would
// have made it from, by an inverse mapping written here and not with ffnkit's readers or writers:
// HF tensor names, q/k rows of llama back in HF's half-split order, Gemma's norms minus the 1 the
// converter adds, Llama 3.1's rope_freqs as config.json's rope_scaling. Used by hf-families and
// hf-sharded tests.

import { expect } from 'vitest';
import { parseGguf, type MetaValue } from '../src/node/index.js';
import { sharedBytes } from './shared.js';

export interface HfTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** GGUF layer tensor (after blk.N.) -> Hugging Face name (after model.layers.N.), per family. */
function hfLayerName(arch: string, gguf: string): string {
  const gemma23 = arch === 'gemma2' || arch === 'gemma3';
  const names: Record<string, string> = {
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
    'post_attention_norm.weight': 'post_attention_layernorm.weight',
    'ffn_norm.weight': gemma23 ? 'pre_feedforward_layernorm.weight' : 'post_attention_layernorm.weight',
    'ffn_gate.weight': 'mlp.gate_proj.weight',
    'ffn_up.weight': arch === 'phi3' ? 'mlp.gate_up_proj.weight' : 'mlp.up_proj.weight',
    'ffn_down.weight': 'mlp.down_proj.weight',
    'post_ffw_norm.weight': 'post_feedforward_layernorm.weight',
  };
  const name = names[gguf];
  if (!name) throw new Error(`no Hugging Face name for ${gguf}`);
  return name;
}

/** llama.cpp's converter permutes HF q/k rows to interleaved order; undone: HF row (h, half, i) is GGUF row (h, 2i + half). */
function toHalfSplit(w: Float32Array, heads: number, cols: number): Float32Array {
  const d = w.length / cols / heads;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < d / 2; i++) {
      for (let half = 0; half < 2; half++) {
        const from = (h * d + 2 * i + half) * cols;
        out.set(w.subarray(from, from + cols), (h * d + half * (d / 2) + i) * cols);
      }
    }
  }
  return out;
}

/** A safetensors file of F32 tensors (u64 header length, JSON header, data). */
export function safetensorsOf(tensors: HfTensor[]): Uint8Array<ArrayBuffer> {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] };
    offset += t.data.length * 4;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** The config.json and tensors of the checkpoint a fixture was converted from; `breakIt` leaves one convention out. */
export function hfCheckpoint(fixture: string, breakIt?: 'gemma-norm'): { config: Record<string, unknown>; tensors: HfTensor[]; ropeFreqs?: Float32Array } {
  const bytes = sharedBytes('models', 'fixtures', `fixture-${fixture}-f32.gguf`);
  const g = parseGguf(bytes);
  const arch = g.metadata.get('general.architecture') as string;
  const meta = (key: string): MetaValue | undefined => g.metadata.get(`${arch}.${key}`);
  const heads = meta('attention.head_count') as number;
  const kvHeads = meta('attention.head_count_kv') as number;
  const dataOf = (name: string) => {
    const t = g.tensors.find((x) => x.name === name)!;
    expect(t.type).toBe(0); // F32
    const n = t.dims.reduce((a, b) => a * b, 1);
    return new Float32Array(bytes.slice(g.dataStart + t.offset, g.dataStart + t.offset + 4 * n).buffer);
  };
  const gemma = arch.startsWith('gemma');
  let ropeFreqs: Float32Array | undefined;
  const tensors: HfTensor[] = [];
  for (const t of g.tensors) {
    const shape = [...t.dims].reverse();
    let data: Float32Array = dataOf(t.name);
    if (t.name === 'rope_freqs.weight') {
      ropeFreqs = data;
      continue;
    }
    if (gemma && t.name.endsWith('norm.weight') && breakIt !== 'gemma-norm') data = data.map((v) => v - 1);
    const layer = /^blk\.(\d+)\.(.+)$/.exec(t.name);
    if (layer) {
      if (arch === 'llama' && layer[2] === 'attn_q.weight') data = toHalfSplit(data, heads, shape[1]!);
      if (arch === 'llama' && layer[2] === 'attn_k.weight') data = toHalfSplit(data, kvHeads, shape[1]!);
      tensors.push({ name: `model.layers.${layer[1]}.${hfLayerName(arch, layer[2]!)}`, shape, data });
    } else {
      const names: Record<string, string> = { 'token_embd.weight': 'model.embed_tokens.weight', 'output_norm.weight': 'model.norm.weight', 'output.weight': 'lm_head.weight' };
      tensors.push({ name: names[t.name]!, shape, data });
    }
  }
  const config: Record<string, unknown> = {
    model_type: arch === 'gemma3' ? 'gemma3_text' : arch,
    hidden_size: meta('embedding_length'),
    intermediate_size: meta('feed_forward_length'),
    num_hidden_layers: meta('block_count'),
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    vocab_size: (g.metadata.get('tokenizer.ggml.tokens') as unknown[]).length,
    max_position_embeddings: meta('context_length'),
    rms_norm_eps: meta('attention.layer_norm_rms_epsilon'),
    rope_theta: meta('rope.freq_base'),
    tie_word_embeddings: !g.tensors.some((t) => t.name === 'output.weight'),
    hidden_act: gemma ? 'gelu_pytorch_tanh' : 'silu',
  };
  if (meta('attention.key_length') !== undefined) config.head_dim = meta('attention.key_length');
  // the fixture's rope_freqs came from these (shared/README.md)
  if (ropeFreqs) config.rope_scaling = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
  if (arch === 'gemma2' || arch === 'gemma3') {
    config.query_pre_attn_scalar = meta('attention.key_length');
    config.sliding_window = meta('attention.sliding_window');
  }
  if (arch === 'gemma2') {
    config.attn_logit_softcapping = meta('attn_logit_softcapping');
    config.final_logit_softcapping = meta('final_logit_softcapping');
  }
  if (arch === 'gemma3') {
    // llama.cpp's defaults for what the fixture does not say
    config.sliding_window_pattern = 6;
    config.rope_local_base_freq = 10000;
    config.final_logit_softcapping = null;
    config.attn_logit_softcapping = null;
  }
  return { config, tensors, ...(ropeFreqs ? { ropeFreqs } : {}) };
}

