// FactorLLM's Prior-Approximate (PA) loss for one token, with its gradient with respect to the
// router logits, in float64. As the authors implement it:
//   y = 0/1 mask of the k experts whose outputs are closest to the dense output / (E/k)
//   q = softmax(y), p = softmax(router logits), both clipped to [1e-7, 1 - 1e-7]
//   L_PA = KL(p || q) = sum_i p_i log(p_i / q_i)
// and the optional balance term mean_i(topk_mask(p)_i * p_i), topk_mask marking the router's own
// top k. Clipping passes no gradient where it bites (as torch.clamp).


export const CLIP_LO = 1e-7;
export const CLIP_HI = 1 - 1e-7;

const clip = (v: number) => Math.min(Math.max(v, CLIP_LO), CLIP_HI);

/** softmax of z into out (float64). */
export function softmax64(z: ArrayLike<number>, out: Float64Array): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < z.length; i++) m = Math.max(m, z[i]!);
  let s = 0;
  for (let i = 0; i < z.length; i++) s += out[i] = Math.exp(z[i]! - m);
  for (let i = 0; i < z.length; i++) out[i]! /= s;
  return out;
}

export interface PaTerms {
  pa: number;
  balance: number;
}

/**
 * Adds dL/dz for L = paWeight * pa + balanceWeight * balance into `grad` (length E) and returns
 * both terms. `target` holds the k target experts (the mask y); `k` is also the size of the
 * balance mask.
 */
export function paLoss(logits: ArrayLike<number>, target: ArrayLike<number>, k: number, balanceWeight: number, grad: Float64Array, paWeight = 1): PaTerms {
  const E = logits.length;
  const p = softmax64(logits, new Float64Array(E));
  const y = new Float64Array(E);
  for (let j = 0; j < target.length; j++) y[target[j]!] = 1;
  const q = softmax64(y, new Float64Array(E));
  let pa = 0;
  const g = new Float64Array(E); // dL/dp
  for (let i = 0; i < E; i++) {
    const pc = clip(p[i]!);
    const qc = clip(q[i]!);
    pa += pc * Math.log(pc / qc);
    g[i] = p[i]! > CLIP_LO && p[i]! < CLIP_HI ? paWeight * (Math.log(pc / qc) + 1) : 0;
  }
  let balance = 0;
  if (balanceWeight !== 0) {
    const order = Array.from({ length: E }, (_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
    for (let j = 0; j < k; j++) {
      const i = order[j]!;
      balance += p[i]! / E;
      g[i]! += balanceWeight / E;
    }
  }
  // through the softmax: dL/dz_j = p_j (g_j - sum_i p_i g_i)
  let pg = 0;
  for (let i = 0; i < E; i++) pg += p[i]! * g[i]!;
  for (let j = 0; j < E; j++) grad[j]! += p[j]! * (g[j]! - pg);
  return { pa, balance };
}
