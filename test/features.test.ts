import { describe, expect, it } from 'vitest';
import { expectThrows } from './helpers/expect-throws.js';
import {
  FEATURE_NAMES,
  INDICATOR_FEATURES,
  computeFeatureColumn,
  computeFeatureColumns,
  emaSpan,
  featureKind,
  featureLabel,
  featureParams,
  featureSpan,
  isFeatureName,
  otherSymbolGaps,
  utcHour,
  utcWeekdayMonday0,
  type FeatureSpec,
} from '../src/core/features.js';
import { hourlyFromCloses, readBtcBars, toPlain, toSeries } from './reference/bars.js';
import { close, refColumnValue } from './reference/features.js';

/*
 * The hand-made series (hourly from 2024-01-01T00:00Z, a Monday):
 *   i      0    1    2    3    4    5    6    7
 *   close 100  110  121  110  110   99   99  108.9
 *   vol    10   20   30   40   40   40   10    0
 * open = previous close (bar 0: its close), high = max(o, c)·1.01, low = min(o, c)·0.99.
 * One-bar changes: +10, +11, −11, 0, −11, 0, +9.9; one-bar returns: +10 %, +10 %, −1/11, 0, −10 %, 0, +10 %.
 */
const CLOSES = [100, 110, 121, 110, 110, 99, 99, 108.9];
const VOLUMES = [10, 20, 30, 40, 40, 40, 10, 0];
const bars = hourlyFromCloses(CLOSES, VOLUMES);
const col = (spec: FeatureSpec) => computeFeatureColumn(bars, spec)!;
const LN11 = Math.log(1.1); // 0.09531017980432493

describe('features on a hand-made series', () => {
  it('log_return: ln(c_τ / c_{τ−k}), NaN before the lag', () => {
    const l1 = col({ name: 'log_return', lag: 1 });
    expect(l1[0]).toBeNaN();
    expect(l1[1]).toBeCloseTo(LN11, 15); // ln(110/100)
    expect(l1[3]).toBeCloseTo(-LN11, 15); // ln(110/121) = −ln 1.1
    expect(l1[4]).toBe(0); // ln(110/110)
    const l2 = col({ name: 'log_return', lag: 2 });
    expect(l2[1]).toBeNaN();
    expect(l2[2]).toBeCloseTo(2 * LN11, 15); // ln(121/100) = 2 ln 1.1
    expect(l2[4]).toBeCloseTo(-LN11, 15); // ln(110/121)
  });

  it('return: c_τ / c_{τ−k} − 1', () => {
    const r1 = col({ name: 'return', lag: 1 });
    expect(r1[0]).toBeNaN();
    expect(r1[1]).toBeCloseTo(0.1, 15);
    expect(r1[3]).toBeCloseTo(-1 / 11, 15); // 110/121 − 1
    expect(r1[5]).toBeCloseTo(-0.1, 15); // 99/110 − 1
    const r3 = col({ name: 'return', lag: 3 });
    expect(r3[2]).toBeNaN();
    expect(r3[3]).toBeCloseTo(0.1, 15); // 110/100 − 1
    expect(r3[7]).toBeCloseTo(-0.01, 14); // 108.9/110 − 1
  });

  it('volatility: sample std (ddof 1) of the last n one-bar log returns', () => {
    const v2 = col({ name: 'volatility', period: 2 });
    expect(v2[1]).toBeNaN(); // only one log return exists at bar 1
    // bar 3: returns ln 1.1 and −ln 1.1 → mean 0, Σ dev² = 2 ln²1.1, /(2−1) → std = √2 · ln 1.1
    expect(v2[3]).toBeCloseTo(Math.SQRT2 * LN11, 15);
    // bar 5: returns 0 and ln(0.9) → mean ln(0.9)/2, std = |ln 0.9| / √2
    expect(v2[5]).toBeCloseTo(Math.abs(Math.log(0.9)) / Math.SQRT2, 15);
    const v3 = col({ name: 'volatility', period: 3 });
    expect(v3[2]).toBeNaN();
    // bar 3: ln1.1, ln1.1, −ln1.1 → mean ln1.1/3; devs (2/3, 2/3, −4/3)·ln1.1 → Σ = 24/9 ln²1.1, /2 → 4/3 ln²1.1
    expect(v3[3]).toBeCloseTo((2 / Math.sqrt(3)) * LN11, 15);
  });

  it('volatility is exactly 0 over constant log returns', () => {
    // closes 1, 2, 4, 8: every log return is exactly ln 2
    const v = computeFeatureColumn(hourlyFromCloses([1, 2, 4, 8]), { name: 'volatility', period: 3 })!;
    expect(v[3]).toBe(0);
  });

  it("rsi: Cutler's mean gain / (mean gain + mean loss), 0.5 when both are 0", () => {
    const r3 = col({ name: 'rsi', period: 3 });
    expect(r3[2]).toBeNaN(); // three changes need four closes
    expect(r3[3]).toBeCloseTo(21 / 32, 15); // +10, +11, −11 → gain 21/3, loss 11/3 → 21/32 = 0.65625
    expect(r3[6]).toBe(0); // 0, −11, 0 → no gain
    expect(r3[7]).toBeCloseTo(9.9 / 20.9, 15); // −11, 0, +9.9 → 9.9 / (9.9 + 11)
    const r1 = col({ name: 'rsi', period: 1 });
    expect(r1[4]).toBe(0.5); // change 0: both means 0
    expect(r1[7]).toBe(1);
  });

  it('sma_ratio: c_τ / mean(last n closes) − 1', () => {
    const s2 = col({ name: 'sma_ratio', period: 2 });
    expect(s2[0]).toBeNaN();
    expect(s2[1]).toBeCloseTo(1 / 21, 15); // 110 / 105 − 1
    const s3 = col({ name: 'sma_ratio', period: 3 });
    expect(s3[1]).toBeNaN();
    expect(s3[2]).toBeCloseTo(32 / 331, 15); // 121 / (331/3) − 1 = 363/331 − 1
    const s1 = col({ name: 'sma_ratio', period: 1 });
    expect(s1[0]).toBe(0);
  });

  it('ema_ratio: EMA over a trailing span of 4n bars, seeded with the SMA of its first n', () => {
    const e2 = col({ name: 'ema_ratio', period: 2 });
    for (let i = 0; i < 7; i++) expect(e2[i]).toBeNaN(); // span 8 bars: only bar 7
    // α = 2/3; seed = (100 + 110)/2 = 105; then e ← (2/3)c + (1/3)e for closes 121, 110, 110, 99, 99, 108.9:
    // 347/3, 1007/9, 2987/27, 8333/81, 24371/243, 77296.4/729 → ratio 108.9·729/77296.4 − 1 = 2091.7/77296.4
    expect(e2[7]).toBeCloseTo(2091.7 / 77296.4, 14);
    // period 1: α = 1, so the EMA is the close itself → 0
    const e1 = col({ name: 'ema_ratio', period: 1 });
    expect(e1[2]).toBeNaN();
    expect(e1[3]).toBe(0);
    expect(e1[7]).toBe(0);
  });

  it('ema_ratio is a pure function of its 4n-bar span (not of older bars)', () => {
    const a = hourlyFromCloses([50, 70, ...CLOSES]); // two older bars in front
    const e = computeFeatureColumn(a, { name: 'ema_ratio', period: 2 })!;
    expect(e[9]).toBe(col({ name: 'ema_ratio', period: 2 })[7]);
  });

  it('range and body', () => {
    const range = col({ name: 'range' });
    const body = col({ name: 'body' });
    expect(range[1]).toBeCloseTo(0.11, 15); // (110·1.01 − 100·0.99) / 110 = 12.1/110
    expect(range[3]).toBeCloseTo(0.121, 15); // (121·1.01 − 110·0.99) / 110 = 13.31/110
    expect(body[0]).toBe(0);
    expect(body[1]).toBeCloseTo(0.1, 15); // (110 − 100)/100
    expect(body[3]).toBeCloseTo(-1 / 11, 15); // (110 − 121)/121
  });

  it('volume_z: (v − mean) / sample std over the last n, 0 when the std is 0', () => {
    const z = col({ name: 'volume_z', period: 3 });
    expect(z[1]).toBeNaN();
    expect(z[2]).toBeCloseTo(1, 15); // 10, 20, 30: mean 20, std √((100+0+100)/2) = 10 → (30−20)/10
    expect(z[5]).toBe(0); // 40, 40, 40: std 0
    expect(z[6]).toBeCloseTo(-2 / Math.sqrt(3), 15); // 40, 40, 10: mean 30, std √(600/2) → −20/√300
    // constant non-representable values: the rounded mean differs from them, the std must still be 0
    const flat = toSeries([0, 1, 2].map((i) => ({ t: i * 3_600_000, o: 1, h: 1, l: 1, c: 1, v: 0.1 })));
    expect(computeFeatureColumn(flat, { name: 'volume_z', period: 3 })![2]).toBe(0);
  });

  it('hour_sin / hour_cos use the UTC hour of the bar start', () => {
    const s = col({ name: 'hour_sin' });
    const c = col({ name: 'hour_cos' });
    expect(s[0]).toBe(0); // 00:00 → angle 0
    expect(c[0]).toBe(1);
    expect(s[6]).toBe(1); // 06:00 → π/2
    expect(c[6]).toBeCloseTo(0, 15);
    expect(s[4]).toBeCloseTo(Math.sqrt(3) / 2, 15); // 04:00 → π/3
    // a 15-minute bar at 13:45 belongs to hour 13
    const t = Date.UTC(2024, 0, 1, 13, 45);
    expect(utcHour(t)).toBe(13);
    expect(utcHour(Date.UTC(1969, 11, 31, 23, 30))).toBe(23); // before the epoch
  });

  it('dow_sin / dow_cos: UTC weekday with Monday = 0', () => {
    // 1Day bars from Monday 2024-01-01 to Sunday 2024-01-07
    const days = toSeries(
      [0, 1, 2, 3, 4, 5, 6].map((d) => ({ t: Date.UTC(2024, 0, 1 + d), o: 1, h: 1, l: 1, c: 1, v: 1 })),
      'TEST',
      '1Day',
    );
    const [s, c] = computeFeatureColumns(days, [{ name: 'dow_sin' }, { name: 'dow_cos' }]) as Float64Array[];
    expect(s[0]).toBe(0); // Monday
    expect(c[0]).toBe(1);
    expect(s[2]).toBeCloseTo(Math.sin((4 * Math.PI) / 7), 15); // Wednesday = 2
    expect(c[6]).toBeCloseTo(Math.cos((12 * Math.PI) / 7), 15); // Sunday = 6
    expect(utcWeekdayMonday0(0)).toBe(3); // 1970-01-01 was a Thursday
    expect(utcWeekdayMonday0(Date.UTC(1969, 11, 29))).toBe(0); // a Monday before the epoch
  });

  it('window-relative and state features are not per-bar columns', () => {
    const names = ['open_rel', 'high_rel', 'low_rel', 'close_rel', 'volume_rel', 'position', 'unrealized_return'] as const;
    const cols = computeFeatureColumns(
      bars,
      names.map((name) => ({ name })),
    );
    expect(cols).toEqual(names.map(() => null));
    expect(featureKind('close_rel')).toBe('window');
    expect(featureKind({ name: 'position' })).toBe('state');
    expect(featureKind({ name: 'rsi', period: 3 })).toBe('column');
  });

  it('identical specs share one column; different params do not', () => {
    const cols = computeFeatureColumns(bars, [
      { name: 'log_return', lag: 1 },
      { name: 'log_return', lag: 1 },
      { name: 'log_return', lag: 2 },
    ]);
    expect(cols[0]).toBe(cols[1]);
    expect(cols[2]).not.toBe(cols[0]);
  });
});

describe('featureSpan', () => {
  it('gives the bars each feature reads, ending at τ', () => {
    expect(featureSpan({ name: 'log_return', lag: 1 })).toBe(2);
    expect(featureSpan({ name: 'return', lag: 24 })).toBe(25);
    expect(featureSpan({ name: 'volatility', period: 24 })).toBe(25);
    expect(featureSpan({ name: 'rsi', period: 14 })).toBe(15);
    expect(featureSpan({ name: 'sma_ratio', period: 50 })).toBe(50);
    expect(featureSpan({ name: 'ema_ratio', period: 20 })).toBe(80);
    expect(featureSpan({ name: 'volume_z', period: 24 })).toBe(24);
    for (const name of ['range', 'body', 'hour_sin', 'hour_cos', 'dow_sin', 'dow_cos', 'close_rel', 'volume_rel', 'position'] as const) {
      expect(featureSpan({ name })).toBe(1);
    }
  });

  it('is tight: the column is NaN exactly before index span − 1', () => {
    const long = hourlyFromCloses(
      Array.from({ length: 60 }, (_, i) => 100 + 10 * Math.sin(i)),
      Array.from({ length: 60 }, (_, i) => 1 + (i % 7)),
    );
    for (const spec of SPECS) {
      const column = computeFeatureColumn(long, spec);
      if (column === null) continue;
      const span = featureSpan(spec);
      if (span >= 2) expect(column[span - 2], featureLabel(spec)).toBeNaN();
      expect(Number.isFinite(column[span - 1]), featureLabel(spec)).toBe(true);
    }
  });
});

/** Every per-bar feature, with several parameters. */
const SPECS: FeatureSpec[] = [
  { name: 'log_return', lag: 1 },
  { name: 'log_return', lag: 24 },
  { name: 'return', lag: 1 },
  { name: 'return', lag: 7 },
  { name: 'volatility', period: 2 },
  { name: 'volatility', period: 24 },
  { name: 'rsi', period: 1 },
  { name: 'rsi', period: 14 },
  { name: 'sma_ratio', period: 1 },
  { name: 'sma_ratio', period: 50 },
  { name: 'ema_ratio', period: 1 },
  { name: 'ema_ratio', period: 12 },
  { name: 'volume_z', period: 2 },
  { name: 'volume_z', period: 24 },
  { name: 'range' },
  { name: 'body' },
  { name: 'hour_sin' },
  { name: 'hour_cos' },
  { name: 'dow_sin' },
  { name: 'dow_cos' },
];

describe('features on real BTCUSD 1Hour bars agree with the naive reference', () => {
  const btc = readBtcBars();
  const plain = toPlain(btc);

  it('the fixture is what we think it is', () => {
    expect(btc.close.length).toBe(6115);
    expect(new Date(btc.time[0]).toISOString()).toBe('2023-12-31T23:00:00.000Z');
  });

  it('covers every per-bar feature of the vocabulary (the indicators: test/indicators.test.ts, against pandas; the feature graph: test/feature-graph.test.ts, against torch)', () => {
    const covered = new Set<string>([...SPECS.map((s) => s.name), ...INDICATOR_FEATURES, 'graph']);
    for (const name of FEATURE_NAMES) if (featureKind(name) === 'column') expect(covered.has(name), name).toBe(true);
  });

  // Tolerance: 1e-12 relative, with a 1e-15 absolute floor. Observed on this file: log_return, return,
  // volatility, sma_ratio, volume_z, range, body and the calendar features are bit-identical to the
  // reference; rsi differs by ≤ 1.1e-16 (means vs sums); ema_ratio by ≤ 1.9e-15 absolute (the two use
  // different but equivalent EMA recurrences; the ratio c/EMA − 1 is near 0, so only an absolute bound
  // is meaningful there).
  it.each(SPECS.map((s) => [featureLabel(s), s] as const))('%s, every bar, within 1e-12 relative', (_label, spec) => {
    const column = computeFeatureColumns(btc, [spec])[0]!;
    const bad: string[] = [];
    let worstAbs = 0;
    for (let tau = 0; tau < plain.length; tau++) {
      const expected = refColumnValue(plain.slice(0, tau + 1), spec);
      const actual = column[tau];
      if (!close(actual, expected)) bad.push(`τ=${tau}: ${actual} vs ${expected}`);
      if (Number.isFinite(expected)) worstAbs = Math.max(worstAbs, Math.abs(actual - expected));
    }
    expect(bad.slice(0, 5)).toEqual([]);
    expect(worstAbs).toBeLessThan(1e-14);
    expect(Number.isFinite(column[plain.length - 1])).toBe(true);
    expect(Number.isNaN(column[featureSpan(spec) - 2] ?? NaN)).toBe(true);
  });
});

describe('columns from a first bar on', () => {
  const btc = readBtcBars();
  const every: FeatureSpec[] = [
    ...SPECS,
    { name: 'volatility', period: 5, returns: 'simple', ddof: 0 },
    { name: 'rsi', period: 14, method: 'wilder' },
    { name: 'ema_ratio', period: 12, adjust: true },
    // The indicators with their defaults, as the card parser fills them in.
    ...INDICATOR_FEATURES.map((name) => Object.fromEntries([['name', name], ...featureParams(name).flatMap((d) => (d.default === undefined ? [] : [[d.key, d.default]]))]) as FeatureSpec),
  ];
  // Each lane offset of the four-bar loops, the first bar of a span, and one past the series' end.
  it.each([1, 2, 3, 4, 47, 50, 51, 6000, 6114, 6115])('from bar %i: the same bits from that bar on; the windowed features leave the bars before it NaN', (first) => {
    const whole = computeFeatureColumns(btc, every);
    const cut = computeFeatureColumns(btc, every, new Map(), first);
    every.forEach((spec, f) => {
      const a = whole[f]!;
      const b = cut[f]!;
      expect(b.length, featureLabel(spec)).toBe(a.length);
      for (let i = first; i < a.length; i++) expect(Object.is(a[i], b[i]), `${featureLabel(spec)} at ${i}`).toBe(true);
      const windowed =
        ['log_return', 'return', 'volatility', 'rsi', 'sma_ratio', 'ema_ratio', 'volume_z'].includes(spec.name) &&
        !(spec.name === 'rsi' && spec.method === 'wilder') &&
        !(spec.name === 'ema_ratio' && spec.adjust !== undefined);
      const before = Array.from(b.subarray(0, Math.min(first, b.length)));
      if (windowed) expect(before.every(Number.isNaN), featureLabel(spec)).toBe(true);
      else expect(before.map((x, i) => Object.is(x, a[i])).every(Boolean), featureLabel(spec)).toBe(true);
    });
  });
});

describe('features of another symbol and of the feature graph', () => {
  const H = 3_600_000;
  const T = Date.UTC(2024, 0, 1);
  const own = hourlyFromCloses([1, 2, 3, 4, 5, 6]);
  // the other symbol has bars at hours 1, 2 and 4 only, and one at 2:30 that no own bar starts at
  const other = toSeries([
    { t: T + H, o: 100, h: 100, l: 100, c: 100, v: 1 },
    { t: T + 2 * H, o: 100, h: 110, l: 100, c: 110, v: 1 },
    { t: T + 2.5 * H, o: 110, h: 121, l: 110, c: 121, v: 1 },
    { t: T + 4 * H, o: 121, h: 121, l: 99, c: 99, v: 1 },
  ]);
  const withOther = { ...own, others: { ETHUSD: other } };

  it("another symbol's value at a bar is its own feature at its last bar starting at or before that bar", () => {
    // the other symbol's one-bar returns: NaN, 0.1, 0.1, 99/121 − 1
    const column = computeFeatureColumn(withOther, { name: 'return', lag: 1, symbol: 'ETHUSD' })!;
    // own bar 0 (00:00): no bar yet; 1 (01:00): its first bar, no return yet; 2 (02:00): 0.1;
    // 3 (03:00): the 02:30 bar, 121/110 − 1; 4 and 5: the 04:00 bar, 99/121 − 1
    expect(Array.from(column)).toEqual([NaN, NaN, 110 / 100 - 1, 121 / 110 - 1, 99 / 121 - 1, 99 / 121 - 1]);
    // the cache keys by label: the own column of the same feature is another column
    const [mine, theirs] = computeFeatureColumns(withOther, [
      { name: 'return', lag: 1 },
      { name: 'return', lag: 1, symbol: 'ETHUSD' },
    ]);
    expect(Array.from(mine!)).toEqual([NaN, 2 / 1 - 1, 3 / 2 - 1, 4 / 3 - 1, 5 / 4 - 1, 6 / 5 - 1]);
    expect(theirs).not.toBe(mine);
    expect(featureLabel({ name: 'return', lag: 1, symbol: 'ETHUSD' })).toBe('return(lag=1, symbol=ETHUSD)');
  });

  it('a window or state feature is never a column, with or without a symbol; an unfetched symbol is an error', () => {
    expect(computeFeatureColumn(withOther, { name: 'close_rel', symbol: 'ETHUSD' })).toBeNull();
    expect(computeFeatureColumn(withOther, { name: 'position' })).toBeNull();
    expectThrows(() => computeFeatureColumn(own, { name: 'return', lag: 1, symbol: 'SOLUSD' }), "feature return(lag=1, symbol=SOLUSD) reads SOLUSD, whose bars were not fetched with TEST's");
  });

  it('otherSymbolGaps: the own bars the other symbol has no bar starting at', () => {
    expect(otherSymbolGaps(own, other)).toEqual([0, 3, 5]);
    expect(otherSymbolGaps(own, own)).toEqual([]);
    expect(otherSymbolGaps(own, toSeries([]))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('graph: column k of the graph run on these bars; a graph not run, or run on other bars, is an error', () => {
    const k0 = Float64Array.from([NaN, 1, 2, 3, 4, 5]);
    const k1 = Float64Array.from([NaN, -1, -2, -3, -4, -5]);
    const graphed = { ...own, graph: { file: 'feat.onnx', sha256: 'x', columns: [k0, k1] } };
    expect(computeFeatureColumn(graphed, { name: 'graph', column: 1, window: 2 })).toBe(k1);
    expect(computeFeatureColumn(graphed, { name: 'graph', column: 0, window: 2 })).toBe(k0);
    expect(featureSpan({ name: 'graph', column: 0, window: 7 })).toBe(7);
    expect(featureSpan({ name: 'graph', column: 0 })).toBe(1);
    expect(featureLabel({ name: 'graph', column: 1, window: 2 })).toBe('graph(column=1)');
    expectThrows(
      () => computeFeatureColumn(own, { name: 'graph', column: 0 }),
      "feature graph(column=0): the card's feature graph was not run on these TEST bars (src/app/feature-graph.ts attaches its columns)",
    );
    expectThrows(() => computeFeatureColumn(graphed, { name: 'graph', column: 2 }), 'feature graph(column=2): feat.onnx computed 2 column(s) of 6 bars for a series of 6');
    const short = { ...own, graph: { file: 'feat.onnx', sha256: 'x', columns: [k0.slice(0, 5)] } };
    expectThrows(() => computeFeatureColumn(short, { name: 'graph', column: 0 }), 'feat.onnx computed 1 column(s) of 5 bars for a series of 6');
    const none = { ...own, graph: { file: 'feat.onnx', sha256: 'x', columns: [] } };
    expectThrows(() => computeFeatureColumn(none, { name: 'graph', column: 0 }), 'feat.onnx computed 0 column(s) of 0 bars for a series of 6');
  });
});

describe('the vocabulary: names, kinds, parameters, labels', () => {
  it('isFeatureName accepts exactly the vocabulary', () => {
    expect(isFeatureName('rsi')).toBe(true);
    expect(isFeatureName('graph')).toBe(true);
    expect(isFeatureName('RSI')).toBe(false);
    expect(isFeatureName(3)).toBe(false);
    expect(FEATURE_NAMES.every((n) => isFeatureName(n))).toBe(true);
  });

  it('per-bar features take a symbol; window, state and graph features do not', () => {
    const keys = (name: Parameters<typeof featureParams>[0]) => featureParams(name).map((p) => p.key);
    expect(keys('rsi')).toEqual(['period', 'method', 'symbol']);
    expect(keys('hour_sin')).toEqual(['symbol']);
    expect(keys('close_rel')).toEqual([]);
    expect(keys('position')).toEqual([]);
    expect(keys('graph')).toEqual(['column']);
  });

  it('labels list the parameters that are set, in the order the feature takes them', () => {
    expect(featureLabel({ name: 'hour_sin' })).toBe('hour_sin');
    expect(featureLabel({ name: 'rsi', period: 14, method: 'wilder' })).toBe('rsi(period=14, method=wilder)');
    expect(featureLabel({ name: 'ema_ratio', period: 20, adjust: false })).toBe('ema_ratio(period=20, adjust=false)');
    expect(featureLabel({ name: 'volatility', returns: 'simple', period: 24, ddof: 0 })).toBe('volatility(period=24, ddof=0, returns=simple)');
  });

  it('emaSpan refuses a smoothing factor outside (0, 1]', () => {
    expectThrows(() => emaSpan(0), 'EMA smoothing factor must be in (0, 1], got 0');
    expectThrows(() => emaSpan(1.5), RangeError);
    expectThrows(() => emaSpan(NaN), RangeError);
    // (1 − 0.5)^(L − 1) ≤ 1e-12: 0.5^40 = 9.1e-13 ≤ 1e-12 < 0.5^39 → L = 41
    expect(emaSpan(0.5)).toBe(41);
  });
});
