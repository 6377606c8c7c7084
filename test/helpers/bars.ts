/** Small synthetic bar series for unit tests. */
import type { BarSeries } from '../../src/core/types.js';

export const HOUR = 3_600_000;

/** Hourly bars from [open, close] pairs starting at `t0`; high and low bracket them, volume 1. */
export function barsFromOpenClose(rows: readonly [number, number][], t0: number, symbol = 'TEST'): BarSeries {
  const n = rows.length;
  const b = {
    symbol,
    timeframe: '1Hour' as const,
    time: new Float64Array(n),
    open: new Float64Array(n),
    high: new Float64Array(n),
    low: new Float64Array(n),
    close: new Float64Array(n),
    volume: new Float64Array(n),
  };
  rows.forEach(([o, c], i) => {
    b.time[i] = t0 + i * HOUR;
    b.open[i] = o;
    b.close[i] = c;
    b.high[i] = Math.max(o, c);
    b.low[i] = Math.min(o, c);
    b.volume[i] = 1;
  });
  return b;
}
