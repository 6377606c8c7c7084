/**
 * report.json (SPEC section 10): the one record of a run that every renderer and publisher reads.
 */
import type { AssetClass, BacktestMetrics, DataQualityNote, Decision, GatingResult, ModelFileInfo, ModelFlag, Tier, Timeframe } from './types.js';

import { PolicyGateError, RunInputError } from './errors.js';

export const SCHEMA_VERSION = 1;

export interface WindowReport {
  start: string;
  end: string;
  bars: number;
  metrics: BacktestMetrics;
  /** Discrete policies: the actions of this window's decisions (absent for continuous policies). */
  actions?: ActionHistogram;
  /** The window's round trips, oldest first (at most MAX_REPORT_TRADES; `--trades-out` writes all). */
  trades?: TradeRecord[];
  /** How many trades were left out of `trades` (0 when all are listed). */
  tradesOmitted?: number;
}

/** The most trades report.json lists per backtest or fold; `--trades-out` writes every one. */
export const MAX_REPORT_TRADES = 1000;

/** One round trip flat → flat (a flip closes one and opens the next): SPEC section 5's trades. */
export interface TradeRecord {
  direction: 'long' | 'short';
  /** When the opening and the closing fills happened (ISO UTC): a fill at a bar's open is at its start, one at its close at its end. */
  entry: string;
  exit: string;
  /** Quantity-weighted average fill prices (slippage included) of the opening and of the closing fills. */
  entryPrice: number;
  exitPrice: number;
  /** Largest absolute quantity held. */
  quantity: number;
  /** Σ |Δq|·price of the opening fills. */
  notional: number;
  /** Cash result of the trade's fills, fees and slippage included. */
  pnl: number;
  fees: number;
  /** pnl / notional. */
  return: number;
  /** Still open after the window's last bar: closed at its close for the statistics only. */
  closedAtEnd: boolean;
}

/** What a discrete policy did in one backtest or fold. */
export interface ActionHistogram {
  /** Decisions taken (one per window bar). */
  decisions: number;
  /** The action applied, by meaning (min_confidence's HOLDs counted as HOLD); every meaning listed. */
  taken: Record<string, number>;
  /** The model's choice (the argmax), by meaning, before min_confidence. */
  chosen: Record<string, number>;
  /** Decisions whose top confidence was below action.min_confidence and so became HOLD. */
  heldByMinConfidence: number;
}

export interface FoldReport extends WindowReport {
  index: number;
}

export type { FoldSummary } from './folds.js';
import type { FoldSummary } from './folds.js';
import type { InferencePath } from './drive.js';
import type { ModelCharts } from './charts.js';
import type { Evidence } from './evidence.js';
import type { TrackSection } from './track.js';
import type { ShardInfo } from './shard.js';
export type { Evidence } from './evidence.js';
export type { CurveSeries, FoldCurveSeries, ModelCharts } from './charts.js';

export interface ModelReport {
  id: string;
  symbol: string;
  timeframe: Timeframe;
  assetClass: AssetClass | null;
  assetClassGuessed: boolean;
  candidate: string;
  model: ModelFileInfo | null;
  card: { path: string | null; inline: boolean } | null;
  /** Null for `policy-gate backtest`, which reads no training summary. */
  gating: GatingResult | null;
  flags: ModelFlag[];
  train: { start: string | null; end: string | null };
  backtest: WindowReport | null;
  walkForward: { days: number; folds: FoldReport[]; summary: FoldSummary | null } | null;
  requested: Tier;
  /** Null when the model was not evaluated (see notEvaluated), or for a backtest without --walk-forward, which decides nothing. */
  decision: Decision | null;
  /**
   * Why the model has no decision although it was to be judged: its evaluation could not run. Such a
   * model is "not evaluated", never DROP, and the run's conclusion is failure. `kind` says whose
   * problem it is: `input` — the run's own input (its bars, the window flags, a --card of another
   * model; the CLI exits 2), `model` — the model's files or runtime (a refused ONNX file or card, a
   * crash or hang; exit 1), `infra` — a data provider that stayed unreachable (exit 3). Null when the
   * model has a decision, and for a backtest without --walk-forward (which decides nothing).
   */
  notEvaluated?: NotEvaluated | null;
  dataQuality: DataQualityNote[];
  /** Why this model could not be (fully) evaluated; an error here never stops the other models. */
  errors: string[];
  notes: string[];
  /** The curves report.html draws (downsampled; src/core/charts.ts); absent when the model was not evaluated. */
  charts?: ModelCharts;
  /** Evidence beyond the fold counts (docs/evidence.md); null when there was no walk-forward to judge. */
  evidence?: Evidence | null;
  /**
   * Which inference path decided the model's simulations (docs/performance.md): the first-layer split
   * with its guard, or the full model and why. Absent where the model was run call by call.
   */
  inference?: InferencePath;
  /** `policy-gate track`: the model's record on its account beside its backtest (docs/promotion.md#tracking-the-accounts-own-record-policy-gate-track). */
  track?: TrackSection;
}

export interface NotEvaluated {
  reason: string;
  kind: 'input' | 'model' | 'infra';
}

/** True when a model was not evaluated because of the run's own bad input (the CLI then exits 2). */
export function hasRunInputError(report: Pick<Report, 'models'>): boolean {
  return report.models.some((m) => m.notEvaluated?.kind === 'input');
}

/** The kind of a not-evaluated model's problem, from the error that stopped its evaluation. */
export function notEvaluatedKind(err: unknown): NotEvaluated['kind'] {
  if (err instanceof RunInputError) return 'input';
  if (err instanceof PolicyGateError && err.kind === 'infra') return 'infra';
  return 'model';
}

/**
 * The run's outcome as a reader should see it: its conclusion, or "no decision" for a backtest without
 * --walk-forward that ran — it reports one window and judges nothing, so it must not read as approval.
 */
export function outcomeLabel(report: Pick<Report, 'command' | 'conclusion' | 'models'>): 'success' | 'failure' | 'no decision' {
  if (report.command === 'backtest' && report.conclusion === 'success' && report.models.every((m) => !m.walkForward && !m.decision)) return 'no decision';
  return report.conclusion;
}

export interface Report {
  schemaVersion: number;
  tool: { name: string; version: string };
  command: string;
  generatedAt: string;
  conclusion: 'success' | 'failure';
  conclusionReasons: string[];
  config: { sha256: string; file: string | null } & Record<string, unknown>;
  archive: {
    path: string;
    kind: 'zip' | 'dir';
    sha256: string;
    summary: { path: string; runId: string | null };
    /**
     * `unlisted`: the summary, models and cards in the archive that the manifest does not list, so
     * their sha256 was not checked (each also a note on the model it belongs to).
     */
    manifest: { path: string; files: number; unlisted?: string[] } | null;
    unreferenced: string[];
  } | null;
  /** `requestedEnd`: the window end --end asked for (ISO), null when the windows end at the last bar. */
  data: { source: string; dir: string | null; range: { start: string; end: string } | null; requestedEnd?: string | null } | null;
  runtime: {
    executionProvider: string | null;
    device: string;
    fallbackReason: string | null;
    node: string;
    onnxruntime: string | null;
    platform: string;
  } | null;
  models: ModelReport[];
  /** Run-level problems (the run stopped, or could not start). */
  errors: string[];
  /** A data provider or API stayed unreachable after retries (the CLI exits 3). */
  infraErrors: string[];
  /**
   * Only in a partial report (`validate --shard i/n`, docs/sharding.md): which shard this is and the
   * plan it followed. `policy-gate merge` combines the partials into a report without it.
   */
  shard?: ShardInfo;
}
