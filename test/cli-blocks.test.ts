// The command line on files in ggml block types, run as a user runs it: `logits` (the
// conformance contract of DESIGN.md), `info` (the types and the integer dot path), factorize and
// finetune reading a Q4_K_M file, and a factorized model quantized to Q4_K_M, whose experts' w2
// rows are not whole Q4_K blocks and fall back (said on stderr), then run with its experts in blocks.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { RoutedLayerFfn } from '../src/entries/factor.js';
import { LlamaModel, loadModel, readGguf, weightType } from '../src/node/index.js';
import { againstReference } from './llamacpp.js';
import { SHARED, sharedJson, sharedPath } from './shared.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'ffnkit.js');
const FROM_SOURCES = { ...process.env, FFNKIT_FROM_SOURCES: '1' };

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000, env: FROM_SOURCES, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe.skipIf(!SHARED)('block-type files on the command line', () => {
  const q4km = sharedPath('models', 'fixtures', 'fixture-llama-q4_k_m.gguf');

  test('logits --ids --json: one row of V floats per id from an empty cache, within 0.15 x std of llama.cpp\'s rows', async () => {
    const g = sharedJson<Record<string, { tokens: number[]; vocab: number; logits: number[][] }>>('golden', 'llamacpp-fixtures.json')['fixture-llama-q4_k_m.gguf']!;
    const ids = g.tokens.slice(0, 3);
    const r = await run(['logits', '--model', q4km, '--ids', ids.join(','), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { vocab: number; logits: number[][] };
    expect(out.vocab).toBe(512);
    expect(out.logits.map((row) => row.length)).toEqual([512, 512, 512]);
    const { maxDiffOverStd } = againstReference(out.logits.map((row) => Float32Array.from(row)), g.logits.slice(0, 3).map((row) => Float32Array.from(row)));
    expect(maxDiffOverStd).toBeLessThanOrEqual(0.15);
  });

  test('info names the file\'s types, that each runs in its own, and the integer dot path', async () => {
    const r = await run(['info', '--model', q4km, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout) as { weights: string; dot: string; dotForm: string; dotUnsigned: string; backend: string };
    expect(info.weights).toBe('q4_k+q6_k');
    expect(['i16', 'relaxed']).toContain(info.dot);
    // Node 20's relaxed dot saturates on unsigned bytes past 127 (no VNNI form), so Q8_0 keeps the i16 path
    expect(info.dotUnsigned).toBe(info.backend === 'relaxed' ? 'other' : 'absent');
    const text = await run(['info', '--model', q4km, '--backend', 'simd']);
    expect(text.stdout).toMatch(/weights +q4_k\+q6_k \(each matrix runs in its own type\)/);
    expect(text.stdout).toMatch(/kernels +simd build, i16 integer dot\n/);
    if (info.dot === 'relaxed') {
      // the relaxed path's report says where Q8_0 runs, which its signed weights decide apart
      const relaxed = await run(['info', '--model', q4km, '--backend', 'relaxed']);
      expect(relaxed.stdout).toMatch(/kernels +relaxed build, relaxed integer dot \([a-z-]+ form\); Q8_0 on the i16 path \(unsigned form: other\)\n/);
    }
  });

  test('factorize and finetune read a Q4_K_M file (dequantized for the analysis); quantized to Q4_K_M, the experts\' w2 falls back to a type its 192-wide rows fit and runs in blocks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ffnkit-blocks-'));
    try {
      const calib = sharedPath('data', 'tinystories-calib.txt');
      const f = join(dir, 'f.gguf');
      const fz = await run(['factorize', '--model', q4km, '--tokenizer', q4km, '--calib', calib, '--experts', '4', '--top-k', '2', '--split', 'contiguous', '--steps', '0', '--out', f]);
      expect(fz.code, fz.stderr).toBe(0);
      const ft = await run(['finetune', '--model', q4km, '--tokenizer', q4km, '--text', calib, '--steps', '1', '--batch', '1', '--seq-len', '16', '--out', join(dir, 't.gguf')]);
      expect(ft.code, ft.stderr).toBe(0);
      const q = join(dir, 'q.gguf');
      const qz = await run(['quantize', '--model', f, '--type', 'Q4_K_M', '--out', q]);
      expect(qz.code, qz.stderr).toBe(0);
      // llama.cpp's fallbacks for rows of 192: Q4_K -> Q5_0, Q6_K -> Q8_0
      expect(qz.stderr).toMatch(/rows that are not whole blocks fell back:\n {2}Q4_K -> Q5_0 \(rows of 192\): 1 tensor, e\.g\. blk\.0\.ffn_down_exps\.weight\n {2}Q6_K -> Q8_0 \(rows of 192\): 1 tensor, e\.g\. blk\.1\.ffn_down_exps\.weight/);
      const bytes = new Uint8Array(readFileSync(q));
      const { weights } = readGguf(bytes, 'q.gguf', { blocks: 'runnable' });
      const routed = weights.layers[0]!.routed!;
      expect([routed.w1, routed.w3, routed.w2].map((m) => (m instanceof Float32Array ? 'F32' : m.type))).toEqual(['Q4_K', 'Q4_K', 'Q5_0']);
      expect(weightType(weights)).toMatch(/q4_k/);
      // the experts run in their blocks, near the same model dequantized to float32
      const blocks = await loadModel(q);
      expect(blocks.ffns[0]).toBeInstanceOf(RoutedLayerFfn);
      const f32 = await LlamaModel.create(readGguf(bytes, 'q.gguf').weights, { engine: blocks.engine });
      expect((blocks.ffns[0] as RoutedLayerFfn).bytesPerToken()).toBeLessThan(0.3 * (f32.ffns[0] as RoutedLayerFfn).bytesPerToken());
      // every expert on (k = E): no routing choice for a rounding to flip
      for (const m of [blocks, f32]) for (const ffn of m.ffns) (ffn as RoutedLayerFfn).topK = 4;
      const ids = [1, 403, 407, 260, 92, 301];
      const got = blocks.forward(ids, { allLogits: true });
      const want = f32.forward(ids, { allLogits: true });
      const rows = (a: Float32Array) => Array.from({ length: ids.length }, (_, p) => a.subarray(p * 512, (p + 1) * 512));
      expect(againstReference(rows(got), rows(want)).maxDiffOverStd).toBeLessThan(0.15);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
