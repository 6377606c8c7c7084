import { describe, expect, it } from 'vitest';
import { type FoldMetrics, evaluationWindow, splitFolds, summarizeFolds } from '../src/core/folds.js';
import { PolicyGateError } from '../src/core/errors.js';

const HOUR = 3_600_000;
const DAY = 86_400_000;
const T0 = Date.parse('2024-01-01T00:00:00Z');
const hourly = (n: number, from = T0): Float64Array => Float64Array.from({ length: n }, (_, i) => from + i * HOUR);

describe('evaluationWindow: end − days < t ≤ end', () => {
  it('30 days of 1Hour bars = 720 bars ending at the last bar', () => {
    const t = hourly(1000);
    const w = evaluationWindow(t, undefined, 30);
    expect(w).toEqual({ start: 280, end: 999, bars: 720 });
    // the bar exactly `days` before the end is excluded, the next one included
    expect(t[w.end] - t[w.start - 1]).toBe(30 * DAY);
    expect(t[w.end] - t[w.start]).toBe(30 * DAY - HOUR);
  });

  it('180 days of 1Hour bars = 4320 bars; 30 days of 1Day bars = 30 bars', () => {
    expect(evaluationWindow(hourly(5000), undefined, 180).bars).toBe(4320);
    const daily = Float64Array.from({ length: 100 }, (_, i) => T0 + i * DAY);
    expect(evaluationWindow(daily, undefined, 30)).toEqual({ start: 70, end: 99, bars: 30 });
  });

  it('a fixed end: snapped to the last bar at or before it', () => {
    const t = hourly(1000);
    const onBar = evaluationWindow(t, t[500], 10);
    expect(onBar).toEqual({ start: 261, end: 500, bars: 240 });
    expect(evaluationWindow(t, t[500] + 30 * 60_000, 10)).toEqual(onBar);
    expect(evaluationWindow(t, t[999] + 100 * DAY, 30).end).toBe(999);
  });

  it('gaps reduce the bar count, they do not stretch the window', () => {
    const t = Float64Array.from([...hourly(1000)].filter((_, i) => i < 900 || i >= 924)); // one day missing
    const w = evaluationWindow(t, undefined, 30);
    expect(w.bars).toBe(696);
  });

  it('too few bars: the window holds what there is; errors for an end before the data or bad input', () => {
    expect(evaluationWindow(hourly(100), undefined, 30)).toEqual({ start: 0, end: 99, bars: 100 });
    expect(() => evaluationWindow(hourly(100), T0 - 1, 30)).toThrow(/before the first bar/);
    expect(() => evaluationWindow(hourly(100), T0 - 1, 30)).toThrow(PolicyGateError);
    expect(() => evaluationWindow(new Float64Array(0), undefined, 30)).toThrow(/no bars/);
    expect(() => evaluationWindow(hourly(10), undefined, 0)).toThrow(/positive/);
    expect(() => evaluationWindow(hourly(10), NaN, 1)).toThrow(/finite/);
  });
});

describe('splitFolds', () => {
  it('K contiguous folds of equal size', () => {
    const f = splitFolds(0, 99, 5);
    expect(f.map((x) => [x.index, x.start, x.end, x.bars])).toEqual([
      [1, 0, 19, 20],
      [2, 20, 39, 20],
      [3, 40, 59, 20],
      [4, 60, 79, 20],
      [5, 80, 99, 20],
    ]);
  });

  it('the last fold takes the remainder', () => {
    const f = splitFolds(10, 112, 5); // 103 bars: 4 × 20 + 23
    expect(f.map((x) => x.bars)).toEqual([20, 20, 20, 20, 23]);
    expect(f[0].start).toBe(10);
    expect(f[4].end).toBe(112);
    for (let i = 1; i < f.length; i++) expect(f[i].start).toBe(f[i - 1].end + 1);
  });

  it('180 days of 1Hour bars in 5 folds: 864 bars each, covering the window exactly', () => {
    const w = evaluationWindow(hourly(6000), undefined, 180);
    const f = splitFolds(w.start, w.end, 5);
    expect(f).toHaveLength(5);
    expect(f.map((x) => x.bars)).toEqual([864, 864, 864, 864, 864]);
    expect(f[0].start).toBe(w.start);
    expect(f[4].end).toBe(w.end);
  });

  it('K = 1 and K = n are fine; fewer bars than folds, K = 0 or a fractional K are errors', () => {
    expect(splitFolds(3, 7, 1)).toEqual([{ index: 1, start: 3, end: 7, bars: 5 }]);
    expect(splitFolds(3, 7, 5).map((x) => x.bars)).toEqual([1, 1, 1, 1, 1]);
    expect(() => splitFolds(3, 7, 6)).toThrow(/fewer than the 6 folds/);
    expect(() => splitFolds(0, 9, 0)).toThrow(/positive integer/);
    expect(() => splitFolds(0, 9, 2.5)).toThrow(/positive integer/);
  });
});

describe('summarizeFolds', () => {
  const fold = (totalReturn: number | null, sharpe: number | null, why?: string): FoldMetrics => ({
    totalReturn,
    sharpe,
    undefinedReasons: why ? { sharpe: why } : {},
  });

  it('statistics by hand: 4 of 5 positive, Sharpe std (ddof 1) < 1 → GOOD', () => {
    const s = summarizeFolds([fold(0.02, 1.0), fold(0.01, 1.5), fold(-0.005, 0.5), fold(0.03, 2.0), fold(0.015, 1.0)], 5);
    expect(s.positiveFolds).toBe(4);
    expect(s.folds).toBe(5);
    expect(s.positiveShare).toBe(0.8);
    expect(s.sharpeMean).toBeCloseTo(1.2, 12);
    // deviations −0.2, 0.3, −0.7, 0.8, −0.2 → Σd² = 0.04 + 0.09 + 0.49 + 0.64 + 0.04 = 1.3; /4 = 0.325
    expect(s.sharpeStd).toBeCloseTo(Math.sqrt(0.325), 12);
    expect([s.sharpeMin, s.sharpeMax]).toEqual([0.5, 2.0]);
    expect(s.returnMean).toBeCloseTo(0.014, 12);
    expect([s.returnMin, s.returnMax]).toEqual([-0.005, 0.03]);
    expect(s.rating).toBe('GOOD');
    expect(s.notes).toEqual([]);
  });

  it('MARGINAL: 3 of 5 positive with a Sharpe std ≤ 2', () => {
    const s = summarizeFolds([fold(0.02, 1), fold(0.01, 2), fold(-0.01, -1), fold(0.03, 3), fold(-0.02, -0.5)], 5);
    expect(s.positiveShare).toBe(0.6);
    expect(s.sharpeStd as number).toBeLessThanOrEqual(2);
    expect(s.rating).toBe('MARGINAL');
  });

  it('a high Sharpe std demotes: 5 of 5 positive but std ≥ 1 is not GOOD, std > 2 is POOR', () => {
    expect(summarizeFolds([fold(0.1, 0), fold(0.1, 1), fold(0.1, 2), fold(0.1, 3), fold(0.1, 1.5)], 5).rating).toBe('MARGINAL');
    expect(summarizeFolds([fold(0.1, -3), fold(0.1, 0), fold(0.1, 3), fold(0.1, 6), fold(0.1, 1)], 5).rating).toBe('POOR');
  });

  it('a zero return is not positive', () => {
    const s = summarizeFolds([fold(0, 0.1), fold(0.01, 0.2)], 2);
    expect(s.positiveFolds).toBe(1);
  });

  it('null Sharpes are left out of the Sharpe statistics with a note', () => {
    const s = summarizeFolds([fold(0.02, 1.0), fold(0, null, 'zero variance'), fold(0.01, 1.4)], 3);
    expect(s.sharpeMean).toBeCloseTo(1.2, 12);
    expect(s.sharpeStd).toBeCloseTo(Math.sqrt(0.08), 12);
    expect(s.notes).toHaveLength(1);
    expect(s.notes[0]).toMatch(/fold 2: Sharpe undefined \(zero variance\)/);
    expect(s.returnMean).toBeCloseTo(0.01, 12);
  });

  it('fewer than 2 defined Sharpes: sharpeStd is null with a reason, and the rating is POOR', () => {
    const s = summarizeFolds([fold(0.02, 1.0), fold(0.01, null, 'zero variance')], 2);
    expect(s.sharpeStd).toBeNull();
    expect(s.undefinedReasons.sharpeStd).toMatch(/fewer than 2/);
    expect(s.positiveShare).toBe(1);
    expect(s.rating).toBe('POOR');
    const none = summarizeFolds([fold(0, null), fold(0, null)], 2);
    expect([none.sharpeMean, none.sharpeMin, none.sharpeMax, none.sharpeStd]).toEqual([null, null, null, null]);
    expect(none.undefinedReasons.sharpeMean).toMatch(/no fold/);
    expect(JSON.stringify(none)).not.toMatch(/NaN|Infinity/);
  });

  it('the number of fold results must equal K', () => {
    expect(() => summarizeFolds([fold(0.1, 1)], 5)).toThrow(/expected 5 fold results, got 1/);
    expect(() => summarizeFolds([], 0)).toThrow(/at least one fold/);
  });
});

describe('the edges the mutation run found untested', () => {
  const m = (totalReturn: number | null, sharpe: number | null, reasons?: Record<string, string>): FoldMetrics => ({
    totalReturn,
    sharpe,
    ...(reasons ? { undefinedReasons: reasons } : {}),
  });

  it('the Sharpe std is the sample std of the defined Sharpes (n − 1), exactly', () => {
    const s = summarizeFolds([m(0.01, 1), m(0.02, 2), m(-0.01, 4)], 3);
    // mean 7/3; squared deviations 16/9 + 1/9 + 25/9 = 42/9; / 2 → 7/3
    expect(s.sharpeStd).toBeCloseTo(Math.sqrt(7 / 3), 14);
    expect(s.sharpeMean).toBeCloseTo(7 / 3, 14);
  });

  it('no fold with a total return: the return statistics are null with a reason; a fold without one is named, 1-based, with its reason', () => {
    const s = summarizeFolds([m(null, 1, { totalReturn: 'the fold has no bars' }), m(null, 2)], 2);
    expect([s.returnMean, s.returnMin, s.returnMax]).toEqual([null, null, null]);
    expect(s.undefinedReasons).toMatchObject({ returnMean: 'no fold has a defined total return', returnMin: 'no fold has a defined total return', returnMax: 'no fold has a defined total return' });
    expect(s.notes).toEqual(['fold 1: total return undefined (the fold has no bars), counted as not positive', 'fold 2: total return undefined (no reason given), counted as not positive']);
    expect(s.positiveFolds).toBe(0);
  });

  it('one fold is enough to summarise; zero folds, or a count that differs, is refused', () => {
    expect(summarizeFolds([m(0.01, 1)], 1).folds).toBe(1);
    expect(() => summarizeFolds([], 0)).toThrow('walk-forward: at least one fold is needed');
    expect(() => summarizeFolds([m(0.01, 1)], 2)).toThrow('walk-forward: expected 2 fold results, got 1');
  });

  it('splitFolds refuses a negative or fractional range and a window shorter than the folds, naming the counts', () => {
    expect(() => splitFolds(-1, 10, 2)).toThrow('fold range must be integer bar indices, got -1..10');
    expect(() => splitFolds(0.5, 10, 2)).toThrow('fold range must be integer bar indices, got 0.5..10');
    expect(() => splitFolds(0, 10.5, 2)).toThrow('fold range must be integer bar indices, got 0..10.5');
    expect(splitFolds(0, 1, 2)).toHaveLength(2);
    expect(() => splitFolds(5, 3, 2)).toThrow('the walk-forward window has 0 bars, fewer than the 2 folds asked for');
  });

  it('evaluationWindow: an end on the first bar is valid; before it, or a window between bars, is refused', () => {
    const t = [0, 10 * DAY, 20 * DAY];
    expect(evaluationWindow(t, 0, 1)).toEqual({ start: 0, end: 0, bars: 1 });
    expect(() => evaluationWindow(t, -1, 1)).toThrow('end 1969-12-31T23:59:59.999Z is before the first bar (1970-01-01T00:00:00.000Z)');
  });
});
