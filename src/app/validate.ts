/**
 * `policy-gate validate`: the whole pipeline (SPEC section 1) over a training archive — open, gate,
 * load, fetch bars, backtest, walk-forward, decide, conclude. One model's failure never loses the
 * others' results: it is recorded on that model and the run goes on.
 */
import { posix } from 'node:path';
import type { Config } from '../config/schema.js';
import { concludeReport, decide } from '../core/decide.js';
import { inputError, PolicyGateError, usageError } from '../core/errors.js';
import { notEvaluatedKind, type ModelReport, type NotEvaluated, type Report } from '../core/report.js';
import { applyEvidenceRules, evaluateEvidenceRules } from '../core/evidence.js';
import { tierRank, timeframeMs, type BarSeries, type Decision, type Tier } from '../core/types.js';
import { loadBarsFromDir } from '../adapters/bars/csv.js';
import { cudaProviderStatus, loadPolicyModel, modelFileInfo, onnxruntimeVersion, type PolicyModel } from '../adapters/onnx/session.js';
import { parseJsonFile } from '../core/json.js';
import { openTrainingArchive } from './archive.js';
import { describeError, evaluateModel, GoldenMismatch, type BarsInput, type BarsProvider } from './evaluate.js';
import { archiveCardFiles } from './feature-graph.js';
import { AlpacaBarsSource, historyRange } from '../adapters/alpaca/index.js';
import { emptyReport } from './report-base.js';
import { trackReport } from './interrupt.js';
import { compareWithChampion } from './champion.js';
import type { ShardSpec } from '../core/shard.js';
import { archivePlan, checkShardable, describeShard, shardInfo } from './shard.js';

export interface RunOptions {
  now: Date;
  env?: NodeJS.ProcessEnv;
  log: (line: string) => void;
  endMs: number | undefined;
  equityOut: string | null;
  /** A folder for one CSV of every trade per backtest and fold (docs/reports.md). */
  tradesOut?: string | null;
  /** Tiers requested per model id (the Action reads them from the paper/live configs); others stay at decision.required. */
  requestedTiers?: Record<string, Tier>;
  /**
   * The repository root the deployment configs (promotion.paper / promotion.live) and their entries'
   * files are relative to: a model they already deploy under the same id is run as the champion on the
   * same folds (docs/evidence.md). Without it no champion is looked up.
   */
  root?: string;
  /**
   * Called before and after each model is evaluated, with the models in progress (`current`, comma-separated
   * in archive order, null when none); the CLI draws a progress bar on a terminal.
   */
  progress?: (state: { done: number; total: number; current: string | null }) => void;
  /** Evaluate only this shard's models and write a partial report (docs/sharding.md). */
  shard?: ShardSpec;
}

/**
 * The market data a run reads: a folder of CSV files, or Alpaca (cached on disk). Each series is read
 * once and shared by every use while it is held; `evict` lets go of a symbol's series once no model
 * still to be evaluated needs them, so a run's memory does not grow with the number of symbols.
 */
export function barsProvider(
  config: Config,
  opts: { now: Date; log: (line: string) => void; env?: NodeJS.ProcessEnv },
): BarsProvider & { evict(symbol: string, timeframe: string): void; held(): number } {
  const cache = new Map<string, Promise<BarsInput>>();
  let alpaca: AlpacaBarsSource | null = null;
  const provider = (req: Parameters<BarsProvider>[0]): Promise<BarsInput> => {
    if (config.data.source === 'csv') {
      const dir = requireDataDir(config);
      const fileKey = `${req.symbol}\u0000${req.timeframe}\u0000${req.assetClass}`;
      let p = cache.get(fileKey);
      if (!p) {
        p = loadBarsFromDir(dir, req.symbol, req.timeframe, req.assetClass);
        cache.set(fileKey, p);
      }
      return p;
    }
    const key = `${req.symbol}\u0000${req.timeframe}\u0000${req.endMs ?? ''}\u0000${req.days}\u0000${req.warmupBars}`;
    let p = cache.get(key);
    if (p) return p;
    alpaca ??= new AlpacaBarsSource({
      feed: config.data.feed,
      adjustment: config.data.adjustment,
      cacheDir: config.data.cache,
      env: opts.env ?? process.env,
      now: () => Date.now(),
      deadlineMs: config.data.deadlineSeconds * 1000,
      log: opts.log,
    });
    const step = timeframeMs(req.timeframe);
    // Default end: the start of the last complete bar before now (a forming bar is not evidence).
    const endMs = req.endMs ?? Math.floor(opts.now.getTime() / step) * step - step;
    const range = historyRange({ endMs, days: req.days, warmupBars: req.warmupBars, timeframe: req.timeframe, assetClass: req.assetClass });
    p = alpaca.get(req.symbol, req.timeframe, req.assetClass, range).then((r) => {
      opts.log(`${req.symbol} ${req.timeframe}: ${r.bars.time.length} bars from Alpaca (${r.fromCache ? 'cache' : `${r.requests} requests`})`);
      return { bars: r.bars, notes: r.notes };
    });
    cache.set(key, p);
    return p;
  };
  return Object.assign(provider, {
    evict(symbol: string, timeframe: string): void {
      const prefix = `${symbol}\u0000${timeframe}\u0000`;
      for (const key of [...cache.keys()]) if (key.startsWith(prefix)) cache.delete(key);
    },
    held: (): number => cache.size,
  });
}

export function requireDataDir(config: Config): string {
  if (config.data.source === 'alpaca') return '';
  if (!config.data.dir) {
    throw usageError('no market data: pass --data <dir> (a folder of <SYMBOL>_<TIMEFRAME>.csv files) or --data alpaca, or set data.dir / data.source in the config file', '--data');
  }
  return config.data.dir;
}

export async function checkDevice(config: Config): Promise<void> {
  if (config.runtime.device === 'cuda') {
    const status = cudaProviderStatus();
    if (!status.available) {
      throw inputError(
        `device "cuda" was requested but CUDA is not available: ${status.reason}. Use --device auto to fall back to CPU, or install onnxruntime-node's CUDA provider (ONNXRUNTIME_NODE_INSTALL=cuda12) with CUDA 12 and cuDNN 9 on this runner`,
        'device',
      );
    }
  }
}

/** Fill in the runtime section from the models that were loaded. */
export async function runtimeSection(config: Config, models: PolicyModel[]): Promise<Report['runtime']> {
  const providers = [...new Set(models.map((m) => m.executionProvider))];
  const fallback = models.find((m) => m.fallbackReason)?.fallbackReason ?? null;
  let version: string | null = null;
  try {
    version = await onnxruntimeVersion();
  } catch {
    version = null;
  }
  return {
    executionProvider: providers.length ? providers.join(',') : null,
    device: config.runtime.device,
    fallbackReason: fallback,
    node: process.version,
    onnxruntime: version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/** The data section: where the bars came from, the range read, and the window end --end asked for (null: the last bar). */
export function dataSection(config: Config, ranges: { start: number; end: number }[], requestedEndMs?: number): Report['data'] {
  const range =
    ranges.length === 0
      ? null
      : {
          start: new Date(Math.min(...ranges.map((r) => r.start))).toISOString(),
          end: new Date(Math.max(...ranges.map((r) => r.end))).toISOString(),
        };
  return { source: config.data.source, dir: config.data.dir, range, requestedEnd: requestedEndMs === undefined ? null : new Date(requestedEndMs).toISOString() };
}

/**
 * The evidence's part of a decision: the decision the cost-stressed walk-forward would earn, then the
 * enabled evidence rules (each failing one lowers the decision a tier, not below RETRAIN).
 */
export function decideWithEvidence(m: ModelReport, decision: Decision, config: Config): Decision {
  const ev = m.evidence!;
  const cs = ev.costStress;
  const stressed = cs ? decide({ gating: m.gating, flags: m.flags, folds: cs.summary }, config.decision) : null;
  if (cs && stressed) {
    cs.decisionUnderStress = stressed.tier;
    cs.holds = tierRank(stressed.tier) >= tierRank(decision.tier);
  }
  ev.rules = evaluateEvidenceRules(ev, config.evidence, decision);
  return applyEvidenceRules(decision, ev.rules);
}

/**
 * Decides every model (SPEC section 7). A model that could not be evaluated gets no decision: it is
 * "not evaluated", with the reason in `notEvaluated` (its first error), never DROP.
 */
export function applyDecisions(report: Report, config: Config): void {
  for (const m of report.models) {
    if (!m.gating) continue;
    decideModel(m, config);
  }
  concludeReport(report);
}

/**
 * One model's decision and, when it has none, why it was not evaluated (kept when the evaluation
 * already recorded it with its kind; else the model's first error, a problem of the model).
 * `gating` may be null (a lone model).
 */
export function decideModel(m: ModelReport, config: Config): void {
  const folds = m.walkForward?.summary ?? null;
  const notEvaluated: NotEvaluated | null = folds ? null : (m.notEvaluated ?? { reason: m.errors[0] ?? 'no walk-forward result', kind: 'model' });
  m.decision = decide({ gating: m.gating, flags: m.flags, folds, notEvaluated: notEvaluated?.reason ?? null }, config.decision);
  if (m.decision && m.evidence) m.decision = decideWithEvidence(m, m.decision, config);
  m.notEvaluated = m.decision ? null : notEvaluated;
}

export async function runValidate(source: string, config: Config, configFile: string | null, opts: RunOptions): Promise<Report> {
  requireDataDir(config);
  if (opts.shard) checkShardable(config, opts.endMs);
  await checkDevice(config);
  const report = emptyReport('validate', config, configFile, opts.now);
  trackReport(report); // what an interruption writes (./interrupt.ts)
  const opened = await openTrainingArchive(source, config.gating, config.decision.required, opts.log);
  const getBars = barsProvider(config, opts);
  const loaded: PolicyModel[] = [];
  const ranges: { start: number; end: number }[] = [];
  try {
    report.archive = opened.archive;
    // A shard keeps only its own models (gating DROP ones included), in archive order.
    let selected = opened.models;
    if (opts.shard) {
      report.shard = shardInfo(opts.shard, archivePlan(opened, config, opts.shard.count), opened.archive.sha256, report.config.sha256, opts.endMs);
      const mine = new Set(report.shard.models);
      selected = opened.models.filter((gm) => mine.has(gm.report.id));
      opts.log(describeShard(report.shard));
    }
    report.models = selected.map((m) => m.report);
    for (const m of report.models) if (opts.requestedTiers && Object.hasOwn(opts.requestedTiers, m.id)) m.requested = opts.requestedTiers[m.id]!;
    const toEvaluate = selected.filter((gm) => gm.report.gating!.classification !== 'DROP' && gm.onnxPath && gm.report.errors.length === 0);
    let evaluatedCount = 0;

    /**
     * One model's stages 3–5. Its log lines are held and printed in archive order (below), so the
     * output reads the same whatever order concurrent evaluations finish in.
     */
    const evaluateOne = async (gm: (typeof selected)[number], log: (line: string) => void, slot: number): Promise<Outcome> => {
      const m = gm.report;
      const outcome: Outcome = { model: null, range: null, infraError: null };
      try {
        const t0 = performance.now();
        let cardJson: unknown;
        let cardFile: string;
        if (gm.cardPath) {
          cardFile = `${source}:${gm.cardPath}`;
          cardJson = parseJsonFile((await opened.reader.read(gm.cardPath)).toString('utf8'), cardFile);
        } else if (gm.entry.card !== undefined) {
          cardFile = `${source}:${opened.archive.summary.path} (symbols.${gm.entry.key}.card)`;
          cardJson = gm.entry.card;
        } else {
          throw inputError(
            `no policy card for ${m.id}: put ${gm.onnxPath!.replace(/\.onnx$/i, '.card.json')} beside the model, or a "card" object in its summary entry (see docs/policy-card.md)`,
            gm.onnxPath!,
          );
        }
        const bytes = await opened.reader.read(gm.onnxPath!);
        const model = await loadPolicyModel(bytes, {
          device: config.runtime.device,
          label: gm.onnxPath!,
          timeoutSeconds: config.runtime.inferenceTimeoutSeconds,
          slot,
        });
        outcome.model = model;
        // The bytes loaded are the ones the archive was opened (and its manifest checked) with.
        const atOpen = opened.reader.sha256Of?.(gm.onnxPath!);
        if (atOpen !== undefined && atOpen !== model.sha256) {
          throw inputError(
            `${source}: ${gm.onnxPath} changed while policy-gate read the archive (sha256 ${atOpen} when opened, ${model.sha256} when loaded); run it again on an archive nothing writes to`,
            gm.onnxPath!,
          );
        }
        m.model = modelFileInfo(model, gm.onnxPath!);
        const evaluated = await evaluateModel(m, model, cardJson, cardFile, getBars, {
          config,
          endMs: opts.endMs,
          backtestDays: config.backtest.days,
          walkForward: { days: config.walkForward.days, folds: config.walkForward.folds },
          equityOut: opts.equityOut,
          tradesOut: opts.tradesOut ?? null,
          log,
          borrowedCard: gm.borrowedCard,
          // Files the card names live beside it (an inline card: beside the model).
          cardFiles: archiveCardFiles(opened.reader, source, posix.dirname(gm.cardPath ?? gm.onnxPath!)),
          slot,
        });
        outcome.range = evaluated.range;
        if (opts.root !== undefined) {
          await compareWithChampion(m, { config, root: opts.root, getBars, endMs: opts.endMs, log, slot });
        } else if (m.evidence) {
          m.evidence.undefinedReasons['champion'] = 'not compared: no repository root to read the deployment configs from';
        }
        const s = m.walkForward?.summary;
        log(
          `${m.id}: backtest ${fmtPct(m.backtest?.metrics.totalReturn)}, ${s ? `${s.positiveFolds}/${s.folds} positive folds` : 'no folds'} (${(performance.now() - t0).toFixed(0)} ms, ${model.executionProvider})`,
        );
      } catch (err) {
        if (!(err instanceof GoldenMismatch)) {
          m.errors.push(describeError(err));
          m.notEvaluated = { reason: describeError(err), kind: notEvaluatedKind(err) };
        }
        if (err instanceof PolicyGateError && err.kind === 'infra') outcome.infraError = `${m.id}: ${err.message}`;
        log(`${m.id}: ${m.errors[m.errors.length - 1]}`);
      } finally {
        // The session is no longer needed (the report keeps what it said about itself); freeing it here
        // keeps each onnxruntime process at one model's session (two with a champion).
        await outcome.model?.release();
      }
      return outcome;
    };

    // Models are evaluated runtime.parallel_models at a time (docs/performance.md), each worker with its
    // own onnxruntime process (host slot): their models' inference runs on separate cores while this
    // process reads, hashes and parses the next models and gathers the evidence. Results do not depend on it.
    const slots = selected.map((gm) => ({ gm, lines: [] as string[], done: false, outcome: null as Outcome | null }));
    let printed = 0;
    const flush = (): void => {
      while (printed < slots.length && slots[printed]!.done) {
        const slot = slots[printed++]!;
        for (const line of slot.lines) opts.log(line);
        if (slot.outcome) {
          if (slot.outcome.model) loaded.push(slot.outcome.model);
          if (slot.outcome.range) ranges.push(slot.outcome.range);
          if (slot.outcome.infraError) report.infraErrors.push(slot.outcome.infraError);
        }
      }
    };
    const queue = slots.filter((slot) => {
      const m = slot.gm.report;
      if (m.gating!.classification === 'DROP') slot.lines.push(`${m.id}: gating DROP — not evaluated`);
      const runs = toEvaluate.includes(slot.gm);
      if (!runs) slot.done = true;
      return runs;
    });
    flush();
    const inFlight = new Set<(typeof slots)[number]>();
    const current = (): string | null =>
      inFlight.size
        ? slots
            .filter((x) => inFlight.has(x))
            .map((x) => x.gm.report.id)
            .join(', ')
        : null;
    const worker = async (hostSlot: number): Promise<void> => {
      for (let slot = queue.shift(); slot; slot = queue.shift()) {
        inFlight.add(slot);
        opts.progress?.({ done: evaluatedCount, total: toEvaluate.length, current: current() });
        const lines = slot.lines;
        slot.outcome = await evaluateOne(slot.gm, (line) => lines.push(line), hostSlot);
        // Its bars go unless a model still queued or running reads the same series.
        const { symbol, timeframe } = slot.gm.report;
        const sameSeries = (x: (typeof slots)[number]): boolean => x.gm.report.symbol === symbol && x.gm.report.timeframe === timeframe;
        if (!queue.some(sameSeries) && ![...inFlight].some((x) => x !== slot && sameSeries(x))) getBars.evict(symbol, timeframe);
        slot.done = true;
        inFlight.delete(slot);
        flush();
        opts.progress?.({ done: ++evaluatedCount, total: toEvaluate.length, current: current() });
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(config.runtime.parallelModels, queue.length)) }, (_, i) => worker(i)));
  } finally {
    await opened.reader.close();
  }
  report.runtime = await runtimeSection(config, loaded);
  report.data = dataSection(config, ranges, opts.endMs);
  applyDecisions(report, config);
  return report;
}

/** What one model's evaluation leaves for the run: the model (for the runtime section), its data range, an infrastructure error. */
interface Outcome {
  model: PolicyModel | null;
  range: { start: number; end: number } | null;
  infraError: string | null;
}

function fmtPct(v: number | null | undefined): string {
  return v === null || v === undefined ? '—' : `${(v * 100).toFixed(2)}%`;
}

export type { ModelReport, BarSeries };
