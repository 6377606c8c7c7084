/**
 * The benchmark archive of issue 8: a folder training archive shaped like a real team's export —
 * a training summary (every model APPROVED), N models `SYM00USD_1Hour` … (crypto), each an MLP
 * (W·F → 256 → 256 → 8 by default, seeded weights, relu or tanh) with a policy card of window W and F
 * features drawn from the vocabulary with varied parameters, normalize and clip, an observation golden
 * vector, and a manifest; plus a data folder holding the vendored BTC hourly bars as every symbol's CSV.
 *
 * Position-aware cards (the default, like the team's models with 8 sized actions) include `position`
 * and `unrealized_return`, so their observations depend on the simulated position and the evaluation
 * runs all windows in lockstep; `positionAware: false` gives position-independent cards, whose
 * decision bars are inferred in a few large batches.
 *
 * Deterministic for given options. Nothing here is used by the CLI at run time.
 */
import { link, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseCard } from '../core/card.js';
import { computeFeatureColumns, type FeatureSpec } from '../core/features.js';
import { FLAT_STATE, ObservationBuilder } from '../core/observation.js';
import type { BarSeries } from '../core/types.js';
import { readBarsCsv } from '../adapters/bars/csv.js';
import { sha256, stableStringify } from '../util/hash.js';
import { buildMlp, mulberry32, type Activation } from './onnx-writer.js';

export const BENCH_ACTIONS = ['HOLD', 'BUY_25', 'BUY_50', 'BUY_75', 'SELL_25', 'SELL_50', 'SELL_75', 'CLOSE'] as const;
const RUN_ID = 'bench_20240911';
const MODELS = 'models/rl_symbols';

export interface BenchArchiveOptions {
  /** Number of models; default 20. */
  models?: number;
  /** Observation window W; default 100. */
  window?: number;
  /** Features per row F; default 59. */
  features?: number;
  /** Hidden layer sizes; default [256, 256]. */
  hidden?: number[];
  /** Include `position` and `unrealized_return` (stateful evaluation); default true. */
  positionAware?: boolean;
  /** Write manifest.json with the sha256 of every file; default true. */
  manifest?: boolean;
  /** Add one observation golden vector ({at, obs}) per card; default true. */
  golden?: boolean;
  /** The bars' timeframe (the CSV given must hold bars of it); default '1Hour'. */
  timeframe?: BarSeries['timeframe'];
}

export interface BenchArchive {
  /** The folder archive. */
  archiveDir: string;
  /** The folder of `<SYMBOL>_1Hour.csv` files. */
  dataDir: string;
  /** Model ids, `SYM00USD_1Hour` … */
  ids: string[];
  /** Path of each model's ONNX file (its card lies beside it). */
  modelPaths: string[];
  /** Bytes written into the archive folder. */
  archiveBytes: number;
  /** The options used, defaults filled in. */
  options: Required<BenchArchiveOptions>;
}

const PARAM_POOL: FeatureSpec[] = [
  ...[1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 36, 48].map((lag) => ({ name: 'log_return' as const, lag })),
  ...[1, 2, 3, 4, 6, 12, 24, 48].map((lag) => ({ name: 'return' as const, lag })),
  ...[4, 6, 8, 12, 16, 24, 36, 48].map((period) => ({ name: 'volatility' as const, period })),
  ...[6, 7, 9, 14, 21, 24, 28, 48].map((period) => ({ name: 'rsi' as const, period })),
  ...[5, 10, 12, 20, 24, 30, 48].map((period) => ({ name: 'sma_ratio' as const, period })),
  ...[6, 9, 12, 20, 24, 36, 48].map((period) => ({ name: 'ema_ratio' as const, period })),
  ...[6, 12, 24, 36, 48].map((period) => ({ name: 'volume_z' as const, period })),
];
const PLAIN: FeatureSpec[] = (['range', 'body', 'hour_sin', 'hour_cos', 'dow_sin', 'dow_cos', 'open_rel', 'high_rel', 'low_rel', 'close_rel', 'volume_rel'] as const).map((name) => ({ name }));
const STATE: FeatureSpec[] = [{ name: 'position' }, { name: 'unrealized_return' }];

function shuffle<T>(items: T[], rand: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

const sig = (x: number): number => Number(x.toPrecision(6));

/** The features of model `index`: the plain and state features plus a seeded draw from the parameter pool, in seeded order. */
export function benchFeatures(index: number, count: number, positionAware: boolean): FeatureSpec[] {
  const rand = mulberry32(9001 + index * 7919);
  const fixed = positionAware ? [...PLAIN, ...STATE] : [...PLAIN];
  const wantParam = count - fixed.length;
  if (wantParam < 0) {
    // Fewer features than the fixed set (small test archives): the state features and a seeded subset of the others.
    const keep = positionAware ? STATE : [];
    return shuffle([...shuffle(PLAIN, rand).slice(0, Math.max(0, count - keep.length)), ...keep].slice(0, count), rand);
  }
  if (wantParam > PARAM_POOL.length) throw new Error(`at most ${PARAM_POOL.length + fixed.length} distinct features are available, ${count} asked`);
  return shuffle([...fixed, ...shuffle(PARAM_POOL, rand).slice(0, wantParam)], rand);
}

/** Per-feature normalisation from the bars themselves (as a training pipeline would fit it). */
function normalisation(bars: BarSeries, features: FeatureSpec[]): { mean: number[]; std: number[] } {
  const columns = computeFeatureColumns(bars, features);
  const mean: number[] = [];
  const std: number[] = [];
  features.forEach((f, k) => {
    const col = columns[k];
    if (!col) {
      const fixed: Record<string, [number, number]> = {
        open_rel: [0, 0.02],
        high_rel: [0, 0.02],
        low_rel: [0, 0.02],
        close_rel: [0, 0.02],
        volume_rel: [0, 1],
        position: [0.5, 0.5],
        unrealized_return: [0, 0.05],
      };
      const [m, s] = fixed[f.name] ?? [0, 1];
      mean.push(m);
      std.push(s);
      return;
    }
    let n = 0;
    let sum = 0;
    for (const v of col) {
      if (!Number.isFinite(v)) continue;
      sum += v;
      n++;
    }
    const m = sum / n;
    let ss = 0;
    for (const v of col) if (Number.isFinite(v)) ss += (v - m) * (v - m);
    const s = Math.sqrt(ss / (n - 1));
    mean.push(sig(m));
    std.push(s > 0 ? sig(s) : 1);
  });
  return { mean, std };
}

const approvedMetrics = (i: number) => ({
  fitness_score: [0.48, 0.61, 0.7, 0.74, 0.76 + (i % 5) * 0.01],
  profit_factor: [1.4, 1.62, 1.78, 1.86, 1.92],
  consistency: [0.78, 0.84, 0.87, 0.89, 0.9],
  max_drawdown: [0.1, 0.085, 0.075, 0.07, 0.065],
});

/**
 * Write the benchmark archive into `root/archive` and its bars into `root/data`.
 * `btcHourlyCsv` is the text of examples/data/BTCUSD_1Hour.csv.
 */
export async function writeBenchArchive(root: string, btcHourlyCsv: string, options: BenchArchiveOptions = {}): Promise<BenchArchive> {
  const opts: Required<BenchArchiveOptions> = {
    models: options.models ?? 20,
    window: options.window ?? 100,
    features: options.features ?? 59,
    hidden: options.hidden ?? [256, 256],
    positionAware: options.positionAware ?? true,
    manifest: options.manifest ?? true,
    golden: options.golden ?? true,
    timeframe: options.timeframe ?? '1Hour',
  };
  const tf = opts.timeframe;
  const archiveDir = path.join(root, 'archive');
  const dataDir = path.join(root, 'data');
  await mkdir(path.join(archiveDir, MODELS), { recursive: true });
  await mkdir(dataDir, { recursive: true });
  const bars = readBarsCsv(btcHourlyCsv, { symbol: 'BTCUSD', timeframe: tf, file: `BTCUSD_${tf}.csv` }).bars;

  const files = new Map<string, Uint8Array>();
  const put = async (rel: string, bytes: Uint8Array): Promise<void> => {
    files.set(rel, bytes);
    await writeFile(path.join(archiveDir, rel), bytes);
  };
  const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v, null, 2) + '\n');

  const ids: string[] = [];
  const modelPaths: string[] = [];
  const symbols: Record<string, unknown> = {};
  for (let i = 0; i < opts.models; i++) {
    const symbol = `SYM${String(i).padStart(2, '0')}USD`;
    const id = `${symbol}_${tf}`;
    const features = benchFeatures(i, opts.features, opts.positionAware);
    const activation: Activation = i % 2 === 0 ? 'relu' : 'tanh';
    const card: Record<string, unknown> = {
      schema: 'policy-card/1',
      symbol,
      timeframe: tf,
      asset_class: 'crypto',
      input: 'obs',
      observation: {
        window: opts.window,
        features: features.map((f) => ({ ...f })),
        normalize: normalisation(bars, features),
        clip: 5,
      },
      action: { type: 'discrete', output: 'logits', output_kind: 'logits', meanings: [...BENCH_ACTIONS], min_confidence: 0 },
      execution: { long_only: true, max_exposure: 1.0 },
    };
    if (opts.golden) {
      const parsed = parseCard(card, `${id}.card.json`, { symbol, timeframe: tf });
      const builder = new ObservationBuilder(parsed, bars);
      const tau = bars.close.length - 200;
      const obs = Array.from(builder.build(tau, FLAT_STATE, new Float32Array(builder.size)), (v) => Number(v.toPrecision(7)));
      card['golden'] = [{ at: new Date(bars.time[tau]!).toISOString(), obs }];
    }
    const mlp = buildMlp({
      inputName: 'obs',
      inputDim: opts.window * opts.features,
      hidden: opts.hidden,
      outputs: BENCH_ACTIONS.length,
      activation,
      outputName: 'logits',
      seed: 1000 + i,
      metadata: { symbol, timeframe: tf, model_version: 'bench' },
    });
    await put(`${MODELS}/${id}.onnx`, mlp.bytes);
    await put(`${MODELS}/${id}.card.json`, enc(card));
    ids.push(id);
    modelPaths.push(path.join(archiveDir, MODELS, `${id}.onnx`));
    symbols[id] = {
      timeframe: tf,
      model: `${MODELS}/${id}.onnx`,
      train_start: '2021-01-01T00:00:00Z',
      train_end: '2023-12-01T00:00:00Z',
      metrics: approvedMetrics(i),
    };
    // Every symbol's CSV is the same bars: written once, then hard links (a soak over hundreds of
    // symbols of 1-minute bars would otherwise write gigabytes).
    const csvPath = path.join(dataDir, `${symbol}_${tf}.csv`);
    if (i === 0) await writeFile(csvPath, btcHourlyCsv);
    else await link(path.join(dataDir, `SYM00USD_${tf}.csv`), csvPath).catch(() => writeFile(csvPath, btcHourlyCsv));
  }
  await put(`training_summary_${RUN_ID}.json`, enc({ run_id: RUN_ID, trainer: 'NativePPO (GPU)', model_version: 'bench', symbols }));
  if (opts.manifest) {
    const listed: Record<string, string> = {};
    for (const [rel, bytes] of [...files].sort(([a], [b]) => a.localeCompare(b))) listed[rel] = sha256(bytes);
    await put('manifest.json', new TextEncoder().encode(stableStringify({ run_id: RUN_ID, files: listed }, 2) + '\n'));
  }
  let archiveBytes = 0;
  for (const b of files.values()) archiveBytes += b.length;
  return { archiveDir, dataDir, ids, modelPaths, archiveBytes, options: opts };
}
