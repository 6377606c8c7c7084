/**
 * The backtest simulation of SPEC section 5, driven one decision at a time.
 *
 * The caller owns the loop, so the policy can run synchronously, asynchronously, or for several
 * simulations in lockstep (one batched inference per step):
 *
 *   const sim = new Simulation(bars, { start, end }, costs, { periodsPerYear });
 *   while (!sim.done) {
 *     const s = sim.state();                       // exposure, unrealizedReturn, target at the close of sim.decisionIndex
 *     sim.step(await policy(sim.decisionIndex, s), 'discrete');
 *   }
 *   const result = sim.finish();
 *
 * Timing (fill 'next_open', the default): the decision taken at the close of bar τ fills at the
 * open of bar τ+1. The first decision is taken at the close of bar window.start − 1 (history) and
 * fills at the open of the first window bar; E_0 = capital is the equity just before that fill and
 * E_1..E_N are the equities at the closes of the N window bars. The decision at the close of the
 * last window bar is never executed, so there are exactly N steps. Fill 'close' fills the decision
 * of bar τ at the close of τ itself (optimistic: the policy trades at the price it just saw).
 *
 * Sizing and costs at a fill at price O (the open, or the close for fill 'close'):
 *   E = cash + q·O;  target quantity = T·E/O;  Δq = target − q;  nothing trades when |Δq|·O < minTradeValue;
 *   fill price = O·(1 + slippage) for a buy, O·(1 − slippage) for a sell;
 *   cash −= Δq·fill + |Δq|·fill·fee.   Fractional and negative (short) quantities are allowed.
 * No hidden leverage: a buy (Δq > 0) toward a target T ≤ 1 is capped at max(0, cash) / (fill·(1 + fee)),
 * so cash after the fill, fees included, is never negative and a long-only exposure never exceeds 1;
 * the minTradeValue test applies to the capped quantity. A target above 1 is explicit margin: not capped.
 * Equity is marked at every close: E = cash + q·close.
 *
 * Orders: a discrete policy sends one only when its target T changes (a repeated BUY while long does
 * not churn); a continuous policy when |T − exposure at the decision close| > rebalanceBand. T takes
 * the new value even when the order is then skipped for being below minTradeValue.
 *
 * Trades are round trips flat → flat. A fill that flips the sign of the position closes one trade
 * and opens the next: its quantity, cash flow and fee are split proportionally — the closing part is
 * |q_before| / |Δq| of the fill, the opening part |q_after| / |Δq|. A trade's PnL is the sum of its
 * fills' cash flows (−Δq·fill − fee), costs included. A position still open after the last bar is
 * counted, for the trade statistics only, as closed at the last close with slippage and fee (and
 * regardless of minTradeValue); the equity curve does not include that closing fill.
 *
 * Definitions SPEC 5 leaves open, chosen here:
 * - exposure (state and curve) = q·close / equity at that close; when equity is not positive the
 *   exposure is reported as sign(q) (the account is blown; a ratio would be meaningless).
 * - unrealizedReturn = close / average entry price − 1 for a long, 1 − close / average entry price for a
 *   short (the PnL fraction of the entry notional), 0 when flat. The average entry price is the
 *   fill-price (slippage included, fee excluded) average cost of the open position: adding averages
 *   in, reducing keeps it, a flip restarts it at the flip's fill price.
 * - metrics.exposure = fraction of the N window bars that close with a non-zero position.
 * - metrics.turnover = traded notional (Σ |Δq|·fill price over the executed fills) / initial capital;
 *   one full entry and exit at exposure 1 is ≈ 2.
 * - metrics.buyHoldReturn = close of the last window bar / price of the first fill − 1, gross (no
 *   fee, no slippage): open of the first window bar for 'next_open', close of the bar before the
 *   window for 'close'.
 * - curve timestamps: E_0 at the start time of the first window bar, E_k at the close time (start +
 *   bar length) of window bar k.
 */
import { inputError } from './errors.js';
import { computeMetrics, periodsPerYear as defaultPeriodsPerYear } from './metrics.js';
import { type BacktestMetrics, type BarSeries, timeframeMs } from './types.js';

export type FillTiming = 'next_open' | 'close';
export type TargetKind = 'discrete' | 'continuous';

export interface CostModel {
  /** Fee on traded notional, basis points (25 = 0.25 %). */
  feeBps: number;
  /** Slippage moving the fill price against the trade, basis points. */
  slippageBps: number;
  /** Orders below this notional (|Δq|·price, account currency) are skipped. */
  minTradeValue: number;
  /** Initial capital: E_0. */
  capital: number;
  fill: FillTiming;
  /** Continuous policies only: rebalance when |T − exposure| exceeds this. */
  rebalanceBand: number;
}

export interface SimulationOptions {
  /** P for the annualised metrics; default: the crypto rule for the bars' timeframe (bars per day × 365). */
  periodsPerYear?: number;
  /**
   * Start from a held position instead of flat (a reconciliation with an account that already held one):
   * `position` units bought at the first fill's reference price (the window's first open for 'next_open',
   * the close before it for 'close'), so E_0 is still `capital` and cash = capital − position·price;
   * `target` is the target exposure T the policy holds at the start. Default: flat, T = 0.
   */
  initial?: { position: number; target: number };
}

/** Inclusive bar indices of the evaluation window. */
export interface BarWindow {
  start: number;
  end: number;
}

export interface SimulationState {
  /** Position value / equity at the close of the decision bar (0 when flat). */
  exposure: number;
  /** Return of the open position since its average entry price at that close; 0 when flat. */
  unrealizedReturn: number;
  /** The current target exposure T (0 before the first decision). */
  target: number;
  /** Signed quantity held. */
  position: number;
  /** Equity at the close of the decision bar (the initial capital before the first fill). */
  equity: number;
  /** Cash held (negative only with margin: a target above 1, or a short's losses). */
  cash: number;
}

export interface Fill {
  /** Bar whose close the decision was taken at. */
  decisionIndex: number;
  /** Bar the fill happened in (its open for 'next_open', its close for 'close'). */
  barIndex: number;
  /** Epoch ms of the fill: the bar's start for an open fill, its end for a close fill. */
  time: number;
  /** Signed traded quantity Δq (> 0 buy, < 0 sell). */
  quantity: number;
  /** Fill price, slippage included. */
  price: number;
  /** |Δq| · price. */
  notional: number;
  fee: number;
  /** −Δq·price − fee: what the fill did to cash. */
  cashFlow: number;
}

export interface Trade {
  direction: 'long' | 'short';
  entryIndex: number;
  entryTime: number;
  exitIndex: number;
  exitTime: number;
  /** Quantity-weighted average fill price of the fills that opened or added to the position. */
  entryPrice: number;
  /** Quantity-weighted average fill price of the fills that reduced or closed it. */
  exitPrice: number;
  /** Largest absolute quantity held during the trade. */
  peakQuantity: number;
  /** Σ |Δq|·price of the opening/adding fills. */
  entryNotional: number;
  /** Sum of the trade's fill cash flows, fees and slippage included. */
  pnl: number;
  /** Fees paid by the trade (a flip's fee split proportionally). */
  fees: number;
  /** pnl / entryNotional. */
  returnOnEntry: number;
  /** True when the position was still open after the last bar and is closed here only for the statistics. */
  closedAtEnd: boolean;
}

export interface EquityCurve {
  /** N + 1 epoch-ms marks: window start, then the close of each window bar. */
  timestamps: Float64Array;
  /** E_0..E_N. */
  equity: Float64Array;
  /** Exposure at each mark (0 at E_0). */
  exposure: Float64Array;
}

export interface BacktestResult {
  symbol: string;
  timeframe: BarSeries['timeframe'];
  start: number;
  end: number;
  bars: number;
  /** Start time of the first window bar and of the last one (epoch ms). */
  startTime: number;
  endTime: number;
  fill: FillTiming;
  /** True for fill 'close': the report must mark the result as optimistic. */
  optimistic: boolean;
  curve: EquityCurve;
  fills: Fill[];
  trades: Trade[];
  metrics: BacktestMetrics;
  /**
   * Discrete policies, by action index: how often it was the model's choice (argmax), and how many of
   * those min_confidence turned into HOLD; null when no action was recorded (continuous policies).
   */
  actions: { chosen: number[]; held: number[] } | null;
}

/**
 * A discrete decision as recorded for the action histogram: index + 1, negated when min_confidence
 * turned it into HOLD; 0 = none (continuous). A number, so it travels with the targets (drive.ts).
 */
export function actionCode(index: number, belowMinConfidence: boolean): number {
  return belowMinConfidence ? -(index + 1) : index + 1;
}

interface OpenTrade {
  direction: 1 | -1;
  entryIndex: number;
  entryTime: number;
  openQty: number;
  openNotional: number;
  closeQty: number;
  closeNotional: number;
  peakQty: number;
  pnl: number;
  fees: number;
}

function requireNumber(value: number, name: string, min: number): void {
  if (!(Number.isFinite(value) && value >= min)) {
    throw inputError(`backtest: ${name} must be a finite number ≥ ${min}, got ${value}`, name);
  }
}

export class Simulation {
  private readonly bars: BarSeries;
  private readonly window: BarWindow;
  private readonly costs: CostModel;
  private readonly periodsPerYear: number;
  private readonly fee: number;
  private readonly slip: number;
  private readonly barMs: number;
  private readonly n: number;

  private cash: number;
  private actionCounts: number[] | null = null;
  private heldCounts: number[] = [];
  private q = 0;
  private avgPrice = 0;
  private T = 0;
  private tau: number;
  private steps = 0;
  private tradedNotional = 0;
  private barsWithPosition = 0;
  private readonly equity: Float64Array;
  private readonly exposureCurve: Float64Array;
  private readonly fills: Fill[] = [];
  private readonly trades: Trade[] = [];
  private openTrade: OpenTrade | null = null;
  private finished = false;

  constructor(bars: BarSeries, window: BarWindow, costs: CostModel, options: SimulationOptions = {}) {
    const len = bars.close.length;
    if (!Number.isInteger(window.start) || !Number.isInteger(window.end)) {
      throw inputError(`backtest: window indices must be integers, got ${window.start}..${window.end}`, 'window');
    }
    if (window.start < 1) {
      throw inputError(`backtest: ${bars.symbol} ${bars.timeframe}: the window starts at bar ${window.start}; the first decision needs the bar before it`, 'window');
    }
    if (window.end < window.start || window.end >= len) {
      throw inputError(`backtest: ${bars.symbol} ${bars.timeframe}: window ${window.start}..${window.end} is outside 0..${len - 1}`, 'window');
    }
    requireNumber(costs.feeBps, 'fee_bps', 0);
    requireNumber(costs.slippageBps, 'slippage_bps', 0);
    requireNumber(costs.minTradeValue, 'min_trade_value', 0);
    requireNumber(costs.rebalanceBand, 'rebalance_band', 0);
    if (!(Number.isFinite(costs.capital) && costs.capital > 0)) {
      throw inputError(`backtest: capital must be a positive number, got ${costs.capital}`, 'capital');
    }
    if (costs.fill !== 'next_open' && costs.fill !== 'close') {
      throw inputError(`backtest: fill must be "next_open" or "close", got ${JSON.stringify(costs.fill)}`, 'fill');
    }
    for (let i = window.start - 1; i <= window.end; i++) {
      const o = bars.open[i];
      const c = bars.close[i];
      if (!(Number.isFinite(o) && o > 0 && Number.isFinite(c) && c > 0)) {
        throw inputError(`backtest: ${bars.symbol} ${bars.timeframe}: bar ${i} has a non-positive or missing price (open ${o}, close ${c})`, 'bars');
      }
    }
    const ppy = options.periodsPerYear ?? defaultPeriodsPerYear(bars.timeframe, 'crypto');
    if (!(Number.isFinite(ppy) && ppy > 0)) throw inputError(`backtest: periods per year must be positive, got ${ppy}`, 'periodsPerYear');

    this.bars = bars;
    this.window = { start: window.start, end: window.end };
    this.costs = { ...costs };
    this.periodsPerYear = ppy;
    this.fee = costs.feeBps / 10_000;
    this.slip = costs.slippageBps / 10_000;
    this.barMs = timeframeMs(bars.timeframe);
    this.n = window.end - window.start + 1;
    this.cash = costs.capital;
    this.tau = window.start - 1;
    this.equity = new Float64Array(this.n + 1);
    this.exposureCurve = new Float64Array(this.n + 1);
    this.equity[0] = costs.capital;
    const initial = options.initial;
    if (initial && (initial.position !== 0 || initial.target !== 0)) {
      if (!Number.isFinite(initial.position) || !Number.isFinite(initial.target)) {
        throw inputError(`backtest: the initial position and target must be finite numbers, got ${initial.position} and ${initial.target}`, 'initial');
      }
      const price = costs.fill === 'next_open' ? bars.open[window.start]! : bars.close[window.start - 1]!;
      this.T = initial.target;
      if (initial.position !== 0) {
        this.q = initial.position;
        this.cash = costs.capital - initial.position * price;
        this.avgPrice = price;
        const qty = Math.abs(initial.position);
        this.openTrade = {
          direction: initial.position > 0 ? 1 : -1,
          entryIndex: window.start,
          entryTime: bars.time[window.start]!,
          openQty: qty,
          openNotional: qty * price,
          closeQty: 0,
          closeNotional: 0,
          peakQty: qty,
          pnl: -initial.position * price,
          fees: 0,
        };
      }
    }
  }

  /** True once the N executable decisions have been applied. */
  get done(): boolean {
    return this.steps === this.n;
  }

  /** The bar whose close the next decision is taken at (window.start − 1 first, window.end when done). */
  get decisionIndex(): number {
    return this.tau;
  }

  /** Decisions applied so far (0 … N). */
  get stepsTaken(): number {
    return this.steps;
  }

  /** Number of bars in the window (N). */
  get length(): number {
    return this.n;
  }

  state(): SimulationState {
    const close = this.bars.close[this.tau];
    const equity = this.cash + this.q * close;
    return {
      exposure: this.exposureAt(close, equity),
      unrealizedReturn: this.unrealizedAt(close),
      target: this.T,
      position: this.q,
      equity,
      cash: this.cash,
    };
  }

  /** Records the discrete decision of the next step for the action histogram (see actionCode). */
  recordAction(code: number): void {
    if (code === 0) return;
    const index = Math.abs(code) - 1;
    const counts = (this.actionCounts ??= []);
    while (counts.length <= index) counts.push(0);
    while (this.heldCounts.length <= index) this.heldCounts.push(0);
    counts[index]!++;
    if (code < 0) this.heldCounts[index]!++;
  }

  /** Applies the decision taken at the close of `decisionIndex`: target exposure T. */
  step(target: number, kind: TargetKind): void {
    if (this.done) throw new Error('Simulation.step: the simulation is done (the decision at the last close is not executed)');
    if (!Number.isFinite(target)) throw new Error(`Simulation.step: target must be a finite number, got ${target}`);
    if (kind !== 'discrete' && kind !== 'continuous') throw new Error(`Simulation.step: unknown target kind ${String(kind)}`);

    let order: boolean;
    if (kind === 'discrete') {
      order = target !== this.T;
    } else {
      order = Math.abs(target - this.state().exposure) > this.costs.rebalanceBand;
    }
    this.T = target;

    const nextOpen = this.costs.fill === 'next_open';
    const fillBar = nextOpen ? this.tau + 1 : this.tau;
    const price = nextOpen ? this.bars.open[fillBar] : this.bars.close[fillBar];
    const fillTime = nextOpen ? this.bars.time[fillBar] : this.bars.time[fillBar] + this.barMs;
    if (order) this.rebalance(target, price, fillBar, fillTime);

    // mark at the close of the next bar
    this.tau++;
    this.steps++;
    const close = this.bars.close[this.tau];
    const e = this.cash + this.q * close;
    if (!Number.isFinite(e)) throw new Error(`Simulation: equity became non-finite at bar ${this.tau}`);
    this.equity[this.steps] = e;
    this.exposureCurve[this.steps] = this.exposureAt(close, e);
    if (this.q !== 0) this.barsWithPosition++;
  }

  finish(): BacktestResult {
    if (!this.done) throw new Error(`Simulation.finish: ${this.n - this.steps} of ${this.n} decisions are still to be applied`);
    if (this.finished) throw new Error('Simulation.finish: already finished');
    this.finished = true;

    const { start, end } = this.window;
    const trades = [...this.trades];
    if (this.openTrade) {
      // counted as closed at the last close with the usual costs, for trade statistics only
      const close = this.bars.close[end];
      const dq = -this.q;
      const fillPrice = dq > 0 ? close * (1 + this.slip) : close * (1 - this.slip);
      const fee = Math.abs(dq) * fillPrice * this.fee;
      const ot = { ...this.openTrade };
      ot.pnl += -dq * fillPrice - fee;
      ot.fees += fee;
      ot.closeQty += Math.abs(dq);
      ot.closeNotional += Math.abs(dq) * fillPrice;
      trades.push(this.toTrade(ot, end, this.bars.time[end] + this.barMs, true));
    }

    const timestamps = new Float64Array(this.n + 1);
    timestamps[0] = this.bars.time[start];
    for (let k = 1; k <= this.n; k++) timestamps[k] = this.bars.time[start + k - 1] + this.barMs;

    const firstFillPrice = this.costs.fill === 'next_open' ? this.bars.open[start] : this.bars.close[start - 1];
    const metrics = computeMetrics(this.equity, trades, this.periodsPerYear, {
      exposure: this.barsWithPosition / this.n,
      turnover: this.tradedNotional / this.costs.capital,
      buyHoldReturn: this.bars.close[end] / firstFillPrice - 1,
    });

    return {
      symbol: this.bars.symbol,
      timeframe: this.bars.timeframe,
      start,
      end,
      bars: this.n,
      startTime: this.bars.time[start],
      endTime: this.bars.time[end],
      fill: this.costs.fill,
      optimistic: this.costs.fill === 'close',
      curve: { timestamps, equity: this.equity.slice(), exposure: this.exposureCurve.slice() },
      fills: [...this.fills],
      trades,
      metrics,
      actions: this.actionCounts === null ? null : { chosen: [...this.actionCounts], held: [...this.heldCounts] },
    };
  }

  // ------------------------------------------------------------------ internals

  private exposureAt(close: number, equity: number): number {
    if (this.q === 0) return 0;
    if (!(equity > 0)) return Math.sign(this.q);
    return (this.q * close) / equity;
  }

  private unrealizedAt(close: number): number {
    if (this.q === 0) return 0;
    return this.q > 0 ? close / this.avgPrice - 1 : 1 - close / this.avgPrice;
  }

  private rebalance(target: number, price: number, barIndex: number, time: number): void {
    const qBefore = this.q;
    const equityAtPrice = this.cash + qBefore * price;
    const targetQty = (target * equityAtPrice) / price;
    let dq = targetQty - qBefore;
    let qAfter = targetQty;
    const fillPrice = dq > 0 ? price * (1 + this.slip) : price * (1 - this.slip);
    if (dq > 0 && target <= 1) {
      const affordable = this.affordableQuantity(fillPrice);
      if (affordable < dq) {
        dq = affordable;
        qAfter = qBefore + affordable;
      }
    }
    if (dq === 0 || Math.abs(dq) * price < this.costs.minTradeValue) return;

    const notional = Math.abs(dq) * fillPrice;
    const fee = notional * this.fee;
    this.cash -= dq * fillPrice + Math.abs(dq) * fillPrice * this.fee;
    this.q = qAfter;
    this.tradedNotional += notional;
    const cashFlow = -dq * fillPrice - fee;
    this.fills.push({ decisionIndex: this.tau, barIndex, time, quantity: dq, price: fillPrice, notional, fee, cashFlow });

    // average entry price of the open position
    if (qAfter === 0) this.avgPrice = 0;
    else if (qBefore === 0 || Math.sign(qAfter) !== Math.sign(qBefore)) this.avgPrice = fillPrice;
    else if (Math.abs(qAfter) > Math.abs(qBefore)) {
      this.avgPrice = (Math.abs(qBefore) * this.avgPrice + Math.abs(dq) * fillPrice) / Math.abs(qAfter);
    }

    this.bookTrade(qBefore, qAfter, dq, fillPrice, fee, cashFlow, barIndex, time);
  }

  /**
   * No hidden leverage: the largest quantity a buy at `fillPrice` can take without driving cash below
   * zero, fees included — max(0, cash) / (fill·(1 + fee)), lowered by a few ulps where rounding would
   * leave cash a hair below zero.
   */
  private affordableQuantity(fillPrice: number): number {
    if (!(this.cash > 0)) return 0;
    let dq = this.cash / (fillPrice * (1 + this.fee));
    // An overflowing quantity (a price near the smallest double) stays Infinity, and the equity check
    // of step() then reports it; scaling Infinity down would never end.
    if (!Number.isFinite(dq)) return dq;
    while (dq > 0 && this.cash - (dq * fillPrice + dq * fillPrice * this.fee) < 0) dq *= 1 - Number.EPSILON;
    return dq;
  }

  private bookTrade(qBefore: number, qAfter: number, dq: number, fillPrice: number, fee: number, cashFlow: number, barIndex: number, time: number): void {
    const adq = Math.abs(dq);
    const open = (direction: 1 | -1, qty: number, share: number): void => {
      this.openTrade = {
        direction,
        entryIndex: barIndex,
        entryTime: time,
        openQty: qty,
        openNotional: qty * fillPrice,
        closeQty: 0,
        closeNotional: 0,
        peakQty: Math.abs(qAfter),
        pnl: cashFlow * share,
        fees: fee * share,
      };
    };

    if (qBefore === 0) {
      open(qAfter > 0 ? 1 : -1, adq, 1);
      return;
    }
    const ot = this.openTrade;
    if (ot === null) throw new Error('Simulation: position without an open trade');
    const flipped = qAfter !== 0 && Math.sign(qAfter) !== Math.sign(qBefore);
    if (!flipped) {
      ot.pnl += cashFlow;
      ot.fees += fee;
      if (Math.abs(qAfter) > Math.abs(qBefore)) {
        ot.openQty += adq;
        ot.openNotional += adq * fillPrice;
        ot.peakQty = Math.max(ot.peakQty, Math.abs(qAfter));
      } else {
        ot.closeQty += adq;
        ot.closeNotional += adq * fillPrice;
      }
      if (qAfter === 0) {
        this.trades.push(this.toTrade(ot, barIndex, time, false));
        this.openTrade = null;
      }
      return;
    }
    // a flip: the closing part is |qBefore| / |Δq| of the fill, the opening part |qAfter| / |Δq|
    const closingShare = Math.abs(qBefore) / adq;
    ot.pnl += cashFlow * closingShare;
    ot.fees += fee * closingShare;
    ot.closeQty += Math.abs(qBefore);
    ot.closeNotional += Math.abs(qBefore) * fillPrice;
    this.trades.push(this.toTrade(ot, barIndex, time, false));
    open(qAfter > 0 ? 1 : -1, Math.abs(qAfter), Math.abs(qAfter) / adq);
  }

  private toTrade(ot: OpenTrade, exitIndex: number, exitTime: number, closedAtEnd: boolean): Trade {
    return {
      direction: ot.direction === 1 ? 'long' : 'short',
      entryIndex: ot.entryIndex,
      entryTime: ot.entryTime,
      exitIndex,
      exitTime,
      entryPrice: ot.openNotional / ot.openQty,
      exitPrice: ot.closeQty > 0 ? ot.closeNotional / ot.closeQty : 0,
      peakQuantity: ot.peakQty,
      entryNotional: ot.openNotional,
      pnl: ot.pnl,
      fees: ot.fees,
      returnOnEntry: ot.openNotional > 0 ? ot.pnl / ot.openNotional : 0,
      closedAtEnd,
    };
  }
}
