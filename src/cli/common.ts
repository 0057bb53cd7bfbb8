// Helpers the model commands share: option parsing with named errors, and loading a model with
// its tokenizer.

import { rmSync } from 'node:fs';
import { lstat, readFile, readlink, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import { BACKENDS, FfnkitError, INTEGER_DOTS, KV_CACHES, Tokenizer, loadModel, type IntegerDot, parseSkip, type Backend, type Engine, type EngineOptions, type KvCache, type LlamaModel, type SkipPolicy, type SkipStats, type GgufMetadata, type HostMatrix, type LoadedWeights } from '../node/index.js';
import { RoutedLayerFfn, type RoutingMode } from '../entries/factor.js';
import { progressLine } from './progress.js';

/** A commander parser for numbers within [min, max] (integers when `integer`). */
export function numberOption(name: string, min: number, max: number, integer = false): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(`${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got '${v}'`);
    }
    return n;
  };
}

export function threadsOption(): Option {
  return new Option('--threads <n>', 'threads for the matrix products and convolutions (default 1; results are identical)').argParser(numberOption('--threads', 1, 256, true));
}

export function backendOption(): Option {
  return new Option('--backend <build>', 'wasm build (default: FFNKIT_BACKEND, else the best this runtime accepts)').choices([...BACKENDS]);
}

export function integerDotOption(): Option {
  return new Option(
    '--integer-dot <dot>',
    "the quantized kernels' integer dot: auto (default: relaxed SIMD's where the engine's self-test allows it) or i16 (always the i16 path; the same results, to compare speeds)",
  ).choices([...INTEGER_DOTS]);
}

/** Which integer dot the engine's quantized kernels run, and why, for the commands' reports. */
export function describeDot(dot: Engine['dot']): string {
  if (dot.path === 'relaxed') {
    // Q8_0's signed weights take the relaxed dot only in its unsigned form (assembly/q8u8.ts)
    const q8 = dot.unsigned === 'u8-exact' ? 'on its unsigned form (u8-exact)' : `on the i16 path (unsigned form: ${dot.unsigned})`;
    return `relaxed integer dot (${dot.form} form); Q8_0 ${q8}`;
  }
  const notes = [...(dot.forced ? ['forced by --integer-dot i16'] : []), ...(dot.form === 'absent' ? [] : [`the relaxed dot's form here: ${dot.form}`])];
  return `i16 integer dot${notes.length ? ` (${notes.join('; ')})` : ''}`;
}

export function kvCacheOption(): Option {
  return new Option(
    '--kv-cache <type>',
    "how the KV cache holds keys and values: f32 (default); f16, halves (half the memory, sums in f32); f16-flash, halves summed as llama.cpp's CPU flash attention (its logits)",
  ).choices([...KV_CACHES]); // choices, as --backend's: a bad value is bad usage (exit 2), not a failed run
}

export function skipOption(): Option {
  return new Option(
    '--skip <spec>',
    'skip saturated FFNs while decoding (FFN-SkipLLM): threshold=0.95,warmup=16,coldStart=1,coldEnd=1,budget=2 ' +
      '(or ratio=0.25), static:A-B, or random:count=N; defaults suit the model depth',
  );
}

/** The --skip policy for this model, if any. */
export function skipPolicy(spec: string | undefined, model: LlamaModel): SkipPolicy | undefined {
  return spec === undefined ? undefined : asFlag(`skip spec '${spec}'`, `--skip '${spec}'`, () => parseSkip(spec, model.config.nLayers, model.config.seqLen));
}

/** Skip statistics as printed by --stats: overall and per-layer ratios, and where the cosines fell. */
export function formatSkipStats(s: SkipStats): string {
  const lines = [`skip: ${(100 * s.ratio).toFixed(1)}% of FFN blocks over ${s.tokens} decode steps`];
  s.perLayer.forEach((r, l) => {
    const h = s.cosineHistogram[l]!;
    const seen = h.reduce((a, b) => a + b, 0);
    // the occupied range of cosines, in the histogram's 0.05 bins
    const lo = h.findIndex((c) => c > 0);
    const hi = h.length - 1 - [...h].reverse().findIndex((c) => c > 0);
    const range = seen ? ` cos in [${(-1 + lo * 0.05).toFixed(2)}, ${(-1 + (hi + 1) * 0.05).toFixed(2)}]` : '';
    const above = seen ? ` ${((100 * h.slice(39).reduce((a, b) => a + b, 0)) / seen).toFixed(0)}% >= 0.95` : '';
    lines.push(`  layer ${String(l).padStart(2)}: skipped ${(100 * r).toFixed(1)}%${seen ? `,${range}${above}` : ""}`);
  });
  return `${lines.join('\n')}\n`;
}

export function expertsOption(): Option {
  return new Option('--top-k <k>', 'experts per token for a factorized (routed) model, overriding the file').argParser(numberOption('--top-k', 1, 1 << 16, true));
}

export function routingOption(): Option {
  return new Option('--routing <how>', "a factorized model's expert choice: its routers, or the oracle (the k experts closest to the dense FFN: the bound a router can reach)").choices(['router', 'oracle']);
}

function routedLayers(model: LlamaModel, option: string): RoutedLayerFfn[] {
  const routed = model.layers.map((l) => l.ffn).filter((f): f is RoutedLayerFfn => f instanceof RoutedLayerFfn);
  if (routed.length === 0) throw new FfnkitError('E_ARG', `${option}: the model is dense (no routed FFN)`);
  return routed;
}

/** Applies --top-k to every routed layer; an error for a dense model or a k above the expert count. */
export function applyTopK(model: LlamaModel, k: number | undefined): void {
  if (k === undefined) return;
  for (const f of routedLayers(model, '--top-k')) f.topK = k;
}

/** Applies --routing to every routed layer; an error for a dense model. */
export function applyRouting(model: LlamaModel, mode: RoutingMode | undefined): void {
  if (mode === undefined) return;
  for (const f of routedLayers(model, '--routing')) f.mode = mode;
}

/** Engine options from --backend, --threads and --integer-dot, leaving out what was not given (the defaults apply). */
export function engineOptions(backend: Backend | undefined, threads?: number, integerDot?: IntegerDot): EngineOptions {
  return { ...(backend ? { backend } : {}), ...(threads ? { threads } : {}), ...(integerDot ? { integerDot } : {}) };
}

/** The model, and the tokenizer from --tokenizer or else the one stored in the model file. */
export async function loadWithTokenizer(modelPath: string, tokenizerPath: string | undefined, backend: Backend | undefined, threads?: number, kvCache?: KvCache, integerDot?: IntegerDot): Promise<{ model: LlamaModel; tokenizer: Tokenizer }> {
  const progress = progressLine();
  const model = await loadModel(modelPath, {
    ...engineOptions(backend, threads, integerDot),
    ...(kvCache ? { kvCache } : {}),
    onProgress: (done, total) => progress.update(`loading ${modelPath}: ${done === 1 ? 'classifier' : `layer ${done - 1}/${total - 1}`}`),
  });
  progress.done();
  const tokenizer = tokenizerPath !== undefined ? await Tokenizer.load(tokenizerPath) : model.tokenizer;
  if (!tokenizer) {
    throw new FfnkitError('E_ARG', `--tokenizer: required, since ${modelPath} (${model.format}) stores no vocabulary`);
  }
  model.checkTokenizer(tokenizer);
  return { model, tokenizer };
}

/**
 * Refuses an output path that cannot become a file: a directory (the rename onto it would fail
 * with EBUSY or EISDIR), a pipe or device, or one in a folder that does not exist; returns the
 * file to write (a symlink's target). Commands call it before their work, so a long run does
 * not end in that error.
 */
export async function checkOutPath(path: string, option = '--out'): Promise<string> {
  const target = await outTarget(path, option);
  if ((await kind(dirname(target))) !== 'directory') throw new FfnkitError('E_ARG', `${option}: the folder ${dirname(target)} of ${path} does not exist`);
  return target;
}

async function kind(p: string): Promise<'directory' | 'file' | 'other' | 'absent'> {
  return stat(p).then((s) => (s.isDirectory() ? 'directory' : s.isFile() ? 'file' : 'other'), () => 'absent');
}

/**
 * The file an output path names: the path itself, or a symlink's target (written through, so
 * the link stays a link). A directory, a FIFO or a device (/dev/stdout) is refused: the rename
 * that makes the write atomic would replace it with a regular file.
 */
async function outTarget(path: string, option: string): Promise<string> {
  const target = await linkTarget(path);
  if (target === undefined) throw new FfnkitError('E_ARG', `${option}: ${path} is a chain of symlinks that does not end; give the path of the file to write`);
  const k = await kind(target);
  if (k === 'directory') throw new FfnkitError('E_ARG', `${option}: ${path} is a directory; give the path of the file to write`);
  if (k === 'other') throw new FfnkitError('E_ARG', `${option}: ${path} is not a regular file (a pipe, socket or device); give the path of a file to write`);
  return target;
}

/**
 * Where `path` leads: itself when it is not a symlink, the file it resolves to, or, for links to
 * a file not written yet, the path at the end of the chain (followed hop by hop); undefined for
 * a chain of more than 32 links (a loop).
 */
async function linkTarget(path: string): Promise<string | undefined> {
  let at = path;
  for (let hop = 0; hop <= 32; hop++) {
    if (!(await lstat(at).then((s) => s.isSymbolicLink(), () => false))) return at;
    const resolved = await realpath(at).catch(() => undefined);
    if (resolved !== undefined) return resolved;
    // realpath fails for a link to what is not a path (/proc/self/fd/1 of a pipe): stat follows it
    if (await stat(at).then(() => true, () => false)) return at;
    at = resolve(dirname(at), await readlink(at));
  }
  return undefined;
}

/** The temporary files being written now, removed if a signal ends the process first. */
const writing = new Set<string>();

// a signal's default action would end the process with the temporary files left behind
function interrupted(signal: NodeJS.Signals): void {
  for (const tmp of writing) rmSync(tmp, { force: true });
  process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
}

/**
 * Writes `bytes` to `path` through a temporary file beside it and a rename, so a failed or
 * interrupted run (an error, Ctrl-C, SIGTERM) leaves no partial file; `alongside` (e.g. a log)
 * runs between the two. A symlink is written through to its target. Errors name `option`.
 */
export async function writeOutAtomically(path: string, bytes: Uint8Array, alongside?: () => Promise<void>, option = '--out'): Promise<void> {
  const target = await checkOutPath(path, option);
  const tmp = `${target}.tmp-${process.pid}`;
  if (writing.size === 0) {
    process.on('SIGINT', interrupted);
    process.on('SIGTERM', interrupted);
  }
  writing.add(tmp);
  try {
    await writeFile(tmp, bytes);
    await alongside?.();
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new FfnkitError('E_ARG', `${option}: cannot write ${path} (${(e as Error).message})`);
  } finally {
    writing.delete(tmp);
    if (writing.size === 0) {
      process.off('SIGINT', interrupted);
      process.off('SIGTERM', interrupted);
    }
  }
}

/**
 * Runs `fn`; an FfnkitError about the library's argument `arg` (its message starts "arg: ", the
 * library's convention) is said of the flag that gave it instead: `--text FILE: ...`.
 */
export function asFlag<T>(arg: string, flag: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw inFlagTerms(e, { [arg]: flag });
  }
}

/** `e`, if it is an FfnkitError about one of the library's options in `flags` ("seqLen: ..."), said of its flag ("--seq-len: ..."). */
export function inFlagTerms(e: unknown, flags: Readonly<Record<string, string>>): unknown {
  if (!(e instanceof FfnkitError)) return e;
  for (const [arg, flag] of Object.entries(flags)) {
    if (e.message.startsWith(`${arg}: `)) return new FfnkitError(e.code, `${flag}: ${e.message.slice(arg.length + 2)}`);
  }
  return e;
}

/** A UTF-8 text file named by a command-line option; an E_ARG naming the option when it cannot be read. */
export async function readTextOption(path: string, option: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new FfnkitError('E_ARG', `${option}: cannot read ${path} (${(e as Error).message})`);
  }
  try {
    return utf8.decode(bytes);
  } catch {
    // reading it anyway would run on replacement characters (a model file given as --text, say)
    throw new FfnkitError('E_ARG', `${option}: ${path} is not UTF-8 text${bytes.subarray(0, 4).toString('latin1') === 'GGUF' ? ' (it is a GGUF file)' : ''}`);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * The source metadata a command's output GGUF carries (writeGguf's `metadata`): a GGUF's keys, or
 * a Hugging Face checkpoint's chat template, so a chat model written by ffnkit still chats.
 */
export function carriedMetadata(loaded: Pick<LoadedWeights<HostMatrix>, 'metadata' | 'chatVocabulary'>): GgufMetadata | undefined {
  if (loaded.metadata) return loaded.metadata;
  const template = loaded.chatVocabulary?.template;
  return template === undefined ? undefined : new Map([['tokenizer.chat_template', { type: 'string', value: template }]]);
}
