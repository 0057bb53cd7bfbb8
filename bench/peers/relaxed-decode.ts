// `bench peers --only relaxed`: what relaxed SIMD's integer dot gains over the i16 path, ffnkit
// against itself. The TinyLlama-1.1B shape in Q4_K_M and in Q8_0 (2 layers with --quick), each
// file loaded twice in Node and twice in headless Chromium: once as the engine's self-test allows
// (the relaxed path where it proves a form) and once with `integerDot: 'i16'`. The four decode
// the same greedy steps in alternating rounds after an untimed one, whose tokens must be the same
// on both paths of a runtime (the integer sums are exact, so the logits are the same bits); then
// each path's GEMV with weights in cache for the block types of the file (the integer product on
// activations quantized once, as bench kernels times it), alternating the same way.
// Each relaxed line carries `relaxedOverI16`: the median over the rounds of its rate over the
// i16 path's in the same round of the same runtime.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer, loadModel, writeGguf, type Engine, type LlamaModel } from '../../src/node/index.js';
import { GGML_KERNEL_TRAITS, type GgmlBlockType } from '../../src/entries/kernels.js';
import { randomLlamaWeights } from '../../src/llm/random.js';
import { randomBlocks } from '../../testing/ggml-reference.js';
import { type BenchLine, type BenchOptions, TINYLLAMA_1_1B, sig3, sharedDir } from '../harness.js';
import { ffnkitImpl } from '../kernels.js';
import { type FfnkitInChromium, ffnkitChromium, ffnkitChromiumUnavailable } from './ffnkit-chromium.js';
import { type FfnkitGreedy, ffnkitGemvRate, ffnkitGreedy, settle, summary } from './timing.js';

const SUITE = 'peers';
/** The in-cache GEMV: 64 rows of 4096 (Q8_0: 288 KiB in its groups), which stay in L2. */
const GEMV_ROWS = 64;
const GEMV_COLS = 4096;
const GEMV_CALLS = 128;
const GEMV_REPS = 7;

interface Path {
  impl: string;
  runtime: 'Node' | 'Chromium';
  dot: Engine['dot'];
  /** The model's bytes of weights read per token (known in Node). */
  weightBytes?: number;
  greedy(prompt: number[], steps: number): Promise<FfnkitGreedy>;
  gemvRate(type: GgmlBlockType, bytes: Uint8Array): Promise<number>;
  close(): Promise<void>;
}

/** How an impl name says which path runs. */
function dotName(dot: Engine['dot']): string {
  return dot.path === 'relaxed' ? `relaxed dot (${dot.form} form)` : `i16 dot${dot.forced ? ', forced' : ''}`;
}

function nodePath(model: LlamaModel): Path {
  const e = model.engine;
  return {
    impl: `${ffnkitImpl(e)}, ${dotName(e.dot)}`, runtime: 'Node', dot: e.dot, weightBytes: model.weightBytes(),
    greedy: async (prompt, steps) => ffnkitGreedy(model, prompt, steps),
    gemvRate: async (type, bytes) => ffnkitGemvRate(e, type, GGML_KERNEL_TRAITS[type].activations, bytes, GEMV_ROWS, GEMV_COLS, GEMV_REPS, GEMV_CALLS),
    close: async () => e.close(),
  };
}

function chromiumPath(page: FfnkitInChromium): Path {
  return {
    impl: `${page.impl}, ${dotName(page.dot)}`, runtime: 'Chromium', dot: page.dot,
    greedy: (prompt, steps) => page.greedy(prompt, steps),
    gemvRate: (type, bytes) => page.gemvRate(type, GGML_KERNEL_TRAITS[type].activations, bytes, GEMV_ROWS, GEMV_COLS, GEMV_REPS, GEMV_CALLS),
    close: () => page.close(),
  };
}

/**
 * Runs every path once per round, `rounds` rounds after an untimed one; the samples of each path
 * (the untimed round's result handed to `first`).
 */
async function alternate<T>(paths: Path[], rounds: number, threads: number, say: (s: string) => void, what: string, run: (p: Path) => Promise<{ rate: number; result?: T }>, first?: (p: Path, result: T | undefined) => void): Promise<number[][]> {
  const rates = paths.map(() => [] as number[]);
  for (let r = 0; r <= rounds; r++) {
    for (const [j, p] of paths.entries()) {
      say(`${what}: ${p.impl}, ${r === 0 ? 'warm-up' : `round ${r}/${rounds}`}`);
      const { rate, result } = await run(p);
      if (r === 0) first?.(p, result);
      else rates[j]!.push(rate);
      await settle(threads);
    }
  }
  return rates;
}

/** One line per path; a relaxed path's carries its rate over the i16 path of its runtime, round by round. */
function emitRates(emit: (l: BenchLine) => void, name: string, unit: string, paths: Path[], rates: number[][], more: (j: number) => object = () => ({})): void {
  paths.forEach((p, j) => {
    const s = summary(rates[j]!);
    const i16 = paths.findIndex((q) => q.runtime === p.runtime && q.dot.path === 'i16');
    const ratio = p.dot.path === 'relaxed' && i16 >= 0 ? { relaxedOverI16: sig3(summary(rates[j]!.map((v, i) => v / rates[i16]![i]!)).median) } : {};
    emit({
      suite: SUITE, case: name, impl: p.impl, value: sig3(s.median), unit, spreadMin: sig3(s.min), spreadMax: sig3(s.max), samples: rates[j]!.length,
      dotPath: p.dot.path, dotForm: p.dot.form, ...ratio, ...more(j),
    });
  });
}

export async function decodeRelaxedVsI16(emit: (l: BenchLine) => void, say: (s: string) => void, opts: BenchOptions, threads: number, bandwidth: number): Promise<void> {
  const shared = sharedDir();
  if (!shared) {
    say('skipping relaxed vs i16: ../shared not found');
    return;
  }
  const rounds = opts.quick ? 5 : 9;
  const steps = opts.quick ? 16 : 48;
  const tok = Tokenizer.fromLlama2c(new Uint8Array(readFileSync(join(shared, 'models', 'tokenizer.bin'))));
  const prompt = tok.encode('Once upon a time');
  const tl = { ...TINYLLAMA_1_1B, nLayers: opts.quick ? 2 : TINYLLAMA_1_1B.nLayers };
  const noChromium = ffnkitChromiumUnavailable();
  if (noChromium) say(`relaxed vs i16: skipping ffnkit in Chromium: ${noChromium}`);
  const dir = mkdtempSync(join(tmpdir(), 'ffnkit-relaxed-'));
  try {
    const files: [string, () => Uint8Array, GgmlBlockType[]][] = [
      ['q4_k_m', () => writeGguf(randomLlamaWeights(tl, 4, 'q8_0'), tok.vocabulary(), { type: 'Q4_K_M', allowRequantize: true }), ['q4_k', 'q6_k']],
      ['q8_0', () => writeGguf(randomLlamaWeights(tl, 4, 'q8_0'), tok.vocabulary(), 'Q8_0'), ['q8_0']],
    ];
    for (const [type, write, gemvTypes] of files) {
      if (opts.only && opts.only !== 'relaxed' && !type.includes(opts.only)) continue;
      const name = `tinyllama-1.1B-shape ${type} ${tl.nLayers} layers`;
      const file = join(dir, `${name.replaceAll(' ', '-')}.gguf`);
      say(`relaxed vs i16, ${name}: writing the GGUF file`);
      writeFileSync(file, write());
      const paths: Path[] = [];
      try {
        for (const integerDot of ['auto', 'i16'] as const) {
          say(`relaxed vs i16, ${name}: loading in Node (integerDot ${integerDot})`);
          paths.push(nodePath(await loadModel(file, { threads, integerDot })));
        }
        if (!noChromium) {
          for (const integerDot of ['auto', 'i16'] as const) {
            say(`relaxed vs i16, ${name}: loading in Chromium (integerDot ${integerDot})`);
            paths.push(chromiumPath(await ffnkitChromium(file, threads, integerDot)));
          }
        }
        for (const runtime of ['Node', 'Chromium']) {
          const dots = paths.filter((p) => p.runtime === runtime).map((p) => p.dot.path);
          if (dots.length && dots[0] !== 'relaxed') say(`relaxed vs i16, ${name}: the relaxed dot is not available in ${runtime} (${dotName(paths.find((p) => p.runtime === runtime)!.dot)}): no ratio there`);
        }
        // the untimed round's tokens: the same on both paths of a runtime, or a path is wrong
        const tokens = new Map<Path, number[]>();
        const decode = await alternate<number[]>(paths, rounds, threads, say, `decode ${name}`, async (p) => {
          const r = await p.greedy(prompt, steps);
          return { rate: r.decodeRate, result: r.ids };
        }, (p, ids) => {
          const twin = paths.find((q) => q !== p && q.runtime === p.runtime && tokens.has(q));
          if (twin && JSON.stringify(tokens.get(twin)) !== JSON.stringify(ids)) throw new Error(`decode ${name}: ${p.impl} and ${twin.impl} generate different tokens, though the integer sums of both paths are exact`);
          tokens.set(p, ids!);
        });
        const reference = tokens.get(paths[0]!)!;
        const weightBytes = paths[0]!.weightBytes!;
        const bound = (bandwidth * 1e9) / weightBytes;
        emitRates(emit, `decode ${name}, relaxed vs i16 dot`, 'tokens/s', paths, decode, (j) => {
          const ids = tokens.get(paths[j]!)!;
          let same = 0;
          while (same < ids.length && ids[same] === reference[same]) same++;
          return {
            bound: sig3(bound), boundName: `read bandwidth / ${sig3(weightBytes / 2 ** 20)} MiB of weights per token`, share: sig3(summary(decode[j]!).median / bound),
            greedyAgreement: `${same}/${steps} tokens identical to ${paths[0]!.impl}'s`,
          };
        });
        for (const gemvType of gemvTypes) {
          const bytes = randomBlocks(gemvType, GEMV_ROWS, GEMV_COLS, 11);
          const rates = await alternate(paths, rounds, threads, say, `gemv ${gemvType} in cache`, async (p) => ({ rate: await p.gemvRate(gemvType, bytes) }));
          emitRates(emit, `gemv ${gemvType} m1 k${GEMV_COLS} n${GEMV_ROWS} in cache, relaxed vs i16 dot`, 'GFLOP/s', paths, rates, () => ({ fastestOf: `${GEMV_REPS} x ${GEMV_CALLS} calls` }));
        }
      } finally {
        for (const p of paths) await p.close();
        rmSync(file, { force: true });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
