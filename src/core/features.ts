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
 * A fourth source feeds `column` features: `graph` (column k of the card's feature graph, a team's own
 * feature function exported to ONNX). Its values are computed by running the graph on each bar's own
 * trailing window (src/app/feature-graph.ts) and travel with the bars (BarSeries.graph); here they are
 * only looked up.
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
/** Indicators with their conventions as parameters (docs/policy-card.md gives each formula). */
export const INDICATOR_FEATURES = ['macd', 'macd_signal', 'macd_hist', 'bollinger_b', 'bollinger_width', 'atr', 'stoch_k', 'stoch_d', 'obv_z', 'obv_change', 'vwap_distance'] as const;
export const BAR_FEATURES = ['range', 'body', 'hour_sin', 'hour_cos', 'dow_sin', 'dow_cos'] as const;
export const WINDOW_FEATURES = ['open_rel', 'high_rel', 'low_rel', 'close_rel', 'volume_rel'] as const;
export const STATE_FEATURES = ['position', 'unrealized_return'] as const;
/** Column k of the card's observation.feature_graph. */
export const GRAPH_FEATURES = ['graph'] as const;

export type LagFeatureName = (typeof LAG_FEATURES)[number];
export type PeriodFeatureName = (typeof PERIOD_FEATURES)[number];
export type IndicatorFeatureName = (typeof INDICATOR_FEATURES)[number];
export type BarFeatureName = (typeof BAR_FEATURES)[number];
export type WindowFeatureName = (typeof WINDOW_FEATURES)[number];
export type StateFeatureName = (typeof STATE_FEATURES)[number];
export type GraphFeatureName = (typeof GRAPH_FEATURES)[number];
export type FeatureName = LagFeatureName | PeriodFeatureName | IndicatorFeatureName | BarFeatureName | WindowFeatureName | StateFeatureName | GraphFeatureName;

export const FEATURE_NAMES: readonly FeatureName[] = [...LAG_FEATURES, ...PERIOD_FEATURES, ...INDICATOR_FEATURES, ...BAR_FEATURES, ...WINDOW_FEATURES, ...STATE_FEATURES, ...GRAPH_FEATURES];

/**
 * One feature of a card with its parameters. The core parameters (lag, period, fast/slow/signal,
 * mult, smooth) are always present where the feature takes them (parseCard fills their defaults);
 * the convention parameters (ddof, returns, method, adjust, price) are present only when the card
 * sets them to something other than their default, so a default spec keeps its short label.
 */
export interface FeatureSpec {
  readonly name: FeatureName;
  readonly lag?: number;
  readonly period?: number;
  /** Delta degrees of freedom of a standard deviation: 1 (sample, pandas' default) or 0 (population). */
  readonly ddof?: number;
  /** volatility: one-bar log returns (default) or simple returns. */
  readonly returns?: 'log' | 'simple';
  /** rsi: Cutler's simple means (default) or Wilder's smoothing. */
  readonly method?: 'cutler' | 'wilder';
  /** EMA weights as pandas' `adjust`; on ema_ratio, absent = the 4n-bar SMA-seeded EMA of SPEC. */
  readonly adjust?: boolean;
  readonly fast?: number;
  readonly slow?: number;
  readonly signal?: number;
  /** bollinger: the band width in standard deviations. */
  readonly mult?: number;
  /** stoch_d: the number of %K values averaged. */
  readonly smooth?: number;
  /** vwap_distance: the price weighted by volume, (h + l + c)/3 (default) or the close. */
  readonly price?: 'typical' | 'close';
  /** Compute the feature on another symbol's bars (BarSeries.others), as of each bar's time. */
  readonly symbol?: string;
  /** graph: the index of the feature graph's output column. */
  readonly column?: number;
  /** graph: the bars the graph reads per value (observation.feature_graph.window; not a parameter, so not in the label). */
  readonly window?: number;
}

export type FeatureKind = 'column' | 'window' | 'state';

/** The largest lag or period accepted: keeps warm-up fetches and O(N · span) work bounded. */
export const MAX_FEATURE_PARAM = 100_000;
/** The largest period of an exponentially weighted feature: its span is about 14 to 28 periods. */
export const MAX_EMA_PERIOD = 10_000;

/**
 * Exponentially weighted features are computed over a finite trailing span: the smallest L whose
 * oldest term weighs at most this much, (1 − α)^(L−1) ≤ EMA_TRUNCATION. A full-history EMA (pandas'
 * ewm over everything since the data start, any seed) differs from it by at most EMA_TRUNCATION times
 * the range of the smoothed series, so the value is a pure function of L bars (known warm-up, no
 * dependence on where the data starts) and equal to pandas' to about 1e-12 relative.
 */
export const EMA_TRUNCATION = 1e-12;

export type ParamValue = number | string | boolean;

/** One parameter a feature takes. */
export interface ParamDef {
  readonly key: keyof FeatureSpec & string;
  readonly type: 'int' | 'number' | 'enum' | 'bool' | 'symbol';
  /** Used when the card omits it; undefined = required (or, with `optional`, simply absent). */
  readonly default?: ParamValue;
  /** May be absent with no default (ema_ratio's adjust). */
  readonly optional?: boolean;
  /** Core parameters are stored (and labelled) even at their default. */
  readonly core?: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly values?: readonly string[];
}

const LAG: ParamDef = { key: 'lag', type: 'int', default: 1, core: true, min: 1, max: MAX_FEATURE_PARAM };
const period = (min: number, def?: number, max = MAX_FEATURE_PARAM): ParamDef => ({ key: 'period', type: 'int', default: def, core: true, min, max });
const DDOF: ParamDef = { key: 'ddof', type: 'int', default: 1, min: 0, max: 1 };
const ADJUST_FALSE: ParamDef = { key: 'adjust', type: 'bool', default: false };
const MACD_PARAMS: readonly ParamDef[] = [
  { key: 'fast', type: 'int', default: 12, core: true, min: 1, max: MAX_EMA_PERIOD },
  { key: 'slow', type: 'int', default: 26, core: true, min: 2, max: MAX_EMA_PERIOD },
  { key: 'signal', type: 'int', default: 9, core: true, min: 1, max: MAX_EMA_PERIOD },
  ADJUST_FALSE,
];
const BOLLINGER_PARAMS: readonly ParamDef[] = [period(2, 20), { key: 'mult', type: 'number', default: 2, core: true, min: 0, max: 100 }, DDOF];

const FEATURE_PARAMS: Readonly<Record<FeatureName, readonly ParamDef[]>> = {
  log_return: [LAG],
  return: [LAG],
  volatility: [period(2), DDOF, { key: 'returns', type: 'enum', default: 'log', values: ['log', 'simple'] }],
  rsi: [period(1), { key: 'method', type: 'enum', default: 'cutler', values: ['cutler', 'wilder'] }],
  sma_ratio: [period(1)],
  ema_ratio: [period(1), { key: 'adjust', type: 'bool', optional: true }],
  volume_z: [period(2), DDOF],
  macd: MACD_PARAMS,
  macd_signal: MACD_PARAMS,
  macd_hist: MACD_PARAMS,
  bollinger_b: BOLLINGER_PARAMS,
  bollinger_width: BOLLINGER_PARAMS,
  atr: [period(1, 14, MAX_EMA_PERIOD)],
  stoch_k: [period(1, 14)],
  stoch_d: [period(1, 14), { key: 'smooth', type: 'int', default: 3, core: true, min: 1, max: MAX_FEATURE_PARAM }],
  obv_z: [period(2), DDOF],
  obv_change: [period(1)],
  vwap_distance: [period(1), { key: 'price', type: 'enum', default: 'typical', values: ['typical', 'close'] }],
  range: [],
  body: [],
  hour_sin: [],
  hour_cos: [],
  dow_sin: [],
  dow_cos: [],
  open_rel: [],
  high_rel: [],
  low_rel: [],
  close_rel: [],
  volume_rel: [],
  position: [],
  unrealized_return: [],
  graph: [{ key: 'column', type: 'int', core: true, min: 0, max: MAX_FEATURE_PARAM }],
};

const SYMBOL: ParamDef = { key: 'symbol', type: 'symbol', optional: true };

/** The parameters a feature takes, in label order. Per-bar features may read another symbol's bars. */
export function featureParams(name: FeatureName): readonly ParamDef[] {
  return featureKind(name) === 'column' && name !== 'graph' ? [...FEATURE_PARAMS[name], SYMBOL] : FEATURE_PARAMS[name];
}

export function isFeatureName(value: unknown): value is FeatureName {
  return typeof value === 'string' && (FEATURE_NAMES as readonly string[]).includes(value);
}

export function featureKind(spec: FeatureSpec | FeatureName): FeatureKind {
  const name = typeof spec === 'string' ? spec : spec.name;
  if ((STATE_FEATURES as readonly string[]).includes(name)) return 'state';
  if ((WINDOW_FEATURES as readonly string[]).includes(name)) return 'window';
  return 'column';
}

/** The finite span of an EMA with smoothing factor α (see EMA_TRUNCATION): 1 + ⌈ln(tol) / ln(1 − α)⌉. */
export function emaSpan(alpha: number): number {
  if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`EMA smoothing factor must be in (0, 1], got ${alpha}`);
  if (alpha === 1) return 1;
  return 1 + Math.ceil(Math.log(EMA_TRUNCATION) / Math.log1p(-alpha));
}

const spanAlpha = (n: number): number => 2 / (n + 1);

/**
 * The number of bars, ending at and including τ, that the feature's value at τ reads.
 * Window-relative and state features read one bar per row (the observation window adds W − 1).
 */
export function featureSpan(spec: FeatureSpec): number {
  const n = spec.period ?? 0;
  switch (spec.name) {
    case 'log_return':
    case 'return':
      return (spec.lag ?? 1) + 1; // c_{τ−k} .. c_τ
    case 'volatility':
      return n + 1; // n one-bar changes need n + 1 closes
    case 'rsi':
      return spec.method === 'wilder' ? emaSpan(1 / n) + 1 : n + 1;
    case 'sma_ratio':
    case 'volume_z':
    case 'bollinger_b':
    case 'bollinger_width':
    case 'stoch_k':
    case 'obv_z':
    case 'vwap_distance':
      return n;
    case 'ema_ratio':
      return spec.adjust === undefined ? 4 * n : emaSpan(spanAlpha(n));
    case 'macd':
      return macdSpans(spec).line;
    case 'macd_signal':
    case 'macd_hist': {
      const s = macdSpans(spec);
      return s.line + s.signal - 1;
    }
    case 'atr':
      return emaSpan(1 / n) + 1; // true range needs the previous close
    case 'stoch_d':
      return n + (spec.smooth ?? 3) - 1;
    case 'obv_change':
      return n + 1;
    case 'graph':
      return spec.window ?? 1;
  }
  return 1;
}

function macdSpans(spec: FeatureSpec): { fast: number; line: number; signal: number } {
  const fast = emaSpan(spanAlpha(spec.fast ?? 12));
  const slow = emaSpan(spanAlpha(spec.slow ?? 26));
  return { fast, line: Math.max(fast, slow), signal: emaSpan(spanAlpha(spec.signal ?? 9)) };
}

/** A stable, readable name for one feature spec: `log_return(lag=24)`, `rsi(period=14, method=wilder)`, `hour_sin`. */
export function featureLabel(spec: FeatureSpec): string {
  const parts: string[] = [];
  for (const def of featureParams(spec.name)) {
    const value = spec[def.key];
    if (value !== undefined) parts.push(`${def.key}=${String(value)}`);
  }
  return parts.length === 0 ? spec.name : `${spec.name}(${parts.join(', ')})`;
}

/**
 * One column per feature spec, aligned with `bars` (value at index τ = the feature at bar τ).
 * NaN where the trailing span is not yet available (τ < span − 1). Window-relative and state
 * features are not per-bar values: their entry is `null` (see `featureKind`).
 * Identical specs share one (read-only) column; with `cache`, also with earlier calls that used it.
 */
export function computeFeatureColumns(bars: BarSeries, features: readonly FeatureSpec[], cache: FeatureColumnCache = new Map(), first = 0): (Float64Array | null)[] {
  let shared: SharedSeries | undefined;
  return features.map((spec) => {
    const key = featureLabel(spec);
    let column = cache.get(key);
    if (column === undefined) {
      column = spec.symbol === undefined ? computeColumn(bars, spec, (shared ??= new SharedSeries(bars)), first) : otherSymbolColumn(bars, spec);
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
  return spec.symbol === undefined ? computeColumn(bars, spec, new SharedSeries(bars)) : otherSymbolColumn(bars, spec);
}

/**
 * A feature of another symbol, aligned to `bars` by time: the value at bar i is the feature computed on
 * the other symbol's own bars at its last bar starting at or before bar i's start (same timeframe, so
 * that bar has closed by bar i's close: no look-ahead). NaN before the other symbol's first value.
 * A missing bar of the other symbol is not filled silently: evaluate.ts reports every such bar time
 * (otherSymbolGaps).
 */
function otherSymbolColumn(bars: BarSeries, spec: FeatureSpec): Float64Array | null {
  if (featureKind(spec) !== 'column') return null;
  const other = bars.others?.[spec.symbol!];
  if (other === undefined) {
    throw new Error(`feature ${featureLabel(spec)} reads ${spec.symbol}, whose bars were not fetched with ${bars.symbol}'s`);
  }
  const { symbol: _drop, ...own } = spec;
  void _drop;
  const column = computeColumn(other, own, new SharedSeries(other))!;
  const out = new Float64Array(bars.time.length).fill(NaN);
  const t = bars.time;
  const u = other.time;
  let j = -1;
  for (let i = 0; i < t.length; i++) {
    while (j + 1 < u.length && u[j + 1] <= t[i]) j++;
    if (j >= 0) out[i] = column[j];
  }
  return out;
}

/** Column k of the feature graph's output on these bars (computed beforehand: BarSeries.graph). */
function graphColumn(bars: BarSeries, spec: FeatureSpec): Float64Array {
  const k = spec.column ?? 0;
  const g = bars.graph;
  if (g === undefined) {
    throw new Error(`feature ${featureLabel(spec)}: the card's feature graph was not run on these ${bars.symbol} bars (src/app/feature-graph.ts attaches its columns)`);
  }
  const column = g.columns[k];
  if (column === undefined || column.length !== bars.time.length) {
    throw new Error(`feature ${featureLabel(spec)}: ${g.file} computed ${g.columns.length} column(s) of ${g.columns[0]?.length ?? 0} bars for a series of ${bars.time.length}`);
  }
  return column;
}

/** Bar times of `bars` at which `other` has no bar starting at the same time (ascending indices). */
export function otherSymbolGaps(bars: BarSeries, other: BarSeries): number[] {
  const missing: number[] = [];
  let j = 0;
  for (let i = 0; i < bars.time.length; i++) {
    while (j < other.time.length && other.time[j] < bars.time[i]) j++;
    if (j >= other.time.length || other.time[j] !== bars.time[i]) missing.push(i);
  }
  return missing;
}

/** Intermediate series shared by several features, computed on first use. */
class SharedSeries {
  private logReturns: Float64Array | undefined;
  private simpleReturns: Float64Array | undefined;
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

  /** c_i / c_{i−1} − 1; NaN at 0. */
  oneBarSimpleReturns(): Float64Array {
    if (this.simpleReturns === undefined) {
      const c = this.bars.close;
      const out = new Float64Array(c.length).fill(NaN);
      for (let i = 1; i < c.length; i++) out[i] = c[i] / c[i - 1] - 1;
      this.simpleReturns = out;
    }
    return this.simpleReturns;
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

/**
 * `first`: the first bar whose value is wanted. The windowed features (lags and periods) leave the bars
 * before it NaN, each value being computed from its own trailing span; the others compute every bar.
 */
function computeColumn(bars: BarSeries, spec: FeatureSpec, shared: SharedSeries, first = 0): Float64Array | null {
  if (featureKind(spec) !== 'column') return null;
  if (spec.name === 'graph') return graphColumn(bars, spec);
  const n = bars.close.length;
  const out = new Float64Array(n).fill(NaN);
  const { open: o, high: h, low: l, close: c, volume: v, time: t } = bars;

  if (spec.name === 'log_return' || spec.name === 'return') {
    const k = spec.lag ?? 1;
    if (spec.name === 'log_return') for (let i = Math.max(k, first); i < n; i++) out[i] = Math.log(c[i] / c[i - k]);
    else for (let i = Math.max(k, first); i < n; i++) out[i] = c[i] / c[i - k] - 1;
    return out;
  }

  if ((INDICATOR_FEATURES as readonly string[]).includes(spec.name)) return computeIndicator(bars, spec, out);
  if (spec.name === 'rsi' && spec.method === 'wilder') return wilderRsi(c, spec.period!, out);
  if (spec.name === 'ema_ratio' && spec.adjust !== undefined) {
    const p = spec.period!;
    const ema = emaColumn(c, 0, spanAlpha(p), spec.adjust);
    for (let i = 0; i < n; i++) out[i] = c[i] / ema[i] - 1;
    return out;
  }

  if (spec.period !== undefined) {
    const p = spec.period;
    const ddof = spec.ddof ?? 1;
    switch (spec.name) {
      case 'volatility': {
        const r = spec.returns === 'simple' ? shared.oneBarSimpleReturns() : shared.oneBarLogReturns();
        // The last p one-bar returns at τ are r[τ−p+1..τ]; r[0] does not exist, so τ ≥ p.
        let i = Math.max(p, first);
        // Stryker disable next-line EqualityOperator,ConditionalExpression,ArithmeticOperator: the four-bar and the one-bar loops compute the same bits, and a lane past the last bar is not stored (a typed array ignores the write)
        for (; i + 3 < n; i += 4) sampleStd4(r, i - p + 1, p, out, i, null, ddof);
        for (; i < n; i++) out[i] = sampleStd(r, i - p + 1, i + 1, ddof);
        return out;
      }
      case 'rsi': {
        let i = Math.max(p, first);
        // Four bars at a time: independent sums, each in the same order as one bar at a time.
        // Stryker disable next-line EqualityOperator,ConditionalExpression,ArithmeticOperator: the four-bar and the one-bar loops compute the same bits, and a lane past the last bar is not stored (a typed array ignores the write)
        for (; i + 3 < n; i += 4) {
          let g0 = 0,
            g1 = 0,
            g2 = 0,
            g3 = 0;
          let l0 = 0,
            l1 = 0,
            l2 = 0,
            l3 = 0;
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
        let i = Math.max(p - 1, first);
        // Stryker disable next-line EqualityOperator,ConditionalExpression,ArithmeticOperator: the four-bar and the one-bar loops compute the same bits, and a lane past the last bar is not stored (a typed array ignores the write)
        for (; i + 3 < n; i += 4) {
          let s0 = 0,
            s1 = 0,
            s2 = 0,
            s3 = 0;
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
        let i = Math.max(span - 1, first);
        // Stryker disable next-line EqualityOperator,ConditionalExpression,ArithmeticOperator: the four-bar and the one-bar loops compute the same bits, and a lane past the last bar is not stored (a typed array ignores the write)
        for (; i + 3 < n; i += 4) {
          const start = i - span + 1;
          let s0 = 0,
            s1 = 0,
            s2 = 0,
            s3 = 0;
          for (let j = start; j < start + p; j++) {
            s0 += c[j];
            s1 += c[j + 1];
            s2 += c[j + 2];
            s3 += c[j + 3];
          }
          let e0 = s0 / p,
            e1 = s1 / p,
            e2 = s2 / p,
            e3 = s3 / p;
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
        let i = Math.max(p - 1, first);
        // Stryker disable next-line EqualityOperator,ConditionalExpression,ArithmeticOperator: the four-bar and the one-bar loops compute the same bits, and a lane past the last bar is not stored (a typed array ignores the write)
        for (; i + 3 < n; i += 4) sampleStd4(v, i - p + 1, p, out, i, v, ddof);
        for (; i < n; i++) {
          const from = i - p + 1;
          const sd = sampleStd(v, from, i + 1, ddof);
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

/** Standard deviation (ddof 1: sample; 0: population) of x[from..to), two-pass; exactly 0 when all values are equal. */
function sampleStd(x: Float64Array, from: number, to: number, ddof = 1): number {
  // A rounded mean of equal values can differ from them by an ulp; the std is exactly 0 then.
  if (allEqual(x, from, to)) return 0;
  const mean = windowMean(x, from, to);
  let ss = 0;
  for (let j = from; j < to; j++) {
    const d = x[j] - mean;
    ss += d * d;
  }
  return Math.sqrt(ss / (to - from - ddof));
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
function sampleStd4(x: Float64Array, from: number, len: number, out: Float64Array, at: number, z: Float64Array | null, ddof = 1): void {
  const f0 = x[from];
  const f1 = x[from + 1];
  const f2 = x[from + 2];
  const f3 = x[from + 3];
  let q0 = true,
    q1 = true,
    q2 = true,
    q3 = true;
  // Forward sums from 0, as windowMean does (0 + x is x, except that −0 becomes +0).
  let s0 = 0 + f0,
    s1 = 0 + f1,
    s2 = 0 + f2,
    s3 = 0 + f3;
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
  let ss0 = 0,
    ss1 = 0,
    ss2 = 0,
    ss3 = 0;
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
  const sd0 = q0 ? 0 : Math.sqrt(ss0 / (len - ddof));
  const sd1 = q1 ? 0 : Math.sqrt(ss1 / (len - ddof));
  const sd2 = q2 ? 0 : Math.sqrt(ss2 / (len - ddof));
  const sd3 = q3 ? 0 : Math.sqrt(ss3 / (len - ddof));
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

// ================================================================ exponentially weighted features and indicators

/**
 * The EMA of x over the finite trailing span L = emaSpan(α) ending at each bar (NaN until bar
 * from + L − 1, `from` being x's first defined index). adjust = false is pandas' recursion
 * y ← (1 − α)·y + α·x seeded with the span's first value; adjust = true is pandas' weighted mean
 * Σ (1 − α)^k x_{τ−k} / Σ (1 − α)^k over the span. Both equal their full-history pandas value to
 * EMA_TRUNCATION times the series' range (the seed, whatever it is, weighs less than that).
 */
export function emaColumn(x: Float64Array, from: number, alpha: number, adjust: boolean): Float64Array {
  const n = x.length;
  const out = new Float64Array(n).fill(NaN);
  const L = emaSpan(alpha);
  const w = 1 - alpha;
  if (adjust) {
    for (let i = from + L - 1; i < n; i++) {
      let num = 0;
      let den = 0;
      for (let j = i - L + 1; j <= i; j++) {
        num = num * w + x[j];
        den = den * w + 1;
      }
      out[i] = num / den;
    }
    return out;
  }
  for (let i = from + L - 1; i < n; i++) {
    let y = x[i - L + 1];
    for (let j = i - L + 2; j <= i; j++) y = w * y + alpha * x[j];
    out[i] = y;
  }
  return out;
}

/** Wilder's RSI in [0, 1]: Wilder-smoothed (α = 1/n) gains over gains + losses; 0.5 when both are 0. */
function wilderRsi(c: Float64Array, p: number, out: Float64Array): Float64Array {
  const n = c.length;
  const gain = new Float64Array(n).fill(NaN);
  const loss = new Float64Array(n).fill(NaN);
  for (let i = 1; i < n; i++) {
    const d = c[i] - c[i - 1];
    // Stryker disable next-line EqualityOperator: d = 0 gives 0 either way
    gain[i] = d > 0 ? d : 0;
    loss[i] = d < 0 ? -d : 0;
  }
  const g = emaColumn(gain, 1, 1 / p, false);
  const l = emaColumn(loss, 1, 1 / p, false);
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(g[i])) continue;
    out[i] = g[i] + l[i] === 0 ? 0.5 : g[i] / (g[i] + l[i]);
  }
  return out;
}

function computeIndicator(bars: BarSeries, spec: FeatureSpec, out: Float64Array): Float64Array {
  const { high: h, low: l, close: c, volume: v } = bars;
  const n = c.length;
  const p = spec.period ?? 0;
  switch (spec.name) {
    case 'macd':
    case 'macd_signal':
    case 'macd_hist': {
      const adjust = spec.adjust ?? false;
      const fast = emaColumn(c, 0, spanAlpha(spec.fast ?? 12), adjust);
      const slow = emaColumn(c, 0, spanAlpha(spec.slow ?? 26), adjust);
      const line = new Float64Array(n);
      for (let i = 0; i < n; i++) line[i] = fast[i] - slow[i];
      if (spec.name === 'macd') {
        for (let i = 0; i < n; i++) out[i] = line[i] / c[i];
        return out;
      }
      const signal = emaColumn(line, macdSpans(spec).line - 1, spanAlpha(spec.signal ?? 9), adjust);
      for (let i = 0; i < n; i++) out[i] = (spec.name === 'macd_signal' ? signal[i] : line[i] - signal[i]) / c[i];
      return out;
    }
    case 'bollinger_b':
    case 'bollinger_width': {
      const k = spec.mult ?? 2;
      const ddof = spec.ddof ?? 1;
      for (let i = p - 1; i < n; i++) {
        const from = i - p + 1;
        const m = windowMean(c, from, i + 1);
        const sd = sampleStd(c, from, i + 1, ddof);
        const upper = m + k * sd;
        const lower = m - k * sd;
        if (spec.name === 'bollinger_width') out[i] = (upper - lower) / m;
        else out[i] = upper === lower ? 0.5 : (c[i] - lower) / (upper - lower);
      }
      return out;
    }
    case 'atr': {
      const tr = new Float64Array(n).fill(NaN);
      for (let i = 1; i < n; i++) {
        const prev = c[i - 1];
        tr[i] = Math.max(h[i] - l[i], Math.abs(h[i] - prev), Math.abs(l[i] - prev));
      }
      const atr = emaColumn(tr, 1, 1 / p, false);
      for (let i = 0; i < n; i++) out[i] = atr[i] / c[i];
      return out;
    }
    case 'stoch_k':
    case 'stoch_d': {
      const k = spec.name === 'stoch_k' ? out : new Float64Array(n).fill(NaN);
      for (let i = p - 1; i < n; i++) {
        let hh = -Infinity;
        let ll = Infinity;
        for (let j = i - p + 1; j <= i; j++) {
          if (h[j] > hh) hh = h[j];
          if (l[j] < ll) ll = l[j];
        }
        k[i] = hh === ll ? 0.5 : (c[i] - ll) / (hh - ll);
      }
      if (spec.name === 'stoch_k') return out;
      const d = spec.smooth ?? 3;
      for (let i = p + d - 2; i < n; i++) out[i] = windowMean(k, i - d + 1, i + 1);
      return out;
    }
    case 'obv_z':
    case 'obv_change': {
      // Signed volume: the volume of bar j with the sign of its close change (0 when unchanged).
      const sv = new Float64Array(n).fill(NaN);
      for (let i = 1; i < n; i++) sv[i] = Math.sign(c[i] - c[i - 1]) * v[i];
      if (spec.name === 'obv_change') {
        for (let i = p; i < n; i++) {
          let s = 0;
          let vol = 0;
          for (let j = i - p + 1; j <= i; j++) {
            s += sv[j];
            vol += v[j];
          }
          out[i] = vol === 0 ? 0 : s / vol;
        }
        return out;
      }
      // OBV relative to the window's first bar: a z-score does not change when a constant is added,
      // so this equals the z-score of the cumulative OBV since any start.
      const obv = new Float64Array(p);
      const ddof = spec.ddof ?? 1;
      for (let i = p - 1; i < n; i++) {
        const from = i - p + 1;
        obv[0] = 0;
        for (let k = 1; k < p; k++) obv[k] = obv[k - 1] + sv[from + k];
        const sd = sampleStd(obv, 0, p, ddof);
        out[i] = sd === 0 ? 0 : (obv[p - 1] - windowMean(obv, 0, p)) / sd;
      }
      return out;
    }
    case 'vwap_distance': {
      const typical = spec.price !== 'close';
      for (let i = p - 1; i < n; i++) {
        let pv = 0;
        let vol = 0;
        for (let j = i - p + 1; j <= i; j++) {
          const price = typical ? (h[j] + l[j] + c[j]) / 3 : c[j];
          pv += price * v[j];
          vol += v[j];
        }
        out[i] = vol === 0 ? 0 : c[i] / (pv / vol) - 1;
      }
      return out;
    }
  }
  /* c8 ignore next */
  throw new Error(`feature ${featureLabel(spec)} has no column computation`);
}
