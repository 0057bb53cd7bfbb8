// Integer dot products of weight bytes with int8 activations, the inner step of every quantized
// GEMV/GEMM, on one of two paths:
//
// - i16: both operands widened to int16 and multiplied with i32x4.dot_i16x8_s, whose pair sums
//   are formed in 32 bits: exact for any bytes, on every SIMD engine.
// - relaxed: i32x4.relaxed_dot_i8x16_i7x16_add_s(x, q, 0), activations (signed) first and the
//   weight values second, which must lie in 0..127 (unsigned quant values do). Its pair sums of
//   two products stay within +-2 * 127 * 127, inside i16, so an engine that forms them in 16 bits
//   (x86's pmaddubsw) does not saturate.
//
// Engines compute the relaxed dot in more than one way, and one engine in more than one way:
// Node 20's V8 gives the specified result from its optimizing compiler but twice the dot
// product, ignoring the accumulator, from its baseline compiler, and a kernel runs in either
// (it moves up once it is hot). So the kernels take the accumulator as zero and add partial
// sums themselves, and each call first asks the code it runs in which form it has (dot_form):
// exact, doubled (halved exactly, as every doubled sum is even), or else the i16 path. An
// engine-creation self-test (src/runtime/kernels/relaxed-dot.ts) decides whether the relaxed
// path is tried at all.
//
// Integer sums are exact on both paths, so every build and path gives the same bits.

/** The kernels' `dot` argument: the i16 path, or the relaxed path where the call's own check allows. */
export const DOT_I16: i32 = 0;
export const DOT_RELAXED: i32 = 1;
/** The form found by dot_form: relaxed as specified, or doubled without the accumulator. */
export const FORM_EXACT: i32 = 1;
export const FORM_DOUBLED: i32 = 2;

// The relaxed dot's form in the code running this call, for the kernels' `dot` argument: DOT_I16
// stays the i16 path; DOT_RELAXED becomes FORM_EXACT or FORM_DOUBLED when the instruction gives
// 4 or 8 for four products 1 x 1 (its operand comes from `dot`, so no compiler can fold it),
// else the i16 path.
@inline
export function dot_form(dot: i32): i32 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (dot != DOT_RELAXED) return DOT_I16;
    const r = i32x4.extract_lane(i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.splat(<i8>dot), i8x16.splat(1), i32x4.splat(0)), 0);
    return r == 4 ? FORM_EXACT : r == 8 ? FORM_DOUBLED : DOT_I16;
  }
  return DOT_I16;
}

// 16 weight values q (i8x16 lanes in 0..127) times the 16 int8 activations at x, as four
// partial i32 sums (which lane holds which products differs between the paths; only their
// total is used), in the form from dot_form.
@inline
export function dot_u8x16(q: v128, x: usize, form: i32): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (form != DOT_I16) return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x), q, i32x4.splat(0));
  }
  return i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(q), v128.load8x8_s(x)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(q), v128.load8x8_s(x, 8)),
  );
}

// 16 signed weight values q (i8x16, any bytes) times the 16 int8 activations at x: the i16 path.
@inline
export function dot_s8x16(q: v128, x: usize): v128 {
  return i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(q), v128.load8x8_s(x)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(q), v128.load8x8_s(x, 8)),
  );
}

// Sum of the four i32 lanes.
@inline
export function hsum_i32x4(v: v128): i32 {
  const s = i32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return i32x4.extract_lane(i32x4.add(s, i32x4.shuffle(s, s, 1, 0, 3, 2)), 0);
}

// The sum of dot_u8x16 partials, as the exact dot product: halved where the relaxed dot doubles.
@inline
export function dot_total(v: v128, form: i32): i32 {
  const s = hsum_i32x4(v);
  return form == FORM_DOUBLED ? s >> 1 : s;
}

// The engine's i32x4.relaxed_dot_i8x16_i7x16_add_s on the 16 bytes at a, the 16 at b and the
// four i32 at c, into the four i32 at out, for the self-test that decides whether the kernels
// try the relaxed path. Returns 1, or 0 (writing nothing) in builds without relaxed SIMD.
export function relaxed_dot_probe(a: usize, b: usize, c: usize, out: usize): i32 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    v128.store(out, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(a), v128.load(b), v128.load(c)));
    return 1;
  }
  return 0;
}

// dot_form(dot) in a call of its own: which form the relaxed dot has in this function's code
// now (FORM_EXACT, FORM_DOUBLED, or DOT_I16 when the relaxed path would not be taken).
export function relaxed_dot_form(dot: i32): i32 {
  return dot_form(dot);
}

// ---- the unsigned form, for Q8_0 (assembly/q8u8.ts) -------------------------------------------
//
// For a second operand of 128..255 the spec leaves the relaxed dot's result to the engine. x86's
// VNNI instruction vpdpbusd, which engines with AVX-VNNI may emit for it, reads that operand as
// unsigned bytes, sums each lane's four products in 32 bits without saturating, and adds the
// accumulator: with weights stored as w + 128 (0..255) it gives the Q8_0 dot plus 128 x sum(x)
// in one instruction. Other forms (pmaddubsw's pair sums saturating in 16 bits, a signed second
// operand, Node 20's doubled form) give other numbers, so this is checked per call like dot_form.

// Whether the relaxed dot in the code running this call has the unsigned form above: dot is
// DOT_RELAXED, and lanes of four products 127 x 255 and -127 x 255, accumulator 1, give
// 129541 and -129539 (a 16-bit pair sum saturates at 2 x 32767 = 65534; a signed operand gives
// -507; the doubled form ignores the 1). The operands come from `dot`, so no compiler can fold it.
@inline
export function relaxed_u8_exact(dot: i32): bool {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (dot != DOT_RELAXED) return false;
    const a = v128.xor(i8x16.splat(<i8>(127 * dot)), i8x16(0, 0, 0, 0, -2, -2, -2, -2, 0, 0, 0, 0, 0, 0, 0, 0));
    const r = i32x4.relaxed_dot_i8x16_i7x16_add_s(a, i8x16.splat(<i8>(-dot)), i32x4.splat(dot));
    return i32x4.extract_lane(r, 0) == 129541 && i32x4.extract_lane(r, 1) == -129539;
  }
  return false;
}

// relaxed_u8_exact(dot) in a call of its own: 1 where this function's code has the unsigned form now, else 0.
export function relaxed_dot_u8_form(dot: i32): i32 {
  return relaxed_u8_exact(dot) ? 1 : 0;
}
