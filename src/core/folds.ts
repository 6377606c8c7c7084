/**
 * Evaluation windows and walk-forward folds (SPEC sections 5 and 6), and the fold summary.
 *
 * Choices where SPEC is silent:
 * - `evaluationWindow` snaps `end` to the start time of the last bar at or before it ("end = start
 *   time of the last bar used"), then keeps the bars with end − days·24h < t ≤ end.
 * - Folds are numbered from 1 (fold k ↔ `<model id>.fold<k>.csv`).
 * - A fold whose Sharpe is null (zero variance, fewer than 2 returns) is left out of the Sharpe
 *   statistics, with a note naming the fold and the reason; with fewer than 2 defined Sharpes
 *   `sharpeStd` is null, and a null `sharpeStd` satisfies neither the GOOD nor the MARGINAL rule
 *   (so the rating is POOR): stability that cannot be measured is not assumed.
 * - A fold with a null totalReturn is not positive and is left out of the return statistics.
 *
 * Pure: no I/O, no clock, no randomness.
 */
import { inputError } from './errors.js';
import type { BacktestMetrics, MetricValue } from './types.js';

const DAY_MS = 86_400_000;

/** Inclusive bar index range. */
export interface IndexRange {
  start: number;
  end: number;
  bars: number;
}

export interface Fold extends IndexRange {
  /** 1-based fold number. */
  index: number;
}

export type FoldRating = 'GOOD' | 'MARGINAL' | 'POOR';

export interface RatingThresholds {
  good: { positiveShare: number; sharpeStdBelow: number };
  marginal: { positiveShare: number; sharpeStdAtMost: number };
}

/** SPEC 6: GOOD = positive share ≥ 0.8 and sharpeStd < 1.0; MARGINAL = share ≥ 0.6 and sharpeStd ≤ 2.0. */
export const DEFAULT_RATING: RatingThresholds = {
  good: { positiveShare: 0.8, sharpeStdBelow: 1.0 },
  marginal: { positiveShare: 0.6, sharpeStdAtMost: 2.0 },
};

/** The rating thresholds of a decision config: GOOD is LIVE's walk-forward test, MARGINAL is PAPER's. */
export function ratingThresholdsOf(d: { live: { minPositiveShare: number; maxSharpeStd: number }; paper: { minPositiveShare: number; maxSharpeStd: number } }): RatingThresholds {
  return {
    good: { positiveShare: d.live.minPositiveShare, sharpeStdBelow: d.live.maxSharpeStd },
    marginal: { positiveShare: d.paper.minPositiveShare, sharpeStdAtMost: d.paper.maxSharpeStd },
  };
}

/**
 * The walk-forward's rating — the one definition: summarizeFolds reports it and decide() reads it
 * (LIVE needs GOOD, PAPER at least MARGINAL), so a report cannot show a rating its decision contradicts.
 * GOOD: positive share ≥ good.positiveShare and Sharpe std < good.sharpeStdBelow; MARGINAL: share ≥
 * marginal.positiveShare and std ≤ marginal.sharpeStdAtMost; an undefined std is POOR.
 */
export function rateWalkForward(positiveShare: number, sharpeStd: number | null, t: RatingThresholds): FoldRating {
  if (sharpeStd === null) return 'POOR';
  if (positiveShare >= t.good.positiveShare && sharpeStd < t.good.sharpeStdBelow) return 'GOOD';
  if (positiveShare >= t.marginal.positiveShare && sharpeStd <= t.marginal.sharpeStdAtMost) return 'MARGINAL';
  return 'POOR';
}

export interface FoldSummary {
  positiveFolds: number;
  folds: number;
  positiveShare: number;
  sharpeMean: MetricValue;
  sharpeStd: MetricValue;
  sharpeMin: MetricValue;
  sharpeMax: MetricValue;
  returnMean: MetricValue;
  returnMin: MetricValue;
  returnMax: MetricValue;
  rating: FoldRating;
  /** Folds left out of a statistic, and why. */
  notes: string[];
  /** For every null field: why. */
  undefinedReasons: Record<string, string>;
}

/** Index of the first element > x (time sorted ascending). */
function upperBound(time: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = time.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (time[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The bars of the `days` days ending at `endMs` (default: the last bar): end − days·86 400 000 < t ≤ end,
 * with end snapped to the start time of the last bar at or before `endMs`.
 * 30 days of 1Hour bars without gaps → 720 bars.
 */
export function evaluationWindow(time: ArrayLike<number>, endMs: number | undefined, days: number): IndexRange {
  if (!(Number.isFinite(days) && days > 0)) throw inputError(`the window length must be a positive number of days, got ${days}`, 'days');
  if (time.length === 0) throw inputError('no bars: cannot place an evaluation window', 'bars');
  if (endMs !== undefined && !Number.isFinite(endMs)) throw inputError(`end must be a finite time, got ${endMs}`, 'end');
  const endRequest = endMs ?? time[time.length - 1];
  if (endRequest < time[0]) {
    throw inputError(`end ${new Date(endRequest).toISOString()} is before the first bar (${new Date(time[0]).toISOString()})`, 'end');
  }
  const end = upperBound(time, endRequest) - 1;
  const endT = time[end];
  const start = upperBound(time, endT - days * DAY_MS);
  if (start > end) throw inputError(`no bars in the ${days}-day window ending ${new Date(endT).toISOString()}`, 'days');
  return { start, end, bars: end - start + 1 };
}

/** K contiguous folds of floor(n/K) bars each; the last fold also takes the remainder n mod K. */
export function splitFolds(start: number, end: number, k: number): Fold[] {
  if (!Number.isInteger(k) || k < 1) throw inputError(`the number of folds must be a positive integer, got ${k}`, 'walk_forward.folds');
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0) {
    throw inputError(`fold range must be integer bar indices, got ${start}..${end}`, 'walk_forward');
  }
  const n = end - start + 1;
  if (n < k) throw inputError(`the walk-forward window has ${Math.max(0, n)} bars, fewer than the ${k} folds asked for`, 'walk_forward.folds');
  const size = Math.floor(n / k);
  const folds: Fold[] = [];
  for (let i = 0; i < k; i++) {
    const s = start + i * size;
    const e = i === k - 1 ? end : s + size - 1;
    folds.push({ index: i + 1, start: s, end: e, bars: e - s + 1 });
  }
  return folds;
}

function meanOf(x: readonly number[]): number {
  let s = 0;
  for (const v of x) s += v;
  return s / x.length;
}

/** What the summary needs from a fold's metrics (a BacktestMetrics fits). */
export type FoldMetrics = Pick<BacktestMetrics, 'totalReturn' | 'sharpe'> & { undefinedReasons?: Readonly<Record<string, string>> };

/**
 * SPEC 6 summary of the fold backtests. `expectedFolds` is K: any other number of results is an
 * error (never a silent single pass).
 */
export function summarizeFolds(foldMetrics: readonly FoldMetrics[], expectedFolds: number, thresholds: RatingThresholds = DEFAULT_RATING): FoldSummary {
  if (foldMetrics.length !== expectedFolds) {
    throw new Error(`walk-forward: expected ${expectedFolds} fold results, got ${foldMetrics.length}`);
  }
  if (expectedFolds < 1) throw new Error('walk-forward: at least one fold is needed');

  const notes: string[] = [];
  const reasons: Record<string, string> = {};
  const sharpes: number[] = [];
  const returns: number[] = [];
  let positiveFolds = 0;
  foldMetrics.forEach((m, i) => {
    if (m.sharpe === null) notes.push(`fold ${i + 1}: Sharpe undefined (${m.undefinedReasons?.sharpe ?? 'no reason given'}), left out of the Sharpe statistics`);
    else sharpes.push(m.sharpe);
    if (m.totalReturn === null) notes.push(`fold ${i + 1}: total return undefined (${m.undefinedReasons?.totalReturn ?? 'no reason given'}), counted as not positive`);
    else {
      returns.push(m.totalReturn);
      if (m.totalReturn > 0) positiveFolds++;
    }
  });

  const undef = (field: string, why: string): null => {
    reasons[field] = why;
    return null;
  };
  const noSharpe = 'no fold has a defined Sharpe ratio';
  const sharpeMean = sharpes.length > 0 ? meanOf(sharpes) : undef('sharpeMean', noSharpe);
  const sharpeMin = sharpes.length > 0 ? Math.min(...sharpes) : undef('sharpeMin', noSharpe);
  const sharpeMax = sharpes.length > 0 ? Math.max(...sharpes) : undef('sharpeMax', noSharpe);
  let sharpeStd: MetricValue;
  if (sharpes.length < 2) sharpeStd = undef('sharpeStd', `fewer than 2 folds with a defined Sharpe (${sharpes.length}): the sample standard deviation is undefined`);
  else {
    const m = meanOf(sharpes);
    let ss = 0;
    for (const s of sharpes) ss += (s - m) * (s - m);
    sharpeStd = Math.sqrt(ss / (sharpes.length - 1));
  }
  const noReturn = 'no fold has a defined total return';
  const returnMean = returns.length > 0 ? meanOf(returns) : undef('returnMean', noReturn);
  const returnMin = returns.length > 0 ? Math.min(...returns) : undef('returnMin', noReturn);
  const returnMax = returns.length > 0 ? Math.max(...returns) : undef('returnMax', noReturn);

  const folds = foldMetrics.length;
  const positiveShare = positiveFolds / folds;
  const rating = rateWalkForward(positiveShare, sharpeStd, thresholds);

  return {
    positiveFolds,
    folds,
    positiveShare,
    sharpeMean,
    sharpeStd,
    sharpeMin,
    sharpeMax,
    returnMean,
    returnMin,
    returnMax,
    rating,
    notes,
    undefinedReasons: reasons,
  };
}
