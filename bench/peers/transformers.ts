// transformers.js (@huggingface/transformers) generating greedily from a local model folder
// (transformers-export.ts), no hub access: in Node on onnxruntime-node (native), and in headless
// Chromium on its wasm backend (onnxruntime-web's wasm files served from node_modules, the page
// cross-origin isolated). Steps are timed as its TextStreamer sees them: the streamer gets the
// prompt, then each generated token, and a token callback stamps each arrival, so prefill is the
// prompt's arrival to the first token's and decoding the first token's to the last's.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { chromiumUnavailable, openPage } from './chromium.js';
import type { TransformersDtype } from './transformers-export.js';

type TransformersModule = typeof import('@huggingface/transformers');

export interface GreedyRun {
  /** The prompt's ids (BOS first) and the generated ones. */
  ids: number[];
  /** Seconds from the prompt's arrival at the streamer to the first generated token's. */
  prefillSeconds: number;
  /** Generated tokens after the first, per second. */
  decodeRate: number;
  /** The share of the decoding span spent inside onnxruntime's session.run (the rest is transformers.js). */
  sessionShare: number;
}

export interface TransformersPeer {
  /** The implementation's name in bench lines. */
  readonly impl: string;
  /** Ids of each text as transformers.js's tokenizer gives them (BOS first). */
  tokenize(texts: string[]): Promise<number[][]>;
  /** Greedy generation of exactly `steps` tokens after `prompt` (EOS held off), with a KV cache. */
  greedy(prompt: string, steps: number): Promise<GreedyRun>;
  close(): Promise<void>;
}

/** Why transformers.js cannot run in Chromium here, or undefined when it can. */
export function transformersWebUnavailable(): string | undefined {
  return chromiumUnavailable();
}

const manifest = (dir: string) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version: string };
const version = (dir: string) => manifest(dir).version;

/** The folder of package `name` as resolved from `from` (a file): the nearest one up from its entry with that name. */
export function packageRoot(name: string, from: string): string {
  let dir = dirname(createRequire(from).resolve(name));
  while (!existsSync(join(dir, 'package.json')) || manifest(dir).name !== name) {
    if (dirname(dir) === dir) throw new Error(`${name}: no package.json above its entry`);
    dir = dirname(dir);
  }
  return dir;
}

const packageDir = packageRoot('@huggingface/transformers', import.meta.filename);
/** onnxruntime-web and -node as transformers.js resolves them (web is its own copy: it pins a build of its own). */
const ortWebDir = packageRoot('onnxruntime-web', join(packageDir, 'package.json'));
const ortNodeDir = packageRoot('onnxruntime-node', join(packageDir, 'package.json'));

interface Timed {
  ids: number[];
  /** When the streamer got the prompt, then each token (ms). */
  stamps: number[];
  /** [start, end] of each onnxruntime session.run (ms). */
  runs: [number, number][];
}

/**
 * One greedy generation, timed through a TextStreamer, with the model's session.run wrapped to
 * record its spans. Self-contained (no closures, no named inner functions) so that the same
 * source runs in the page.
 */
async function timedGreedy(lib: TransformersModule, tokenizer: unknown, model: unknown, prompt: string, steps: number): Promise<Timed> {
  const tok = tokenizer as { (text: string): Record<string, unknown> };
  type Session = { run(...a: unknown[]): Promise<unknown>; timedRuns?: [number, number][] };
  const session = (model as { sessions: Record<string, Session> }).sessions.model!;
  if (!session.timedRuns) {
    const run = session.run.bind(session);
    const spans: [number, number][] = [];
    session.timedRuns = spans;
    session.run = async (...a: unknown[]) => {
      const start = performance.now();
      try {
        return await run(...a);
      } finally {
        spans.push([start, performance.now()]);
      }
    };
  }
  session.timedRuns.length = 0;
  const stamps: number[] = [];
  const streamer = new lib.TextStreamer(tokenizer as never, {
    skip_prompt: false,
    callback_function: () => undefined,
    token_callback_function: () => { stamps.push(performance.now()); },
  } as never);
  const inputs = tok(prompt);
  const out = await (model as { generate(o: object): Promise<{ tolist(): bigint[][] }> }).generate({
    ...inputs, max_new_tokens: steps, min_new_tokens: steps, do_sample: false, streamer,
  });
  return { ids: out.tolist()[0]!.map(Number), stamps, runs: [...session.timedRuns] };
}

function greedyRun(r: Timed, steps: number): GreedyRun {
  // stamps: the prompt, then one per generated token
  if (r.stamps.length !== steps + 1) throw new Error(`transformers.js streamed ${r.stamps.length - 1} tokens, not ${steps}`);
  const [prompt, first] = [r.stamps[0]!, r.stamps[1]!];
  const last = r.stamps[steps]!;
  const inside = r.runs.reduce((sum, [a, b]) => sum + Math.max(0, Math.min(b, last) - Math.max(a, first)), 0);
  return {
    ids: r.ids,
    prefillSeconds: (first - prompt) / 1000,
    decodeRate: steps > 1 ? (steps - 1) / ((last - first) / 1000) : NaN,
    sessionShare: steps > 1 ? inside / (last - first) : NaN,
  };
}

/** transformers.js in this Node process, reading models from `folder`'s parent only. */
async function nodeLibrary(folder: string): Promise<TransformersModule> {
  const lib = await import('@huggingface/transformers');
  lib.env.allowRemoteModels = false;
  lib.env.allowLocalModels = true;
  lib.env.localModelPath = `${dirname(folder)}/`;
  return lib;
}

/** transformers.js's tokenizer of a folder (tokenizer.json + tokenizer_config.json), in Node. */
export async function transformersTokenizer(folder: string): Promise<{ encode(text: string): number[]; decode(ids: number[]): string }> {
  const lib = await nodeLibrary(folder);
  const tokenizer = await lib.AutoTokenizer.from_pretrained(basename(folder), { local_files_only: true });
  return { encode: (text) => tokenizer.encode(text), decode: (ids) => tokenizer.decode(ids, { skip_special_tokens: true }) };
}

/** transformers.js in this Node process on onnxruntime-node, `threads` intra-op threads. */
export async function transformersNode(folder: string, dtype: TransformersDtype, threads: number): Promise<TransformersPeer> {
  const lib = await nodeLibrary(folder);
  const name = basename(folder);
  const tokenizer = await lib.AutoTokenizer.from_pretrained(name, { local_files_only: true });
  const model = await lib.AutoModelForCausalLM.from_pretrained(name, {
    local_files_only: true, dtype, device: 'cpu',
    session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
  });
  return {
    impl: `transformers.js ${version(packageDir)} node (onnxruntime-node ${version(ortNodeDir)}, native)`,
    tokenize: async (texts) => texts.map((t) => tokenizer.encode(t)),
    greedy: async (prompt, steps) => greedyRun(await timedGreedy(lib, tokenizer, model, prompt, steps), steps),
    close: async () => { await model.dispose(); },
  };
}

interface PageGlobals {
  transformers: TransformersModule;
  tokenizer: unknown;
  model: unknown;
  timedGreedy: typeof timedGreedy;
}

/**
 * transformers.js in headless Chromium on its wasm backend (onnxruntime-web, `threads` threads),
 * loading the folder through a local server. Its own bundle, as a page without a bundler imports
 * it; the wasm files are onnxruntime-web's build that the bundle asks for.
 */
export function transformersChromium(folder: string, dtype: TransformersDtype, threads: number): Promise<TransformersPeer> {
  const name = basename(folder);
  const routes = { transformers: join(packageDir, 'dist'), ort: join(ortWebDir, 'dist'), models: dirname(folder) };
  return openPage<Omit<TransformersPeer, 'close'>>({ what: 'transformers.js', module: '/transformers/transformers.js', global: 'transformers', routes, functions: { timedGreedy } }, async (page) => {
    const ortVersion = await page.evaluate(async ({ name, dtype, threads }) => {
      if (!crossOriginIsolated) throw new Error('the page is not cross-origin isolated');
      const g = window as unknown as PageGlobals;
      const { env } = g.transformers;
      env.allowRemoteModels = false;
      env.allowLocalModels = true;
      env.localModelPath = '/models/';
      env.useBrowserCache = false;
      const wasm = env.backends.onnx.wasm!;
      wasm.wasmPaths = '/ort/';
      wasm.numThreads = threads;
      g.tokenizer = await g.transformers.AutoTokenizer.from_pretrained(name, { local_files_only: true });
      g.model = await g.transformers.AutoModelForCausalLM.from_pretrained(name, { local_files_only: true, dtype, device: 'wasm' });
      return String(env.backends.onnx.versions?.web ?? '');
    }, { name, dtype, threads });
    return {
      impl: `transformers.js ${version(packageDir)} wasm (onnxruntime-web ${ortVersion}, Chromium)`,
      tokenize: (texts) => page.evaluate((texts) => {
        const g = window as unknown as PageGlobals;
        return texts.map((t) => (g.tokenizer as { encode(t: string): number[] }).encode(t));
      }, texts),
      greedy: async (prompt, steps) => greedyRun(await page.evaluate(({ prompt, steps }) => {
        const g = window as unknown as PageGlobals;
        return g.timedGreedy(g.transformers, g.tokenizer, g.model, prompt, steps);
      }, { prompt, steps }), steps),
    };
  });
}
