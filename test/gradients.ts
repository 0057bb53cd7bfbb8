// What the gradient checks of the training tests share: central differences and the errors
// they are compared by.

type Vec = ArrayLike<number>;

/** ||a - b|| / ||b||. */
export function relErr(a: Vec, b: Vec): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** The dot product a . b in float64. */
export const dotF = (a: Vec, b: Vec) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

/** Central differences of f at x (float64 copies), every coordinate. */
export function numericGrad(x: Float64Array, f: (x: Float64Array) => number, eps = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    x[i] = v + eps;
    const up = f(x);
    x[i] = v - eps;
    const down = f(x);
    x[i] = v;
    g[i] = (up - down) / (2 * eps);
  }
  return g;
}
