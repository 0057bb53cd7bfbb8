// Q8_0 (GGUF's 8-bit format): blocks of 32 weights, each block 34 bytes: an IEEE half scale d
// followed by 32 int8 q, weight = d * q. Matrices stay exactly as GGUF stores them: row r of K
// columns is K/32 consecutive blocks, rows one after another, so a GEMV reads one stream.
//
// Activations are quantized per block the same way (quantize_q8_0_f32), widened once to int16,
// and each block's dot product is i32x4.dot_i16x8_s on the integers, scaled by d_w * d_x: the
// int8 path that is safe on Node 20 (not the relaxed i8 dot, which V8 gets wrong there).

// IEEE half (in the low 16 bits) to f32, normals, subnormals, zero, inf and NaN.
@inline
function half_to_f32(h: u32): f32 {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp == 0) {
    // zero or subnormal: mant * 2^-24
    const v = <f32>mant * <f32>5.9604644775390625e-8;
    return sign != 0 ? -v : v;
  }
  if (exp == 31) return reinterpret<f32>(sign | 0x7f800000 | (mant << 13));
  return reinterpret<f32>(sign | ((exp + 112) << 23) | (mant << 13));
}

// Quantizes x[k] (k a multiple of 32) to Q8_0 blocks for the dot product: int16 values into
// xq[k] (i16, widened from the int8 q), and the block scales into xd[k/32] (f32), with
// d = max|x| / 127 and q = round(x / d), as ggml's quantize_row_q8_0.
export function quantize_q8_0_f32(x: usize, k: i32, xq: usize, xd: usize): void {
  for (let b = 0; b < k / 32; b++) {
    const xb = x + <usize>b * 128;
    let amax: f32 = 0;
    for (let j = 0; j < 32; j++) amax = max(amax, abs(load<f32>(xb + <usize>j * 4)));
    const d = amax / 127;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<f32>(xd + <usize>b * 4, d);
    for (let j = 0; j < 32; j++) {
      // roundf: half away from zero, as ggml
      const v = load<f32>(xb + <usize>j * 4) * id;
      store<i16>(xq + (<usize>b * 32 + <usize>j) * 2, <i16>(<i32>(v < 0 ? -Mathf.floor(-v + <f32>0.5) : Mathf.floor(v + <f32>0.5))));
    }
  }
}

// The f32 value of every block's f16 scale: `blocks` blocks of Q8_0 at w into scales[blocks].
// Done once when a matrix is loaded, so the GEMV reads each scale as an f32 instead of decoding
// an f16 per block (which cost a third of the loop's time, measured).
export function q8_0_scales(w: usize, blocks: i32, scales: usize): void {
  for (let b = 0; b < blocks; b++) store<f32>(scales + <usize>b * 4, half_to_f32(<u32>load<u16>(w + <usize>b * 34)));
}

// y[n] = W · x for W in Q8_0 (n rows of k columns, k a multiple of 32, as GGUF stores them, with
// its block scales as f32 from q8_0_scales in ws[n * k/32]) and x already quantized by
// quantize_q8_0_f32 into xq (k int16) and xd (k/32 f32). y must not overlap the inputs.
export function gemv_q8_0(w: usize, ws: usize, xq: usize, xd: usize, y: usize, n: i32, k: i32): void {
  const blocks = k / 32;
  let p = w;
  let sp = ws;
  for (let r = 0; r < n; r++) {
    let s: f32 = 0;
    if (ASC_FEATURE_SIMD) {
      let acc = f32x4.splat(0);
      for (let b = 0; b < blocks; b++) {
        const d = load<f32>(sp) * load<f32>(xd + <usize>b * 4);
        const q0 = v128.load(p, 2);
        const q1 = v128.load(p, 18);
        const xb = xq + <usize>b * 64;
        let sum = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(q0), v128.load(xb));
        sum = i32x4.add(sum, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(q0), v128.load(xb, 16)));
        sum = i32x4.add(sum, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(q1), v128.load(xb, 32)));
        sum = i32x4.add(sum, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(q1), v128.load(xb, 48)));
        acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(sum), f32x4.splat(d)));
        p += 34;
        sp += 4;
      }
      s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
    } else {
      for (let b = 0; b < blocks; b++) {
        const d = load<f32>(sp) * load<f32>(xd + <usize>b * 4);
        let sum: i32 = 0;
        for (let j = 0; j < 32; j++) sum += <i32>load<i8>(p + 2 + <usize>j) * <i32>load<i16>(xq + (<usize>b * 32 + <usize>j) * 2);
        s += <f32>sum * d;
        p += 34;
        sp += 4;
      }
    }
    store<f32>(y + <usize>r * 4, s);
  }
}
