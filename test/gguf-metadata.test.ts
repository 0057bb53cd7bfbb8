// The metadata a GGUF write carries from its source (writeGguf's `metadata`, and the four commands
// that write GGUF): the chat template and provenance keys survive quantize, finetune, factorize
// and prune; the keys ffnkit computes are the new file's; those the write made stale are gone.
// Read back by ffnkit (readGguf, `ffnkit chat --print-prompt`) and by llama.cpp (node-llama-cpp:
// its own GGUF parser, and the native loader's file type and end-of-generation tokens).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FILE_TYPES, loadModel, readGguf, readLlama2c, writeGguf, writeHfLlama, type GgufEntry, type GgufMetadata, type MetaValue } from '../src/node/index.js';
import { editGguf } from './gguf-edit.js';
import { expectFfnkitError } from './helpers.js';
import { LLAMA_CPP } from './llamacpp.js';
import { SHARED, sharedBytes, sharedPath, sharedText } from './shared.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'ffnkit.js');
const FROM_SOURCES = { ...process.env, FFNKIT_FROM_SOURCES: '1' };

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: FROM_SOURCES });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill(), 240_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code: code ?? 1, stdout, stderr });
    });
  });
}

const value = (m: GgufMetadata, key: string): MetaValue | undefined => m.get(key)?.value;

describe.skipIf(!SHARED)('GGUF metadata carried through writes', () => {
  let dir: string;
  let chatModel: string;
  const template = SHARED ? sharedText('templates', 'Qwen-Qwen2.5-7B-Instruct.jinja') : '';
  // keys a chat model from the Hub carries, and keys that describe the source's quantization
  // (as llama-quantize leaves them): the latter must not survive ffnkit's write
  const kept: Record<string, MetaValue> = {
    'tokenizer.chat_template': template,
    'general.author': 'Karpathy',
    'general.license': 'mit',
    'general.tags': ['text-generation', 'tinystories'],
    'general.size_label': '260K',
    'tokenizer.ggml.padding_token_id': 0,
    'tokenizer.ggml.eom_token_id': 100,
  };
  const stale: Record<string, MetaValue> = {
    'general.file_type': 7,
    'general.quantization_version': 2,
    'general.quantized_by': 'Someone',
    'quantize.imatrix.file': 'imatrix.dat',
    'quantize.imatrix.chunks_count': 125,
    'split.count': 1,
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ffnkit-meta-'));
    chatModel = join(dir, 'chat.gguf');
    writeFileSync(chatModel, editGguf(sharedBytes('models', 'stories260K.gguf'), { meta: { ...kept, ...stale } }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The output's metadata: the source's kept keys as they were, none of the stale ones but what the file's type implies. */
  const expectCarried = (file: string, type: keyof typeof FILE_TYPES, sameVocabulary = true) => {
    const { metadata, tokenizer } = readGguf(new Uint8Array(readFileSync(file)), file);
    for (const [k, v] of Object.entries(kept).filter(([k]) => k !== 'general.size_label')) {
      // another vocabulary's file: the source's token ids would name other tokens
      if (!sameVocabulary && k.startsWith('tokenizer.ggml.')) expect(metadata.has(k), k).toBe(false);
      else expect(value(metadata, k), k).toEqual(v);
    }
    expect(value(metadata, 'general.name')).toBe('stories260K');
    expect(value(metadata, 'tokenizer.ggml.unknown_token_id')).toBe(sameVocabulary ? 0 : undefined);
    expect(value(metadata, 'general.file_type')).toBe(FILE_TYPES[type].id);
    expect(value(metadata, 'general.quantization_version')).toBe(type === 'F32' ? undefined : 2);
    for (const k of ['general.quantized_by', 'quantize.imatrix.file', 'quantize.imatrix.chunks_count', 'split.count']) expect(metadata.has(k), k).toBe(false);
    expect(tokenizer?.vocabSize).toBe(512);
    return metadata;
  };

  test('quantize keeps the template and provenance, writes its own file type; llama.cpp loads it and reads the carried keys', async () => {
    const out = join(dir, 'q8.gguf');
    const r = await run(['quantize', '--model', chatModel, '--type', 'Q8_0', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const metadata = expectCarried(out, 'Q8_0');
    // the shape did not change: the size label still holds
    expect(value(metadata, 'general.size_label')).toBe('260K');
    // ffnkit's own chat reads the template from the new file: the prompt the template renders
    const messages = join(dir, 'm.json');
    writeFileSync(messages, JSON.stringify([{ role: 'user', content: 'Tell me a story.' }]));
    const fromFile = await run(['chat', '--model', out, '--messages', messages, '--print-prompt']);
    const fromTemplate = await run(['chat', '--model', sharedPath('models', 'stories260K.gguf'), '--template', sharedPath('templates', 'Qwen-Qwen2.5-7B-Instruct.jinja'), '--messages', messages, '--print-prompt']);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stdout).toContain('<|im_start|>user\nTell me a story.<|im_end|>');
    expect(fromFile.stdout).toBe(fromTemplate.stdout);
    const model = await loadModel(out);
    expect(model.chatVocabulary?.template).toBe(template);
    expect(model.chatVocabulary?.endOfTurn).toContain(100);

    const named = await run(['quantize', '--model', chatModel, '--type', 'Q8_0', '--quantized-by', 'ffnkit tests', '--out', join(dir, 'q8b.gguf')]);
    expect(named.code, named.stderr).toBe(0);
    expect(value(readGguf(new Uint8Array(readFileSync(join(dir, 'q8b.gguf')))).metadata, 'general.quantized_by')).toBe('ffnkit tests');

    if (!LLAMA_CPP) return;
    const entry = pathToFileURL(join(root, 'bench', 'peers', 'node_modules', 'node-llama-cpp', 'dist', 'index.js')).href;
    const { getLlama } = (await import(entry)) as { getLlama(o: object): Promise<{ loadModel(o: object): Promise<LlamaCppModel> }> };
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
    const loaded = await llama.loadModel({ modelPath: out, gpuLayers: 0 });
    try {
      // node-llama-cpp's GGUF parser
      const meta = loaded.fileInfo.metadata;
      expect(meta.tokenizer.chat_template).toBe(template);
      expect(meta.general.name).toBe('stories260K');
      expect(meta.general.tags).toEqual(['text-generation', 'tinystories']);
      expect(meta.general.file_type).toBe(FILE_TYPES.Q8_0.id);
      // llama.cpp's loader: the file type it names, the carried end-of-message token as an end of generation
      expect(loaded.typeDescription).toMatch(/Q8_0/);
      expect(loaded.isEogToken(100)).toBe(true);
      expect(loaded.isEogToken(101)).toBe(false);
    } finally {
      await loaded.dispose();
    }
  }, 300_000);

  test('finetune, factorize and prune keep the template and provenance; shape keys are computed; a reshaped model loses its size label', async () => {
    const text = join(dir, 'calib.txt');
    writeFileSync(text, sharedText('data', 'tinystories-calib.txt').slice(0, 20_000));
    const tok512 = sharedPath('models', 'tok512.bin');
    const tuned = join(dir, 'tuned.gguf');
    const factored = join(dir, 'factored.gguf');
    const pruned = join(dir, 'pruned.gguf');
    const [t, f, p] = await Promise.all([
      run(['finetune', '--model', chatModel, '--tokenizer', chatModel, '--text', text, '--steps', '2', '--batch', '2', '--seq-len', '32', '--checkpoint-every', '0', '--out', tuned]),
      run(['factorize', '--model', chatModel, '--tokenizer', chatModel, '--calib', text, '--experts', '4', '--top-k', '2', '--split', 'contiguous', '--steps', '0', '--calib-tokens', '256', '--out', factored]),
      run(['prune', '--model', chatModel, '--tokenizer', tok512, '--calib', text, '--keep', '96', '--calib-tokens', '256', '--out', pruned]),
    ]);
    expect(t.code, t.stderr).toBe(0);
    expect(f.code, f.stderr).toBe(0);
    expect(p.code, p.stderr).toBe(0);
    const tunedMeta = expectCarried(tuned, 'F32');
    expect(value(tunedMeta, 'general.size_label')).toBe('260K');
    const factoredMeta = expectCarried(factored, 'F32');
    expect(value(factoredMeta, 'llama.expert_count')).toBe(4);
    expect(value(factoredMeta, 'llama.expert_used_count')).toBe(2);
    expect(value(factoredMeta, 'llama.feed_forward_length')).toBe(43);
    expect(factoredMeta.has('general.size_label')).toBe(false);
    // prune wrote tok512.bin's vocabulary, whose BOS and EOS texts are llama2.c's ("\n<s>\n"): not
    // the source's token list, so its extra token ids are dropped (the template and general.* kept)
    const prunedMeta = expectCarried(pruned, 'F32', false);
    expect(value(prunedMeta, 'llama.feed_forward_length')).toBe(96);
    expect(prunedMeta.has('general.size_label')).toBe(false);
    for (const file of [tuned, factored, pruned]) expect((await loadModel(file)).chatVocabulary?.template, file).toBe(template);
  }, 300_000);

  test('quantize of a Hugging Face directory carries its tokenizer_config.json chat template', async () => {
    const hf = join(dir, 'hf');
    mkdirSync(hf);
    const { configJson, safetensors } = writeHfLlama(readLlama2c(sharedBytes('models', 'stories260K.bin')));
    writeFileSync(join(hf, 'config.json'), configJson);
    writeFileSync(join(hf, 'model.safetensors'), safetensors);
    writeFileSync(join(hf, 'tokenizer_config.json'), JSON.stringify({ chat_template: template }));
    const out = join(dir, 'hf-q8.gguf');
    const r = await run(['quantize', '--model', hf, '--tokenizer', sharedPath('models', 'tok512.bin'), '--type', 'Q8_0', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const { metadata } = readGguf(new Uint8Array(readFileSync(out)), out);
    expect(value(metadata, 'tokenizer.chat_template')).toBe(template);
    expect(value(metadata, 'general.file_type')).toBe(FILE_TYPES.Q8_0.id);
    expect((await loadModel(out)).chatVocabulary?.template).toBe(template);
  }, 120_000);

  test('writeGguf writes each carried key in its own GGUF type; computed keys win over carried ones', () => {
    const source = readGguf(sharedBytes('models', 'stories260K.gguf'), 'stories260K.gguf');
    const own: [string, GgufEntry][] = [
      ['example.u8', { type: 'u8', value: 200 }],
      ['example.i8', { type: 'i8', value: -5 }],
      ['example.u16', { type: 'u16', value: 65535 }],
      ['example.i16', { type: 'i16', value: -300 }],
      ['example.i32', { type: 'i32', value: -70000 }],
      ['example.u64', { type: 'u64', value: 2 ** 40 + 3 }],
      ['example.i64', { type: 'i64', value: -(2 ** 40) }],
      ['example.f64', { type: 'f64', value: 0.1 }],
      ['example.flags', { type: 'bool[]', value: [true, false] }],
      ['example.f32s', { type: 'f32[]', value: [0.5, -2] }],
      // computed: the file's architecture keys and alignment are the writer's
      ['llama.block_count', { type: 'u32', value: 9 }],
      ['general.alignment', { type: 'u32', value: 64 }],
    ];
    const metadata = new Map([...source.metadata, ...own]);
    const back = readGguf(writeGguf(source.weights, source.tokenizer!.vocabulary(), { metadata }), 'written').metadata;
    for (const [k, e] of own.slice(0, -2)) expect(back.get(k), k).toEqual(e);
    expect(back.get('llama.block_count')).toEqual({ type: 'u32', value: 5 });
    expect(back.get('general.alignment')).toEqual({ type: 'u32', value: 32 });
    // every source key but the architecture's survives with its type (tokens, scores, types: the
    // vocabulary's own, the same); the architecture keys are the writer's, which leaves out those
    // llama.cpp derives (vocab_size: the tokens' count)
    for (const [k, e] of source.metadata) {
      if (k === 'llama.vocab_size') expect(back.has(k), k).toBe(false);
      else expect(back.get(k), k).toEqual(e);
    }
  });

  test('another vocabulary: the source\'s extra token ids are dropped, the chat template kept', () => {
    const source = readGguf(editGguf(sharedBytes('models', 'stories260K.gguf'), { meta: { 'tokenizer.chat_template': template, 'tokenizer.ggml.padding_token_id': 3 } }), 'chat');
    const vocab = source.tokenizer!.vocabulary();
    vocab.pieces[300] = `${vocab.pieces[300]}x`;
    const back = readGguf(writeGguf(source.weights, vocab, { metadata: source.metadata }), 'written').metadata;
    expect(value(back, 'tokenizer.chat_template')).toBe(template);
    expect(back.has('tokenizer.ggml.padding_token_id')).toBe(false);
    expect(back.has('tokenizer.ggml.unknown_token_id')).toBe(false);
    expect(value(back, 'tokenizer.ggml.tokens')).toEqual(vocab.pieces.map((p) => p.replace(/ /g, '\u2581')));
  });

  test('a carried value the writer cannot write is an FfnkitError naming the key; the command writes nothing', async () => {
    const source = readGguf(sharedBytes('models', 'stories260K.gguf'), 'stories260K.gguf');
    const write = (key: string, e: GgufEntry) => () => writeGguf(source.weights, source.tokenizer!.vocabulary(), { metadata: new Map([[key, e]]) });
    expectFfnkitError(write('general.count', { type: 'u8', value: 300 }), /metadata general\.count: 300 is not a u8/, 'E_ARG');
    expectFfnkitError(write('general.name', { type: 'string', value: 5 }), /metadata general\.name: 5 is not a string/, 'E_ARG');
    expectFfnkitError(write('general.tags', { type: 'string[]', value: 'x' }), /metadata general\.tags: x is not an array/, 'E_ARG');
    expectFfnkitError(write('general.odd', { type: 'f16' as GgufEntry['type'], value: 1 }), /metadata general\.odd has type 'f16'/, 'E_ARG');
    // an array of arrays is read, but llama.cpp's reader refuses it and the writer does not write it
    const nested = join(dir, 'nested.gguf');
    writeFileSync(nested, editGguf(sharedBytes('models', 'stories260K.gguf'), { meta: { 'general.matrix': [[1, 2], [3, 4]] } }));
    expect(readGguf(new Uint8Array(readFileSync(nested))).metadata.get('general.matrix')?.type).toBe('array[]');
    const out = join(dir, 'never.gguf');
    const r = await run(['quantize', '--model', nested, '--type', 'Q8_0', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/metadata general\.matrix is of GGUF type array of arrays/);
    expect(existsSync(out)).toBe(false);
  }, 120_000);
});

interface LlamaCppModel {
  fileInfo: { metadata: { tokenizer: { chat_template?: string }; general: { name?: string; tags?: string[]; file_type?: number } } };
  typeDescription: string;
  isEogToken(token: number): boolean;
  dispose(): Promise<void>;
}
