// The sizes of the kernels' weight layouts, computable before any engine exists (to refuse a
// model that would not fit before allocating). They mirror the wasm's own size exports
// (f32_gemm_packed_floats, q8_0_gemm_packed_floats), which the kernels use; test/kernels.test.ts
// checks that both agree.

/** Floats of an f32 matrix of `rows` features and `cols` inputs packed into 8-feature panels (a bias row included). */
export function panelFloats(rows: number, cols: number): number {
  return Math.ceil(rows / 8) * 8 * (cols + 1);
}

/** Floats of room for a Q8_0 matrix (cols a multiple of 32) regrouped by 4 rows: 36 floats (144 bytes) per block of 32 columns of 4 rows. */
export function q8GroupFloats(rows: number, cols: number): number {
  return Math.ceil(rows / 4) * (cols / 32) * 36;
}

/**
 * Bytes of a `rows` x `cols` matrix in the 4-row layout its kernel repacks it into at load
 * (assembly/q4x4.ts, q23x4.ts, q5x4.ts, q6x4.ts: per 4 rows x one block, Q4_0 80 bytes, Q2_K
 * 352, Q3_K 464, Q4_K 608, Q5_K 736, Q6_K 1104), or
 * undefined for a type kept in GGUF's rows. Mirrors the wasm's TYPE_gemm_packed_bytes.
 */
export function ggmlRepackedBytes(type: string, rows: number, cols: number): number | undefined {
  const groups = Math.ceil(rows / 4);
  switch (type.toLowerCase()) {
    case 'q4_0': return groups * (cols / 32) * 80;
    case 'q2_k': return groups * (cols / 256) * 352;
    case 'q3_k': return groups * (cols / 256) * 464;
    case 'q4_k': return groups * (cols / 256) * 608;
    case 'q5_k': return groups * (cols / 256) * 736;
    case 'q6_k': return groups * (cols / 256) * 1104;
    default: return undefined;
  }
}

/**
 * One block of quantized activations in each layout assembly/q8.ts writes: values per block and
 * its bytes; and Q8_0's for the column quads (assembly/q8u8.ts: 32 int8, the scale, -128 x the
 * sum), smaller than the column pairs' int16 and scales, which the memory estimate counts.
 */
export const ACTIVATION_BLOCK_BYTES = {
  q8_1: { values: 32, bytes: 44 },
  q8_k: { values: 256, bytes: 292 },
  q8_1_x4: { values: 32, bytes: 128 },
  q8_k_x4: { values: 256, bytes: 800 },
  q8_0_x4_u8: { values: 32, bytes: 40 },
} as const;
