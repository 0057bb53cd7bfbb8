// Where the time goes, on both sides of the transformers.js comparison, for the stories110M shape
// (seeded weights, as `bench peers` uses): onnxruntime-web's own profile of the exported graph
// (the build transformers.js depends on, on its wasm backend in this Node process, one thread),
// summed by operator and by weight shape, for a prefill of N tokens and for decode steps; and
// ffnkit's matrix products on the same shapes (f32 panels or Q8_0 groups) timed alone.
//
//   node --experimental-wasm-relaxed-simd --import tsx bench/peers/transformers-profile.ts fp32|q8 [tokens]

import fs from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createEngine } from '../../src/node/index.js';
import { uploadMatrix } from '../../src/llm/ffn.js';
import { randomLlamaWeights } from '../../src/llm/random.js';
import { headDim, type HostMatrix } from '../../src/model/weights.js';
import { randomF32 } from '../../testing/random.js';
import { STORIES110M } from '../harness.js';
import { llamaToOnnx } from './llama-onnx.js';
import { packageRoot } from './transformers.js';

const dtype = process.argv[2] === 'q8' ? 'q8' : 'fp32';
const tokens = Number(process.argv[3] ?? 126);
const DECODE_STEPS = 5;

type Ort = typeof import('onnxruntime-web');
const transformersDir = packageRoot('@huggingface/transformers', import.meta.filename);
const ort = (await import(createRequire(join(transformersDir, 'package.json')).resolve('onnxruntime-web'))) as Ort;
ort.env.wasm.numThreads = 1;

const w = randomLlamaWeights(STORIES110M, 3, dtype === 'q8' ? 'q8_0' : 'f32');
const c = w.config;

interface Event { cat: string; name: string; ts: number; dur: number; args: { op_name?: string; input_type_shape?: Record<string, number[]>[] } }

/** onnxruntime-web prints its profile (a JSON array of trace events) on stdout with fs.writeSync: caught here. */
async function profiled(run: () => Promise<void>, end: () => Promise<void>): Promise<Event[]> {
  await run();
  const writeSync = fs.writeSync;
  let text = '';
  fs.writeSync = ((fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]) => {
    if (fd !== 1) return (writeSync as (...a: unknown[]) => number)(fd, data, ...rest);
    text += typeof data === 'string' ? data : new TextDecoder().decode(data);
    return typeof data === 'string' ? data.length : data.byteLength;
  }) as typeof fs.writeSync;
  try {
    await end();
  } finally {
    fs.writeSync = writeSync;
  }
  return JSON.parse(text.slice(text.indexOf('['), text.lastIndexOf(']') + 1)) as Event[];
}

const session = await ort.InferenceSession.create(llamaToOnnx(w, { quantized: dtype === 'q8' }), { enableProfiling: true } as never);
const feeds = (n: number, past: number, cache?: Record<string, unknown>) => {
  const ids = (values: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);
  const f: Record<string, unknown> = {
    input_ids: ids(Array.from({ length: n }, (_, i) => 100 + i), [1, n]),
    attention_mask: ids(new Array(past + n).fill(1), [1, past + n]),
    position_ids: ids(Array.from({ length: n }, (_, i) => past + i), [1, n]),
    num_logits_to_keep: new ort.Tensor('int64', BigInt64Array.of(1n), []),
  };
  for (let l = 0; l < c.nLayers; l++) {
    for (const kind of ['key', 'value']) {
      f[`past_key_values.${l}.${kind}`] = cache?.[`present.${l}.${kind}`] ?? new ort.Tensor('float32', new Float32Array(0), [1, c.nKvHeads, 0, headDim(c)]);
    }
  }
  return f as Record<string, InstanceType<Ort['Tensor']>>;
};
const events = await profiled(async () => {
  await session.run(feeds(tokens, 0)); // untimed: first-run allocations
  const prefilled = await session.run(feeds(tokens, 0));
  let cache: Record<string, unknown> = prefilled;
  for (let i = 0; i < DECODE_STEPS; i++) cache = await session.run(feeds(1, tokens + i, cache));
}, async () => { await session.endProfiling(); });

const runs = events.filter((e) => e.name === 'model_run').sort((a, b) => a.ts - b.ts).slice(1);
const summarize = (title: string, spans: Event[]) => {
  const byOp = new Map<string, number>();
  const byShape = new Map<string, { us: number; calls: number; flops: number }>();
  const total = spans.reduce((s, r) => s + r.dur, 0);
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !spans.some((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur)) continue;
    const op = e.args.op_name ?? '?';
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
    const [x, weight] = [e.args.input_type_shape?.[0], e.args.input_type_shape?.[1]];
    const dims = weight && Object.values(weight)[0]!;
    if (/MatMul/.test(op) && x && dims?.length === 2) {
      const key = `${op} ${Object.keys(weight!)[0]} ${dims.join('x')}`;
      const rows = Object.values(x)[0]!.slice(0, -1).reduce((a, b) => a * b, 1);
      const s = byShape.get(key) ?? { us: 0, calls: 0, flops: 0 };
      byShape.set(key, { us: s.us + e.dur, calls: s.calls + 1, flops: s.flops + 2 * rows * dims[0]! * dims[1]! });
    }
  }
  const kernels = [...byOp.values()].reduce((a, b) => a + b, 0);
  console.log(`\n${title}: ${(total / 1000 / spans.length).toFixed(2)} ms per run, ${(100 * kernels / total).toFixed(1)}% in kernels, ${(100 * (total - kernels) / total).toFixed(1)}% in the executor around them`);
  for (const [op, d] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${op.padEnd(30)} ${(d / 1000 / spans.length).toFixed(2).padStart(9)} ms  ${(100 * d / total).toFixed(1).padStart(5)}%`);
  for (const [shape, d] of [...byShape].sort((a, b) => b[1].us - a[1].us)) {
    console.log(`    ${shape.padEnd(40)} ${(d.us / 1000 / spans.length).toFixed(2).padStart(9)} ms  ${(d.calls / spans.length).toFixed(0).padStart(3)} calls  ${(d.flops / d.us / 1e3).toFixed(1).padStart(6)} GFLOP/s`);
  }
};
console.log(`stories110M shape, ${dtype}, onnxruntime-web ${ort.env.versions.web} (wasm, 1 thread, in Node)`);
summarize(`prefill of ${tokens} tokens`, runs.slice(0, 1));
summarize('decode step', runs.slice(1));

// ffnkit's matrix products on the same weights (one thread), per call
const engine = await createEngine({ threads: 1 });
const layer = w.layers[0]!;
const shapes: [string, HostMatrix, number, number][] = [
  ['q/o (768x768)', layer.wq, c.dim, c.dim], ['gate/up (2048x768)', layer.w1, c.hiddenDim, c.dim],
  ['down (768x2048)', layer.w2, c.dim, c.hiddenDim], ['classifier (32000x768)', w.classifier, c.vocabSize, c.dim],
];
console.log(`\nffnkit-${engine.backend}, ${dtype === 'q8' ? 'Q8_0' : 'f32'} weights: ms per call (GFLOP/s)`);
for (const [name, m, rows, cols] of shapes) {
  const weights = uploadMatrix(engine.kernels, m, rows, cols, name);
  const cells: string[] = [];
  for (const t of [tokens, 1]) {
    const x = engine.upload(randomF32(t * cols, 5));
    const y = engine.alloc(t * rows);
    engine.kernels.gemm(x, weights, y, t);
    const reps = Math.max(3, Math.round(2e9 / (2 * t * rows * cols)));
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) engine.kernels.gemm(x, weights, y, t);
    const ms = (performance.now() - t0) / reps;
    cells.push(`m${t}: ${ms.toFixed(2)} ms (${((2 * t * rows * cols) / ms / 1e6).toFixed(1)})`);
  }
  console.log(`  ${name.padEnd(24)} ${cells.join('   ')}`);
}
engine.close();
