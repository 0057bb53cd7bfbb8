// `ffnkit bench moe`: what FactorLLM keeps and what it saves.
// Quality: eval PPL of stories260K on tinystories-eval.txt for every split x (E, k) x router
// {untrained, PA-trained, oracle}, next to the dense model's. Speed: one FFN layer at the
// TinyLlama shape (2048 -> 5632), routed vs dense, decode and a 64-token prefill, with cold
// weights (calls cycle over copies), in float32 and in Q8_0; and whole-model decode at the
// stories110M shape.

import { LlamaModel, createEngine, evaluate, type HostMatrix, type LayerFfn, type LlamaWeights } from '../src/index.js';
import { keepNeurons } from '../src/factor/prune.js';
import { DenseLayerFfn, uploadMatrix } from '../src/llm/ffn.js';
import { RoutedLayerFfn, SPLIT_METHODS, factorizeLayer, factorizeModel, splitNeurons } from '../src/entries/factor.js';
import { encodeQ8_0, type F32Buffer } from '../src/entries/kernels.js';
import { randomLlamaWeights } from '../src/llm/random.js';
import { randomF32 } from '../testing/random.js';
import { type BenchLine, type BenchOptions, STORIES110M, TINYLLAMA_1_1B, sig3, time, collector, storiesSetup, sharedDir } from './harness.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer, readGguf, writeGguf } from '../src/index.js';
import { randomMixWeights } from './random-blocks.js';

const SUITE = 'moe';
export const QUALITY_SHAPES: [number, number][] = [[4, 1], [4, 2], [8, 2], [8, 4]];
export const SPEED_SHAPES: [number, number][] = [[4, 1], [4, 2], [8, 2], [16, 4]];


export async function runMoe(opts: BenchOptions & { threads?: number }): Promise<BenchLine[]> {
  const { lines, emit, say } = collector(opts);
  const shared = sharedDir();
  // --only scale (Q8_0) / scale-q4_k_m: ffnkit factorize's work on a TinyLlama-1.1B-shaped model, stage by stage
  if (opts.only === 'scale' || opts.only === 'scale-q4_k_m') {
    await factorizeAtScale(emit, say, opts, shared, opts.only === 'scale' ? 'Q8_0' : 'Q4_K_M');
    return lines;
  }
  // --only equal-compute: just the decode speeds of routing against pruning at equal FFN compute
  if (opts.only === 'equal-compute') {
    await equalCompute(emit, say, opts, shared);
    return lines;
  }

  if (shared) {
    const { weights, tok, calib, text, dense } = await storiesSetup(shared);
    emit({ suite: SUITE, case: 'stories260K eval ppl', impl: 'dense', value: sig3(dense), unit: 'ppl' });
    const steps = opts.quick ? 100 : 300;
    const calibTokens = opts.quick ? 2048 : 8192;
    for (const split of SPLIT_METHODS) {
      for (const [E, k] of QUALITY_SHAPES) {
        for (const trained of [false, true]) {
          say(`quality: ${split} E${E} k${k} ${trained ? 'PA-trained' : 'untrained'}`);
          const w = await factorizeModel(weights, tok, calib, { experts: E, topK: k, split, steps: trained ? steps : 0, calibTokens });
          const model = await LlamaModel.create(w);
          const runs: [string, boolean][] = trained ? [['pa-trained', false], ['oracle', true]] : [['untrained', false]];
          for (const [impl, oracle] of runs) {
            for (const l of model.layers) (l.ffn as RoutedLayerFfn).mode = oracle ? 'oracle' : 'router';
            const ppl = evaluate(model, tok, text).ppl;
            emit({
              suite: SUITE, case: `stories260K eval ppl ${split} E${E} k${k}`, impl, value: sig3(ppl), unit: 'ppl',
              bound: sig3(dense), boundName: 'dense', share: sig3(ppl / dense),
            });
          }
        }
      }
    }
  } else {
    say('skipping the quality sweep: ../shared not found (set FFNKIT_SHARED)');
  }

  // speed of one FFN layer at the TinyLlama shape, cold weights
  const dim = 2048;
  const hidden = 5632;
  const engine = await createEngine();
  const kr = engine.kernels;
  const w1 = randomF32(hidden * dim, 1, -0.02, 0.02);
  const w3 = randomF32(hidden * dim, 2, -0.02, 0.02);
  const w2 = randomF32(dim * hidden, 3, -0.02, 0.02);
  const copies = 2; // 2 x 138 MiB: more than the caches hold
  const prefill = 64;
  // decode inputs rotate over 16 tokens, so the router picks different experts from call to call
  const inputs = 16;
  const timeFfn = (ffns: LayerFfn[], x: F32Buffer, xs: F32Buffer, out: F32Buffer, tokens: number) => {
    let call = 0;
    return time(() => {
      const input = tokens === 1 ? x.sub((call % inputs) * dim, dim) : xs;
      ffns[call % ffns.length]!.forward(input, out.sub(0, tokens * dim), tokens);
      call++;
    }, opts.quick);
  };
  const layer = { attnNorm: new Float32Array(dim), wq: new Float32Array(0), wk: new Float32Array(0), wv: new Float32Array(0), wo: new Float32Array(0), ffnNorm: new Float32Array(dim), w1, w2, w3 };
  // float32 panels, then Q8_0 (GGUF's int8 blocks; each routed speed-up against the dense FFN of its own type)
  for (const type of ['f32', 'q8_0'] as const) {
    const tag = type === 'f32' ? '' : ' q8_0';
    const host = (m: Float32Array, rows: number, cols: number): HostMatrix => (type === 'f32' ? m : { type: 'Q8_0', rows, cols, bytes: encodeQ8_0(m) });
    say(`speed: dense FFN 2048 -> 5632${tag}`);
    const x1 = engine.upload(randomF32(inputs * dim, 4));
    const xb = engine.upload(randomF32(prefill * dim, 5));
    const y = engine.alloc(prefill * dim);
    const denseFfns = Array.from({ length: copies }, () => new DenseLayerFfn(kr, kr.denseFfnFromPacked(
      uploadMatrix(kr, host(w1, hidden, dim), hidden, dim, 'w1'), uploadMatrix(kr, host(w3, hidden, dim), hidden, dim, 'w3'), uploadMatrix(kr, host(w2, dim, hidden), dim, hidden, 'w2'),
    )));
    const denseDecode = timeFfn(denseFfns, x1, xb, y, 1);
    const densePrefill = timeFfn(denseFfns, x1, xb, y, prefill);
    emit({ suite: SUITE, case: 'ffn 2048x5632 decode', impl: `dense${tag}`, value: sig3(denseDecode.seconds * 1e3), unit: 'ms', rme: sig3(denseDecode.rme), samples: denseDecode.samples });
    emit({ suite: SUITE, case: `ffn 2048x5632 prefill ${prefill}`, impl: `dense${tag}`, value: sig3(densePrefill.seconds * 1e3), unit: 'ms', rme: sig3(densePrefill.rme), samples: densePrefill.samples });
    engine.arena.reset();
    for (const [E, k] of SPEED_SHAPES) {
      say(`speed: routed E${E} k${k}${tag}`);
      const groups = splitNeurons('contiguous', E, { hidden, dim, w1, w3 });
      const f = factorizeLayer(layer, dim, hidden, groups, { topK: k });
      const he = f.expertHidden;
      const routed = { ...f, w1: host(f.w1, E * he, dim), w3: host(f.w3, E * he, dim), w2: host(f.w2, E * dim, he) };
      const x1r = engine.upload(randomF32(inputs * dim, 4));
      const xbr = engine.upload(randomF32(prefill * dim, 5));
      const yr = engine.alloc(prefill * dim);
      const ffns = Array.from({ length: copies }, () => new RoutedLayerFfn(engine, routed, dim));
      const dec = timeFfn(ffns, x1r, xbr, yr, 1);
      const pre = timeFfn(ffns, x1r, xbr, yr, prefill);
      const ideal = E / k;
      for (const [name, t, base] of [['decode', dec, denseDecode], [`prefill ${prefill}`, pre, densePrefill]] as const) {
        const speedup = base.seconds / t.seconds;
        emit({
          suite: SUITE, case: `ffn 2048x5632 ${name} E${E} k${k}`, impl: `routed${tag}`, value: sig3(t.seconds * 1e3), unit: 'ms',
          bound: sig3(ideal), boundName: 'ideal speed-up E/k', share: sig3(speedup / ideal), rme: sig3(t.rme), samples: t.samples,
        });
      }
      engine.arena.reset();
    }
  }

  // whole model: stories110M shape, dense vs routed (contiguous split, untrained router)
  const config = STORIES110M;
  const weights = randomLlamaWeights(config, 1);
  say('speed: stories110M-shape decode, dense');
  const denseRate = await decodeRate(weights, opts.quick);
  emit({ suite: SUITE, case: 'stories110M-shape decode', impl: 'dense', value: sig3(denseRate), unit: 'tokens/s' });
  for (const [E, k] of [[8, 2], [4, 1]] as const) {
    say(`speed: stories110M-shape decode, routed E${E} k${k}`);
    const routedWeights = {
      ...weights,
      layers: weights.layers.map((l) => ({ ...l, routed: factorizeLayer(l, config.dim, config.hiddenDim, splitNeurons('contiguous', E, { hidden: config.hiddenDim, dim: config.dim, w1: l.w1, w3: l.w3 }), { topK: k }) })),
    };
    const rate = await decodeRate(routedWeights, opts.quick);
    emit({ suite: SUITE, case: 'stories110M-shape decode', impl: `routed E${E} k${k}`, value: sig3(rate), unit: 'tokens/s', bound: sig3(denseRate), boundName: 'dense', share: sig3(rate / denseRate) });
  }
  await equalCompute(emit, say, opts, shared);
  return lines;
}

/** Tokens/s of greedy decoding steps (positions cycling over 16..80 after a 16-token prefill). */
async function decodeRate(w: LlamaWeights, quick: boolean | undefined): Promise<number> {
  const model = await LlamaModel.create(w);
  model.forward(Array.from({ length: 16 }, (_, i) => 3 + i));
  const t = time(() => {
    if (model.position >= 80) model.position = 16;
    model.forward([5]);
  }, quick ?? false);
  model.engine.close();
  return 1 / t.seconds;
}

/**
 * Half the FFN per token two ways: FactorLLM (4, 2), routed, against static pruning to half the
 * neurons (a dense model with the narrower FFN), next to the dense model, on the real model and at
 * the stories110M shape. The routed model pays for its router, top-k and per-expert calls.
 */
async function equalCompute(emit: (l: BenchLine) => void, say: (s: string) => void, opts: BenchOptions, shared: string | undefined): Promise<void> {
  const models: [string, LlamaWeights][] = [['stories110M-shape', randomLlamaWeights(STORIES110M, 1)]];
  if (shared) models.unshift(['stories260K', (await storiesSetup(shared)).weights]);
  for (const [name, weights] of models) {
    const c = weights.config;
    const half = Math.floor(c.hiddenDim / 2);
    const firstHalf = Array.from({ length: half }, (_, j) => j); // speed does not depend on which neurons
    const pruned = { ...weights, config: { ...c, hiddenDim: half }, layers: weights.layers.map((l) => keepNeurons(l, firstHalf, c.dim, c.hiddenDim)) };
    const routed = {
      ...weights,
      layers: weights.layers.map((l) => ({ ...l, routed: factorizeLayer(l, c.dim, c.hiddenDim, splitNeurons('contiguous', 4, { hidden: c.hiddenDim, dim: c.dim, w1: l.w1, w3: l.w3 }), { topK: 2 }) })),
    };
    say(`equal compute: ${name} decode, dense`);
    const dense = await decodeRate(weights, opts.quick);
    emit({ suite: SUITE, case: `${name} decode, half the FFN per token`, impl: 'dense (full FFN)', value: sig3(dense), unit: 'tokens/s' });
    for (const [impl, w] of [[`pruned to ${half} neurons`, pruned], ['routed E4 k2', routed]] as const) {
      say(`equal compute: ${name} decode, ${impl}`);
      const rate = await decodeRate(w, opts.quick);
      emit({ suite: SUITE, case: `${name} decode, half the FFN per token`, impl, value: sig3(rate), unit: 'tokens/s', bound: sig3(dense), boundName: 'dense', share: sig3(rate / dense) });
    }
  }
}

/**
 * `ffnkit factorize`'s pipeline on random TinyLlama-1.1B-shaped weights in Q8_0 (random values in
 * +-1/sqrt(cols), quantized) or Q4_K_M (random blocks in the types llama-quantize's mix gives each
 * tensor: random-blocks.ts) (--quick: 4 of the 22 layers), with the 32000-token llama tokenizer,
 * 8,192 calibration tokens (--quick 1,024), E=4 k=2, kmeans split, 300 router steps: seconds per
 * stage, then the wasm memory and the process's peak RSS. `write` is the GGUF bytes in memory (no
 * disk) in the types the model came in, as `ffnkit factorize` writes them. Then the file is read
 * back as `loadModel` reads it (blocks kept): the host memory that takes, and what building the
 * dense FFNs its experts stand for would add.
 */
async function factorizeAtScale(
  emit: (l: BenchLine) => void, say: (s: string) => void, opts: BenchOptions & { threads?: number }, shared: string | undefined, type: 'Q8_0' | 'Q4_K_M',
): Promise<void> {
  if (!shared) {
    say('skipping factorize at scale: ../shared not found (set FFNKIT_SHARED)');
    return;
  }
  const config = { ...TINYLLAMA_1_1B, nLayers: opts.quick ? 4 : TINYLLAMA_1_1B.nLayers };
  const threads = opts.threads ?? 1;
  const tag = `tinyllama-1.1B-shape${opts.quick ? ` ${config.nLayers} layers` : ''} ${type.toLowerCase()}`;
  say(`scale: random ${tag} weights`);
  const weights = type === 'Q8_0' ? randomLlamaWeights(config, 1, 'q8_0') : randomMixWeights(config, type, 1);
  const tok = Tokenizer.fromLlama2c(new Uint8Array(readFileSync(join(shared, 'models', 'tokenizer.bin'))));
  const calib = readFileSync(join(shared, 'data', 'tinystories-calib.txt'), 'utf8');
  const engine = await createEngine({ threads });
  const seconds: Record<string, number> = {};
  let stage = '';
  let since = performance.now();
  const enter = (next: string) => {
    const now = performance.now();
    if (stage) seconds[stage] = (seconds[stage] ?? 0) + (now - since) / 1e3;
    stage = next;
    since = now;
  };
  let calibSaid = 0;
  const factorized = await factorizeModel(weights, tok, calib, {
    experts: 4, topK: 2, split: 'kmeans', steps: 300, calibTokens: opts.quick ? 1024 : 8192,
    onProgress: (s, done, total) => {
      if (s !== stage && s !== 'done') enter(s);
      if (s !== 'calibrate' || done - calibSaid >= 512 || done === total) say(`scale: ${s} ${done}/${total}`);
      if (s === 'calibrate') calibSaid = Math.max(calibSaid, done - (done % 512));
    },
  }, { engine });
  enter('write');
  const bytes = writeGguf(factorized, tok.vocabulary(), { type, keepTypes: true });
  enter('');
  const total = Object.values(seconds).reduce((a, b) => a + b, 0);
  const line = (name: string, value: number, unit: string, extra: Partial<BenchLine> = {}) =>
    emit({ suite: SUITE, case: `factorize ${tag} E4 k2 ${name}`, impl: `ffnkit ${threads}t`, value: sig3(value), unit, ...extra });
  for (const [name, s] of Object.entries(seconds)) line(name, s, 's');
  line('total', total, 's', { bound: 900, boundName: 'target 15 min', share: sig3(total / 900) });
  line('wasm memory', engine.memory.buffer.byteLength / 2 ** 20, 'MiB', { bound: 4096, boundName: 'wasm32 4 GiB' });
  line('peak RSS', process.resourceUsage().maxRSS / 1024, 'MiB');
  line('file', bytes.length / 2 ** 20, 'MiB');
  const requantized = factorized.layers.find((l) => l.routed?.requantized)?.routed?.requantized;
  if (requantized) say(`scale: requantized ${requantized} (every layer's, the kmeans split gathers scattered columns)`);
  engine.close();

  // reading the file back: the experts stay views into its bytes; the dense FFNs are built only when asked
  const back = readGguf(bytes, 'factorized file', { blocks: 'runnable' });
  line('read back, host memory beyond the file', ownBytes(back.weights, bytes.buffer) / 2 ** 20, 'MiB');
  say('scale: building the dense FFNs the experts stand for, as reading did before it was lazy');
  const dense = back.weights.layers.reduce((n, l) => n + [l.w1, l.w2, l.w3].reduce((m, w) => m + (w instanceof Float32Array ? w.byteLength : w.bytes.byteLength), 0), 0);
  line('read back, dense FFNs when asked for', dense / 2 ** 20, 'MiB');
}

/**
 * Bytes of the arrays a read model holds outside the file's own buffer (the file's blocks are
 * views into it), counted once each; a routed layer's dense fields are not read (they would be built).
 */
function ownBytes(w: LlamaWeights<HostMatrix>, file: ArrayBufferLike): number {
  const seen = new Set<ArrayBufferLike>([file]);
  let n = 0;
  const add = (a: Float32Array | Uint8Array | undefined) => {
    if (!a || seen.has(a.buffer)) return;
    seen.add(a.buffer);
    n += a.buffer.byteLength;
  };
  const matrix = (m: HostMatrix) => add(m instanceof Float32Array ? m : m.bytes);
  matrix(w.tokenEmbedding);
  matrix(w.classifier);
  add(w.finalNorm);
  for (const l of w.layers) {
    for (const m of [l.wq, l.wk, l.wv, l.wo]) matrix(m);
    for (const v of [l.attnNorm, l.ffnNorm, l.bq, l.bk, l.bv, l.qNorm, l.kNorm, l.postAttnNorm, l.postFfnNorm]) add(v);
    const r = l.routed;
    if (r) {
      for (const m of [r.w1, r.w2, r.w3]) matrix(m);
      add(r.router);
      add(r.routerBias);
    } else {
      for (const m of [l.w1, l.w2, l.w3]) matrix(m);
    }
  }
  return n;
}
