// The transformers.js comparison in `bench peers` (bench/peers/transformers-*.ts) gives both
// runtimes the same work only if transformers.js reads the exported folder as ffnkit reads the
// model: the tokenizer.json converted from a llama2.c vocabulary must give the ids llama.cpp's
// tokenizer vectors and llama2.c's run.c give, and the exported ONNX graph the golden greedy text.
// transformers.js lives in bench/peers, its own package: without it these skip with a message.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { LlamaModel, Tokenizer, readGguf } from '../src/node/index.js';
import { maxAbsDiff } from '../testing/compare.js';
import { htmlReport } from '../bench/report.js';
import { writeTokenizerFiles, writeTransformersModel } from '../bench/peers/transformers-export.js';
import { SHARED, sharedBytes, sharedJson, sharedPath, sharedText } from './shared.js';

const peers = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'bench', 'peers');
const INSTALLED = existsSync(join(peers, 'node_modules', '@huggingface', 'transformers', 'package.json'));
if (!INSTALLED) console.warn('SKIPPING transformers.js checks: @huggingface/transformers is not installed (npm --prefix bench/peers ci)');

interface PeerModule {
  transformersTokenizer(folder: string): Promise<{ encode(text: string): number[]; decode(ids: number[]): string }>;
  transformersNode(folder: string, dtype: 'fp32' | 'q8', threads: number): Promise<{
    tokenize(texts: string[]): Promise<number[][]>;
    greedy(prompt: string, steps: number): Promise<{ ids: number[] }>;
    close(): Promise<void>;
  }>;
}
/** bench/peers/transformers.ts, loaded only here: it imports transformers.js, which the root package does not have. */
const peerModule = () => import(pathToFileURL(join(peers, 'transformers.ts')).href) as Promise<PeerModule>;

/** transformers.js's tokenizer of the tokenizer files written for a llama2.c vocabulary. */
async function converted(dir: string, vocabulary: string) {
  const folder = join(dir, vocabulary.replace('.bin', ''));
  writeTokenizerFiles(folder, Tokenizer.fromLlama2c(sharedBytes('models', vocabulary)), 512);
  return (await peerModule()).transformersTokenizer(folder);
}

describe.skipIf(!INSTALLED || !SHARED)('transformers.js reads the exported folder as ffnkit reads the model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ffnkit-transformers-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('tok512: the ids of run.c (golden) and of ffnkit, and the same text back', async () => {
    const golden = sharedJson<{ encode: { text: string; ids: number[] }[] }>('golden', 'stories260K-greedy.json').encode;
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    const hf = await converted(dir, 'tok512.bin');
    const theirs = golden.map((g) => hf.encode(g.text));
    golden.forEach((g, i) => {
      expect(theirs[i], JSON.stringify(g.text)).toEqual(g.ids);
      expect(tok.encode(g.text)).toEqual(g.ids);
      expect(hf.decode(theirs[i]!)).toBe(tok.decode(g.ids));
    });
  });

  test('the 32k Llama 2 vocabulary: llama.cpp\'s SPM vectors, run.c\'s encodings and a story, as ffnkit', async () => {
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tokenizer.bin'));
    const hf = await converted(dir, 'tokenizer.bin');
    // llama.cpp's vectors for this vocabulary: ids without BOS, one line per string
    const inputs = sharedText('vocab', 'ggml-vocab-llama-spm.gguf.inp').split('\n__ggml_vocab_test__\n');
    const expected = sharedText('vocab', 'ggml-vocab-llama-spm.gguf.out').split('\n').slice(0, inputs.length).map((l) => l.trim() === '' ? [] : l.trim().split(/\s+/).map(Number));
    const runc = sharedJson<{ encode: { text: string; ids: number[] }[] }>('golden', 'tokenizer32k-encode.json').encode;
    const story = readFileSync(sharedPath('data', 'tinystories-eval.txt'), 'utf8').split(/\n\s*\n/)[1]!;
    const texts = [...inputs, ...runc.map((r) => r.text), story];
    const want = [...expected.map((ids) => [1, ...ids]), ...runc.map((r) => r.ids), tok.encode(story)];
    const theirs = texts.map((t) => hf.encode(t));
    expect(inputs.length).toBeGreaterThan(40);
    texts.forEach((t, i) => {
      expect(theirs[i], JSON.stringify(t)).toEqual(want[i]);
      expect(tok.encode(t), JSON.stringify(t)).toEqual(want[i]);
    });
    expect(hf.decode(theirs.at(-1)!)).toBe(tok.decode(want.at(-1)!));
  });

  test('stories260K exported to ONNX: transformers.js on onnxruntime-node generates the golden greedy tokens', async () => {
    const golden = sharedJson<{ greedy: { prompt: string; ids: number[] }[] }>('golden', 'stories260K-greedy.json').greedy;
    const weights = readGguf(sharedBytes('models', 'stories260K.gguf')).weights;
    const folder = join(dir, 'stories260K');
    writeTransformersModel(folder, weights, Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin')), 'fp32');
    const { transformersNode } = await peerModule();
    const peer = await transformersNode(folder, 'fp32', 1);
    try {
      for (const g of golden) {
        const prompt = (await peer.tokenize([g.prompt]))[0]!;
        expect((await peer.greedy(g.prompt, g.ids.length - prompt.length)).ids, g.prompt).toEqual(g.ids);
      }
    } finally {
      await peer.close();
    }
  });

  test('the exported f32 graph gives ffnkit\'s logits at every position, from an empty cache and one step on the cache', async () => {
    const ort = await import('onnxruntime-node');
    const weights = readGguf(sharedBytes('models', 'stories260K.gguf')).weights;
    const c = weights.config;
    const tok = Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin'));
    const folder = join(dir, 'stories260K-logits');
    writeTransformersModel(folder, weights, tok, 'fp32');
    const session = await ort.InferenceSession.create(join(folder, 'onnx', 'model.onnx'));
    const ids = tok.encode('Once upon a time there was a little girl');
    const longs = (values: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);
    const run = (tokens: number[], past: number, keep: number, cache?: Record<string, unknown>) => {
      const feeds: Record<string, unknown> = {
        input_ids: longs(tokens, [1, tokens.length]),
        attention_mask: longs(new Array(past + tokens.length).fill(1), [1, past + tokens.length]),
        position_ids: longs(tokens.map((_, i) => past + i), [1, tokens.length]),
        num_logits_to_keep: new ort.Tensor('int64', BigInt64Array.of(BigInt(keep)), []),
      };
      for (let l = 0; l < c.nLayers; l++) {
        for (const kind of ['key', 'value']) {
          feeds[`past_key_values.${l}.${kind}`] = cache?.[`present.${l}.${kind}`] ?? new ort.Tensor('float32', new Float32Array(0), [1, c.nKvHeads, 0, c.dim / c.nHeads]);
        }
      }
      return session.run(feeds as never);
    };
    const model = await LlamaModel.create(weights, { backend: 'scalar' });
    const ours = model.forward(ids, { allLogits: true });
    const all = await run(ids, 0, 0);
    expect(all.logits!.dims).toEqual([1, ids.length, c.vocabSize]);
    expect(maxAbsDiff(all.logits!.data as Float32Array, ours)).toBeLessThan(1e-4);
    // the prompt but its last token, then that token on the cache (only its logits kept)
    const prefix = await run(ids.slice(0, -1), 0, 1);
    expect(prefix.logits!.dims).toEqual([1, 1, c.vocabSize]);
    const step = await run(ids.slice(-1), ids.length - 1, 1, prefix);
    expect(step['present.0.key']!.dims).toEqual([1, c.nKvHeads, ids.length, c.dim / c.nHeads]);
    expect(maxAbsDiff(step.logits!.data as Float32Array, ours.subarray((ids.length - 1) * c.vocabSize))).toBeLessThan(1e-4);
    model.engine.close();
  });

  test('stories260K in 8 bits (onnx/model_quantized.onnx, dtype q8): dynamic int8 matmuls that follow the golden text', async () => {
    const golden = sharedJson<{ greedy: { prompt: string; ids: number[] }[] }>('golden', 'stories260K-greedy.json').greedy;
    const weights = readGguf(sharedBytes('models', 'stories260K.gguf')).weights;
    const folder = join(dir, 'stories260K-q8');
    writeTransformersModel(folder, weights, Tokenizer.fromLlama2c(sharedBytes('models', 'tok512.bin')), 'q8');
    expect(existsSync(join(folder, 'onnx', 'model_quantized.onnx'))).toBe(true);
    expect(existsSync(join(folder, 'onnx', 'model.onnx'))).toBe(false);
    const graph = readFileSync(join(folder, 'onnx', 'model_quantized.onnx')).toString('latin1');
    // 7 weight matrices per layer and the classifier, each its own MatMulInteger node
    expect(graph.match(/MatMulInteger/g)?.length).toBe(7 * weights.config.nLayers + 1);
    expect(graph).toContain('DynamicQuantizeLinear');
    const { transformersNode } = await peerModule();
    const peer = await transformersNode(folder, 'q8', 1);
    try {
      for (const g of golden) {
        const prompt = (await peer.tokenize([g.prompt]))[0]!;
        const ids = (await peer.greedy(g.prompt, 24)).ids;
        // per-tensor int8 weights and activations part from the f32 text within some tokens
        // (measured: after 23, 78 and 37 of them); a broken graph parts at the first
        expect(ids.slice(0, prompt.length + 16), g.prompt).toEqual(g.ids.slice(0, prompt.length + 16));
      }
    } finally {
      await peer.close();
    }
  });
});

test('the report labels transformers.js rows in full and gives ffnkit\'s speed-up over them', () => {
  const impl = 'transformers.js 4.3.2 wasm (onnxruntime-web 1.31.0-dev.20260914-8d85527a0, Chromium)';
  const html = htmlReport('peers', [
    { suite: 'peers', case: 'decode m', impl: 'ffnkit-relaxed', value: 40, unit: 'tokens/s' },
    { suite: 'peers', case: 'decode m', impl, value: 10, unit: 'tokens/s', ffnkitSpeedup: 4.1, ffnkitChromiumSpeedup: 5.2 },
  ], 'machine', 'cmd');
  const svg = /<svg width="(\d+)"[^>]*>(.*?)<\/svg>/s.exec(html)!;
  const labelEnd = Number(/<text x="(\d+)" y="\d+" text-anchor="end">transformers/.exec(svg[2]!)![1]);
  expect(labelEnd).toBeGreaterThan(impl.length * 6); // the label's start stays inside the chart
  expect(Number(svg[1])).toBeGreaterThan(labelEnd);
  expect(svg[2]).toContain('10 (ffnkit 4.1x, in Chromium 5.2x)');
  expect(svg[2]).not.toContain('40 (ffnkit');
});
