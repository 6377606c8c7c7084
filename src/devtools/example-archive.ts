/**
 * The bundled example: a training archive shaped like the training code's Colab export
 * (`Alpaca_trading_trained_<RUN_ID>.zip`) holding real ONNX policies written by our own ONNX writer,
 * their policy cards, a checkpoint, a PyTorch file, a manifest and a training summary with every
 * gating case; plus 2Hour/4Hour/1Day bars aggregated from the vendored real BTC hourly bars.
 *
 * The policies are small hand-designed networks (a trend follower, an RSI mean-reverter, a recurrent
 * continuous allocator) with seeded noise weights, so they behave like trained MLPs but are
 * reproducible byte for byte. Their training metrics are illustrative, not the outcome of training.
 */
import { zipSync } from 'fflate';
import { parseCard } from '../core/card.js';
import { ObservationBuilder, FLAT_STATE } from '../core/observation.js';
import type { BarSeries, Timeframe } from '../core/types.js';
import { readBarsCsv, resampleBars, writeBarsCsv } from '../adapters/bars/csv.js';
import { buildMlp, buildRecurrent, mlpForward, mulberry32, rnnForward, type DenseLayer } from './onnx-writer.js';
import { sha256, stableStringify } from '../util/hash.js';

export const RUN_ID = '20240911_120000';
export const ARCHIVE_NAME = `Alpaca_trading_trained_${RUN_ID}.zip`;
const ROOT = 'Alpaca_trading';
const MODELS = 'models/rl_symbols';

/** A fixed file time, so the zip is byte-identical on every machine. */
const MTIME = new Date('2024-09-11T12:00:00Z');

function noise(rand: () => number, rows: number, cols: number, scale: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => (rand() * 2 - 1) * scale));
}

/** Dense layers for a policy whose first hidden unit reads a chosen signal and whose logits follow it. */
function designedMlp(opts: {
  inputs: number;
  hidden: number;
  signal: Record<number, number>;
  /** Logit weights on hidden unit 0, per action; and biases. */
  head: number[];
  bias: number[];
  /** Extra logit weight on an input feature (e.g. position, for hysteresis), per action. */
  seed: number;
}): DenseLayer[] {
  const rand = mulberry32(opts.seed);
  const W1 = noise(rand, opts.inputs, opts.hidden, 0.05);
  for (const [i, w] of Object.entries(opts.signal)) W1[Number(i)]![0] = w;
  const b1 = Array.from({ length: opts.hidden }, () => (rand() * 2 - 1) * 0.05);
  b1[0] = 0;
  const A = opts.head.length;
  const W2 = noise(rand, opts.hidden, A, 0.05);
  for (let a = 0; a < A; a++) W2[0]![a] = opts.head[a]!;
  return [
    { W: W1, b: b1 },
    { W: W2, b: [...opts.bias] },
  ];
}

function round(x: number): number {
  return Number(x.toPrecision(7));
}

interface ExampleFile {
  path: string;
  bytes: Uint8Array;
}

const enc = (text: string): Uint8Array => new TextEncoder().encode(text);
const json = (value: unknown): Uint8Array => enc(JSON.stringify(value, null, 2) + '\n');

export interface ExampleOutput {
  /** The zip's bytes. */
  archive: Uint8Array;
  /** Derived bar files: name → CSV text. */
  bars: Record<string, string>;
}

/** Build the example from the vendored BTCUSD_1Hour.csv text. Pure and deterministic. */
export function buildExample(btcHourlyCsv: string): ExampleOutput {
  const hourly = readBarsCsv(btcHourlyCsv, { symbol: 'BTCUSD', timeframe: '1Hour', file: 'BTCUSD_1Hour.csv' }).bars;
  const series: Record<Timeframe, BarSeries> = {
    '1Hour': hourly,
    '2Hour': resampleBars(hourly, '2Hour'),
    '4Hour': resampleBars(hourly, '4Hour'),
    '1Day': resampleBars(hourly, '1Day'),
  } as Record<Timeframe, BarSeries>;
  const files: ExampleFile[] = [];
  const add = (path: string, bytes: Uint8Array): void => {
    files.push({ path: `${ROOT}/${path}`, bytes });
  };

  // ---- BTCUSD_1Hour: trend follower, window 1, the SPEC's example feature set. APPROVED.
  const trendCard = {
    schema: 'policy-card/1',
    symbol: 'BTCUSD',
    timeframe: '1Hour',
    asset_class: 'crypto',
    input: 'obs',
    observation: {
      window: 1,
      features: [
        { name: 'log_return', lag: 1 },
        { name: 'log_return', lag: 24 },
        { name: 'volatility', period: 24 },
        { name: 'rsi', period: 14 },
        { name: 'sma_ratio', period: 50 },
        { name: 'volume_z', period: 24 },
        { name: 'hour_sin' },
        { name: 'hour_cos' },
        { name: 'position' },
      ],
      normalize: { mean: [0, 0, 0.005, 0.5, 0, 0, 0, 0, 0], std: [0.01, 0.05, 0.005, 0.15, 0.03, 1, 1, 1, 1] },
      clip: 10,
    },
    action: { type: 'discrete', output: 'logits', output_kind: 'logits', meanings: ['HOLD', 'BUY', 'SELL'], min_confidence: 0 },
    execution: { long_only: true, max_exposure: 1.0 },
  };
  // Hidden unit 0 = tanh(1.2·z(sma_ratio 50) + 0.8·z(log_return 24)); BUY/SELL follow it, HOLD has a bias (dead zone),
  // and the position input adds hysteresis through hidden unit 1.
  const trendLayers = designedMlp({ inputs: 9, hidden: 8, signal: { 4: 1.2, 1: 0.8 }, head: [0, 3, -3], bias: [0.9, 0, 0], seed: 11 });
  trendLayers[0]!.W[8]![1] = 1.5;
  trendLayers[1]!.W[1]! = [0, 1.2, -1.2];
  const trend = buildMlp({
    inputName: 'obs',
    inputDim: 9,
    hidden: [8],
    outputs: 3,
    activation: 'tanh',
    outputName: 'logits',
    weights: trendLayers,
    metadata: { model_version: '2.4.5', symbol: 'BTCUSD', timeframe: '1Hour' },
  });
  addPolicy('BTCUSD_1Hour', trendCard, trend.bytes, (obs) => Array.from(mlpForward(trend.net, obs).output), series['1Hour']);

  // ---- BTCUSD_4Hour: buys dips below the 48-bar average, window 3 fed as a rank-3 tensor. REVIEW.
  const revCard = {
    schema: 'policy-card/1',
    symbol: 'BTCUSD',
    timeframe: '4Hour',
    asset_class: 'crypto',
    input: 'obs',
    observation: {
      window: 3,
      features: [{ name: 'return', lag: 1 }, { name: 'rsi', period: 14 }, { name: 'sma_ratio', period: 48 }, { name: 'range' }, { name: 'body' }, { name: 'dow_sin' }, { name: 'dow_cos' }],
      normalize: { mean: [0, 0.5, 0, 0.02, 0, 0, 0], std: [0.02, 0.15, 0.03, 0.02, 0.02, 1, 1] },
      clip: 8,
    },
    action: { type: 'discrete', output: 'logits', meanings: ['HOLD', 'BUY', 'SELL', 'CLOSE'], min_confidence: 0.3 },
    execution: { long_only: true, max_exposure: 1.0 },
  };
  // Hidden unit 0 = tanh(−z(sma_ratio 48) of the newest row, index 2·7 + 2 = 16): BUY beyond 2 std below the
  // average, SELL (flat, long-only) beyond 2 std above it; the HOLD bias 3·tanh(2) sets that threshold.
  const revLayers = designedMlp({ inputs: 21, hidden: 6, signal: { 16: -1.0 }, head: [0, 3, -3, 0], bias: [3 * Math.tanh(2), 0, 0, -4], seed: 23 });
  const rev = buildMlp({ inputName: 'obs', hidden: [6], outputs: 4, activation: 'tanh', outputName: 'logits', weights: revLayers, rank3: { window: 3, features: 7 } });
  addPolicy('BTCUSD_4Hour', revCard, rev.bytes, (obs) => Array.from(mlpForward(rev.net, obs).output), series['4Hour']);

  // ---- BTCUSD_2Hour: the final model drifted (seeded noise weights); checkpoint 3, the fitness peak, buys dips below
  // the 96-bar EMA. Both share the observation layout; each has its own card (golden vectors belong to one model).
  const tf2Features = trendCard.observation.features.map((f) => (f.name === 'sma_ratio' ? { name: 'ema_ratio', period: 96 } : f));
  const tf2Card = { ...trendCard, timeframe: '2Hour', observation: { ...trendCard.observation, features: tf2Features } };
  const drifted = buildMlp({ inputName: 'obs', inputDim: 9, hidden: [8], outputs: 3, activation: 'tanh', outputName: 'logits', seed: 2024 });
  addPolicy('BTCUSD_2Hour', tf2Card, drifted.bytes, (obs) => Array.from(mlpForward(drifted.net, obs).output), series['2Hour']);
  const cpLayers = designedMlp({ inputs: 9, hidden: 8, signal: { 4: -1.0 }, head: [0, 3, -3], bias: [3 * Math.tanh(1.5), 0, 0], seed: 31 });
  const cp = buildMlp({ inputName: 'obs', inputDim: 9, hidden: [8], outputs: 3, activation: 'tanh', outputName: 'logits', weights: cpLayers });
  addPolicy('BTCUSD_2Hour_3', tf2Card, cp.bytes, (obs) => Array.from(mlpForward(cp.net, obs).output), series['2Hour'], `${MODELS}/checkpoints`);

  // ---- BTCUSD_1Day: recurrent continuous allocator with position state; trained into the window (IN_SAMPLE_OVERLAP).
  const rnnCard = {
    schema: 'policy-card/1',
    symbol: 'BTCUSD',
    timeframe: '1Day',
    asset_class: 'crypto',
    input: 'obs',
    observation: {
      window: 1,
      features: [{ name: 'log_return', lag: 1 }, { name: 'log_return', lag: 7 }, { name: 'sma_ratio', period: 20 }, { name: 'position' }, { name: 'unrealized_return' }],
      normalize: { mean: [0, 0, 0, 0, 0], std: [0.03, 0.08, 0.08, 1, 0.1] },
      clip: 6,
    },
    action: { type: 'continuous', output: 'action' },
    execution: { long_only: true, max_exposure: 0.8, rebalance_band: 0.1 },
    state: [{ input: 'h_in', output: 'h_out' }],
  };
  const rand = mulberry32(47);
  const H = 4;
  const Wx = noise(rand, 5, H, 0.05);
  Wx[2]![0] = 1.5;
  Wx[1]![0] = 0.7;
  const Wh = noise(rand, H, H, 0.05);
  Wh[0]![0] = 0.5;
  const rnn = buildRecurrent({
    features: 5,
    hidden: H,
    actions: 1,
    outputName: 'action',
    weights: { Wx, Wh, b: [0, 0, 0, 0], Wo: [[1.2], [0.05], [-0.05], [0.02]], bo: [0.2] },
  });
  addPolicy('BTCUSD_1Day', rnnCard, rnn.bytes, (obs) => Array.from(rnnForward(rnn.weights, obs, new Array<number>(H).fill(0)).logits), series['1Day']);

  // ---- Models that gating stops before any backtest.
  const eth = buildMlp({ inputName: 'obs', inputDim: 9, hidden: [8], outputs: 3, seed: 7 });
  add(`${MODELS}/ETHUSD_1Hour.onnx`, eth.bytes);
  const sol = buildMlp({ inputName: 'obs', inputDim: 9, hidden: [8], outputs: 3, seed: 8 });
  add(`${MODELS}/SOLUSD_1Hour.onnx`, sol.bytes);
  add(`${MODELS}/UNIUSD_1Hour.pt`, enc('placeholder for a PyTorch checkpoint (torch.save output); policy-gate never loads .pt files, it asks for an ONNX export\n'));

  const summary = {
    run_id: RUN_ID,
    trainer: 'NativePPO (GPU)',
    model_version: '2.4.5',
    validation_interval: 20,
    symbols: {
      BTCUSD_1Hour: {
        timeframe: '1Hour',
        model: `${MODELS}/BTCUSD_1Hour.onnx`,
        train_start: '2021-01-01T00:00:00Z',
        train_end: '2023-12-31T23:00:00Z',
        metrics: {
          fitness_score: [0.42, 0.58, 0.66, 0.71, 0.74],
          profit_factor: [1.3, 1.55, 1.72, 1.84, 1.91],
          consistency: [0.7, 0.79, 0.84, 0.87, 0.88],
          max_drawdown: [0.11, 0.09, 0.08, 0.07, 0.065],
        },
      },
      BTCUSD_4Hour: {
        timeframe: '4Hour',
        model: `${MODELS}/BTCUSD_4Hour.onnx`,
        train_start: '2021-01-01T00:00:00Z',
        train_end: '2023-12-31T20:00:00Z',
        metrics: {
          fitness_score: [0.31, 0.45, 0.52, 0.58, 0.61],
          profit_factor: [1.1, 1.28, 1.41, 1.5, 1.52],
          consistency: [0.6, 0.66, 0.71, 0.74, 0.75],
          max_drawdown: [0.16, 0.14, 0.12, 0.11, 0.1],
        },
      },
      BTCUSD_2Hour: {
        timeframe: '2Hour',
        model: `${MODELS}/BTCUSD_2Hour.onnx`,
        train_start: '2021-01-01T00:00:00Z',
        train_end: '2023-12-31T22:00:00Z',
        metrics: {
          fitness_score: [0.4, 0.61, 0.72, 0.81, 0.77, 0.72],
          profit_factor: [1.4, 1.7, 1.85, 2.0, 1.93, 1.86],
          consistency: [0.72, 0.83, 0.87, 0.9, 0.88, 0.86],
          max_drawdown: [0.1, 0.08, 0.07, 0.06, 0.065, 0.07],
        },
        checkpoints: [
          { index: 3, model: `${MODELS}/checkpoints/BTCUSD_2Hour_3.onnx` },
          { index: 5, model: `${MODELS}/BTCUSD_2Hour.onnx` },
        ],
      },
      BTCUSD_1Day: {
        timeframe: '1Day',
        model: `${MODELS}/BTCUSD_1Day.onnx`,
        train_start: '2019-01-01T00:00:00Z',
        train_end: '2024-06-30T00:00:00Z',
        metrics: {
          fitness_score: [0.55, 0.68, 0.75, 0.78],
          profit_factor: [1.6, 1.85, 1.95, 2.05],
          consistency: [0.8, 0.86, 0.9, 0.91],
          max_drawdown: [0.09, 0.07, 0.06, 0.06],
        },
      },
      ETHUSD_1Hour: {
        timeframe: '1Hour',
        model: `${MODELS}/ETHUSD_1Hour.onnx`,
        metrics: {
          fitness_score: [0.3, 0.5, 0.38, 0.47, 0.44],
          profit_factor: [0.9, 1.05, 1.12, 1.15, 1.1],
          consistency: [0.5, 0.55, 0.58, 0.59, 0.6],
          max_drawdown: [0.25, 0.21, 0.19, 0.185, 0.18],
        },
        card: { ...trendCard, symbol: 'ETHUSD' },
      },
      SOLUSD_1Hour: {
        timeframe: '1Hour',
        model: `${MODELS}/SOLUSD_1Hour.onnx`,
        metrics: {
          fitness_score: [0.5, 0.7, 0.8],
          profit_factor: [1.5, 1.9, 2.1],
          consistency: [0.8, 0.88, 0.9],
          max_drawdown: [0.12, 9.5, 8.2],
        },
      },
      UNIUSD_1Hour: {
        timeframe: '1Hour',
        model: `${MODELS}/UNIUSD_1Hour.pt`,
        metrics: {
          fitness_score: [0.41, 0.63, 0.74, 0.71],
          profit_factor: [1.2, 1.6, 1.9, 1.85],
          consistency: [0.6, 0.78, 0.88, 0.86],
          max_drawdown: [0.12, 0.09, 0.07, 0.075],
        },
      },
    },
  };
  add(`training_summary_${RUN_ID}.json`, json(summary));

  // The manifest covers every other file, paths relative to the manifest's folder.
  const manifest: Record<string, string> = {};
  for (const f of [...files].sort((a, b) => a.path.localeCompare(b.path))) manifest[f.path.slice(ROOT.length + 1)] = sha256(f.bytes);
  add('manifest.json', enc(stableStringify({ run_id: RUN_ID, files: manifest }, 2) + '\n'));

  const entries: Record<string, [Uint8Array, { mtime: Date; level: 6 }]> = {};
  for (const f of [...files].sort((a, b) => a.path.localeCompare(b.path))) {
    entries[f.path] = [f.bytes, { mtime: MTIME, level: 6 }];
  }
  const archive = zipSync(entries, { mtime: MTIME });

  return {
    archive,
    bars: {
      'BTCUSD_2Hour.csv': writeBarsCsv(series['2Hour']),
      'BTCUSD_4Hour.csv': writeBarsCsv(series['4Hour']),
      'BTCUSD_1Day.csv': writeBarsCsv(series['1Day']),
    },
  };

  /** Write a model, its card with golden vectors, from a float64 reference forward pass. */
  function addPolicy(id: string, card: Record<string, unknown>, bytes: Uint8Array, forward: (obs: number[]) => number[], bars: BarSeries, folder = MODELS): void {
    const parsed = parseCard(card, `${id}.card.json`, { symbol: 'BTCUSD', timeframe: String(card['timeframe']) });
    const size = parsed.observation.size;
    const r = mulberry32(size * 7919);
    const golden: Record<string, unknown>[] = [];
    for (let k = 0; k < 2; k++) {
      const obs = Array.from({ length: size }, () => round((r() * 2 - 1) * 2));
      golden.push({ obs, output: forward(obs).map(round) });
    }
    // Observation parity at two bars inside the data (flat position), as the training code would export them.
    const builder = new ObservationBuilder(parsed, bars);
    for (const tau of [builder.firstValidIndex + 10, bars.time.length - 200]) {
      const obs = Array.from(builder.build(tau, FLAT_STATE, new Float32Array(size)), (v) => round(v));
      golden.push({ at: new Date(bars.time[tau]!).toISOString(), obs });
    }
    add(`${folder}/${id}.onnx`, bytes);
    add(`${folder}/${id}.card.json`, json({ ...card, golden }));
  }
}
