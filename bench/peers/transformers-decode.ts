// `bench peers`: whole-model greedy generation, ffnkit next to transformers.js on the same weights
// and vocabulary (exported by transformers-export.ts): transformers.js on its wasm backend in
// headless Chromium, and in Node on onnxruntime-node (native, for reference). Before timing, both
// tokenizers must give the same ids for the prompts (and stories260K's greedy text must be the
// golden one, in every runtime); then all three run in alternating rounds in this process, after
// an untimed round: a decode run (a short prompt, then `steps` tokens) and a prefill run (a prompt
// of up to 128 tokens, then one token), each timed from the prompt's arrival at the first token.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlamaModel, Tokenizer, readGguf, writeGguf } from '../../src/node/index.js';
import type { HostMatrix, LlamaWeights } from '../../src/model/weights.js';
import { randomLlamaWeights } from '../../src/llm/random.js';
import { type BenchLine, type BenchOptions, STORIES110M, TINYLLAMA_1_1B, sig3, sharedDir } from '../harness.js';
import { ffnkitImpl } from '../kernels.js';
import { type Bounds, decodeBound, prefillBound } from './bounds.js';
import { type FfnkitGreedy, ffnkitGreedy, promptOfTokens, settle, summary } from './timing.js';
import { type TransformersDtype, writeTransformersModel } from './transformers-export.js';
import { type TransformersPeer, transformersChromium, transformersNode, transformersWebUnavailable } from './transformers.js';
import { type FfnkitInChromium, ffnkitChromium, ffnkitChromiumUnavailable } from './ffnkit-chromium.js';

const SUITE = 'peers';
const ROUNDS = 3;
const PREFILL_TOKENS = 128;
const PROMPT = 'Once upon a time';

interface Case {
  name: string;
  dtype: TransformersDtype;
  weights: () => LlamaWeights<HostMatrix>;
  /** The model as GGUF, for ffnkit in Chromium (written from the weights when absent). */
  gguf?: string;
  vocabulary: 'tok512.bin' | 'tokenizer.bin';
  steps: number;
  /** The whole greedy sequence (prompt included) every runtime must produce. */
  golden?: number[];
}

/**
 * The transformers.js cases that `--only` selects: all without it or with `transformers`; with
 * `transformers TEXT` or `TEXT`, those whose name contains TEXT.
 */
export function transformersCaseFilter(only: string | undefined): (name: string) => boolean {
  if (!only || only === 'transformers') return () => true;
  const text = only.startsWith('transformers ') ? only.slice('transformers '.length) : only;
  return (name) => name.includes(text);
}

function cases(shared: string, quick: boolean): Case[] {
  const golden = (JSON.parse(readFileSync(join(shared, 'golden', 'stories260K-greedy.json'), 'utf8')) as { greedy: { prompt: string; ids: number[] }[] })
    .greedy.find((g) => g.prompt === PROMPT)!.ids;
  const tl = { ...TINYLLAMA_1_1B, nLayers: quick ? 2 : TINYLLAMA_1_1B.nLayers };
  return [
    {
      name: 'stories260K', dtype: 'fp32', weights: () => readGguf(readFileSync(join(shared, 'models', 'stories260K.gguf'))).weights,
      gguf: join(shared, 'models', 'stories260K.gguf'), vocabulary: 'tok512.bin', steps: golden.length - 5, golden,
    },
    { name: 'stories110M-shape', dtype: 'fp32', weights: () => randomLlamaWeights(STORIES110M, 3), vocabulary: 'tokenizer.bin', steps: quick ? 24 : 64 },
    { name: 'stories110M-shape q8_0', dtype: 'q8', weights: () => randomLlamaWeights(STORIES110M, 3, 'q8_0'), vocabulary: 'tokenizer.bin', steps: quick ? 24 : 64 },
    { name: `tinyllama-1.1B-shape q8_0 ${tl.nLayers} layers`, dtype: 'q8', weights: () => randomLlamaWeights(tl, 4, 'q8_0'), vocabulary: 'tokenizer.bin', steps: quick ? 16 : 48 },
  ];
}

/** How many of `ours` the sequence `theirs` starts with. */
function agreement(ours: number[], theirs: number[]): number {
  let n = 0;
  while (n < ours.length && ours[n] === theirs[n]) n++;
  return n;
}

interface Runner {
  impl: string;
  decode: () => Promise<{ ids: number[]; rate: number; sessionShare?: number }>;
  prefill: () => Promise<number>;
}

export async function decodeVsTransformers(emit: (l: BenchLine) => void, say: (s: string) => void, opts: BenchOptions, threads: number, bounds: Bounds): Promise<void> {
  const shared = sharedDir();
  if (!shared) {
    say('skipping decode vs transformers.js: ../shared not found');
    return;
  }
  const selected = transformersCaseFilter(opts.only);
  const story = readFileSync(join(shared, 'data', 'tinystories-eval.txt'), 'utf8').split(/\n\s*\n/)[0]!.trim();
  const dir = mkdtempSync(join(tmpdir(), 'ffnkit-transformers-'));
  try {
    for (const c of cases(shared, opts.quick).filter((c) => selected(c.name))) {
      const tok = Tokenizer.fromLlama2c(new Uint8Array(readFileSync(join(shared, 'models', c.vocabulary))), c.vocabulary);
      const folder = join(dir, c.name.replaceAll(' ', '-'));
      say(`decode ${c.name}: exporting for transformers.js (${c.dtype})`);
      const weights = c.weights();
      writeTransformersModel(folder, weights, tok, c.dtype);
      const model = await LlamaModel.create(weights, { threads });
      const peers: TransformersPeer[] = [];
      let inChromium: FfnkitInChromium | undefined;
      try {
        const noChromium = ffnkitChromiumUnavailable();
        if (noChromium) say(`decode ${c.name}: skipping ffnkit in Chromium: ${noChromium}`);
        else {
          say(`decode ${c.name}: loading ffnkit in Chromium`);
          const gguf = c.gguf ?? join(folder, 'model.gguf');
          if (!c.gguf) writeFileSync(gguf, writeGguf(weights, tok.vocabulary(), c.dtype === 'q8' ? 'Q8_0' : 'F32'));
          inChromium = await ffnkitChromium(gguf, threads);
        }
        say(`decode ${c.name}: loading transformers.js in Node`);
        peers.push(await transformersNode(folder, c.dtype, threads));
        const noWeb = transformersWebUnavailable();
        if (noWeb) say(`decode ${c.name}: skipping transformers.js in Chromium: ${noWeb}`);
        else {
          say(`decode ${c.name}: loading transformers.js in Chromium`);
          peers.unshift(await transformersChromium(folder, c.dtype, threads));
        }
        await compareCase(c, tok, model, inChromium, peers, promptOfTokens(tok, story, PREFILL_TOKENS), emit, say, threads, bounds);
      } finally {
        await inChromium?.close();
        for (const p of peers) await p.close();
        model.engine.close();
        rmSync(folder, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function compareCase(
  c: Case, tok: Tokenizer, model: LlamaModel, inChromium: FfnkitInChromium | undefined, peers: TransformersPeer[], prefillText: string,
  emit: (l: BenchLine) => void, say: (s: string) => void, threads: number, bounds: Bounds,
): Promise<void> {
  // the same ids from both tokenizers, or the runtimes would not be given the same work
  const texts = [PROMPT, prefillText];
  const ourIds = texts.map((t) => tok.encode(t));
  for (const p of peers) {
    const theirs = await p.tokenize(texts);
    texts.forEach((t, i) => {
      if (JSON.stringify(theirs[i]) !== JSON.stringify(ourIds[i])) {
        throw new Error(`decode ${c.name}: ${p.impl} tokenizes ${JSON.stringify(t.slice(0, 40))}... as [${theirs[i]!.slice(0, 12).join(',')}...], ffnkit as [${ourIds[i]!.slice(0, 12).join(',')}...]`);
      }
    });
  }
  const [prompt, prefillPrompt] = ourIds as [number[], number[]];
  const ffnkitRunner = (impl: string, greedy: (ids: number[], steps: number) => FfnkitGreedy | Promise<FfnkitGreedy>): Runner => ({
    impl: `${impl} (rounds with transformers.js)`,
    decode: async () => {
      const r = await greedy(prompt, c.steps);
      return { ids: [...prompt, ...r.ids], rate: r.decodeRate };
    },
    prefill: async () => prefillPrompt.length / (await greedy(prefillPrompt, 1)).prefillSeconds,
  });
  const ffnkits = [
    ffnkitRunner(ffnkitImpl(model.engine), (ids, steps) => ffnkitGreedy(model, ids, steps)),
    ...(inChromium ? [ffnkitRunner(inChromium.impl, (ids, steps) => inChromium.greedy(ids, steps))] : []),
  ];
  const runners: Runner[] = [
    ...ffnkits,
    ...peers.map((p): Runner => ({
      impl: p.impl,
      decode: async () => {
        const r = await p.greedy(PROMPT, c.steps);
        return { ids: r.ids, rate: r.decodeRate, sessionShare: r.sessionShare };
      },
      prefill: async () => prefillPrompt.length / (await p.greedy(prefillText, 1)).prefillSeconds,
    })),
  ];
  const decodeRates = runners.map(() => [] as number[]);
  const sessionShares = runners.map(() => [] as number[]);
  const prefillRates = runners.map(() => [] as number[]);
  const texts0: number[][] = runners.map(() => []);
  for (let r = 0; r <= ROUNDS; r++) {
    const round = r === 0 ? 'warm-up' : `round ${r}/${ROUNDS}`;
    for (const [j, run] of runners.entries()) {
      say(`decode ${c.name}: ${run.impl}, ${round}`);
      const d = await run.decode();
      if (r === 0) {
        texts0[j] = d.ids;
        if (c.golden && JSON.stringify(d.ids) !== JSON.stringify(c.golden)) {
          const at = agreement(c.golden, d.ids);
          throw new Error(`decode ${c.name}: ${run.impl}'s greedy tokens leave the golden ones at position ${at} (${d.ids[at]} for ${c.golden[at]})`);
        }
      } else {
        decodeRates[j]!.push(d.rate);
        if (d.sessionShare !== undefined) sessionShares[j]!.push(d.sessionShare);
      }
      await settle(threads);
    }
    for (const [j, run] of runners.entries()) {
      say(`prefill ${c.name}: ${run.impl}, ${round}`);
      const rate = await run.prefill();
      if (r > 0) prefillRates[j]!.push(rate);
      await settle(threads);
    }
  }
  const ours = texts0[0]!.slice(prompt.length);
  const rows = (kind: 'decode' | 'prefill', rates: number[][]) => runners.forEach((run, j) => {
    const s = summary(rates[j]!);
    // ffnkit's rate over this runtime's, round by round (the rounds alternate, so each pair shared the machine's state)
    const speedup = (of: number) => sig3(summary(rates[of]!.map((ours, i) => ours / rates[j]![i]!)).median);
    const peer = j >= ffnkits.length;
    emit({
      suite: SUITE, case: `${kind} ${c.name}`, impl: run.impl, value: sig3(s.median), unit: 'tokens/s',
      ...(kind === 'decode'
        ? decodeBound(model, bounds, s.median)
        : { ...prefillBound(model, c.dtype === 'q8', prefillPrompt.length, threads, bounds, s.median), promptTokens: prefillPrompt.length }),
      spreadMin: sig3(s.min), spreadMax: sig3(s.max), samples: rates[j]!.length,
      weights: !peer ? (c.dtype === 'q8' ? 'Q8_0' : 'f32') : (c.dtype === 'q8' ? 'q8 (int8 per tensor, dynamic uint8 activations)' : 'fp32'),
      ...(peer ? { ffnkitSpeedup: speedup(0), ...(inChromium ? { ffnkitChromiumSpeedup: speedup(1) } : {}) } : {}),
      ...(kind === 'decode' && j > 0
        ? { greedyAgreement: `${agreement(ours, texts0[j]!.slice(prompt.length))}/${c.steps} tokens identical to ffnkit's`, ...(c.golden ? { golden: 'identical' } : {}) }
        : {}),
      // where transformers.js's decoding time goes: inside onnxruntime, or around it
      ...(kind === 'decode' && peer ? { sessionShare: sig3(summary(sessionShares[j]!).median) } : {}),
    });
  });
  rows('decode', decodeRates);
  rows('prefill', prefillRates);
}
