// Comparisons of a computed output with a reference, for tests and benchmarks alike.

/** Largest |a[i] - b[i]|; arrays of different lengths are an error, never a passing number. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: ${a.length} values against ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** max |got - want| / max |want|: the error of a whole output relative to its scale (logits, forecasts). */
export function relMaxError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(want[i]!));
  return maxAbsDiff(got, want) / m;
}
