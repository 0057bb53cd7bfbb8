// Training on every family LlamaModel runs: the training forward gives LlamaModel's logits on
// llama.cpp's fixtures (and llama.cpp's own, to the conformance measure); the whole-model
// gradient of a small random model of each family, with every parameter kind the family adds
// (biases, q/k norms, post-norms, soft-caps, GeGLU, sliding windows, NEOX rotation, RoPE factors
// and scaling), against central finite differences of the float64 reference in
// test/ref/family-train.ts; the new kernels (GeGLU's backward, windowed and soft-capped sequence
// attention) against finite differences of test/ref/kernels.ts.

import { describe, expect, test } from 'vitest';
import { LlamaModel, readGguf, type Family, type LlamaConfig, type LlamaWeights } from '../src/node/index.js';
import { BackwardKernels } from '../src/entries/node/kernels.js';
import { TrainableLlama, fileTensorNames, modelFingerprint, namedTensors, selectTrainable } from '../src/entries/node/train.js';
import { denseOfRouted, factorizeLayer } from '../src/entries/node/factor.js';
import { BACKENDS, engineFor } from './helpers.js';
import type { Combination } from '../src/node/index.js';
import { familyWeights } from './family-weights.js';
import { againstReference } from './llamacpp.js';
import { attention, geluTanh } from './ref/kernels.js';
import { refFamilyLogits, refFamilyLoss, type RefRouting } from './ref/family-train.js';
import { SHARED, sharedBytes, sharedJson } from './shared.js';
import { randomF32 } from '../testing/random.js';
import { dotF, numericGrad, relErr } from './gradients.js';

type Vec = ArrayLike<number>;

describe.each(BACKENDS)('family backward kernels (%s)', (backend) => {
  test('GeGLU backward against finite differences (n 37)', async () => {
    const engine = await engineFor(backend);
    const bk = new BackwardKernels(engine);
    const n = 37;
    const g = randomF32(n, 4, -4, 4);
    const u = randomF32(n, 5);
    const da = randomF32(n, 6);
    const dg = engine.alloc(n);
    const du = engine.alloc(n);
    bk.gegluBackward(engine.upload(g), engine.upload(u), engine.upload(da), dg, du);
    const geglu = (gg: Vec, uu: Vec) => Float64Array.from(gg, (v, i) => geluTanh(v) * uu[i]!);
    expect(relErr(dg.toArray(), numericGrad(Float64Array.from(g), (gg) => dotF(da, geglu(gg, u))))).toBeLessThan(1e-4);
    expect(relErr(du.toArray(), numericGrad(Float64Array.from(u), (uu) => dotF(da, geglu(g, uu))))).toBeLessThan(1e-4);
  });

  test.each([
    [9, 4, 2, 6, { window: 3 }],
    [7, 3, 3, 4, { softcap: 0.7 }],
    [11, 2, 1, 8, { scale: 0.3, softcap: 1.5, window: 4 }],
    [5, 2, 2, 4, { window: 9 }],
  ])('sequence attention with options against float64, its backward against finite differences: t %i, heads %i, kv heads %i, head dim %i, %o', async (t, heads, kvHeads, hd, options) => {
    const engine = await engineFor(backend);
    const bk = new BackwardKernels(engine);
    const qd = heads * hd;
    const kd = kvHeads * hd;
    const stride = qd + 2 * kd;
    const qkv = randomF32(t * stride, 17 + t, -2, 2);
    const dout = randomF32(t * qd, 18 + t);
    const split = (a: Vec) => {
      const q = new Float64Array(t * qd);
      const kk = new Float64Array(t * kd);
      const v = new Float64Array(t * kd);
      for (let i = 0; i < t; i++) {
        for (let j = 0; j < qd; j++) q[i * qd + j] = a[i * stride + j]!;
        for (let j = 0; j < kd; j++) {
          kk[i * kd + j] = a[i * stride + qd + j]!;
          v[i * kd + j] = a[i * stride + qd + kd + j]!;
        }
      }
      return { q, kk, v };
    };
    const f = (a: Vec) => {
      const { q, kk, v } = split(a);
      return dotF(dout, attention(q, kk, v, t, 0, heads, kvHeads, hd, options));
    };
    const shape = { tokens: t, heads, kvHeads, headDim: hd, qkvStride: stride, ...options };
    const qkvBuf = engine.upload(qkv);
    const out = engine.alloc(t * qd);
    bk.attentionSequence(qkvBuf, out, shape);
    const { q, kk, v } = split(qkv);
    expect(relErr(out.toArray(), attention(q, kk, v, t, 0, heads, kvHeads, hd, options))).toBeLessThan(1e-6);
    // the same function as the inference kernel
    const att = engine.alloc(t * qd);
    engine.kernels.attention(engine.upload(q), engine.upload(kk), engine.upload(v), att, { tokens: t, pos0: 0, heads, kvHeads, headDim: hd, ...options });
    expect(relErr(out.toArray(), att.toArray())).toBeLessThan(1e-6);
    const dqkv = engine.alloc(t * stride);
    bk.attentionBackward(qkvBuf, out, engine.upload(dout), dqkv, shape);
    expect(relErr(dqkv.toArray(), numericGrad(Float64Array.from(qkv), f))).toBeLessThan(1e-4);
  });
});

interface FamilyCase {
  family: Family;
  shape: Partial<LlamaConfig>;
  ropeFactors?: boolean;
  /** Layer 0 factorized into 4 experts, top-2, combined so (FactorLLM), with PA and balance terms. */
  routed?: Combination;
  what: string;
}

const SMALL = { dim: 16, hiddenDim: 22, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 29, seqLen: 16 };

/** Each family with every parameter kind it adds, small enough for finite differences over every tensor. */
export const FAMILY_CASES: FamilyCase[] = [
  { family: 'qwen2', shape: { ropeTheta: 1e6 }, what: 'q/k/v biases, NEOX rotation, tied classifier' },
  { family: 'llama', shape: { ropeTheta: 500000, ropeScale: 0.25, sharedClassifier: false }, ropeFactors: true, what: 'RoPE factors and linear scaling' },
  { family: 'qwen3', shape: { headDim: 6, ropeTheta: 1e6, sharedClassifier: false }, what: 'q/k head norms, head width 6 apart from 16/4' },
  { family: 'gemma', shape: {}, what: 'GeGLU, embedding scale' },
  { family: 'phi3', shape: { sharedClassifier: false }, what: 'fused q|k|v and gate+up' },
  { family: 'gemma2', shape: { slidingWindow: 3, attentionSoftcap: 2, finalSoftcap: 5 }, what: 'post-norms, attention and final soft-caps, window 3 on layer 0' },
  { family: 'gemma3', shape: { headDim: 8, slidingWindow: 3, slidingPeriod: 2, ropeTheta: 1e6, ropeScale: 0.125 }, what: 'q/k norms, post-norms, window 3 with its own RoPE base on layer 0' },
  { family: 'qwen2', shape: { ropeTheta: 1e6 }, routed: 'sum', what: 'layer 0 factorized (sum of 2 of 4 experts), PA and balance terms' },
  { family: 'gemma', shape: {}, routed: 'weighted', what: 'layer 0 factorized into GeGLU experts (weighted), PA and balance terms' },
  { family: 'gemma2', shape: { slidingWindow: 3, attentionSoftcap: 2, finalSoftcap: 5 }, routed: 'paper', what: 'layer 0 factorized into GeGLU experts (paper), post-norms, soft-caps, window' },
];

/** Layer 0 of `w` cut into 4 experts of neurons (FactorLLM), top-2 with `combination`; its teacher for the reference. */
function factorizeFirst(w: LlamaWeights, combination: Combination): RefRouting {
  const c = w.config;
  const groups = [[0, 5, 9, 13, 17, 21], [1, 2, 3, 4, 6], [7, 8, 10, 11, 12], [14, 15, 16, 18, 19, 20]];
  const routed = factorizeLayer(w.layers[0]!, c.dim, c.hiddenDim, groups, { topK: 2, combination, seed: 3 });
  routed.routerBias.set([0.1, -0.2, 0.05, 0]);
  w.layers[0] = { ...w.layers[0]!, routed };
  const dense = denseOfRouted(routed, c.dim);
  return { teachers: [{ w1: dense.w1.slice(), w3: dense.w3.slice(), w2: dense.w2.slice(), hidden: dense.hidden }, undefined], paWeight: 0.5, balanceWeight: 0.3 };
}

/** The analytic gradient of each tensor namedTensors lists, fused parameters split back into theirs. */
function gradients(model: TrainableLlama, w: LlamaWeights): Map<string, Float32Array> {
  const c = w.config;
  const hd = c.headDim ?? c.dim / c.nHeads;
  const q = hd * c.nHeads;
  const kv = hd * c.nKvHeads;
  const out = new Map<string, Float32Array>();
  for (const p of model.params.all()) {
    const g = p.grad!.toArray();
    const m = /^(blk\.\d+)\.attn_qkv(\.bias)?$/.exec(p.name);
    if (!m) {
      out.set(p.name, g);
      continue;
    }
    const cols = m[2] ? 1 : c.dim;
    const suffix = m[2] ?? '';
    out.set(`${m[1]}.attn_q${suffix}`, g.subarray(0, q * cols));
    out.set(`${m[1]}.attn_k${suffix}`, g.subarray(q * cols, (q + kv) * cols));
    out.set(`${m[1]}.attn_v${suffix}`, g.subarray((q + kv) * cols));
  }
  return out;
}

describe.each(BACKENDS)('whole-model gradient of each family (%s)', (backend) => {
  test.each(FAMILY_CASES)('$family ($what): loss and every tensor against finite differences of the float64 reference', async ({ family, shape, ropeFactors, routed }) => {
    const engine = await engineFor(backend);
    const w = familyWeights(family, { ...SMALL, ...shape }, 21, ropeFactors ? { ropeFactors: true } : {});
    const routing = routed ? factorizeFirst(w, routed) : undefined;
    const aux = routing ? { pa: routing.paWeight, balance: routing.balanceWeight } : { pa: 0, balance: 0 };
    const c = w.config;
    const B = 2;
    const S = 6;
    const tokens = Int32Array.from({ length: B * (S + 1) }, (_, i) => (i * 7 + 3) % c.vocabSize);
    const names = [...namedTensors(w).keys()];
    const model = await TrainableLlama.create(w, { engine, batch: B, seqLen: S, trainable: new Set(names) });
    const terms = model.step(tokens, aux);
    const ref = refFamilyLoss(w, tokens, B, S, routing);
    expect(Math.abs(terms.total - ref.total) / ref.total).toBeLessThan(1e-5);
    if (routing) expect(terms.pa).toBeGreaterThan(0);
    const analytic = gradients(model, w);
    expect([...analytic.keys()].sort()).toEqual([...names].sort());
    const host = namedTensors(w);
    let next = 12345;
    const pick = (n: number) => (next = (next * 1103515245 + 12345) % 2 ** 31) % n;
    let worst = 0;
    let checked = 0;
    let skipped = 0;
    for (const name of names) {
      const a = host.get(name)!;
      const got: number[] = [];
      const want: number[] = [];
      for (let s = 0; s < 6; s++) {
        const i = pick(a.length);
        const v = a[i]!;
        a[i] = v + 1e-3;
        const hi = a[i]!;
        const up = refFamilyLoss(w, tokens, B, S, routing);
        a[i] = v - 1e-3;
        const lo = a[i]!;
        const down = refFamilyLoss(w, tokens, B, S, routing);
        a[i] = v;
        if (up.decisions !== ref.decisions || down.decisions !== ref.decisions) {
          skipped++;
          continue;
        }
        got.push(analytic.get(name)![i]!);
        want.push((up.total - down.total) / (hi - lo));
      }
      checked += got.length;
      if (want.some((v) => v !== 0)) {
        worst = Math.max(worst, relErr(got, want));
        expect(relErr(got, want), name).toBeLessThan(2e-3);
      } else {
        // only a router's bias of an expert no token chose, or a coordinate its routing skipped
        expect(routing, name).toBeDefined();
        expect(Math.max(0, ...got.map(Math.abs)), name).toBeLessThan(1e-6);
      }
    }
    expect(checked).toBeGreaterThan(skipped * 10);
    console.log(`${family}${routed ? ` routed (${routed})` : ''} gradient (${backend}): ${checked} coordinates of ${names.length} tensors, worst relative error ${worst.toExponential(2)} (${skipped} skipped: routing changed)`);
  }, 60_000);
});

describe('tensor names by family', () => {
  test("phi3's fused tensors train and freeze by their file names (attn_qkv, ffn_up = gate+up); other families' by theirs", () => {
    const phi3 = familyWeights('phi3', SMALL, 3);
    const files = fileTensorNames(phi3);
    expect(files.get('blk.0.attn_qkv')).toEqual(['blk.0.attn_q', 'blk.0.attn_k', 'blk.0.attn_v']);
    expect(files.get('blk.0.ffn_up')).toEqual(['blk.0.ffn_gate', 'blk.0.ffn_up']);
    expect(files.has('blk.0.attn_q') || files.has('blk.0.ffn_gate')).toBe(false);
    expect([...selectTrainable(phi3, ['blk.1.ffn_up'])].sort()).toEqual(['blk.1.ffn_gate', 'blk.1.ffn_up']);
    expect(() => selectTrainable(phi3, ['blk.*.ffn_gate'])).toThrow(/pattern 'blk\.\*\.ffn_gate' matches no tensor/);
    const qwen2 = familyWeights('qwen2', SMALL, 3);
    expect([...selectTrainable(qwen2, ['blk.0.attn_*.bias'])].sort()).toEqual(['blk.0.attn_k.bias', 'blk.0.attn_q.bias', 'blk.0.attn_v.bias']);
    const gemma3 = familyWeights('gemma3', { ...SMALL, slidingWindow: 3 }, 3);
    expect([...fileTensorNames(gemma3).keys()].filter((n) => n.startsWith('blk.0.'))).toEqual([
      'blk.0.attn_norm', 'blk.0.attn_q', 'blk.0.attn_k', 'blk.0.attn_v', 'blk.0.attn_q_norm', 'blk.0.attn_k_norm', 'blk.0.attn_output',
      'blk.0.post_attention_norm', 'blk.0.ffn_norm', 'blk.0.post_ffw_norm', 'blk.0.ffn_gate', 'blk.0.ffn_up', 'blk.0.ffn_down',
    ]);
  });

  test('the RoPE factors are part of the model a checkpoint names (frozen, but another set is another model)', () => {
    const a = familyWeights('llama', SMALL, 3, { ropeFactors: true });
    const b = structuredClone(a);
    b.ropeFactors![1] = 2.5;
    expect(modelFingerprint(a)).not.toBe(modelFingerprint(b));
    expect(modelFingerprint(a)).toBe(modelFingerprint(structuredClone(a)));
  });

  test('a fused group trained in part is refused naming the tensors (q/k/v biases)', async () => {
    const w = familyWeights('qwen2', SMALL, 3);
    const trainable = new Set([...namedTensors(w).keys()].filter((n) => n !== 'blk.1.attn_v.bias'));
    await expect(TrainableLlama.create(w, { batch: 1, seqLen: 4, trainable })).rejects.toThrow(/blk\.1\.attn_q\.bias, blk\.1\.attn_k\.bias, blk\.1\.attn_v\.bias train together/);
  });

  test('what training does not compute is refused naming the family and the part', async () => {
    const w = familyWeights('gemma2', { ...SMALL, slidingWindow: 3 }, 3);
    const odd = { ...w, config: { ...w.config, attentionSinks: 4 } as LlamaConfig };
    await expect(TrainableLlama.create(odd, { batch: 1, seqLen: 4, trainable: new Set() })).rejects.toMatchObject({
      code: 'E_UNSUPPORTED', message: expect.stringMatching(/gemma2 model has the config field attentionSinks/),
    });
    const layer = { ...w, layers: w.layers.map((l, i) => (i === 1 ? { ...l, attnSinks: new Float32Array(4) } : l)) } as LlamaWeights;
    await expect(TrainableLlama.create(layer, { batch: 1, seqLen: 4, trainable: new Set() })).rejects.toThrow(/gemma2 model has blk\.1's attnSinks/);
  });
});

interface Golden {
  tokens: number[];
  vocab: number;
  logits: number[][];
}

const FIXTURES: [string, Family][] = [
  ['fixture-qwen2-f32.gguf', 'qwen2'],
  ['fixture-llama3rope-f32.gguf', 'llama'],
  ['fixture-qwen3-f32.gguf', 'qwen3'],
  ['fixture-gemma-f32.gguf', 'gemma'],
  ['fixture-phi3-f32.gguf', 'phi3'],
  ['fixture-gemma2-f32.gguf', 'gemma2'],
  ['fixture-gemma3-f32.gguf', 'gemma3'],
  ['fixture-llama-f32.gguf', 'llama'],
];

describe.skipIf(!SHARED)("the training forward on llama.cpp's fixtures", () => {
  test.each(FIXTURES)('%s (%s): the logits of LlamaModel, and of llama.cpp to its measure', async (name, family) => {
    const golden = sharedJson<Record<string, Golden>>('golden', 'llamacpp-fixtures.json')[name]!;
    const { weights } = readGguf(sharedBytes('models', 'fixtures', name), name);
    expect(weights.config.family ?? 'llama').toBe(family);
    const ids = golden.tokens;
    const V = weights.config.vocabSize;
    const inference = await LlamaModel.create(weights, { backend: 'simd' });
    const want = inference.forward(ids, { allLogits: true });
    const S = ids.length;
    const train = await TrainableLlama.create(weights as LlamaWeights, { backend: 'simd', batch: 1, seqLen: S, trainable: new Set() });
    const got = train.logitsOf(Int32Array.from([...ids, 0]));
    const rows = (flat: Float32Array) => Array.from({ length: S }, (_, p) => flat.subarray(p * V, (p + 1) * V));
    const vs = againstReference(rows(got), rows(want));
    expect(vs.argmaxMisses).toBe(0);
    expect(vs.maxDiffOverStd).toBeLessThan(1e-4);
    const llamaCpp = againstReference(rows(got), golden.logits.map((r) => Float32Array.from(r)));
    expect(llamaCpp.argmaxMisses).toBeLessThanOrEqual(1);
    expect(llamaCpp.maxDiffOverStd).toBeLessThanOrEqual(0.02);
    // and the float64 reference, on the first 8 positions (its loops are slow at dim 256)
    const ref = refFamilyLogits(weights as LlamaWeights, Int32Array.from([...ids.slice(0, 8), 0]), 1, 8);
    const f64 = againstReference(rows(got).slice(0, 8), Array.from({ length: 8 }, (_, p) => Float32Array.from(ref.subarray(p * V, (p + 1) * V))));
    expect(f64.maxDiffOverStd).toBeLessThan(1e-4);
    console.info(`${name}: training forward vs LlamaModel max |diff| / std ${vs.maxDiffOverStd.toExponential(2)}, vs float64 ${f64.maxDiffOverStd.toExponential(2)}, vs llama.cpp ${llamaCpp.maxDiffOverStd.toFixed(5)}`);
  }, 120_000);
});
