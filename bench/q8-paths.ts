// The Q8_0 kernels on both layouts in one engine, timed in turn: the column pairs on the i16 path
// (assembly/quant.ts, what an engine without the unsigned relaxed dot runs) and the column quads
// of w + 128 (assembly/q8u8.ts) on the path each call finds (the unsigned relaxed dot where the
// engine computes it as VNNI does, else the i16 path). The GEMV with its weights in cache, the
// GEMV over 4096 x 4096 (copies in turn, so that none is in cache when read again) and the GEMM
// of a prefill block (activations quantized in the timed call, as a model does). Self-contained
// (no imports at run time), so that the Chromium runner can define it in a page from its source
// and time ffnkit on Chromium's V8 with the same code as in Node.

import type { Engine } from '../src/index.js';

export interface Q8PathRate {
  case: string;
  /** 'i16' (pairs), 'u8' (quads on the unsigned relaxed dot) or 'i16 on quads' (the quads' fallback). */
  path: string;
  /** GFLOP/s of the fastest round. */
  value: number;
  /** Whether the output's bits equal the pairs' (the same integers and float steps). */
  sameBits: boolean;
}

/** The cases on both layouts of `engine`, `rounds` rounds each, the layouts alternating; `ms` per round. */
export function q8PathRates(engine: Engine, rounds: number, ms: number): Q8PathRate[] {
  const e = engine.wasm;
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  /** n rows of k columns as GGUF Q8_0 bytes: seeded int8 values, scales of about 1/64 (finite halves). */
  const q8Bytes = (n: number, k: number): Uint8Array => {
    const b = new Uint8Array((n * k / 32) * 34);
    for (let i = 0; i < b.length; i += 34) {
      b[i] = Math.floor((rand() + 1) * 127);
      b[i + 1] = 0x24; // 2^-6 .. 2^-5
      for (let j = 2; j < 34; j++) b[i + j] = Math.floor((rand() + 1) * 127.5);
    }
    return b;
  };
  const packed = (bytes: Uint8Array, n: number, k: number, quads: boolean) => {
    const staging = engine.alloc(bytes.length / 4 + 1, 'q8 bench staging');
    new Uint8Array(engine.memory.buffer, staging.ptr, bytes.length).set(bytes);
    const w = engine.alloc(e.q8_0_gemm_packed_floats(n, k), 'q8 bench weights');
    (quads ? e.q8_0_gemm_pack_x4_u8 : e.q8_0_gemm_pack_x4)(staging.ptr, n, k, w.ptr);
    staging.free();
    return w;
  };
  /** The fastest of `rounds` rounds of `fn` (each run for `ms`), in seconds per call. */
  const fastest = (fns: (() => void)[]): number[] => {
    const best = fns.map(() => Infinity);
    for (const fn of fns) for (let i = 0; i < 3; i++) fn(); // compiled and warm
    for (let r = 0; r < rounds; r++) {
      fns.forEach((fn, i) => {
        let calls = 0;
        const start = performance.now();
        let now = start;
        while (now - start < ms) {
          fn();
          calls++;
          now = performance.now();
        }
        best[i] = Math.min(best[i]!, (now - start) / 1000 / calls);
      });
    }
    return best;
  };
  const out: Q8PathRate[] = [];
  const code = engine.dot.code;
  const run = (name: string, m: number, n: number, k: number, copies: number, callsPer: number, quantizeInCall: boolean) => {
    const bytes = q8Bytes(n, k);
    const pairs = Array.from({ length: copies }, () => packed(bytes, n, k, false));
    const quads = Array.from({ length: copies }, () => packed(bytes, n, k, true));
    const x = engine.upload(Float32Array.from({ length: m * k }, () => rand() * 3), 'q8 bench activations');
    const xq = engine.alloc((m * k) / 2 + (m * k) / 32, 'q8 bench int16 activations');
    const xd = xq.ptr + m * k * 2;
    const xu = engine.alloc((m * k / 32) * 10, 'q8 bench int8 activations');
    e.q8_0_quantize(x.ptr, m * k, xq.ptr, xd);
    e.q8_0_quantize_f32_x4_u8(x.ptr, m * k, xu.ptr);
    const y = engine.alloc(m * n, 'q8 bench outputs');
    const bits = () => Array.from(new Uint32Array(engine.memory.buffer, y.ptr, m * n));
    e.q8_0_gemm_x4(pairs[0]!.ptr, xq.ptr, xd, y.ptr, m, n, k, n);
    const want = bits();
    const path = e.q8_0_gemm_x4_u8(quads[0]!.ptr, xu.ptr, y.ptr, m, n, k, n, code) as unknown as number;
    const got = bits();
    const sameBits = got.length === want.length && got.every((v, i) => v === want[i]);
    let i = 0, j = 0;
    const [tp, tq] = fastest([
      () => {
        for (let c = 0; c < callsPer; c++) {
          if (quantizeInCall) e.q8_0_quantize(x.ptr, m * k, xq.ptr, xd);
          e.q8_0_gemm_x4(pairs[i]!.ptr, xq.ptr, xd, y.ptr, m, n, k, n);
          i = (i + 1) % copies;
        }
      },
      () => {
        for (let c = 0; c < callsPer; c++) {
          if (quantizeInCall) e.q8_0_quantize_f32_x4_u8(x.ptr, m * k, xu.ptr);
          e.q8_0_gemm_x4_u8(quads[j]!.ptr, xu.ptr, y.ptr, m, n, k, n, code);
          j = (j + 1) % copies;
        }
      },
    ]);
    const flops = 2 * m * n * k * callsPer;
    out.push({ case: name, path: 'i16', value: flops / tp! / 1e9, sameBits: true });
    out.push({ case: name, path: path === 1 ? 'u8' : 'i16 on quads', value: flops / tq! / 1e9, sameBits });
    for (const b of [...pairs, ...quads, x, xq, xu, y]) b.free();
  };
  run('q8_0 gemv in cache m1 k4096 n64', 1, 64, 4096, 1, 16, false);
  run('gemv q8_0 m1 k4096 n4096', 1, 4096, 4096, 4, 1, false);
  run('gemm q8_0 m64 k2048 n5632', 64, 5632, 2048, 1, 1, true);
  run('gemm q8_0 m128 k768 n2304', 128, 2304, 768, 1, 1, true);
  return out;
}

/** Bench lines of q8PathRates, `where` appended to the impl (' in Chromium'); the i16 line of each case first, the other with its ratio to it. */
export function q8PathLines(rates: Q8PathRate[], backend: string, where: string): Record<string, string | number>[] {
  return rates.map((r) => {
    const i16 = rates.find((o) => o.case === r.case && o.path === 'i16')!;
    return {
      suite: 'kernels', case: r.case, impl: `ffnkit-${backend} ${r.path}${where}`, value: Number(r.value.toPrecision(3)), unit: 'GFLOP/s',
      dotPath: r.path, ...(r.path === 'i16' ? {} : { vsI16: Number((r.value / i16.value).toPrecision(3)), sameBits: String(r.sameBits) }),
    };
  });
}
