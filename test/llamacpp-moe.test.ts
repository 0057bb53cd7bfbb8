// FactorLLM files that leave ffnkit: `ffnkit factorize --llamacpp` writes a GGUF that llama.cpp
// (node-llama-cpp, native) loads and runs with ffnkit's logits; the combinations llama.cpp does
// not compute keep their router bias, which llama.cpp refuses rather than misreads.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { LlamaModel, Tokenizer, loadModel, parseGguf, readGguf, type LlamaWeights } from '../src/node/index.js';
import { LLAMA_CPP, againstReference, llamaCppLogits } from './llamacpp.js';
import { SHARED, sharedPath, sharedText } from './shared.js';

const bin = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'bin', 'ffnkit.js');
const FROM_SOURCES = { ...process.env, FFNKIT_FROM_SOURCES: '1' }; // the sources under test, not dist/
const run = (args: string[]) =>
  new Promise<{ code: number; stderr: string }>((done) =>
    execFile(process.execPath, [bin, ...args], { timeout: 120_000, env: FROM_SOURCES }, (e, _out, stderr) => done({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stderr })),
  );
const factorize = (out: string, extra: string[]) => run([
  'factorize', '--model', sharedPath('models', 'stories260K.bin'), '--tokenizer', sharedPath('models', 'tok512.bin'),
  '--calib', sharedPath('data', 'tinystories-calib.txt'), '--experts', '4', '--top-k', '2', '--split', 'kmeans',
  '--steps', '40', '--calib-tokens', '1024', '--out', out, ...extra,
]);

describe.skipIf(!SHARED)('factorized files for llama.cpp', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ffnkit-llamacpp-moe-'));

  test('--llamacpp writes the weighted combination, no router bias, and the expert counts llama.cpp reads', async () => {
    const out = join(dir, 'moe.gguf');
    const r = await factorize(out, ['--llamacpp']);
    expect(r.stderr).toContain('weighted combination');
    expect(r.code).toBe(0);
    const file = parseGguf(new Uint8Array(readFileSync(out)));
    expect(file.metadata.get('llama.expert_count')).toBe(4);
    expect(file.metadata.get('llama.expert_used_count')).toBe(2);
    expect(file.metadata.get('ffnkit.combination')).toBe('weighted');
    const names = file.tensors.map((t) => t.name);
    expect(names.filter((n) => n.endsWith('ffn_gate_inp.weight'))).toHaveLength(5);
    expect(names.filter((n) => n.endsWith('ffn_gate_inp.bias'))).toEqual([]);
  });

  test('--llamacpp refuses the combinations llama.cpp does not compute, and writes nothing', async () => {
    const out = join(dir, 'sum.gguf');
    const r = await factorize(out, ['--llamacpp', '--combination', 'sum']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--combination sum: llama.cpp weights the chosen experts/);
    expect(existsSync(out)).toBe(false);
  });

  test('a sum-combination file keeps its router bias (so llama.cpp refuses it)', async () => {
    const out = join(dir, 'sum-ffnkit.gguf');
    expect((await factorize(out, ['--steps', '0'])).code).toBe(0);
    const names = parseGguf(new Uint8Array(readFileSync(out))).tensors.map((t) => t.name);
    expect(names.filter((n) => n.endsWith('ffn_gate_inp.bias'))).toHaveLength(5);
    if (LLAMA_CPP) await expect(llamaCppLogits(out, [1, 403], 512)).rejects.toThrow();
  });

  test.skipIf(!LLAMA_CPP)('llama.cpp runs the --llamacpp file with the logits ffnkit computes', async () => {
    const out = join(dir, 'moe.gguf');
    if (!existsSync(out)) expect((await factorize(out, ['--llamacpp'])).code).toBe(0);
    const model = await loadModel(out);
    const weights = readGguf(new Uint8Array(readFileSync(out))).weights;
    // Top-k routing is a discrete choice: where a router's k-th and (k+1)-th logits nearly tie,
    // llama.cpp's f16 KV cache decides it differently and every later position differs. So
    // compare on the window of the eval text whose routing is clearest (checked, not assumed).
    const tok = await Tokenizer.load(sharedPath('models', 'tok512.bin'));
    const text = tok.encode(sharedText('data', 'tinystories-eval.txt'), { bos: true });
    const span = 16;
    let best = { ids: [] as number[], margin: -Infinity };
    for (let at = 0; at + span <= Math.min(text.length, 40 * span); at += span) {
      const ids = text.slice(at, at + span);
      const margin = routingMargin(model, weights, ids);
      if (margin > best.margin) best = { ids, margin };
    }
    expect(best.margin).toBeGreaterThan(0.005);
    const vocab = model.config.vocabSize;
    model.reset();
    const all = model.forward(best.ids, { allLogits: true });
    const ours = best.ids.map((_, p) => all.slice(p * vocab, (p + 1) * vocab));
    const theirs = await llamaCppLogits(out, best.ids, vocab);
    const { argmaxMisses, maxDiffOverStd } = againstReference(ours, theirs);
    console.log(`factorized stories260K (E 4, k 2, weighted) vs llama.cpp over ${span} positions (smallest routing margin ${best.margin.toFixed(3)}): argmax differs at ${argmaxMisses}, max |diff| = ${maxDiffOverStd.toFixed(5)} x std`);
    expect(argmaxMisses).toBeLessThanOrEqual(1);
    expect(maxDiffOverStd).toBeLessThanOrEqual(0.02);
  });
});

/**
 * The smallest gap, over layers and positions, between the k-th and (k+1)-th router logits that
 * ffnkit's routing sees on `ids` (teacher-forced from an empty cache), in float64 on the host.
 */
function routingMargin(model: LlamaModel, weights: LlamaWeights, ids: number[]): number {
  const d = model.config.dim;
  const inputs: Float32Array[] = [];
  const saved = model.layers.map((l) => l.ffn);
  model.layers.forEach((layer, i) => {
    const inner = saved[i]!;
    layer.ffn = {
      kind: inner.kind,
      forward(x, y, tokens) {
        inputs[i] = x.view().slice(0, tokens * d);
        inner.forward(x, y, tokens);
      },
      bytesPerToken: () => inner.bytesPerToken(),
    };
  });
  model.reset();
  model.forward(ids, { allLogits: true });
  model.layers.forEach((layer, i) => (layer.ffn = saved[i]!));
  let smallest = Infinity;
  weights.layers.forEach((l, li) => {
    const r = l.routed!;
    for (let p = 0; p < ids.length; p++) {
      const z = Array.from({ length: r.experts }, (_, e) => {
        let s = r.routerBias[e]!;
        for (let j = 0; j < d; j++) s += r.router[e * d + j]! * inputs[li]![p * d + j]!;
        return s;
      }).sort((a, b) => b - a);
      smallest = Math.min(smallest, z[r.topK - 1]! - z[r.topK]!);
    }
  });
  return smallest;
}
