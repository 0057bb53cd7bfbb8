// `ffnkit bench skip`: what FFN skipping costs and saves.
// Quality (stories260K, 5 layers): for FFN-SkipLLM at several thresholds and budgets, and the
// random and static baselines, the realized skip ratio, eval PPL through decode steps, and the
// agreement with the dense greedy continuation (share of identical tokens over the 200 of each
// golden prompt). Five layers leave little to skip: with one cold layer at each end, three.
// Speed: decode tokens/s of a synthetic 32-layer model at the stories110M width against the
// ideal 1 / (1 - FFN share x skip ratio), and the cost of monitoring alone.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LlamaModel, StaticSkip, Tokenizer, evaluate, generateIds, parseSkip, readLlama2c, type SkipPolicy } from '../src/index.js';
import { randomLlamaWeights } from '../src/llm/random.js';
import { type BenchLine, type BenchOptions, STORIES110M, sig3, time, collector, sharedDir } from './harness.js';

const SUITE = 'skip';


export const QUALITY_SPECS = [
  'threshold=0.99,warmup=8,coldStart=1,coldEnd=1,budget=1',
  'threshold=0.97,warmup=8,coldStart=1,coldEnd=1,budget=1',
  'threshold=0.95,warmup=8,coldStart=1,coldEnd=1,budget=1',
  'threshold=0.9,warmup=8,coldStart=1,coldEnd=1,budget=1',
  'threshold=0.8,warmup=8,coldStart=1,coldEnd=1,budget=1',
  'threshold=0.95,warmup=8,coldStart=1,coldEnd=1,budget=2',
  'threshold=0.9,warmup=8,coldStart=1,coldEnd=1,budget=2',
  'threshold=-1,warmup=8,coldStart=1,coldEnd=1,budget=1',
  'threshold=-1,warmup=8,coldStart=1,coldEnd=1,budget=3',
  'random:count=1,coldStart=1,coldEnd=1,warmup=8',
  'random:count=2,coldStart=1,coldEnd=1,warmup=8',
  'static:2-2,warmup=8',
  'static:3-3,warmup=8',
  'static:2-3,warmup=8',
  'static:1-3,warmup=8',
];

export async function runSkip(opts: BenchOptions): Promise<BenchLine[]> {
  const { lines, emit, say } = collector(opts);
  const shared = sharedDir();
  if (shared) {
    const weights = readLlama2c(new Uint8Array(readFileSync(join(shared, 'models', 'stories260K.bin'))));
    const tok = Tokenizer.fromLlama2c(new Uint8Array(readFileSync(join(shared, 'models', 'tok512.bin'))));
    const text = readFileSync(join(shared, 'data', 'tinystories-eval.txt'), 'utf8');
    const golden = (JSON.parse(readFileSync(join(shared, 'golden', 'stories260K-greedy.json'), 'utf8')) as { greedy: { prompt: string; ids: number[] }[] }).greedy;
    const model = await LlamaModel.create(weights);
    const dense = evaluate(model, tok, text).ppl;
    emit({ suite: SUITE, case: 'stories260K eval ppl', impl: 'dense', value: sig3(dense), unit: 'ppl' });
    for (const spec of opts.quick ? QUALITY_SPECS.filter((_, i) => i % 3 === 0) : QUALITY_SPECS) {
      say(`quality: ${spec}`);
      const policy = parseSkip(spec, weights.config.nLayers, weights.config.seqLen);
      const ppl = evaluate(model, tok, text, { skip: policy }).ppl;
      const ratio = policy.stats().ratio;
      let same = 0;
      let total = 0;
      for (const g of golden) {
        const prompt = tok.encode(g.prompt);
        const skipping = parseSkip(spec, weights.config.nLayers, weights.config.seqLen);
        const ids = [...prompt, ...generateIds(model, prompt, { temperature: 0, maxTokens: g.ids.length - prompt.length, skip: skipping })];
        // position by position over the golden continuation (a shorter run counts as different)
        for (let i = prompt.length; i < g.ids.length; i++) {
          total++;
          if (ids[i] === g.ids[i]) same++;
        }
      }
      emit({
        suite: SUITE, case: `stories260K ${spec}`, impl: policy.kind, value: sig3(ppl), unit: 'ppl',
        bound: sig3(dense), boundName: 'dense', share: sig3(ppl / dense),
        skipRatio: sig3(ratio), greedyAgreement: sig3(same / total),
      });
    }
  } else {
    say('skipping the quality sweep: ../shared not found (set FFNKIT_SHARED)');
  }

  // speed: 32 layers at the stories110M width
  const layers = opts.quick ? 16 : 32;
  say(`speed: building a ${layers}-layer model at width 768`);
  const config = { ...STORIES110M, nLayers: layers };
  const model = await LlamaModel.create(randomLlamaWeights(config, 7));
  model.forward(Array.from({ length: 16 }, (_, i) => 3 + i));
  const decode = (policy: SkipPolicy | undefined) => {
    model.skip = policy;
    policy?.resetStats();
    const t = time(() => {
      if (model.position >= 80) model.position = 16;
      model.forward([5]);
    }, opts.quick);
    model.skip = undefined;
    return { seconds: t.seconds, ratio: policy?.stats().ratio ?? 0 };
  };
  const cold = layers / 4;
  const specs: [string, () => SkipPolicy | undefined][] = [
    ['dense', () => undefined],
    ['no FFN at all', () => new StaticSkip(layers, 0, layers - 1)],
    ['monitoring only (threshold never met)', () => parseSkip('threshold=1,warmup=0,coldStart=1,coldEnd=1,budget=1', layers)],
    ...[
      `threshold=-1,warmup=0,coldStart=${cold},coldEnd=${cold},budget=1`,
      `threshold=-1,warmup=0,coldStart=${cold},coldEnd=${cold},budget=3`,
      `threshold=0.5,warmup=0,coldStart=${cold / 2},coldEnd=${cold / 2},budget=2`,
      `static:${layers / 2 - layers / 16}-${layers / 2 + layers / 16 - 1}`,
      `static:${cold}-${3 * cold - 1}`,
      `random:count=${layers / 4},coldStart=${cold / 2},coldEnd=${cold / 2}`,
    ].map((spec): [string, () => SkipPolicy] => [spec, () => parseSkip(spec, layers, config.seqLen)]),
  ];
  // the machine is shared: interleave the configurations over rounds and keep each one's median
  const rounds = opts.quick ? 1 : 3;
  const seconds = specs.map(() => [] as number[]);
  const ratios = specs.map(() => 0);
  for (let round = 0; round < rounds; round++) {
    specs.forEach(([name, make], i) => {
      say(`speed: round ${round + 1}/${rounds}, ${name}`);
      const r = decode(make());
      seconds[i]!.push(r.seconds);
      ratios[i] = r.ratio;
    });
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  const t = seconds.map(median);
  const base = t[0]!;
  const ffnShare = (base - t[1]!) / base;
  emit({ suite: SUITE, case: `${layers}-layer decode`, impl: 'dense', value: sig3(1 / base), unit: 'tokens/s' });
  emit({ suite: SUITE, case: `${layers}-layer FFN share of decode time`, impl: 'dense', value: sig3(ffnShare), unit: 'share' });
  emit({ suite: SUITE, case: `${layers}-layer monitoring cost`, impl: 'ffn-skip', value: sig3(t[2]! / base - 1), unit: 'share', bound: 0.02, boundName: 'target' });
  specs.slice(3).forEach(([spec], j) => {
    const i = j + 3;
    const ideal = 1 / (1 - ffnShare * ratios[i]!);
    const speedup = base / t[i]!;
    emit({
      suite: SUITE, case: `${layers}-layer decode ${spec}`, impl: spec.startsWith('static') ? 'static' : spec.startsWith('random') ? 'random' : 'ffn-skip',
      value: sig3(1 / t[i]!), unit: 'tokens/s',
      // share: the gain over dense as a fraction of the ideal gain, (speed-up - 1) / (ideal - 1)
      bound: sig3(ideal / base), boundName: 'ideal: dense / (1 - FFN share x ratio)', share: sig3((speedup - 1) / (ideal - 1 || 1)),
      skipRatio: sig3(ratios[i]!),
    });
  });
  return lines;
}
