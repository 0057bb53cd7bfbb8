// The command line contract of DESIGN.md, run as a user runs it: a child process per command.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test, vi } from 'vitest';
import { SHARED, sharedJson, sharedPath } from './shared.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'ffnkit.js');
/** The launcher runs the TypeScript sources under test, not a dist/ that may be stale. */
const FROM_SOURCES = { ...process.env, FFNKIT_FROM_SOURCES: '1' };

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000, env: FROM_SOURCES }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('ffnkit without a model', () => {
  test('--version prints the version in package.json', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version);
  });

  test('bench where the suites are absent (an installed package) says they run from a checkout', async () => {
    const { main } = await import('../src/cli/main.js');
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['node', 'ffnkit', 'bench', 'kernels', '--quick'])).toBe(1);
      expect(String(stderr.mock.calls[0]?.[0])).toMatch(/^ffnkit: bench: the benchmark suites are not part of the installed package; they run from a checkout/);
    } finally {
      stderr.mockRestore();
    }
  });
});

describe.skipIf(!SHARED)('ffnkit commands', () => {
  const model = sharedPath('models', 'stories260K.bin');
  const tokenizer = sharedPath('models', 'tok512.bin');

  test('generate --ids prints the golden greedy ids, BOS and prompt included', async () => {
    const g = sharedJson<{ greedy: { prompt: string; ids: number[] }[] }>('golden', 'stories260K-greedy.json').greedy[1]!;
    const prompt = g.ids.length - 1; // generous: the run stops at the golden length below
    const r = await run(['generate', '--model', model, '--tokenizer', tokenizer, '--prompt', g.prompt, '--temperature', '0', '--max-tokens', String(prompt), '--ids']);
    expect(r.code).toBe(0);
    const ids = r.stdout.trim().split(' ').map(Number);
    expect(ids.slice(0, g.ids.length)).toEqual(g.ids);
    expect(r.stderr).toMatch(/tokens\/s/);
  });

  test('generate streams text; the GGUF model brings its own vocabulary', async () => {
    const r = await run(['generate', '--model', sharedPath('models', 'stories260K.gguf'), '--prompt', 'Once upon a time', '--temperature', '0', '--max-tokens', '20']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Once upon a time, there was a little girl named Lily\./);
  });

  test('eval --json prints one object with the golden NLL', async () => {
    const r = await run(['eval', '--model', model, '--tokenizer', tokenizer, '--text', sharedPath('data', 'tinystories-eval.txt'), '--json']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const o = JSON.parse(lines[0]!) as { tokens: number; nll: number; ppl: number; seconds: number };
    expect(Object.keys(o)).toEqual(['tokens', 'nll', 'ppl', 'seconds']);
    expect(o.tokens).toBe(4868);
    expect(Math.abs(o.nll - 1.671717)).toBeLessThan(1e-4);
  });

  test('eval --threads 2 prints the same NLL as one thread; a bad --threads is bad usage', async () => {
    const args = ['eval', '--model', model, '--tokenizer', tokenizer, '--text', sharedPath('data', 'tinystories-eval.txt'), '--json'];
    const one = JSON.parse((await run(args)).stdout) as { nll: number };
    const two = await run([...args, '--threads', '2']);
    expect(two.code, two.stderr).toBe(0);
    expect((JSON.parse(two.stdout) as { nll: number }).nll).toBe(one.nll);
    expect((await run([...args, '--threads', '0'])).code).toBe(2);
  });

  test('info shows the shapes and parameter count', async () => {
    const r = await run(['info', '--model', model, '--json']);
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(o).toMatchObject({ format: 'llama2c', dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, parameters: 260032, fileBytes: 1056540 });
  });

  test("tokenize prints llama.cpp's ids for a GGUF vocabulary and a tokenizer.bin; exactly one of --strings and --text", async () => {
    const vocab = sharedPath('vocab', 'ggml-vocab-gpt-2.gguf');
    const strings = readFileSync(`${vocab}.inp`, 'utf8').split('\n__ggml_vocab_test__\n').slice(0, -1);
    const ids = readFileSync(`${vocab}.out`, 'utf8').split('\n').slice(0, strings.length).map((l) => (l.trim() ? l.trim().split(/\s+/).map(Number) : []));
    const dir = mkdtempSync(join(tmpdir(), 'ffnkit-tokenize-'));
    try {
      writeFileSync(join(dir, 'strings.json'), JSON.stringify(strings));
      const r = await run(['tokenize', '--tokenizer', vocab, '--strings', join(dir, 'strings.json')]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual(ids);
      writeFileSync(join(dir, 'bad.json'), '{"not": "an array"}');
      const bad = await run(['tokenize', '--tokenizer', vocab, '--strings', join(dir, 'bad.json')]);
      expect([bad.code, bad.stderr]).toEqual([1, expect.stringMatching(/--strings: .*bad\.json must hold a JSON array of strings/)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const golden = sharedJson<{ encode: { text: string; ids: number[] }[] }>('golden', 'stories260K-greedy.json').encode[0]!;
    const mine = await run(['tokenize', '--tokenizer', tokenizer, '--text', golden.text]);
    expect(JSON.parse(mine.stdout)).toEqual(golden.ids.slice(1)); // the golden ids start with BOS
    expect((await run(['tokenize', '--tokenizer', tokenizer])).code).toBe(2);
    expect((await run(['tokenize', '--tokenizer', tokenizer, '--text', 'a', '--strings', 'x.json'])).code).toBe(2);
  });

  test('errors: exit 1 with the message and no stack; bad usage exits 2', async () => {
    const missing = await run(['eval', '--model', model, '--text', sharedPath('data', 'tinystories-eval.txt')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ffnkit: --tokenizer: required/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    const nofile = await run(['info', '--model', '/nonexistent.bin']);
    expect(nofile.code).toBe(1);
    expect(nofile.stderr).toMatch(/cannot read \/nonexistent.bin/);
    const long = await run(['generate', '--model', model, '--tokenizer', tokenizer, '--prompt', 'a b '.repeat(400)]);
    expect(long.code).toBe(1);
    expect(long.stderr).toMatch(/exceed the model's context of 512/);
    expect((await run(['generate', '--model', model])).code).toBe(2);
    expect((await run(['generate', '--model', model, '--prompt', 'x', '--max-tokens', '-3'])).code).toBe(2);
    expect((await run(['frobnicate'])).code).toBe(2);
    expect((await run(['--help'])).code).toBe(0);
  });
  test('quantize writes a Q8_0 GGUF with the vocabulary that eval reads; Q4_K_M gives llama.cpp\'s mix with its row fallbacks; bad --type is bad usage; a failure leaves nothing at --out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ffnkit-quantize-'));
    try {
      const out = join(dir, 'q8.gguf');
      const q = await run(['quantize', '--model', model, '--tokenizer', tokenizer, '--out', out]);
      expect(q.code).toBe(0);
      // stories260K's rows of 172 (ffn_down) are not whole 32-blocks: F16, llama.cpp's last resort
      // 5 layers x 7 matrices + the tied embedding; 11 norms stay F32
      expect(q.stderr).toMatch(/Q8_0: tensors 31 Q8_0, 11 F32, 5 F16/);
      expect(q.stderr).toMatch(/Q8_0 -> F16 \(rows of 172\): 5 tensors, e\.g\. blk\.0\.ffn_down\.weight \(llama-quantize refuses/);
      const e = await run(['eval', '--model', out, '--text', sharedPath('data', 'tinystories-eval.txt'), '--json']);
      expect(e.code).toBe(0);
      const { ppl } = JSON.parse(e.stdout) as { ppl: number };
      const ref = sharedJson<{ results: { text: string; ppl: number }[] }>('golden', 'stories260K-ppl.json').results.find((r) => r.text.endsWith('tinystories-eval.txt'))!.ppl;
      expect(Math.abs(ppl / ref - 1)).toBeLessThan(0.01);
      const info = JSON.parse((await run(['info', '--model', out, '--json'])).stdout) as { weights: string; wasmBytes: number };
      expect(info.weights).toBe('q8_0+f16'); // the file's types: eval above ran on the int8 blocks, the F16 rows widened
      const k = await run(['quantize', '--model', model, '--tokenizer', tokenizer, '--out', join(dir, 'q4km.gguf'), '--type', 'q4_k_m']);
      expect(k.code).toBe(0);
      // rows of 64 are not whole 256-blocks: Q4_K falls back to Q5_0, Q6_K (attn_v and ffn_down of
      // layers 2 and 4, llama.cpp's "more bits" layers of 5) to Q8_0; the tied embedding is the
      // output, Q8_0 for rows that are not 256-blocks
      expect(k.stderr).toMatch(/Q4_K_M: tensors 3 Q8_0, 11 F32, 28 Q5_0, 5 F16/);
      expect(k.stderr).toMatch(/Q4_K -> Q5_0 \(rows of 64\): 28 tensors/);
      expect(k.stderr).toMatch(/Q6_K -> Q8_0 \(rows of 64\): 2 tensors, e\.g\. blk\.2\.attn_v\.weight\n/);
      expect(k.stderr).toMatch(/Q6_K -> F16 \(rows of 172\): 2 tensors, e\.g\. blk\.2\.ffn_down\.weight\n/);
      expect((await run(['quantize', '--model', model, '--out', join(dir, 'x.gguf'), '--type', 'q4_9'])).code).toBe(2);
      // Q8_0 blocks are not requantized to Q4_0 unless asked: exit 1, and nothing written
      const r = await run(['quantize', '--model', out, '--out', join(dir, 'r.gguf'), '--type', 'q4_0']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/tensors are in Q8_0 blocks already \(e\.g\. blk\.0\.attn_q\.weight\); requantizing them loses accuracy twice: run with --allow-requantize/);
      expect(readdirSync(dir).sort()).toEqual(['q4km.gguf', 'q8.gguf']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('finetune: factorize, fine-tune with a checkpoint and loss log, resume it to the same file, eval the result; a foreign checkpoint is refused and writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ffnkit-finetune-'));
    try {
      const text = sharedPath('data', 'tinystories-calib.txt');
      const f = join(dir, 'f.gguf');
      expect((await run(['factorize', '--model', model, '--tokenizer', tokenizer, '--calib', text, '--experts', '4', '--top-k', '2', '--split', 'contiguous', '--steps', '0', '--out', f])).code).toBe(0);
      const base = ['finetune', '--model', f, '--tokenizer', tokenizer, '--text', text, '--steps', '4', '--batch', '2', '--seq-len', '32', '--checkpoint-every', '2'];
      const g = join(dir, 'g.gguf');
      const ft = await run([...base, '--out', g, '--log', join(dir, 'loss.jsonl'), '--checkpoint', join(dir, 'g.ckpt')]);
      expect(ft.code, ft.stderr).toBe(0);
      expect(ft.stderr).toMatch(/wrote .*g\.gguf: 4 steps, final loss [\d.]+ .* tokens\/s, wasm memory \d+ MiB, peak RSS \d+ MiB/);
      const log = readFileSync(join(dir, 'loss.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; lm: number });
      expect(log.map((l) => l.step)).toEqual([1, 2, 3, 4]);
      // two threads: the same file (the matrix products split without changing a bit)
      const threaded = await run([...base, '--threads', '2', '--out', join(dir, 't.gguf'), '--checkpoint', join(dir, 't.ckpt')]);
      expect(threaded.code, threaded.stderr).toBe(0);
      expect(readFileSync(join(dir, 't.gguf')).equals(readFileSync(g))).toBe(true);
      // resuming the final checkpoint runs no step and writes the same model (mid-run resumes: test/finetune.test.ts)
      const r = await run([...base, '--out', join(dir, 'r.gguf'), '--resume', join(dir, 'g.ckpt')]);
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(join(dir, 'r.gguf')).equals(readFileSync(g))).toBe(true);
      const e = await run(['eval', '--model', g, '--text', sharedPath('data', 'tinystories-eval.txt'), '--json']);
      expect(e.code).toBe(0);
      expect(Number.isFinite((JSON.parse(e.stdout) as { ppl: number }).ppl)).toBe(true);
      // training on text sampled from the factorized model's teacher, without a text file
      const sampled = await run(['finetune', '--model', f, '--tokenizer', tokenizer, '--teacher-text', '2000', '--steps', '2', '--batch', '2', '--seq-len', '32', '--out', join(dir, 's.gguf')]);
      expect(sampled.code, sampled.stderr).toBe(0);
      expect(sampled.stderr).toMatch(/sampled 2000 tokens of the teacher's text \(\d+ stories\)/);
      expect(existsSync(join(dir, 's.gguf'))).toBe(true);
      const nothing = await run(['finetune', '--model', f, '--tokenizer', tokenizer, '--steps', '2', '--out', join(dir, 'n.gguf')]);
      expect(nothing.code).toBe(1);
      expect(nothing.stderr).toMatch(/--text or --teacher-text: nothing to train on/);
      const foreign = await run(['finetune', '--model', model, '--tokenizer', tokenizer, '--text', text, '--steps', '4', '--batch', '2', '--seq-len', '32', '--out', join(dir, 'x.gguf'), '--resume', join(dir, 'g.ckpt')]);
      expect(foreign.code).toBe(1);
      expect(foreign.stderr).toMatch(/made from another model/);
      expect(existsSync(join(dir, 'x.gguf'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
