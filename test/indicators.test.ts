/**
 * The indicator features and their conventions against pandas on real bars: every bar of the
 * 6,115 BTC-USD hours of test/fixtures/bars/bitcoin_2024_coinbase.csv, as computed by
 * scripts/reference/indicators_reference.py (pandas full-history ewm / rolling / cumsum idioms; the
 * fixture records the pandas version and each idiom). CI has no pandas, so the values are read from
 * the committed fixture.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { EMA_TRUNCATION, INDICATOR_FEATURES, computeFeatureColumn, emaSpan, featureLabel, featureSpan, type FeatureSpec } from '../src/core/features.js';
import { parseCard } from '../src/core/card.js';
import { readBtcBars } from './reference/bars.js';

interface Fixture {
  provenance: Record<string, string>;
  rows: number;
  first: string;
  features: { spec: Record<string, unknown>; pandas: string; values: (number | null)[] }[];
}

const fixture = JSON.parse(gunzipSync(readFileSync(new URL('./fixtures/indicators/btc_1hour_pandas.json.gz', import.meta.url))).toString('utf8')) as Fixture;
const btc = readBtcBars();

/** The spec as a card declares it, parsed by parseCard (defaults filled the way a card gets them). */
function specOf(raw: Record<string, unknown>): FeatureSpec {
  const card = parseCard({ symbol: 'BTCUSD', timeframe: '1Hour', observation: { features: [raw] }, action: { type: 'continuous' } }, 'indicators.card.json');
  return card.observation.features[0]!;
}

describe('indicator features equal pandas on every bar of real BTC-USD hours', () => {
  it('the fixture is the pandas run over these bars', () => {
    expect(fixture.rows).toBe(btc.close.length);
    expect(Date.parse(fixture.first.replace(' ', 'T'))).toBe(btc.time[0]);
    expect(fixture.provenance.pandas).toMatch(/^\d+\.\d+/);
    expect(fixture.provenance.bars_sha256).toBe('44495fc4e88d203776cbc0ebec531e1d1c7242b881999022c55bd3781965d398');
  });

  it('the fixture covers every indicator feature', () => {
    const names = new Set(fixture.features.map((f) => f.spec.name));
    for (const name of INDICATOR_FEATURES) expect(names.has(name), name).toBe(true);
  });

  it.each(fixture.features.map((f) => [JSON.stringify(f.spec), f] as const))('%s', (_name, f) => {
    const spec = specOf(f.spec);
    const column = computeFeatureColumn(btc, spec)!;
    const span = featureSpan(spec);
    let worst = 0;
    let at = -1;
    for (let i = 0; i < column.length; i++) {
      const ours = column[i]!;
      if (i < span - 1) {
        expect(ours, `${featureLabel(spec)} at ${i} is inside its warm-up`).toBeNaN();
        continue;
      }
      const theirs = f.values[i];
      expect(theirs, `pandas has no value at ${i}`).not.toBeNull();
      const d = Math.abs(ours - theirs!);
      if (!(d <= worst)) {
        worst = d;
        at = i;
      }
    }
    expect(worst, `${featureLabel(spec)}: worst |ours − pandas| at bar ${at}`).toBeLessThanOrEqual(toleranceOf(spec));
    expect(Number.isFinite(column[span - 1]!)).toBe(true);
  });
});

/**
 * Tolerances (absolute; every value here is O(1)), and what was observed with pandas 1.5.3:
 *  - window features (rolling sums and stds of returns or volumes, stochastic, VWAP, OBV change):
 *    1e-11; observed ≤ 3.3e-12 (volume_z), most ≤ 1e-15.
 *  - exponentially weighted features: 5e-11, the truncation bound EMA_TRUNCATION × (range of the
 *    smoothed series / its level) with room; observed ≤ 1.5e-11 (Wilder RSI: gains up to ~10× their
 *    average), ≤ 2.1e-13 for EMA ratios and MACD.
 *  - Bollinger %B and the OBV z-score: 1e-8. pandas' rolling std is an online add/remove algorithm;
 *    on price levels (~6e4, std ~60) and on a cumulative OBV (~1e4, std ~46) it is itself off by
 *    ~1e-9 relative from a two-pass std (numpy's np.std over the same 20 closes at bar 4347 differs
 *    from pandas' by 9.0e-10 relative; policy-gate's two-pass value agrees with numpy). Observed
 *    6.7e-10 (%B) and 6.8e-9 (OBV z).
 */
function toleranceOf(spec: FeatureSpec): number {
  if (spec.name === 'bollinger_b' || spec.name === 'obv_z') return 1e-8;
  const ewm = spec.name.startsWith('macd') || spec.name === 'atr' || spec.method === 'wilder' || (spec.name === 'ema_ratio' && spec.adjust !== undefined);
  return ewm ? 5e-11 : 1e-11;
}

describe('finite EMA spans', () => {
  it('emaSpan is the shortest span whose oldest weight is at most EMA_TRUNCATION', () => {
    for (const alpha of [2 / 13, 2 / 27, 1 / 14, 2 / 201, 1 / 2, 0.999]) {
      const L = emaSpan(alpha);
      expect((1 - alpha) ** (L - 1)).toBeLessThanOrEqual(EMA_TRUNCATION);
      expect((1 - alpha) ** (L - 2)).toBeGreaterThan(EMA_TRUNCATION);
    }
    expect(emaSpan(1)).toBe(1);
    // The spans a card's warm-up gets: EMA(20) 278 bars, MACD(12, 26, 9) line 361, signal 485, Wilder RSI(14) 375.
    expect(featureSpan(specOf({ name: 'ema_ratio', period: 20, adjust: false }))).toBe(278);
    expect(featureSpan(specOf({ name: 'macd' }))).toBe(361);
    expect(featureSpan(specOf({ name: 'macd_signal' }))).toBe(485);
    expect(featureSpan(specOf({ name: 'rsi', period: 14, method: 'wilder' }))).toBe(375);
  });

  it('the value is a pure function of its span: older bars do not change it', () => {
    const spec = specOf({ name: 'macd_hist' });
    const full = computeFeatureColumn(btc, spec)!;
    const from = 1000;
    const cut = {
      ...btc,
      time: btc.time.subarray(from),
      open: btc.open.subarray(from),
      high: btc.high.subarray(from),
      low: btc.low.subarray(from),
      close: btc.close.subarray(from),
      volume: btc.volume.subarray(from),
    };
    const part = computeFeatureColumn(cut, spec)!;
    for (const i of [featureSpan(spec) - 1, 2000, 4000]) expect(part[i]).toBe(full[i + from]);
  });
});

describe('conventions on a hand-made series', () => {
  const flat = (n: number, v = 0) => ({
    symbol: 'T',
    timeframe: '1Hour' as const,
    time: Float64Array.from({ length: n }, (_, i) => i * 3_600_000),
    open: new Float64Array(n).fill(100),
    high: new Float64Array(n).fill(100),
    low: new Float64Array(n).fill(100),
    close: new Float64Array(n).fill(100),
    volume: new Float64Array(n).fill(v),
  });

  it('flat prices and zero volume give the documented neutral values, never NaN', () => {
    const bars = flat(60);
    const at = (raw: Record<string, unknown>) => computeFeatureColumn(bars, specOf(raw))![59];
    expect(at({ name: 'bollinger_b', period: 5 })).toBe(0.5);
    expect(at({ name: 'bollinger_width', period: 5 })).toBe(0);
    expect(at({ name: 'stoch_k', period: 5 })).toBe(0.5);
    expect(at({ name: 'stoch_d', period: 5 })).toBe(0.5);
    expect(at({ name: 'vwap_distance', period: 5 })).toBe(0);
    expect(at({ name: 'obv_change', period: 5 })).toBe(0);
    expect(at({ name: 'obv_z', period: 5 })).toBe(0);
    expect(at({ name: 'rsi', period: 2, method: 'wilder' })).toBe(0.5);
  });

  it('adjust=true is the weighted mean Σ(1−α)^k c_{τ−k} / Σ(1−α)^k; adjust=false the recursion', () => {
    // period 1: α = 1, the EMA is the close itself.
    const bars = { ...flat(5), close: Float64Array.of(100, 110, 121, 110, 99) };
    expect(computeFeatureColumn(bars, specOf({ name: 'ema_ratio', period: 1, adjust: true }))![4]).toBe(0);
    expect(computeFeatureColumn(bars, specOf({ name: 'ema_ratio', period: 1, adjust: false }))![4]).toBe(0);
    // The legacy ema_ratio (no adjust) keeps its 4n-bar SMA-seeded definition.
    expect(featureSpan(specOf({ name: 'ema_ratio', period: 20 }))).toBe(80);
  });

  it('parseCard checks every convention parameter and names it', () => {
    const errorOf = (raw: Record<string, unknown>): string => {
      try {
        specOf(raw);
      } catch (err) {
        return (err as Error).message;
      }
      return 'no error';
    };
    expect(errorOf({ name: 'volatility', period: 24, ddof: 2 })).toContain('observation.features[0].ddof must be 0 (population std) or 1');
    expect(errorOf({ name: 'rsi', period: 14, method: 'ema' })).toContain('observation.features[0].method must be one of "cutler", "wilder", got "ema"');
    expect(errorOf({ name: 'macd', fast: 26, slow: 12 })).toContain('observation.features[0].fast must be shorter than slow (12), got 26');
    expect(errorOf({ name: 'ema_ratio', period: 20, adjust: 'yes' })).toContain('observation.features[0].adjust must be true or false');
    expect(errorOf({ name: 'atr', period: 20000 })).toContain('observation.features[0].period must be at most 10000');
    expect(errorOf({ name: 'obv_z' })).toContain('observation.features[0].period is missing; obv_z needs a period');
    expect(errorOf({ name: 'stoch_k', smooth: 3 })).toContain('observation.features[0].smooth is not a parameter of stoch_k (it takes "period", and "symbol" to read another symbol\'s bars)');
    // Defaults: a convention at its default is the default spec (same label, same cached column).
    expect(featureLabel(specOf({ name: 'rsi', period: 14, method: 'cutler' }))).toBe('rsi(period=14)');
    expect(featureLabel(specOf({ name: 'volatility', period: 24, ddof: 1, returns: 'log' }))).toBe('volatility(period=24)');
    expect(featureLabel(specOf({ name: 'bollinger_b' }))).toBe('bollinger_b(period=20, mult=2)');
  });
});
