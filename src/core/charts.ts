/**
 * The curves report.html draws, as data in report.json (`models[].charts`): for the backtest and for
 * every walk-forward fold, the policy's equity, buy & hold on the same capital, and the drawdown.
 *
 * - equity: E_0..E_N of the simulation (SPEC 5), E_0 = capital at the start of the first window bar.
 * - buyHold: the capital put into the asset at the price of the first fill (the open of the first
 *   window bar for `fill: next_open`, the close of the bar before it for `fill: close`) and marked at
 *   each close, gross of costs: capital · close_k / firstFillPrice (E_0 = capital). Its last point is
 *   capital · (1 + metrics.buyHoldReturn).
 * - drawdown: 1 − E_t / max_{s≤t} E_s with E_0 counted as a peak (the definition of
 *   metrics.maxDrawdown), a positive fraction; computed on the full curve before downsampling.
 *
 * Downsampling keeps report.json and report.html small (a 30-day backtest of 1-minute bars has
 * 43,200 points) without hiding what matters: a curve of more than `maxPoints` points is cut into
 * equal buckets by point index, and each bucket keeps the points of its lowest and its highest
 * equity (min/max decimation, so every peak and trough of the equity survives at chart resolution).
 * The first and last points, the point of the maximum drawdown and buy & hold's lowest and highest
 * points are always kept; so the chart's last equity is metrics.finalEquity and its largest drawdown
 * is metrics.maxDrawdown. Kept points keep their exact time and values (rounded for the file: money
 * to the cent, drawdown to 1e-8). `points` says how many points the full curve had.
 *
 * Pure: no I/O, no clock, no randomness.
 */
import type { BarSeries } from './types.js';

/** Default point budget per curve: 400 for the backtest, 160 for each fold's smaller chart (report.json stays a few hundred KB). */
export const BACKTEST_CHART_POINTS = 400;
export const FOLD_CHART_POINTS = 160;

export interface CurveSeries {
  /** Points of the full curve (N + 1), before downsampling. */
  points: number;
  /** ISO 8601 UTC: E_0 at the start of the first window bar, E_k at the close of window bar k. */
  time: string[];
  equity: number[];
  buyHold: number[];
  drawdown: number[];
}

export interface FoldCurveSeries extends CurveSeries {
  /** The fold number (walkForward.folds[].index). */
  index: number;
}

export interface ModelCharts {
  /** How the curves were thinned; see docs/reports.md. */
  downsampling: 'min-max buckets';
  backtest: CurveSeries;
  folds: FoldCurveSeries[];
}

/** What a curve needs from a finished simulation (a subset of BacktestResult). */
export interface SimulatedCurve {
  /** Index of the first window bar in `bars`. */
  start: number;
  fill: 'next_open' | 'close';
  curve: { timestamps: ArrayLike<number>; equity: ArrayLike<number> };
}

/** Full-resolution curves of one window: buy & hold and drawdown next to the equity. */
export function fullCurves(sim: SimulatedCurve, bars: Pick<BarSeries, 'open' | 'close'>): { time: Float64Array; equity: Float64Array; buyHold: Float64Array; drawdown: Float64Array } {
  const n = sim.curve.equity.length;
  const time = Float64Array.from(sim.curve.timestamps);
  const equity = Float64Array.from(sim.curve.equity);
  const buyHold = new Float64Array(n);
  const drawdown = new Float64Array(n);
  if (n === 0) return { time, equity, buyHold, drawdown };
  const capital = equity[0]!;
  const firstFill = sim.fill === 'next_open' ? bars.open[sim.start]! : bars.close[sim.start - 1]!;
  buyHold[0] = capital;
  for (let k = 1; k < n; k++) buyHold[k] = (capital * bars.close[sim.start + k - 1]!) / firstFill;
  let peak = -Infinity;
  for (let k = 0; k < n; k++) {
    peak = Math.max(peak, equity[k]!);
    drawdown[k] = peak > 0 ? Math.max(0, 1 - equity[k]! / peak) : 0;
  }
  return { time, equity, buyHold, drawdown };
}

function argExtremes(values: ArrayLike<number>, from: number, to: number): [number, number] {
  let lo = from;
  let hi = from;
  for (let i = from + 1; i < to; i++) {
    if (values[i]! < values[lo]!) lo = i;
    if (values[i]! > values[hi]!) hi = i;
  }
  return [lo, hi];
}

/**
 * The indices of `values` a chart keeps: all of them when there are at most `maxPoints`, otherwise
 * the first, the last, each of `keep`, and the lowest and highest point of each of the equal buckets
 * the rest is cut into — never more than `maxPoints` (at least 4 + keep.length). Sorted, unique.
 */
export function downsampleIndices(values: ArrayLike<number>, maxPoints: number, keep: readonly number[] = []): number[] {
  const n = values.length;
  if (n <= maxPoints) return Array.from({ length: n }, (_, i) => i);
  const fixed = new Set<number>([0, n - 1, ...keep.filter((i) => Number.isInteger(i) && i >= 0 && i < n)]);
  const buckets = Math.max(1, Math.floor((maxPoints - fixed.size) / 2));
  const chosen = new Set(fixed);
  const interior = n - 2;
  for (let b = 0; b < buckets; b++) {
    const from = 1 + Math.floor((b * interior) / buckets);
    const to = 1 + Math.floor(((b + 1) * interior) / buckets);
    if (to <= from) continue;
    const [lo, hi] = argExtremes(values, from, to);
    chosen.add(lo);
    chosen.add(hi);
  }
  return [...chosen].sort((a, b) => a - b);
}

const cents = (v: number): number => Math.round(v * 100) / 100;
const fraction = (v: number): number => Math.round(v * 1e8) / 1e8;

/** One window's chart series, downsampled to at most `maxPoints` points. */
export function curveSeries(sim: SimulatedCurve, bars: Pick<BarSeries, 'open' | 'close'>, maxPoints: number): CurveSeries {
  const full = fullCurves(sim, bars);
  const n = full.equity.length;
  let worst = 0;
  for (let i = 1; i < n; i++) if (full.drawdown[i]! > full.drawdown[worst]!) worst = i;
  const [bhLo, bhHi] = n > 0 ? argExtremes(full.buyHold, 0, n) : [0, 0];
  const idx = downsampleIndices(full.equity, maxPoints, [worst, bhLo, bhHi]);
  return {
    points: n,
    time: idx.map((i) => new Date(full.time[i]!).toISOString()),
    equity: idx.map((i) => cents(full.equity[i]!)),
    buyHold: idx.map((i) => cents(full.buyHold[i]!)),
    drawdown: idx.map((i) => fraction(full.drawdown[i]!)),
  };
}

/** The charts of one model: its backtest and its folds (fold numbers from `foldIndices`). */
export function modelCharts(
  backtest: SimulatedCurve,
  folds: readonly SimulatedCurve[],
  foldIndices: readonly number[],
  bars: Pick<BarSeries, 'open' | 'close'>,
  budget: { backtest: number; fold: number } = { backtest: BACKTEST_CHART_POINTS, fold: FOLD_CHART_POINTS },
): ModelCharts {
  return {
    downsampling: 'min-max buckets',
    backtest: curveSeries(backtest, bars, budget.backtest),
    folds: folds.map((f, i) => ({ index: foldIndices[i]!, ...curveSeries(f, bars, budget.fold) })),
  };
}
