/**
 * The chart curves of report.json (src/core/charts.ts) and the SVG helpers (src/core/render/svg.ts):
 * buy & hold and drawdown by their definitions, downsampling that keeps the extremes, tick labels.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { curveSeries, downsampleIndices, fullCurves, modelCharts } from '../src/core/charts.js';
import { compactNumber, niceTicks, percentTick, stepDecimals, timeTicks } from '../src/core/render/svg.js';

const HOUR = 3_600_000;

/** Bars with opens and closes, and a curve as the simulation writes it (E_0 at the first bar's start). */
function fixture(opens: number[], closes: number[], equity: number[], start: number) {
  const t0 = Date.UTC(2024, 0, 1);
  const n = equity.length;
  const timestamps = Float64Array.from({ length: n }, (_, k) => t0 + (start + k) * HOUR);
  return { bars: { open: Float64Array.from(opens), close: Float64Array.from(closes) }, sim: { start, fill: 'next_open' as const, curve: { timestamps, equity: Float64Array.from(equity) } } };
}

describe('fullCurves', () => {
  const opens = [100, 101, 104, 99, 110];
  const closes = [101, 103, 98, 108, 120];
  const { bars, sim } = fixture(opens, closes, [1000, 1010, 990, 1040, 1100], 1);

  it('buy & hold: the capital bought at the first fill price, marked at each close', () => {
    const c = fullCurves(sim, bars);
    // next_open: the first fill is the open of the first window bar (index 1, open 101).
    expect(Array.from(c.buyHold)).toEqual([1000, (1000 * 103) / 101, (1000 * 98) / 101, (1000 * 108) / 101, (1000 * 120) / 101]);
    // fill close: the close of the bar before the window (index 0, close 101 as well here — use another start).
    const c2 = fullCurves({ ...sim, start: 2, fill: 'close', curve: { timestamps: sim.curve.timestamps.slice(0, 4), equity: sim.curve.equity.slice(0, 4) } }, bars);
    expect(Array.from(c2.buyHold)).toEqual([1000, (1000 * 98) / 103, (1000 * 108) / 103, (1000 * 120) / 103]);
  });

  it('drawdown: 1 − E/peak, E_0 a peak', () => {
    const c = fullCurves(sim, bars);
    expect(Array.from(c.drawdown)).toEqual([0, 0, 1 - 990 / 1010, 0, 0]);
  });
});

describe('downsampleIndices', () => {
  it('keeps everything when the curve fits', () => {
    expect(downsampleIndices([3, 1, 2], 3)).toEqual([0, 1, 2]);
  });

  it('keeps first, last, the asked-for points and every bucket extreme, within the budget', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 3000 }),
        fc.integer({ min: 8, max: 600 }),
        fc.array(fc.nat(), { maxLength: 3 }),
        (values, max, keepRaw) => {
          const keep = keepRaw.map((k) => k % values.length);
          const idx = downsampleIndices(values, max, keep);
          expect(idx.length).toBeLessThanOrEqual(Math.max(max, values.length <= max ? values.length : 0));
          expect(idx).toEqual([...new Set(idx)].sort((a, b) => a - b));
          expect(idx[0]).toBe(0);
          expect(idx.at(-1)).toBe(values.length - 1);
          for (const k of keep) expect(idx).toContain(k);
          const kept = idx.map((i) => values[i]!);
          expect(Math.max(...kept)).toBe(Math.max(...values));
          expect(Math.min(...kept)).toBe(Math.min(...values));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('curveSeries', () => {
  it('downsampled: the deepest drawdown, the final equity and buy & hold’s extremes survive; values rounded for the file', () => {
    const n = 2000;
    const closes = Array.from({ length: n + 1 }, (_, i) => 100 + 10 * Math.sin(i / 37) + i / 100);
    const opens = closes.map((c, i) => (i === 0 ? c : closes[i - 1]!));
    const equity = [100000];
    for (let k = 1; k <= n; k++) equity.push(equity[k - 1]! * (1 + 0.004 * Math.sin(k / 11) * Math.cos(k / 5)));
    const { bars, sim } = fixture(opens, closes, equity, 1);
    const full = fullCurves(sim, bars);
    const s = curveSeries(sim, bars, 300);
    expect(s.points).toBe(n + 1);
    expect(s.time.length).toBeLessThanOrEqual(300);
    expect(s.time.length).toBeGreaterThan(200);
    expect(s.equity.at(-1)).toBe(Math.round(equity[n]! * 100) / 100);
    expect(Math.max(...s.drawdown)).toBeCloseTo(Math.max(...full.drawdown), 8);
    expect(Math.max(...s.buyHold)).toBeCloseTo(Math.max(...full.buyHold), 2);
    expect(Math.min(...s.buyHold)).toBeCloseTo(Math.min(...full.buyHold), 2);
    expect(s.time[0]).toBe(new Date(sim.curve.timestamps[0]!).toISOString());
    for (const v of s.equity) expect(Math.round(v * 100) / 100).toBe(v);
  });

  it('modelCharts: the backtest and each fold, with the fold numbers given', () => {
    const { bars, sim } = fixture([100, 101, 102, 103], [101, 102, 103, 104], [1000, 1001, 1002, 1003], 1);
    const c = modelCharts(sim, [sim, sim], [1, 2], bars);
    expect(c.downsampling).toBe('min-max buckets');
    expect(c.folds.map((f) => f.index)).toEqual([1, 2]);
    expect(c.backtest.equity).toEqual([1000, 1001, 1002, 1003]);
  });
});

describe('axis labels', () => {
  it('niceTicks covers the range with 1/2/2.5/5 steps', () => {
    expect(niceTicks(85000, 110000, 4)).toMatchObject({ step: 10000, lo: 80000, hi: 110000, ticks: [80000, 90000, 100000, 110000] });
    expect(niceTicks(-8.77, 0.06, 4).ticks).toEqual([-10, -7.5, -5, -2.5, 0, 2.5]);
    expect(niceTicks(5, 5, 4).ticks.length).toBeGreaterThan(1);
  });

  it('labels carry the decimals their step needs, with a real minus sign', () => {
    expect(stepDecimals(2.5)).toBe(1);
    expect(stepDecimals(0.25)).toBe(2);
    expect(stepDecimals(20)).toBe(0);
    expect(compactNumber(-7.5, 2.5)).toBe('−7.5');
    expect(compactNumber(102500, 2500)).toBe('102.5k');
    expect(compactNumber(100000, 5000)).toBe('100k');
    expect(compactNumber(1250000, 250000)).toBe('1.25M');
    expect(compactNumber(-0.0000001, 1)).toBe('0');
    expect(percentTick(-0.1, 0.05)).toBe('−10%');
    expect(percentTick(0.025, 0.025)).toBe('2.5%');
  });

  it('time ticks fall on UTC days or Mondays', () => {
    const t0 = Date.UTC(2024, 7, 12, 18);
    const t1 = Date.UTC(2024, 8, 11, 17);
    const { ticks, step } = timeTicks(t0, t1, 6);
    expect(step).toBe(7 * 24 * HOUR);
    for (const t of ticks) expect(new Date(t).getUTCDay()).toBe(1);
    expect(ticks.map((t) => new Date(t).toISOString().slice(0, 10))).toEqual(['2024-08-19', '2024-08-26', '2024-09-02', '2024-09-09']);
  });
});
