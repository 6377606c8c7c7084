/**
 * The run's market data provider (src/app/validate.ts barsProvider): a series is read once while it is
 * held, and `evict` lets go of it, so a run over many symbols does not keep every symbol's bars.
 */
import { describe, expect, it } from 'vitest';
import { barsProvider } from '../src/app/validate.js';
import { defaultConfig } from '../src/config/schema.js';
import { EXAMPLE_DATA } from './helpers/e2e.js';

describe('barsProvider', () => {
  it('reads a series once while held, and again after evict', async () => {
    const config = defaultConfig();
    config.data.source = 'csv';
    config.data.dir = EXAMPLE_DATA;
    const get = barsProvider(config, { now: new Date('2025-01-02T00:00:00Z'), log: () => {} });
    const req = { symbol: 'BTCUSD', timeframe: '1Hour' as const, assetClass: 'crypto' as const, endMs: undefined, days: 30, warmupBars: 10 };
    const first = get(req);
    expect(get(req)).toBe(first);
    const other = get({ ...req, timeframe: '4Hour' });
    expect(get.held()).toBe(2);
    const bars = (await first).bars;
    expect(bars.close.length).toBeGreaterThan(6000);

    get.evict('BTCUSD', '1Hour');
    // Only that series is let go.
    expect(get.held()).toBe(1);
    expect(get({ ...req, timeframe: '4Hour' })).toBe(other);
    const again = get(req);
    expect(again).not.toBe(first);
    // Read again from the file: the same bars.
    expect(Array.from((await again).bars.close)).toEqual(Array.from(bars.close));
    get.evict('BTCUSD', '4Hour');
    expect(get.held()).toBe(1);
  });
});
