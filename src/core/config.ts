/**
 * The shape of a parsed config (docs and SPEC sections 5–8): pure types, in core so the domain reads
 * its settings without importing the config parser (src/config/schema.ts, which builds these).
 */
import type { GatingConfig, Tier } from './types.js';

export type Fill = 'next_open' | 'close';
export type Device = 'auto' | 'cpu' | 'cuda';
export type DataSource = 'csv' | 'alpaca';

export interface BacktestConfig {
  days: number;
  capital: number;
  fill: Fill;
  /** Fee in basis points of traded notional, per asset class. */
  feeBps: { crypto: number; us_equity: number };
  slippageBps: number;
  minTradeValue: number;
  rebalanceBand: number;
  /** Overrides the periods-per-year the data implies; null = derive it. */
  periodsPerYear: number | null;
}

export interface WalkForwardConfig {
  days: number;
  folds: number;
  embargoBars: number;
}

export interface DecisionConfig {
  live: { minPositiveShare: number; maxSharpeStd: number };
  paper: { minPositiveShare: number; maxSharpeStd: number };
  required: Tier;
  /**
   * The highest tier of a model whose card has no observation parity vector that was checked (flag
   * NO_OBSERVATION_PARITY): its feature builder was never compared with the training code.
   */
  noObservationParityCap: Tier;
  /** `policy-gate track`: when a deployed model's own record makes it eligible for LIVE, or demotes it (docs/promotion.md#tracking-the-accounts-own-record-policy-gate-track). */
  track: TrackRules;
}

export interface TrackRules {
  /** Days on record (since promoted_at) before a PAPER model can be eligible for LIVE. */
  minDays: number;
  /** Account orders attributed to the model on record. */
  minTrades: number;
  /** Mean realised cost per fill (bps, fees included) at most this many times slippage_bps + fee_bps. */
  maxShortfallRatio: number;
  /** (missed + extra) / all decisions at most this share. */
  maxUnmatchedShare: number;
  /** Largest lag, in bars, at which an account order still matches a backtest decision. */
  maxLagBars: number;
  /** The account's return over the record must lie inside the bootstrap interval of the backtest's. */
  returnInsideInterval: boolean;
}

export interface DataConfig {
  source: DataSource;
  /** Folder of `<SYMBOL>_<TIMEFRAME>.csv` files for the csv source. */
  dir: string | null;
  feed: string;
  adjustment: string;
  cache: string;
  /** Alpaca: give up on a series (exit 3) when it cannot be fetched within this many seconds. */
  deadlineSeconds: number;
}

/** Evidence beyond the fold counts (docs/evidence.md); every rule is off by default. */
export interface EvidenceConfig {
  /** Annualised benchmark Sharpe SR* of the probabilistic Sharpe ratio (divided by √P per period). */
  psrBenchmarkSharpe: number;
  /** Confidence the minimum track record length is computed for. */
  minTrlConfidence: number;
  /** N of the deflated Sharpe ratio; null = the model's training history length (validation points). */
  dsrTrials: number | null;
  bootstrap: { samples: number; seed: number; blockLength: number | null; confidence: number };
  /** multiplier null: no cost-stressed walk-forward. */
  costStress: { multiplier: number | null; requireHold: boolean };
  lookaheadAudit: { samples: number; seed: number };
  rules: { minPsr: number | null; minDsr: number | null; maxBinomialP: number | null; challengerNotWorse: boolean };
}

export interface Config {
  gating: GatingConfig;
  backtest: BacktestConfig;
  walkForward: WalkForwardConfig;
  decision: DecisionConfig;
  data: DataConfig;
  /** Deployment configs, and where promoted model files are committed (repository-relative). */
  promotion: { paper: string; live: string; modelsDir: string };
  /**
   * inferenceTimeoutSeconds: the deadline of loading a model and of each inference call in
   * onnxruntime's process; past it the process is stopped and that model fails (docs/threat-model.md).
   * parallelModels: how many models `validate` evaluates at a time (docs/performance.md); results do not
   * depend on it.
   */
  runtime: { device: Device; inferenceTimeoutSeconds: number; parallelModels: number; splitFirstLayer: boolean };
  evidence: EvidenceConfig;
}
