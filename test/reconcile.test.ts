import { describe, expect, it } from 'vitest';
import { barOf, distribution, positionAt, quantile, reconcile, type AccountFill } from '../src/core/reconcile.js';
import { Simulation, type BacktestResult, type CostModel } from '../src/core/simulate.js';
import type { BarSeries } from '../src/core/types.js';
import { barsFromOpenClose } from './helpers/bars.js';
import { seeded, simulatePaperAccount } from './helpers/paper-account.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2025-01-01T00:00:00Z');

const bars = (rows: [number, number][]): BarSeries => barsFromOpenClose(rows, T0, 'BTCUSD');

/** A seeded random walk: each open is the previous close moved a little (gaps between bars, as real data has). */
function walk(n: number, seed: number): BarSeries {
  const rnd = seeded(seed);
  const rows: [number, number][] = [];
  let price = 40_000;
  for (let i = 0; i < n; i++) {
    const o = price * (1 + (rnd() - 0.5) * 0.002);
    const c = o * (1 + (rnd() - 0.5) * 0.02);
    rows.push([o, c]);
    price = c;
  }
  return bars(rows);
}

const costs: CostModel = { feeBps: 25, slippageBps: 5, minTradeValue: 1, capital: 100_000, fill: 'next_open', rebalanceBand: 0.05 };

function backtest(b: BarSeries, window: { start: number; end: number }, targets: (k: number) => number, initial?: { position: number; target: number }): BacktestResult {
  const sim = new Simulation(b, window, costs, { periodsPerYear: 8760, initial });
  for (let k = 0; !sim.done; k++) sim.step(targets(k), 'discrete');
  return sim.finish();
}

/** BUY for 10 steps, flat for 10, … : a decision every 10 bars. */
const alternating = (k: number): number => (Math.floor(k / 10) % 2 === 0 ? 1 : 0);

describe('quantiles and bars', () => {
  it('interpolates like numpy (linear) and finds the bar that holds a time', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([0, 10], 0.95)).toBeCloseTo(9.5, 12);
    expect(distribution([]).mean).toBeNull();
    const d = distribution([3, 1, 2, 10]);
    expect(d.mean).toBe(4);
    expect(d.median).toBe(2.5);
    expect(d.p95).toBeCloseTo(3 + (10 - 3) * 0.85, 12); // (n−1)·0.95 = 2.85 → between 3 and 10
    const b = walk(5, 1);
    expect(barOf(b.time, HOUR, T0)).toBe(0);
    expect(barOf(b.time, HOUR, T0 + HOUR - 1)).toBe(0);
    expect(barOf(b.time, HOUR, T0 + 4 * HOUR + 30_000)).toBe(4);
    expect(barOf(b.time, HOUR, T0 + 5 * HOUR)).toBe(-1);
    expect(barOf(b.time, HOUR, T0 - 1)).toBe(-1);
  });
});

describe('reconcile: an account that trades exactly as the backtest', () => {
  const b = walk(80, 7);
  const window = { start: 10, end: 79 };
  const bt = backtest(b, window, alternating);
  // the backtest's fills as the account's: same time, price, quantity, fee in the quote currency
  const fills: AccountFill[] = bt.fills.map((f, i) => ({
    id: `a${i}`,
    orderId: `o${i}`,
    clientOrderId: null,
    time: f.time,
    side: f.quantity > 0 ? 'buy' : 'sell',
    qty: Math.abs(f.quantity),
    price: f.price,
    fee: f.fee,
    feeAsset: 'quote',
  }));
  const r = reconcile({ bars: b, window, capital: costs.capital, startPosition: 0, fills, backtest: bt, feeBps: 25, slippageBps: 5, periodsPerYear: 8760 });

  it('matches every decision with lag 0 and rebuilds the backtest curve', () => {
    expect(bt.fills.length).toBe(7); // decisions at steps 0, 10, …, 60
    expect(r.record.status).toBe('ok');
    expect(r.decisions).toMatchObject({ matched: 7, missed: 0, extra: 0, unmatchedShare: 0 });
    expect(r.decisions.lag).toMatchObject({ mean: 0, max: 0, counts: { '0': 7 } });
    expect(r.sleeve.equity.length).toBe(bt.curve.equity.length);
    r.sleeve.equity.forEach((e, k) => {
      expect(e).toBeCloseTo(bt.curve.equity[k]!, 6);
    });
    expect(r.comparison.returnDifference).toBeCloseTo(0, 12);
    expect(r.comparison.trackingError).toBeCloseTo(0, 9);
    expect(r.comparison.correlation).toBeCloseTo(1, 9);
  });

  it('measures no shortfall, and exactly the assumed costs', () => {
    expect(r.shortfall.perFill.length).toBe(7);
    for (const f of r.shortfall.perFill) {
      expect(f.shortfallBps).toBeCloseTo(0, 9);
      expect(f.feeBps).toBeCloseTo(25, 9);
      expect(f.costBps).toBeCloseTo(30, 9);
    }
    expect(r.shortfall.ratio).toBeCloseTo(1, 9);
    expect(r.sleeve.fees).toBeCloseTo(
      bt.fills.reduce((a, f) => a + f.fee, 0),
      6,
    );
  });
});

describe('reconcile: the simulated paper account (one bar late, random slippage, a partial fill, a missed order, a manual trade, crypto fees)', () => {
  const b = walk(120, 11);
  const window = { start: 20, end: 119 };
  const bt = backtest(b, window, alternating);
  // decisions: buys at fills 0, 2, 4, …, sells at 1, 3, …
  const plan = { lagBars: 1, maxSlippageBps: 20, seed: 42, feeBps: 25, partialAt: 2, partialShare: 0.8, missAt: 3, manual: { bar: 36, qty: 0.05 }, qtyDecimals: 9 };
  const account = simulatePaperAccount(b, bt, plan);
  const r = reconcile({ bars: b, window, capital: costs.capital, startPosition: 0, fills: account.fills, backtest: bt, feeBps: 25, slippageBps: 5, periodsPerYear: 8760 });

  it('finds the missed order, the manual trade, and the one-bar lag of every other decision', () => {
    expect(bt.fills.length).toBe(10);
    expect(r.decisions.missed).toBe(1);
    expect(r.decisions.items.find((i) => i.kind === 'missed')!.backtest!.time).toBe(new Date(bt.fills[3]!.time).toISOString());
    expect(r.decisions.extra).toBe(1);
    expect(r.decisions.items.find((i) => i.kind === 'extra')!.account!.orderId).toBe('manual-1');
    expect(r.decisions.matched).toBe(9);
    expect(r.decisions.lag.counts).toEqual({ '1': 9 });
    expect(r.decisions.unmatchedShare).toBeCloseTo(2 / 11, 12);
    expect(r.trades).toMatchObject({ accountOrders: 10, accountFills: 11, backtestDecisions: 10 });
  });

  it('measures the partial fill as a quantity ratio of its order', () => {
    const partial = r.decisions.items.find((i) => i.account?.orderId === 'order-2')!;
    expect(partial.account!.fills).toBe(2);
    expect(partial.qtyRatio).toBeCloseTo(0.8, 6);
    const full = r.decisions.items.find((i) => i.account?.orderId === 'order-0')!;
    expect(full.qtyRatio).toBeCloseTo(1, 6);
  });

  it("measures each fill's shortfall against the backtest price, as an independent computation gives", () => {
    expect(r.shortfall.perFill.length).toBe(10); // 9 matched orders, one of them in two fills
    const expected: number[] = [];
    for (const f of account.fills) {
      if (f.orderId === 'manual-1' || f.orderId === 'order-3') continue;
      const i = Number(f.orderId.split('-')[1]);
      const btFill = bt.fills[i]!;
      // one bar later, at that bar's open moved by the random slippage; against the backtest's slipped open
      expected.push(f.side === 'buy' ? ((f.price - btFill.price) / btFill.price) * 1e4 : ((btFill.price - f.price) / btFill.price) * 1e4);
    }
    r.shortfall.perFill.forEach((s, k) => {
      expect(s.shortfallBps).toBeCloseTo(expected[k]!, 9);
    });
    const sorted = [...expected].sort((a, b) => a - b);
    expect(r.shortfall.shortfallBps.mean).toBeCloseTo(expected.reduce((a, v) => a + v, 0) / expected.length, 9);
    expect(r.shortfall.shortfallBps.median).toBeCloseTo((sorted[4]! + sorted[5]!) / 2, 9);
    expect(r.shortfall.shortfallBps.p95).toBeCloseTo(sorted[8]! + (sorted[9]! - sorted[8]!) * 0.55, 9);
    // the cost view: the slippage applied against the lagged bar's own open, plus 25 bps of fee
    const byFill = new Map(account.fills.map((f, k) => [f.id, account.slippageBps[k]!]));
    for (const s of r.shortfall.perFill) {
      const i = Number(s.orderId.split('-')[1]);
      const btOpen = b.open[bt.fills[i]!.barIndex]!;
      const side = s.side === 'buy' ? 1 : -1;
      expect(s.feeBps).toBeCloseTo(25, 9);
      expect(s.costBps).toBeCloseTo(side * (s.price / btOpen - 1) * 1e4 + 25, 9);
      expect(byFill.get(s.fillId)).toBeGreaterThanOrEqual(0);
    }
    expect(r.shortfall.ratio).toBeCloseTo(r.shortfall.costBps.mean! / 30, 12);
  });

  it('rebuilds the sleeve with fees in the asset received on buys, and compares the curves', () => {
    // independent: replay fills bar by bar
    const equity: number[] = [costs.capital];
    for (let k = window.start; k <= window.end; k++) {
      let q = 0;
      let cash = costs.capital;
      for (const f of account.fills) {
        if (f.time >= b.time[k]! + HOUR) continue;
        if (f.side === 'buy') {
          q += f.qty - f.fee; // fee in BTC
          cash -= f.qty * f.price;
        } else {
          q -= f.qty;
          cash += f.qty * f.price - f.fee;
        }
      }
      equity.push(cash + q * b.close[k]!);
    }
    r.sleeve.equity.forEach((e, k) => {
      expect(e).toBeCloseTo(equity[k]!, 6);
    });
    const fees = account.fills.reduce((a, f) => a + (f.feeAsset === 'base' ? f.fee * f.price : f.fee), 0);
    expect(r.sleeve.fees).toBeCloseTo(fees, 6);
    expect(r.sleeve.finalPosition).toBeCloseTo(0.05 - 0.05 * 0.0025, 9); // only the manual buy is still held

    const ra = equity.slice(1).map((e, k) => e / equity[k]! - 1);
    const btE = Array.from(bt.curve.equity);
    const rb = btE.slice(1).map((e, k) => e / btE[k]! - 1);
    const n = ra.length;
    const d = ra.map((v, k) => v - rb[k]!);
    const md = d.reduce((a, v) => a + v, 0) / n;
    const te = Math.sqrt(d.reduce((a, v) => a + (v - md) ** 2, 0) / (n - 1)) * Math.sqrt(8760);
    expect(r.comparison.trackingError).toBeCloseTo(te, 9);
    const ma = ra.reduce((a, v) => a + v, 0) / n;
    const mb = rb.reduce((a, v) => a + v, 0) / n;
    const cov = ra.reduce((a, v, k) => a + (v - ma) * (rb[k]! - mb), 0);
    const corr = cov / Math.sqrt(ra.reduce((a, v) => a + (v - ma) ** 2, 0) * rb.reduce((a, v) => a + (v - mb) ** 2, 0));
    expect(r.comparison.correlation).toBeCloseTo(corr, 9);
    expect(r.comparison.correlation!).toBeGreaterThan(0.5);
    expect(r.comparison.correlation!).toBeLessThan(1);
    expect(r.comparison.returnDifference).toBeCloseTo(equity[n]! / equity[0]! - 1 - bt.metrics.totalReturn!, 12);
  });
});

describe('reconcile: no record is said, never a pass', () => {
  const b = walk(40, 3);
  const window = { start: 10, end: 39 };
  const bt = backtest(b, window, alternating);

  it('says so when no fill is attributed, and leaves undefined numbers null with a reason', () => {
    const r = reconcile({ bars: b, window, capital: 100_000, startPosition: 0, fills: [], backtest: bt, feeBps: 25, slippageBps: 5, periodsPerYear: 8760 });
    expect(r.record).toEqual({ status: 'none', reason: 'no fills are attributed to this model on the account' });
    expect(r.decisions.missed).toBe(bt.fills.length);
    expect(r.shortfall.ratio).toBeNull();
    expect(r.shortfall.costBps.mean).toBeNull();
    expect(r.undefinedReasons['shortfall']).toMatch(/no fill/);
    expect(r.comparison.correlation).toBeNull(); // the flat sleeve does not move
    expect(r.undefinedReasons['correlation']).toMatch(/zero variance/);
    expect(JSON.stringify(r)).not.toMatch(/NaN|Infinity/);
  });

  it('says so when the fills lie outside the window', () => {
    const early: AccountFill = { id: 'x', orderId: 'x', clientOrderId: null, time: b.time[2]!, side: 'buy', qty: 1, price: 40_000, fee: 0, feeAsset: 'quote' };
    const r = reconcile({ bars: b, window, capital: 100_000, startPosition: 0, fills: [early], backtest: bt, feeBps: 25, slippageBps: 5, periodsPerYear: 8760 });
    expect(r.record.status).toBe('none');
    expect(r.trades.fillsOutsideWindow).toBe(1);
  });
});

describe('reconcile: a position opened before promoted_at', () => {
  const b = walk(60, 5);
  const window = { start: 20, end: 59 };

  it('finds the position at the start from the current one, and starts the backtest from it', () => {
    const start = b.time[window.start]!;
    const fills: AccountFill[] = [
      { id: '1', orderId: 'a', clientOrderId: null, time: start - 3 * HOUR, side: 'buy', qty: 1.5, price: 40_000, fee: 0.00375, feeAsset: 'base' },
      { id: '2', orderId: 'b', clientOrderId: null, time: start + 5 * HOUR + 1, side: 'sell', qty: 0.5, price: 41_000, fee: 51.25, feeAsset: 'quote' },
    ];
    // the account holds 1.5 − 0.00375 − 0.5 now; at the window's start it held 1.5 − 0.00375
    expect(positionAt(1.5 - 0.00375 - 0.5, fills, start)).toBeCloseTo(1.5 - 0.00375, 12);
    const q0 = 1.5 - 0.00375;
    const bt = backtest(b, window, () => 1, { position: q0, target: 1 });
    // the policy holds its target: the backtest does not trade, and its curve is q0 marked at each close
    expect(bt.fills.length).toBe(0);
    const cash0 = 100_000 - q0 * b.open[window.start]!;
    expect(bt.curve.equity[0]).toBeCloseTo(100_000, 9);
    expect(bt.curve.equity[5]).toBeCloseTo(cash0 + q0 * b.close[window.start + 4]!, 6);
    const r = reconcile({ bars: b, window, capital: 100_000, startPosition: q0, fills, backtest: bt, feeBps: 25, slippageBps: 5, periodsPerYear: 8760 });
    expect(r.trades.fillsOutsideWindow).toBe(1);
    expect(r.decisions).toMatchObject({ matched: 0, missed: 0, extra: 1 });
    // before the sell the two sleeves are the same; after it the account holds 0.5 less
    expect(r.sleeve.equity[5]).toBeCloseTo(bt.curve.equity[5]!, 6);
    const k = 7; // after the sell (bar start + 5)
    expect(r.sleeve.equity[k]).toBeCloseTo(cash0 + 0.5 * 41_000 - 51.25 + (q0 - 0.5) * b.close[window.start + k - 1]!, 6);
    expect(r.sleeve.position[k]).toBeCloseTo(q0 - 0.5, 12);
  });
});
