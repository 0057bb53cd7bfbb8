// llama.cpp as a reference in tests: node-llama-cpp (native llama.cpp, prebuilt) from bench/peers,
// which is its own package. When it is not installed (`npm --prefix bench/peers ci`), the tests
// that need it skip with a visible message; CI installs it.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const entry = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'bench', 'peers', 'node_modules', 'node-llama-cpp', 'dist', 'index.js');

/** True when node-llama-cpp is installed in bench/peers (with a warning when it is not). */
export const LLAMA_CPP: boolean = (() => {
  if (existsSync(entry)) return true;
  console.warn('SKIPPING llama.cpp comparisons: node-llama-cpp is not installed (npm --prefix bench/peers ci)');
  return false;
})();

interface NodeLlamaCpp {
  getLlama(options: object): Promise<{
    loadModel(o: { modelPath: string; gpuLayers: number }): Promise<{
      createContext(o: object): Promise<{
        getSequence(): {
          controlledEvaluate(input: [number, { generateNext: { logits: true } }][]): Promise<({ next: { logits?: Map<number, number> } } | undefined)[]>;
        };
        dispose(): Promise<void>;
      }>;
      dispose(): Promise<void>;
    }>;
  }>;
}

/**
 * llama.cpp's logits for every position of `ids`, teacher-forced from an empty cache (one row of
 * vocab floats per id, in token-id order).
 */
export async function llamaCppLogits(file: string, ids: number[], vocab: number): Promise<Float32Array[]> {
  const { getLlama } = (await import(pathToFileURL(entry).href)) as NodeLlamaCpp;
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: Math.max(64, ids.length + 1), threads: 1, batchSize: ids.length });
  try {
    const out = await context.getSequence().controlledEvaluate(ids.map((t) => [t, { generateNext: { logits: true } }]));
    return out.map((step, p) => {
      const logits = step?.next.logits;
      if (logits?.size !== vocab) throw new Error(`llama.cpp returned ${logits?.size ?? 'no'} logits at position ${p}, not ${vocab}`);
      const row = new Float32Array(vocab);
      for (const [t, l] of logits) row[Number(t)] = l;
      return row;
    });
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

/** The conformance measure the llama.cpp checks use: positions whose argmax differ, and max |diff| / std of the reference. */
export function againstReference(ours: Float32Array[], theirs: Float32Array[]): { argmaxMisses: number; maxDiffOverStd: number } {
  let misses = 0;
  let worst = 0;
  let sum = 0;
  let sq = 0;
  let n = 0;
  const argmax = (r: Float32Array) => r.reduce((b, v, i) => (v > r[b]! ? i : b), 0);
  theirs.forEach((ref, p) => {
    const row = ours[p]!;
    if (argmax(row) !== argmax(ref)) misses++;
    for (let v = 0; v < ref.length; v++) {
      worst = Math.max(worst, Math.abs(row[v]! - ref[v]!));
      sum += ref[v]!;
      sq += ref[v]! ** 2;
      n++;
    }
  });
  const std = Math.sqrt(sq / n - (sum / n) ** 2);
  return { argmaxMisses: misses, maxDiffOverStd: worst / std };
}
