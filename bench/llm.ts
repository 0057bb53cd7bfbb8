// `ffnkit bench llm`: prefill and decode speed of whole models, each next to its bound measured
// in the same process. Decoding streams every packed weight once per token, so its bound is
// read bandwidth (measured in the model's own engine) / weight bytes per token; prefill runs the
// matrix products as GEMMs, so its bound is the build's multiply-add peak / flops per token. A
// Q8_0 model's decoding is bounded as well by its integer kernel's in-cache rate / flops per
// token (`computeBound`).
//
// Models: stories260K (real, from ../shared, when present), and seeded random weights in the
// stories110M shape and the TinyLlama-1.1B shape: in f32 as many layers as fit in wasm32, and in
// Q8_0 and Q4_K_M all 22 with its own classifier (1.1B weights), fewer layers with --quick; and
// Llama-3.2-3B's shape in Q4_K_M (random blocks of each tensor's type, all 28 layers), whose
// decode line also gives the wasm memory it takes next to wasm32's 4 GiB.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LlamaModel, Tokenizer, createEngine, readLlama2c, weightType, type HostMatrix, type LlamaConfig, type LlamaWeights } from '../src/index.js';
import { randomLlamaWeights } from '../src/llm/random.js';
import { randomMixWeights } from './random-blocks.js';
import { type BenchLine, type BenchOptions, STORIES110M, TINYLLAMA_1_1B, sig3, time, collector, sharedDir } from './harness.js';
import { maddPeak, q8DotPeak, readBandwidth, readBandwidthThreads } from './probes.js';

const SUITE = 'llm';

/** Llama-3.2-3B's shape (its classifier tied to the embedding), at a 2048-token context. */
const LLAMA32_3B: LlamaConfig = {
  dim: 3072, hiddenDim: 8192, nLayers: 28, nHeads: 24, nKvHeads: 8, vocabSize: 128256, seqLen: 2048,
  normEps: 1e-5, ropeTheta: 500000, ropeStyle: 'interleaved', sharedClassifier: true,
};

/**
 * The TinyLlama-1.1B shape in f32, its classifier shared with the embedding, with as many layers
 * as fit in wasm32's 4 GiB (at most its 22).
 */
function tinyLlama(layers?: number): LlamaConfig {
  const base = { ...TINYLLAMA_1_1B, nLayers: 1, sharedClassifier: true };
  if (layers) return { ...base, nLayers: layers };
  let n = 1;
  while (n < 22 && LlamaModel.memoryBytes({ ...base, nLayers: n + 1 }) < 3.8 * 2 ** 30) n++;
  return { ...base, nLayers: n };
}

/** With `threads` > 1, every model also runs on an engine of that many threads (same process). */
export async function runLlm(opts: BenchOptions & { threads?: number }): Promise<BenchLine[]> {
  const { lines, emit, say } = collector(opts);

  say('arithmetic peaks');
  const probe = await createEngine();
  const peak = maddPeak(probe, opts.quick);
  emit({ suite: SUITE, case: 'madd peak', impl: `ffnkit-${probe.backend}`, value: sig3(peak), unit: 'GFLOP/s' });
  const q8Peak = q8DotPeak(probe, opts.quick);
  emit({ suite: SUITE, case: 'q8_0 dot peak (in cache)', impl: `ffnkit-${probe.backend}`, value: sig3(q8Peak), unit: 'GFLOP/s' });

  const models: [string, () => LlamaWeights<HostMatrix>][] = [];
  const shared = sharedDir();
  if (shared) models.push(['stories260K', () => readLlama2c(new Uint8Array(readFileSync(join(shared, 'models', 'stories260K.bin'))))]);
  else say('skipping stories260K: ../shared not found (set FFNKIT_SHARED)');
  models.push(['stories110M-shape', () => randomLlamaWeights(STORIES110M, 1)]);
  const tl = tinyLlama(opts.quick ? 2 : undefined);
  models.push([`tinyllama-shape ${tl.nLayers} layers`, () => randomLlamaWeights(tl, 2)]);
  const tlq = { ...TINYLLAMA_1_1B, nLayers: opts.quick ? 2 : TINYLLAMA_1_1B.nLayers };
  models.push([`tinyllama-1.1B-shape q8_0 ${tlq.nLayers} layers`, () => randomLlamaWeights(tlq, 2, 'q8_0')]);
  models.push([`tinyllama-1.1B-shape q4_k_m ${tlq.nLayers} layers`, () => randomMixWeights(tlq, 'Q4_K_M', 2)]);
  models.push([`llama-3.2-3B-shape q4_k_m ${LLAMA32_3B.nLayers} layers`, () => randomMixWeights(LLAMA32_3B, 'Q4_K_M', 3)]);

  const threads = opts.threads ?? 1;
  for (const [name, make] of models) {
    if (opts.only && !name.includes(opts.only)) continue;
    for (const t of threads > 1 ? [1, threads] : [1]) {
      await runModel(name, make, t, t * peak, t * q8Peak);
    }
  }
  return lines;

  async function runModel(name: string, make: () => LlamaWeights<HostMatrix>, t: number, peak: number, q8Peak: number): Promise<void> {
    say(`${name}: read bandwidth (${t} thread${t > 1 ? 's' : ''})`);
    const engine = await createEngine({ backend: probe.backend, threads: t });
    const impl = `ffnkit-${engine.backend}${t > 1 ? ` ${engine.threads} threads` : ''}`;
    // in the engine the model will run in: streaming speed differs between one wasm memory and
    // another here, so a bound measured in another engine can be above or below this one's
    const bandwidth = t > 1 ? readBandwidthThreads(engine, opts.quick) : readBandwidth(engine, opts.quick);
    say(`${name}: building`);
    const weights = make();
    const q8 = weightType(weights) === 'q8_0';
    const wasmBytes = LlamaModel.memoryBytes(weights.config, 64, weights);
    const model = await LlamaModel.create(weights, { engine });
    const c = model.config;
    const prompt = Array.from({ length: Math.min(opts.quick ? 64 : 128, c.seqLen - 1) }, (_, i) => 3 + ((i * 7) % (c.vocabSize - 3)));

    say(`${name}: prefill ${prompt.length} tokens`);
    const pre = time(() => {
      model.reset();
      model.forward(prompt);
    }, opts.quick);
    const preValue = prompt.length / pre.seconds;
    const preBound = (peak * 1e9 * prompt.length) / model.matmulFlops(prompt.length);
    emit({
      suite: SUITE, case: `${name} prefill ${prompt.length}`, impl, value: sig3(preValue), unit: 'tokens/s',
      // Q8_0 products run on integer dot products, which the f32 peak does not bound (share may pass 1)
      bound: sig3(preBound), boundName: `${t > 1 ? `${t} x ` : ''}f32 madd peak / matmul flops`, share: sig3(preValue / preBound),
      seconds: pre.seconds, rme: sig3(pre.rme), samples: pre.samples,
    });

    // decode at positions 16 .. 80 over and over: the cache rows stay valid, the work stays put
    say(`${name}: decode`);
    model.reset();
    model.forward(prompt.slice(0, 16));
    const dec = time(() => {
      if (model.position >= 80) model.position = 16;
      model.forward([5]);
    }, opts.quick);
    const decValue = 1 / dec.seconds;
    const decBound = (bandwidth * 1e9) / model.weightBytes();
    // Q8_0 models: the integer kernel's in-cache rate bounds them too (weights in memory or not)
    const computeBound = q8 ? (q8Peak * 1e9) / model.matmulFlops(1) : undefined;
    emit({
      suite: SUITE, case: `${name} decode`, impl, value: sig3(decValue), unit: 'tokens/s',
      bound: sig3(decBound), boundName: `read bandwidth${t > 1 ? ` (${t} threads)` : ''} ${sig3(bandwidth)} GB/s / ${sig3(model.weightBytes() / 2 ** 20)} MiB per token`, share: sig3(decValue / decBound),
      ...(computeBound && { computeBound: sig3(computeBound), computeShare: sig3(decValue / computeBound) }),
      weights: weightType(weights), dotPath: engine.dot.path,
      wasmMiB: sig3(wasmBytes / 2 ** 20), wasmPeakMiB: sig3(engine.arena.peakBytes / 2 ** 20), memoryBound: 'wasm32 4096 MiB',
      seconds: dec.seconds, rme: sig3(dec.rme), samples: dec.samples,
    });
    if (name === 'stories260K' && t === 1) await streamYieldCost(model);
    engine.close();
  }

  /**
   * What yielding to the event loop between tokens costs a stream: 200 tokens of model.generate
   * with the default `yield` (a macrotask once 5 ms have passed) and with one after every token
   * (`yield: 0`), each bounded by the same stream with `yield: false`, in rounds of alternating
   * order (medians compared, so drift on a shared machine hits all three).
   */
  async function streamYieldCost(model: LlamaModel): Promise<void> {
    say('stories260K: streaming, yield on and off');
    const tokenizer = Tokenizer.fromLlama2c(new Uint8Array(readFileSync(join(shared!, 'models', 'tok512.bin'))));
    // tokens per second of this process's CPU time: on a shared machine the wall clock also
    // counts the time other processes held the core, which swamps a difference of a few percent
    const rate = async (yieldToLoop: boolean | number) => {
      let tokens = 0;
      const started = process.cpuUsage();
      const stream = model.generate(tokenizer, 'Once upon a time', { temperature: 1, seed: 1, maxTokens: 200, stopTokens: [], yield: yieldToLoop, onToken: () => tokens++ });
      for await (const piece of stream) void piece;
      const cpu = process.cpuUsage(started);
      return (tokens - 5) / ((cpu.user + cpu.system) / 1e6); // the 5 prompt tokens are not streamed
    };
    const modes: [string, boolean | number][] = [['off', false], ['sliced', true], ['every token', 0]];
    const rates = new Map<string, number[]>(modes.map(([m]) => [m, []]));
    const rounds = opts.quick ? 5 : 41;
    await rate(false); // warm-up: wasm tier-up, first allocations
    for (let r = 0; r < rounds; r++) {
      // the order alternates, so a trend in the machine's load favours none
      for (const [m, y] of r % 2 ? [...modes].reverse() : modes) rates.get(m)!.push(await rate(y));
    }
    const median = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1]!;
    const bound = median(rates.get('off')!);
    for (const [m, what] of [['sliced', 'yield between tokens, 5 ms slices (default)'], ['every token', 'yield after every token (yield: 0)']] as const) {
      const value = median(rates.get(m)!);
      emit({
        suite: SUITE, case: `stories260K stream 200 tokens, ${what}`, impl: `ffnkit-${model.engine.backend}`, value: sig3(value), unit: 'tokens/s (CPU time)',
        bound: sig3(bound), boundName: 'the same stream with yield: false', share: sig3(value / bound), samples: rounds,
      });
    }
  }
}
