import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { PolicyGateError } from '../src/core/errors.js';
import type { BarSeries } from '../src/core/types.js';
import { barsFileName, formatTimestamp, loadBarsFromDir, parseIsoTimestamp, readBarsCsv, resampleBars, writeBarsCsv } from '../src/adapters/bars/csv.js';

const root = path.resolve(import.meta.dirname, '..');
const exampleFile = path.join(root, 'examples/data/BTCUSD_1Hour.csv');
const rawFile = path.join(root, 'test/fixtures/bars/bitcoin_2024_coinbase.csv');
const exampleText = readFileSync(exampleFile, 'utf8');
const rawText = readFileSync(rawFile, 'utf8');

const H = 3_600_000;
const T0 = Date.UTC(2024, 0, 1); // 2024-01-01T00:00:00Z

const opts = { symbol: 'BTCUSD', timeframe: '1Hour' as const, file: 'test.csv' };

function csvError(text: string, file = 'bad.csv'): PolicyGateError {
  try {
    readBarsCsv(text, { ...opts, file });
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyGateError);
    expect((err as PolicyGateError).exitCode).toBe(2);
    return err as PolicyGateError;
  }
  throw new Error('expected readBarsCsv to throw');
}

function series(b: BarSeries): number[][] {
  return [b.time, b.open, b.high, b.low, b.close, b.volume].map((a) => Array.from(a));
}

describe('real BTCUSD files', () => {
  const ex = readBarsCsv(exampleText, { ...opts, file: exampleFile });
  const raw = readBarsCsv(rawText, { ...opts, file: rawFile });

  it('the example file: 6115 clean hourly bars, first and last exactly', () => {
    expect(ex.bars.time.length).toBe(6115);
    expect(ex.notes).toEqual([]);
    expect(formatTimestamp(ex.bars.time[0]!)).toBe('2023-12-31T23:00:00Z');
    expect(formatTimestamp(ex.bars.time[6114]!)).toBe('2024-09-11T17:00:00Z');
    expect([ex.bars.open[0], ex.bars.high[0], ex.bars.low[0], ex.bars.close[0], ex.bars.volume[0]]).toEqual([42252.3, 42339.7, 42066.35, 42288.06, 626.73889224]);
    expect([ex.bars.open[6114], ex.bars.high[6114], ex.bars.low[6114], ex.bars.close[6114], ex.bars.volume[6114]]).toEqual([57314.83, 57738.47, 57256.86, 57730.2, 379.26660765]);
    for (let k = 1; k < 6115; k++) expect(ex.bars.time[k]! - ex.bars.time[k - 1]!).toBe(H);
  });

  it('the raw Coinbase file (date,unix,low,high,open,close,volume,vol_fiat) gives identical bars', () => {
    expect(raw.notes).toEqual([]);
    expect(raw.bars.time.length).toBe(6115);
    expect(series(raw.bars)).toEqual(series(ex.bars));
    // the 'unix' column (seconds) names the same instants as the preferred 'date' column
    const unixOnly = rawText.replace(/^date,/, 'x_date,');
    expect(series(readBarsCsv(unixOnly, opts).bars)).toEqual(series(ex.bars));
  });

  it('writeBarsCsv round-trips exactly', () => {
    const text = writeBarsCsv(ex.bars);
    expect(text.split('\n', 3)).toEqual([
      'timestamp,open,high,low,close,volume',
      '2023-12-31T23:00:00Z,42252.3,42339.7,42066.35,42288.06,626.73889224',
      '2024-01-01T00:00:00Z,42288.58,42543.64,42261.58,42452.66,379.19725348',
    ]);
    expect(series(readBarsCsv(text, opts).bars)).toEqual(series(ex.bars));
  });

  it('parses the same 6k rows to the same bars every time (its speed is measured by the benchmark, docs/performance.md, never asserted)', () => {
    const first = series(readBarsCsv(rawText, opts).bars);
    for (let k = 0; k < 5; k++) expect(series(readBarsCsv(rawText, opts).bars)).toEqual(first);
    expect(first[0]).toHaveLength(6115);
  });

  it('resamples 1Hour to 4Hour on UTC boundaries, checked by hand', () => {
    const b4 = resampleBars(ex.bars, '4Hour');
    expect(b4.timeframe).toBe('4Hour');
    expect(b4.symbol).toBe('BTCUSD');
    // 2023-12-31 20:00 bucket holds only the 23:00 bar and 2024-09-11 16:00 holds 16:00 and 17:00: both dropped
    expect(b4.time.length).toBe(1528);
    expect(formatTimestamp(b4.time[0]!)).toBe('2024-01-01T00:00:00Z');
    expect(formatTimestamp(b4.time[1527]!)).toBe('2024-09-11T12:00:00Z');
    const bar = (k: number) => [b4.open[k], b4.high[k], b4.low[k], b4.close[k]];
    // 00:00..03:00: open 42288.58 (00), high 42749.99 (01), low 42235.0 (03), close 42325.11 (03)
    expect(bar(0)).toEqual([42288.58, 42749.99, 42235.0, 42325.11]);
    expect(b4.volume[0]).toBeCloseTo(379.19725348 + 396.20192444 + 227.14116558 + 306.00569404, 9);
    expect(b4.volume[0]).toBeCloseTo(1308.54603754, 8);
    // 04:00..07:00
    expect(bar(1)).toEqual([42325.1, 42534.49, 42175.65, 42496.49]);
    expect(b4.volume[1]).toBeCloseTo(1219.20774928, 8);
    // 08:00..11:00
    expect(bar(2)).toEqual([42496.58, 42767.6, 42451.0, 42690.0]);
    expect(b4.volume[2]).toBeCloseTo(515.8591304, 8);
    // last complete bucket 2024-09-11 12:00..15:00
    expect(bar(1527)).toEqual([56796.67, 57168.46, 55534.41, 56706.02]);
    expect(b4.volume[1527]).toBeCloseTo(621.62532277 + 1058.501146 + 1428.09018914 + 991.2851252, 8);
    for (let k = 1; k < b4.time.length; k++) expect(b4.time[k]! - b4.time[k - 1]!).toBe(4 * H);
  });

  it('resamples to 2Hour and 1Day with the expected bucket counts', () => {
    const b2 = resampleBars(ex.bars, '2Hour');
    expect(b2.time.length).toBe(3057); // 22:00 bucket (23:00 only) dropped; 16:00 bucket complete
    expect(formatTimestamp(b2.time[0]!)).toBe('2024-01-01T00:00:00Z');
    expect(formatTimestamp(b2.time[3056]!)).toBe('2024-09-11T16:00:00Z');
    expect([b2.open[3056], b2.high[3056], b2.low[3056], b2.close[3056]]).toEqual([56697.83, 57738.47, 56643.22, 57730.2]);
    const d = resampleBars(ex.bars, '1Day');
    expect(d.time.length).toBe(254); // 2024-01-01 .. 2024-09-10; 2023-12-31 (1 h) and 2024-09-11 (18 h) dropped
    expect(formatTimestamp(d.time[0]!)).toBe('2024-01-01T00:00:00Z');
    expect(formatTimestamp(d.time[253]!)).toBe('2024-09-10T00:00:00Z');
    expect(d.open[0]).toBe(42288.58);
    expect(d.close[0]).toBe(ex.bars.close[24]); // 2024-01-01T23:00 is index 24
    expect(() => resampleBars(ex.bars, '1Hour')).toThrow(/multiple/);
    expect(() => resampleBars(b4Sample(), '1Day')).not.toThrow();
  });
});

function b4Sample(): BarSeries {
  const rows = ['timestamp,open,high,low,close,volume'];
  for (let k = 0; k < 12; k++) rows.push(`${formatTimestamp(T0 + k * 4 * H)},10,11,9,10,1`);
  return readBarsCsv(rows.join('\n'), { ...opts, timeframe: '4Hour' }).bars;
}

describe('resampling a gap in the middle', () => {
  it('keeps a partial middle bucket with what it has', () => {
    const rows = ['timestamp,open,high,low,close,volume'];
    for (let k = 0; k < 12; k++) if (k !== 5) rows.push(`${formatTimestamp(T0 + k * H)},${100 + k},${102 + k},${99 + k},${101 + k},1`);
    const { bars, notes } = readBarsCsv(rows.join('\n'), opts);
    expect(notes).toEqual([{ kind: 'gap', message: 'BTCUSD 1Hour: 1 missing bar at 2024-01-01T05:00:00Z', at: '2024-01-01T05:00:00Z', count: 1 }]);
    const b4 = resampleBars(bars, '4Hour');
    expect(Array.from(b4.time, formatTimestamp)).toEqual(['2024-01-01T00:00:00Z', '2024-01-01T04:00:00Z', '2024-01-01T08:00:00Z']);
    expect([b4.open[1], b4.high[1], b4.low[1], b4.close[1], b4.volume[1]]).toEqual([104, 109, 103, 108, 3]);
  });
});

describe('column mapping and timestamps', () => {
  const expected = [
    [T0, T0 + H],
    [10, 11],
    [12, 13],
    [9, 10],
    [11, 12],
    [5, 6],
  ];

  it('finds columns by header name in any order and case, ignoring extras', () => {
    const text = 'Volume,CLOSE,extra,Low,Timestamp,High,Open\n5,11,x,9,2024-01-01T00:00:00Z,12,10\n6,12,y,10,2024-01-01T01:00:00Z,13,11\n';
    expect(series(readBarsCsv(text, opts).bars)).toEqual(expected);
  });

  it('accepts o,h,l,c,v and t', () => {
    const text = 'c,v,o,h,l,t\n11,5,10,12,9,1704067200000\n12,6,11,13,10,1704070800000\n';
    expect(series(readBarsCsv(text, opts).bars)).toEqual(expected);
  });

  it('prefers timestamp > time > datetime > date > unix', () => {
    // 'time' holds the true instants, 'date' and 'unix' wrong ones: 'time' must win
    const text = 'unix,date,time,open,high,low,close,volume\n1,2000-01-01,2024-01-01T00:00:00Z,10,12,9,11,5\n2,2000-01-02,2024-01-01T01:00:00Z,11,13,10,12,6\n';
    expect(series(readBarsCsv(text, opts).bars)).toEqual(expected);
    const text2 = 'unix,datetime,date,open,high,low,close,volume\n1,2024-01-01 00:00,2000-01-01,10,12,9,11,5\n2,2024-01-01 01:00,2000-01-01,11,13,10,12,6\n';
    expect(series(readBarsCsv(text2, opts).bars)).toEqual(expected);
  });

  it('epoch seconds vs milliseconds by magnitude (and µs, ns)', () => {
    for (const [scale, label] of [
      [1, 's'],
      [1000, 'ms'],
      [1e6, 'us'],
      [1e9, 'ns'],
    ] as const) {
      const s0 = 1704067200 * scale;
      const text = `unix,open,high,low,close,volume\n${s0},10,12,9,11,5\n${s0 + 3600 * scale},11,13,10,12,6\n`;
      expect(series(readBarsCsv(text, opts).bars), label).toEqual(expected);
    }
    // mixing units within a file is an error
    const mixed = 'unix,open,high,low,close,volume\n1704067200,10,12,9,11,5\n1704070800000,11,13,10,12,6\n';
    expect(csvError(mixed).message).toMatch(/line 3: epoch timestamp 1704070800000 looks like milliseconds but the first row's is in seconds/);
    // a compact YYYYMMDD date is not epoch seconds from 1970
    const compact = 'date,open,high,low,close,volume\n20240101,10,12,9,11,5\n';
    expect(csvError(compact).message).toMatch(/line 2: epoch timestamp 20240101 is before 1990 \(a YYYYMMDD date\?/);
  });

  it('ISO 8601 variants, all UTC', () => {
    const cases: [string, number][] = [
      ['2024-01-01T00:00:00Z', T0],
      ['2024-01-01 00:00:00+00:00', T0],
      ['2024-01-01T00:00:00.000Z', T0],
      ['2024-01-01T00:00Z', T0],
      ['2024-01-01', T0],
      ['2024-01-01T00:00:00', T0], // no offset → UTC, not local time
      ['2024-01-01T05:30:00+05:30', T0],
      ['2023-12-31T19:00:00-0500', T0],
      ['2024-01-01T01:00:00.250Z', T0 + H + 250],
      ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ];
    for (const [s, t] of cases) expect(parseIsoTimestamp(s), s).toBe(t);
    for (const bad of ['2023-02-29', '2024-13-01', '2024-01-01T24:00:00Z', '01/01/2024', '2024-01-01T00:00:00X', 'yesterday', '2024-01-01T00']) {
      expect(parseIsoTimestamp(bad), bad).toBeNaN();
    }
  });

  it('quoted fields, CRLF, a BOM and blank lines', () => {
    const text =
      '\uFEFF"timestamp","open","high","low","close","volume","note"\r\n' +
      '"2024-01-01T00:00:00Z","10","12","9","11","5","a, ""quoted""\r\nmultiline note"\r\n' +
      '\r\n' +
      '2024-01-01T01:00:00Z,11,13,10,12,6,\r\n';
    expect(series(readBarsCsv(text, opts).bars)).toEqual(expected);
    // a multi-line quoted field shifts later line numbers correctly
    const bad = 'timestamp,open,high,low,close,volume,note\n2024-01-01T00:00:00Z,10,12,9,11,5,"two\nlines"\n2024-01-01T01:00:00Z,11,13,10,12,-6,\n';
    expect(csvError(bad).message).toMatch(/line 4: negative volume -6/);
  });

  it('missing or ambiguous columns are named', () => {
    expect(csvError('date,open,high,low,close\n2024-01-01,1,1,1,1\n').message).toMatch(/bad\.csv: no volume column \(name it volume or v\); found columns: date, open, high, low, close/);
    expect(csvError('when,open,high,low,close,volume\n').message).toMatch(/no timestamp column \(name one of timestamp, time, datetime, date, unix\)/);
    expect(csvError('timestamp,open,o,high,low,close,volume\n2024-01-01,1,1,1,1,1,1\n').message).toMatch(/both 'open' and 'o'/);
    expect(csvError('timestamp,close,high,low,Close,volume\n').message).toMatch(/names column 'Close' twice/);
    expect(csvError('').message).toMatch(/bad\.csv is empty/);
    expect(csvError('timestamp,open,high,low,close,volume\n').message).toMatch(/header but no bars/);
  });
});

describe('data quality notes', () => {
  it('sorts unsorted rows and says so', () => {
    const text = 'timestamp,open,high,low,close,volume\n' + '2024-01-01T02:00:00Z,12,14,11,13,7\n' + '2024-01-01T00:00:00Z,10,12,9,11,5\n' + '2024-01-01T01:00:00Z,11,13,10,12,6\n';
    const { bars, notes } = readBarsCsv(text, opts);
    expect(series(bars)).toEqual([
      [T0, T0 + H, T0 + 2 * H],
      [10, 11, 12],
      [12, 13, 14],
      [9, 10, 11],
      [11, 12, 13],
      [5, 6, 7],
    ]);
    expect(notes).toEqual([{ kind: 'unsorted', message: 'test.csv: rows are not in time order (first at line 3); sorted by timestamp', count: 1 }]);
  });

  it('drops exact duplicates after the first and counts them', () => {
    const text =
      'timestamp,open,high,low,close,volume\n' +
      '2024-01-01T00:00:00Z,10,12,9,11,5\n' +
      '2024-01-01T01:00:00Z,11,13,10,12,6\n' +
      '2024-01-01T01:00:00Z,11,13,10,12,6\n' +
      '2024-01-01T02:00:00Z,12,14,11,13,7\n' +
      '2024-01-01T00:00:00Z,10,12,9,11,5\n' +
      '2024-01-01T01:00:00Z,11,13,10,12,6\n';
    const { bars, notes } = readBarsCsv(text, opts);
    expect(Array.from(bars.time)).toEqual([T0, T0 + H, T0 + 2 * H]);
    expect(Array.from(bars.close)).toEqual([11, 12, 13]);
    expect(notes.map((n) => [n.kind, n.count, n.at])).toEqual([
      ['unsorted', 1, undefined],
      ['duplicate', 3, '2024-01-01T00:00:00Z'],
    ]);
    expect(notes[1]!.message).toBe('test.csv: 3 duplicate rows (same timestamp, same values) dropped, first at 2024-01-01T00:00:00Z');
  });

  it('conflicting duplicates are an error naming both lines', () => {
    const text = 'timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,10,12,9,11,5\n2024-01-01T01:00:00Z,11,13,10,12,6\n2024-01-01T01:00:00Z,11,13,10,12.5,6\n';
    expect(csvError(text).message).toBe('bad.csv: lines 3 and 4 are both bars at 2024-01-01T01:00:00Z but differ (close 12 vs 12.5); keep one of them');
  });

  it('reports every gap with its start and exact missing-bar count', () => {
    const hours = [0, 1, 2, 5, 6, 7, 8, 20, 21, 22];
    const rows = ['timestamp,open,high,low,close,volume', ...hours.map((h) => `${formatTimestamp(T0 + h * H)},10,12,9,11,5`)];
    const { bars, notes } = readBarsCsv(rows.join('\n'), opts);
    expect(bars.time.length).toBe(10);
    expect(notes).toEqual([
      { kind: 'gap', message: 'BTCUSD 1Hour: 2 missing bars from 2024-01-01T03:00:00Z to 2024-01-01T04:00:00Z', at: '2024-01-01T03:00:00Z', count: 2 },
      { kind: 'gap', message: 'BTCUSD 1Hour: 11 missing bars from 2024-01-01T09:00:00Z to 2024-01-01T19:00:00Z', at: '2024-01-01T09:00:00Z', count: 11 },
    ]);
  });

  it('daily bars across a DST change (23 h / 25 h apart) are not gaps; a weekend is', () => {
    // Alpaca's daily stock bars start at 04:00Z in summer and 05:00Z in winter
    const days = ['2024-11-01T04:00:00Z', '2024-11-04T05:00:00Z', '2024-11-05T05:00:00Z'];
    const rows = ['timestamp,open,high,low,close,volume', ...days.map((d) => `${d},10,12,9,11,5`)];
    const { notes } = readBarsCsv(rows.join('\n'), { ...opts, symbol: 'SPY', timeframe: '1Day' });
    expect(notes.map((n) => [n.kind, n.at, n.count])).toEqual([['gap', '2024-11-02T04:00:00Z', 2]]);
  });
});

describe('impossible bars are errors with file and line', () => {
  const header = 'timestamp,open,high,low,close,volume\n';
  const good = '2024-01-01T00:00:00Z,10,12,9,11,5\n';
  const cases: [string, string, RegExp][] = [
    ['NaN', '2024-01-01T01:00:00Z,NaN,12,9,11,5', /bad\.csv: 1 impossible or unreadable bar: line 3: open 'NaN' is not a number/],
    ['text', '2024-01-01T01:00:00Z,10,12,9,abc,5', /line 3: close 'abc' is not a number/],
    ['empty', '2024-01-01T01:00:00Z,10,,9,11,5', /line 3: empty high/],
    ['zero price', '2024-01-01T01:00:00Z,10,12,0,11,5', /line 3: non-positive price: low 0/],
    ['negative price', '2024-01-01T01:00:00Z,-10,12,9,11,5', /line 3: non-positive price: open -10/],
    ['high < low', '2024-01-01T01:00:00Z,10,8,9,11,5', /line 3: high 8 < low 9/],
    ['high < close', '2024-01-01T01:00:00Z,10,11,9,11.5,5', /line 3: high 11 < close 11.5/],
    ['high < open', '2024-01-01T01:00:00Z,11.5,11,9,10,5', /line 3: high 11 < open 11.5/],
    ['low > open', '2024-01-01T01:00:00Z,10,12,10.5,11,5', /line 3: low 10.5 > open 10/],
    ['low > close', '2024-01-01T01:00:00Z,11,12,10.5,10,5', /line 3: low 10.5 > close 10/],
    ['negative volume', '2024-01-01T01:00:00Z,10,12,9,11,-1', /line 3: negative volume -1/],
    ['bad timestamp', '01/02/2024 01:00,10,12,9,11,5', /line 3: timestamp '01\/02\/2024 01:00' is not an ISO 8601 timestamp/],
    ['short row', '2024-01-01T01:00:00Z,10,12', /line 3: expected at least 6 fields, found 3/],
  ];
  for (const [name, row, re] of cases) {
    it(name, () => {
      const err = csvError(header + good + row + '\n');
      expect(err.message).toMatch(re);
      expect(err.message).toMatch(/Fix or remove these rows\.$/);
      expect(err.subject).toBe('bad.csv');
    });
  }

  it('lists the first five problems and counts the rest', () => {
    const rows = Array.from({ length: 8 }, (_, k) => `${formatTimestamp(T0 + (k + 1) * H)},10,8,9,11,5`);
    const msg = csvError(header + good + rows.join('\n')).message;
    expect(msg).toMatch(/^bad\.csv: 8 impossible or unreadable bars: line 3: high 8 < low 9; line 4: .*line 7: high 8 < low 9; and 3 more\./);
  });

  it('several problems on one row count as one bar', () => {
    const msg = csvError(header + good + 'nope,10,8,9,11,-5\n').message;
    expect(msg).toBe(
      "bad.csv: 1 impossible or unreadable bar: line 3: timestamp 'nope' is not an ISO 8601 timestamp (2024-01-01T00:00:00Z) or epoch seconds/milliseconds; " +
        'line 3: high 8 < low 9; line 3: negative volume -5. Fix or remove these rows.',
    );
  });

  it('zero volume is fine', () => {
    expect(readBarsCsv(header + '2024-01-01T00:00:00Z,10,10,10,10,0\n', opts).bars.volume[0]).toBe(0);
  });
});

describe('loadBarsFromDir', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pg-bars-'));
  writeFileSync(path.join(dir, 'BTCUSD_1Hour.csv'), exampleText.split('\n').slice(0, 49).join('\n') + '\n');
  writeFileSync(path.join(dir, 'BTCUSD_4Hour.csv'), 'timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,10,12,9,11,5\n');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds <SYMBOL>_<TIMEFRAME>.csv, also for BTC/USD', async () => {
    const a = await loadBarsFromDir(dir, 'BTCUSD', '1Hour');
    expect(a.file).toBe(path.join(dir, 'BTCUSD_1Hour.csv'));
    expect(a.bars.time.length).toBe(48);
    expect(a.bars.symbol).toBe('BTCUSD');
    const b = await loadBarsFromDir(dir, 'BTC/USD', '1Hour');
    expect(b.file).toBe(path.join(dir, 'BTCUSD_1Hour.csv'));
    expect(b.bars.symbol).toBe('BTC/USD');
    expect(Array.from(b.bars.close)).toEqual(Array.from(a.bars.close));
    expect((await loadBarsFromDir(dir, 'btcusd', '4Hour')).bars.close[0]).toBe(11);
  });

  it('a missing file names the expected path and what the folder has', async () => {
    await expect(loadBarsFromDir(dir, 'BTCUSD', '1Day')).rejects.toThrow(`no bars for BTCUSD 1Day: expected ${path.join(dir, 'BTCUSD_1Day.csv')} (the folder has BTCUSD_1Hour.csv, BTCUSD_4Hour.csv)`);
    await expect(loadBarsFromDir(dir, 'ETH/USD', '1Hour')).rejects.toThrow(`no bars for ETHUSD 1Hour: expected ${path.join(dir, 'ETHUSD_1Hour.csv')}`);
    await expect(loadBarsFromDir(path.join(dir, 'nope'), 'BTCUSD', '1Hour')).rejects.toThrow(/bars folder .*nope does not exist/);
  });

  it('never builds a path from a symbol with .. or path separators', async () => {
    for (const bad of ['../BTCUSD', '..', 'a/b/c', 'BTC/../USD', '/etc/passwd', 'BTC\\USD', 'A..B', '', 'BTC USD']) {
      const err = await loadBarsFromDir(dir, bad, '1Hour').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, bad).toBeInstanceOf(PolicyGateError);
      expect((err as PolicyGateError).message, bad).toMatch(/cannot name a bars file/);
    }
    expect(barsFileName('BRK.B', '1Day')).toBe('BRK.B_1Day.csv');
    expect(barsFileName('UNI/USD', '1Hour')).toBe('UNIUSD_1Hour.csv');
  });
});
