import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { computeMetrics, observedBarsPerTradingDay, periodsPerYear, regularSessionBars, returnsFromEquity } from '../src/core/metrics.js';
import type { BacktestMetrics } from '../src/core/types.js';
import { PolicyGateError } from '../src/core/errors.js';

type Raw = number | 'NaN' | 'Infinity' | '-Infinity';
interface RefCase {
  name: string;
  description: string;
  periodsPerYear: number;
  equity: number[];
  empyrical: Record<'cum_returns_final' | 'annual_return' | 'annual_volatility' | 'sharpe_ratio' | 'sortino_ratio' | 'max_drawdown' | 'calmar_ratio', Raw>;
  deviations?: Record<string, string>;
}
const reference = JSON.parse(readFileSync(new URL('./fixtures/empyrical/metrics-reference.json', import.meta.url), 'utf8')) as { cases: RefCase[]; transcribedFrom: { commit: string } };

const decode = (v: Raw): number => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v);

/** |a − b| ≤ 1e-9·|b|; a reference of exactly 0 needs |a| ≤ 1e-15. */
function expectRel(actual: number | null, expected: number, label: string): void {
  expect(actual, label).not.toBeNull();
  const a = actual as number;
  const tol = expected === 0 ? 1e-15 : 1e-9 * Math.abs(expected);
  expect(Math.abs(a - expected), `${label}: ${a} vs empyrical ${expected}`).toBeLessThanOrEqual(tol);
}

/** Every number in the metrics is finite and every null has a reason. */
function expectHonest(m: BacktestMetrics): void {
  const json = JSON.stringify(m);
  expect(json).not.toMatch(/NaN|Infinity/);
  for (const [k, v] of Object.entries(m)) {
    if (k === 'undefinedReasons') continue;
    if (v === null) expect(m.undefinedReasons[k], `reason for null ${k}`).toMatch(/\S/);
    else expect(Number.isFinite(v), `${k} finite`).toBe(true);
  }
  for (const k of Object.keys(m.undefinedReasons)) expect((m as unknown as Record<string, unknown>)[k], `${k} has a reason but is not null`).toBeNull();
}

const FIELD_MAP: [keyof BacktestMetrics, keyof RefCase['empyrical'], (x: number) => number][] = [
  ['totalReturn', 'cum_returns_final', (x) => x],
  ['cagr', 'annual_return', (x) => x],
  ['volatility', 'annual_volatility', (x) => x],
  ['sharpe', 'sharpe_ratio', (x) => x],
  ['sortino', 'sortino_ratio', (x) => x],
  // empyrical's max_drawdown is ≤ 0; SPEC 5 reports the positive fraction
  ['maxDrawdown', 'max_drawdown', (x) => Math.abs(x)],
  ['calmar', 'calmar_ratio', (x) => x],
];

describe('empyrical parity (test/fixtures/empyrical/metrics-reference.json)', () => {
  it('has the real-data, buy-and-hold and edge cases', () => {
    const names = reference.cases.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['btc_1h_last_720', 'btc_1h_last_4320', 'btc_1h_buy_and_hold_720', 'no_returns', 'all_zero', 'all_positive', 'single_gain', 'negative_final_equity']));
    expect(reference.cases.find((c) => c.name === 'btc_1h_last_720')!.equity).toHaveLength(721);
    expect(reference.cases.find((c) => c.name === 'btc_1h_last_4320')!.equity).toHaveLength(4321);
    expect(reference.transcribedFrom.commit).toMatch(/^[0-9a-f]{40}$/);
  });

  for (const c of reference.cases) {
    it(`${c.name}: agrees with empyrical to 1e-9 relative, null where empyrical is NaN/inf`, () => {
      const m = computeMetrics(Float64Array.from(c.equity), [], c.periodsPerYear);
      expectHonest(m);
      for (const [field, ref, map] of FIELD_MAP) {
        const expected = decode(c.empyrical[ref]);
        if (c.deviations?.[field]) {
          expect(m[field], `${c.name}.${field} (documented deviation)`).toBeNull();
          expect(m.undefinedReasons[field]).toMatch(/\S/);
        } else if (Number.isFinite(expected)) {
          expectRel(m[field] as number | null, map(expected), `${c.name}.${field}`);
        } else {
          expect(m[field], `${c.name}.${field}: empyrical gives ${expected}`).toBeNull();
          expect(m.undefinedReasons[field]).toMatch(/\S/);
        }
      }
      expect(m.finalEquity).toBe(c.equity[c.equity.length - 1]);
      expect(m.periodsPerYear).toBe(c.periodsPerYear);
    });
  }
});

describe('computeMetrics: definitions', () => {
  it('r_t = E_t / E_{t−1} − 1', () => {
    expect(Array.from(returnsFromEquity([100, 110, 99]))).toEqual([110 / 100 - 1, 99 / 110 - 1]);
    expect(returnsFromEquity([100])).toHaveLength(0);
  });

  it('hand example: totalReturn, cagr, maxDrawdown with E_0 as the first peak', () => {
    // E = 100, 90, 99, 108: the drop from E_0 = 100 to 90 is a 10 % drawdown
    const m = computeMetrics([100, 90, 99, 108], [], 252);
    expect(m.totalReturn).toBeCloseTo(0.08, 12);
    expect(m.cagr).toBeCloseTo(1.08 ** (252 / 3) - 1, 6);
    expect(m.maxDrawdown).toBeCloseTo(0.1, 12);
    expect(m.calmar).toBeCloseTo((m.cagr as number) / 0.1, 6);
    // sortino denominator over ALL N returns: sqrt(((-0.1)^2 + 0 + 0) / 3)
    const r = [-0.1, 0.1, 108 / 99 - 1];
    const mean = (r[0] + r[1] + r[2]) / 3;
    expect(m.sortino).toBeCloseTo((mean * 252) / (Math.sqrt(0.01 / 3) * Math.sqrt(252)), 9);
  });

  it('win rate and profit factor over trades; a zero-PnL trade is not a win', () => {
    const m = computeMetrics([100, 101], [{ pnl: 100 }, { pnl: -50 }, { pnl: 0 }, { pnl: 30 }], 8760);
    expect(m.trades).toBe(4);
    expect(m.winRate).toBe(0.5);
    expect(m.profitFactor).toBeCloseTo(130 / 50, 12);
  });

  it('only losing trades: profit factor 0, win rate 0 (defined, not null)', () => {
    const m = computeMetrics([100, 99], [{ pnl: -1 }], 8760);
    expect(m.winRate).toBe(0);
    expect(m.profitFactor).toBe(0);
  });

  it('extras pass through; missing extras are null with a reason', () => {
    const m = computeMetrics([100, 101, 102], [], 8760, { exposure: 0.5, turnover: 2, buyHoldReturn: 0.03 });
    expect([m.exposure, m.turnover, m.buyHoldReturn]).toEqual([0.5, 2, 0.03]);
    const n = computeMetrics([100, 101, 102], [], 8760, { exposure: null, reasons: { exposure: 'no bars' } });
    expect(n.exposure).toBeNull();
    expect(n.undefinedReasons.exposure).toBe('no bars');
    expect(n.undefinedReasons.turnover).toBe('not computed');
    expectHonest(n);
  });
});

describe('computeMetrics: every undefined case is null with its reason', () => {
  const cases: { name: string; equity: number[]; trades?: { pnl: number }[]; P?: number; nulls: Record<string, RegExp> }[] = [
    {
      name: 'no returns (E_0 only)',
      equity: [100],
      nulls: { totalReturn: /no returns/, cagr: /no returns/, volatility: /no returns/, sharpe: /no returns/, sortino: /no returns/, maxDrawdown: /no returns/, calmar: /CAGR/ },
    },
    { name: 'one return', equity: [100, 101], nulls: { volatility: /fewer than 2/, sharpe: /fewer than 2/, sortino: /fewer than 2/, calmar: /no drawdown/ } },
    { name: 'zero variance (never traded)', equity: [100, 100, 100, 100], nulls: { sharpe: /zero variance/, sortino: /no downside/, calmar: /no drawdown/ } },
    { name: 'no downside', equity: [100, 101, 103, 104], nulls: { sortino: /no downside/, calmar: /no drawdown/ } },
    { name: 'cagr overflow', equity: [100, 150, 135], P: 8760, nulls: { cagr: /overflow/, calmar: /CAGR/ } },
    { name: 'equity ends below zero', equity: [100, 110, -55], nulls: { cagr: /below zero/, calmar: /CAGR/ } },
    { name: 'equity hits zero before the end', equity: [100, 0, 0], nulls: { volatility: /zero or below/, sharpe: /zero or below/, sortino: /zero or below/ } },
    { name: 'no trades', equity: [100, 99, 101], trades: [], nulls: { winRate: /no trades/, profitFactor: /no trades/ } },
    { name: 'no losing trade', equity: [100, 99, 101], trades: [{ pnl: 5 }, { pnl: 0 }], nulls: { profitFactor: /no losing trade/ } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const m = computeMetrics(c.equity, c.trades ?? [], c.P ?? 252);
      expectHonest(m);
      for (const [field, re] of Object.entries(c.nulls)) {
        expect((m as unknown as Record<string, unknown>)[field], field).toBeNull();
        expect(m.undefinedReasons[field], field).toMatch(re);
      }
    });
  }

  it('zero variance still has a volatility of exactly 0 and a drawdown of 0', () => {
    const m = computeMetrics([100, 100, 100], [], 8760);
    expect(m.volatility).toBe(0);
    expect(m.maxDrawdown).toBe(0);
    expect(m.totalReturn).toBe(0);
    expect(m.cagr).toBe(0);
  });

  it('total loss: cagr −1, drawdown 1', () => {
    const m = computeMetrics([100, 110, 0], [], 252);
    expect(m.cagr).toBe(-1);
    expect(m.maxDrawdown).toBe(1);
    expect(m.calmar).toBe(-1);
  });

  it('rejects non-finite equity, non-positive capital, bad P and non-finite PnL', () => {
    expect(() => computeMetrics([100, NaN], [], 252)).toThrow(/finite/);
    expect(() => computeMetrics([0, 1], [], 252)).toThrow(/positive/);
    expect(() => computeMetrics([], [], 252)).toThrow(/E_0/);
    expect(() => computeMetrics([100, 101], [], 0)).toThrow(/periods per year/);
    expect(() => computeMetrics([100, 101], [{ pnl: Infinity }], 252)).toThrow(/PnL/);
  });
});

describe('periodsPerYear', () => {
  it('crypto: bars per day × 365', () => {
    expect(periodsPerYear('1Hour', 'crypto')).toBe(8760);
    expect(periodsPerYear('1Day', 'crypto')).toBe(365);
    expect(periodsPerYear('15Min', 'crypto')).toBe(35040);
    expect(periodsPerYear('4Hour', 'crypto')).toBe(2190);
  });
  it('us_equity: 252 × observed bars per trading day, else the regular session', () => {
    expect(periodsPerYear('1Hour', 'us_equity', 16)).toBe(4032);
    expect(periodsPerYear('1Day', 'us_equity')).toBe(252);
    expect(periodsPerYear('1Hour', 'us_equity')).toBe(252 * 7);
    expect(regularSessionBars('30Min')).toBe(13);
    expect(regularSessionBars('1Min')).toBe(390);
    expect(() => periodsPerYear('1Hour', 'us_equity', 0)).toThrow(/positive/);
  });
});

describe('observedBarsPerTradingDay (New York trading dates)', () => {
  const HOUR = 3_600_000;
  /** Alpaca-like hourly stock bars with extended hours: 04:00..19:00 New York time, weekdays. */
  function extendedHoursBars(fromUtcDay: string, days: number, halfDay?: string): number[] {
    const out: number[] = [];
    const d0 = Date.parse(`${fromUtcDay}T00:00:00Z`);
    for (let d = 0; d < days; d++) {
      const dayStart = d0 + d * 86_400_000;
      const date = new Date(dayStart);
      const dow = date.getUTCDay();
      if (dow === 0 || dow === 6) continue;
      const iso = date.toISOString().slice(0, 10);
      // US DST 2024 began 2024-03-10: New York is UTC−5 before, UTC−4 after
      const offset = iso < '2024-03-10' ? 5 : 4;
      const lastHour = iso === halfDay ? 13 : 19;
      for (let h = 4; h <= lastHour; h++) out.push(dayStart + (h + offset) * HOUR);
    }
    return out;
  }

  it('16 extended-hours bars a day across a DST change, despite a half day', () => {
    const t = extendedHoursBars('2024-03-04', 14, '2024-03-08');
    expect(observedBarsPerTradingDay(t)).toBe(16);
    expect(periodsPerYear('1Hour', 'us_equity', observedBarsPerTradingDay(t))).toBe(4032);
  });

  it('evening bars (20:00–23:59 New York = next UTC date) stay on their New York date', () => {
    // 19:00 New York on 2024-03-12 is 23:00 UTC; 20:00 would be 00:00 UTC on the 13th
    const t = extendedHoursBars('2024-03-11', 3);
    expect(t.filter((x) => new Date(x).toISOString().startsWith('2024-03-12'))).toHaveLength(16);
    expect(observedBarsPerTradingDay(t)).toBe(16);
  });

  it('counts by New York date, not UTC date: two days of 04:00–23:00 New York bars are 20 a day', () => {
    // Summer (UTC−4): 04:00 New York is 08:00 UTC, and 20:00–23:00 New York fall on the next UTC date,
    // so UTC dates would count 16, 20 and 4 (median 16) where New York dates count 20 and 20.
    const t: number[] = [];
    for (const day of ['2024-06-03', '2024-06-04']) for (let h = 4; h <= 23; h++) t.push(Date.parse(`${day}T00:00:00Z`) + (h + 4) * HOUR);
    expect(observedBarsPerTradingDay(t)).toBe(20);
    expect(periodsPerYear('1Hour', 'us_equity', observedBarsPerTradingDay(t))).toBe(20 * 252);
  });

  it('median of an even number of dates is the mean of the middle two; empty → null', () => {
    const d = Date.parse('2024-06-03T14:00:00Z');
    const t = [d, d + HOUR, d + 86_400_000, d + 86_400_000 + HOUR, d + 86_400_000 + 2 * HOUR];
    expect(observedBarsPerTradingDay(t)).toBe(2.5);
    expect(observedBarsPerTradingDay([])).toBeNull();
  });
});

describe('computeMetrics: edges the definitions leave to rounding and overflow', () => {
  it('bit-identical returns whose float mean is not that return: volatility exactly 0, Sharpe null', () => {
    // E_k = 1.7 · E_{k−1} from 5: three returns of exactly 0.7 (bit-identical), but 0.7 + 0.7 + 0.7 over 3
    // is 0.6999999999999998 in float64, so a two-pass std alone would give a rounding residue, not 0.
    const equity = [5];
    for (let k = 1; k <= 3; k++) equity.push(equity[k - 1] * 1.7);
    const r = equity.slice(1).map((e, k) => e / equity[k] - 1);
    expect(r.every((x) => x === r[0])).toBe(true);
    const naiveMean = (r[0] + r[1] + r[2]) / 3;
    expect(naiveMean).not.toBe(r[0]);
    expect(Math.sqrt(r.reduce((a, x) => a + (x - naiveMean) ** 2, 0) / 2)).toBeGreaterThan(0);

    const m = computeMetrics(equity, [], 8760);
    expect(m.volatility).toBe(0);
    expect(m.sharpe).toBeNull();
    expect(m.undefinedReasons.sharpe).toMatch(/zero variance/);
    expectHonest(m);
  });

  it('ratios that overflow float64 (E_0 = 1e-300) are null with a reason, never NaN or Infinity', () => {
    // E_1 / E_0 = 1e600 overflows: the first return is Infinity
    const up = computeMetrics([1e-300, 1e300, 1e300], [], 252);
    expectHonest(up);
    expect(up.totalReturn).toBeNull();
    expect(up.undefinedReasons.totalReturn).toMatch(/not finite/);
    expect(up.volatility).toBeNull();
    expect(up.undefinedReasons.volatility).toMatch(/not finite/);
    expect(up.undefinedReasons.sharpe).toBe('not finite');
    expect(up.maxDrawdown).toBe(0);
    // E_2 / E_1 = −1e600: a return of −Infinity, and a drawdown 1 − E_2 / peak of 1e300 (finite)
    const down = computeMetrics([1, 1e-300, -1e300], [], 252);
    expectHonest(down);
    expect(down.volatility).toBeNull();
    expect(down.undefinedReasons.sharpe).toBe('not finite');
    expect(down.undefinedReasons.sortino).toBe('not finite');
    expect(down.maxDrawdown).toBe(1 + 1e300);
    // peak 1e-300, then −1e300: 1 − (−1e300 / 1e-300) overflows
    const blown = computeMetrics([1e-300, -1e300], [], 252);
    expectHonest(blown);
    expect(blown.maxDrawdown).toBeNull();
    expect(blown.undefinedReasons.maxDrawdown).toMatch(/not finite/);
  });

  it('calmar of a finite CAGR over a drawdown of one ulp overflows: null, not Infinity', () => {
    // E = 1, 1 − 2^−52, 1e10 with P = 60, N = 2: cagr = (1e10)^30 − 1 = 1e300, drawdown 2^−52
    const m = computeMetrics([1, 1 - 2 ** -52, 1e10], [], 60);
    expect(m.maxDrawdown).toBe(2 ** -52);
    expect(Math.abs((m.cagr as number) - 1e300)).toBeLessThanOrEqual(1e-9 * 1e300);
    expect(m.calmar).toBeNull();
    expect(m.undefinedReasons.calmar).toBe('not finite');
    expectHonest(m);
  });

  it('a non-finite extra is null with the value in its reason', () => {
    const m = computeMetrics([100, 101, 102], [], 8760, { exposure: 0.5, turnover: Infinity, buyHoldReturn: NaN });
    expect(m.exposure).toBe(0.5);
    expect(m.turnover).toBeNull();
    expect(m.undefinedReasons.turnover).toBe('not finite (Infinity)');
    expect(m.buyHoldReturn).toBeNull();
    expect(m.undefinedReasons.buyHoldReturn).toBe('not finite (NaN)');
  });

  it('input errors are exit-2 errors that name what was wrong', () => {
    const cases: [() => unknown, RegExp, string][] = [
      [() => computeMetrics([], [], 252), /needs at least E_0/, 'equity'],
      [() => computeMetrics([100, Infinity], [], 252), /equity\[1\] is not a finite number \(Infinity\)/, 'equity'],
      [() => computeMetrics([-1, 1], [], 252), /E_0 must be positive, got -1/, 'equity'],
      [() => computeMetrics([100, 101], [], NaN), /periods per year must be a positive number, got NaN/, 'periodsPerYear'],
      [() => computeMetrics([100, 101], [{ pnl: 1 }, { pnl: NaN }], 252), /trade 1 has a non-finite PnL \(NaN\)/, 'trades'],
      [() => periodsPerYear('1Hour', 'us_equity', -2), /got -2/, 'periodsPerYear'],
    ];
    for (const [f, re, subject] of cases) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err, String(re)).toBeInstanceOf(PolicyGateError);
      expect((err as PolicyGateError).message).toMatch(re);
      expect((err as PolicyGateError).subject).toBe(subject);
      expect((err as PolicyGateError).exitCode).toBe(2);
    }
  });
});

describe('periodsPerYear and observedBarsPerTradingDay: the remaining branches', () => {
  it('an observed count of null means "not observed", like undefined', () => {
    expect(periodsPerYear('1Hour', 'us_equity', null)).toBe(252 * 7);
    expect(periodsPerYear('30Min', 'us_equity', null)).toBe(252 * 13);
  });

  it('an odd number of dates takes the middle count itself', () => {
    // three New York dates with 1, 2 and 4 bars: median 2 (the mean of two middle counts would be 1.5 or 3)
    const HOUR = 3_600_000;
    const d = Date.parse('2024-06-03T14:00:00Z');
    const day = 86_400_000;
    const t = [d, d + day, d + day + HOUR, d + 2 * day, d + 2 * day + HOUR, d + 2 * day + 2 * HOUR, d + 2 * day + 3 * HOUR];
    expect(observedBarsPerTradingDay(t)).toBe(2);
  });
});
