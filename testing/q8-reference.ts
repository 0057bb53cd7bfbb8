// Float64 reference of the Q8_0 product as ggml defines it: activations quantized per block of
// 32 in float32 steps (d = max|x|/127, q = round(x/d), half away from zero, d then stored as a
// half as in ggml's block_q8_0), each block's integer
// dot product with the weights' int8 values, scaled by the two block scales. Shared by the
// tests and the benchmarks, which check the kernel's output against it; it decodes the blocks'
// f16 scales itself, apart from the code under test.

/** An IEEE half (16 bits) as a number: sign, 5 exponent bits (bias 15), 10 fraction bits. */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero or subnormal
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** The nearest IEEE half to a float32 (ties to even; no overflow for the scales here). */
function roundToHalf(x: number): number {
  if (x === 0) return x;
  let e = Math.floor(Math.log2(Math.abs(x)));
  if (2 ** e > Math.abs(x)) e--;
  if (2 ** (e + 1) <= Math.abs(x)) e++;
  e = Math.max(e, -14);
  const ulp = 2 ** (e - 10);
  const t = Math.abs(x) / ulp;
  const r = Math.floor(t);
  const up = t - r > 0.5 || (t - r === 0.5 && r % 2 === 1);
  return Math.sign(x) * (up ? r + 1 : r) * ulp;
}

/** ggml's q8_0 activation quantization in float32 steps: per block d = max|x|/127, q = round(x/d), d kept as a half. */
export function quantizeRef(x: Float32Array): { q: Int32Array; d: Float32Array } {
  const f = Math.fround;
  const q = new Int32Array(x.length);
  const d = new Float32Array(x.length / 32);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
    const db = f(amax / 127);
    const id = db ? f(1 / db) : 0;
    d[b] = roundToHalf(db);
    for (let j = 0; j < 32; j++) {
      const v = f(x[b * 32 + j]! * id);
      q[b * 32 + j] = Math.sign(v) * Math.floor(Math.abs(v) + 0.5);
    }
  }
  return { q, d };
}

/**
 * y = W · x for W given as n rows of GGUF Q8_0 blocks (`bytes`) and x of k floats, in float64 over
 * the quantized values; `mag` is the sum of the blocks' |terms| per row (for rounding bounds).
 */
export function gemvQ8Ref(bytes: Uint8Array, x: Float32Array, n: number, k: number): { y: Float64Array; mag: Float64Array } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { q, d } = quantizeRef(x);
  const y = new Float64Array(n);
  const mag = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < k / 32; b++) {
      const at = (r * (k / 32) + b) * 34;
      const dw = halfToNumber(dv.getUint16(at, true));
      let s = 0;
      for (let j = 0; j < 32; j++) s += dv.getInt8(at + 2 + j) * q[b * 32 + j]!;
      y[r]! += dw * d[b]! * s;
      mag[r]! += Math.abs(dw * d[b]! * s);
    }
  }
  return { y, mag };
}
