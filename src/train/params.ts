// The trainable tensors of a Llama-family model, by name (llama.cpp's GGUF names without the
// `.weight` suffix), with the freezing rules: a tensor trains unless a freeze pattern matches it
// and no train pattern does. Patterns are globs over names: `*` matches any run of characters.

import { FfnkitError } from '../errors.js';
import type { LlamaWeights } from '../model/weights.js';

/** FactorLLM fine-tuning: experts and routers train, everything else is frozen. */
export const FACTORLLM_TRAINABLE = ['blk.*.ffn_gate_inp*', 'blk.*.ffn_*_exps'];

/**
 * Every tensor of `w` by its training name, as views on the weights' own arrays (so an update of
 * a parameter is an update of the weights). A shared classifier appears once, as `token_embd`.
 */
export function namedTensors(w: LlamaWeights): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  m.set('token_embd', w.tokenEmbedding);
  w.layers.forEach((l, i) => {
    const b = `blk.${i}`;
    m.set(`${b}.attn_norm`, l.attnNorm);
    m.set(`${b}.attn_q`, l.wq);
    m.set(`${b}.attn_k`, l.wk);
    m.set(`${b}.attn_v`, l.wv);
    if (l.bq && l.bk && l.bv) {
      m.set(`${b}.attn_q.bias`, l.bq);
      m.set(`${b}.attn_k.bias`, l.bk);
      m.set(`${b}.attn_v.bias`, l.bv);
    }
    if (l.qNorm && l.kNorm) {
      m.set(`${b}.attn_q_norm`, l.qNorm);
      m.set(`${b}.attn_k_norm`, l.kNorm);
    }
    m.set(`${b}.attn_output`, l.wo);
    if (l.postAttnNorm) m.set(`${b}.post_attention_norm`, l.postAttnNorm);
    m.set(`${b}.ffn_norm`, l.ffnNorm);
    if (l.postFfnNorm) m.set(`${b}.post_ffw_norm`, l.postFfnNorm);
    if (l.routed) {
      m.set(`${b}.ffn_gate_inp`, l.routed.router);
      m.set(`${b}.ffn_gate_inp.bias`, l.routed.routerBias);
      m.set(`${b}.ffn_gate_exps`, l.routed.w1);
      m.set(`${b}.ffn_up_exps`, l.routed.w3);
      m.set(`${b}.ffn_down_exps`, l.routed.w2);
    } else {
      m.set(`${b}.ffn_gate`, l.w1);
      m.set(`${b}.ffn_up`, l.w3);
      m.set(`${b}.ffn_down`, l.w2);
    }
  });
  m.set('output_norm', w.finalNorm);
  if (!w.config.sharedClassifier) m.set('output', w.classifier);
  return m;
}

/**
 * The tensors as the family's files name them, each with the training names (namedTensors) it
 * covers: the same for every family but Phi-3, whose files fuse q, k and v into `attn_qkv` and
 * gate and up into `ffn_up`, so a pattern names what the file holds and a fused tensor trains or
 * freezes as one.
 */
export function fileTensorNames(w: LlamaWeights): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const phi3 = w.config.family === 'phi3';
  for (const name of namedTensors(w).keys()) {
    const m = /^(blk\.\d+)\.(attn_q|attn_k|attn_v|ffn_gate|ffn_up)$/.exec(name);
    const file = phi3 && m ? `${m[1]}.${m[2]!.startsWith('attn') ? 'attn_qkv' : 'ffn_up'}` : name;
    out.set(file, [...(out.get(file) ?? []), name]);
  }
  return out;
}

/** The training names that train under `train` and `freeze` patterns over the family's file names (see trainableNames). */
export function selectTrainable(w: LlamaWeights, train: readonly string[] | undefined, freeze: readonly string[] = []): Set<string> {
  const files = fileTensorNames(w);
  return new Set([...trainableNames([...files.keys()], train, freeze)].flatMap((f) => files.get(f)!));
}

/** A glob (`*` = any characters) as an anchored regular expression. */
function globToRegExp(glob: string): RegExp {
  const body = glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`);
}

/**
 * The names that train: those matching a `train` pattern (all when `train` is undefined) and no
 * `freeze` pattern. Throws E_ARG for a pattern that matches no tensor (a typo would otherwise
 * silently train or freeze nothing).
 */
export function trainableNames(names: readonly string[], train: readonly string[] | undefined, freeze: readonly string[] = []): Set<string> {
  const match = (patterns: readonly string[], what: string) => {
    const res = patterns.map((p) => {
      const re = globToRegExp(p);
      if (!names.some((n) => re.test(n))) throw new FfnkitError('E_ARG', `${what}: pattern '${p}' matches no tensor (names look like ${names.slice(0, 3).join(', ')}, ...)`);
      return re;
    });
    return (n: string) => res.some((re) => re.test(n));
  };
  const isTrain = train ? match(train, 'train') : () => true;
  const isFrozen = match(freeze, 'freeze');
  return new Set(names.filter((n) => isTrain(n) && !isFrozen(n)));
}
