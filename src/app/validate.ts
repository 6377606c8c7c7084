/**
 * `policy-gate validate`: the whole pipeline (SPEC section 1) over a training archive — open, gate,
 * load, fetch bars, backtest, walk-forward, decide, conclude. One model's failure never loses the
 * others' results: it is recorded on that model and the run goes on.
 */
import type { Config } from '../config/schema.js';
import { conclude, decide } from '../core/decide.js';
import { inputError, usageError } from '../core/errors.js';
import type { ModelReport, Report } from '../core/report.js';
import type { BarSeries, Timeframe } from '../core/types.js';
import { loadBarsFromDir } from '../adapters/bars/csv.js';
import { cudaProviderStatus, loadPolicyModel, modelFileInfo, onnxruntimeVersion, type PolicyModel } from '../adapters/onnx/session.js';
import { openTrainingArchive } from './archive.js';
import { describeError, evaluateModel, GoldenMismatch, type BarsInput } from './evaluate.js';
import { emptyReport } from './report-base.js';

export interface RunOptions {
  now: Date;
  log: (line: string) => void;
  endMs: number | undefined;
  equityOut: string | null;
}

/** Bars per symbol and timeframe, read once per run. */
export class BarsSource {
  private readonly cache = new Map<string, Promise<BarsInput & { file: string }>>();
  constructor(private readonly dir: string) {}

  get(symbol: string, timeframe: Timeframe): Promise<BarsInput & { file: string }> {
    const key = `${symbol}\u0000${timeframe}`;
    let p = this.cache.get(key);
    if (!p) {
      p = loadBarsFromDir(this.dir, symbol, timeframe);
      this.cache.set(key, p);
    }
    return p;
  }
}

export function requireDataDir(config: Config): string {
  if (config.data.source !== 'csv' || !config.data.dir) {
    throw usageError(
      'no market data: pass --data <dir> (a folder of <SYMBOL>_<TIMEFRAME>.csv files) or set data.dir in the config file',
      '--data',
    );
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

export function dataSection(config: Config, ranges: { start: number; end: number }[]): Report['data'] {
  const range =
    ranges.length === 0
      ? null
      : {
          start: new Date(Math.min(...ranges.map((r) => r.start))).toISOString(),
          end: new Date(Math.max(...ranges.map((r) => r.end))).toISOString(),
        };
  return { source: config.data.source, dir: config.data.dir, range };
}

export function applyDecisions(report: Report, config: Config): void {
  for (const m of report.models) {
    if (!m.gating) continue;
    const notEvaluated = m.walkForward?.summary ? null : (m.errors[0] ?? (m.gating.classification === 'DROP' ? null : 'no walk-forward result'));
    m.decision = decide({ gating: m.gating, flags: m.flags, folds: m.walkForward?.summary ?? null, notEvaluated }, config.decision);
  }
  const c = conclude(report.models);
  report.conclusion = report.errors.length > 0 ? 'failure' : c.conclusion;
  report.conclusionReasons = [...report.errors.map((e) => `run error: ${e}`), ...c.reasons];
}

export async function runValidate(source: string, config: Config, configFile: string | null, opts: RunOptions): Promise<Report> {
  const dataDir = requireDataDir(config);
  await checkDevice(config);
  const report = emptyReport('validate', config, configFile, opts.now);
  const opened = await openTrainingArchive(source, config.gating, config.decision.required, opts.log);
  const bars = new BarsSource(dataDir);
  const loaded: PolicyModel[] = [];
  const ranges: { start: number; end: number }[] = [];
  try {
    report.archive = opened.archive;
    report.models = opened.models.map((m) => m.report);
    for (const gm of opened.models) {
      const m = gm.report;
      if (m.gating!.classification === 'DROP') {
        opts.log(`${m.id}: gating DROP — not evaluated`);
        continue;
      }
      if (!gm.onnxPath || m.errors.length > 0) continue;
      let model: PolicyModel | null = null;
      try {
        const t0 = performance.now();
        let cardJson: unknown;
        let cardFile: string;
        if (gm.cardPath) {
          cardFile = `${source}:${gm.cardPath}`;
          const text = (await opened.reader.read(gm.cardPath)).toString('utf8');
          try {
            cardJson = JSON.parse(text);
          } catch (err) {
            throw inputError(`${cardFile}: not valid JSON (${(err as Error).message})`, cardFile);
          }
        } else if (gm.entry.card !== undefined) {
          cardFile = `${source}:${opened.archive.summary.path} (symbols.${gm.entry.key}.card)`;
          cardJson = gm.entry.card;
        } else {
          throw inputError(
            `no policy card for ${m.id}: put ${gm.onnxPath.replace(/\.onnx$/i, '.card.json')} beside the model, or a "card" object in its summary entry (see docs/policy-card.md)`,
            gm.onnxPath,
          );
        }
        const bytes = await opened.reader.read(gm.onnxPath);
        model = await loadPolicyModel(bytes, { device: config.runtime.device, label: gm.onnxPath });
        loaded.push(model);
        m.model = modelFileInfo(model, gm.onnxPath);
        const barsInput = await bars.get(m.symbol, m.timeframe);
        const evaluated = await evaluateModel(
          m,
          model,
          cardJson,
          cardFile,
          barsInput,
          {
            config,
            endMs: opts.endMs,
            backtestDays: config.backtest.days,
            walkForward: { days: config.walkForward.days, folds: config.walkForward.folds },
            equityOut: opts.equityOut,
            log: opts.log,
            borrowedCard: gm.borrowedCard,
          },
        );
        ranges.push(evaluated.range);
        const s = m.walkForward?.summary;
        opts.log(
          `${m.id}: backtest ${fmtPct(m.backtest?.metrics.totalReturn)}, ${s ? `${s.positiveFolds}/${s.folds} positive folds` : 'no folds'} (${(performance.now() - t0).toFixed(0)} ms, ${model.executionProvider})`,
        );
      } catch (err) {
        if (!(err instanceof GoldenMismatch)) m.errors.push(describeError(err));
        opts.log(`${m.id}: ${m.errors[m.errors.length - 1]}`);
      }
    }
  } finally {
    await opened.reader.close();
  }
  report.runtime = await runtimeSection(config, loaded);
  report.data = dataSection(config, ranges);
  for (const model of loaded) await model.release();
  applyDecisions(report, config);
  return report;
}

function fmtPct(v: number | null | undefined): string {
  return v === null || v === undefined ? '—' : `${(v * 100).toFixed(2)}%`;
}

export type { ModelReport, BarSeries };
