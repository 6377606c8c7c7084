import { describe, expect, it } from 'vitest';
import { parseCard, warmupBars, type PolicyCard } from '../src/core/card.js';
import { PolicyGateError } from '../src/core/errors.js';
import { convLayoutOf, FLAT_STATE, ObservationBuilder, stateColumnsOf, stateIndicesOf } from '../src/core/observation.js';
import { expectThrows } from './helpers/expect-throws.js';
import { hourlyFromCloses, readBtcBars, toPlain, truncate } from './reference/bars.js';
import { refObservation, type RefCard } from './reference/features.js';

/*
 * The hand-made series (hourly from 2024-01-01T00:00Z):
 *   i      0    1    2    3    4    5    6    7
 *   close 100  110  121  110  110   99   99  108.9
 *   vol    10   20   30   40   40   40   10    0
 * open = previous close, high = max(o, c)·1.01, low = min(o, c)·0.99.
 */
const bars = hourlyFromCloses([100, 110, 121, 110, 110, 99, 99, 108.9], [10, 20, 30, 40, 40, 40, 10, 0]);

function card(observation: Record<string, unknown>, meanings = ['HOLD', 'BUY', 'SELL']): PolicyCard {
  return parseCard({ symbol: 'TEST', timeframe: '1Hour', observation, action: { meanings } }, 'TEST_1Hour.card.json', {});
}

const f32 = (xs: number[]) => Array.from(Float32Array.from(xs));

describe('ObservationBuilder on a hand-made series', () => {
  it('flattens W rows time-major, oldest first, state in every row', () => {
    const c = card({ window: 3, features: [{ name: 'return' }, { name: 'position' }, { name: 'unrealized_return' }] });
    const b = new ObservationBuilder(c, bars);
    expect(b.size).toBe(9);
    expect(b.firstValidIndex).toBe(3); // return needs 2 bars, window 3 → bars 1, 2, 3 at τ = 3
    expect(b.usesState).toBe(true);
    const out = new Float32Array(9);
    b.build(4, { position: 0.5, unrealizedReturn: -0.02 }, out);
    // rows: bar 2 (return +10 %), bar 3 (110/121 − 1 = −1/11), bar 4 (0)
    expect(Array.from(out)).toEqual(f32([0.1, 0.5, -0.02, -1 / 11, 0.5, -0.02, 0, 0.5, -0.02]));
  });

  it('normalises per feature, then clips', () => {
    const c = card({
      window: 3,
      features: [{ name: 'return' }, { name: 'position' }],
      normalize: { mean: [0, 0.25], std: [0.1, 0.5] },
      clip: 0.95,
    });
    const out = new ObservationBuilder(c, bars).build(4, { position: 0.5, unrealizedReturn: 0 }, new Float32Array(6));
    // return: 0.1/0.1 = 1 → clipped to 0.95; (−1/11)/0.1 = −0.909…; 0. position: (0.5 − 0.25)/0.5 = 0.5
    expect(Array.from(out)).toEqual(f32([0.95, 0.5, -10 / 11, 0.5, 0, 0.5]));
    const low = new ObservationBuilder(c, bars).build(5, { position: -1, unrealizedReturn: 0 }, new Float32Array(6));
    // τ = 5 rows: bars 3, 4, 5 → returns −1/11, 0, −0.1 → −0.909, 0, −1 → clipped to −0.95; position (−1 − 0.25)/0.5 = −2.5 → −0.95
    expect(Array.from(low)).toEqual(f32([-10 / 11, -0.95, 0, -0.95, -0.95, -0.95]));
  });

  it('normalize with only std: mean 0', () => {
    const c = card({ features: [{ name: 'return' }], normalize: { std: [0.05] } });
    expect(c.observation.normalize).toEqual({ mean: [0], std: [0.05] });
    expect(Array.from(new ObservationBuilder(c, bars).build(1, FLAT_STATE, new Float32Array(1)))).toEqual(f32([2])); // 0.1/0.05
  });

  it('window-relative prices use the decision bar’s close; volume_rel the window’s mean volume', () => {
    const c = card({ window: 3, features: ['close_rel', 'open_rel', 'high_rel', 'low_rel', 'volume_rel'] });
    const b = new ObservationBuilder(c, bars);
    expect(b.firstValidIndex).toBe(2);
    expect(b.usesState).toBe(false);
    const out = b.build(4, FLAT_STATE, new Float32Array(15));
    // decision close c_4 = 110; rows bars 2, 3, 4 with closes 121, 110, 110; volumes 30, 40, 40 (mean 110/3)
    //   bar 2: o 110, h 121·1.01, l 110·0.99;  bar 3: o 121, h 122.21, l 108.9;  bar 4: o 110, h 111.1, l 108.9
    const h = (x: number) => (x * 1.01) / 110 - 1;
    const l = (x: number) => (x * 0.99) / 110 - 1;
    expect(Array.from(out)).toEqual(
      f32([
        0.1,
        0,
        h(121),
        l(110),
        30 / (110 / 3) - 1, // 121/110 − 1; 90/110 − 1 = −2/11
        0,
        0.1,
        h(121),
        l(110),
        40 / (110 / 3) - 1, //  o 121/110 − 1 = 0.1; 120/110 − 1 = 1/11
        0,
        0,
        h(110),
        l(110),
        40 / (110 / 3) - 1,
      ]),
    );
    // the same bar 4 seen from decision bar 5 (close 99): close_rel = 110/99 − 1 = 1/9
    const later = b.build(5, FLAT_STATE, new Float32Array(15));
    expect(later[5]).toBe(Math.fround(1 / 9));
    // a zero-volume window: volume_rel is 0, not NaN
    const zeroVol = hourlyFromCloses([1, 2, 3], [0, 0, 0]);
    const z = new ObservationBuilder(card({ window: 2, features: ['volume_rel'] }), zeroVol).build(2, FLAT_STATE, new Float32Array(2));
    expect(Array.from(z)).toEqual([0, 0]);
  });

  it('writes at an offset and leaves the rest of the buffer alone', () => {
    const c = card({ window: 2, features: ['return'] });
    const out = new Float32Array(5).fill(7);
    new ObservationBuilder(c, bars).build(2, FLAT_STATE, out, 2);
    expect(Array.from(out)).toEqual(f32([7, 7, 0.1, 0.1, 7]));
    expectThrows(() => new ObservationBuilder(c, bars).build(2, FLAT_STATE, out, 4), RangeError);
  });

  it('refuses a τ inside the warm-up with an error that says what to do', () => {
    const c = card({ window: 2, features: [{ name: 'sma_ratio', period: 3 }] });
    const b = new ObservationBuilder(c, bars);
    expect(b.firstValidIndex).toBe(3); // sma 3 → span 3, window 2 → 2 + 1
    expect(b.isValid(2)).toBe(false);
    expect(b.isValid(3)).toBe(true);
    let err: unknown;
    try {
      b.build(2, FLAT_STATE, new Float32Array(2));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyGateError);
    expect((err as Error).message).toBe(
      'TEST_1Hour.card.json: the observation at bar 2024-01-01T02:00:00.000Z (index 2) needs 3 bars of warm-up history ' +
        'before it, but the series has only 2; fetch more history before the evaluation window',
    );
    expectThrows(() => b.build(8, FLAT_STATE, new Float32Array(2)), /outside the series of 8 bars/);
    expectThrows(() => b.build(3.5, FLAT_STATE, new Float32Array(2)), RangeError);
  });

  it('a non-finite value from bad bars is an error naming the feature and bar', () => {
    const bad = hourlyFromCloses([100, 0, 100]);
    const b = new ObservationBuilder(card({ features: [{ name: 'log_return' }] }), bad);
    expectThrows(() => b.build(1, FLAT_STATE, new Float32Array(1)), 'TEST_1Hour.card.json: feature log_return(lag=1) is -Infinity at bar 2024-01-01T01:00:00.000Z');
  });

  it('refuses a non-finite state', () => {
    const b = new ObservationBuilder(card({ features: ['position'] }), bars);
    expectThrows(() => b.build(0, { position: NaN, unrealizedReturn: 0 }, new Float32Array(1)), /state at bar 0 must be finite/);
  });

  it('buildBatch writes observations back to back; refuses state features', () => {
    const c = card({ window: 2, features: ['return', 'hour_sin'] });
    const b = new ObservationBuilder(c, bars);
    const batch = b.buildBatch([2, 5], new Float32Array(8));
    const one = (tau: number) => Array.from(b.build(tau, FLAT_STATE, new Float32Array(4)));
    expect(Array.from(batch)).toEqual([...one(2), ...one(5)]);
    expectThrows(() => b.buildBatch([2, 5], new Float32Array(7)), RangeError);
    const withState = new ObservationBuilder(card({ features: ['return', 'position'] }), bars);
    expectThrows(
      () => withState.buildBatch([2], new Float32Array(2)),
      'TEST_1Hour.card.json: the observation uses state features (position / unrealized_return); build it step by step with the simulated position instead of in a batch',
    );
  });

  it('locate names the feature and row of a flat index', () => {
    const b = new ObservationBuilder(card({ window: 3, features: [{ name: 'rsi', period: 2 }, 'position'] }), bars);
    expect(b.locate(0)).toEqual({ row: 0, feature: 0, label: 'rsi(period=2) in row 0 (2 bars before the decision bar)' });
    expect(b.locate(5)).toEqual({ row: 2, feature: 1, label: 'position in row 2 (the decision bar)' });
  });

  it('firstValidIndex equals warmupBars and is tight', () => {
    const c = card({
      window: 4,
      features: [
        { name: 'ema_ratio', period: 1 },
        { name: 'volatility', period: 2 },
      ],
    });
    const b = new ObservationBuilder(c, bars);
    expect(b.firstValidIndex).toBe(warmupBars(c)); // ema 1 → span 4, volatility 2 → 3 → 3 + 3 = 6
    expect(b.firstValidIndex).toBe(6);
    expect(Array.from(b.build(6, FLAT_STATE, new Float32Array(8))).every(Number.isFinite)).toBe(true);
  });
});

/** Every feature of the vocabulary, W = 5, with normalisation and clipping. */
const FULL: RefCard = {
  window: 5,
  features: [
    { name: 'log_return', lag: 1 },
    { name: 'log_return', lag: 24 },
    { name: 'return', lag: 3 },
    { name: 'volatility', period: 24 },
    { name: 'rsi', period: 14 },
    { name: 'sma_ratio', period: 50 },
    { name: 'ema_ratio', period: 10 },
    { name: 'range' },
    { name: 'body' },
    { name: 'volume_z', period: 24 },
    { name: 'open_rel' },
    { name: 'high_rel' },
    { name: 'low_rel' },
    { name: 'close_rel' },
    { name: 'volume_rel' },
    { name: 'hour_sin' },
    { name: 'hour_cos' },
    { name: 'dow_sin' },
    { name: 'dow_cos' },
    { name: 'position' },
    { name: 'unrealized_return' },
  ],
  normalize: {
    mean: [0, 0, 0, 0.005, 0.5, 0, 0, 0.01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    std: [0.005, 0.03, 0.01, 0.003, 0.15, 0.02, 0.01, 0.01, 0.005, 1, 0.01, 0.01, 0.01, 0.01, 0.5, 1, 1, 1, 1, 1, 0.05],
  },
  clip: 5,
};

describe('ObservationBuilder on real BTCUSD 1Hour bars', () => {
  const btc = readBtcBars();
  const plain = toPlain(btc);
  const fullCard = parseCard({ symbol: 'BTCUSD', timeframe: '1Hour', observation: FULL, action: { meanings: ['HOLD', 'BUY', 'SELL'] } }, 'BTCUSD_1Hour.card.json', {});
  // Built in the first test that needs it, not when the file is collected, so that the builder (and
  // the feature columns it computes) is the code as the tests run it.
  let built: ObservationBuilder | undefined;
  const full = (): ObservationBuilder => (built ??= new ObservationBuilder(fullCard, btc));
  const state = { position: 0.75, unrealizedReturn: 0.031 };

  it('firstValidIndex: sma 50 → 49 bars, + window 4', () => {
    const builder = full();
    expect(builder.firstValidIndex).toBe(53);
    expectThrows(() => builder.build(52, state, new Float32Array(builder.size)), PolicyGateError);
  });

  it('agrees with the naive reference at every 7th decision bar (float32 values)', () => {
    const builder = full();
    const out = new Float32Array(builder.size);
    let checked = 0;
    for (let tau = builder.firstValidIndex; tau < plain.length; tau += 7) {
      builder.build(tau, state, out);
      const expected = refObservation(plain.slice(0, tau + 1), FULL, state)!;
      expect(expected).toBeDefined();
      for (let k = 0; k < builder.size; k++) {
        // one float32 rounding apart at most (the float64 values agree to ~1e-15)
        const e = Math.fround(expected[k]);
        if (Math.abs(out[k] - e) > 1.2e-7 * Math.max(Math.abs(e), 1e-6)) {
          throw new Error(`τ=${tau} ${builder.locate(k).label}: ${out[k]} vs ${e}`);
        }
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(800);
    // the reference also says the warm-up is tight: one bar less and a value is missing
    expect(refObservation(plain.slice(0, builder.firstValidIndex), FULL, state)).toBeUndefined();
  });

  it('reads no bar after τ: truncating the series at τ gives the identical observation', () => {
    const builder = full();
    const out = new Float32Array(builder.size);
    const cut = new Float32Array(builder.size);
    for (const tau of [builder.firstValidIndex, 500, 3000, plain.length - 2]) {
      builder.build(tau, state, out);
      new ObservationBuilder(fullCard, truncate(btc, tau + 1)).build(tau, state, cut);
      expect(Array.from(cut)).toEqual(Array.from(out));
    }
  });

  it('does not depend on how far back the history starts (no drift from rolling sums)', () => {
    const builder = full();
    const out = new Float32Array(builder.size);
    const shifted = new Float32Array(builder.size);
    const drop = 1234;
    const later = { ...btc, ...Object.fromEntries((['time', 'open', 'high', 'low', 'close', 'volume'] as const).map((k) => [k, btc[k].slice(drop)])) };
    const b2 = new ObservationBuilder(fullCard, later);
    for (const tau of [4000, 6000]) {
      builder.build(tau, state, out);
      b2.build(tau - drop, state, shifted);
      expect(Array.from(shifted)).toEqual(Array.from(out));
    }
  });

  it('every value is clipped', () => {
    const builder = full();
    const out = new Float32Array(builder.size);
    let maxAbs = 0;
    for (let tau = builder.firstValidIndex; tau < plain.length; tau += 11) {
      builder.build(tau, { position: -1, unrealizedReturn: -0.9 }, out);
      for (const x of out) maxAbs = Math.max(maxAbs, Math.abs(x));
    }
    expect(maxAbs).toBe(5);
  });

  it('buildBatch equals build for a position-independent card', () => {
    const noState = parseCard(
      { symbol: 'BTCUSD', observation: { ...FULL, features: FULL.features.slice(0, 19), normalize: undefined }, action: { meanings: ['HOLD', 'BUY'] } },
      'BTCUSD_1Hour.card.json',
      { timeframe: '1Hour' },
    );
    const b = new ObservationBuilder(noState, btc);
    expect(b.usesState).toBe(false);
    const taus = [100, 101, 2500, 6114];
    const batch = b.buildBatch(taus, new Float32Array(taus.length * b.size));
    taus.forEach((tau, k) => {
      expect(Array.from(batch.subarray(k * b.size, (k + 1) * b.size))).toEqual(Array.from(b.build(tau, FLAT_STATE, new Float32Array(b.size))));
    });
  });
});

describe('state columns and their groups', () => {
  const state = { position: -0.75, unrealizedReturn: 0.02 };
  /** The values build() writes at each state column, and what buildState writes for each group. */
  const check = (c: PolicyCard, expectedGroups: number) => {
    const b = new ObservationBuilder(c, bars);
    const cols = stateColumnsOf(c);
    expect(b.stateColumns()).toEqual(cols);
    expect(b.stateIndices()).toEqual(cols.indices);
    expect(cols.groupFirst).toHaveLength(expectedGroups);
    const full = b.build(5, state, new Float32Array(b.size));
    const groups = b.buildState(5, state, new Float32Array(expectedGroups + 2).fill(9), 1);
    expect(groups[0]).toBe(9);
    expect(groups[expectedGroups + 1]).toBe(9);
    cols.indices.forEach((e, j) => {
      expect(full[e], `column ${e}`).toBe(groups[1 + cols.groupOf[j]!]);
    });
    cols.groupFirst.forEach((e, g) => {
      expect(cols.indices[cols.groupOf.indexOf(g)]).toBe(e);
    });
    return cols;
  };

  it('per-feature normalisation: one group per state feature, its columns in every row', () => {
    const c = card({ window: 3, features: ['return', 'position', 'range', 'unrealized_return'], normalize: { mean: [0, 0.1, 0, -0.01], std: [1, 0.5, 1, 0.05] }, clip: 5 });
    const cols = check(c, 2);
    expect(Array.from(cols.indices)).toEqual([1, 3, 5, 7, 9, 11]);
    expect(Array.from(cols.groupOf)).toEqual([0, 1, 0, 1, 0, 1]);
    expect(Array.from(cols.groupFirst)).toEqual([1, 3]);
  });

  it('per-element normalisation: rows with other statistics are groups of their own; equal ones share', () => {
    // position: rows 0 and 2 share (0, 1), row 1 has its own mean; unrealized_return: every row (0, 1)
    const c = card({ window: 3, features: ['position', 'unrealized_return'], normalize: { mean: [0, 0, 0.5, 0, 0, 0], std: [1, 1, 1, 1, 1, 1] } });
    const cols = check(c, 3);
    expect(Array.from(cols.groupOf)).toEqual([0, 1, 2, 1, 0, 1]);
    expect(Array.from(cols.groupFirst)).toEqual([0, 1, 2]);
    const stdOnly = card({ window: 2, features: ['position'], normalize: { mean: [0, 0], std: [1, 2] } });
    expect(Array.from(check(stdOnly, 2).groupOf)).toEqual([0, 1]);
  });

  it('buildState refuses a non-finite position or unrealized return, naming both', () => {
    const b = new ObservationBuilder(card({ window: 2, features: ['position', 'unrealized_return'] }), bars);
    expectThrows(
      () => b.buildState(3, { position: Number.NaN, unrealizedReturn: 0 }, new Float32Array(2)),
      'TEST_1Hour.card.json: the state at bar 3 must be finite, got position NaN, unrealized return 0',
    );
    expectThrows(() => b.buildState(3, { position: 0, unrealizedReturn: Number.POSITIVE_INFINITY }, new Float32Array(2)), 'got position 0, unrealized return Infinity');
    expectThrows(() => b.buildState(0, FLAT_STATE, new Float32Array(2)), /warm-up/);
    expect(Array.from(b.buildState(3, { position: 2, unrealizedReturn: -9 }, new Float32Array(2)))).toEqual([2, -9]);
    const clipped = new ObservationBuilder(card({ window: 2, features: ['position', 'unrealized_return'], clip: 1.5 }), bars);
    expect(Array.from(clipped.buildState(3, { position: 2, unrealizedReturn: -9 }, new Float32Array(2)))).toEqual([1.5, -1.5]);
  });

  it('no normalisation, and no state features', () => {
    expect(Array.from(check(card({ window: 4, features: ['unrealized_return', 'return'] }), 1).groupOf)).toEqual([0, 0, 0, 0]);
    const none = stateColumnsOf(card({ window: 4, features: ['return'] }));
    expect([none.indices.length, none.groupOf.length, none.groupFirst.length]).toEqual([0, 0, 0]);
  });
});

describe('the column channels and window-relative values of the trunk as a convolution', () => {
  const btc = readBtcBars();
  const features = ['return', 'close_rel', { name: 'sma_ratio', period: 5 }, 'position', 'volume_rel', 'range'];
  const c = card({ window: 4, features, normalize: { mean: [0, 0, 0, 0, 0, 0.01], std: [0.01, 0.02, 0.01, 1, 0.5, 0.01] }, clip: 3 });

  it('convLayoutOf: column and window-relative features in order; null under per-element statistics', () => {
    const layout = convLayoutOf(c)!;
    expect([layout.window, layout.features, Array.from(layout.column), Array.from(layout.windowed)]).toEqual([4, 6, [0, 2, 5], [1, 4]]);
    const perElement = card({ window: 2, features: ['return'], normalize: { mean: [0, 0.1], std: [1, 1] } });
    expect(convLayoutOf(perElement)).toBeNull();
    const stdPerElement = card({ window: 2, features: ['return'], normalize: { mean: [0], std: [1, 2] } });
    expect(convLayoutOf(stdPerElement)).toBeNull();
    expect(convLayoutOf(card({ window: 2, features: ['return'] }))).toEqual({ window: 2, features: 1, column: Int32Array.of(0), windowed: new Int32Array(0) });
    expect(Array.from(stateIndicesOf(c))).toEqual([3, 9, 15, 21]);
  });

  it('writeColumnChannels: the values build() puts in the decision row, channel-major at a stride', () => {
    const b = new ObservationBuilder(c, btc);
    const first = b.firstValidIndex + 10;
    const count = 40;
    const out = new Float32Array(3 + 3 * 64).fill(7);
    expect(b.writeColumnChannels(first, count, out, 3, 64)).toBe(true);
    const obs = new Float32Array(b.size);
    for (let j = 0; j < count; j++) {
      b.build(first + j, FLAT_STATE, obs);
      [0, 2, 5].forEach((f, ch) => {
        expect(out[3 + ch * 64 + j], `bar ${first + j} feature ${f}`).toBe(obs[3 * 6 + f]);
      });
    }
    expect(out[0]).toBe(7);
    expect(out[3 + count]).toBe(7); // past the count, before the next channel
    // the default stride is the count
    const packed = new Float32Array(3 * count);
    expect(b.writeColumnChannels(first, count, packed, 0)).toBe(true);
    expect(Array.from(packed.subarray(count, 2 * count))).toEqual(Array.from(out.subarray(3 + 64, 3 + 64 + count)));
    // the prepared range: from firstValidIndex − W + 1 to the last bar
    const from = b.firstValidIndex - 3;
    expect(b.writeColumnChannels(from, 5, packed, 0)).toBe(true);
    expect(b.writeColumnChannels(from - 1, 5, packed, 0)).toBe(false);
    expect(b.writeColumnChannels(b.length - 5, 5, packed, 0)).toBe(true);
    expect(b.writeColumnChannels(b.length - 5, 6, packed, 0)).toBe(false);
    expect(b.writeColumnChannels(first + 0.5, 5, packed, 0)).toBe(false);
  });

  it('writeColumnChannels refuses a range holding a non-finite value, and per-element statistics', () => {
    const bad = hourlyFromCloses([100, 110, 0, 121, 110, 99, 100, 101]);
    const b = new ObservationBuilder(card({ window: 1, features: [{ name: 'log_return' }] }), bad);
    const out = new Float32Array(8);
    expect(b.writeColumnChannels(4, 4, out, 0)).toBe(true);
    expect(b.writeColumnChannels(2, 1, out, 0)).toBe(false); // log(0 / 110)
    expect(b.writeColumnChannels(3, 1, out, 0)).toBe(false); // log(121 / 0)
    expect(b.writeColumnChannels(3, 5, out, 0)).toBe(false);
    expect(b.writeColumnChannels(1, 1, out, 0)).toBe(true);
    expect(b.writeColumnChannels(4, 0, out, 0)).toBe(true);
    const perElement = new ObservationBuilder(card({ window: 2, features: ['return'], normalize: { mean: [0, 0.1], std: [1, 1] } }), bars);
    expect(perElement.writeColumnChannels(3, 2, out, 0)).toBe(false);
  });

  it('buildWindowed: the window-relative values build() writes, row by row, compact', () => {
    const b = new ObservationBuilder(c, btc);
    expect(b.windowedCount).toBe(2);
    const obs = new Float32Array(b.size);
    const out = new Float32Array(1 + 8).fill(9);
    for (const tau of [b.firstValidIndex, b.firstValidIndex + 100, b.length - 1]) {
      expect(b.buildWindowed(tau, out, 1)).toBe(true);
      b.build(tau, { position: 0.5, unrealizedReturn: 0 }, obs);
      for (let r = 0; r < 4; r++) {
        expect(out[1 + r * 2]).toBe(obs[r * 6 + 1]);
        expect(out[1 + r * 2 + 1]).toBe(obs[r * 6 + 4]);
      }
    }
    expect(out[0]).toBe(9);
    expectThrows(() => b.buildWindowed(b.firstValidIndex - 1, out, 0), /warm-up/);
    const zero = new ObservationBuilder(card({ window: 2, features: ['close_rel'] }), hourlyFromCloses([100, 110, 0]));
    expect(zero.buildWindowed(2, out, 0)).toBe(false);
    expect(zero.buildWindowed(1, out, 0)).toBe(true);
  });
});

describe('per-element normalisation (VecNormalize over stacked frames)', () => {
  it('W·F means and stds: each observation element has its own, time-major', () => {
    const c = card({
      window: 3,
      features: [{ name: 'return' }, { name: 'position' }],
      normalize: { mean: [0, 0, 0.1, 0, 0, 0.25], std: [1, 1, 0.5, 2, 0.1, 0.5] },
    });
    expect(c.observation.normalize!.mean).toHaveLength(6);
    const out = new ObservationBuilder(c, bars).build(4, { position: 0.5, unrealizedReturn: 0 }, new Float32Array(6));
    // rows: bar 2 (return 0.1), bar 3 (−1/11), bar 4 (0); position 0.5 in every row, each row its own statistics
    expect(Array.from(out)).toEqual(f32([0.1, 0.5, (-1 / 11 - 0.1) / 0.5, 0.25, 0, (0.5 - 0.25) / 0.5]));
  });

  it('var + epsilon: std = sqrt(var + epsilon), epsilon 1e-8 by default; a per-feature array is repeated per row', () => {
    const exact = card({ features: [{ name: 'return' }], normalize: { mean: [0], var: [0.0025], epsilon: 0 } });
    expect(exact.observation.normalize).toEqual({ mean: [0], std: [0.05] });
    const sb3 = card({ features: [{ name: 'return' }], normalize: { var: [0.0025] } });
    expect(sb3.observation.normalize!.std[0]).toBe(Math.sqrt(0.0025 + 1e-8));
    const mixed = card({ window: 2, features: [{ name: 'return' }, { name: 'range' }], normalize: { mean: [1, 2], var: [1, 4, 9, 16], epsilon: 0 } });
    expect(mixed.observation.normalize).toEqual({ mean: [1, 2, 1, 2], std: [1, 2, 3, 4] });
  });

  it('names the key and both accepted lengths when the length is wrong; var and std exclude each other', () => {
    const err = (normalize: unknown): string => {
      try {
        card({ window: 3, features: [{ name: 'return' }, { name: 'position' }], normalize });
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err({ mean: [0, 0, 0, 0] })).toBe(
      'TEST_1Hour.card.json: observation.normalize.mean has 4 values; give 2 (one per feature) or 6 (one per observation element: window 3 × 2 features, time-major)',
    );
    expect(err({ std: [1, 1], var: [1, 1] })).toContain('observation.normalize.var cannot be given together with "std"');
    expect(err({ std: [1, 1], epsilon: 1e-8 })).toContain('observation.normalize.epsilon applies only to "var"');
    expect(err({ var: [0, 1], epsilon: 0 })).toContain('observation.normalize.var[0] is 0 with epsilon 0');
  });

  it('a builder told its first decision bar builds the same observations from it on, and refuses bars before it', () => {
    const btc = readBtcBars();
    const features = [
      { name: 'log_return', lag: 3 },
      { name: 'rsi', period: 14 },
      { name: 'ema_ratio', period: 9 },
      { name: 'close_rel' },
      { name: 'volume_z', period: 24 },
      'range',
      { name: 'position' },
    ];
    for (const normalize of [undefined, { mean: Array.from({ length: 5 * 7 }, (_, k) => k * 1e-3), std: Array.from({ length: 5 * 7 }, (_, k) => 0.5 + k * 1e-2) }]) {
      const c = parseCard(
        { symbol: 'BTCUSD', timeframe: '1Hour', observation: { window: 5, features, ...(normalize ? { normalize } : {}), clip: 8 }, action: { meanings: ['HOLD', 'BUY'] } },
        'c.card.json',
      );
      const whole = new ObservationBuilder(c, btc);
      for (const from of [whole.firstValidIndex, 1000, 1001, 1002, 1003, btc.close.length - 1]) {
        const cut = new ObservationBuilder(c, btc, { from });
        for (const tau of [from, from + 1, from + 7, btc.close.length - 1].filter((t) => t < btc.close.length)) {
          const state = { position: 0.5, unrealizedReturn: -0.01 };
          expect(cut.build(tau, state, new Float32Array(cut.size)), `from ${from}, τ ${tau}`).toEqual(whole.build(tau, state, new Float32Array(whole.size)));
        }
        if (from > whole.firstValidIndex) expect(() => cut.build(from - 1, FLAT_STATE, new Float32Array(cut.size))).toThrow(`builds observations from bar ${from} on`);
      }
    }
  });

  it('equals the float64 per-element formula on real bars, with window-relative and state features, every 13th bar', () => {
    const btc = readBtcBars();
    const plain = toPlain(btc);
    const features = [{ name: 'log_return', lag: 1 }, { name: 'rsi', period: 14 }, { name: 'close_rel' }, { name: 'volume_z', period: 24 }, { name: 'position' }];
    const W = 4;
    const F = features.length;
    let seed = 7;
    const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const mean = Array.from({ length: W * F }, () => rand() * 0.02 - 0.01);
    const std = Array.from({ length: W * F }, () => 0.005 + rand() * 0.5);
    const c = parseCard(
      { symbol: 'BTCUSD', timeframe: '1Hour', observation: { window: W, features, normalize: { mean, std }, clip: 8 }, action: { meanings: ['HOLD', 'BUY'] } },
      'BTCUSD_1Hour.card.json',
    );
    const b = new ObservationBuilder(c, btc);
    const state = { position: 0.4, unrealizedReturn: 0 };
    const out = new Float32Array(b.size);
    const ref: RefCard = { window: W, features };
    for (let tau = b.firstValidIndex; tau < plain.length; tau += 13) {
      b.build(tau, state, out);
      const raw = refObservation(plain.slice(0, tau + 1), ref, state)!;
      const expected = raw.map((x, k) => Math.min(8, Math.max(-8, (x - mean[k]!) / std[k]!)));
      for (let k = 0; k < b.size; k++) {
        const e = Math.fround(expected[k]!);
        if (Math.abs(out[k]! - e) > 1.2e-7 * Math.max(Math.abs(e), 1e-6)) throw new Error(`τ=${tau} ${b.locate(k).label}: ${out[k]} vs ${e}`);
      }
    }
    // Not the per-feature result: row 0 and row 3 of the same feature use different statistics.
    const perFeature = new ObservationBuilder(
      parseCard(
        { symbol: 'BTCUSD', timeframe: '1Hour', observation: { window: W, features, normalize: { mean: mean.slice(0, F), std: std.slice(0, F) }, clip: 8 }, action: { meanings: ['HOLD', 'BUY'] } },
        'x.card.json',
      ),
      btc,
    ).build(3000, state, new Float32Array(b.size));
    expect(Array.from(b.build(3000, state, out).subarray(F))).not.toEqual(Array.from(perFeature.subarray(F)));
  });
});

describe('ObservationBuilder: bounds, messages and the column cache', () => {
  it('isValid: integers from firstValidIndex to the last bar', () => {
    const b = new ObservationBuilder(card({ window: 2, features: ['return'] }), bars);
    expect(b.firstValidIndex).toBe(2);
    expect([1, 2, 7, 8, 2.5, -1].map((t) => b.isValid(t))).toEqual([false, true, true, false, false, false]);
  });

  it('build refuses an offset that is negative, fractional or leaves no room, naming the sizes', () => {
    const b = new ObservationBuilder(card({ window: 2, features: ['return'] }), bars);
    expectThrows(() => b.build(2, FLAT_STATE, new Float32Array(4), -1), 'TEST_1Hour.card.json: an observation of 2 values does not fit at offset -1 of a buffer of 4');
    expectThrows(() => b.build(2, FLAT_STATE, new Float32Array(4), 0.5), RangeError);
    expectThrows(() => b.build(2, FLAT_STATE, new Float32Array(4), 3), RangeError);
    expect(Array.from(b.build(2, FLAT_STATE, new Float32Array(4), 2))).toEqual(f32([0, 0, 0.1, 0.1]));
    expectThrows(() => b.build(-1, FLAT_STATE, new Float32Array(2)), 'TEST_1Hour.card.json: decision bar index -1 is outside the series of 8 bars');
    expectThrows(() => b.buildBatch([2, 3], new Float32Array(3)), 'TEST_1Hour.card.json: a batch of 2 observations needs 4 values, the buffer has 3');
  });

  it('an observation fills exactly its W·F values: the values around it are left as they were', () => {
    const cases: [string, PolicyCard][] = [
      [
        'column, window-relative and state features',
        card({ window: 3, features: ['return', 'close_rel', 'position', 'volume_rel', 'unrealized_return'], normalize: { mean: [0, 0, 0.1, 0, 0], std: [1, 1, 0.5, 1, 2] } }),
      ],
      // per-element statistics, the first feature not a column one
      ['per-element statistics', card({ window: 2, features: ['position', 'return', 'close_rel'], normalize: { mean: [0, 0.01, 0, 0.1, 0.02, 0], std: [1, 0.5, 1, 1, 0.25, 2] } })],
    ];
    for (const [what, c] of cases) {
      const b = new ObservationBuilder(c, bars);
      const size = b.size;
      const out = new Float32Array(size + 6).fill(123);
      b.build(5, { position: 0.5, unrealizedReturn: -0.02 }, out, 3);
      expect([...out.subarray(0, 3), ...out.subarray(3 + size)], what).toEqual([123, 123, 123, 123, 123, 123]);
      expect(
        out.subarray(3, 3 + size).every((x) => x !== 123),
        what,
      ).toBe(true);
      // and an observation that ends exactly at the end of the buffer
      const exact = new Float32Array(size + 2);
      expect(Array.from(b.build(5, { position: 0.5, unrealizedReturn: -0.02 }, exact, 2).subarray(2)), what).toEqual(Array.from(out.subarray(3, 3 + size)));
      expectThrows(() => b.build(5, FLAT_STATE, new Float32Array(size + 2), 3), `does not fit at offset 3 of a buffer of ${size + 2}`);
    }
  });

  it('per-element statistics: a column feature after a state one takes its own row statistics', () => {
    // rows: bar 4 and bar 5; return at bar 4 = 0, at bar 5 = 99/110 − 1 = −0.1
    const c = card({ window: 2, features: ['position', 'return'], normalize: { mean: [0, 0.01, 0, -0.05], std: [1, 0.5, 1, 0.25] } });
    const out = new ObservationBuilder(c, bars).build(5, { position: 0.25, unrealizedReturn: 0 }, new Float32Array(4));
    expect(Array.from(out)).toEqual(f32([0.25, (0 - 0.01) / 0.5, 0.25, (99 / 110 - 1 + 0.05) / 0.25]));
  });

  it('volume_rel alone, normalised with a mean: (v / mean(v) − 1 − mean) / std', () => {
    // bars 3, 4, 5: volumes 40, 40, 40 → 0 each; bars 5, 6, 7: 40, 10, 0 (mean 50/3)
    const c = card({ window: 3, features: ['volume_rel'], normalize: { mean: [0.2], std: [0.5] } });
    const b = new ObservationBuilder(c, bars);
    expect(Array.from(b.build(5, FLAT_STATE, new Float32Array(3)))).toEqual(f32([-0.4, -0.4, -0.4]));
    const m = 50 / 3;
    expect(Array.from(b.build(7, FLAT_STATE, new Float32Array(3)))).toEqual(f32([(40 / m - 1 - 0.2) / 0.5, (10 / m - 1 - 0.2) / 0.5, (0 / m - 1 - 0.2) / 0.5]));
    const w = new Float32Array(3);
    expect(b.buildWindowed(7, w, 0)).toBe(true);
    expect(Array.from(w)).toEqual(Array.from(b.build(7, FLAT_STATE, new Float32Array(3))));
  });

  it('a state is checked only when the card reads it; the message names both values', () => {
    const noState = new ObservationBuilder(card({ features: ['return'] }), bars);
    expect(Array.from(noState.build(1, { position: NaN, unrealizedReturn: Infinity }, new Float32Array(1)))).toEqual(f32([0.1]));
    const withState = new ObservationBuilder(card({ features: ['unrealized_return'] }), bars);
    expectThrows(
      () => withState.build(0, { position: 0, unrealizedReturn: -Infinity }, new Float32Array(1)),
      'TEST_1Hour.card.json: the state at bar 0 must be finite, got position 0, unrealized return -Infinity',
    );
  });

  it('locate: one bar before is singular; outside the observation is a RangeError', () => {
    const b = new ObservationBuilder(card({ window: 3, features: ['return', 'position'] }), bars);
    expect(b.locate(3).label).toBe('position in row 1 (1 bar before the decision bar)');
    expect(b.locate(2)).toEqual({ row: 1, feature: 0, label: 'return(lag=1) in row 1 (1 bar before the decision bar)' });
    expectThrows(() => b.locate(6), 'observation index 6 is outside 0..5');
    expectThrows(() => b.locate(-1), RangeError);
    expectThrows(() => b.locate(1.5), RangeError);
  });

  it('a bad column value matters only inside the window: the bars τ−W+1 … τ', () => {
    // close 0 at bar 2: log_return is −Infinity at bar 2 and +Infinity at bar 3, finite elsewhere
    const bad = hourlyFromCloses([100, 110, 0, 121, 110, 99]);
    const b = new ObservationBuilder(card({ window: 2, features: [{ name: 'log_return' }] }), bad);
    expect(Array.from(b.build(5, FLAT_STATE, new Float32Array(2)))).toEqual(f32([Math.log(110 / 121), Math.log(99 / 110)]));
    expectThrows(() => b.build(4, FLAT_STATE, new Float32Array(2)), 'feature log_return(lag=1) is Infinity at bar 2024-01-01T03:00:00.000Z in the observation for 2024-01-01T04:00:00.000Z');
    expectThrows(
      () => b.build(2, FLAT_STATE, new Float32Array(2)),
      'feature log_return(lag=1) is -Infinity at bar 2024-01-01T02:00:00.000Z in the observation for 2024-01-01T02:00:00.000Z; check the bars for zero or missing prices or volumes',
    );
  });

  it('a window-relative feature divided by a zero decision close is an error naming it', () => {
    const zero = hourlyFromCloses([100, 110, 0]);
    const b = new ObservationBuilder(card({ window: 2, features: ['close_rel', 'volume_rel'] }), zero);
    expectThrows(() => b.build(2, FLAT_STATE, new Float32Array(4)), /feature close_rel is Infinity at bar 2024-01-01T01:00:00\.000Z in the observation for 2024-01-01T02:00:00\.000Z/);
  });

  it('a bar without a finite time is named by its index', () => {
    const odd = hourlyFromCloses([100, 0, 100]);
    const times = Float64Array.from(odd.time);
    times[1] = NaN;
    const b = new ObservationBuilder(card({ features: [{ name: 'log_return' }] }), { ...odd, time: times });
    expectThrows(() => b.build(1, FLAT_STATE, new Float32Array(1)), 'feature log_return(lag=1) is -Infinity at bar #1 in the observation for #1');
  });

  it('clips window-relative and state values on both sides', () => {
    const c = card({ window: 2, features: ['close_rel', 'position', 'volume_rel'], clip: 0.05 });
    // τ = 3: closes 121, 110 → close_rel 0.1 (clipped to 0.05), 0; volumes 30, 40 → mean 35: −1/7 (clipped), 1/7 (clipped)
    const out = new ObservationBuilder(c, bars).build(3, { position: -0.5, unrealizedReturn: 0 }, new Float32Array(6));
    expect(Array.from(out)).toEqual(f32([0.05, -0.05, -0.05, 0, -0.05, 0.05]));
    const up = new ObservationBuilder(c, bars).build(3, { position: 0.02, unrealizedReturn: 0 }, new Float32Array(6));
    expect(Array.from(up)).toEqual(f32([0.05, 0.02, -0.05, 0, 0.02, 0.05]));
  });

  it('columns follow a series changed in place (the cache compares the bars bit for bit)', () => {
    const series = hourlyFromCloses([100, 110, 121, 110]);
    const c = card({ window: 1, features: ['return'] });
    expect(Array.from(new ObservationBuilder(c, series).build(3, FLAT_STATE, new Float32Array(1)))).toEqual(f32([110 / 121 - 1]));
    series.close[3] = 133.1;
    expect(Array.from(new ObservationBuilder(c, series).build(3, FLAT_STATE, new Float32Array(1)))).toEqual(f32([133.1 / 121 - 1]));
    // −0 and +0 are different bits: a volume changed from 0 to −0 is a change too (no value depends on it here)
    series.volume[0] = -0;
    expect(Array.from(new ObservationBuilder(c, series).build(3, FLAT_STATE, new Float32Array(1)))).toEqual(f32([133.1 / 121 - 1]));
    // the same object grown by a bar (fields replaced by longer arrays): its columns are recomputed
    const grown = hourlyFromCloses([100, 110, 121, 110, 99]);
    const mutable = series as { -readonly [K in keyof typeof series]: (typeof series)[K] };
    for (const k of ['time', 'open', 'high', 'low', 'close', 'volume'] as const) mutable[k] = grown[k];
    const b = new ObservationBuilder(c, series);
    expect(b.length).toBe(5);
    expect(Array.from(b.build(4, FLAT_STATE, new Float32Array(1)))).toEqual(f32([-0.1]));
    // and shrunk back
    const shrunk = hourlyFromCloses([100, 110, 121]);
    for (const k of ['time', 'open', 'high', 'low', 'close', 'volume'] as const) mutable[k] = shrunk[k];
    expect(Array.from(new ObservationBuilder(c, series).build(2, FLAT_STATE, new Float32Array(1)))).toEqual(f32([0.1]));
  });

  it('builders on the same unchanged series share their columns; a change of any bit, anywhere, is recomputed', () => {
    const c = card({ window: 2, features: ['return', 'range', 'close_rel'] });
    const series = hourlyFromCloses([100, 110, 121, 110, 99]);
    const first = new ObservationBuilder(c, series).featureColumns();
    expect(first[2]).toBeNull();
    const again = new ObservationBuilder(c, series).featureColumns();
    expect(again[0]).toBe(first[0]);
    expect(again[1]).toBe(first[1]);
    // One bit of the first field's first value, of the last field's last value, and of a middle one.
    const flips: [keyof typeof series & ('time' | 'open' | 'high' | 'low' | 'close' | 'volume'), number][] = [
      ['time', 0],
      ['volume', 4],
      ['low', 2],
    ];
    let previous = again;
    for (const [field, i] of flips) {
      const x = series[field] as Float64Array;
      const words = new Uint32Array(x.buffer, x.byteOffset, x.length * 2);
      words[2 * i] ^= 1; // the lowest mantissa bit
      const changed = new ObservationBuilder(c, series).featureColumns();
      expect(changed[0], `${field}[${i}]`).not.toBe(previous[0]);
      expect(new ObservationBuilder(c, series).featureColumns()[0], `${field}[${i}] again`).toBe(changed[0]);
      previous = changed;
    }
    // Only the most recent series keeps its columns: after another one, the first is recomputed.
    const other = hourlyFromCloses([1, 2, 3]);
    new ObservationBuilder(c, other).featureColumns();
    expect(new ObservationBuilder(c, series).featureColumns()[0]).not.toBe(previous[0]);
  });

  it('a builder on another series does not serve the first one stale columns', () => {
    const c = card({ window: 1, features: ['return'] });
    const a = hourlyFromCloses([100, 110]);
    const b = hourlyFromCloses([100, 90]);
    expect(Array.from(new ObservationBuilder(c, a).build(1, FLAT_STATE, new Float32Array(1)))).toEqual(f32([0.1]));
    expect(Array.from(new ObservationBuilder(c, b).build(1, FLAT_STATE, new Float32Array(1)))).toEqual(f32([-0.1]));
    expect(Array.from(new ObservationBuilder(c, a).build(1, FLAT_STATE, new Float32Array(1)))).toEqual(f32([0.1]));
  });
});

describe('ObservationBuilder: the error path names the first bad value', () => {
  it('each window-relative price feature over a zero decision close is named', () => {
    const zero = hourlyFromCloses([100, 110, 0]);
    for (const name of ['open_rel', 'high_rel', 'low_rel', 'close_rel'] as const) {
      const b = new ObservationBuilder(card({ window: 2, features: [name] }), zero);
      // bar 1 (the older row) is the first value read: its price over a close of 0
      expectThrows(
        () => b.build(2, FLAT_STATE, new Float32Array(2)),
        `TEST_1Hour.card.json: feature ${name} is Infinity at bar 2024-01-01T01:00:00.000Z in the observation for 2024-01-01T02:00:00.000Z`,
      );
    }
  });

  it('a non-finite open, high or low alone is named by its own feature', () => {
    for (const [field, name] of [
      ['open', 'open_rel'],
      ['high', 'high_rel'],
      ['low', 'low_rel'],
    ] as const) {
      const series = hourlyFromCloses([100, 110, 121, 110]);
      (series[field] as Float64Array)[2] = Number.NaN;
      const b = new ObservationBuilder(card({ window: 2, features: ['open_rel', 'high_rel', 'low_rel'].filter((f) => f !== name).concat(name) }), series);
      expectThrows(() => b.build(3, FLAT_STATE, new Float32Array(6)), `feature ${name} is NaN at bar 2024-01-01T02:00:00.000Z`);
    }
  });

  it('a zero-volume window gives volume_rel 0, so a bad value after it in the row is the one named', () => {
    const series = hourlyFromCloses([100, 110, 0, 121], [0, 0, 0, 0]);
    const b = new ObservationBuilder(card({ window: 2, features: ['volume_rel', 'log_return'] }), series);
    expectThrows(() => b.build(2, FLAT_STATE, new Float32Array(4)), 'feature log_return(lag=1) is -Infinity at bar 2024-01-01T02:00:00.000Z');
  });

  it('volume_rel over a window holding a non-finite volume is named', () => {
    const b = new ObservationBuilder(card({ window: 2, features: ['return', 'volume_rel'] }), hourlyFromCloses([100, 110, 121], [1, NaN, 2]));
    expectThrows(() => b.build(2, FLAT_STATE, new Float32Array(4)), 'feature volume_rel is NaN at bar 2024-01-01T01:00:00.000Z');
  });

  it('a state feature beside a bad column: the column is named, the state is not', () => {
    const bad = hourlyFromCloses([100, 0, 100]);
    const b = new ObservationBuilder(card({ window: 1, features: ['position', 'unrealized_return', { name: 'log_return' }] }), bad);
    expectThrows(() => b.build(1, { position: 0.5, unrealizedReturn: 0.1 }, new Float32Array(3)), 'feature log_return(lag=1) is -Infinity');
  });

  it('a non-finite feature graph value points at the graph', () => {
    const graphed = { ...bars, graph: { file: 'feat.onnx', sha256: 'x', columns: [Float64Array.from([NaN, 1, 2, NaN, 4, 5, 6, 7])] } };
    const c = card({ window: 2, features: ['return'] });
    const graphCard = { ...c, observation: { ...c.observation, features: [{ name: 'graph' as const, column: 0, window: 1 }] } };
    const b = new ObservationBuilder(graphCard, graphed);
    expect(Array.from(b.build(5, FLAT_STATE, new Float32Array(2)))).toEqual([4, 5]);
    expectThrows(
      () => b.build(4, FLAT_STATE, new Float32Array(2)),
      "TEST_1Hour.card.json: feature graph(column=0) is NaN at bar 2024-01-01T03:00:00.000Z in the observation for 2024-01-01T04:00:00.000Z; the feature graph feat.onnx returned it for that bar's window; check the graph on those bars (a division by zero, a log of a non-positive value, a statistic of too few values)",
    );
  });
});
