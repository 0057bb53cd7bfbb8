// `ffnkit bench peers`: ffnkit next to other runtimes on the same seeded inputs, in one process.
// Each case prepares every implementation, checks its output against ffnkit's (max |diff|
// reported, so a fast wrong answer cannot win), warms each up, then times them in interleaved
// rounds (at least 10 timed calls each) and reports the median with the spread (min and max).

import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer, loadModel, readGguf, writeGguf, type LlamaModel } from '../../src/index.js';
import { DenseLayerFfn } from '../../src/llm/ffn.js';
import { RoutedLayerFfn, factorizeLayer, splitNeurons } from '../../src/entries/factor.js';
import { randomLlamaWeights } from '../../src/llm/random.js';
import { randomF32 } from '../../testing/random.js';
import { maxAbsDiff } from '../../testing/compare.js';
import { type BenchLine, type BenchOptions, STORIES110M, TINYLLAMA_1_1B, sig3, collector, sharedDir } from '../harness.js';
import { gemmJs } from '../plain-js.js';
import { maddPeak, readBandwidth, readBandwidthThreads } from '../probes.js';
import { GEMM_SHAPES, GEMV_SHAPES, availableEngines, ffnkitImpl } from '../kernels.js';
import type { LlamaContextSequence } from 'node-llama-cpp';
import { wllamaDecode, wllamaUnavailable } from './wllama.js';
import { type Prepared, ortDwConv, ortFfn, ortGemm, ortSession, tfDwConv, tfFfn, tfGemm } from './runtimes.js';
import { FfnetModel, graphFlops } from '../../src/entries/node/mixer.js';
import { toOnnx } from '../../src/entries/onnx.js';
import { CONV1D_CASES, CONV2D_CASES } from '../mixer.js';
import { ffnkitGreedy, promptOfTokens, settle, summary } from './timing.js';
import { decodeVsTransformers } from './transformers-decode.js';
import { decodeRelaxedVsI16 } from './relaxed-decode.js';
import { type Bounds, decodeBound, measureBounds, prefillBound } from './bounds.js';

const SUITE = 'peers';

export interface PeersOptions extends BenchOptions {
  threads?: number;
}

interface Impl {
  name: string;
  prepared: Prepared;
}

/**
 * Seconds per call of every implementation, in interleaved rounds (each round calls every
 * implementation once) after two warm-up calls each, each timed call after `settle`.
 */
async function timeInterleaved(impls: Impl[], rounds: number, threads: number): Promise<number[][]> {
  const times = impls.map(() => [] as number[]);
  for (const i of impls) {
    await i.prepared.run();
    await i.prepared.run();
  }
  for (let r = 0; r < rounds; r++) {
    for (const [j, i] of impls.entries()) {
      await settle(threads);
      const t0 = performance.now();
      await i.prepared.run();
      times[j]!.push((performance.now() - t0) / 1000);
    }
  }
  return times;
}

function ffnkitPrepared(run: () => void, out: () => Float32Array): Prepared {
  return { run, output: out };
}

export async function runPeers(opts: PeersOptions): Promise<BenchLine[]> {
  const { lines, emit, say } = collector(opts);
  const threads = opts.threads ?? 1;
  const rounds = opts.quick ? 10 : 20;
  const peer = { threads };
  const engines = await availableEngines((b, why) => say(`skipping ffnkit-${b}: ${why}`), threads);
  const best = engines[0]!;
  say('bounds');
  // with threads, the bound is what all of them read together
  const bandwidth = threads > 1 ? readBandwidthThreads(best, opts.quick) : readBandwidth(best, opts.quick);
  const peak = maddPeak(best, opts.quick);
  emit({ suite: SUITE, case: 'read bandwidth 256MiB', impl: `ffnkit-${best.backend}${threads > 1 ? ` ${threads} threads` : ''}`, value: sig3(bandwidth), unit: 'GB/s' });
  emit({ suite: SUITE, case: 'madd peak', impl: `ffnkit-${best.backend}`, value: sig3(peak), unit: 'GFLOP/s' });
  const bounds = measureBounds(best, bandwidth, peak, opts.quick);
  emit({ suite: SUITE, case: `integer dot peak (${bounds.intDotPath} path)`, impl: `ffnkit-${best.backend}`, value: sig3(bounds.intDot), unit: 'GOP/s' });

  const report = async (name: string, flops: number, impls: Impl[], reference: Float32Array, bound?: [number, string]) => {
    const diffs = await Promise.all(impls.map(async (i) => {
      await i.prepared.run();
      return maxAbsDiff(await i.prepared.output(), reference);
    }));
    const times = await timeInterleaved(impls, rounds, threads);
    impls.forEach((i, j) => {
      const s = summary(times[j]!);
      const value = flops / s.median / 1e9;
      emit({
        suite: SUITE, case: name, impl: i.name, value: sig3(value), unit: 'GFLOP/s',
        ...(bound ? { bound: sig3(bound[0]), boundName: bound[1], share: sig3(value / bound[0]) } : {}),
        maxAbsDiff: sig3(diffs[j]!), seconds: s.median, spreadMin: sig3(flops / s.max / 1e9), spreadMax: sig3(flops / s.min / 1e9), samples: times[j]!.length,
      });
    });
  };

  // the kernel cases (all of them unless --only picks decode models)
  if (!opts.only) {
    // GEMM and GEMV: y = x · Wᵀ
    for (const [m, k, n] of [...GEMM_SHAPES, ...GEMV_SHAPES]) {
      const name = `${m === 1 ? 'gemv' : 'gemm'} m${m} k${k} n${n}`;
      say(name);
      const w = randomF32(n * k, n + k);
      const x = randomF32(m * k, m + k);
      const impls: Impl[] = [];
      for (const e of engines) {
        const packed = e.kernels.packFrom(w, n, k);
        const xb = e.upload(x);
        const y = e.alloc(m * n);
        impls.push({ name: ffnkitImpl(e), prepared: ffnkitPrepared(() => e.kernels.gemm(xb, packed, y, m), () => y.toArray()) });
      }
      impls.push({ name: 'tfjs-wasm', prepared: await tfGemm(m, n, k, w, x, peer) });
      impls.push({ name: 'ort-web', prepared: await ortGemm('web', m, n, k, w, x, peer) });
      impls.push({ name: 'ort-node', prepared: await ortGemm('node', m, n, k, w, x, peer) });
      if (m === 1 || opts.quick === false) {
        const yjs = new Float32Array(m * n);
        impls.push({ name: 'plain-js', prepared: ffnkitPrepared(() => gemmJs(x, w, yjs, m, n, k), () => yjs) });
      }
      await impls[0]!.prepared.run();
      const reference = Float32Array.from(await impls[0]!.prepared.output());
      await report(name, 2 * m * n * k, impls, reference, m === 1 ? [bandwidth / 2, 'read bandwidth / 2'] : [peak, 'madd peak']);
      for (const e of engines) e.arena.reset();
    }

    // the FFN of a TinyLlama layer, dense and routed, one token and a block of 64
    const [d, h] = [2048, 5632];
    const w1 = randomF32(h * d, 11, -0.02, 0.02);
    const w3 = randomF32(h * d, 12, -0.02, 0.02);
    const w2 = randomF32(d * h, 13, -0.02, 0.02);
    for (const t of [1, 64]) {
      const name = `ffn 2048x5632 tokens ${t}`;
      say(name);
      const x = randomF32(t * d, 14 + t);
      const impls: Impl[] = [];
      for (const e of engines.slice(0, 2)) {
        const k = e.kernels;
        const ffn = new DenseLayerFfn(k, k.denseFfnFromPacked(k.packFrom(w1, h, d), k.packFrom(w3, h, d), k.packFrom(w2, d, h)));
        const xb = e.upload(x);
        const y = e.alloc(t * d);
        impls.push({ name: ffnkitImpl(e), prepared: ffnkitPrepared(() => ffn.forward(xb, y, t), () => y.toArray()) });
      }
      impls.push({ name: 'tfjs-wasm', prepared: await tfFfn(t, d, h, w1, w3, w2, x, peer) });
      impls.push({ name: 'ort-web', prepared: await ortFfn('web', t, d, h, w1, w3, w2, x, peer) });
      impls.push({ name: 'ort-node', prepared: await ortFfn('node', t, d, h, w1, w3, w2, x, peer) });
      // routed: 8 experts, 2 per token (its output differs from dense by design: not checked against it)
      const e = engines[0]!;
      const layer = { attnNorm: new Float32Array(d), wq: new Float32Array(0), wk: new Float32Array(0), wv: new Float32Array(0), wo: new Float32Array(0), ffnNorm: new Float32Array(d), w1, w2, w3 };
      const routed = new RoutedLayerFfn(e, factorizeLayer(layer, d, h, splitNeurons('contiguous', 8, { hidden: h, dim: d, w1, w3 }), { topK: 2 }), d);
      const xr = e.upload(x);
      const yr = e.alloc(t * d);
      await impls[0]!.prepared.run();
      const reference = Float32Array.from(await impls[0]!.prepared.output());
      const flops = 2 * 3 * d * h * t;
      await report(name, flops, impls, reference);
      const times = await timeInterleaved([{ name: 'routed', prepared: ffnkitPrepared(() => routed.forward(xr, yr, t), () => yr.toArray()) }], rounds, threads);
      const s = summary(times[0]!);
      emit({
        suite: SUITE, case: name, impl: `${ffnkitImpl(e)} routed E8 k2`, value: sig3(flops / s.median / 1e9), unit: 'GFLOP/s (dense-equivalent)',
        seconds: s.median, spreadMin: sig3(flops / s.max / 1e9), spreadMax: sig3(flops / s.min / 1e9), samples: times[0]!.length,
      });
      for (const en of engines) en.arena.reset();
    }

    // MetaMixer's depthwise convolutions, channels-last (the peers' layouts handled in runtimes.ts)
    const convs: [string, number[], number, number][] = [
      ...CONV2D_CASES.map(([name, h, w, c, k]): [string, number[], number, number] => [name, [h, w], c, k]),
      ...CONV1D_CASES.map(([name, l, c, k]): [string, number[], number, number] => [name, [l], c, k]),
    ];
    for (const [name, spatial, c, k] of convs) {
      say(name);
      const n = spatial.reduce((a, b) => a * b, 1);
      const taps = spatial.length === 2 ? k * k : k;
      const x = randomF32(n * c, 21); // channels-last, as tfjs takes it
      const w = randomF32(taps * c, 22);
      // ffnkit's convolutions run planar (NCHW), like onnxruntime: transposed once before timing,
      // and the output back to channels-last for the check
      const planar = (a: Float32Array, m: number) => Float32Array.from({ length: a.length }, (_, i) => a[(i % m) * c + Math.floor(i / m)]!);
      const channelsLast = (a: Float32Array) => Float32Array.from({ length: a.length }, (_, i) => a[(i % c) * n + Math.floor(i / c)]!);
      const impls: Impl[] = [];
      for (const e of engines.slice(0, 2)) {
        const xb = e.upload(planar(x, n));
        const wb = e.upload(planar(w, taps));
        const y = e.alloc(n * c);
        const run = spatial.length === 2
          ? () => e.kernels.depthwiseConv2d(xb, { h: spatial[0]!, w: spatial[1]!, c }, wb, k, y)
          : () => e.kernels.depthwiseConv1d(xb, { length: spatial[0]!, c }, wb, k, y);
        impls.push({ name: ffnkitImpl(e), prepared: ffnkitPrepared(run, () => channelsLast(y.toArray())) });
      }
      impls.push({ name: 'tfjs-wasm', prepared: await tfDwConv(spatial, c, k, x, w, peer) });
      impls.push({ name: 'ort-web', prepared: await ortDwConv('web', spatial, c, k, x, w, peer) });
      impls.push({ name: 'ort-node', prepared: await ortDwConv('node', spatial, c, k, x, w, peer) });
      await impls[0]!.prepared.run();
      const reference = Float32Array.from(await impls[0]!.prepared.output());
      await report(name, 2 * taps * c * n, impls, reference, [peak, 'madd peak']);
      for (const e of engines) e.arena.reset();
    }

    // FFNet-1's forward pass at 256x256: ffnkit's fused graph, exported to ONNX for onnxruntime
    {
      const name = 'ffnet-1 forward 256x256';
      say(name);
      const image = randomF32(3 * 256 * 256, 23, -2, 2);
      const impls: Impl[] = [];
      let onnx: Uint8Array | undefined;
      let flops = 0;
      for (const e of engines.slice(0, 2)) {
        const model = FfnetModel.create(e, { variant: 'ffnet-1' });
        onnx ??= toOnnx(model.graph);
        flops = graphFlops(model.graph);
        let y: Float32Array = new Float32Array(0);
        impls.push({ name: ffnkitImpl(e), prepared: ffnkitPrepared(() => { y = model.forward(image); }, () => y) });
      }
      impls.push({ name: 'ort-web', prepared: await ortSession('web', onnx!, image, [1, 3, 256, 256], peer) });
      impls.push({ name: 'ort-node', prepared: await ortSession('node', onnx!, image, [1, 3, 256, 256], peer) });
      await impls[0]!.prepared.run();
      const reference = Float32Array.from(await impls[0]!.prepared.output());
      await report(name, flops, impls, reference, [peak, 'madd peak']);
      for (const e of engines) e.arena.reset();
    }
  }

  // the relaxed integer dot against the i16 path, ffnkit against itself in Node and Chromium
  if (!opts.only || opts.only === 'relaxed') await decodeRelaxedVsI16(emit, say, opts, threads, bandwidth);
  if (opts.only === 'relaxed') return lines;
  // decode tokens/s against llama.cpp (node-llama-cpp, native) on the same GGUF files
  if (!opts.only?.startsWith('transformers')) await decodeVsLlamaCpp(emit, say, opts, threads, bounds);
  // whole-model generation against transformers.js (wasm in Chromium, onnxruntime-node)
  await decodeVsTransformers(emit, say, opts, threads, bounds);
  return lines;
}


/**
 * llama.cpp's logits against ffnkit's at every position of `tokens` (one pass each from an empty
 * cache): the largest |difference| over the whole vocabulary, and at how many positions the two
 * pick the same most likely token.
 */
async function compareLogits(
  seq: LlamaContextSequence, model: LlamaModel, tokens: number[],
): Promise<{ logitsMaxAbsDiff: number; logitsArgmaxAgreement: string }> {
  await seq.clearHistory();
  const theirs = await seq.controlledEvaluate(tokens.map((t) => [t as never, { generateNext: { logits: true } }]));
  model.reset();
  const ours = model.forward(tokens, { allLogits: true });
  const vocab = model.config.vocabSize;
  let worst = 0;
  let same = 0;
  for (let p = 0; p < tokens.length; p++) {
    const row = ours.subarray(p * vocab, (p + 1) * vocab);
    const their = theirs[p]?.next.logits;
    if (their?.size !== vocab) throw new Error(`llama.cpp returned ${their?.size ?? 'no'} logits at position ${p}, not ${vocab}`);
    let best = 0;
    for (let v = 1; v < vocab; v++) if (row[v]! > row[best]!) best = v;
    if (Number(their.keys().next().value) === best) same++;
    for (const [t, l] of their) worst = Math.max(worst, Math.abs(l - row[Number(t)]!));
  }
  return { logitsMaxAbsDiff: sig3(worst), logitsArgmaxAgreement: `${same}/${tokens.length} positions` };
}

/** Tokens in the prompt that times prefill against llama.cpp (its batch holds them in one evaluation). */
const PREFILL_TOKENS = 128;

async function decodeVsLlamaCpp(emit: (l: BenchLine) => void, say: (s: string) => void, opts: BenchOptions, threads: number, bounds: Bounds): Promise<void> {
  const decodeRounds = 3;
  const shared = sharedDir();
  if (!shared) {
    say('skipping decode vs llama.cpp: ../shared not found');
    return;
  }
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const dir = mkdtempSync(join(tmpdir(), 'ffnkit-peers-'));
  try {
    const tok32k = Tokenizer.fromLlama2c(new Uint8Array(readFileSync(join(shared, 'models', 'tokenizer.bin'))));
    const tok512 = Tokenizer.fromLlama2c(new Uint8Array(readFileSync(join(shared, 'models', 'tok512.bin'))));
    const story = readFileSync(join(shared, 'data', 'tinystories-eval.txt'), 'utf8').split(/\n\s*\n/)[0]!.trim();
    const synthetic = join(dir, 'stories110M-shape.gguf');
    const tinyQ8 = join(dir, 'tinyllama-1.1B-shape-q8_0.gguf');
    const tl = { ...TINYLLAMA_1_1B, nLayers: opts.quick ? 2 : TINYLLAMA_1_1B.nLayers };
    const files: [string, string, number, (() => Uint8Array)?][] = [
      ['stories260K', join(shared, 'models', 'stories260K.gguf'), 200],
      // the real model in Q8_0 (its FFN down rows of 172 stay F32, as llama.cpp's quantizer does)
      ['stories260K q8_0', join(dir, 'stories260K-q8_0.gguf'), 200, () => writeGguf(readGguf(readFileSync(join(shared, 'models', 'stories260K.gguf'))).weights, tok512.vocabulary(), 'Q8_0')],
      ['stories110M-shape', synthetic, opts.quick ? 24 : 64, () => writeGguf(randomLlamaWeights(STORIES110M, 3), tok32k.vocabulary())],
      // TinyLlama-1.1B's shape in Q8_0 (its own classifier: 1.1B weights; 2 layers with --quick)
      [`tinyllama-1.1B-shape q8_0 ${tl.nLayers} layers`, tinyQ8, opts.quick ? 16 : 48, () => writeGguf(randomLlamaWeights(tl, 4, 'q8_0'), tok32k.vocabulary(), 'Q8_0')],
      // the same shape quantized by ffnkit to the types people download (from the Q8_0 weights,
      // one tensor dequantized at a time, so the 1.1B model never sits in memory in f32)
      ...(['Q4_K_M', 'Q4_0', 'Q5_K_M', 'Q3_K_M', 'Q2_K'] as const).map((type): [string, string, number, () => Uint8Array] => [
        `tinyllama-1.1B-shape ${type.toLowerCase()} ${tl.nLayers} layers`, join(dir, `tinyllama-1.1B-shape-${type.toLowerCase()}.gguf`), opts.quick ? 16 : 48,
        () => writeGguf(randomLlamaWeights(tl, 4, 'q8_0'), tok32k.vocabulary(), { type, allowRequantize: true }),
      ]),
    ];
    for (const [name, file, steps, write] of files) {
      if (opts.only && !name.includes(opts.only)) continue;
      if (write) {
        say(`decode ${name}: writing the GGUF file`);
        writeFileSync(file, write());
      }
      // one prompt, as text for wllama (which tokenizes it itself) and as ids for the others
      const tok = name.startsWith('stories260K') ? tok512 : tok32k;
      const promptText = 'Once upon a time';
      const prompt = tok.encode(promptText);
      const prefillPrompt = tok.encode(promptOfTokens(tok, story, PREFILL_TOKENS));
      say(`decode ${name}: loading`);
      const lm = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
      const ctx = await lm.createContext({ contextSize: 512, threads, batchSize: PREFILL_TOKENS });
      const seq = ctx.getSequence();
      const model = await loadModel(file, { threads });
      // both decode the same greedy steps in alternating rounds, each timed from its first
      // generated token, after an untimed round (wasm tier-up); memory-bound decoding wanders
      // between runs here, so the median of three rounds
      const cppRates: number[] = [];
      const ourRates: number[] = [];
      let cppIds: number[] = [];
      let ours: number[] = [];
      for (let r = 0; r <= decodeRounds; r++) {
        const round = r === 0 ? 'warm-up' : `round ${r}/${decodeRounds}`;
        say(`decode ${name}: llama.cpp, ${round}`);
        await seq.clearHistory();
        cppIds = [];
        let tFirst = 0;
        for await (const id of seq.evaluate(prompt as never, { temperature: 0 })) {
          if (cppIds.length === 0) tFirst = performance.now();
          cppIds.push(Number(id));
          if (cppIds.length >= steps) break;
        }
        if (r > 0) cppRates.push((cppIds.length - 1) / ((performance.now() - tFirst) / 1000));
        await settle(threads);
        say(`decode ${name}: ffnkit, ${round}`);
        const run = ffnkitGreedy(model, prompt, steps);
        ours = run.ids;
        if (r > 0) ourRates.push(run.decodeRate);
        await settle(threads);
      }
      // prefill: the same prompt of about PREFILL_TOKENS tokens through both, from an empty cache
      const cppPrefill: number[] = [];
      const ourPrefill: number[] = [];
      for (let r = 0; r <= decodeRounds; r++) {
        say(`prefill ${name}: ${r === 0 ? 'warm-up' : `round ${r}/${decodeRounds}`}`);
        await seq.clearHistory();
        let t = performance.now();
        await seq.evaluateWithoutGeneratingNewTokens(prefillPrompt as never);
        if (r > 0) cppPrefill.push(prefillPrompt.length / ((performance.now() - t) / 1000));
        await settle(threads);
        model.reset();
        t = performance.now();
        model.forward(prefillPrompt);
        if (r > 0) ourPrefill.push(prefillPrompt.length / ((performance.now() - t) / 1000));
        await settle(threads);
      }
      say(`decode ${name}: logits of both along ffnkit's greedy text`);
      const logits = await compareLogits(seq, model, [...prompt, ...ours.slice(0, -1)]);
      await ctx.dispose();
      await lm.dispose();
      const quantized = /\bq\d/.test(name);
      const prefillTokens = prefillPrompt.length;
      const decodeBoundOf = (rate: number) => decodeBound(model, bounds, rate);
      const prefillBoundOf = (rate: number) => prefillBound(model, quantized, prefillTokens, threads, bounds, rate);
      const ourImpl = ffnkitImpl(model.engine);
      model.engine.close(); // its workers would take the cores from wllama

      // llama.cpp compiled to wasm, in headless Chromium (the same file, threads and greedy steps)
      // greedy agreement: how many of ffnkit's tokens, decoded one after another, the other's text starts with
      const agreement = (text: string) => {
        let n = 0;
        while (n < ours.length && text.startsWith(tok.decode(ours.slice(0, n + 1)))) n++;
        return n;
      };
      const rows: [string, number[], number, object?][] = [
        [ourImpl, ourRates, ours.length],
        ['llama.cpp (node-llama-cpp, native)', cppRates, agreement(tok.decode(cppIds)), logits],
      ];
      const noWllama = wllamaUnavailable();
      if (noWllama) say(`decode ${name}: skipping wllama: ${noWllama}`);
      else {
        say(`decode ${name}: wllama in Chromium`);
        const w = await wllamaDecode(file, promptText, steps, threads, decodeRounds);
        rows.push([`llama.cpp wasm (wllama ${w.version}, Chromium)`, w.rates, agreement(w.text)]);
      }
      const toNative = summary(ourPrefill).median / summary(cppPrefill).median;
      for (const [impl, rates, more] of [[ourImpl, ourPrefill, { toNative: sig3(toNative) }], ['llama.cpp (node-llama-cpp, native)', cppPrefill, {}]] as const) {
        const s = summary(rates);
        emit({
          suite: SUITE, case: `prefill ${name} (${prefillPrompt.length} tokens)`, impl, value: sig3(s.median), unit: 'tokens/s',
          ...prefillBoundOf(s.median),
          spreadMin: sig3(s.min), spreadMax: sig3(s.max), samples: rates.length, ...more,
        });
      }
      for (const [impl, rates, agree, more] of rows) {
        // rates are per second: the median round, and the slowest and fastest
        const s = summary(rates);
        emit({
          suite: SUITE, case: `decode ${name}`, impl, value: sig3(s.median), unit: 'tokens/s',
          ...decodeBoundOf(s.median),
          spreadMin: sig3(s.min), spreadMax: sig3(s.max), samples: rates.length,
          greedyAgreement: `${agree}/${steps} tokens identical to ffnkit's`, ...more,
        });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
