/**
 * Sharding: which models of an archive one job of a GitHub Actions matrix evaluates
 * (docs/sharding.md). Pure and deterministic: every shard computes the same plan from the same
 * archive and config, so the shards together cover every model exactly once, whatever n.
 *
 * The plan balances the expected evaluation cost, not the model count. A model's cost is known
 * before anything is loaded: the decisions its windows hold (one inference per bar of the backtest
 * and of the walk-forward) times the size of its ONNX file (a proxy for the work of one inference:
 * an MLP's multiply-adds grow with its weights, which are most of the file). Models that are not
 * evaluated (gating DROP, no ONNX file, an error found while opening the archive) cost 0 but are
 * still assigned, so that each appears in exactly one shard's partial report.
 *
 * The assignment is LPT (longest processing time first): models in decreasing cost, ties broken by
 * id, each given to the shard with the least cost so far (ties: fewer models, then the lower index).
 * Greedy list scheduling guarantees the heaviest shard holds at most total / n + the largest single
 * cost, and LPT is within 4/3 of the best possible split.
 */
import { timeframeMs, type Timeframe } from './types.js';

/** `i/n`: the i-th of n shards, 1-based. */
export interface ShardSpec {
  index: number;
  count: number;
}

/** A matrix has at most 256 jobs (GitHub's limit); more shards than that is a typo. */
export const MAX_SHARDS = 256;

/** Parses `i/n`; returns the spec, or why the text is not one (the shells name their flag or input). */
export function parseShardSpec(raw: string): ShardSpec | { error: string } {
  const m = /^\s*(\d{1,4})\s*\/\s*(\d{1,4})\s*$/.exec(raw);
  if (!m) return { error: `must be i/n, the i-th of n shards (e.g. 2/3), got ${JSON.stringify(raw)}` };
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > MAX_SHARDS) return { error: `must be i/n with 1 ≤ n ≤ ${MAX_SHARDS}, got ${JSON.stringify(raw)}` };
  if (index < 1 || index > count) return { error: `must be i/n with 1 ≤ i ≤ n (shards are numbered from 1), got ${JSON.stringify(raw)}` };
  return { index, count };
}

export function shardLabel(s: ShardSpec): string {
  return `${s.index}/${s.count}`;
}

/** The artifact a shard's partial report is uploaded as (the merge job lists them by this name). */
export function shardArtifactName(s: ShardSpec): string {
  return `policy-gate-shard-${s.index}-of-${s.count}`;
}

/** The spec an artifact name stands for, or null when it is not a shard artifact. */
export function parseShardArtifactName(name: string): ShardSpec | null {
  const m = /^policy-gate-shard-(\d{1,4})-of-(\d{1,4})$/.exec(name);
  if (!m) return null;
  const spec = parseShardSpec(`${m[1]}/${m[2]}`);
  return 'error' in spec ? null : spec;
}

export interface CostInput {
  /** False when the model is not evaluated (gating DROP, no ONNX file, an archive error): cost 0. */
  evaluated: boolean;
  /** Size of the ONNX file that is evaluated (the final model or the recommended checkpoint). */
  onnxBytes: number;
  timeframe: Timeframe;
  backtestDays: number;
  walkForwardDays: number;
}

/**
 * The expected cost of evaluating one model, in bar-bytes (a relative unit): the bars of its
 * backtest and walk-forward windows at its timeframe (calendar bars: what crypto trades; an upper
 * bound for equities) times the ONNX file's size. Warm-up bars are left out: they feed feature
 * columns only (no inference) and their number is in the policy card, which is parsed only when the
 * model is evaluated.
 */
export function expectedCost(c: CostInput): number {
  if (!c.evaluated) return 0;
  const barsPerDay = 86_400_000 / timeframeMs(c.timeframe);
  const decisions = Math.ceil((c.backtestDays + c.walkForwardDays) * barsPerDay);
  return decisions * Math.max(1, Math.floor(c.onnxBytes));
}

export interface ShardCost {
  id: string;
  cost: number;
}

/** One model's place in the plan: which shard evaluates it, and the cost that put it there. */
export interface PlannedModel {
  id: string;
  shard: number;
  cost: number;
}

/**
 * Assigns every model to one of `n` shards (1-based), balanced by cost. The result lists the models
 * in the order given (the archive's order). Ids must be unique (a training summary's are).
 */
export function planShards(models: readonly ShardCost[], n: number): PlannedModel[] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`planShards: n must be a positive integer, got ${n}`);
  const seen = new Set<string>();
  for (const m of models) {
    if (seen.has(m.id)) throw new RangeError(`planShards: model id ${m.id} appears twice`);
    seen.add(m.id);
    if (!Number.isFinite(m.cost) || m.cost < 0) throw new RangeError(`planShards: the cost of ${m.id} must be a finite number ≥ 0, got ${m.cost}`);
  }
  const order = models
    .map((_, i) => i)
    .sort((a, b) => {
      const ca = models[a]!.cost;
      const cb = models[b]!.cost;
      if (ca !== cb) return cb - ca;
      const ia = models[a]!.id;
      const ib = models[b]!.id;
      return ia < ib ? -1 : ia > ib ? 1 : 0;
    });
  const load = new Array<number>(n).fill(0);
  const count = new Array<number>(n).fill(0);
  const shardOf = new Array<number>(models.length);
  for (const i of order) {
    let best = 0;
    for (let s = 1; s < n; s++) {
      if (load[s]! < load[best]! || (load[s] === load[best] && count[s]! < count[best]!)) best = s;
    }
    load[best]! += models[i]!.cost;
    count[best]!++;
    shardOf[i] = best + 1;
  }
  return models.map((m, i) => ({ id: m.id, shard: shardOf[i]!, cost: m.cost }));
}

/** The ids one shard evaluates, in plan (archive) order. */
export function shardModels(plan: readonly PlannedModel[], index: number): string[] {
  return plan.filter((p) => p.shard === index).map((p) => p.id);
}

/**
 * What a partial report (`validate --shard i/n`) records about its shard: enough for the merge to
 * check that the partials belong together and to name every model a missing shard should have
 * evaluated. Absent from a complete (unsharded or merged) report.
 */
export interface ShardInfo {
  index: number;
  count: number;
  /** This shard's models, in archive order. */
  models: string[];
  /** The archive the shard read; null when it stopped before reading one (its models are then missing). */
  archiveSha256: string | null;
  /** The resolved config the shard ran with. */
  configSha256: string;
  /** The pinned evaluation end (ISO 8601), or null: each series' last bar. */
  end: string | null;
  /** Every model of the archive, in archive order, with its shard and cost; null when the archive was not read. */
  plan: PlannedModel[] | null;
}
