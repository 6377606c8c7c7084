/**
 * The domain model shared by the core, the adapters and the shells.
 * Everything here is plain data: no I/O, no clocks, no randomness.
 */

export const TIMEFRAMES = ['1Min', '5Min', '15Min', '30Min', '1Hour', '2Hour', '4Hour', '1Day'] as const;
export type Timeframe = (typeof TIMEFRAMES)[number];

const TIMEFRAME_MS: Record<Timeframe, number> = {
  '1Min': 60_000,
  '5Min': 300_000,
  '15Min': 900_000,
  '30Min': 1_800_000,
  '1Hour': 3_600_000,
  '2Hour': 7_200_000,
  '4Hour': 14_400_000,
  '1Day': 86_400_000,
};

export function isTimeframe(value: unknown): value is Timeframe {
  return typeof value === 'string' && (TIMEFRAMES as readonly string[]).includes(value);
}

export function timeframeMs(tf: Timeframe): number {
  return TIMEFRAME_MS[tf];
}

export type AssetClass = 'crypto' | 'us_equity';

/**
 * Bars of one symbol and timeframe, columnar, oldest first, strictly increasing time.
 * time[i] is the bar's start in epoch milliseconds (UTC).
 */
export interface BarSeries {
  readonly symbol: string;
  readonly timeframe: Timeframe;
  readonly time: Float64Array;
  readonly open: Float64Array;
  readonly high: Float64Array;
  readonly low: Float64Array;
  readonly close: Float64Array;
  readonly volume: Float64Array;
  /**
   * Bars of the other symbols a card's features read (feature param `symbol`), same timeframe, keyed
   * by the symbol as the card names it. Each is read as of a bar's time: its last bar starting at or
   * before it (features.ts).
   */
  readonly others?: Readonly<Record<string, BarSeries>>;
  /**
   * The columns a card's feature graph computed on exactly these bars (features `graph`, by column),
   * or absent. A series cut from this one (the look-ahead audit's views) does not carry them: the
   * graph is run again on the cut bars (src/app/feature-graph.ts).
   */
  readonly graph?: GraphColumns;
}

/** A feature graph's output on one BarSeries: column k holds feature `graph(column=k)` at each bar (NaN in its warm-up). */
export interface GraphColumns {
  /** The graph's file, for messages. */
  readonly file: string;
  readonly sha256: string;
  readonly columns: readonly Float64Array[];
}

export interface DataQualityNote {
  kind: 'gap' | 'duplicate' | 'unsorted' | 'info';
  message: string;
  at?: string;
  count?: number;
}

// ---------------------------------------------------------------- archive

/** One file in a training archive, addressed by its normalised posix path inside the archive. */
export interface ArchiveFile {
  readonly path: string;
  readonly size: number;
}

/** A zip file or a folder, opened for reading only. Nothing inside it is ever executed. */
export interface ArchiveReader {
  /** The path the user gave. */
  readonly source: string;
  readonly kind: 'zip' | 'dir';
  /** sha256 of the zip file's bytes; for a folder, sha256 over its sorted "sha256  path" lines. */
  readonly sha256: string;
  readonly files: readonly ArchiveFile[];
  /** The bytes of one file, within the reader's limits; throws a PolicyGateError naming the entry. */
  read(path: string): Promise<Buffer>;
  /**
   * A file's sha256 as hashed when the archive was opened, where the reader hashed each file then (a
   * folder: its digest is made of them), so checks need not read and hash it again; undefined otherwise.
   * Whoever loads the file's bytes later compares their hash with it (a file changed meanwhile is refused).
   */
  sha256Of?(path: string): string | undefined;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- gating

export type Classification = 'APPROVED' | 'REVIEW' | 'DROP';

export type GatingFlag = 'LOW_FITNESS' | 'LOW_PF' | 'LOW_CONSISTENCY' | 'HIGH_DRAWDOWN' | 'FITNESS_DECLINE' | 'UNSTABLE_TRAINING' | 'SHORT_HISTORY' | 'METRIC_INVALID';

export type ModelFlag =
  | GatingFlag
  | 'OBSERVATION_MISMATCH'
  | 'INFERENCE_MISMATCH'
  | 'IN_SAMPLE_OVERLAP'
  | 'PYTORCH_CHECKPOINT'
  /** The look-ahead audit found an observation that changes when the bars after its decision bar are removed. */
  | 'LOOKAHEAD'
  /** No `{at, obs}` golden vector was checked: the observation builder was never compared with the training code. */
  | 'NO_OBSERVATION_PARITY';

export interface GatingThresholds {
  fitness: number;
  profitFactor: number;
  consistency: number;
  /** Upper bound: a model passes when its training MaxDD is at most this. */
  maxDrawdown: number;
}

export interface GatingConfig {
  preset: string;
  approved: GatingThresholds;
  review: GatingThresholds;
  fitnessDecline: number;
  unstableOscillation: number;
}

export const METRIC_KEYS = ['fitness_score', 'profit_factor', 'consistency', 'max_drawdown'] as const;
export type MetricKey = (typeof METRIC_KEYS)[number];

export interface FinalMetrics {
  fitness: number | null;
  profitFactor: number | null;
  consistency: number | null;
  maxDrawdown: number | null;
}

export interface GatingResult {
  classification: Classification;
  flags: GatingFlag[];
  final: FinalMetrics;
  /** Index into the histories of the fitness peak, when FITNESS_DECLINE recommends a checkpoint. */
  checkpointIndex: number | null;
  /** Human-readable reasons, one per flag or failed threshold. */
  reasons: string[];
  /** Number of validation points in the fitness history. */
  points: number;
}

// ---------------------------------------------------------------- report (SPEC section 10)

export type Tier = 'DROP' | 'RETRAIN' | 'PAPER' | 'LIVE';
export const TIER_ORDER: readonly Tier[] = ['DROP', 'RETRAIN', 'PAPER', 'LIVE'];

export function tierRank(tier: Tier): number {
  return TIER_ORDER.indexOf(tier);
}

/** A metric value, or null with the reason it is undefined. */
export type MetricValue = number | null;

export interface BacktestMetrics {
  totalReturn: MetricValue;
  cagr: MetricValue;
  volatility: MetricValue;
  sharpe: MetricValue;
  sortino: MetricValue;
  maxDrawdown: MetricValue;
  calmar: MetricValue;
  winRate: MetricValue;
  profitFactor: MetricValue;
  trades: number;
  exposure: MetricValue;
  turnover: MetricValue;
  buyHoldReturn: MetricValue;
  finalEquity: number;
  periodsPerYear: number;
  /** For every metric that is null: why. Keyed by field name. */
  undefinedReasons: Record<string, string>;
}

export interface ModelFileInfo {
  path: string;
  sha256: string;
  inputs: { name: string; shape: (number | string)[] }[];
  outputs: { name: string; shape: (number | string)[] }[];
}

export interface Decision {
  tier: Tier;
  /** The rule that fired first, then supporting facts. */
  reasons: string[];
  rule: string;
}
