/**
 * The feature vocabulary of policy cards (SPEC section 3) and its columnar computation.
 *
 * Every feature is a pure function of a fixed trailing span of bars ending at the bar τ it is
 * computed for, so its warm-up is known (`featureSpan`) and it can never read a bar after τ.
 *
 * Three kinds of feature exist:
 *  - `column`: a value per bar that depends only on that bar's trailing span (log_return, rsi, …).
 *    `computeFeatureColumns` computes these for a whole BarSeries at once.
 *  - `window`: window-relative prices and volume (open_rel … close_rel, volume_rel). Their value in a
 *    row depends on the decision bar (the newest bar of the observation window), so one bar can hold
 *    different values in different observations; the ObservationBuilder computes them per decision.
 *  - `state`: position and unrealized_return come from the simulator at decision time.
 *
 * Numerics: every trailing-window statistic is recomputed from its own window (forward summation;
 * two-pass mean / squared deviations for standard deviations) instead of a rolling sum. Rolling sums
 * drift, and worse, they make a value depend (in its last bits) on every bar since the start of the
 * series, so the same decision bar would get a different observation depending on where the fetched
 * history starts. Recomputing keeps each value a bit-exact function of its span, agrees with a naive
 * computation to a few ulps, and costs O(N · span) — about 10^8 flops for 180 days of 1Min bars with
 * a 100-bar period, a fraction of a second. Each such sum is a chain of dependent additions, so the
 * longer statistics compute four consecutive bars side by side (four independent chains, each in
 * exactly the one-bar order: the same values, about twice as fast; docs/performance.md).
 */
import type { BarSeries } from './types.js';

export const LAG_FEATURES = ['log_return', 'return'] as const;
export const PERIOD_FEATURES = ['volatility', 'rsi', 'sma_ratio', 'ema_ratio', 'volume_z'] as const;
export const BAR_FEATURES = ['range', 'body', 'hour_sin', 'hour_cos', 'dow_sin', 'dow_cos'] as const;
export const WINDOW_FEATURES = ['open_rel', 'high_rel', 'low_rel', 'close_rel', 'volume_rel'] as const;
export const STATE_FEATURES = ['position', 'unrealized_return'] as const;

export type LagFeatureName = (typeof LAG_FEATURES)[number];
export type PeriodFeatureName = (typeof PERIOD_FEATURES)[number];
export type BarFeatureName = (typeof BAR_FEATURES)[number];
export type WindowFeatureName = (typeof WINDOW_FEATURES)[number];
export type StateFeatureName = (typeof STATE_FEATURES)[number];
export type FeatureName = LagFeatureName | PeriodFeatureName | BarFeatureName | WindowFeatureName | StateFeatureName;

export const FEATURE_NAMES: readonly FeatureName[] = [
  ...LAG_FEATURES,
  ...PERIOD_FEATURES,
  ...BAR_FEATURES,
  ...WINDOW_FEATURES,
  ...STATE_FEATURES,
];

/** One feature of a card, with its parameter resolved (log_return / return: lag defaults to 1). */
export type FeatureSpec =
  | { readonly name: LagFeatureName; readonly lag: number }
  | { readonly name: PeriodFeatureName; readonly period: number }
  | { readonly name: BarFeatureName | WindowFeatureName | StateFeatureName };

export type FeatureKind = 'column' | 'window' | 'state';

/** The largest lag or period accepted: keeps warm-up fetches and O(N · span) work bounded. */
export const MAX_FEATURE_PARAM = 100_000;

/** The parameter a feature takes, its default, and its smallest meaningful value. */
export function featureParam(name: FeatureName): { key: 'lag' | 'period'; default: number | null; min: number } | null {
  if (isLagFeature(name)) return { key: 'lag', default: 1, min: 1 };
  if (isPeriodFeature(name)) {
    // A sample standard deviation (ddof 1) needs at least two values.
    const min = name === 'volatility' || name === 'volume_z' ? 2 : 1;
    return { key: 'period', default: null, min };
  }
  return null;
}

export function isFeatureName(value: unknown): value is FeatureName {
  return typeof value === 'string' && (FEATURE_NAMES as readonly string[]).includes(value);
}

function isLagFeature(name: string): name is LagFeatureName {
  return (LAG_FEATURES as readonly string[]).includes(name);
}

function isPeriodFeature(name: string): name is PeriodFeatureName {
  return (PERIOD_FEATURES as readonly string[]).includes(name);
}

export function featureKind(spec: FeatureSpec | FeatureName): FeatureKind {
  const name = typeof spec === 'string' ? spec : spec.name;
  if ((STATE_FEATURES as readonly string[]).includes(name)) return 'state';
  if ((WINDOW_FEATURES as readonly string[]).includes(name)) return 'window';
  return 'column';
}

/**
 * The number of bars, ending at and including τ, that the feature's value at τ reads.
 * Window-relative and state features read one bar per row (the observation window adds W − 1).
 */
export function featureSpan(spec: FeatureSpec): number {
  if ('lag' in spec) return spec.lag + 1; // c_{τ−k} .. c_τ
  if ('period' in spec) {
    switch (spec.name) {
      case 'volatility':
      case 'rsi':
        return spec.period + 1; // n one-bar changes need n + 1 closes
      case 'sma_ratio':
      case 'volume_z':
        return spec.period;
      case 'ema_ratio':
        return 4 * spec.period;
    }
  }
  return 1;
}

/** A stable, readable name for one feature spec: `log_return(lag=24)`, `rsi(period=14)`, `hour_sin`. */
export function featureLabel(spec: FeatureSpec): string {
  if ('lag' in spec) return `${spec.name}(lag=${spec.lag})`;
  if ('period' in spec) return `${spec.name}(period=${spec.period})`;
  return spec.name;
}

/**
 * One column per feature spec, aligned with `bars` (value at index τ = the feature at bar τ).
 * NaN where the trailing span is not yet available (τ < span − 1). Window-relative and state
 * features are not per-bar values: their entry is `null` (see `featureKind`).
 * Identical specs share one (read-only) column; with `cache`, also with earlier calls that used it.
 */
export function computeFeatureColumns(
  bars: BarSeries,
  features: readonly FeatureSpec[],
  cache: FeatureColumnCache = new Map(),
): (Float64Array | null)[] {
  let shared: SharedSeries | undefined;
  return features.map((spec) => {
    const key = featureLabel(spec);
    let column = cache.get(key);
    if (column === undefined) {
      column = computeColumn(bars, spec, (shared ??= new SharedSeries(bars)));
      cache.set(key, column);
    }
    return column;
  });
}

/**
 * Columns by feature label, for sharing between calls on the same, unchanged bars (the caller
 * guarantees both: ObservationBuilder keys one per BarSeries object and checks the bars did not change).
 */
export type FeatureColumnCache = Map<string, Float64Array | null>;

/** One feature's column (or null for window-relative and state features). */
export function computeFeatureColumn(bars: BarSeries, spec: FeatureSpec): Float64Array | null {
  return computeColumn(bars, spec, new SharedSeries(bars));
}

/** Intermediate series shared by several features, computed on first use. */
class SharedSeries {
  private logReturns: Float64Array | undefined;
  constructor(private readonly bars: BarSeries) {}

  /** ln(c_i / c_{i−1}); NaN at 0. */
  oneBarLogReturns(): Float64Array {
    if (this.logReturns === undefined) {
      const c = this.bars.close;
      const out = new Float64Array(c.length).fill(NaN);
      for (let i = 1; i < c.length; i++) out[i] = Math.log(c[i] / c[i - 1]);
      this.logReturns = out;
    }
    return this.logReturns;
  }
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** UTC hour (0..23) of an epoch-ms time. */
export function utcHour(timeMs: number): number {
  const inDay = ((timeMs % DAY_MS) + DAY_MS) % DAY_MS;
  return Math.floor(inDay / HOUR_MS);
}

/** UTC weekday with Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday = 3). */
export function utcWeekdayMonday0(timeMs: number): number {
  const day = Math.floor(timeMs / DAY_MS);
  return (((day + 3) % 7) + 7) % 7;
}

function computeColumn(bars: BarSeries, spec: FeatureSpec, shared: SharedSeries): Float64Array | null {
  if (featureKind(spec) !== 'column') return null;
  const n = bars.close.length;
  const out = new Float64Array(n).fill(NaN);
  const { open: o, high: h, low: l, close: c, volume: v, time: t } = bars;

  if ('lag' in spec) {
    const k = spec.lag;
    if (spec.name === 'log_return') for (let i = k; i < n; i++) out[i] = Math.log(c[i] / c[i - k]);
    else for (let i = k; i < n; i++) out[i] = c[i] / c[i - k] - 1;
    return out;
  }

  if ('period' in spec) {
    const p = spec.period;
    switch (spec.name) {
      case 'volatility': {
        const r = shared.oneBarLogReturns();
        // The last p one-bar log returns at τ are r[τ−p+1..τ]; r[0] does not exist, so τ ≥ p.
        let i = p;
        for (; i + 3 < n; i += 4) sampleStd4(r, i - p + 1, p, out, i, null);
        for (; i < n; i++) out[i] = sampleStd(r, i - p + 1, i + 1);
        return out;
      }
      case 'rsi': {
        let i = p;
        // Four bars at a time: independent sums, each in the same order as one bar at a time.
        for (; i + 3 < n; i += 4) {
          let g0 = 0, g1 = 0, g2 = 0, g3 = 0;
          let l0 = 0, l1 = 0, l2 = 0, l3 = 0;
          for (let j = i - p + 1; j <= i; j++) {
            const d0 = c[j] - c[j - 1];
            const d1 = c[j + 1] - c[j];
            const d2 = c[j + 2] - c[j + 1];
            const d3 = c[j + 3] - c[j + 2];
            // Adding 0 leaves a sum unchanged (it starts at +0), so this equals the branches below.
            g0 += d0 > 0 ? d0 : 0;
            l0 -= d0 < 0 ? d0 : 0;
            g1 += d1 > 0 ? d1 : 0;
            l1 -= d1 < 0 ? d1 : 0;
            g2 += d2 > 0 ? d2 : 0;
            l2 -= d2 < 0 ? d2 : 0;
            g3 += d3 > 0 ? d3 : 0;
            l3 -= d3 < 0 ? d3 : 0;
          }
          out[i] = g0 + l0 === 0 ? 0.5 : g0 / (g0 + l0);
          out[i + 1] = g1 + l1 === 0 ? 0.5 : g1 / (g1 + l1);
          out[i + 2] = g2 + l2 === 0 ? 0.5 : g2 / (g2 + l2);
          out[i + 3] = g3 + l3 === 0 ? 0.5 : g3 / (g3 + l3);
        }
        for (; i < n; i++) {
          let gain = 0;
          let loss = 0;
          for (let j = i - p + 1; j <= i; j++) {
            const d = c[j] - c[j - 1];
            if (d > 0) gain += d;
            else if (d < 0) loss -= d;
          }
          // mean gain / (mean gain + mean loss): the 1/p factors cancel.
          out[i] = gain + loss === 0 ? 0.5 : gain / (gain + loss);
        }
        return out;
      }
      case 'sma_ratio': {
        let i = p - 1;
        for (; i + 3 < n; i += 4) {
          let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          for (let j = i - p + 1; j <= i; j++) {
            s0 += c[j];
            s1 += c[j + 1];
            s2 += c[j + 2];
            s3 += c[j + 3];
          }
          out[i] = c[i] / (s0 / p) - 1;
          out[i + 1] = c[i + 1] / (s1 / p) - 1;
          out[i + 2] = c[i + 2] / (s2 / p) - 1;
          out[i + 3] = c[i + 3] / (s3 / p) - 1;
        }
        for (; i < n; i++) {
          let sum = 0;
          for (let j = i - p + 1; j <= i; j++) sum += c[j];
          out[i] = c[i] / (sum / p) - 1;
        }
        return out;
      }
      case 'ema_ratio': {
        const alpha = 2 / (p + 1);
        const beta = 1 - alpha;
        const span = 4 * p;
        let i = span - 1;
        for (; i + 3 < n; i += 4) {
          const start = i - span + 1;
          let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          for (let j = start; j < start + p; j++) {
            s0 += c[j];
            s1 += c[j + 1];
            s2 += c[j + 2];
            s3 += c[j + 3];
          }
          let e0 = s0 / p, e1 = s1 / p, e2 = s2 / p, e3 = s3 / p;
          for (let j = start + p; j <= i; j++) {
            e0 = alpha * c[j] + beta * e0;
            e1 = alpha * c[j + 1] + beta * e1;
            e2 = alpha * c[j + 2] + beta * e2;
            e3 = alpha * c[j + 3] + beta * e3;
          }
          out[i] = c[i] / e0 - 1;
          out[i + 1] = c[i + 1] / e1 - 1;
          out[i + 2] = c[i + 2] / e2 - 1;
          out[i + 3] = c[i + 3] / e3 - 1;
        }
        for (; i < n; i++) {
          const start = i - span + 1;
          let sum = 0;
          for (let j = start; j < start + p; j++) sum += c[j];
          let ema = sum / p; // the EMA at bar start + p − 1
          for (let j = start + p; j <= i; j++) ema = alpha * c[j] + beta * ema;
          out[i] = c[i] / ema - 1;
        }
        return out;
      }
      case 'volume_z': {
        let i = p - 1;
        for (; i + 3 < n; i += 4) sampleStd4(v, i - p + 1, p, out, i, v);
        for (; i < n; i++) {
          const from = i - p + 1;
          const sd = sampleStd(v, from, i + 1);
          out[i] = sd === 0 ? 0 : (v[i] - windowMean(v, from, i + 1)) / sd;
        }
        return out;
      }
    }
  }

  switch (spec.name) {
    case 'range':
      for (let i = 0; i < n; i++) out[i] = (h[i] - l[i]) / c[i];
      return out;
    case 'body':
      for (let i = 0; i < n; i++) out[i] = (c[i] - o[i]) / o[i];
      return out;
    case 'hour_sin':
      for (let i = 0; i < n; i++) out[i] = Math.sin((2 * Math.PI * utcHour(t[i])) / 24);
      return out;
    case 'hour_cos':
      for (let i = 0; i < n; i++) out[i] = Math.cos((2 * Math.PI * utcHour(t[i])) / 24);
      return out;
    case 'dow_sin':
      for (let i = 0; i < n; i++) out[i] = Math.sin((2 * Math.PI * utcWeekdayMonday0(t[i])) / 7);
      return out;
    case 'dow_cos':
      for (let i = 0; i < n; i++) out[i] = Math.cos((2 * Math.PI * utcWeekdayMonday0(t[i])) / 7);
      return out;
  }
  /* c8 ignore next */
  throw new Error(`feature ${featureLabel(spec)} has no column computation`);
}

/** Mean of x[from..to) by forward summation. */
function windowMean(x: Float64Array, from: number, to: number): number {
  let sum = 0;
  for (let j = from; j < to; j++) sum += x[j];
  return sum / (to - from);
}

/** Sample standard deviation (ddof 1) of x[from..to), two-pass; exactly 0 when all values are equal. */
function sampleStd(x: Float64Array, from: number, to: number): number {
  // A rounded mean of equal values can differ from them by an ulp; the std is exactly 0 then.
  if (allEqual(x, from, to)) return 0;
  const mean = windowMean(x, from, to);
  let ss = 0;
  for (let j = from; j < to; j++) {
    const d = x[j] - mean;
    ss += d * d;
  }
  return Math.sqrt(ss / (to - from - 1));
}

function allEqual(x: Float64Array, from: number, to: number): boolean {
  const first = x[from];
  for (let j = from + 1; j < to; j++) if (x[j] !== first) return false;
  return true;
}

/**
 * sampleStd over the four windows x[from + k .. from + k + len), k = 0..3, computed side by side (four
 * independent dependency chains, each summed in the same order as sampleStd, so the values are
 * identical; only faster). Writes out[at + k] = the std, or, with `z` (volume_z), the z-score of
 * z[at + k] against its window: 0 when the std is 0, else (z − mean) / std — windowMean's mean is
 * exactly the mean computed here.
 */
function sampleStd4(x: Float64Array, from: number, len: number, out: Float64Array, at: number, z: Float64Array | null): void {
  const f0 = x[from];
  const f1 = x[from + 1];
  const f2 = x[from + 2];
  const f3 = x[from + 3];
  let q0 = true, q1 = true, q2 = true, q3 = true;
  // Forward sums from 0, as windowMean does (0 + x is x, except that −0 becomes +0).
  let s0 = 0 + f0, s1 = 0 + f1, s2 = 0 + f2, s3 = 0 + f3;
  for (let j = from + 1; j < from + len; j++) {
    const a0 = x[j];
    const a1 = x[j + 1];
    const a2 = x[j + 2];
    const a3 = x[j + 3];
    if (a0 !== f0) q0 = false;
    if (a1 !== f1) q1 = false;
    if (a2 !== f2) q2 = false;
    if (a3 !== f3) q3 = false;
    s0 += a0;
    s1 += a1;
    s2 += a2;
    s3 += a3;
  }
  const m0 = s0 / len;
  const m1 = s1 / len;
  const m2 = s2 / len;
  const m3 = s3 / len;
  let ss0 = 0, ss1 = 0, ss2 = 0, ss3 = 0;
  for (let j = from; j < from + len; j++) {
    const d0 = x[j] - m0;
    const d1 = x[j + 1] - m1;
    const d2 = x[j + 2] - m2;
    const d3 = x[j + 3] - m3;
    ss0 += d0 * d0;
    ss1 += d1 * d1;
    ss2 += d2 * d2;
    ss3 += d3 * d3;
  }
  const sd0 = q0 ? 0 : Math.sqrt(ss0 / (len - 1));
  const sd1 = q1 ? 0 : Math.sqrt(ss1 / (len - 1));
  const sd2 = q2 ? 0 : Math.sqrt(ss2 / (len - 1));
  const sd3 = q3 ? 0 : Math.sqrt(ss3 / (len - 1));
  if (z === null) {
    out[at] = sd0;
    out[at + 1] = sd1;
    out[at + 2] = sd2;
    out[at + 3] = sd3;
  } else {
    out[at] = sd0 === 0 ? 0 : (z[at] - m0) / sd0;
    out[at + 1] = sd1 === 0 ? 0 : (z[at + 1] - m1) / sd1;
    out[at + 2] = sd2 === 0 ? 0 : (z[at + 2] - m2) / sd2;
    out[at + 3] = sd3 === 0 ? 0 : (z[at + 3] - m3) / sd3;
  }
}
