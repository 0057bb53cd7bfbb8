// FactorLLM: experts that add up to the dense FFN, balanced splits, the PA loss and its gradient
// against finite differences, router training that beats an untrained router, routed prefill
// equal to routed decode, GGUF round trips, and bad input.

import { readFileSync } from 'node:fs';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { FfnkitError, LlamaModel, Tokenizer, createEngine, evaluate, readGguf, readLlama2c, writeGguf, writeLlama2c, type BlockMatrix, type HostMatrix, type LlamaWeights } from '../src/node/index.js';
import { llamaConfig, randomLlamaWeights } from '../src/llm/random.js';
import { RoutedLayerFfn, SPLIT_METHODS, factorizeLayer, factorizeModel, paLoss, splitNeurons } from '../src/entries/node/factor.js';
import { paTargets } from '../src/llm/oracle.js';
import { exactDistances } from '../src/factor/split.js';
import { collectFfnInputs } from '../src/factor/calibrate.js';
import { gemmDistances } from '../src/factor/gemm-distances.js';
import { rng } from '../testing/random.js';
import { SHARED, sharedBytes, sharedJson, sharedPath, sharedText } from './shared.js';
import { maxAbsDiff } from '../testing/compare.js';

const stories = (): LlamaWeights => readLlama2c(sharedBytes('models', 'stories260K.bin'), 'stories260K.bin');
const goldenLogits = () => new Float32Array(sharedBytes('golden', 'stories260K-logits.f32').slice().buffer);
const goldenIds = () => sharedJson<{ ids: number[] }>('golden', 'stories260K-logits.json').ids;

/** Every layer split with `method` into E experts, k = E, unscaled sum: the dense model again. */
function allExperts(w: LlamaWeights, method: (typeof SPLIT_METHODS)[number], E: number): LlamaWeights {
  const c = w.config;
  return {
    ...w,
    layers: w.layers.map((l, i) => {
      const activations = method === 'coactivation' ? Float32Array.from({ length: 64 * c.hiddenDim }, (_, j) => Math.sin(j * 0.37 + i)) : undefined;
      const groups = splitNeurons(method, E, { hidden: c.hiddenDim, dim: c.dim, w1: l.w1, w3: l.w3, ...(activations ? { activations } : {}) }, 3);
      return { ...l, routed: factorizeLayer(l, c.dim, c.hiddenDim, groups, { topK: E, combination: 'sum' }) };
    }),
  };
}

describe('neuron splits', () => {
  const hidden = 172;
  const dim = 16;
  const next = rng(9);
  const w1 = Float32Array.from({ length: hidden * dim }, () => next() - 0.5);
  const w3 = Float32Array.from({ length: hidden * dim }, () => next() - 0.5);
  const activations = Float32Array.from({ length: 50 * hidden }, () => next());

  test.each(SPLIT_METHODS)('%s: balanced (sizes differ by at most 1), every neuron once, seeded', (method) => {
    for (const E of [2, 4, 8, 16]) {
      const groups = splitNeurons(method, E, { hidden, dim, w1, w3, activations }, 5);
      expect(groups).toHaveLength(E);
      const sizes = groups.map((g) => g.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      expect(groups.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: hidden }, (_, i) => i));
      expect(splitNeurons(method, E, { hidden, dim, w1, w3, activations }, 5)).toEqual(groups);
    }
  });

  test('k-means groups neurons whose weights are alike better than a random split does', () => {
    const cohesion = (groups: number[][]) => {
      // mean cosine similarity of [w1 row, w3 row] pairs within a group
      const v = (i: number) => {
        const a = [...w1.subarray(i * dim, (i + 1) * dim), ...w3.subarray(i * dim, (i + 1) * dim)];
        const n = Math.hypot(...a);
        return a.map((x) => x / n);
      };
      let s = 0;
      let n = 0;
      for (const g of groups) for (const i of g) for (const j of g) if (i < j) {
        const a = v(i);
        const b = v(j);
        s += a.reduce((acc, x, t) => acc + x * b[t]!, 0);
        n++;
      }
      return s / n;
    };
    expect(cohesion(splitNeurons('kmeans', 8, { hidden, dim, w1, w3 }, 1))).toBeGreaterThan(cohesion(splitNeurons('random', 8, { hidden, dim, w1, w3 }, 1)) + 0.02);
  });

  test('k-means distances as a wasm GEMM agree with the float64 loop, and give the same split', async () => {
    const engine = await createEngine();
    const points = Array.from({ length: 37 }, () => Float64Array.from({ length: 45 }, () => next() - 0.5));
    const centroids = points.slice(3, 7).map((p) => Float64Array.from(p, (v) => v * 0.7 + 0.1));
    const gemm = gemmDistances(engine);
    const exact = exactDistances(points)(centroids);
    const fast = gemm.table(points)(centroids);
    expect(maxAbsDiff(Float32Array.from(exact), Float32Array.from(fast))).toBeLessThan(1e-5 * Math.max(...exact));
    const input = { hidden, dim, w1, w3 };
    expect(splitNeurons('kmeans', 4, input, 5, gemm.table)).toEqual(splitNeurons('kmeans', 4, input, 5));
    gemm.free();
    engine.close();
  });

  test('bad expert counts are named', () => {
    expect(() => splitNeurons('contiguous', 1, { hidden, dim, w1, w3 })).toThrow(/experts: expected an integer >= 2, found 1/);
    expect(() => splitNeurons('contiguous', 200, { hidden, dim, w1, w3 })).toThrow(/experts: 200 is more than the 172 hidden neurons/);
    expect(() => splitNeurons('coactivation', 4, { hidden, dim, w1, w3 })).toThrow(/needs calibration activations/);
  });
});

describe('PA loss', () => {
  test('targets are the oracle\'s choice, by brute force over the definitions', () => {
    const next = rng(9);
    for (const [E, k, d, tokens] of [[4, 2, 5, 3], [8, 2, 7, 2], [6, 3, 4, 4]] as const) {
      for (const combination of ['sum', 'paper', 'weighted'] as const) {
        for (const ownTeacher of [false, true]) {
          // [E][tokens][d] expert outputs, then (ownTeacher) a teacher [tokens][d] that is not their sum
          const outs = Float32Array.from({ length: (E + 1) * tokens * d }, () => 2 * next() - 1);
          const got = new Int32Array(tokens * k);
          paTargets(outs, ownTeacher ? E * tokens * d : -1, E, k, d, tokens, combination, got);
          for (let t = 0; t < tokens; t++) {
            const o = (e: number, i: number) => outs[(e * tokens + t) * d + i]!;
            const teacher = (i: number) => (ownTeacher ? outs[E * tokens * d + t * d + i]! : Array.from({ length: E }, (_, e) => o(e, i)).reduce((a, b) => a + b, 0));
            const picked = Array.from(got.subarray(t * k, (t + 1) * k));
            if (combination === 'sum') {
              const err = (sub: number[]) => Array.from({ length: d }, (_, i) => (teacher(i) - sub.reduce((a, e) => a + o(e, i), 0)) ** 2).reduce((a, b) => a + b, 0);
              // every k-subset of 0..E-1
              const all: number[][] = [];
              for (let mask = 0; mask < 1 << E; mask++) {
                const sub = Array.from({ length: E }, (_, e) => e).filter((e) => mask & (1 << e));
                if (sub.length === k) all.push(sub);
              }
              const best = Math.min(...all.map(err));
              expect(err(picked), `${combination} E${E} k${k} token ${t}`).toBeCloseTo(best, 9);
            } else {
              const dist = Array.from({ length: E }, (_, e) => Array.from({ length: d }, (_, i) => (o(e, i) - (teacher(i) * k) / E) ** 2).reduce((a, b) => a + b, 0));
              const want = Array.from({ length: E }, (_, e) => e).sort((a, b) => dist[a]! - dist[b]! || a - b).slice(0, k);
              expect(picked, `${combination} E${E} k${k} token ${t}`).toEqual(want);
            }
          }
        }
      }
    }
  });


  test('value matches the definition and the gradient matches central differences', () => {
    const next = rng(4);
    for (const [E, k, bal] of [[4, 2, 0], [8, 2, 0.01], [16, 4, 0.5]] as const) {
      const z = Float64Array.from({ length: E }, () => 4 * next() - 2);
      const target = Array.from({ length: k }, (_, j) => (j * 3 + 1) % E);
      const grad = new Float64Array(E);
      const { pa, balance } = paLoss(z, target, k, bal, grad);
      // the definition, written out independently
      const sm = (v: number[]) => {
        const m = Math.max(...v);
        const e = v.map((x) => Math.exp(x - m));
        const s = e.reduce((a, b) => a + b, 0);
        return e.map((x) => x / s);
      };
      const p = sm([...z]);
      const q = sm(Array.from({ length: E }, (_, i) => (target.includes(i) ? 1 : 0)));
      const clip = (v: number) => Math.min(Math.max(v, 1e-7), 1 - 1e-7);
      expect(pa).toBeCloseTo(p.reduce((acc, pi, i) => acc + clip(pi) * Math.log(clip(pi) / clip(q[i]!)), 0), 12);
      const loss = (v: Float64Array) => {
        const t = paLoss(v, target, k, bal, new Float64Array(E));
        return t.pa + bal * t.balance;
      };
      const h = 1e-6;
      for (let i = 0; i < E; i++) {
        const up = Float64Array.from(z);
        const down = Float64Array.from(z);
        up[i]! += h;
        down[i]! -= h;
        const fd = (loss(up) - loss(down)) / (2 * h);
        expect(Math.abs(fd - grad[i]!), `E=${E} i=${i}`).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
      }
      // the balance term: the k largest router probabilities, each over E (none without a weight)
      const topK = [...p].sort((a, b) => b - a).slice(0, k);
      expect(balance).toBeCloseTo(bal === 0 ? 0 : topK.reduce((a, b) => a + b, 0) / E, 12);
    }
  });
});

describe.skipIf(!SHARED)('routed stories260K', () => {
  test.each(SPLIT_METHODS)('%s: with every expert on, the experts add up to the dense FFN (golden logits)', async (method) => {
    const model = await LlamaModel.create(allExperts(stories(), method, 8), { backend: 'simd' });
    expect(model.layers[0]!.ffn.kind).toBe('routed');
    expect(maxAbsDiff(model.forward(goldenIds(), { allLogits: true }), goldenLogits())).toBeLessThan(1e-4);
  });

  test('the k-means split of every stories260K layer is the same with GEMM distances (what factorizeModel uses)', async () => {
    const w = stories();
    const c = w.config;
    const engine = await createEngine();
    const gemm = gemmDistances(engine);
    for (const E of [4, 8]) {
      w.layers.forEach((l, li) => {
        const input = { hidden: c.hiddenDim, dim: c.dim, w1: l.w1, w3: l.w3 };
        expect(splitNeurons('kmeans', E, input, 1 + li, gemm.table)).toEqual(splitNeurons('kmeans', E, input, 1 + li));
      });
    }
    gemm.free();
    engine.close();
  });

  test('calibration records every token of documents longer than the model\'s block, as one block would', async () => {
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    const text = sharedText('data', 'tinystories-calib.txt');
    const inBlocks = collectFfnInputs(await LlamaModel.create(stories(), { blockSize: 16 }), tok, text, 600);
    const whole = collectFfnInputs(await LlamaModel.create(stories(), { blockSize: 512 }), tok, text, 600);
    expect(inBlocks.tokens).toBe(whole.tokens);
    inBlocks.inputs.forEach((a, li) => {
      expect(maxAbsDiff(a, whole.inputs[li]!)).toBeLessThan(1e-4);
      // no row left unrecorded (zero)
      for (let t = 0; t < inBlocks.tokens; t++) expect(a.subarray(t * 64, (t + 1) * 64).some((v) => v !== 0)).toBe(true);
    });
  });

  test('prefill (tokens grouped by expert) gives the logits of token-by-token decoding', async () => {
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    const w = await factorizeModel(stories(), tok, sharedText('data', 'tinystories-calib.txt'), { experts: 8, topK: 2, split: 'random', steps: 50, calibTokens: 2048 });
    for (const combination of ['sum', 'paper', 'weighted'] as const) {
      const model = await LlamaModel.create({ ...w, layers: w.layers.map((l) => ({ ...l, routed: { ...l.routed!, combination } })) }, { backend: 'simd' });
      const ids = goldenIds();
      const block = model.forward(ids, { allLogits: true });
      model.reset();
      const rows: number[] = [];
      for (const id of ids) rows.push(...model.forward([id]));
      expect(maxAbsDiff(block, rows), combination).toBeLessThan(1e-4);
    }
  });

  test('PA-trained routers beat untrained ones for every split, the loss falls, and the oracle bounds both', async () => {
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    const calib = sharedText('data', 'tinystories-calib.txt');
    const text = sharedText('data', 'tinystories-eval.txt');
    for (const split of SPLIT_METHODS) {
      const ppl: Record<string, number> = {};
      const losses: number[] = [];
      for (const steps of [0, 300]) {
        const w = await factorizeModel(stories(), tok, calib, { experts: 4, topK: 2, split, steps, calibTokens: 4096, onLoss: (l, s, pa) => l === 0 && losses.push(pa) });
        const model = await LlamaModel.create(w, { backend: 'simd' });
        ppl[steps ? 'trained' : 'untrained'] = evaluate(model, tok, text).ppl;
        if (steps) {
          for (const l of model.layers) (l.ffn as RoutedLayerFfn).mode = 'oracle';
          ppl.oracle = evaluate(model, tok, text).ppl;
        }
      }
      expect(ppl.trained!, split).toBeLessThan(0.7 * ppl.untrained!);
      expect(ppl.oracle!, split).toBeLessThan(ppl.trained!);
      const first = losses.slice(0, 20).reduce((a, b) => a + b) / 20;
      const last = losses.slice(-20).reduce((a, b) => a + b) / 20;
      expect(last, split).toBeLessThan(first);
    }
  });

  test('a Q8_0 model factorizes from its blocks: contiguous experts keep the source bytes, and the GGUF reloads in Q8_0', async () => {
    const config = llamaConfig({ dim: 64, hiddenDim: 256, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 512, seqLen: 256 });
    const w = randomLlamaWeights(config, 3, 'q8_0');
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    const f = await factorizeModel(w, tok, sharedText('data', 'tinystories-calib.txt'), { experts: 4, topK: 2, split: 'contiguous', steps: 20, calibTokens: 512 });
    const he = 64;
    const rowBytes = (cols: number) => (cols / 32) * 34;
    f.layers.forEach((l, li) => {
      const src = w.layers[li]!;
      const r = l.routed!;
      const bytes = (m: HostMatrix) => (m as BlockMatrix).bytes;
      expect([r.w1, r.w3, r.w2].map((m) => (m as BlockMatrix).type)).toEqual(['Q8_0', 'Q8_0', 'Q8_0']);
      // contiguous: expert e holds neurons e*he.., so w1 / w3 are the source rows in order
      expect(bytes(r.w1)).toEqual(bytes(src.w1));
      expect(bytes(r.w3)).toEqual(bytes(src.w3));
      // and w2's expert e row j is blocks 2e, 2e+1 of the source's row j
      for (let e = 0; e < 4; e++) {
        for (let j = 0; j < config.dim; j++) {
          const got = bytes(r.w2).subarray((e * config.dim + j) * rowBytes(he), (e * config.dim + j + 1) * rowBytes(he));
          const want = bytes(src.w2).subarray(j * rowBytes(256) + e * rowBytes(he), j * rowBytes(256) + (e + 1) * rowBytes(he));
          expect(got).toEqual(want);
        }
      }
    });
    const file = writeGguf(f, tok.vocabulary(), { type: 'Q8_0', pure: true });
    const back = readGguf(file, 'factorized.gguf', { blocks: 'runnable' }).weights;
    expect((back.layers[0]!.routed!.w2 as BlockMatrix).type).toBe('Q8_0');
    const ids = tok.encode('Once upon a time there was a little cat.');
    const a = await LlamaModel.create(f);
    const b = await LlamaModel.create(back);
    expect(maxAbsDiff(a.forward(ids), b.forward(ids))).toBe(0);
  });

  test('a factorized GGUF reloads to the same model, and k can change at run time', async () => {
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    const w = await factorizeModel(stories(), tok, sharedText('data', 'tinystories-calib.txt'), { experts: 8, topK: 2, split: 'kmeans', steps: 30, calibTokens: 1024 });
    const bytes = writeGguf(w, tok.vocabulary());
    const back = readGguf(bytes, 'f.gguf');
    expect(back.weights.layers[3]!.routed).toMatchObject({ experts: 8, topK: 2, combination: 'sum', split: 'kmeans', expertHidden: 22 });
    expect(back.weights.config.hiddenDim).toBe(176);
    const a = await LlamaModel.create(w, { backend: 'simd' });
    const b = await LlamaModel.create(back.weights, { backend: 'simd' });
    expect(maxAbsDiff(a.forward(goldenIds(), { allLogits: true }), b.forward(goldenIds(), { allLogits: true }))).toBeLessThan(1e-5);
    // k = E turns the reloaded model back into the dense one
    for (const l of b.layers) (l.ffn as RoutedLayerFfn).topK = 8;
    b.reset();
    expect(maxAbsDiff(b.forward(goldenIds(), { allLogits: true }), goldenLogits())).toBeLessThan(1e-4);
    expect(() => ((b.layers[0]!.ffn as RoutedLayerFfn).topK = 9)).toThrow(/top-k: expected an integer in 1..8/);
    expect(() => writeLlama2c(w)).toThrow(/no routed/);
  });

  test('bad input: shapes, empty calibration, tensors that disagree with the metadata', async () => {
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    const calib = sharedText('data', 'tinystories-calib.txt');
    const w = stories();
    await expect(factorizeModel(w, tok, calib, { experts: 1, topK: 1, split: 'contiguous' })).rejects.toThrow(/experts: expected an integer >= 2/);
    await expect(factorizeModel(w, tok, calib, { experts: 4, topK: 5, split: 'contiguous' })).rejects.toThrow(/top-k: expected an integer in 1..4/);
    await expect(factorizeModel(w, tok, calib, { experts: 4, topK: 0, split: 'contiguous' })).rejects.toThrow(/top-k/);
    await expect(factorizeModel(w, tok, calib, { experts: 400, topK: 2, split: 'contiguous' })).rejects.toThrow(/more than the hidden size 172/);
    await expect(factorizeModel(w, tok, '\n\n  \n', { experts: 4, topK: 2, split: 'contiguous' })).rejects.toThrow(/calibration text: no documents/);
    const f = await factorizeModel(w, tok, calib, { experts: 4, topK: 2, split: 'contiguous', steps: 0 });
    const bytes = writeGguf(f);
    // claim 8 experts: the expert tensors (4 each) no longer agree
    const key = new TextEncoder().encode('llama.expert_count');
    let at = -1;
    for (let i = 0; i < bytes.length && at < 0; i++) if (key.every((b, j) => bytes[i + j] === b)) at = i;
    new DataView(bytes.buffer).setUint32(at + key.length + 4, 8, true);
    let err: unknown;
    try {
      readGguf(bytes, 'lying.gguf');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FfnkitError);
    expect((err as FfnkitError).message).toMatch(/^lying.gguf: tensor blk.0.ffn_gate_inp.weight: dims \[64,4\] disagree with the metadata, which implies \[64,8\]/);
  });

  test('the CLI writes nothing to --out when the run fails, and the file when it succeeds', async () => {
    const bin = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'bin', 'ffnkit.js');
    const dir = mkdtempSync(join(tmpdir(), 'ffnkit-factorize-'));
    const env = { ...process.env, FFNKIT_FROM_SOURCES: '1' }; // the sources under test, not dist/
    const run = (args: string[]) => new Promise<number>((done) => execFile(process.execPath, [bin, ...args], { timeout: 60_000, env }, (e) => done(e ? ((e as { code?: number }).code ?? 1) : 0)));
    const base = ['factorize', '--model', sharedPath('models', 'stories260K.bin'), '--tokenizer', sharedPath('models', 'tok512.bin'), '--split', 'contiguous', '--steps', '20'];
    const out = join(dir, 'f.gguf');
    expect(await run([...base, '--calib', join(dir, 'missing.txt'), '--experts', '4', '--top-k', '2', '--out', out])).toBe(1);
    expect(existsSync(out)).toBe(false);
    expect(await run([...base, '--calib', sharedPath('data', 'tinystories-calib.txt'), '--experts', '4', '--top-k', '6', '--out', out])).toBe(1);
    expect(existsSync(out)).toBe(false);
    expect(await run([...base, '--calib', sharedPath('data', 'tinystories-calib.txt'), '--experts', '4', '--top-k', '2', '--out', out, '--calib-tokens', '1024'])).toBe(0);
    expect(readGguf(new Uint8Array(readFileSync(out))).weights.layers[0]!.routed?.experts).toBe(4);
  });
});
