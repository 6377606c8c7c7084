/**
 * Backtest metrics (SPEC section 5), on the per-bar equity returns r_t = E_t / E_{t−1} − 1.
 *
 * The return-based ratios follow empyrical's definitions (stats.py of the 0.5.x code line:
 * annual_return, annual_volatility, sharpe_ratio, sortino_ratio/downside_risk, max_drawdown,
 * calmar_ratio) and agree with them to 1e-9 relative — see test/fixtures/empyrical/PROVENANCE.md.
 * Where empyrical answers NaN or ±Infinity, this module answers `null` and says why in
 * `undefinedReasons`; it never returns NaN, Infinity or a made-up 0.
 *
 * Deliberate differences from empyrical (all in cases where empyrical's number is meaningless):
 * - zero variance (all returns bit-identical): Sharpe is null; empyrical divides by 0 or by a
 *   rounding residue. Volatility is then exactly 0.
 * - equity that ends below zero (a short blown through zero): CAGR and Calmar are null; empyrical
 *   raises a negative number to the power P/N, which is NaN or, for an integer P/N, a real number
 *   without meaning.
 * - equity that reaches zero or below before the last bar: the following returns are undefined
 *   (division by a non-positive equity), so volatility, Sharpe and Sortino are null.
 *
 * Pure: no I/O, no clock, no randomness.
 */
import { inputError } from './errors.js';
import { type AssetClass, type BacktestMetrics, type MetricValue, type Timeframe, timeframeMs } from './types.js';

const DAY_MS = 86_400_000;

/** What the metrics need to know about a trade: its PnL in account currency, costs included. */
export interface TradePnl {
  readonly pnl: number;
}

/** Metrics the simulation computes itself; null values need a reason. */
export interface MetricExtras {
  exposure?: MetricValue;
  turnover?: MetricValue;
  buyHoldReturn?: MetricValue;
  /** Reasons for extras given as null. */
  reasons?: Readonly<Record<string, string>>;
}

/** r_t = E_t / E_{t−1} − 1 for t = 1..N (exactly this expression, so reference scripts can match it). */
export function returnsFromEquity(equity: ArrayLike<number>): Float64Array {
  const n = Math.max(0, equity.length - 1);
  const r = new Float64Array(n);
  for (let t = 1; t <= n; t++) r[t - 1] = equity[t] / equity[t - 1] - 1;
  return r;
}

function mean(x: Float64Array): number {
  // Plain left-to-right summation, as bottleneck's nanmean (empyrical's fast path) does.
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s / x.length;
}

/** Sample standard deviation (ddof 1), two-pass like numpy/bottleneck nanstd. Needs length ≥ 2. */
function sampleStd(x: Float64Array, m: number): number {
  let ss = 0;
  for (let i = 0; i < x.length; i++) {
    const d = x[i] - m;
    ss += d * d;
  }
  return Math.sqrt(ss / (x.length - 1));
}

function allEqual(x: Float64Array): boolean {
  for (let i = 1; i < x.length; i++) if (x[i] !== x[0]) return false;
  return true;
}

/**
 * Computes every SPEC 5 metric from the equity curve E_0..E_N (E_0 = initial capital), the trades
 * (closed ones, plus a still-open position counted as closed at the last close) and P.
 */
export function computeMetrics(equity: ArrayLike<number>, trades: readonly TradePnl[], periodsPerYear: number, extras: MetricExtras = {}): BacktestMetrics {
  if (equity.length < 1) throw inputError('metrics: the equity curve needs at least E_0', 'equity');
  for (let t = 0; t < equity.length; t++) {
    if (!Number.isFinite(equity[t])) throw inputError(`metrics: equity[${t}] is not a finite number (${equity[t]})`, 'equity');
  }
  if (!(equity[0] > 0)) throw inputError(`metrics: the initial capital E_0 must be positive, got ${equity[0]}`, 'equity');
  if (!(Number.isFinite(periodsPerYear) && periodsPerYear > 0)) {
    throw inputError(`metrics: periods per year must be a positive number, got ${periodsPerYear}`, 'periodsPerYear');
  }
  for (const [i, tr] of trades.entries()) {
    if (!Number.isFinite(tr.pnl)) throw inputError(`metrics: trade ${i} has a non-finite PnL (${tr.pnl})`, 'trades');
  }

  const reasons: Record<string, string> = {};
  const undef = (field: string, why: string): null => {
    reasons[field] = why;
    return null;
  };
  const P = periodsPerYear;
  const N = equity.length - 1;
  const E0 = equity[0];
  const EN = equity[N];

  let totalReturn: MetricValue;
  let cagr: MetricValue;
  let volatility: MetricValue;
  let sharpe: MetricValue;
  let sortino: MetricValue;
  let maxDrawdown: MetricValue;

  if (N === 0) {
    const why = 'no returns: the equity curve holds E_0 only';
    totalReturn = undef('totalReturn', why);
    cagr = undef('cagr', why);
    volatility = undef('volatility', why);
    sharpe = undef('sharpe', why);
    sortino = undef('sortino', why);
    maxDrawdown = undef('maxDrawdown', why);
  } else {
    // A tiny E_0 (say 1e-300) can overflow a ratio of equities: such a metric is null, never Infinity.
    const tr = EN / E0 - 1;
    totalReturn = Number.isFinite(tr) ? tr : undef('totalReturn', `not finite: E_N / E_0 overflows (${EN} / ${E0})`);

    // cagr = (1 + totalReturn)^(P/N) − 1 (empyrical annual_return)
    const growth = EN / E0;
    if (growth < 0) {
      cagr = undef('cagr', 'equity ended below zero: a compound growth rate does not exist');
    } else {
      const c = growth ** (P / N) - 1;
      cagr = Number.isFinite(c) ? c : undef('cagr', `overflows: ${N} bars are too few to annualize this return (P = ${P})`);
    }

    // maxDrawdown: max over t of 1 − E_t / max_{s≤t} E_s with E_0 the first peak
    let peak = E0;
    let mdd = 0;
    for (let t = 1; t <= N; t++) {
      const e = equity[t];
      if (e > peak) peak = e;
      const dd = 1 - e / peak;
      if (dd > mdd) mdd = dd;
    }
    maxDrawdown = Number.isFinite(mdd) ? mdd : undef('maxDrawdown', 'not finite: an equity / peak ratio overflows');

    let positiveUntilEnd = true;
    for (let t = 0; t < N; t++) if (!(equity[t] > 0)) positiveUntilEnd = false;

    if (!positiveUntilEnd) {
      const why = 'equity reached zero or below before the last bar: the following per-bar returns are undefined';
      volatility = undef('volatility', why);
      sharpe = undef('sharpe', why);
      sortino = undef('sortino', why);
    } else if (N < 2) {
      const why = 'fewer than 2 returns: the sample standard deviation (ddof 1) is undefined';
      volatility = undef('volatility', why);
      sharpe = undef('sharpe', why);
      sortino = undef('sortino', 'fewer than 2 returns (empyrical sortino_ratio needs 2)');
    } else {
      const r = returnsFromEquity(equity);
      const m = mean(r);
      const flat = allEqual(r);
      const sd = flat ? 0 : sampleStd(r, m);
      const v = sd * P ** (1 / 2);
      volatility = Number.isFinite(v) ? v : undef('volatility', 'not finite: a per-bar return overflows');
      if (sd === 0) {
        sharpe = undef('sharpe', 'zero variance: every per-bar return is the same (e.g. no position was ever held)');
      } else {
        const s = (m / sd) * Math.sqrt(P);
        sharpe = Number.isFinite(s) ? s : undef('sharpe', 'not finite');
      }
      // downside risk over ALL N returns: sqrt(mean(min(r, 0)^2)) · √P (empyrical downside_risk)
      let sq = 0;
      for (let i = 0; i < N; i++) {
        const d = r[i] < 0 ? r[i] : 0;
        sq += d * d;
      }
      if (sq === 0) {
        sortino = undef('sortino', 'no downside: no per-bar return is below 0');
      } else {
        const downside = Math.sqrt(sq / N) * Math.sqrt(P);
        const s = (m * P) / downside;
        sortino = Number.isFinite(s) ? s : undef('sortino', 'not finite');
      }
    }
  }

  // calmar = cagr / maxDrawdown (empyrical calmar_ratio: undefined without a drawdown)
  let calmar: MetricValue;
  if (cagr === null) calmar = undef('calmar', 'CAGR is undefined');
  else if (maxDrawdown === null) calmar = undef('calmar', 'max drawdown is undefined');
  else if (maxDrawdown === 0) calmar = undef('calmar', 'no drawdown: max drawdown is 0');
  else {
    const c = cagr / maxDrawdown;
    calmar = Number.isFinite(c) ? c : undef('calmar', 'not finite');
  }

  let winRate: MetricValue;
  let profitFactor: MetricValue;
  if (trades.length === 0) {
    winRate = undef('winRate', 'no trades');
    profitFactor = undef('profitFactor', 'no trades');
  } else {
    let wins = 0;
    let grossProfit = 0;
    let grossLoss = 0;
    for (const t of trades) {
      if (t.pnl > 0) {
        wins++;
        grossProfit += t.pnl;
      } else if (t.pnl < 0) grossLoss -= t.pnl;
    }
    winRate = wins / trades.length;
    profitFactor = grossLoss === 0 ? undef('profitFactor', 'no losing trade: gross loss is 0') : grossProfit / grossLoss;
  }

  const extra = (field: 'exposure' | 'turnover' | 'buyHoldReturn'): MetricValue => {
    const v = extras[field];
    if (v === null || v === undefined) return undef(field, extras.reasons?.[field] ?? 'not computed');
    return Number.isFinite(v) ? v : undef(field, `not finite (${v})`);
  };

  return {
    totalReturn,
    cagr,
    volatility,
    sharpe,
    sortino,
    maxDrawdown,
    calmar,
    winRate,
    profitFactor,
    trades: trades.length,
    exposure: extra('exposure'),
    turnover: extra('turnover'),
    buyHoldReturn: extra('buyHoldReturn'),
    finalEquity: EN,
    periodsPerYear: P,
    undefinedReasons: reasons,
  };
}

/**
 * Regular-session bars per trading day for US equities when the data cannot tell
 * (ceil(6.5 h / bar length): 7 hour-aligned 1Hour bars, 13 × 30Min, 390 × 1Min, 1 × 1Day).
 */
export function regularSessionBars(timeframe: Timeframe): number {
  return Math.max(1, Math.ceil((6.5 * 3_600_000) / timeframeMs(timeframe)));
}

/**
 * P, the number of bars per year (SPEC 5): crypto trades 24/7, so P = bars per day × 365
 * (8760 for 1Hour); US equities: P = 252 × bars per trading day, taken from the data
 * (`observedBarsPerTradingDay`, e.g. 16 for Alpaca hourly bars with extended hours), else
 * one bar per day for 1Day and the regular session (`regularSessionBars`) for intraday bars.
 * Callers may override P altogether; the report always prints the value used.
 */
export function periodsPerYear(timeframe: Timeframe, assetClass: AssetClass, observedBarsPerTradingDay?: number | null): number {
  if (assetClass === 'crypto') return (DAY_MS / timeframeMs(timeframe)) * 365;
  if (observedBarsPerTradingDay !== undefined && observedBarsPerTradingDay !== null) {
    if (!(Number.isFinite(observedBarsPerTradingDay) && observedBarsPerTradingDay > 0)) {
      throw inputError(`observed bars per trading day must be a positive number, got ${observedBarsPerTradingDay}`, 'periodsPerYear');
    }
    return 252 * observedBarsPerTradingDay;
  }
  return 252 * (timeframe === '1Day' ? 1 : regularSessionBars(timeframe));
}

const NEW_YORK_DATE = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'America/New_York',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});

/**
 * The median number of bars per New York calendar date (the exchange's trading date, DST
 * included) over the given bar start times; null when there are none. Dates without bars
 * (weekends, holidays) do not count; a half day or a partial first/last day barely moves the
 * median. For an even number of dates the median is the mean of the two middle counts.
 */
export function observedBarsPerTradingDay(time: ArrayLike<number>): number | null {
  if (time.length === 0) return null;
  const counts: number[] = [];
  let current = '';
  for (let i = 0; i < time.length; i++) {
    const date = NEW_YORK_DATE.format(time[i]);
    if (date !== current) {
      counts.push(0);
      current = date;
    }
    counts[counts.length - 1]++;
  }
  counts.sort((a, b) => a - b);
  const mid = counts.length >> 1;
  return counts.length % 2 === 1 ? counts[mid] : (counts[mid - 1] + counts[mid]) / 2;
}
