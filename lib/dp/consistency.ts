/**
 * Consistency post-processing of a released tree (Hay, Rastogi, Miklau & Suciu, VLDB 2010): the
 * generalised least-squares fit of every released node value of one part (counts, or sums from 0)
 * under the tree's constraints (a parent's true value is the sum of its children's). The noise of
 * a node at level ℓ has the public variance σ²_ℓ; the root (level 0) is not released.
 *
 * Two linear passes per coordinate give the best linear unbiased estimate (the Kalman smoother of
 * the tree):
 *   up:    leaf: z = y, s = σ²_L;  inner v (children a, b): the children say z_a + z_b (variance
 *          s_a + s_b), the node says y_v (σ²_ℓ); z_v is their inverse-variance mean, s_v its
 *          variance; the root has no observation: z_r = z_a + z_b.
 *   down:  f_r = z_r; a child takes its share of the parent's correction in proportion to its
 *          variance: f_a = z_a + (s_a/(s_a + s_b))·(f_v − z_a − z_b), likewise f_b.
 * The output is consistent (f_v = f_a + f_b) and, being a function of the release only, costs no
 * privacy. It is linear, f = P·y, with coefficients that depend on the public variances alone, so
 * the variance of any linear query Σ_v w_v f_v is Σ_u σ²_u (Pᵀw)_u²: `queryVariance` evaluates Pᵀw
 * by running the two passes' adjoint (reverse mode), O(2^L) per coordinate.
 */

/** Slots of one coordinate's heap (node v at index v; 0 unused, 1 the root). */
function slots(L: number): number {
  return 2 ** (L + 1);
}

/** Per-level node variance σ²_ℓ (index ℓ − 1) and the up-pass variances s_v of one coordinate. */
interface Smoother {
  L: number;
  sigma2: readonly number[];
  /** s_v for v in [1, 2^{L+1}) (s[1] = the root's). */
  s: Float64Array;
}

/** The level of heap node v (the root is level 0). */
export function levelOf(v: number): number {
  return 31 - Math.clz32(v);
}

function smoother(L: number, sigma2: readonly number[]): Smoother {
  const N = slots(L);
  const s = new Float64Array(N);
  for (let v = N - 1; v >= 1; v--) {
    if (v >= N / 2) { s[v] = sigma2[L - 1]; continue; }
    const sc = s[2 * v] + s[2 * v + 1];
    s[v] = v === 1 ? sc : 1 / (1 / sigma2[levelOf(v) - 1] + 1 / sc);
  }
  return { L, sigma2, s };
}

/** In place: the consistent estimate of every released node of each coordinate ([d, 2^{L+1}] layout). */
export function makeConsistent(values: Float64Array, d: number, L: number, sigma2: readonly number[]): void {
  const N = slots(L);
  const { s } = smoother(L, sigma2);
  const z = new Float64Array(N);
  for (let j = 0; j < d; j++) {
    const y = values.subarray(j * N, (j + 1) * N);
    for (let v = N - 1; v >= 1; v--) {
      if (v >= N / 2) { z[v] = y[v]; continue; }
      const zc = z[2 * v] + z[2 * v + 1];
      if (v === 1) { z[v] = zc; continue; }
      const sl = sigma2[levelOf(v) - 1], sc = s[2 * v] + s[2 * v + 1];
      z[v] = s[v] * (y[v] / sl + zc / sc);
    }
    // Down pass, in place over z (f_v overwrites z_v once v's children are done).
    for (let v = 1; v < N / 2; v++) {
      const a = 2 * v, b = a + 1;
      const corr = z[v] - z[a] - z[b];
      const sab = s[a] + s[b];
      z[a] += (s[a] / sab) * corr;
      z[b] += (s[b] / sab) * corr;
    }
    for (let v = 2; v < N; v++) y[v] = z[v];
  }
}

/**
 * Σ_u σ²_u (Pᵀw)_u² for one coordinate: the variance of Σ_v w_v f_v after {@link makeConsistent},
 * with w given sparsely (node → weight).
 */
export function queryVariance(weights: ReadonlyMap<number, number>, L: number, sigma2: readonly number[]): number {
  const N = slots(L);
  const { s } = smoother(L, sigma2);
  const gf = new Float64Array(N), gz = new Float64Array(N);
  for (const [v, w] of weights) gf[v] += w;
  // Adjoint of the down pass (children were computed after their parent: reverse order).
  for (let v = N / 2 - 1; v >= 1; v--) {
    const a = 2 * v, b = a + 1;
    const sab = s[a] + s[b];
    const ra = s[a] / sab, rb = s[b] / sab;
    // f_a = z_a + ra (f_v − z_a − z_b), f_b = z_b + rb (f_v − z_a − z_b)
    gf[v] += ra * gf[a] + rb * gf[b];
    gz[a] += gf[a] * (1 - ra) - rb * gf[b];
    gz[b] += gf[b] * (1 - rb) - ra * gf[a];
  }
  gz[1] += gf[1];  // f_r = z_r
  // Adjoint of the up pass (parents were computed after their children: forward order).
  let total = 0;
  for (let v = 1; v < N; v++) {
    if (v >= N / 2) { total += sigma2[L - 1] * gz[v] * gz[v]; continue; }
    const a = 2 * v, b = a + 1;
    if (v === 1) { gz[a] += gz[v]; gz[b] += gz[v]; continue; }
    const sl = sigma2[levelOf(v) - 1], sc = s[a] + s[b];
    const gy = gz[v] * s[v] / sl;  // z_v = s_v (y_v/σ² + (z_a + z_b)/s_c)
    total += sl * gy * gy;
    gz[a] += gz[v] * s[v] / sc;
    gz[b] += gz[v] * s[v] / sc;
  }
  return total;
}
