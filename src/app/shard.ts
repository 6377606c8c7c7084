/**
 * The shard side of `validate --shard i/n` (docs/sharding.md): the plan for an opened archive, from
 * what is known before any model is loaded — each model's gating result, the size of the ONNX file it
 * would be evaluated from (the archive listing) and its timeframe.
 */
import type { Config } from '../config/schema.js';
import { usageError } from '../core/errors.js';
import { expectedCost, planShards, shardLabel, shardModels, type PlannedModel, type ShardInfo, type ShardSpec } from '../core/shard.js';
import type { OpenedTrainingArchive } from './archive.js';

/** Whether validate evaluates this model at all (the same test as its loop); others cost nothing. */
export function willEvaluate(gm: OpenedTrainingArchive['models'][number]): boolean {
  return gm.report.gating?.classification !== 'DROP' && gm.onnxPath !== null && gm.report.errors.length === 0;
}

/** Every model of the archive, in archive order, with its shard among `count` and its cost. */
export function archivePlan(opened: OpenedTrainingArchive, config: Config, count: number): PlannedModel[] {
  const sizes = new Map(opened.reader.files.map((f) => [f.path, f.size]));
  return planShards(
    opened.models.map((gm) => ({
      id: gm.report.id,
      cost: expectedCost({
        evaluated: willEvaluate(gm),
        onnxBytes: gm.onnxPath ? (sizes.get(gm.onnxPath) ?? 0) : 0,
        timeframe: gm.report.timeframe,
        backtestDays: config.backtest.days,
        walkForwardDays: config.walkForward.days,
      }),
    })),
    count,
  );
}

/**
 * A sharded run must evaluate the same window in every shard. Bars from CSV files end where the files
 * end, so an unpinned end is the same everywhere; Alpaca's default end is "the last complete bar
 * before now", which moves while the shards run, so it must be pinned.
 */
export function checkShardable(config: Config, endMs: number | undefined): void {
  if (config.data.source === 'alpaca' && endMs === undefined) {
    throw usageError(
      "a sharded run on Alpaca data needs a pinned evaluation end (--end, or the action's end input), the same for every shard and the merge: " +
        'the default end ("the last complete bar before now") moves while the shards run. See docs/sharding.md',
      '--end',
    );
  }
}

/** The shard section of a partial report. */
export function shardInfo(spec: ShardSpec, plan: PlannedModel[], archiveSha256: string, configSha256: string, endMs: number | undefined): ShardInfo {
  return {
    index: spec.index,
    count: spec.count,
    models: shardModels(plan, spec.index),
    archiveSha256,
    configSha256,
    end: endMs === undefined ? null : new Date(endMs).toISOString(),
    plan,
  };
}

/** The shard section of a shard's failure report: it read no archive, so the merge names its models as missing. */
export function failedShardInfo(spec: ShardSpec, configSha256: string, endMs: number | undefined): ShardInfo {
  return {
    index: spec.index,
    count: spec.count,
    models: [],
    archiveSha256: null,
    configSha256,
    end: endMs === undefined ? null : new Date(endMs).toISOString(),
    plan: null,
  };
}

export function describeShard(info: ShardInfo): string {
  const total = info.plan?.length ?? 0;
  const cost = (info.plan ?? []).filter((p) => p.shard === info.index).reduce((s, p) => s + p.cost, 0);
  const all = (info.plan ?? []).reduce((s, p) => s + p.cost, 0);
  const share = all > 0 ? ` (${((cost / all) * 100).toFixed(1)} % of the expected cost)` : '';
  return `shard ${shardLabel(info)}: ${info.models.length} of ${total} models${share}${info.models.length ? `: ${info.models.join(', ')}` : ''}`;
}
