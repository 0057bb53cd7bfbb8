// The peer runtimes behind one small interface: prepare a case once, then run it (maybe async)
// and read its output, so the suite can check every answer before timing it.

import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { depthwiseConvModel, ffnModel, gemmModel } from './onnx.js';

export interface Prepared {
  run(): void | Promise<void>;
  output(): Float32Array | Promise<Float32Array>;
}

export interface PeerOptions {
  threads: number;
}

/** onnxruntime-web (wasm) or -node (native) on an ONNX model with one input and one output. */
export async function ortSession(kind: 'web' | 'node', bytes: Uint8Array, x: Float32Array, dims: number[], o: PeerOptions): Promise<Prepared> {
  const ort = kind === 'web' ? ortWeb : ortNode;
  if (kind === 'web') {
    ortWeb.env.wasm.numThreads = o.threads;
    ortWeb.env.wasm.simd = true;
  }
  // with several threads, idle pool threads sleep instead of spinning, so that they do not take
  // the cores from the runtime measured next in this process
  const extra = o.threads > 1 ? { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } } : {};
  const session = await (ort as typeof ortNode).InferenceSession.create(bytes, kind === 'node' ? { intraOpNumThreads: o.threads, interOpNumThreads: 1, ...extra } : extra);
  const feed = { [session.inputNames[0]!]: new (ort as typeof ortNode).Tensor('float32', x, dims) };
  const out = session.outputNames[0]!;
  let last: Float32Array = new Float32Array(0);
  return {
    run: async () => {
      const r = await session.run(feed);
      last = r[out]!.data as Float32Array;
    },
    output: () => last,
  };
}

export async function ortGemm(kind: 'web' | 'node', m: number, n: number, k: number, w: Float32Array, x: Float32Array, o: PeerOptions): Promise<Prepared> {
  return ortSession(kind, gemmModel(m, n, k, w), x, [m, k], o);
}

export async function ortFfn(kind: 'web' | 'node', t: number, d: number, h: number, w1: Float32Array, w3: Float32Array, w2: Float32Array, x: Float32Array, o: PeerOptions): Promise<Prepared> {
  return ortSession(kind, ffnModel(t, d, h, w1, w3, w2), x, [t, d], o);
}

let tfReady: Promise<void> | undefined;
async function tfWasm(threads: number): Promise<void> {
  tfReady ??= (async () => {
    // tfjs-backend-wasm picks its thread count from the environment; one thread unless asked
    const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as { setThreadsCount?: (n: number) => void };
    wasm.setThreadsCount?.(threads);
    await tf.setBackend('wasm');
    await tf.ready();
  })();
  return tfReady;
}

export async function tfGemm(m: number, n: number, k: number, w: Float32Array, x: Float32Array, o: PeerOptions): Promise<Prepared> {
  await tfWasm(o.threads);
  // weights transposed once to [K, N]: tfjs-wasm's fast (XNNPACK) path takes an untransposed B;
  // with transposeB it falls to a path ~13x slower, which would not be a fair comparison
  const wt = tf.transpose(tf.tensor2d(w, [n, k]));
  const xt = tf.tensor2d(x, [m, k]);
  let last: Float32Array = new Float32Array(0);
  return {
    run: () => {
      const y = tf.matMul(xt, wt);
      last = y.dataSync() as Float32Array;
      y.dispose();
    },
    output: () => last,
  };
}

export async function tfFfn(t: number, d: number, h: number, w1: Float32Array, w3: Float32Array, w2: Float32Array, x: Float32Array, o: PeerOptions): Promise<Prepared> {
  await tfWasm(o.threads);
  // weights transposed once (see tfGemm)
  const [a, b, c] = [tf.transpose(tf.tensor2d(w1, [h, d])), tf.transpose(tf.tensor2d(w3, [h, d])), tf.transpose(tf.tensor2d(w2, [d, h]))];
  const xt = tf.tensor2d(x, [t, d]);
  let last: Float32Array = new Float32Array(0);
  return {
    run: () => {
      const y = tf.tidy(() => {
        const g = tf.matMul(xt, a);
        const u = tf.matMul(xt, b);
        return tf.matMul(tf.mul(tf.mul(g, tf.sigmoid(g)), u), c);
      });
      last = y.dataSync() as Float32Array;
      y.dispose();
    },
    output: () => last,
  };
}

/**
 * Depthwise convolution, 'same' padding, stride 1, on data in ffnkit's channels-last layout
 * (H x W x C, or L x C for 1-D). onnxruntime takes channels-first: the input is transposed once
 * before timing and the output back for the check.
 */
export async function ortDwConv(kind: 'web' | 'node', spatial: number[], c: number, k: number, x: Float32Array, w: Float32Array, o: PeerOptions): Promise<Prepared> {
  const n = spatial.reduce((a, b) => a * b, 1);
  const taps = spatial.length === 2 ? k * k : k;
  const xc = new Float32Array(n * c);
  for (let p = 0; p < n; p++) for (let ch = 0; ch < c; ch++) xc[ch * n + p] = x[p * c + ch]!;
  const wc = new Float32Array(c * taps);
  for (let t = 0; t < taps; t++) for (let ch = 0; ch < c; ch++) wc[ch * taps + t] = w[t * c + ch]!;
  const kernel = spatial.length === 2 ? [k, k] : [k];
  const inner = await ortSession(kind, depthwiseConvModel(c, spatial, kernel, wc), xc, [1, c, ...spatial], o);
  return {
    run: inner.run,
    output: async () => {
      const yc = await inner.output();
      const y = new Float32Array(n * c);
      for (let p = 0; p < n; p++) for (let ch = 0; ch < c; ch++) y[p * c + ch] = yc[ch * n + p]!;
      return y;
    },
  };
}

/** Depthwise convolution in tfjs-wasm, channels-last like ffnkit ('same', stride 1). */
export async function tfDwConv(spatial: number[], c: number, k: number, x: Float32Array, w: Float32Array, o: PeerOptions): Promise<Prepared> {
  await tfWasm(o.threads);
  const [h, wd] = spatial.length === 2 ? [spatial[0]!, spatial[1]!] : [1, spatial[0]!];
  const kh = spatial.length === 2 ? k : 1;
  const xt = tf.tensor4d(x, [1, h, wd, c]);
  const ft = tf.tensor4d(w, [kh, k, c, 1]);
  let last: Float32Array = new Float32Array(0);
  return {
    run: () => {
      const y = tf.depthwiseConv2d(xt, ft, 1, 'same');
      last = y.dataSync() as Float32Array;
      y.dispose();
    },
    output: () => last,
  };
}
