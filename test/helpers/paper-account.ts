/**
 * A simulated paper account: replays a backtest's decisions as the account's fills, with the ways a real
 * deployment departs from its backtest, each recorded so a test can check that the reconciliation finds
 * and measures it:
 *   - every order fills `lagBars` bars after the backtest's fill (at that bar's open, a few seconds in),
 *   - at a price with a random slippage (seeded) in [0, maxSlippageBps] against us,
 *   - the order at `partialAt` (index into the backtest's fills) fills in two parts, `partialShare` of
 *     its quantity in all,
 *   - the order at `missAt` is never placed,
 *   - a manual trade (a buy of `manual.qty` at the open of bar `manual.bar`) is added,
 *   - crypto fees: a buy pays `feeBps` in the asset received, a sell in the quote currency.
 */
import type { AccountFill } from '../../src/core/reconcile.js';
import type { BacktestResult } from '../../src/core/simulate.js';
import { timeframeMs, type BarSeries } from '../../src/core/types.js';

export interface PaperAccountPlan {
  lagBars: number;
  maxSlippageBps: number;
  seed: number;
  feeBps: number;
  partialAt: number | null;
  partialShare: number;
  missAt: number | null;
  manual: { bar: number; qty: number } | null;
  /** Quantity precision (decimals), as the broker rounds fractional orders. */
  qtyDecimals: number;
  /** Position held before the first decision (the backtest started from it too). */
  startPosition?: number;
}

export interface PaperAccount {
  fills: AccountFill[];
  /** The per-fill slippage actually applied, bps, in the order of `fills`. */
  slippageBps: number[];
}

/** mulberry32: a small seeded generator, so the account is the same on every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function simulatePaperAccount(bars: BarSeries, backtest: Pick<BacktestResult, 'fills' | 'end'>, plan: PaperAccountPlan): PaperAccount {
  const rnd = seeded(plan.seed);
  const barMs = timeframeMs(bars.timeframe);
  const round = (q: number): number => Number(q.toFixed(plan.qtyDecimals));
  const fills: AccountFill[] = [];
  const slippage: number[] = [];
  let held = plan.startPosition ?? 0; // what the account holds: a buy's fee in the asset is not received
  let btPosition = plan.startPosition ?? 0;
  const push = (orderId: string, part: number, bar: number, side: 'buy' | 'sell', qty: number): void => {
    const slip = rnd() * plan.maxSlippageBps;
    const open = bars.open[bar]!;
    const price = side === 'buy' ? open * (1 + slip / 10_000) : open * (1 - slip / 10_000);
    const feeQuote = side === 'sell';
    const fee = feeQuote ? qty * price * (plan.feeBps / 10_000) : qty * (plan.feeBps / 10_000);
    fills.push({
      id: `${bars.time[bar]! + 5_000 + part}::${orderId}`,
      orderId,
      clientOrderId: `pg-${orderId}`,
      time: bars.time[bar]! + 5_000 + part * 1_000,
      side,
      qty,
      price,
      fee,
      feeAsset: feeQuote ? 'quote' : 'base',
    });
    held += side === 'buy' ? qty - fee : -qty;
    slippage.push(slip);
  };
  backtest.fills.forEach((f, i) => {
    btPosition += f.quantity;
    if (i === plan.missAt) return;
    const bar = f.barIndex + plan.lagBars;
    if (bar >= bars.time.length || bars.time[bar]! + barMs > bars.time[backtest.end]! + barMs) return;
    const side = f.quantity > 0 ? 'buy' : 'sell';
    // a sell to flat sells what the account holds (less than the backtest's quantity after fees in the asset)
    const qty = side === 'sell' && Math.abs(btPosition) < 1e-9 ? held : round(Math.abs(f.quantity));
    if (!(qty > 0)) return;
    if (i === plan.partialAt) {
      const first = round(qty * plan.partialShare * 0.75);
      const second = round(qty * plan.partialShare) - first;
      push(`order-${i}`, 0, bar, side, first);
      push(`order-${i}`, 1, bar, side, round(second));
    } else {
      push(`order-${i}`, 0, bar, side, qty);
    }
  });
  if (plan.manual) push('manual-1', 0, plan.manual.bar, 'buy', plan.manual.qty);
  return { fills, slippageBps: slippage };
}
