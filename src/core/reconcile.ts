/**
 * Reconciliation: a deployed model's record on a trading account, bar for bar beside the backtest of the
 * same model over the same bars, started from the same state (docs/promotion.md#tracking-the-accounts-own-record-policy-gate-track).
 *
 * Inputs: the fills attributed to the model (time, side, quantity, price, fee and the asset the fee was
 * charged in), the bars, the record's window (bar indices), the sleeve's start (capital and the position
 * held at the window's start), and the BacktestResult of a Simulation over that window started with the
 * same position (SimulationOptions.initial). Pure: no clock, no I/O.
 *
 * Units:
 * - an account *order* is the fills that share an order id (a partial fill is one of several fills of
 *   one order); it is placed in the bar its first fill falls in (bar k holds times time[k] ≤ t < time[k]
 *   + one bar). A backtest *decision* is one backtest fill (the simulation sends one order per decision).
 * - matching: backtest decisions in time order each take the nearest unmatched account order of the same
 *   side whose bar is within ±maxLagBars of the backtest's fill bar (ties: the later one, a lag ≥ 0);
 *   lag = account bar − backtest fill bar. Unmatched decisions are *missed*; unmatched orders *extra*
 *   (a manual trade, a decision the backtest did not take, a rebalance of another size).
 * - implementation shortfall, per fill of a matched order, in basis points, positive = worse for us:
 *   buy (p / p_bt − 1)·10⁴, sell (1 − p / p_bt)·10⁴, where p_bt is the backtest's fill price (the
 *   open of its fill bar with the assumed slippage). 0 means "traded exactly as the backtest assumed".
 *   Its cost counterpart, comparable to the assumed slippage_bps + fee_bps: the same formula against
 *   the unslipped open, plus the fill's fee in bps of its notional. ratio = mean cost / assumed cost.
 * - the sleeve: cash = capital − q₀·(reference price), q = q₀; every fill in the window moves q and cash;
 *   equity = cash + q·close at every bar close (E_0 = capital at the window's start).
 *   Fees: a fee in the quote currency is taken from cash; a fee in the received asset (Alpaca's crypto
 *   fee on a buy is charged in the coin bought) reduces the quantity received, and is valued at the
 *   fill price in the fees total. Fractional quantities are kept as they are.
 * - comparison: per-bar returns of both curves, r_k = E_k / E_{k−1} − 1; returnDifference =
 *   account total return − backtest total return; trackingError = std(r_acct − r_bt, ddof 1)·√P;
 *   correlation = Pearson correlation of the two return series. Undefined values are null with a reason.
 * - "no record": a window without a single attributed fill is `record.status = 'none'` — the numbers
 *   are still shown, but nothing in them counts as a pass.
 */
import type { BacktestResult, BarWindow } from './simulate.js';
import { timeframeMs, type BarSeries } from './types.js';

export type Side = 'buy' | 'sell';

export interface AccountFill {
  /** The activity id (unique per fill). */
  id: string;
  orderId: string;
  clientOrderId: string | null;
  /** Epoch ms of the fill (transaction_time, UTC). */
  time: number;
  side: Side;
  /** Filled quantity, > 0, in units of the asset (fractional allowed). */
  qty: number;
  price: number;
  /** Fee, ≥ 0, in `feeAsset` units: 'quote' (account currency) or 'base' (units of the asset traded). */
  fee: number;
  feeAsset: 'quote' | 'base';
}

export interface ReconcileInput {
  bars: BarSeries;
  window: BarWindow;
  /** Sleeve equity at the window's start (E_0), the backtest's capital. */
  capital: number;
  /** Position held at the window's start (attributed fills before it, or the account's position). */
  startPosition: number;
  /** Fills attributed to the model; those outside the window are counted and left out. */
  fills: readonly AccountFill[];
  /** The backtest over `window`, started from the same position. */
  backtest: BacktestResult;
  feeBps: number;
  slippageBps: number;
  periodsPerYear: number;
  /** Largest |lag| in bars for an account order to match a backtest decision (default 3). */
  maxLagBars?: number;
}

export interface DecisionMatch {
  /** Backtest fill (decision) time and bar, or null for an extra order. */
  backtest: { time: string; bar: number; side: Side; qty: number; price: number } | null;
  /** Account order, or null for a missed decision. */
  account: { orderId: string; time: string; bar: number; side: Side; qty: number; avgPrice: number; fills: number } | null;
  kind: 'matched' | 'missed' | 'extra';
  /** Account bar − backtest bar; null unless matched. */
  lagBars: number | null;
  /** Account quantity / backtest quantity (1 = same size, < 1 partial); null unless matched. */
  qtyRatio: number | null;
}

export interface FillShortfall {
  fillId: string;
  orderId: string;
  time: string;
  side: Side;
  qty: number;
  price: number;
  backtestPrice: number;
  /** Against the backtest's fill price (slippage included), bps, positive = worse. */
  shortfallBps: number;
  /** Against the unslipped open, plus the fee, bps of notional, positive = cost. */
  costBps: number;
  feeBps: number;
}

export interface Distribution {
  mean: number | null;
  median: number | null;
  p95: number | null;
  n: number;
}

export interface Reconciliation {
  record: { status: 'ok' } | { status: 'none'; reason: string };
  period: { start: string; end: string; bars: number; days: number };
  trades: { accountOrders: number; accountFills: number; backtestDecisions: number; fillsOutsideWindow: number };
  decisions: {
    matched: number;
    missed: number;
    extra: number;
    /** (missed + extra) / (matched + missed + extra); null when there were none. */
    unmatchedShare: number | null;
    lag: { mean: number | null; max: number | null; counts: Record<string, number> };
    items: DecisionMatch[];
  };
  shortfall: {
    perFill: FillShortfall[];
    shortfallBps: Distribution;
    costBps: Distribution;
    assumedCostBps: number;
    /** mean cost / assumed cost; null when either is undefined or the assumption is 0. */
    ratio: number | null;
  };
  sleeve: {
    timestamps: number[];
    equity: number[];
    position: number[];
    /** Fees paid, in account currency (fees in the asset valued at their fill's price). */
    fees: number;
    finalPosition: number;
    totalReturn: number | null;
  };
  backtest: { equity: number[]; totalReturn: number | null; decisions: number };
  comparison: {
    returnDifference: number | null;
    trackingError: number | null;
    correlation: number | null;
  };
  undefinedReasons: Record<string, string>;
}

const DAY_MS = 86_400_000;
const iso = (ms: number): string => new Date(ms).toISOString();

/** Linear-interpolation quantile (numpy's default) of sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function distribution(values: readonly number[]): Distribution {
  if (values.length === 0) return { mean: null, median: null, p95: null, n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  return { mean: values.reduce((a, v) => a + v, 0) / values.length, median: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), n: values.length };
}

/** The bar whose [start, start + one bar) holds `t`, or −1 when none does. */
export function barOf(time: Float64Array, barMs: number, t: number): number {
  let lo = 0;
  let hi = time.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (time[mid]! <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found >= 0 && t < time[found]! + barMs ? found : -1;
}

interface Order {
  orderId: string;
  side: Side;
  bar: number;
  time: number;
  qty: number;
  notional: number;
  fills: AccountFill[];
}

function pearson(a: readonly number[], b: readonly number[]): number | null {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  if (!(saa > 0) || !(sbb > 0)) return null;
  return sab / Math.sqrt(saa * sbb);
}

function returns(equity: readonly number[]): number[] {
  const r: number[] = [];
  for (let k = 1; k < equity.length; k++) r.push(equity[k]! / equity[k - 1]! - 1);
  return r;
}

export function reconcile(input: ReconcileInput): Reconciliation {
  const { bars, window, backtest } = input;
  const barMs = timeframeMs(bars.timeframe);
  const maxLag = input.maxLagBars ?? 3;
  const windowStart = bars.time[window.start]!;
  const windowEnd = bars.time[window.end]! + barMs;
  if (backtest.start !== window.start || backtest.end !== window.end) {
    throw new Error(`reconcile: the backtest covers bars ${backtest.start}..${backtest.end}, the record ${window.start}..${window.end}`);
  }
  const reasons: Record<string, string> = {};

  // ---- the account's orders in the window
  const inWindow = input.fills.filter((f) => f.time >= windowStart && f.time < windowEnd).sort((a, b) => a.time - b.time || a.id.localeCompare(b.id));
  const outside = input.fills.length - inWindow.length;
  const byOrder = new Map<string, Order>();
  for (const f of inWindow) {
    const o = byOrder.get(f.orderId);
    if (o) {
      o.fills.push(f);
      o.qty += f.qty;
      o.notional += f.qty * f.price;
      continue;
    }
    byOrder.set(f.orderId, { orderId: f.orderId, side: f.side, bar: barOf(bars.time, barMs, f.time), time: f.time, qty: f.qty, notional: f.qty * f.price, fills: [f] });
  }
  const orders = [...byOrder.values()].sort((a, b) => a.time - b.time);

  // ---- matching
  const taken = new Set<Order>();
  const items: DecisionMatch[] = [];
  const matchedPairs: { order: Order; btPrice: number; btBar: number }[] = [];
  for (const bf of backtest.fills) {
    const side: Side = bf.quantity > 0 ? 'buy' : 'sell';
    let best: Order | null = null;
    let bestLag = Infinity;
    for (const o of orders) {
      if (taken.has(o) || o.side !== side) continue;
      const lag = o.bar - bf.barIndex;
      if (Math.abs(lag) > maxLag) continue;
      if (Math.abs(lag) < Math.abs(bestLag) || (Math.abs(lag) === Math.abs(bestLag) && lag > bestLag)) {
        best = o;
        bestLag = lag;
      }
    }
    const bt = { time: iso(bf.time), bar: bf.barIndex, side, qty: Math.abs(bf.quantity), price: bf.price };
    if (best === null) {
      items.push({ backtest: bt, account: null, kind: 'missed', lagBars: null, qtyRatio: null });
      continue;
    }
    taken.add(best);
    matchedPairs.push({ order: best, btPrice: bf.price, btBar: bf.barIndex });
    items.push({ backtest: bt, account: accountView(best), kind: 'matched', lagBars: bestLag, qtyRatio: best.qty / Math.abs(bf.quantity) });
  }
  for (const o of orders) if (!taken.has(o)) items.push({ backtest: null, account: accountView(o), kind: 'extra', lagBars: null, qtyRatio: null });
  const matched = matchedPairs.length;
  const missed = items.filter((i) => i.kind === 'missed').length;
  const extra = items.length - matched - missed;
  const lags = items.filter((i) => i.kind === 'matched').map((i) => i.lagBars!);
  const counts: Record<string, number> = {};
  for (const l of lags) counts[String(l)] = (counts[String(l)] ?? 0) + 1;
  if (items.length === 0) reasons['unmatchedShare'] = 'neither the account nor the backtest traded in the window';
  if (lags.length === 0) reasons['lag'] = 'no matched decisions';

  // ---- implementation shortfall per fill of a matched order
  const slip = input.slippageBps / 10_000;
  const perFill: FillShortfall[] = [];
  for (const { order, btPrice } of matchedPairs) {
    const sign = order.side === 'buy' ? 1 : -1;
    const reference = order.side === 'buy' ? btPrice / (1 + slip) : btPrice / (1 - slip);
    for (const f of order.fills) {
      const notional = f.qty * f.price;
      const feeValue = f.feeAsset === 'base' ? f.fee * f.price : f.fee;
      const feeBps = (feeValue / notional) * 10_000;
      perFill.push({
        fillId: f.id,
        orderId: f.orderId,
        time: iso(f.time),
        side: f.side,
        qty: f.qty,
        price: f.price,
        backtestPrice: btPrice,
        shortfallBps: sign * (f.price / btPrice - 1) * 10_000,
        costBps: sign * (f.price / reference - 1) * 10_000 + feeBps,
        feeBps,
      });
    }
  }
  const shortfallBps = distribution(perFill.map((f) => f.shortfallBps));
  const costBps = distribution(perFill.map((f) => f.costBps));
  const assumedCostBps = input.slippageBps + input.feeBps;
  let ratio: number | null = null;
  if (costBps.mean === null) reasons['shortfall'] = 'no fill of a matched decision to measure';
  else if (!(assumedCostBps > 0)) reasons['shortfall.ratio'] = 'the assumed costs (slippage_bps + fee_bps) are 0';
  else ratio = costBps.mean / assumedCostBps;

  // ---- the sleeve, rebuilt from the fills and marked at each close
  const refPrice = backtest.fill === 'next_open' ? bars.open[window.start]! : bars.close[window.start - 1]!;
  let q = input.startPosition;
  let cash = input.capital - q * refPrice;
  let fees = 0;
  const timestamps = [windowStart];
  const equity = [input.capital];
  const position = [q];
  let next = 0;
  for (let k = window.start; k <= window.end; k++) {
    const close = bars.time[k]! + barMs;
    while (next < inWindow.length && inWindow[next]!.time < close) {
      const f = inWindow[next++]!;
      const base = f.feeAsset === 'base' ? f.fee : 0;
      const quote = f.feeAsset === 'quote' ? f.fee : 0;
      if (f.side === 'buy') {
        q += f.qty - base;
        cash -= f.qty * f.price + quote;
      } else {
        q -= f.qty + base;
        cash += f.qty * f.price - quote;
      }
      fees += quote + base * f.price;
    }
    timestamps.push(close);
    equity.push(cash + q * bars.close[k]!);
    position.push(q);
  }
  const accountTotal = equity[equity.length - 1]! / equity[0]! - 1;
  const btEquity = Array.from(backtest.curve.equity);
  const btTotal = backtest.metrics.totalReturn;

  // ---- the two curves
  const ra = returns(equity);
  const rb = returns(btEquity);
  let trackingError: number | null = null;
  let correlation: number | null = null;
  if (ra.length < 2) {
    reasons['trackingError'] = reasons['correlation'] = `${ra.length} bar return(s): at least 2 are needed`;
  } else {
    const d = ra.map((v, i) => v - rb[i]!);
    const m = d.reduce((s, v) => s + v, 0) / d.length;
    const variance = d.reduce((s, v) => s + (v - m) ** 2, 0) / (d.length - 1);
    trackingError = Math.sqrt(variance) * Math.sqrt(input.periodsPerYear);
    correlation = pearson(ra, rb);
    if (correlation === null) reasons['correlation'] = 'one of the curves does not move (zero variance of its returns)';
  }

  const record: Reconciliation['record'] =
    inWindow.length === 0
      ? {
          status: 'none',
          reason: input.fills.length === 0 ? 'no fills are attributed to this model on the account' : `none of the ${input.fills.length} fills attributed to this model falls in the record's window`,
        }
      : { status: 'ok' };

  return {
    record,
    period: { start: iso(windowStart), end: iso(windowEnd), bars: window.end - window.start + 1, days: (windowEnd - windowStart) / DAY_MS },
    trades: { accountOrders: orders.length, accountFills: inWindow.length, backtestDecisions: backtest.fills.length, fillsOutsideWindow: outside },
    decisions: {
      matched,
      missed,
      extra,
      unmatchedShare: items.length === 0 ? null : (missed + extra) / items.length,
      lag: { mean: lags.length ? lags.reduce((a, v) => a + v, 0) / lags.length : null, max: lags.length ? Math.max(...lags.map(Math.abs)) : null, counts },
      items,
    },
    shortfall: { perFill, shortfallBps, costBps, assumedCostBps, ratio },
    sleeve: { timestamps, equity, position, fees, finalPosition: q, totalReturn: Number.isFinite(accountTotal) ? accountTotal : null },
    backtest: { equity: btEquity, totalReturn: btTotal, decisions: backtest.fills.length },
    comparison: { returnDifference: btTotal === null ? null : accountTotal - btTotal, trackingError, correlation },
    undefinedReasons: reasons,
  };
}

function accountView(o: Order): NonNullable<DecisionMatch['account']> {
  return { orderId: o.orderId, time: iso(o.time), bar: o.bar, side: o.side, qty: o.qty, avgPrice: o.notional / o.qty, fills: o.fills.length };
}

/**
 * The position held at `atMs` when only the current position is known: the current quantity minus
 * what the attributed fills since then added (buys net of fees in the asset) — how a position opened
 * before promoted_at is found without reading the account's whole history.
 */
export function positionAt(currentQty: number, fills: readonly AccountFill[], atMs: number): number {
  let q = currentQty;
  for (const f of fills) {
    if (f.time < atMs) continue;
    const base = f.feeAsset === 'base' ? f.fee : 0;
    q -= f.side === 'buy' ? f.qty - base : -(f.qty + base);
  }
  return q;
}
