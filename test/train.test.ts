// The training engine: every backward kernel against central finite differences of a float64
// reference (test/ref), and the whole-model gradient of a 2-layer model (dense and routed FFNs,
// LM + PA + balance loss) against finite differences of test/ref/llama-train.ts, on every build.

import { describe, expect, test } from 'vitest';
import type { Engine, LlamaWeights, Combination } from '../src/node/index.js';
import { BackwardKernels } from '../src/entries/node/kernels.js';
import { TrainableLlama, namedTensors } from '../src/entries/node/train.js';
import { factorizeLayer, denseOfRouted } from '../src/entries/node/factor.js';
import { llamaConfig, randomLlamaWeights } from '../src/llm/random.js';
import { BACKENDS, engineFor } from './helpers.js';
import { attention, gemm, rmsnorm, rope, swiglu } from './ref/kernels.js';
import { refTrainLoss, type RefTeacher } from './ref/llama-train.js';
import { randomF32 } from '../testing/random.js';
import { dotF, numericGrad, relErr } from './gradients.js';

type Vec = ArrayLike<number>;

describe.each(BACKENDS)('backward kernels (%s)', (backend) => {
  const setup = async () => {
    const engine = await engineFor(backend);
    return { engine, bk: new BackwardKernels(engine), k: engine.kernels };
  };

  test('rmsnorm backward: dx and dw against finite differences (rows 3, n 17)', async () => {
    const { engine, bk } = await setup();
    const rows = 3;
    const n = 17;
    const x = randomF32(rows * n, 1);
    const w = randomF32(n, 2, 0.5, 1.5);
    const dy = randomF32(rows * n, 3);
    const dx = engine.alloc(rows * n);
    const dw = engine.alloc(n);
    bk.rmsnormBackward(engine.upload(x), engine.upload(w), engine.upload(dy), dx, dw, rows, 1e-5);
    const fx = numericGrad(Float64Array.from(x), (xx) => dotF(dy, rmsnorm(xx, w, rows, 1e-5)));
    const fw = numericGrad(Float64Array.from(w), (ww) => dotF(dy, rmsnorm(x, ww, rows, 1e-5)));
    expect(relErr(dx.toArray(), fx)).toBeLessThan(1e-4);
    expect(relErr(dw.toArray(), fw)).toBeLessThan(1e-4);
  });

  test('swiglu backward against finite differences (n 37)', async () => {
    const { engine, bk } = await setup();
    const n = 37;
    const g = randomF32(n, 4, -4, 4);
    const u = randomF32(n, 5);
    const da = randomF32(n, 6);
    const dg = engine.alloc(n);
    const du = engine.alloc(n);
    bk.swigluBackward(engine.upload(g), engine.upload(u), engine.upload(da), dg, du);
    expect(relErr(dg.toArray(), numericGrad(Float64Array.from(g), (gg) => dotF(da, swiglu(gg, u))))).toBeLessThan(1e-4);
    expect(relErr(du.toArray(), numericGrad(Float64Array.from(u), (uu) => dotF(da, swiglu(g, uu))))).toBeLessThan(1e-4);
  });

  test.each([
    [7, 4, 2, 6],
    [9, 3, 3, 4],
    [5, 2, 1, 10],
    [13, 2, 2, 3],
  ])('sequence attention against float64, its backward against finite differences: t %i, heads %i, kv heads %i, head dim %i', async (t, heads, kvHeads, hd) => {
    const { engine, bk } = await setup();
    const qd = heads * hd;
    const kd = kvHeads * hd;
    const stride = qd + 2 * kd;
    const qkv = randomF32(t * stride, 7 + t);
    const dout = randomF32(t * qd, 8 + t);
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
      return dotF(dout, attention(q, kk, v, t, 0, heads, kvHeads, hd));
    };
    const qkvBuf = engine.upload(qkv);
    const out = engine.alloc(t * qd);
    bk.attentionSequence(qkvBuf, out, { tokens: t, heads, kvHeads, headDim: hd, qkvStride: stride });
    const { q, kk, v } = split(qkv);
    const want = attention(q, kk, v, t, 0, heads, kvHeads, hd);
    expect(relErr(out.toArray(), want)).toBeLessThan(1e-6);
    const dqkv = engine.alloc(t * stride);
    bk.attentionBackward(qkvBuf, out, engine.upload(dout), dqkv, { tokens: t, heads, kvHeads, headDim: hd, qkvStride: stride });
    expect(relErr(dqkv.toArray(), numericGrad(Float64Array.from(qkv), f))).toBeLessThan(1e-4);
  });

  test('RoPE backward (RoPE with the sines negated) against finite differences, both layouts', async () => {
    const { engine, k } = await setup();
    for (const layout of ['interleaved', 'half'] as const) {
      const hd = 10;
      const heads = 3;
      const cs = Float32Array.from({ length: hd }, (_, i) => (i < hd / 2 ? Math.cos(0.3 * i + 1) : Math.sin(0.3 * (i - hd / 2) + 1)));
      const back = cs.map((v, i) => (i < hd / 2 ? v : -v));
      const x = randomF32(heads * hd, 9);
      const dy = randomF32(heads * hd, 10);
      const buf = engine.upload(dy);
      k.rope(buf, heads, hd, engine.upload(back), layout);
      const fd = numericGrad(Float64Array.from(x), (xx) => dotF(dy, rope(xx, heads, hd, cs, layout)));
      expect(relErr(buf.toArray(), fd), layout).toBeLessThan(1e-5);
    }
  });

  test('matrix product gradients: dX = dY·W on the transposed packing, dW += dYᵀ·X (m 13, n 11, k 19)', async () => {
    const { engine, bk, k } = await setup();
    const [m, n, kk] = [13, 11, 19];
    const x = randomF32(m * kk, 11);
    const w = randomF32(n * kk, 12);
    const dy = randomF32(m * n, 13);
    const packed = bk.allocPacked(kk, n);
    bk.repack(engine.upload(w), packed, { transposed: true });
    const dx = engine.alloc(m * kk);
    k.gemm(engine.upload(dy), packed, dx, m);
    const f = (xx: Vec) => dotF(dy, gemm(xx, w, null, m, n, kk));
    expect(relErr(dx.toArray(), numericGrad(Float64Array.from(x), f))).toBeLessThan(1e-5);
    const start = randomF32(n * kk, 14);
    const dw = engine.upload(start);
    bk.weightGradient(engine.upload(dy), engine.upload(x), m, n, kk, dw);
    const fw = numericGrad(Float64Array.from(w), (ww) => dotF(dy, gemm(x, ww, null, m, n, kk)));
    expect(relErr(dw.toArray().map((v, i) => v - start[i]!), fw)).toBeLessThan(1e-5);
  });
});

/** A 2-layer model: layer 0 routed with `combination`, layer 1 dense or routed. */
function twoLayerModel(combination: Combination, secondRouted: boolean, shared: boolean): { w: LlamaWeights; teachers: (RefTeacher | undefined)[] } {
  const c = llamaConfig({ dim: 16, hiddenDim: 22, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 29, seqLen: 16, sharedClassifier: shared });
  const w = randomLlamaWeights(c, 5);
  const teachers: (RefTeacher | undefined)[] = [];
  w.layers = w.layers.map((l, i) => {
    if (i === 1 && !secondRouted) {
      teachers.push(undefined);
      return l;
    }
    const groups = [[0, 5, 9, 13, 17, 21], [1, 2, 3, 4, 6], [7, 8, 10, 11, 12], [14, 15, 16, 18, 19, 20]];
    const routed = factorizeLayer(l, c.dim, c.hiddenDim, groups, { topK: 2, combination, seed: 3 + i });
    routed.routerBias.set([0.1, -0.2, 0.05, 0]);
    const dense = denseOfRouted(routed, c.dim);
    teachers.push({ w1: dense.w1.slice(), w3: dense.w3.slice(), w2: dense.w2.slice(), hidden: dense.hidden });
    return { ...l, routed };
  });
  return { w, teachers };
}

describe.each(BACKENDS)('whole-model gradient (%s)', (backend) => {
  test.each([
    ['sum', false, true],
    ['paper', true, false],
    ['weighted', true, true],
  ] as const)('2 layers, %s combination, second layer routed: %s, shared classifier: %s — every tensor against finite differences', async (combination, secondRouted, shared) => {
    const engine: Engine = await engineFor(backend);
    const { w, teachers } = twoLayerModel(combination, secondRouted, shared);
    const B = 2;
    const S = 6;
    const tokens = Int32Array.from({ length: B * (S + 1) }, (_, i) => (i * 7 + 3) % w.config.vocabSize);
    const aux = { pa: 0.5, balance: 0.3 };
    const names = [...namedTensors(w).keys()];
    const model = await TrainableLlama.create(w, { engine, batch: B, seqLen: S, trainable: new Set(names) });
    const terms = model.step(tokens, aux);
    const ref = refTrainLoss(w, tokens, B, S, teachers, aux.pa, aux.balance);
    expect(Math.abs(terms.total - ref.total) / ref.total).toBeLessThan(1e-5);
    expect(terms.pa).toBeGreaterThan(0);
    const analytic = new Map<string, Float32Array>();
    for (const p of model.params.all()) {
      const g = p.grad!.toArray();
      const m = /^(blk\.\d+)\.attn_qkv$/.exec(p.name);
      if (!m) {
        analytic.set(p.name, g);
        continue;
      }
      const d = w.config.dim;
      const kv = (d / w.config.nHeads) * w.config.nKvHeads;
      analytic.set(`${m[1]}.attn_q`, g.subarray(0, d * d));
      analytic.set(`${m[1]}.attn_k`, g.subarray(d * d, (d + kv) * d));
      analytic.set(`${m[1]}.attn_v`, g.subarray((d + kv) * d));
    }
    const host = namedTensors(w);
    let next = 12345;
    const pick = (n: number) => (next = (next * 1103515245 + 12345) % 2 ** 31) % n;
    let skipped = 0;
    let checked = 0;
    let worst = 0;
    for (const name of names) {
      const a = host.get(name)!;
      const got: number[] = [];
      const want: number[] = [];
      for (let s = 0; s < 6; s++) {
        const i = pick(a.length);
        const v = a[i]!;
        a[i] = v + 1e-3;
        const up = refTrainLoss(w, tokens, B, S, teachers, aux.pa, aux.balance);
        const hi = a[i]!;
        a[i] = v - 1e-3;
        const down = refTrainLoss(w, tokens, B, S, teachers, aux.pa, aux.balance);
        const lo = a[i]!;
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
      }
      else expect(Math.max(...got.map(Math.abs)), name).toBeLessThan(1e-6);
    }
    expect(checked).toBeGreaterThan(skipped * 10);
    console.log(`whole-model gradient (${backend}, ${combination}): ${checked} coordinates of ${names.length} tensors, worst relative error ${worst.toExponential(2)} (${skipped} skipped: routing changed)`);
  }, 60_000);
});
