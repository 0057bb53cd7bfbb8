// Half-precision and bfloat16 numbers, as GGUF and safetensors store them (F16/BF16 tensors, and
// the f16 block scales of the ggml quantized types). Conversions to them round to nearest even,
// as ggml's GGML_FP32_TO_FP16 and ggml_compute_fp32_to_bf16 do (NaN stays a quiet NaN, overflow
// goes to infinity).

/** IEEE half precision to number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

let halfTable: Float32Array | undefined;

/** Every half's value, by its bits (built once: the block decoders read one scale per block). */
export function halfTableF32(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
  }
  return halfTable;
}

// the float32 bits of a number, without allocating per call (Q8_0 encodes one scale per 32 values)
const SCRATCH_F32 = new Float32Array(1);
const SCRATCH_U32 = new Uint32Array(SCRATCH_F32.buffer);

/** Number to IEEE half precision, round to nearest even (overflow to infinity). */
export function floatToHalf(v: number): number {
  SCRATCH_F32[0] = v;
  const x = SCRATCH_U32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 255) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && r & 1)) r++;
    return sign | r;
  }
  let r = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && r & 1)) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

/** bfloat16 (upper half of a float32) to number. */
export function bf16ToFloat(b: number): number {
  SCRATCH_U32[0] = b << 16;
  return SCRATCH_F32[0]!;
}

/** Number to bfloat16: the float32 rounded to nearest even on its upper half; NaN kept quiet. */
export function floatToBf16(v: number): number {
  SCRATCH_F32[0] = v;
  const u = SCRATCH_U32[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 64;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The 16 bits (a half or a bfloat16) at byte `at`, little-endian. */
export function readHalf(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8);
}

/** Writes 16 bits little-endian at byte `at`. */
export function writeHalf(b: Uint8Array, at: number, h: number): void {
  b[at] = h & 0xff;
  b[at + 1] = h >>> 8;
}
