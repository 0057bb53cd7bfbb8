// `ffnkit bench tokenize`: encoding speed of a megabyte of mixed text (many scripts, code, emoji,
// whitespace runs, numbers) with the real Llama 3, Qwen3 and Gemma 3 tokenizer.json files, against
// @lenml/tokenizers (transformers.js's encoder) in the same process on the same text. The ids are
// checked equal before timing. Both encoders cache the tokens of words they have seen. With
// bench/peers installed, llama.cpp's tokenizer too, on GGUF vocabularies (bench/peers/tokenize.ts).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Tokenizer } from '../src/node/index.js';
import { mixedText } from '../test/ref/mixed-text.js';
import { type BenchLine, type BenchOptions, collector, sig3, time } from './harness.js';

const SUITE = 'tokenize';
const PACKAGES = ['tokenizer-llama3', 'tokenizer-qwen3', 'tokenizer-gemma3'];

interface Reference {
  encode(text: string, options: { add_special_tokens: boolean }): number[];
}

export async function runTokenize(opts: BenchOptions): Promise<BenchLine[]> {
  const { lines, emit, say } = collector(opts);
  let lenml: { TokenizerLoader: { fromPreTrained(o: { tokenizerJSON: unknown; tokenizerConfig: unknown }): Reference } };
  try {
    lenml = (await import('@lenml/tokenizers')) as unknown as typeof lenml;
  } catch {
    process.stderr.write('bench tokenize: @lenml/tokenizers is not installed (a devDependency): skipped\n');
    return lines;
  }
  const text = mixedText(1_000_000, 3);
  const megabytes = new TextEncoder().encode(text).length / 1e6;
  const require = createRequire(import.meta.url);
  for (const pkg of PACKAGES) {
    const dir = dirname(require.resolve(`@lenml/${pkg}/models/tokenizer.json`));
    say(`${pkg}: loading`);
    const ours = await Tokenizer.load(dir);
    const ref = lenml.TokenizerLoader.fromPreTrained({
      tokenizerJSON: JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')),
      tokenizerConfig: JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')),
    });
    // @lenml always parses special tokens and adds none with add_special_tokens false
    const encodeOurs = () => ours.encode(text, { bos: false, parseSpecial: true });
    const encodeRef = () => ref.encode(text, { add_special_tokens: false });
    const a = encodeOurs();
    const b = encodeRef();
    const same = a.length === b.length && a.every((id, i) => id === b[i]);
    const name = `${pkg.replace('tokenizer-', '')} encode ${sig3(megabytes)} MB mixed text`;
    say(`${name}: @lenml/tokenizers`);
    const tRef = time(encodeRef, opts.quick);
    say(`${name}: ffnkit`);
    const tOurs = time(encodeOurs, opts.quick);
    const refRate = megabytes / tRef.seconds;
    emit({ suite: SUITE, case: name, impl: '@lenml/tokenizers', value: sig3(refRate), unit: 'MB/s', seconds: tRef.seconds, rme: sig3(tRef.rme), samples: tRef.samples, tokens: b.length });
    emit({
      suite: SUITE, case: name, impl: 'ffnkit', value: sig3(megabytes / tOurs.seconds), unit: 'MB/s',
      bound: sig3(refRate), boundName: '@lenml/tokenizers, same process and text', share: sig3(tRef.seconds / tOurs.seconds),
      seconds: tOurs.seconds, rme: sig3(tOurs.rme), samples: tOurs.samples, tokens: a.length, sameIds: same ? 'yes' : 'NO',
    });
  }
  type Peers = { tokenizeVsLlamaCpp: (o: BenchOptions, e: (l: BenchLine) => void, s: (w: string) => void) => Promise<void> };
  let peers: Peers;
  try {
    // a separate package (bench/peers) that may not be installed: kept out of the type check
    const path = './peers/tokenize.js';
    peers = (await import(path)) as Peers;
  } catch (e) {
    process.stderr.write(`bench tokenize: llama.cpp skipped, the peer runtimes are not installed (npm --prefix bench/peers install): ${(e as Error).message.split('\n')[0]}\n`);
    return lines;
  }
  await peers.tokenizeVsLlamaCpp(opts, emit, say);
  return lines;
}
