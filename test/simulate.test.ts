import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { actionCode, type BacktestResult, type CostModel, Simulation, type TargetKind } from '../src/core/simulate.js';
import type { PolicyGateError } from '../src/core/errors.js';
import type { BarSeries } from '../src/core/types.js';
import { barsFromOpenClose } from './helpers/bars.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2024-01-01T00:00:00Z');

/** Bars from [open, close] pairs, hourly from T0; high/low bracket them. */
const bars = (rows: [number, number][], symbol = 'TEST'): BarSeries => barsFromOpenClose(rows, T0, symbol);

const costs = (over: Partial<CostModel> = {}): CostModel => ({
  feeBps: 10,
  slippageBps: 10,
  minTradeValue: 1,
  capital: 10_000,
  fill: 'next_open',
  rebalanceBand: 0.05,
  ...over,
});

/** Runs the simulation with one target per step. */
function run(b: BarSeries, window: { start: number; end: number }, c: CostModel, targets: number[], kind: TargetKind = 'discrete'): BacktestResult {
  const sim = new Simulation(b, window, c, { periodsPerYear: 8760 });
  for (const t of targets) sim.step(t, kind);
  expect(sim.done).toBe(true);
  return sim.finish();
}

function expectAllFinite(r: BacktestResult): void {
  expect(JSON.stringify(r.metrics)).not.toMatch(/NaN|Infinity/);
  for (const arr of [r.curve.equity, r.curve.exposure, r.curve.timestamps]) for (const v of arr) expect(Number.isFinite(v)).toBe(true);
  for (const t of r.trades) for (const v of Object.values(t)) if (typeof v === 'number') expect(Number.isFinite(v)).toBe(true);
  for (const f of r.fills) for (const v of Object.values(f)) expect(Number.isFinite(v)).toBe(true);
}

describe('Simulation: the hand-checked 3-bar example (fee 10 bps, slippage 10 bps, capital 10 000)', () => {
  // bar 0 (history): o 100 c 100 | bar 1: o 100 c 110 | bar 2: o 110 c 99 | bar 3: o 100 c 105
  const b = bars([
    [100, 100],
    [100, 110],
    [110, 99],
    [100, 105],
  ]);
  // window = bars 1..3 (N = 3). Decisions at the closes of bars 0, 1, 2: BUY (T=1), HOLD (T=1), CLOSE (T=0).
  // Run inside each test, not when the file is collected, so that every assertion sees the code as
  // the test runs it (a mutation-testing run activates a mutant per test).
  const result = (): BacktestResult => run(b, { start: 1, end: 3 }, costs(), [1, 1, 0]);

  // The buy is capped so that cash, fees included, does not go negative (SPEC 5, no hidden leverage):
  // q = 10 000 / (100.1 · 1.001) = 10 000 / 100.2001 ≈ 99.80030 units.
  const q = 10_000 / 100.2001;

  it('sizes, charges and marks exactly as SPEC 5 says', () => {
    const r = result();
    // τ=0 → fill at open of bar 1, O = 100. E = cash + q·O = 10 000 + 0 = 10 000.
    //   target qty = T·E/O = 1·10 000/100 = 100; Δq = 100 (a buy) → fill = 100·(1 + 0.001) = 100.1
    //   100 units would cost 100·100.1 + 100·100.1·0.001 = 10 020.01 > 10 000 in cash: T = 1 is not
    //   margin, so Δq is capped at cash / (fill·(1 + fee)) = 10 000 / 100.2001 = q → cash = 0
    // E_1 = 0 + q·110 ≈ 10 978.03
    // τ=1 → HOLD, T unchanged → no order.  E_2 = q·99 ≈ 9 880.23
    // τ=2 → CLOSE (T=0) → fill at open of bar 3, O = 100: target qty 0, Δq = −q (a sell)
    //   fill = 100·(1 − 0.001) = 99.9; cash −= (−q·99.9) + q·99.9·0.001 → cash = q·99.8001
    // E_3 = q·99.8001 ≈ 9 960.08 (flat). The decision at the close of bar 3 is not executed.
    const want = [10_000, q * 110, q * 99, q * 99.8001];
    expect(r.curve.equity).toHaveLength(4);
    for (let i = 0; i < 4; i++) expect(r.curve.equity[i]).toBeCloseTo(want[i], 9);
    expect(r.curve.equity[1]).toBeCloseTo(10_978.03, 2);
    expect(r.fills).toHaveLength(2);
    expect(r.fills[0]).toMatchObject({ decisionIndex: 0, barIndex: 1, time: T0 + HOUR });
    expect(r.fills[0].quantity).toBeCloseTo(q, 12);
    expect(r.fills[0].price).toBeCloseTo(100.1, 12);
    expect(r.fills[0].fee).toBeCloseTo(q * 0.1001, 10);
    expect(r.fills[0].cashFlow).toBeCloseTo(-10_000, 9);
    expect(r.fills[1].price).toBeCloseTo(99.9, 12);
    expect(r.fills[1].quantity).toBe(-r.fills[0].quantity);
    expect(r.fills[1].fee).toBeCloseTo(q * 0.0999, 10);
  });

  it('books one round trip with PnL = Σ cash flows = −10 000 + q·99.8001 ≈ −39.92', () => {
    const r = result();
    expect(r.trades).toHaveLength(1);
    const t = r.trades[0];
    expect(t).toMatchObject({ direction: 'long', entryIndex: 1, exitIndex: 3, closedAtEnd: false });
    expect(t.peakQuantity).toBeCloseTo(q, 12);
    expect(t.pnl).toBeCloseTo(q * 99.8001 - 10_000, 9);
    expect(t.pnl).toBeCloseTo(-39.92, 2);
    expect(t.fees).toBeCloseTo(q * 0.2, 9);
    expect(t.entryPrice).toBeCloseTo(100.1, 12);
    expect(t.exitPrice).toBeCloseTo(99.9, 12);
  });

  it('metrics: return, drawdown, exposure, turnover, buy & hold, win rate', () => {
    const r = result();
    const m = r.metrics;
    expect(m.totalReturn).toBeCloseTo((q * 99.8001) / 10_000 - 1, 12);
    expect(m.finalEquity).toBeCloseTo(q * 99.8001, 9);
    // peak q·110 → trough q·99: 1 − 99 / 110
    expect(m.maxDrawdown).toBeCloseTo(1 - 99 / 110, 12);
    expect(m.exposure).toBeCloseTo(2 / 3, 12); // a position at the closes of bars 1 and 2, flat at bar 3
    expect(m.turnover).toBeCloseTo((q * 100.1 + q * 99.9) / 10_000, 12); // traded notional / capital
    expect(m.buyHoldReturn).toBeCloseTo(105 / 100 - 1, 12); // close of bar 3 / open of bar 1 − 1, gross
    expect(m.trades).toBe(1);
    expect(m.winRate).toBe(0);
    expect(m.profitFactor).toBe(0);
    expect(m.periodsPerYear).toBe(8760);
    expect(r.optimistic).toBe(false);
    expectAllFinite(r);
  });

  it('curve: E_0 at the window start, then each bar close; exposure q·close/E', () => {
    const r = result();
    expect(Array.from(r.curve.timestamps)).toEqual([T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR, T0 + 4 * HOUR]);
    expect(r.curve.exposure[0]).toBe(0);
    // all the cash went into the position: exposure exactly 1, never the 1.0018 an uncapped buy holds
    expect(r.curve.exposure[1]).toBeCloseTo(1, 12);
    expect(r.curve.exposure[1]).toBeLessThanOrEqual(1);
    expect(r.curve.exposure[3]).toBe(0);
    expect([r.start, r.end, r.bars, r.startTime, r.endTime]).toEqual([1, 3, 3, T0 + HOUR, T0 + 3 * HOUR]);
  });
});

describe('Simulation: stepping', () => {
  const b = bars([
    [100, 100],
    [100, 102],
    [102, 104],
    [104, 103],
  ]);

  it('decisionIndex runs from start − 1 to end; N steps; the last decision is not executed', () => {
    const sim = new Simulation(b, { start: 1, end: 3 }, costs());
    const seen: number[] = [];
    while (!sim.done) {
      seen.push(sim.decisionIndex);
      sim.step(1, 'discrete');
    }
    expect(seen).toEqual([0, 1, 2]);
    expect(sim.decisionIndex).toBe(3);
    expect(() => sim.step(0, 'discrete')).toThrow(/done/);
    const r = sim.finish();
    expect(r.curve.equity).toHaveLength(4);
    expect(() => sim.finish()).toThrow(/already/);
  });

  it('finish before the last step, a non-finite target and a window without history are errors', () => {
    const sim = new Simulation(b, { start: 1, end: 3 }, costs());
    expect(() => sim.finish()).toThrow(/still to be applied/);
    expect(() => sim.step(NaN, 'discrete')).toThrow(/finite/);
    expect(() => new Simulation(b, { start: 0, end: 3 }, costs())).toThrow(/bar before/);
    expect(() => new Simulation(b, { start: 1, end: 4 }, costs())).toThrow(/outside/);
    expect(() => new Simulation(b, { start: 1, end: 3 }, costs({ capital: 0 }))).toThrow(/capital/);
    expect(() => new Simulation(b, { start: 1, end: 3 }, costs({ feeBps: -1 }))).toThrow(/fee_bps/);
  });

  it('state(): exposure and unrealized return at the decision close, from the average fill price', () => {
    const sim = new Simulation(b, { start: 1, end: 3 }, costs({ feeBps: 0, slippageBps: 0 }));
    expect(sim.state()).toMatchObject({ exposure: 0, unrealizedReturn: 0, target: 0, position: 0, equity: 10_000, cash: 10_000 });
    sim.step(1, 'discrete'); // buys 100 at the open of bar 1 (100)
    const s = sim.state(); // close of bar 1 = 102
    expect(s.position).toBe(100);
    expect(s.equity).toBe(10_200);
    expect(s.exposure).toBe(1);
    expect(s.unrealizedReturn).toBeCloseTo(0.02, 12);
    expect(s.target).toBe(1);
  });

  it('lockstep: interleaved simulations give the same results as sequential ones', () => {
    const targets = [1, 0, -1];
    const a1 = run(b, { start: 1, end: 3 }, costs(), targets);
    const x = new Simulation(b, { start: 1, end: 3 }, costs(), { periodsPerYear: 8760 });
    const y = new Simulation(b, { start: 1, end: 3 }, costs({ fill: 'close' }), { periodsPerYear: 8760 });
    for (const t of targets) {
      x.step(t, 'discrete');
      y.step(-t, 'discrete');
    }
    expect(x.finish()).toEqual(a1);
    expect(y.finish().fill).toBe('close');
  });
});

describe('Simulation: shorts and flips (fee 10 bps, no slippage)', () => {
  // bar 0: c 100 | bar 1: o 100 c 90 | bar 2: o 90 c 95 | bar 3: o 95 c 100
  const b = bars([
    [100, 100],
    [100, 90],
    [90, 95],
    [95, 100],
  ]);
  const c = costs({ slippageBps: 0 });
  const result = (): BacktestResult => run(b, { start: 1, end: 3 }, c, [-1, 1, 1]);

  // The flip to T = +1 is a buy toward a target ≤ 1: capped at cash / (fill·(1 + fee)) = 19 990 / 90.09.
  const a = 19_990 / 90.09; // the traded quantity: 100 to close the short, the rest opens the long
  const q = a - 100; // ≈ 121.89, not the uncapped 10 990 / 90 ≈ 122.11

  it('goes short, flips long, and splits the flip fill between the two trades', () => {
    const r = result();
    // τ=0 SELL (T=−1): O = 100, E = 10 000, target qty −100, Δq = −100 → cash = 10 000 + 10 000 − 10 = 19 990
    // E_1 = 19 990 − 100·90 = 10 990
    // τ=1 BUY (T=+1): O = 90, E = 10 990, uncapped target qty 10 990/90 = 122.1…, Δq = 222.1…, which
    //   would cost 19 990 + 19.99 > 19 990 in cash → Δq = a = 19 990 / (90·1.001), cash = 0
    //   closing part = 100/a of the fill: cash flow −9 000 − 9 = −9 009 → short PnL = 9 990 − 9 009 = 981
    //   opening part: q/a of −19 990 = −q·90.09
    expect(r.fills).toHaveLength(2);
    expect(r.fills[0].quantity).toBe(-100);
    expect(r.fills[1].quantity).toBeCloseTo(a, 10);
    expect(r.fills[1].cashFlow).toBeCloseTo(-19_990, 9);
    expect(r.curve.equity[1]).toBeCloseTo(10_990, 9);
    expect(r.curve.equity[2]).toBeCloseTo(q * 95, 9);
    expect(r.curve.equity[3]).toBeCloseTo(q * 100, 9);
    expect(r.trades).toHaveLength(2);
    const [short, long] = r.trades;
    expect(short).toMatchObject({ direction: 'short', entryIndex: 1, exitIndex: 2, closedAtEnd: false });
    expect(short.pnl).toBeCloseTo(981, 9);
    expect(short.fees).toBeCloseTo(10 + 9, 9);
    expect(short.exitPrice).toBe(90);
    // the long is still open after bar 3: closed for statistics at the last close (100) with the fee:
    //   + q·100·(1 − 0.001) → PnL = q·99.9 − q·90.09
    expect(long).toMatchObject({ direction: 'long', entryIndex: 2, exitIndex: 3, closedAtEnd: true });
    expect(long.pnl).toBeCloseTo(q * 99.9 - q * 90.09, 9);
    expect(long.fees).toBeCloseTo(q * 0.09 + q * 100 * 0.001, 9);
    expect(long.entryPrice).toBe(90);
    expect(r.metrics.trades).toBe(2);
    expect(r.metrics.winRate).toBe(1);
    expect(r.metrics.profitFactor).toBeNull();
    expect(r.metrics.undefinedReasons.profitFactor).toMatch(/no losing trade/);
    expectAllFinite(r);
  });

  it('the open trade is in the statistics but not in the equity curve', () => {
    const r = result();
    // Σ PnL = E_N − E_0 − (exit costs of the still-open position, which the curve never paid)
    const exitFee = q * 100 * 0.001;
    const sum = r.trades.reduce((s, t) => s + t.pnl, 0);
    expect(sum).toBeCloseTo(r.metrics.finalEquity - 10_000 - exitFee, 8);
    expect(r.metrics.finalEquity).toBeCloseTo(q * 100, 9);
  });

  it('unrealized return of a short is 1 − close / entry', () => {
    const sim = new Simulation(b, { start: 1, end: 3 }, c);
    sim.step(-1, 'discrete');
    const s = sim.state(); // short 100 from 100, close 90
    expect(s.unrealizedReturn).toBeCloseTo(0.1, 12);
    expect(s.exposure).toBeCloseTo((-100 * 90) / 10_990, 12);
  });
});

describe('Simulation: order rules', () => {
  const flat = bars(Array.from({ length: 6 }, () => [100, 100] as [number, number]));

  it('a repeated BUY while long does not churn', () => {
    const r = run(flat, { start: 1, end: 5 }, costs(), [1, 1, 1, 1, 1]);
    expect(r.fills).toHaveLength(1);
    expect(r.trades).toHaveLength(1);
    expect(r.trades[0].closedAtEnd).toBe(true);
  });

  it('min_trade_value: an order below it is skipped (and T still moves)', () => {
    // capital 100, min trade value 200: BUY would trade 100/100 = 1 unit = 100 < 200 → nothing trades
    const sim = new Simulation(flat, { start: 1, end: 5 }, costs({ capital: 100, minTradeValue: 200 }));
    sim.step(1, 'discrete');
    expect(sim.state()).toMatchObject({ target: 1, position: 0 });
    for (let i = 0; i < 4; i++) sim.step(1, 'discrete');
    const r = sim.finish();
    expect(r.fills).toHaveLength(0);
    expect(Array.from(r.curve.equity)).toEqual([100, 100, 100, 100, 100, 100]);
    expect(r.metrics.trades).toBe(0);
    expect(r.metrics.winRate).toBeNull();
    expect(r.metrics.undefinedReasons.winRate).toBe('no trades');
    expect(r.metrics.sharpe).toBeNull();
    expect(r.metrics.undefinedReasons.sharpe).toMatch(/zero variance/);
    expect(r.metrics.exposure).toBe(0);
    expect(r.metrics.turnover).toBe(0);
    expectAllFinite(r);
  });

  it('min_trade_value: a small rebalance is skipped, a large one goes through', () => {
    // capital 10 000 at 100, no costs: BUY_50 → 50 units; then T 0.5 → 0.51 is 1 unit = 100 < 150 → skipped
    const sim = new Simulation(flat, { start: 1, end: 5 }, costs({ feeBps: 0, slippageBps: 0, minTradeValue: 150 }));
    sim.step(0.5, 'discrete');
    sim.step(0.51, 'discrete');
    expect(sim.state().position).toBe(50);
    sim.step(0.53, 'discrete'); // 3 units = 300 ≥ 150
    expect(sim.state().position).toBeCloseTo(53, 9);
    sim.step(0.53, 'discrete');
    sim.step(0.53, 'discrete');
    expect(sim.finish().fills).toHaveLength(2);
  });

  it('continuous: trades only when |T − exposure| > rebalance band', () => {
    const sim = new Simulation(flat, { start: 1, end: 5 }, costs({ feeBps: 0, slippageBps: 0 }));
    sim.step(0.5, 'continuous'); // 0.5 − 0 > 0.05 → buys 50
    expect(sim.state().exposure).toBe(0.5);
    sim.step(0.54, 'continuous'); // 0.04 ≤ 0.05 → no order
    expect(sim.state()).toMatchObject({ position: 50, target: 0.54 });
    sim.step(0.56, 'continuous'); // 0.06 > 0.05 → rebalances to 0.56
    expect(sim.state().position).toBeCloseTo(56, 9);
    sim.step(0.56, 'continuous'); // ≈ 0.56 already → no order
    sim.step(0, 'continuous'); // 0.56 > 0.05 → closes
    expect(sim.finish().fills.map((f) => Math.round(f.quantity))).toEqual([50, 6, -56]);
  });

  it('continuous: a price drift beyond the band rebalances even with an unchanged target', () => {
    const b = bars([
      [100, 100],
      [100, 100],
      [100, 200],
      [200, 200],
    ]);
    const sim = new Simulation(b, { start: 1, end: 3 }, costs({ feeBps: 0, slippageBps: 0 }));
    sim.step(0.5, 'continuous'); // 50 units at 100; close 100 → exposure 0.5
    sim.step(0.5, 'continuous'); // |0.5 − 0.5| = 0 → nothing; close 200: cash 5 000, position 10 000 → exposure 2/3
    expect(sim.state().exposure).toBeCloseTo(2 / 3, 12);
    sim.step(0.5, 'continuous'); // |0.5 − 0.667| > 0.05 → sells down to 0.5 at the open of bar 3 (200)
    const r = sim.finish();
    expect(r.fills).toHaveLength(2);
    expect(r.fills[1].quantity).toBeCloseTo((0.5 * 15_000) / 200 - 50, 9); // −12.5
  });

  it('discrete: the same target is never re-sent, even when the exposure drifts', () => {
    const b = bars([
      [100, 100],
      [100, 100],
      [100, 200],
      [200, 200],
    ]);
    const r = run(b, { start: 1, end: 3 }, costs({ feeBps: 0, slippageBps: 0 }), [0.5, 0.5, 0.5]);
    expect(r.fills).toHaveLength(1);
  });
});

describe('Simulation: no hidden leverage (SPEC 5)', () => {
  /** A deterministic random walk of [open, close] pairs. */
  function walk(n: number, seed0: number): BarSeries {
    let seed = seed0;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const rows: [number, number][] = [];
    let p = 100;
    for (let i = 0; i < n; i++) {
      const o = p * (1 + (rnd() - 0.5) * 0.02);
      p = o * (1 + (rnd() - 0.5) * 0.06);
      rows.push([o, p]);
    }
    return bars(rows);
  }

  it('long-only targets ≤ 1: cash never negative and exposure never above 1, fees and slippage included', () => {
    const b = walk(400, 777);
    let seed = 99;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    let fullBuys = 0;
    for (const fill of ['next_open', 'close'] as const) {
      for (const kind of ['discrete', 'continuous'] as const) {
        const sim = new Simulation(b, { start: 20, end: 399 }, costs({ feeBps: 25, slippageBps: 5, fill }), { periodsPerYear: 8760 });
        while (!sim.done) {
          const u = rnd();
          const target = kind === 'discrete' ? [0, 1, 1, 0.5, 0.25, 1][Math.floor(u * 6)] : Math.min(1, 1.2 * u);
          sim.step(target, kind);
          const s = sim.state();
          expect(s.position).toBeGreaterThanOrEqual(0);
          expect(s.cash).toBeGreaterThanOrEqual(0);
          expect(s.exposure).toBeLessThanOrEqual(1);
          if (s.position > 0 && s.cash < 1e-6) fullBuys++; // a buy the cap cut to the cash
        }
        const r = sim.finish();
        for (const x of r.curve.exposure) expect(x).toBeLessThanOrEqual(1);
        expectAllFinite(r);
      }
    }
    expect(fullBuys).toBeGreaterThan(0);
  });

  it('a buy to T = 1 spends exactly the cash, fees included', () => {
    const b = bars([
      [100, 100],
      [100, 100],
      [100, 100],
    ]);
    const r = run(b, { start: 1, end: 2 }, costs({ feeBps: 25, slippageBps: 5 }), [1, 1]);
    const f = r.fills[0];
    expect(f.price).toBeCloseTo(100.05, 12);
    expect(r.fills).toHaveLength(1);
    expect(f.quantity).toBeCloseTo(10_000 / (100.05 * 1.0025), 10); // ≈ 99.70, not 100
    expect(f.cashFlow).toBeLessThanOrEqual(0);
    expect(10_000 + f.cashFlow).toBeGreaterThanOrEqual(0);
    expect(10_000 + f.cashFlow).toBeLessThan(1e-9);
    expect(r.curve.exposure[1]).toBeLessThanOrEqual(1);
    expect(r.curve.exposure[1]).toBeCloseTo(1, 12);
  });

  it('a target above 1 is explicit margin: sized T·E/O as before, cash goes negative', () => {
    const b = bars([
      [100, 100],
      [100, 100],
      [100, 100],
    ]);
    const r = run(b, { start: 1, end: 2 }, costs({ feeBps: 25, slippageBps: 5 }), [1.5, 1.5]);
    const f = r.fills[0];
    expect(f.quantity).toBe(150); // 1.5 · 10 000 / 100, uncapped
    const cash = 10_000 + f.cashFlow; // 10 000 − 150·100.05·1.0025
    expect(cash).toBeCloseTo(10_000 - 150 * 100.05 * 1.0025, 9);
    expect(cash).toBeLessThan(0);
    expect(r.curve.exposure[1]).toBeGreaterThan(1.5);
  });

  it('the cap also applies to a flip from short to long, and not to covering a short', () => {
    // short 100 at 100 (cash 20 000 − fees), then T = +1 at 100: the flip is capped by the cash
    const b = bars([
      [100, 100],
      [100, 100],
      [100, 100],
      [100, 100],
    ]);
    const r = run(b, { start: 1, end: 3 }, costs({ feeBps: 10, slippageBps: 0 }), [-1, 1, 1]);
    const cashAfterShort = 10_000 + 10_000 - 10;
    expect(r.fills[1].quantity).toBeCloseTo(cashAfterShort / (100 * 1.001), 9);
    expect(10_000 + r.fills[0].cashFlow + r.fills[1].cashFlow).toBeGreaterThanOrEqual(0);
    expect(r.curve.exposure[2]).toBeLessThanOrEqual(1);
    // covering to flat (T = 0) has plenty of cash: the whole short is bought back
    const c = run(b, { start: 1, end: 3 }, costs({ feeBps: 10, slippageBps: 0 }), [-1, 0, 0]);
    expect(c.fills[1].quantity).toBe(100);
  });

  it('min_trade_value applies to the capped quantity', () => {
    // capital 10 000, fee 10 bps, no slippage, price 100. T = 0.99 buys 99 units for 9 900 + 9.90 → cash 90.10.
    // T = 1 then wants 0.901 units (90.10 of notional) but can pay for 90.10 / (100·1.001) = 0.9001 (90.01):
    // with min_trade_value 90.05 the capped order is below it and is skipped; with 90 it goes through.
    const flat = bars(Array.from({ length: 4 }, () => [100, 100] as [number, number]));
    const go = (minTradeValue: number): BacktestResult => run(flat, { start: 1, end: 3 }, costs({ feeBps: 10, slippageBps: 0, minTradeValue }), [0.99, 1, 1]);
    const skipped = go(90.05);
    expect(skipped.fills).toHaveLength(1);
    expect(skipped.fills[0].quantity).toBeCloseTo(99, 12);
    const taken = go(90);
    expect(taken.fills).toHaveLength(2);
    expect(taken.fills[1].quantity).toBeCloseTo(90.1 / 100.1, 9);
    expect(taken.fills[1].notional).toBeCloseTo((90.1 / 100.1) * 100, 9);
  });
});

describe('Simulation: fill next_open vs close', () => {
  const b = bars([
    [100, 101],
    [103, 104],
    [104, 106],
  ]);
  const c = costs({ feeBps: 0, slippageBps: 0 });

  it('next_open fills the first decision at the open of the first window bar', () => {
    const r = run(b, { start: 1, end: 2 }, c, [1, 1]);
    expect(r.fills[0]).toMatchObject({ barIndex: 1, price: 103, time: T0 + HOUR });
    expect(r.optimistic).toBe(false);
    expect(r.curve.equity[2]).toBeCloseTo((10_000 / 103) * 106, 9);
    expect(r.metrics.buyHoldReturn).toBeCloseTo(106 / 103 - 1, 12);
  });

  it('close fills the decision at the close it was taken at, and is marked optimistic', () => {
    const r = run(b, { start: 1, end: 2 }, { ...c, fill: 'close' }, [1, 1]);
    expect(r.fills[0]).toMatchObject({ decisionIndex: 0, barIndex: 0, price: 101, time: T0 + HOUR });
    expect(r.optimistic).toBe(true);
    expect(r.curve.equity[0]).toBe(10_000);
    expect(r.curve.equity[1]).toBeCloseTo((10_000 / 101) * 104, 9);
    expect(r.curve.equity[2]).toBeCloseTo((10_000 / 101) * 106, 9);
    expect(r.metrics.buyHoldReturn).toBeCloseTo(106 / 101 - 1, 12);
  });
});

describe('Simulation vs the independent Python buy-and-hold (test/fixtures/empyrical)', () => {
  interface Sim {
    capital: number;
    feeBps: number;
    slippageBps: number;
    minTradeValue: number;
    bars: Record<'time' | 'open' | 'high' | 'low' | 'close' | 'volume', number[]>;
    quantity: number;
    openTradePnlAtLastClose: number;
    buyHoldReturn: number;
  }
  const ref = JSON.parse(readFileSync(new URL('./fixtures/empyrical/metrics-reference.json', import.meta.url), 'utf8')) as {
    cases: { name: string; equity: number[]; simulation?: Sim }[];
  };
  const bh = ref.cases.find((x) => x.name === 'btc_1h_buy_and_hold_720')!;
  const s = bh.simulation!;

  it('reproduces the equity curve, the quantity and the open trade PnL to 1e-9 relative', () => {
    const series: BarSeries = {
      symbol: 'BTCUSD',
      timeframe: '1Hour',
      time: Float64Array.from(s.bars.time),
      open: Float64Array.from(s.bars.open),
      high: Float64Array.from(s.bars.high),
      low: Float64Array.from(s.bars.low),
      close: Float64Array.from(s.bars.close),
      volume: Float64Array.from(s.bars.volume),
    };
    const n = series.close.length - 1;
    expect(n).toBe(720);
    const sim = new Simulation(
      series,
      { start: 1, end: n },
      {
        feeBps: s.feeBps,
        slippageBps: s.slippageBps,
        minTradeValue: s.minTradeValue,
        capital: s.capital,
        fill: 'next_open',
        rebalanceBand: 0.05,
      },
    );
    while (!sim.done) sim.step(1, 'discrete');
    const r = sim.finish();
    expect(r.curve.equity).toHaveLength(bh.equity.length);
    for (let i = 0; i < bh.equity.length; i++) {
      expect(Math.abs(r.curve.equity[i] - bh.equity[i])).toBeLessThanOrEqual(1e-9 * Math.abs(bh.equity[i]));
    }
    expect(r.fills).toHaveLength(1);
    expect(r.fills[0].quantity).toBeCloseTo(s.quantity, 12);
    expect(r.trades).toHaveLength(1);
    expect(r.trades[0].closedAtEnd).toBe(true);
    expect(Math.abs(r.trades[0].pnl - s.openTradePnlAtLastClose)).toBeLessThanOrEqual(1e-9 * Math.abs(s.openTradePnlAtLastClose));
    expect(r.metrics.buyHoldReturn).toBeCloseTo(s.buyHoldReturn, 12);
    expect(r.metrics.periodsPerYear).toBe(8760); // default: crypto rule for 1Hour
    expect(r.metrics.exposure).toBe(1);
    expectAllFinite(r);
  });
});

describe('Simulation: never NaN or Infinity', () => {
  it('a long pseudo-random run with shorts, flips, fractional targets and both kinds', () => {
    let seed = 12345;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const rows: [number, number][] = [];
    let p = 100;
    for (let i = 0; i < 600; i++) {
      const o = p * (1 + (rnd() - 0.5) * 0.01);
      p = o * (1 + (rnd() - 0.5) * 0.04);
      rows.push([o, p]);
    }
    const b = bars(rows);
    for (const fill of ['next_open', 'close'] as const) {
      for (const kind of ['discrete', 'continuous'] as const) {
        const sim = new Simulation(b, { start: 50, end: 599 }, costs({ feeBps: 25, slippageBps: 5, fill }));
        while (!sim.done) {
          const u = rnd();
          const target = kind === 'discrete' ? [-1, 0, 1, 1, 0.25, -0.5][Math.floor(u * 6)] : 2 * u - 1;
          sim.step(target, kind);
        }
        const r = sim.finish();
        expectAllFinite(r);
        expect(r.curve.equity).toHaveLength(551);
        const closed = r.trades.filter((t) => !t.closedAtEnd);
        expect(r.trades.length - closed.length).toBeLessThanOrEqual(1);
        expect(r.metrics.trades).toBe(r.trades.length);
        // Σ PnL of all trades = E_N − E_0 − the exit costs of a still-open position
        const last = r.end;
        const open = r.trades.find((t) => t.closedAtEnd);
        let exitCost = 0;
        if (open) {
          const q = sim.state().position;
          const close = b.close[last];
          const fillPrice = q > 0 ? close * (1 - 0.0005) : close * (1 + 0.0005);
          exitCost = Math.abs(q) * Math.abs(fillPrice - close) + Math.abs(q) * fillPrice * 0.0025;
        }
        const sum = r.trades.reduce((s, t) => s + t.pnl, 0);
        expect(sum).toBeCloseTo(r.metrics.finalEquity - 10_000 - exitCost, 6);
      }
    }
  });
});

describe('the average entry price behind unrealized_return (a feature the policy sees)', () => {
  it('averages in on a scale-in, keeps it on a reduction, restarts it at the fill of a flip — against an independent ledger', () => {
    // Decisions at the closes of bars 0..5 fill at the opens of bars 1..6 (slippage and fee on).
    const b = bars([
      [100, 100],
      [100, 104],
      [110, 118],
      [120, 116],
      [112, 108],
      [106, 100],
      [98, 95],
    ]);
    const c = costs({ feeBps: 10, slippageBps: 20, minTradeValue: 0, rebalanceBand: 0 });
    const sim = new Simulation(b, { start: 1, end: 6 }, c, { periodsPerYear: 8760 });
    const slip = 20 / 10_000;
    const fee = 10 / 10_000;
    // The ledger: quantity, cash, and the open lot's quantity-weighted entry price.
    let q = 0;
    let cash = 10_000;
    let avg = 0;
    const targets = [0.5, 1.0, 0.4, -0.6, -0.6, 0];
    const seen: number[] = [];
    for (let k = 0; k < targets.length; k++) {
      if (k > 0) {
        // The state at the close of bar k (after the fill at its open): unrealized return from the ledger's average.
        const close = b.close[k]!;
        const expected = q === 0 ? 0 : q > 0 ? close / avg - 1 : 1 - close / avg;
        const s = sim.state();
        expect(s.position).toBeCloseTo(q, 9);
        expect(s.unrealizedReturn, `bar ${k}`).toBeCloseTo(expected, 12);
        seen.push(s.unrealizedReturn);
      }
      sim.step(targets[k]!, 'continuous');
      // The fill at the next open, in the ledger.
      const open = b.open[k + 1]!;
      const equity = cash + q * open;
      let dq = (targets[k]! * equity) / open - q;
      if (dq !== 0) {
        const price = dq > 0 ? open * (1 + slip) : open * (1 - slip);
        // No hidden leverage: a buy toward a target ≤ 1 takes at most what the cash pays for, fees included.
        if (dq > 0 && targets[k]! <= 1) dq = Math.min(dq, Math.max(0, cash) / (price * (1 + fee)));
        const after = q + dq;
        if (after === 0) avg = 0;
        else if (q === 0 || Math.sign(after) !== Math.sign(q))
          avg = price; // a new position or a flip
        else if (Math.abs(after) > Math.abs(q)) avg = (Math.abs(q) * avg + Math.abs(dq) * price) / Math.abs(after); // scale-in
        cash -= dq * price + Math.abs(dq) * price * fee;
        q = after;
      }
    }
    // The path exercised each rule: in, averaged in, reduced, flipped, held short.
    expect(seen).toHaveLength(5);
    // After the scale-in the average is neither fill's price alone.
    expect(seen[1]).not.toBeCloseTo(b.close[2]! / (b.open[1]! * (1 + slip)) - 1, 6);
    expect(seen[1]).not.toBeCloseTo(b.close[2]! / (b.open[2]! * (1 + slip)) - 1, 6);
    // After the flip (a sell at the open of bar 4) the short's average is that fill's price.
    expect(seen[3]).toBeCloseTo(1 - b.close[4]! / (b.open[4]! * (1 - slip)), 12);
  });
});

describe('trades with a scale-in and a partial reduction, against an independent ledger', () => {
  // Fee 10 bps, slippage 10 bps. Targets stay ≤ 0.5, so the cash always pays for a buy (no cap).
  const b = bars([
    [100, 100],
    [100, 100],
    [200, 200],
    [100, 120],
    [150, 150],
  ]);
  const fee = 0.001;
  const slip = 0.001;

  /** SPEC 5 sizing, fill by fill, and the Trade fields as their docs define them (one round trip). */
  function ledger(targets: number[]) {
    let q = 0;
    let cash = 10_000;
    let peak = 0;
    let openQty = 0;
    let openNotional = 0;
    let closeQty = 0;
    let closeNotional = 0;
    let pnl = 0;
    let fees = 0;
    let notional = 0;
    for (let k = 0; k < targets.length; k++) {
      const open = b.open[k + 1]!;
      const dq = (targets[k]! * (cash + q * open)) / open - q;
      const price = dq > 0 ? open * (1 + slip) : open * (1 - slip);
      const f = Math.abs(dq) * price * fee;
      cash -= dq * price + f;
      pnl += -dq * price - f;
      fees += f;
      notional += Math.abs(dq) * price;
      if (Math.abs(q + dq) > Math.abs(q)) {
        openQty += Math.abs(dq);
        openNotional += Math.abs(dq) * price;
      } else {
        closeQty += Math.abs(dq);
        closeNotional += Math.abs(dq) * price;
      }
      q += dq;
      peak = Math.max(peak, Math.abs(q));
    }
    return { q, cash, peak, entryPrice: openNotional / openQty, exitPrice: closeNotional / closeQty, entryNotional: openNotional, pnl, fees, notional };
  }

  for (const [direction, sign] of [
    ['long', 1],
    ['short', -1],
  ] as const) {
    it(`${direction}: in, added to, reduced, closed — one trade with the ledger's prices, PnL and fees`, () => {
      const targets = [0.25, 0.5, 0.25, 0].map((t) => t * sign);
      const want = ledger(targets);
      const r = run(b, { start: 1, end: 4 }, costs({ feeBps: 10, slippageBps: 10 }), targets);
      expect(r.fills).toHaveLength(4);
      expect(r.trades).toHaveLength(1);
      const t = r.trades[0];
      expect(t).toMatchObject({ direction, entryIndex: 1, entryTime: T0 + HOUR, exitIndex: 4, exitTime: T0 + 4 * HOUR, closedAtEnd: false });
      expect(t.peakQuantity).toBeCloseTo(want.peak, 10);
      expect(t.entryNotional).toBeCloseTo(want.entryNotional, 9);
      expect(t.entryPrice).toBeCloseTo(want.entryPrice, 10);
      expect(t.exitPrice).toBeCloseTo(want.exitPrice, 10);
      expect(t.pnl).toBeCloseTo(want.pnl, 9);
      expect(t.fees).toBeCloseTo(want.fees, 10);
      expect(t.returnOnEntry).toBeCloseTo(want.pnl / want.entryNotional, 12);
      // flat at the end: the trade's PnL is the whole change of equity
      expect(r.metrics.finalEquity).toBeCloseTo(want.cash, 9);
      expect(t.pnl).toBeCloseTo(r.metrics.finalEquity - 10_000, 9);
      expect(r.metrics.turnover).toBeCloseTo(want.notional / 10_000, 12);
      expect(r.metrics.exposure).toBe(3 / 4); // a position at the closes of bars 1, 2, 3
    });
  }

  it('a short closed at the end for the statistics buys back with slippage against it', () => {
    const targets = [-0.25, -0.25, -0.25, -0.25];
    const r = run(b, { start: 1, end: 4 }, costs({ feeBps: 10, slippageBps: 10 }), targets);
    const q = (-0.25 * 10_000) / 100; // −25 at the open of bar 1
    const entry = 100 * (1 - slip);
    const exit = 150 * (1 + slip); // the last close, a buy
    const t = r.trades[0];
    expect(t).toMatchObject({ direction: 'short', closedAtEnd: true, exitIndex: 4, exitTime: T0 + 5 * HOUR });
    expect(t.exitPrice).toBeCloseTo(exit, 12);
    expect(t.pnl).toBeCloseTo(-q * entry - 25 * entry * fee + q * exit - 25 * exit * fee, 9);
    expect(t.fees).toBeCloseTo(25 * entry * fee + 25 * exit * fee, 12);
  });

  it('the flip of the shorts-and-flips example: exit times, the opening share of the fee, returns on entry', () => {
    const fb = bars([
      [100, 100],
      [100, 90],
      [90, 95],
      [95, 100],
    ]);
    const r = run(fb, { start: 1, end: 3 }, costs({ slippageBps: 0 }), [-1, 1, 1]);
    const a = 19_990 / 90.09;
    const q = a - 100;
    const [short, long] = r.trades;
    expect(short.exitTime).toBe(T0 + 2 * HOUR); // the flip fills at the open of bar 2
    expect(short.entryNotional).toBe(10_000);
    expect(short.returnOnEntry).toBeCloseTo(981 / 10_000, 12);
    expect(long.entryTime).toBe(T0 + 2 * HOUR);
    expect(long.exitTime).toBe(T0 + 4 * HOUR); // closed for the statistics at the close of bar 3
    expect(long.entryNotional).toBeCloseTo(q * 90, 9);
    expect(long.peakQuantity).toBeCloseTo(q, 10);
    expect(long.exitPrice).toBe(100);
    expect(long.returnOnEntry).toBeCloseTo((q * 99.9 - q * 90.09) / (q * 90), 12);
  });
});

describe('Simulation: inputs, a held start, the action histogram', () => {
  const b = bars([
    [100, 100],
    [100, 102],
    [102, 104],
    [104, 103],
  ]);
  const errorOf = (f: () => unknown): PolicyGateError => {
    try {
      f();
    } catch (e) {
      return e as PolicyGateError;
    }
    throw new Error('no error');
  };

  it('refuses a bad window, bad costs and bad prices, naming them', () => {
    const cases: [() => unknown, string, string][] = [
      [() => new Simulation(b, { start: 1.5, end: 3 }, costs()), 'backtest: window indices must be integers, got 1.5..3', 'window'],
      [() => new Simulation(b, { start: 1, end: 2.5 }, costs()), 'backtest: window indices must be integers, got 1..2.5', 'window'],
      [() => new Simulation(b, { start: 0, end: 3 }, costs()), 'backtest: TEST 1Hour: the window starts at bar 0; the first decision needs the bar before it', 'window'],
      [() => new Simulation(b, { start: 2, end: 1 }, costs()), 'backtest: TEST 1Hour: window 2..1 is outside 0..3', 'window'],
      [() => new Simulation(b, { start: 1, end: 4 }, costs()), 'backtest: TEST 1Hour: window 1..4 is outside 0..3', 'window'],
      [() => new Simulation(b, { start: 1, end: 3 }, costs({ slippageBps: -1 })), 'backtest: slippage_bps must be a finite number ≥ 0, got -1', 'slippage_bps'],
      [() => new Simulation(b, { start: 1, end: 3 }, costs({ minTradeValue: NaN })), 'backtest: min_trade_value must be a finite number ≥ 0, got NaN', 'min_trade_value'],
      [() => new Simulation(b, { start: 1, end: 3 }, costs({ rebalanceBand: -0.1 })), 'backtest: rebalance_band must be a finite number ≥ 0, got -0.1', 'rebalance_band'],
      [() => new Simulation(b, { start: 1, end: 3 }, costs({ capital: -5 })), 'backtest: capital must be a positive number, got -5', 'capital'],
      [() => new Simulation(b, { start: 1, end: 3 }, costs({ fill: 'open' as never })), 'backtest: fill must be "next_open" or "close", got "open"', 'fill'],
      [() => new Simulation(b, { start: 1, end: 3 }, costs(), { periodsPerYear: 0 }), 'backtest: periods per year must be positive, got 0', 'periodsPerYear'],
      [() => new Simulation(b, { start: 1, end: 3 }, costs(), { periodsPerYear: Infinity }), 'backtest: periods per year must be positive, got Infinity', 'periodsPerYear'],
      [() => new Simulation(b, { start: 1, end: 3 }, costs(), { initial: { position: NaN, target: 0 } }), 'backtest: the initial position and target must be finite numbers, got NaN and 0', 'initial'],
      [
        () => new Simulation(b, { start: 1, end: 3 }, costs(), { initial: { position: 1, target: Infinity } }),
        'backtest: the initial position and target must be finite numbers, got 1 and Infinity',
        'initial',
      ],
    ];
    for (const [f, message, subject] of cases) {
      const err = errorOf(f);
      expect(err.message).toBe(message);
      expect(err.subject, message).toBe(subject);
      expect(err.exitCode).toBe(2);
    }
  });

  it('checks every price from the decision bar before the window to the last window bar, and only those', () => {
    const withPrice = (i: number, field: 'open' | 'close', value: number): BarSeries => {
      const x = bars([
        [100, 100],
        [100, 100],
        [100, 100],
        [100, 100],
        [100, 100],
      ]);
      const copy = { ...x, [field]: Float64Array.from(x[field]) };
      copy[field][i] = value;
      return copy;
    };
    // window 2..3: bars 1 (the first decision's close) to 3 are read
    expect(errorOf(() => new Simulation(withPrice(1, 'close', 0), { start: 2, end: 3 }, costs())).message).toBe('backtest: TEST 1Hour: bar 1 has a non-positive or missing price (open 100, close 0)');
    expect(errorOf(() => new Simulation(withPrice(3, 'open', 0), { start: 2, end: 3 }, costs())).message).toMatch(/bar 3 has a non-positive or missing price \(open 0, close 100\)/);
    expect(errorOf(() => new Simulation(withPrice(2, 'open', NaN), { start: 2, end: 3 }, costs())).message).toMatch(/bar 2 .*\(open NaN, close 100\)/);
    expect(errorOf(() => new Simulation(withPrice(2, 'close', -1), { start: 2, end: 3 }, costs())).message).toMatch(/bar 2 .*\(open 100, close -1\)/);
    expect(errorOf(() => new Simulation(withPrice(2, 'close', Infinity), { start: 2, end: 3 }, costs())).message).toMatch(/bar 2 .*close Infinity/);
    // bars outside 1..3 are not read
    expect(() => new Simulation(withPrice(0, 'close', 0), { start: 2, end: 3 }, costs())).not.toThrow();
    expect(() => new Simulation(withPrice(4, 'open', 0), { start: 2, end: 3 }, costs())).not.toThrow();
  });

  it('step and finish refuse what cannot be applied, with the counts', () => {
    const sim = new Simulation(b, { start: 1, end: 3 }, costs());
    expect(sim.length).toBe(3);
    expect(sim.stepsTaken).toBe(0);
    expect(() => sim.step(0.5, 'sideways' as never)).toThrow('Simulation.step: unknown target kind sideways');
    expect(() => sim.step(Infinity, 'discrete')).toThrow('Simulation.step: target must be a finite number, got Infinity');
    expect(sim.stepsTaken).toBe(0);
    sim.step(0.5, 'discrete');
    expect(sim.stepsTaken).toBe(1);
    expect(() => sim.finish()).toThrow('Simulation.finish: 2 of 3 decisions are still to be applied');
  });

  it('an equity that overflows float64 is an error, not an Infinity in the curve', () => {
    // margin (T = 1.5) at an open of 1e-300 buys 1.5e304 units; marked at a close of 1e300 that is not a number
    const huge = bars([
      [1, 1],
      [1e-300, 1e300],
      [1, 1],
    ]);
    const sim = new Simulation(huge, { start: 1, end: 2 }, costs({ feeBps: 0, slippageBps: 0 }));
    expect(() => sim.step(1.5, 'discrete')).toThrow('Simulation: equity became non-finite at bar 1');
  });

  it('an open price so small that the affordable quantity overflows is an error, not an endless loop', () => {
    // 10 000 / 1e-310 is Infinity: the cap of a buy toward T ≤ 1 cannot scale it down to the cash
    const tiny = bars([
      [1, 1],
      [1e-310, 1],
      [1, 1],
    ]);
    const sim = new Simulation(tiny, { start: 1, end: 2 }, costs({ feeBps: 10, slippageBps: 5 }));
    expect(() => sim.step(1, 'discrete')).toThrow('Simulation: equity became non-finite at bar 1');
  });

  it('a held start: E_0 is the capital, the position is marked from the first fill price, the trade opens there', () => {
    for (const fill of ['next_open', 'close'] as const) {
      const c = costs({ feeBps: 10, slippageBps: 0, fill });
      const price = 100; // the open of bar 1 ('next_open') and the close of bar 0 ('close') are both 100
      const sim = new Simulation(b, { start: 1, end: 3 }, c, { initial: { position: 40, target: 0.4 } });
      expect(sim.state()).toMatchObject({ position: 40, target: 0.4, cash: 10_000 - 40 * price });
      while (!sim.done) sim.step(0.4, 'discrete'); // the target the account already holds: no order
      const r = sim.finish();
      expect(r.fills).toHaveLength(0);
      expect(r.curve.equity[0]).toBe(10_000);
      expect(r.curve.equity[1]).toBe(10_000 - 40 * price + 40 * 102);
      expect(r.curve.equity[3]).toBe(10_000 - 40 * price + 40 * 103);
      expect(r.trades).toHaveLength(1);
      const t = r.trades[0];
      expect(t).toMatchObject({ direction: 'long', entryIndex: 1, entryTime: T0 + HOUR, closedAtEnd: true, entryPrice: price, peakQuantity: 40, entryNotional: 40 * price });
      // the close-out at the last close (103) with the fee: −40·100 + 40·103·(1 − 0.001)
      expect(t.pnl).toBeCloseTo(-40 * price + 40 * 103 * 0.999, 9);
      expect(t.fees).toBeCloseTo(40 * 103 * 0.001, 12);
    }
    // the price for 'close' is the close before the window, not the open of the first window bar
    const shifted = bars([
      [100, 90],
      [95, 102],
      [102, 104],
      [104, 103],
    ]);
    const short = new Simulation(shifted, { start: 1, end: 3 }, costs({ fill: 'close' }), { initial: { position: -10, target: -0.1 } });
    expect(short.state()).toMatchObject({ position: -10, cash: 10_000 + 10 * 90 });
    expect(short.state().unrealizedReturn).toBe(0); // at the close of bar 0 = its entry price
    while (!short.done) short.step(-0.1, 'discrete');
    expect(short.finish().trades[0]).toMatchObject({ direction: 'short', entryPrice: 90, entryNotional: 900 });
    const open = new Simulation(shifted, { start: 1, end: 3 }, costs(), { initial: { position: -10, target: -0.1 } });
    expect(open.state().cash).toBe(10_000 + 10 * 95);
  });

  it('a held target without a position: the same target sends no order; a start of 0 and 0 is flat', () => {
    const sim = new Simulation(b, { start: 1, end: 3 }, costs(), { initial: { position: 0, target: 0.5 } });
    expect(sim.state()).toMatchObject({ position: 0, target: 0.5, cash: 10_000 });
    while (!sim.done) sim.step(0.5, 'discrete');
    const r = sim.finish();
    expect(r.fills).toHaveLength(0);
    expect(r.trades).toHaveLength(0);
    const flat = new Simulation(b, { start: 1, end: 3 }, costs(), { initial: { position: 0, target: 0 } });
    expect(flat.state()).toMatchObject({ position: 0, target: 0, cash: 10_000 });
    flat.step(0.5, 'discrete');
    expect(flat.state().position).toBeGreaterThan(0);
  });

  it('the action histogram: chosen and held per index, null when nothing was recorded', () => {
    expect(actionCode(0, false)).toBe(1);
    expect(actionCode(2, false)).toBe(3);
    expect(actionCode(0, true)).toBe(-1);
    expect(actionCode(2, true)).toBe(-3);
    const sim = new Simulation(b, { start: 1, end: 3 }, costs());
    sim.recordAction(actionCode(1, false));
    sim.step(1, 'discrete');
    sim.recordAction(actionCode(1, true));
    sim.recordAction(0); // a continuous decision: nothing to count
    sim.step(1, 'discrete');
    sim.recordAction(actionCode(3, false));
    sim.step(0, 'discrete');
    expect(sim.finish().actions).toEqual({ chosen: [0, 2, 0, 1], held: [0, 1, 0, 0] });
    const none = new Simulation(b, { start: 1, end: 3 }, costs());
    none.recordAction(0);
    while (!none.done) none.step(0, 'discrete');
    expect(none.finish().actions).toBeNull();
  });
});

describe('Simulation: the edges of sizing', () => {
  it('continuous: a gap of exactly the rebalance band is no order', () => {
    const flat = bars(Array.from({ length: 4 }, () => [100, 100] as [number, number]));
    const sim = new Simulation(flat, { start: 1, end: 3 }, costs({ feeBps: 0, slippageBps: 0, rebalanceBand: 0.25 }));
    sim.step(0.25, 'continuous'); // |0.25 − 0| = 0.25, not above the band
    expect(sim.state().position).toBe(0);
    sim.step(0.5, 'continuous');
    expect(sim.state().position).toBe(50);
  });

  it('min_trade_value: an order of exactly that notional trades; a zero quantity never fills', () => {
    const flat = bars(Array.from({ length: 3 }, () => [100, 100] as [number, number]));
    // T = 0.01 of 10 000 at 100 is 1 unit = 100 of notional, not below 100
    const exact = run(flat, { start: 1, end: 2 }, costs({ feeBps: 0, slippageBps: 0, minTradeValue: 100 }), [0.01, 0.01]);
    expect(exact.fills.map((f) => f.quantity)).toEqual([1]);
    // 50 units at 100 (cash 5 000); at an open of 150 the target 0.6 is 0.6·12 500 / 150 = 50 units: Δq = 0
    const up = bars([
      [100, 100],
      [100, 100],
      [150, 150],
    ]);
    const r = run(up, { start: 1, end: 2 }, costs({ feeBps: 0, slippageBps: 0, minTradeValue: 0 }), [0.5, 0.6]);
    expect(r.fills).toHaveLength(1);
    expect(r.trades).toHaveLength(1);
  });

  it('an account at or below zero equity reports its exposure as the sign of the position', () => {
    // no costs: short 100 at 100 (cash 20 000); at a close of 200 the equity is exactly 0, at 300 it is −10 000
    const b = bars([
      [100, 100],
      [100, 200],
      [200, 300],
      [300, 300],
    ]);
    const sim = new Simulation(b, { start: 1, end: 3 }, costs({ feeBps: 0, slippageBps: 0 }));
    sim.step(-1, 'discrete');
    expect(sim.state()).toMatchObject({ equity: 0, exposure: -1 });
    sim.step(-1, 'discrete');
    expect(sim.state()).toMatchObject({ equity: -10_000, exposure: -1 });
    sim.step(-1, 'discrete');
    const r = sim.finish();
    expect(Array.from(r.curve.exposure)).toEqual([0, -1, -1, -1]);
  });

  it('with cash below zero, a buy toward a target ≤ 1 takes max(0, cash) / price: nothing', () => {
    // T = 1.5 is margin: 150 units at 100, cash −5 000. At an open of 10 the equity is −3 500, and the
    // target −1 sized as T·E/O is +350 units: a buy of 200 toward a target ≤ 1, which no cash pays for.
    const b = bars([
      [100, 100],
      [100, 100],
      [10, 10],
      [10, 10],
    ]);
    const sim = new Simulation(b, { start: 1, end: 3 }, costs({ feeBps: 0, slippageBps: 0 }));
    sim.step(1.5, 'discrete');
    expect(sim.state()).toMatchObject({ position: 150, cash: -5_000 });
    sim.step(-1, 'discrete');
    expect(sim.state()).toMatchObject({ position: 150, cash: -5_000, equity: -3_500, exposure: 1 });
  });
});

describe('Simulation: a one-bar window and a flip from long to short', () => {
  it('a window of one bar is one step', () => {
    const b = bars([
      [100, 100],
      [100, 110],
    ]);
    const r = run(b, { start: 1, end: 1 }, costs({ feeBps: 0, slippageBps: 0 }), [1]);
    expect(Array.from(r.curve.equity)).toEqual([10_000, 11_000]);
    expect(r.bars).toBe(1);
  });

  it('a flip from long to short opens a short trade', () => {
    // no costs: long 100 at 100; at an open of 100 T = −1: sell 200, 100 of them open the short
    const b = bars([
      [100, 100],
      [100, 100],
      [100, 100],
      [100, 90],
    ]);
    const r = run(b, { start: 1, end: 3 }, costs({ feeBps: 0, slippageBps: 0 }), [1, -1, -1]);
    expect(r.fills.map((f) => f.quantity)).toEqual([100, -200]);
    expect(r.trades.map((t) => t.direction)).toEqual(['long', 'short']);
    expect(r.trades[1]).toMatchObject({ entryIndex: 2, entryPrice: 100, peakQuantity: 100, closedAtEnd: true });
    expect(r.trades[1].pnl).toBeCloseTo(100 * 100 - 100 * 90, 9); // sold at 100, bought back at the last close 90
  });

  it('a bad price error names the bars as its subject', () => {
    const b = bars([
      [100, 0],
      [100, 100],
    ]);
    let err: unknown;
    try {
      new Simulation(b, { start: 1, end: 1 }, costs());
    } catch (e) {
      err = e;
    }
    expect((err as PolicyGateError).subject).toBe('bars');
  });
});
