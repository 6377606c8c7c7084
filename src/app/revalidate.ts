/**
 * `policy-gate revalidate`: does what is deployed still earn its tier? Every model the paper/live
 * configs list is evaluated from its own files (the entry's `model` and `card`, repository-relative) on
 * the latest window — the same backtest and walk-forward as `validate` — and decided with the gating
 * class recorded at promotion (LIVE needs APPROVED) and its training end (out-of-sample check). Each
 * model is requested at the tier it holds, so the report's conclusion fails when one fell below it.
 *
 * What re-validation cannot judge is never a demotion: a model whose files are missing or changed, or
 * whose bars could not be fetched, is reported as not evaluated (the run fails) and keeps its tier.
 * A golden-vector mismatch is judged: the deployed file no longer reproduces its card, so it is DROP.
 */
import { readUntrustedFile, readUntrustedText } from '../util/safe-read.js';
import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { concludeReport } from '../core/decide.js';
import { errorMessage, inputError, PolicyGateError } from '../core/errors.js';
import { deployedEntry, type DeployPaths, type DeployTier } from '../core/promotion.js';
import { notEvaluatedKind, type ModelReport, type Report } from '../core/report.js';
import { parseJsonFile } from '../core/json.js';
import { splitModelId } from '../core/summary.js';
import { isTimeframe, type GatingResult } from '../core/types.js';
import { loadPolicyModel, MAX_MODEL_BYTES, modelFileInfo, modelTooLarge, type PolicyModel } from '../adapters/onnx/session.js';
import { sha256 } from '../util/hash.js';
import { describeError, evaluateModel, GoldenMismatch } from './evaluate.js';
import { folderCardFiles } from './feature-graph.js';
import { readDeployFiles, type DeployFiles } from './promote.js';
import { emptyReport } from './report-base.js';
import { trackReport } from './interrupt.js';
import { applyDecisions, barsProvider, checkDevice, dataSection, requireDataDir, runtimeSection } from './validate.js';

export interface RevalidateOptions {
  /** The repository root: the configs' paths and the entries' files are relative to it. */
  root: string;
  paths: DeployPaths;
  now: Date;
  env?: NodeJS.ProcessEnv;
  log: (line: string) => void;
  endMs: number | undefined;
  equityOut: string | null;
  /** A folder for one CSV of every trade per backtest and fold (docs/reports.md). */
  tradesOut?: string | null;
  /** Only these model ids (default: every deployed model). */
  only?: ReadonlySet<string>;
}

export interface DeployedModel {
  id: string;
  tier: DeployTier;
  /** The config file that lists it at that tier. */
  file: string;
  entry: Record<string, unknown>;
}

/** Every deployed model once, at the highest tier that lists it. */
export function deployedModels(deploy: DeployFiles): DeployedModel[] {
  const out: DeployedModel[] = [];
  for (const [tier, key] of [
    ['LIVE', 'live'],
    ['PAPER', 'paper'],
  ] as const) {
    for (const id of Object.keys(deploy.configs[key].models).sort()) {
      if (out.some((d) => d.id === id)) continue;
      out.push({ id, tier, file: deploy.paths[key], entry: deploy.configs[key].models[id]! });
    }
  }
  return out;
}

const HARD_FLAGS = ['METRIC_INVALID', 'OBSERVATION_MISMATCH', 'INFERENCE_MISMATCH'];

function recordedGating(d: DeployedModel, classification: 'APPROVED' | 'REVIEW' | null): GatingResult {
  return {
    classification: classification ?? 'REVIEW',
    flags: [],
    final: { fitness: null, profitFactor: null, consistency: null, maxDrawdown: null },
    checkpointIndex: null,
    reasons: [classification ? `gating ${classification}, as recorded in ${d.file} at promotion` : `${d.file} records no gating class for ${d.id}: treated as REVIEW (at most PAPER)`],
    points: 0,
  };
}

/** Evaluates the deployed models (see the module comment) into a report of command "revalidate". */
export async function evaluateDeployed(deployed: readonly DeployedModel[], config: Config, configFile: string | null, opts: RevalidateOptions): Promise<Report> {
  requireDataDir(config);
  await checkDevice(config);
  const report = emptyReport('revalidate', config, configFile, opts.now);
  trackReport(report); // what an interruption writes (./interrupt.ts)
  const getBars = barsProvider(config, opts);
  const loaded: PolicyModel[] = [];
  const ranges: { start: number; end: number }[] = [];
  for (const d of deployed) {
    const rec = deployedEntry(d.entry, d.id, d.file);
    const fromId = splitModelId(d.id);
    const m: ModelReport = {
      id: d.id,
      symbol: fromId?.symbol ?? d.id,
      timeframe: fromId?.timeframe ?? '1Hour',
      assetClass: null,
      assetClassGuessed: false,
      candidate: rec.ok ? (rec.entry.candidate ?? 'final') : 'final',
      model: null,
      card: rec.ok ? { path: rec.entry.card, inline: false } : null,
      gating: recordedGating(d, rec.ok ? (rec.entry.gating ?? null) : null),
      flags: [],
      train: { start: null, end: rec.ok ? (rec.entry.train_end ?? null) : null },
      backtest: null,
      walkForward: null,
      requested: d.tier,
      decision: null,
      dataQuality: [],
      errors: [],
      notes: [`deployed at ${d.tier} by ${d.file}`],
    };
    report.models.push(m);
    if (!rec.ok) {
      m.errors.push(rec.why);
      continue;
    }
    let model: PolicyModel | null = null;
    try {
      const modelFile = rec.entry.model;
      let bytes: Buffer;
      try {
        bytes = await readUntrustedFile(resolve(opts.root, modelFile), { root: opts.root, what: 'deployed model', maxBytes: MAX_MODEL_BYTES, tooLarge: (size) => modelTooLarge(modelFile, size) });
      } catch (err) {
        if (err instanceof PolicyGateError) throw err;
        throw inputError(`${d.file}: models.${d.id}.model ${modelFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`, modelFile, err);
      }
      const actual = sha256(bytes);
      if (rec.entry.model_sha256 && actual !== rec.entry.model_sha256) {
        throw inputError(`${modelFile}: sha256 is ${actual}, but ${d.file} deployed ${rec.entry.model_sha256}; the deployed file changed without a promotion`, modelFile);
      }
      let cardText: string;
      try {
        cardText = await readUntrustedText(resolve(opts.root, rec.entry.card), { root: opts.root, what: 'policy card' });
      } catch (err) {
        if (err instanceof PolicyGateError) throw err;
        throw inputError(`${d.file}: models.${d.id}.card ${rec.entry.card} cannot be read (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`, rec.entry.card, err);
      }
      const cardJson = parseJsonFile(cardText, rec.entry.card);
      const card = (cardJson ?? {}) as { symbol?: unknown; timeframe?: unknown };
      if (typeof card.symbol === 'string') m.symbol = card.symbol;
      if (isTimeframe(card.timeframe)) m.timeframe = card.timeframe;
      model = await loadPolicyModel(bytes, { device: config.runtime.device, label: modelFile, timeoutSeconds: config.runtime.inferenceTimeoutSeconds });
      loaded.push(model);
      m.model = modelFileInfo(model, modelFile);
      const evaluated = await evaluateModel(m, model, cardJson, rec.entry.card, getBars, {
        config,
        endMs: opts.endMs,
        backtestDays: config.backtest.days,
        walkForward: { days: config.walkForward.days, folds: config.walkForward.folds },
        equityOut: opts.equityOut,
        tradesOut: opts.tradesOut ?? null,
        log: opts.log,
        cardFiles: folderCardFiles(resolve(opts.root, rec.entry.card), opts.root),
      });
      ranges.push(evaluated.range);
      const s = m.walkForward?.summary;
      opts.log(`${m.id} (${d.tier}): ${s ? `${s.positiveFolds}/${s.folds} positive folds` : 'no folds'}`);
    } catch (err) {
      if (!(err instanceof GoldenMismatch)) {
        m.errors.push(describeError(err));
        m.notEvaluated = { reason: describeError(err), kind: notEvaluatedKind(err) };
      }
      if (err instanceof PolicyGateError && err.kind === 'infra') report.infraErrors.push(`${m.id}: ${err.message}`);
      opts.log(`${m.id}: ${m.errors[m.errors.length - 1]}`);
    }
  }
  report.runtime = await runtimeSection(config, loaded);
  report.data = dataSection(config, ranges, opts.endMs);
  for (const model of loaded) await model.release();
  applyDecisions(report, config);
  // What could not be judged is not decided (so never demoted); a broken model (golden mismatch) is.
  for (const m of report.models) {
    if (!m.walkForward?.summary && !m.flags.some((f) => HARD_FLAGS.includes(f))) {
      m.decision = null;
      m.notEvaluated ??= { reason: m.errors[0] ?? 'no walk-forward result', kind: 'model' };
    }
  }
  concludeReport(report);
  if (report.models.length === 0) {
    report.conclusion = report.errors.length > 0 ? 'failure' : 'success';
    report.conclusionReasons = ['nothing is deployed: the deployment configs list no models'];
  }
  return report;
}

export async function runRevalidate(config: Config, configFile: string | null, opts: RevalidateOptions): Promise<{ report: Report; deploy: DeployFiles }> {
  const deploy = await readDeployFiles(opts.root, opts.paths);
  const deployed = deployedModels(deploy).filter((d) => !opts.only || opts.only.has(d.id));
  const report = await evaluateDeployed(deployed, config, configFile, opts);
  return { report, deploy };
}

/** The run's conclusion from its models' decisions and its errors (as validate concludes): core/decide.ts. */
export { concludeReport };
