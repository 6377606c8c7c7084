/**
 * Features of another symbol's bars (feature param `symbol`), aligned by time as of each decision bar:
 * the other symbol's value at its last bar starting at or before the decision bar, every missing bar
 * reported as a data-quality note, and the look-ahead audit still holding.
 *
 * The second symbol's bars are the real BTC-USD hours of examples/data, scaled (×0.05, so they are not
 * the primary's prices) and with bars removed at known times — a second real-shaped series whose gaps
 * are known exactly.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateModel, type BarsProvider } from '../src/app/evaluate.js';
import { loadPolicyModel } from '../src/adapters/onnx/session.js';
import { shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { defaultConfig } from '../src/config/schema.js';
import { parseCard } from '../src/core/card.js';
import { computeFeatureColumn, featureLabel, otherSymbolGaps } from '../src/core/features.js';
import { auditLookahead, sampleBars, truncateSeries } from '../src/core/lookahead.js';
import { FLAT_STATE, ObservationBuilder } from '../src/core/observation.js';
import type { BarSeries } from '../src/core/types.js';
import { buildMlp, mulberry32 } from '../src/devtools/onnx-writer.js';
import { modelReport } from './helpers/evaluation.js';
import { readBtcBars } from './reference/bars.js';

afterAll(async () => {
  await shutdownOrtHost();
});

const btc = readBtcBars();
/** Bar indices of btc that ETHUSD lacks. */
const REMOVED = [3000, 3001, 4500, 6000];

function eth(): BarSeries {
  const keep = Array.from(btc.time.keys()).filter((i) => !REMOVED.includes(i));
  const pick = (x: Float64Array, scale = 1) => Float64Array.from(keep, (i) => x[i]! * scale);
  return {
    symbol: 'ETHUSD',
    timeframe: '1Hour',
    time: pick(btc.time),
    open: pick(btc.open, 0.05),
    high: pick(btc.high, 0.05),
    low: pick(btc.low, 0.05),
    close: pick(btc.close, 0.05),
    volume: pick(btc.volume, 3),
  };
}

const FEATURES = [
  { name: 'log_return', lag: 1 },
  { name: 'rsi', period: 14 },
  { name: 'log_return', lag: 1, symbol: 'ETHUSD' },
  { name: 'volume_z', period: 24, symbol: 'ETHUSD' },
  { name: 'position' },
];
const cardJson = (): Record<string, unknown> => ({
  symbol: 'BTCUSD',
  timeframe: '1Hour',
  observation: { window: 2, features: FEATURES, clip: 10 },
  action: { meanings: ['HOLD', 'BUY', 'SELL'] },
});

describe('a feature of another symbol', () => {
  const other = eth();
  const bars: BarSeries = { ...btc, others: { ETHUSD: other } };
  const card = parseCard(cardJson(), 'BTCUSD_1Hour.card.json');
  const spec = card.observation.features[2]!;

  it('is labelled with its symbol and computed on that symbol’s bars, as of each bar time', () => {
    expect(featureLabel(spec)).toBe('log_return(lag=1, symbol=ETHUSD)');
    const col = computeFeatureColumn(bars, spec)!;
    const own = computeFeatureColumn(other, { name: 'log_return', lag: 1 })!;
    // ETH index = btc index below 3000, btc index − 2 from 3002 to 4499, − 3 from 4501 on.
    expect(col[2000]).toBe(own[2000]); // an aligned bar: ETH's own value at the same time
    // After the gap, ETH's bar at btc 3002 is its bar 3000; its one-bar log return spans the gap.
    expect(col[3002]).toBe(own[3000]);
    expect(own[3000]).toBe(Math.log(other.close[3000]! / other.close[2999]!));
    // Missing bars: the value of ETH's last bar before them (btc 2999 = ETH 2999; btc 4499 = ETH 4497).
    expect(col[3000]).toBe(own[2999]);
    expect(col[3001]).toBe(own[2999]);
    expect(col[4500]).toBe(own[4497]);
    expect(col[4501]).toBe(own[4498]);
    expect(otherSymbolGaps(btc, other)).toEqual(REMOVED);
  });

  it('refuses to compute without the other symbol’s bars, naming it', () => {
    expect(() => computeFeatureColumn(btc, spec)).toThrow("feature log_return(lag=1, symbol=ETHUSD) reads ETHUSD, whose bars were not fetched with BTCUSD's");
  });

  it('truncating at τ cuts the other symbol too, and the look-ahead audit finds nothing', async () => {
    const cut = truncateSeries(bars, 3000);
    expect(cut.others!.ETHUSD!.time.at(-1)).toBe(btc.time[2999]); // ETH has no bar at 3000
    const builder = new ObservationBuilder(card, bars);
    const taus = sampleBars(builder.firstValidIndex, btc.time.length - 1, 64, mulberry32(5));
    const audit = await auditLookahead(bars, builder, (x) => new ObservationBuilder(card, x), [...taus, 3000, 3001, 3002, 4500], { samples: 68, seed: 5, state: FLAT_STATE });
    expect(audit.checked).toBe(68);
    expect(audit.mismatches).toBe(0);
    expect(audit.historyDependent).toBe(0);
  });

  it('rejects a malformed symbol, naming the key', () => {
    const bad = cardJson();
    (bad['observation'] as { features: unknown[] }).features = [{ name: 'log_return', symbol: 'ETH USD' }];
    expect(() => parseCard(bad, 'c.card.json')).toThrow('observation.features[0].symbol must be a symbol such as "ETHUSD"');
    (bad['observation'] as { features: unknown[] }).features = [{ name: 'position', symbol: 'ETHUSD' }];
    expect(() => parseCard(bad, 'c.card.json')).toThrow('observation.features[0].symbol is not a parameter of position');
  });
});

describe('evaluateModel fetches every symbol the card needs', () => {
  it('both symbols come from the data source; missing bars are data-quality notes; both evaluation paths agree', async () => {
    const asked: string[] = [];
    const getBars: BarsProvider = async (req) => {
      asked.push(req.symbol);
      return { bars: req.symbol === 'ETHUSD' ? eth() : btc, notes: [] };
    };
    const mlp = buildMlp({ inputDim: 2 * FEATURES.length, hidden: [16], outputs: 3, seed: 11 });
    const reports = [];
    for (const drive of ['model', 'here'] as const) {
      const model = await loadPolicyModel(mlp.bytes, { device: 'cpu', label: 'BTCUSD_1Hour.onnx' });
      const report = modelReport('BTCUSD_1Hour', '1Hour');
      try {
        await evaluateModel(report, model, cardJson(), 'BTCUSD_1Hour.card.json', getBars, {
          config: defaultConfig(),
          endMs: Date.parse('2024-09-10T00:00:00Z'),
          backtestDays: 30,
          walkForward: { days: 150, folds: 3 },
          equityOut: null,
          log: () => {},
          drive,
        });
      } finally {
        await model.release();
      }
      reports.push(report);
    }
    expect(asked).toEqual(['BTCUSD', 'ETHUSD', 'BTCUSD', 'ETHUSD']);
    const [inHost, here] = reports;
    expect(inHost!.errors).toEqual([]);
    // In the onnxruntime process the position-aware MLP runs with its first layer split; the report says so.
    const { inference, ...hostReport } = inHost!;
    expect(inference?.path).toBe('split');
    expect(hostReport).toEqual(here);
    expect(inHost!.dataQuality).toContainEqual({
      kind: 'gap',
      count: 4,
      at: new Date(btc.time[3000]!).toISOString(),
      message: `ETHUSD has no bar at 4 of the ${btc.time.length} BTCUSD bar times (first ${[3000, 3001, 4500].map((i) => new Date(btc.time[i]!).toISOString()).join(', ')}); the features of ETHUSD there use its last bar before that time (never a later one)`,
    });
    expect(inHost!.evidence!.lookahead!.mismatches).toBe(0);
    expect(inHost!.evidence!.lookahead!.checked).toBeGreaterThan(0);
  });
});
