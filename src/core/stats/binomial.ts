/**
 * Small-sample tests on fold counts and paired fold differences.
 *
 * - binomialTail: P(X ≥ k) for X ~ Binomial(n, p), summed exactly from C(n, i)·p^i·(1 − p)^(n−i).
 *   Under a coin-flip null (p = ½) and K = 5 folds: P(X ≥ 5) = 1/32 = 0.03125, P(X ≥ 4) = 6/32 =
 *   0.1875, P(X ≥ 3) = 16/32 = 0.5.
 * - signTest: the two-sided sign test on paired differences (ties dropped), p = min(1, 2·P(X ≥ max(n+, n−))).
 * - pairedTTest: Student's paired t-test, t = d̄ / (s_d / √K) with K − 1 degrees of freedom; the
 *   two-sided p-value uses the exact closed form of Student's t CDF for an integer number of degrees
 *   of freedom (Abramowitz & Stegun 26.7.3 and 26.7.4).
 *
 * Pure: no I/O, no clock, no randomness.
 */
import type { Stat } from './psr.js';

/** C(n, k) as a double: each step c·(n − k + i)/i is C(n − k + i, i), an integer, so it is exact below 2^53. */
export function binomialCoefficient(n: number, k: number): number {
  if (!(Number.isInteger(n) && Number.isInteger(k)) || k < 0 || k > n) return 0;
  const kk = Math.min(k, n - k);
  let c = 1;
  for (let i = 1; i <= kk; i++) c = (c * (n - kk + i)) / i;
  return c;
}

/** P(X ≥ k) for X ~ Binomial(n, p). */
export function binomialTail(k: number, n: number, p = 0.5): number {
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`p must be in [0, 1], got ${p}`);
  if (k <= 0) return 1;
  if (k > n) return 0;
  let sum = 0;
  for (let i = Math.ceil(k); i <= n; i++) sum += binomialCoefficient(n, i) * p ** i * (1 - p) ** (n - i);
  return Math.min(1, sum);
}

export interface SignTest {
  positive: number;
  negative: number;
  ties: number;
  /** Two-sided p-value; null when every difference is a tie. */
  p: number | null;
  reason: string | null;
  /** The smallest two-sided p-value this many non-tied pairs can give: 2 / 2^n. */
  smallestPossibleP: number | null;
}

export function signTest(differences: readonly number[]): SignTest {
  let positive = 0;
  let negative = 0;
  for (const d of differences) {
    if (d > 0) positive++;
    else if (d < 0) negative++;
  }
  const n = positive + negative;
  const ties = differences.length - n;
  if (n === 0) return { positive, negative, ties, p: null, reason: 'every pair is a tie', smallestPossibleP: null };
  return {
    positive,
    negative,
    ties,
    p: Math.min(1, 2 * binomialTail(Math.max(positive, negative), n, 0.5)),
    reason: null,
    smallestPossibleP: Math.min(1, 2 / 2 ** n),
  };
}

/**
 * P(|T| ≤ t) for Student's t with an integer number of degrees of freedom ν ≥ 1 (A&S 26.7.3–4):
 * with θ = atan(t/√ν),
 *   ν odd:  (2/π)·[θ + sinθ·cosθ·(1 + (2/3)cos²θ + … + (2·4⋯(ν−3))/(1·3⋯(ν−2))·cos^(ν−3)θ)]  (just 2θ/π for ν = 1)
 *   ν even: sinθ·[1 + (1/2)cos²θ + (1·3)/(2·4)cos⁴θ + … + (1·3⋯(ν−3))/(2·4⋯(ν−2))·cos^(ν−2)θ]
 */
export function studentTCentral(t: number, df: number): number {
  if (!(Number.isInteger(df) && df >= 1)) throw new RangeError(`degrees of freedom must be a positive integer, got ${df}`);
  const theta = Math.atan(Math.abs(t) / Math.sqrt(df));
  const s = Math.sin(theta);
  const c = Math.cos(theta);
  const c2 = c * c;
  if (df % 2 === 1) {
    if (df === 1) return (2 * theta) / Math.PI;
    let term = 1;
    let sum = 1;
    for (let k = 2; k <= df - 3; k += 2) {
      term *= (k / (k + 1)) * c2;
      sum += term;
    }
    return (2 / Math.PI) * (theta + s * c * sum);
  }
  let term = 1;
  let sum = 1;
  for (let k = 1; k <= df - 3; k += 2) {
    term *= (k / (k + 1)) * c2;
    sum += term;
  }
  return s * sum;
}

/** Two-sided p-value of Student's t with integer degrees of freedom. */
export function studentTTwoSided(t: number, df: number): number {
  if (!Number.isFinite(t)) return Number.isNaN(t) ? NaN : 0;
  return Math.min(1, Math.max(0, 1 - studentTCentral(t, df)));
}

export interface PairedTTest {
  k: number;
  meanDifference: number | null;
  stdDifference: number | null;
  t: number | null;
  df: number | null;
  /** Two-sided p-value. */
  p: number | null;
  reason: string | null;
}

export function pairedTTest(differences: readonly number[]): PairedTTest {
  const k = differences.length;
  if (k === 0) return { k, meanDifference: null, stdDifference: null, t: null, df: null, p: null, reason: 'no pairs' };
  let s = 0;
  for (const d of differences) s += d;
  const mean = s / k;
  if (k < 2) return { k, meanDifference: mean, stdDifference: null, t: null, df: null, p: null, reason: 'one pair: no variance to test against' };
  let ss = 0;
  for (const d of differences) ss += (d - mean) * (d - mean);
  const std = Math.sqrt(ss / (k - 1));
  if (std === 0 || differences.every((d) => d === differences[0])) {
    return { k, meanDifference: mean, stdDifference: 0, t: null, df: k - 1, p: null, reason: 'every difference is the same: the t statistic is not defined' };
  }
  const t = mean / (std / Math.sqrt(k));
  return { k, meanDifference: mean, stdDifference: std, t, df: k - 1, p: studentTTwoSided(t, k - 1), reason: null };
}

/** P(X ≥ k) under a fair coin as a Stat (for reports). */
export function foldBinomialP(positive: number, folds: number): Stat {
  if (!(Number.isInteger(folds) && folds >= 1)) return { value: null, reason: `needs at least one fold, got ${folds}` };
  return { value: binomialTail(positive, folds, 0.5), reason: null };
}
