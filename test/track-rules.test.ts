import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/schema.js';
import { reconcile } from '../src/core/reconcile.js';
import { Simulation, type CostModel } from '../src/core/simulate.js';
import { backtestReturnInterval, judgeTrack } from '../src/core/track.js';
import type { BarSeries } from '../src/core/types.js';
import { seeded, simulatePaperAccount } from './helpers/paper-account.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2025-01-01T00:00:00Z');
const rules = defaultConfig().decision.track;
const costs: CostModel = { feeBps: 25, slippageBps: 5, minTradeValue: 1, capital: 100_000, fill: 'next_open', rebalanceBand: 0.05 };

function walk(n: number, seed: number): BarSeries {
  const rnd = seeded(seed);
  const b = {
    symbol: 'BTCUSD',
    timeframe: '1Hour' as const,
    time: new Float64Array(n),
    open: new Float64Array(n),
    high: new Float64Array(n),
    low: new Float64Array(n),
    close: new Float64Array(n),
    volume: new Float64Array(n),
  };
  let price = 40_000;
  for (let i = 0; i < n; i++) {
    const o = price * (1 + (rnd() - 0.5) * 0.002);
    const c = o * (1 + (rnd() - 0.5) * 0.02);
    b.time[i] = T0 + i * HOUR;
    b.open[i] = o;
    b.close[i] = c;
    b.high[i] = Math.max(o, c);
    b.low[i] = Math.min(o, c);
    b.volume[i] = 1;
    price = c;
  }
  return b;
}

/** A record of `n` bars, the account replaying the backtest at the same bar with up to `maxSlippageBps`. */
function record(n: number, maxSlippageBps: number, lagBars = 0) {
  const b = walk(n + 10, 99);
  const window = { start: 10, end: n + 9 };
  const sim = new Simulation(b, window, costs, { periodsPerYear: 8760 });
  for (let k = 0; !sim.done; k++) sim.step(Math.floor(k / 10) % 2 === 0 ? 1 : 0, 'discrete');
  const bt = sim.finish();
  const account = simulatePaperAccount(b, bt, { lagBars, maxSlippageBps, seed: 5, feeBps: 25, partialAt: null, partialShare: 1, missAt: null, manual: null, qtyDecimals: 9 });
  const rec = reconcile({ bars: b, window, capital: 100_000, startPosition: 0, fills: account.fills, backtest: bt, feeBps: 25, slippageBps: 5, periodsPerYear: 8760 });
  const interval = backtestReturnInterval(rec.backtest.equity, { samples: 500, seed: 1, blockLength: null, confidence: 0.9, periodsPerYear: 8760 });
  return { rec, interval, account, bt };
}

describe('judgeTrack', () => {
  const good = record(24 * 40, 10); // 40 days, 96 decisions, slippage uniform in [0, 10] bps

  it("makes a PAPER model whose record holds eligible for LIVE, with each rule's numbers", () => {
    const { rec, interval, account } = good;
    // the cost of each fill is its slippage plus the 25 bps fee: its mean over 30 bps is the ratio
    const meanCost = account.slippageBps.reduce((a, v) => a + v, 0) / account.slippageBps.length + 25;
    expect(rec.shortfall.costBps.mean).toBeCloseTo(meanCost, 6);
    expect(interval.interval![0]).toBeLessThan(rec.backtest.totalReturn!);
    expect(interval.interval![1]).toBeGreaterThan(rec.backtest.totalReturn!);
    const j = judgeTrack(rec, null, { tier: 'PAPER', rules, interval, walkForwardTier: 'LIVE', walkForwardWhy: null });
    expect(j.verdict).toBe('eligible_live');
    expect(j.checks.every((c) => c.pass === true)).toBe(true);
    expect(j.checks.find((c) => c.rule === 'min_days')!.text).toBe('40.0 days on record ≥ 30');
    expect(j.checks.find((c) => c.rule === 'min_trades')!.text).toBe(`${rec.trades.accountOrders} orders on record ≥ 10`);
    expect(j.checks.find((c) => c.rule === 'max_shortfall_ratio')!.text).toBe(`mean realised cost ${meanCost.toFixed(1)} bps = ${(meanCost / 30).toFixed(2)} × the assumed 30 bps ≤ 2 ×`);
  });

  it('keeps it on PAPER when the latest walk-forward is not LIVE, or the record is too short', () => {
    const { rec, interval } = good;
    const wf = judgeTrack(rec, null, { tier: 'PAPER', rules, interval, walkForwardTier: 'PAPER', walkForwardWhy: 'rule 4' });
    expect(wf.verdict).toBe('hold');
    expect(wf.reasons[0]).toBe('stays on PAPER: walk-forward on the latest data decides PAPER (rule 4)');
    const short = record(24 * 10, 10);
    const j = judgeTrack(short.rec, null, { tier: 'PAPER', rules, interval: short.interval, walkForwardTier: 'LIVE', walkForwardWhy: null });
    expect(j.verdict).toBe('hold');
    expect(j.reasons[0]).toMatch(/^stays on PAPER: 10\.0 days on record < 30/);
  });

  it('demotes a model whose fills cost far more than assumed, with the numbers as the reason', () => {
    const bad = record(24 * 40, 200);
    const j = judgeTrack(bad.rec, null, { tier: 'LIVE', rules, interval: bad.interval, walkForwardTier: 'LIVE', walkForwardWhy: null });
    expect(bad.rec.shortfall.ratio!).toBeGreaterThan(2);
    expect(j.verdict).toBe('demote');
    expect(j.reasons[0]).toContain(`mean realised cost ${bad.rec.shortfall.costBps.mean!.toFixed(1)} bps = ${bad.rec.shortfall.ratio!.toFixed(2)} × the assumed 30 bps > 2 ×`);
  });

  it('says "no record" and judges nothing when there is none', () => {
    const j = judgeTrack(null, 'Alpaca keys are not set', { tier: 'PAPER', rules, interval: null, walkForwardTier: 'LIVE', walkForwardWhy: null });
    expect(j).toEqual({ verdict: 'no_record', reasons: ['no record yet: Alpaca keys are not set'], checks: [] });
  });
});

describe('planTrack', () => {
  it('moves an eligible PAPER model to live, a diverging LIVE one back to paper, a diverging PAPER one out, and leaves the rest', async () => {
    const { planTrack } = await import('../src/core/track-plan.js');
    const { emptyDoc } = await import('../src/core/promotion.js');
    const doc = (models: Record<string, Record<string, unknown>>) => ({ ...emptyDoc(), models });
    const configs = {
      paper: doc({ A: { model: 'a.onnx', tier: 'PAPER', owner: 'x', promoted_at: '2024-01-01T00:00:00.000Z' }, C: { model: 'c.onnx', tier: 'PAPER' }, D: { model: 'd.onnx', tier: 'PAPER' } }),
      live: doc({ B: { model: 'b.onnx', tier: 'LIVE' } }),
    };
    const judged = (id: string, verdict: string, reason: string) => ({ id, track: { judgement: { verdict, reasons: [reason], checks: [] } } });
    const report = {
      models: [
        judged('A', 'eligible_live', 'eligible for LIVE: all rules hold'),
        judged('B', 'demote', 'the record diverges: cost 5 ×'),
        judged('C', 'demote', 'the record diverges: return below'),
        judged('D', 'hold', 'stays'),
      ],
    } as never;
    const now = new Date('2025-01-02T00:00:00Z');
    const plan = planTrack(configs as never, report, { now, runUrl: null, reportSha256: 'abc' });
    expect(plan.changes.map((c) => [c.id, c.kind, c.from, c.to])).toEqual([
      ['A', 'promoted', 'PAPER', 'LIVE'],
      ['B', 'demoted', 'LIVE', 'PAPER'],
      ['C', 'removed', 'PAPER', null],
    ]);
    expect(plan.live.models['A']).toEqual({
      model: 'a.onnx',
      tier: 'LIVE',
      owner: 'x',
      promoted_at: now.toISOString(),
      reasons: 'eligible for LIVE: all rules hold',
      report_sha256: 'abc',
      run_url: null,
    });
    expect(plan.paper.models['B']).toMatchObject({ model: 'b.onnx', tier: 'PAPER', promoted_at: now.toISOString(), reasons: 'the record diverges: cost 5 ×' });
    expect(Object.keys(plan.paper.models).sort()).toEqual(['B', 'D']);
    expect(Object.keys(plan.live.models)).toEqual(['A']);
    expect(plan.unchanged).toEqual([{ id: 'D', tier: 'PAPER', decision: 'PAPER' }]);
    // the inputs are not changed
    expect(configs.paper.models['A']!.tier).toBe('PAPER');
  });
});
