// The weight quantizers of assembly/quantize-kquants.ts (Q2_K .. Q6_K, IQ4_NL, IQ4_XS) behind a
// synchronous call, for the host codecs of model/ggml/ (the GGUF writer is synchronous). They
// run in an instance of their own, on a small memory of their own, not in an engine's arena:
// quantizing a model needs no engine. Values go through in chunks, so the memory stays small.

import { FfnkitError } from '../../errors.js';
import { BACKENDS, envBackend, wasmUrl, type Backend } from '../wasm.js';

/** The exports of a kernel build this file calls. */
interface QuantizeExports {
  heap_base(): number;
  ggml_quantize_scratch_bytes(): number;
  q2_k_quantize_f32: BlockQuantize;
  q3_k_quantize_f32: BlockQuantize;
  q4_k_quantize_f32: BlockQuantize;
  q5_k_quantize_f32: BlockQuantize;
  q6_k_quantize_f32: BlockQuantize;
  iq4_nl_quantize_f32: BlockQuantize;
  iq4_xs_quantize_f32: BlockQuantize;
}

/** x: blocks * block values of f32, out: blocks * block bytes, scratch: ggml_quantize_scratch_bytes. */
type BlockQuantize = (x: number, blocks: number, out: number, scratch: number) => void;

/** The types with a wasm quantizer, their block size (values) and bytes. */
export const KERNEL_QUANTIZED = {
  Q2_K: { fn: 'q2_k_quantize_f32', values: 256, bytes: 84 },
  Q3_K: { fn: 'q3_k_quantize_f32', values: 256, bytes: 110 },
  Q4_K: { fn: 'q4_k_quantize_f32', values: 256, bytes: 144 },
  Q5_K: { fn: 'q5_k_quantize_f32', values: 256, bytes: 176 },
  Q6_K: { fn: 'q6_k_quantize_f32', values: 256, bytes: 210 },
  IQ4_NL: { fn: 'iq4_nl_quantize_f32', values: 32, bytes: 18 },
  IQ4_XS: { fn: 'iq4_xs_quantize_f32', values: 256, bytes: 136 },
} as const satisfies Record<string, { fn: keyof QuantizeExports; values: number; bytes: number }>;

export type KernelQuantizedType = keyof typeof KERNEL_QUANTIZED;

/** Values per kernel call: 64 super-blocks, so the instance's memory stays near 400 KiB. */
const CHUNK_VALUES = 64 * 256;
const PAGE = 65536;

/** One kernel build instantiated for quantizing, with its own memory. */
export class BlockQuantizer {
  readonly backend: Backend;
  private readonly wasm: QuantizeExports;
  private readonly memory: WebAssembly.Memory;
  private readonly xPtr: number;
  private readonly outPtr: number;
  private readonly scratchPtr: number;

  /** Compiles `bytes` (a non-shared build of assembly/) synchronously. */
  constructor(bytes: Uint8Array<ArrayBuffer>, backend: Backend) {
    this.backend = backend;
    this.memory = new WebAssembly.Memory({ initial: 1 });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: this.memory } });
    this.wasm = instance.exports as unknown as QuantizeExports;
    const align = (n: number) => Math.ceil(n / 64) * 64;
    this.xPtr = align(this.wasm.heap_base());
    this.outPtr = align(this.xPtr + 4 * CHUNK_VALUES);
    this.scratchPtr = align(this.outPtr + CHUNK_VALUES * 1); // the largest type is under 1 byte per value
    const end = this.scratchPtr + this.wasm.ggml_quantize_scratch_bytes();
    const pages = Math.ceil(end / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (pages > 0) this.memory.grow(pages);
  }

  /** x (a multiple of the type's block of values) in `type`, the bytes of the host codec. */
  quantize(type: KernelQuantizedType, x: Float32Array): Uint8Array {
    const k = KERNEL_QUANTIZED[type];
    if (!(x instanceof Float32Array) || x.length % k.values !== 0) {
      throw new FfnkitError('E_SHAPE', `quantize ${type}: needs a Float32Array of a multiple of ${k.values} values, found ${x?.length}`);
    }
    const out = new Uint8Array((x.length / k.values) * k.bytes);
    const fn = this.wasm[k.fn];
    const heap = new Uint8Array(this.memory.buffer);
    const xs = new Float32Array(this.memory.buffer, this.xPtr, CHUNK_VALUES);
    for (let at = 0; at < x.length; at += CHUNK_VALUES) {
      const n = Math.min(CHUNK_VALUES, x.length - at);
      const blocks = n / k.values;
      xs.set(x.subarray(at, at + n));
      fn(this.xPtr, blocks, this.outPtr, this.scratchPtr);
      out.set(heap.subarray(this.outPtr, this.outPtr + blocks * k.bytes), (at / k.values) * k.bytes);
    }
    return out;
  }
}

let shared: BlockQuantizer | null | undefined;

/**
 * The quantizer the host codecs use: the build FFNKIT_BACKEND names, else the best one this
 * engine validates (they give the same bytes), read synchronously where the runtime can (Node);
 * null where it cannot (a browser), and the host codecs then run their JavaScript.
 */
export function sharedBlockQuantizer(): BlockQuantizer | null {
  if (shared === undefined) shared = loadSync();
  return shared;
}

function loadSync(): BlockQuantizer | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const fs = proc?.getBuiltinModule?.('node:fs') as { readFileSync(p: URL): Uint8Array } | undefined;
  if (!fs) return null;
  const want = envBackend();
  for (const backend of want ? [want] : BACKENDS) {
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = new Uint8Array(fs.readFileSync(wasmUrl(backend)));
    } catch {
      continue; // a build not present (an unbuilt checkout): try the next
    }
    if (WebAssembly.validate(bytes)) return new BlockQuantizer(bytes, backend);
  }
  return null;
}
