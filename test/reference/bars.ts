/**
 * Test-only helpers: a few-line CSV reader for the shared BTC bars (the real CSV adapter lives in
 * src/adapters and is tested on its own) and a builder for hand-made BarSeries.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BarSeries, Timeframe } from '../../src/core/types.js';

export const BTC_CSV = fileURLToPath(new URL('../../examples/data/BTCUSD_1Hour.csv', import.meta.url));

/** Reads `timestamp,open,high,low,close,volume` (ISO timestamps) into a BarSeries. */
export function readBarsCsv(path: string, symbol: string, timeframe: Timeframe): BarSeries {
  const lines = readFileSync(path, 'utf8').trim().split(/\r?\n/);
  const header = lines[0].split(',').map((h) => h.trim().toLowerCase());
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${path}: no ${name} column`);
    return i;
  };
  const [it, io, ih, il, ic, iv] = ['timestamp', 'open', 'high', 'low', 'close', 'volume'].map(col);
  const rows = lines.slice(1).map((line) => line.split(','));
  const num = (i: number) => Float64Array.from(rows, (r) => Number(r[i]));
  return {
    symbol,
    timeframe,
    time: Float64Array.from(rows, (r) => Date.parse(r[it])),
    open: num(io),
    high: num(ih),
    low: num(il),
    close: num(ic),
    volume: num(iv),
  };
}

export function readBtcBars(): BarSeries {
  return readBarsCsv(BTC_CSV, 'BTCUSD', '1Hour');
}

export interface PlainBar {
  t: number;
  o: number;
  h: number;
  l: number;
  c: number;
  v: number;
}

export function toSeries(bars: readonly PlainBar[], symbol = 'TEST', timeframe: Timeframe = '1Hour'): BarSeries {
  return {
    symbol,
    timeframe,
    time: Float64Array.from(bars, (b) => b.t),
    open: Float64Array.from(bars, (b) => b.o),
    high: Float64Array.from(bars, (b) => b.h),
    low: Float64Array.from(bars, (b) => b.l),
    close: Float64Array.from(bars, (b) => b.c),
    volume: Float64Array.from(bars, (b) => b.v),
  };
}

export function toPlain(series: BarSeries): PlainBar[] {
  return Array.from(series.time, (t, i) => ({
    t,
    o: series.open[i],
    h: series.high[i],
    l: series.low[i],
    c: series.close[i],
    v: series.volume[i],
  }));
}

/** The first `count` bars of a series (copies), as a provider that stopped at that bar would give. */
export function truncate(series: BarSeries, count: number): BarSeries {
  return {
    symbol: series.symbol,
    timeframe: series.timeframe,
    time: series.time.slice(0, count),
    open: series.open.slice(0, count),
    high: series.high.slice(0, count),
    low: series.low.slice(0, count),
    close: series.close.slice(0, count),
    volume: series.volume.slice(0, count),
  };
}

/** Hourly bars from closes (open = previous close, high/low ±1 %), starting 2024-01-01T00:00Z (a Monday). */
export function hourlyFromCloses(closes: readonly number[], volumes?: readonly number[]): BarSeries {
  const start = Date.UTC(2024, 0, 1);
  return toSeries(
    closes.map((c, i) => {
      const o = i === 0 ? c : closes[i - 1];
      return { t: start + i * 3_600_000, o, h: Math.max(o, c) * 1.01, l: Math.min(o, c) * 0.99, c, v: volumes?.[i] ?? 1 };
    }),
  );
}
