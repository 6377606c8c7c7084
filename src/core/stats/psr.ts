/**
 * Sharpe-ratio inference (Bailey & López de Prado):
 *
 * - PSR, the Probabilistic Sharpe Ratio, and MinTRL, the minimum track record length:
 *   D. H. Bailey and M. López de Prado (2012), "The Sharpe Ratio Efficient Frontier", Journal of
 *   Risk 15(2), 3–44 (SSRN 1821643), eqs. for PSR and MinTRL:
 *
 *     PSR(SR*) = Φ( (SR̂ − SR*)·√(T − 1) / √(1 − γ3·SR̂ + (γ4 − 1)/4·SR̂²) )
 *     MinTRL   = 1 + (1 − γ3·SR̂ + (γ4 − 1)/4·SR̂²)·( Φ⁻¹(α) / (SR̂ − SR*) )²
 *
 * - DSR, the Deflated Sharpe Ratio: D. H. Bailey and M. López de Prado (2014), "The Deflated Sharpe
 *   Ratio: Correcting for Selection Bias, Backtest Overfitting and Non-Normality", Journal of
 *   Portfolio Management 40(5), 94–107 (SSRN 2460551):
 *
 *     SR₀ = √V[{SR_n}] · ( (1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)) ),   DSR = PSR(SR₀)
 *
 *   with γ the Euler–Mascheroni constant and N the number of independent trials.
 *
 * Every Sharpe ratio here is PER PERIOD (not annualised), T is the number of returns, γ3 the
 * skewness and γ4 the RAW kurtosis (3 for a normal distribution) — not the excess kurtosis that
 * pandas' kurt() and scipy's kurtosis() return by default (quantstats and vectorbt pass excess
 * kurtosis into (γ4 − 1)/4 and so understate the variance; see docs/evidence.md).
 *
 * Moments: SR̂ = mean / sample std (ddof 1, as the report's Sharpe); γ3 = m3 / m2^{3/2} and
 * γ4 = m4 / m2² with the population central moments m_k = (1/T)·Σ(r − r̄)^k (scipy.stats.skew and
 * kurtosis(fisher=False) with their default bias=True, as in the authors' own code).
 *
 * A statistic that is not defined is null with a reason, never NaN.
 * Pure: no I/O, no clock, no randomness.
 */
import { normalCdf, normalInv } from './normal.js';

export const EULER_MASCHERONI = 0.5772156649015329;

export interface ReturnMoments {
  /** T: number of returns. */
  n: number;
  mean: number;
  /** Sample standard deviation (ddof 1); null when T < 2. */
  std: number | null;
  /** Per-period Sharpe ratio mean/std; null when T < 2 or the variance is 0. */
  sharpe: number | null;
  /** γ3; null when the variance is 0. */
  skewness: number | null;
  /** γ4, raw (normal = 3); null when the variance is 0. */
  kurtosis: number | null;
  /** Why sharpe (and with it the moments) is null. */
  reason: string | null;
}

export function returnMoments(returns: ArrayLike<number>): ReturnMoments {
  const n = returns.length;
  if (n === 0) return { n, mean: NaN, std: null, sharpe: null, skewness: null, kurtosis: null, reason: 'no returns' };
  let s = 0;
  for (let i = 0; i < n; i++) s += returns[i]!;
  const mean = s / n;
  let m2 = 0;
  let m3 = 0;
  let m4 = 0;
  let constant = true;
  for (let i = 0; i < n; i++) {
    const d = returns[i]! - mean;
    const d2 = d * d;
    m2 += d2;
    m3 += d2 * d;
    m4 += d2 * d2;
    if (returns[i] !== returns[0]) constant = false;
  }
  if (n < 2) return { n, mean, std: null, sharpe: null, skewness: null, kurtosis: null, reason: 'fewer than 2 returns' };
  if (constant || m2 === 0) {
    return { n, mean, std: 0, sharpe: null, skewness: null, kurtosis: null, reason: 'every return is the same (zero variance), e.g. the policy never held a position' };
  }
  const std = Math.sqrt(m2 / (n - 1));
  const p2 = m2 / n;
  return {
    n,
    mean,
    std,
    sharpe: mean / std,
    skewness: m3 / n / p2 ** 1.5,
    kurtosis: m4 / n / (p2 * p2),
    reason: null,
  };
}

/** The variance term 1 − γ3·SR + (γ4 − 1)/4·SR² (T − 1 times the variance of SR̂). */
export function sharpeVarianceTerm(sr: number, skewness: number, kurtosis: number): number {
  return 1 - skewness * sr + ((kurtosis - 1) / 4) * sr * sr;
}

export type Stat = { value: number; reason: null } | { value: null; reason: string };

const undefinedStat = (reason: string): Stat => ({ value: null, reason });

/**
 * PSR(SR*): the probability that the true per-period Sharpe ratio exceeds `benchmark`, given the
 * observed SR̂ over `n` returns with skewness γ3 and raw kurtosis γ4.
 */
export function probabilisticSharpe(sr: number, benchmark: number, n: number, skewness: number, kurtosis: number): Stat {
  if (!(n >= 2)) return undefinedStat(`needs at least 2 returns, got ${n}`);
  const v = sharpeVarianceTerm(sr, skewness, kurtosis);
  if (!(v > 0) || !Number.isFinite(v)) return undefinedStat(`the Sharpe ratio's variance term 1 − γ3·SR + (γ4 − 1)/4·SR² is ${v}, not positive`);
  return { value: normalCdf(((sr - benchmark) * Math.sqrt(n - 1)) / Math.sqrt(v)), reason: null };
}

/**
 * MinTRL: the number of returns needed for PSR(SR*) ≥ `confidence` at the observed SR̂, γ3, γ4.
 * Not defined when SR̂ ≤ SR* (no track record length suffices).
 */
export function minTrackRecordLength(sr: number, benchmark: number, skewness: number, kurtosis: number, confidence: number): Stat {
  if (!(confidence > 0 && confidence < 1)) return undefinedStat(`the confidence must be in (0, 1), got ${confidence}`);
  if (!(sr > benchmark)) return undefinedStat(`the observed Sharpe ratio does not exceed the benchmark, so no track record length would reach ${confidence * 100} % confidence`);
  const v = sharpeVarianceTerm(sr, skewness, kurtosis);
  if (!(v > 0) || !Number.isFinite(v)) return undefinedStat(`the Sharpe ratio's variance term 1 − γ3·SR + (γ4 − 1)/4·SR² is ${v}, not positive`);
  const z = normalInv(confidence);
  return { value: 1 + v * (z / (sr - benchmark)) ** 2, reason: null };
}

/**
 * E[max of N standard normal draws] as Bailey & López de Prado approximate it:
 * (1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)). For N = 1 the maximum of one draw is the draw itself,
 * whose expectation is exactly 0 (the approximation's Φ⁻¹(0) = −∞ would be meaningless).
 */
export function expectedMaxStandardNormal(trials: number): number {
  if (!(Number.isInteger(trials) && trials >= 1)) throw new RangeError(`trials must be a positive integer, got ${trials}`);
  if (trials === 1) return 0;
  return (1 - EULER_MASCHERONI) * normalInv(1 - 1 / trials) + EULER_MASCHERONI * normalInv(1 - 1 / (trials * Math.E));
}

/** SR₀: the expected maximum per-period Sharpe ratio of N zero-skill trials whose Sharpe ratios have variance `variance`. */
export function expectedMaxSharpe(trials: number, variance: number): number {
  if (!(variance >= 0)) throw new RangeError(`the variance of the trials' Sharpe ratios must be ≥ 0, got ${variance}`);
  return Math.sqrt(variance) * expectedMaxStandardNormal(trials);
}

/**
 * DSR = PSR(SR₀) with SR₀ = expectedMaxSharpe(trials, variance). Returns SR₀ as well.
 */
export function deflatedSharpe(sr: number, n: number, skewness: number, kurtosis: number, trials: number, variance: number): Stat & { expectedMax: number } {
  const expectedMax = expectedMaxSharpe(trials, variance);
  return { ...probabilisticSharpe(sr, expectedMax, n, skewness, kurtosis), expectedMax };
}
