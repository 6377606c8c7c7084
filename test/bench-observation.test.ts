/**
 * The fast observation path (precomputed normalised rows copied as one slice, per-decision features
 * written over them, feature columns shared per BarSeries) must give bit-identical observations to
 * computing every value per decision, as the builder did before the benchmark work (docs/performance.md).
 */
import { describe, expect, it } from 'vitest';
import { parseCard, type PolicyCard } from '../src/core/card.js';
import { computeFeatureColumn, featureKind, type FeatureSpec } from '../src/core/features.js';
import { ObservationBuilder, type ObservationState } from '../src/core/observation.js';
import type { BarSeries } from '../src/core/types.js';
import { benchFeatures } from '../src/devtools/bench-archive.js';
import { mulberry32 } from '../src/devtools/onnx-writer.js';
import { readBtcBars } from './reference/bars.js';

/** Every value computed per decision, in float64, rounded once to float32: the definition. */
function definition(card: PolicyCard, bars: BarSeries, tau: number, state: ObservationState, columns = card.observation.features.map((f) => computeFeatureColumn(bars, f))): Float32Array {
  const { window: W, features, normalize, clip } = card.observation;
  const F = features.length;
  const out = new Float32Array(W * F);
  const dc = bars.close[tau]!;
  let vsum = 0;
  for (let i = tau - W + 1; i <= tau; i++) vsum += bars.volume[i]!;
  const vmean = vsum / W;
  const c = clip ?? Infinity;
  for (let r = 0; r < W; r++) {
    const i = tau - W + 1 + r;
    features.forEach((f: FeatureSpec, k) => {
      let x: number;
      switch (f.name) {
        case 'open_rel':
          x = bars.open[i]! / dc - 1;
          break;
        case 'high_rel':
          x = bars.high[i]! / dc - 1;
          break;
        case 'low_rel':
          x = bars.low[i]! / dc - 1;
          break;
        case 'close_rel':
          x = bars.close[i]! / dc - 1;
          break;
        case 'volume_rel':
          x = vmean === 0 ? 0 : bars.volume[i]! / vmean - 1;
          break;
        case 'position':
          x = state.position;
          break;
        case 'unrealized_return':
          x = state.unrealizedReturn;
          break;
        default:
          x = columns[k]![i]!;
      }
      x = (x - (normalize?.mean[k] ?? 0)) / (normalize?.std[k] ?? 1);
      out[r * F + k] = x > c ? c : x < -c ? -c : x;
    });
  }
  return out;
}

function benchCard(index: number, window: number, positionAware: boolean, clip: number | undefined): PolicyCard {
  const features = benchFeatures(index, 59, positionAware);
  const rand = mulberry32(index + 1);
  return parseCard(
    {
      symbol: 'BTCUSD',
      timeframe: '1Hour',
      observation: {
        window,
        features,
        normalize: { mean: features.map(() => rand() * 0.02 - 0.01), std: features.map(() => 0.002 + rand() * 0.2) },
        ...(clip === undefined ? {} : { clip }),
      },
      action: { meanings: ['HOLD', 'BUY', 'SELL'] },
    },
    'bench.card.json',
    {},
  );
}

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('ObservationBuilder fast path', () => {
  const btc = readBtcBars();

  it('is bit-identical to the per-value definition (bench-sized cards, random states, with and without clip)', () => {
    const rand = mulberry32(99);
    let checked = 0;
    for (const [index, window, positionAware, clip] of [
      [0, 100, true, 5],
      [1, 100, false, undefined],
      [2, 7, true, undefined],
      [3, 1, true, 3],
    ] as const) {
      const card = benchCard(index, window, positionAware, clip);
      const builder = new ObservationBuilder(card, btc);
      expect(builder.usesState).toBe(positionAware);
      const out = new Float32Array(builder.size + 10);
      const columns = card.observation.features.map((f) => computeFeatureColumn(btc, f));
      for (let tau = builder.firstValidIndex; tau < btc.close.length; tau += 97) {
        const state = { position: rand() * 2 - 1, unrealizedReturn: (rand() - 0.5) * 0.4 };
        builder.build(tau, state, out, 10);
        expect(bits(out.subarray(10))).toEqual(bits(definition(card, btc, tau, state, columns)));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(200);
  });

  it('buildBatch equals build, observation by observation', () => {
    const card = benchCard(4, 100, false, 5);
    const builder = new ObservationBuilder(card, btc);
    const taus = [builder.firstValidIndex, 1000, 1001, 5000, btc.close.length - 1];
    const batch = builder.buildBatch(taus, new Float32Array(taus.length * builder.size));
    taus.forEach((tau, k) => {
      const one = builder.build(tau, { position: 0, unrealizedReturn: 0 }, new Float32Array(builder.size));
      expect(bits(batch.subarray(k * builder.size, (k + 1) * builder.size))).toEqual(bits(one));
    });
  });

  it('shares feature columns between builders on the same bars, and recomputes them after the bars change in place', () => {
    const bars = readBtcBars();
    const card = benchCard(5, 10, true, undefined);
    expect(card.observation.features.some((f) => featureKind(f) === 'column')).toBe(true);
    const tau = 3000;
    const state = { position: 0.5, unrealizedReturn: 0.01 };
    const first = new ObservationBuilder(card, bars).build(tau, state, new Float32Array(100 * 59));
    const again = new ObservationBuilder(card, bars).build(tau, state, new Float32Array(100 * 59));
    expect(bits(again)).toEqual(bits(first));
    // Change a bar inside the window in place: a new builder must see it (no stale cached column).
    (bars.close as Float64Array)[tau - 3] *= 1.05;
    const changed = new ObservationBuilder(card, bars);
    const out = changed.build(tau, state, new Float32Array(changed.size));
    expect(bits(out)).toEqual(bits(definition(card, bars, tau, state)));
    expect(bits(out)).not.toEqual(bits(first.subarray(0, changed.size)));
  });

  it('a non-finite value is the same error as before: the first one in row, feature order', () => {
    const bars = readBtcBars();
    (bars.close as Float64Array)[2000] = 0;
    (bars.open as Float64Array)[2003] = Number.NaN;
    const card = benchCard(6, 5, true, undefined);
    const builder = new ObservationBuilder(card, bars);
    const state = { position: 0, unrealizedReturn: 0 };
    expect(() => builder.build(2001, state, new Float32Array(builder.size))).toThrow(/is (-?Infinity|NaN) at bar/);
    expect(() => builder.build(2003, state, new Float32Array(builder.size))).toThrow(/at bar 2024-/);
    // Well clear of the bad bars (longest span 4 × 48), observations are unaffected.
    const far = 2400;
    expect(bits(builder.build(far, state, new Float32Array(builder.size)))).toEqual(bits(definition(card, bars, far, state)));
  });
});
