/**
 * `policy-gate backtest --model X.onnx`: one model, no training summary — the equivalent of the
 * training repo's `run_backtest.py --model ... --days 30 [--walk-forward 5]`.
 */
import { existsSync } from 'node:fs';
import { enclosingRoot, readUntrustedFile, readUntrustedText, RefusedFileError } from '../util/safe-read.js';
import { basename, dirname, join } from 'node:path';
import type { Config } from '../config/schema.js';
import { inputError } from '../core/errors.js';
import type { ModelReport, Report } from '../core/report.js';
import { parseJsonFile } from '../core/json.js';
import { splitModelId } from '../core/summary.js';
import { isTimeframe } from '../core/types.js';
import { loadPolicyModel, MAX_MODEL_BYTES, modelFileInfo, modelTooLarge } from '../adapters/onnx/session.js';
import { describeError, evaluateModel, GoldenMismatch } from './evaluate.js';
import { folderCardFiles } from './feature-graph.js';
import { emptyReport } from './report-base.js';
import { trackReport } from './interrupt.js';
import { barsProvider, checkDevice, dataSection, decideModel, requireDataDir, runtimeSection } from './validate.js';
import { concludeReport } from '../core/decide.js';
import { PolicyGateError } from '../core/errors.js';

export interface BacktestOptions {
  now: Date;
  env?: NodeJS.ProcessEnv;
  log: (line: string) => void;
  cardPath: string | null;
  endMs: number | undefined;
  /** Folds for a walk-forward, or null for the single backtest. */
  folds: number | null;
  equityOut: string | null;
  /** A folder for one CSV of every trade per backtest and fold (docs/reports.md). */
  tradesOut?: string | null;
  /** The working folder: no path component of the model or card below it may be a symbolic link (default: process.cwd()). */
  root?: string;
}

/**
 * Backtest reports whose one model failed on bad input (an invalid card, a missing or broken bars
 * file, a bad APCA_API_DATA_URL): the CLI exits 2 for them, as for any input error, rather than 1
 * (a model that ran and failed its checks). The report itself is unchanged.
 */
const inputFailures = new WeakSet<Report>();

/** True when `report` (from runBacktest) failed because of bad input: exit 2. */
export function failedOnInput(report: Report): boolean {
  return inputFailures.has(report);
}

async function readJson(path: string, what: string, root: string): Promise<unknown> {
  let text: string;
  try {
    text = await readUntrustedText(path, { root: enclosingRoot(path, root), what });
  } catch (err) {
    if (err instanceof PolicyGateError) throw err;
    throw inputError(`${what} ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, path);
  }
  return parseJsonFile(text, path);
}

export async function runBacktest(modelPath: string, config: Config, configFile: string | null, opts: BacktestOptions): Promise<Report> {
  requireDataDir(config);
  await checkDevice(config);
  if (!existsSync(modelPath)) throw inputError(`model file ${modelPath} does not exist`, modelPath);
  if (/\.(pt|pth)$/i.test(modelPath)) {
    throw inputError(`${modelPath}: PyTorch checkpoint: export it to ONNX (torch.onnx.export) — see docs/archive-format.md#exporting-to-onnx`, modelPath);
  }
  const cardPath = opts.cardPath ?? join(dirname(modelPath), basename(modelPath).replace(/\.onnx$/i, '') + '.card.json');
  if (!existsSync(cardPath)) {
    throw inputError(`no policy card for ${modelPath}: expected ${cardPath} (or pass --card <file>); the card says how to build observations and read actions (docs/policy-card.md)`, cardPath);
  }
  const root = opts.root ?? process.cwd();
  const cardJson = await readJson(cardPath, 'policy card', root);
  const stem = basename(modelPath).replace(/\.onnx$/i, '');
  const fromName = splitModelId(stem);
  const cardObj = (cardJson ?? {}) as { symbol?: unknown; timeframe?: unknown };
  const symbol = typeof cardObj.symbol === 'string' ? cardObj.symbol : fromName?.symbol;
  const tf = isTimeframe(cardObj.timeframe) ? cardObj.timeframe : (fromName?.timeframe ?? '1Hour');
  if (!symbol) {
    throw inputError(`${cardPath}: no "symbol", and the model file name ${basename(modelPath)} is not <SYMBOL>_<TIMEFRAME>.onnx`, cardPath);
  }
  // A model file named <SYMBOL>_<TIMEFRAME>.onnx and a card of another symbol or timeframe: the card
  // belongs to another model, and its observations would be built from the wrong bars.
  if (fromName) {
    const key = (x: string): string => x.replace(/[^A-Za-z0-9]/g, '').toUpperCase();
    if (key(symbol) !== key(fromName.symbol) || tf !== fromName.timeframe) {
      throw inputError(
        `${cardPath}: the card is for ${symbol} ${tf}, but the model file ${basename(modelPath)} is named for ${fromName.symbol} ${fromName.timeframe}: ` +
          `pass the model's own card (--card), or rename the model file if the card is right`,
        cardPath,
      );
    }
  }

  const report = emptyReport('backtest', config, configFile, opts.now);
  trackReport(report); // what an interruption writes (./interrupt.ts)
  // Refused by its size before it is read: a multi-gigabyte file would otherwise be read whole.
  // A regular file reached without a symbolic link (src/util/safe-read.ts).
  const bytes = await readUntrustedFile(modelPath, {
    root: enclosingRoot(modelPath, root),
    what: 'model file',
    maxBytes: MAX_MODEL_BYTES,
    tooLarge: (size) => modelTooLarge(modelPath, size),
  });
  const m: ModelReport = {
    id: `${symbol.replace('/', '')}_${tf}`,
    symbol,
    timeframe: tf,
    assetClass: null,
    assetClassGuessed: false,
    candidate: 'final',
    model: { path: modelPath, sha256: '', inputs: [], outputs: [] },
    card: { path: cardPath, inline: false },
    gating: null,
    flags: [],
    train: { start: null, end: null },
    backtest: null,
    walkForward: null,
    requested: config.decision.required,
    decision: null,
    notEvaluated: null,
    dataQuality: [],
    errors: [],
    notes: [],
    evidence: null,
  };
  report.models = [m];
  const model = await loadPolicyModel(bytes, { device: config.runtime.device, label: modelPath, timeoutSeconds: config.runtime.inferenceTimeoutSeconds });
  let range: { start: number; end: number } | null = null;
  try {
    m.model = modelFileInfo(model, modelPath);
    const evaluated = await evaluateModel(m, model, cardJson, cardPath, barsProvider(config, opts), {
      config,
      endMs: opts.endMs,
      backtestDays: config.backtest.days,
      walkForward: opts.folds ? { days: config.backtest.days, folds: opts.folds } : null,
      equityOut: opts.equityOut,
      tradesOut: opts.tradesOut ?? null,
      log: opts.log,
      windowNames: { backtest: '--days / backtest.days', walkForward: '--days / backtest.days' },
      cardFiles: folderCardFiles(cardPath, root),
    });
    range = evaluated.range;
  } catch (err) {
    // A bars file refused for what it is (a symbolic link, a FIFO): with one model, exit 2 (the
    // failure report is still written by the caller).
    if (err instanceof RefusedFileError) throw err;
    if (!(err instanceof GoldenMismatch)) {
      m.errors.push(describeError(err));
      // One model is the whole run: its files, card and bars are all the run's input (exit 2).
      const kind = err instanceof PolicyGateError ? (err.kind === 'infra' ? 'infra' : 'input') : 'model';
      m.notEvaluated = { reason: describeError(err), kind };
    }
    if (err instanceof PolicyGateError && err.kind === 'infra') report.infraErrors.push(`${m.id}: ${err.message}`);
    if (err instanceof PolicyGateError && (err.kind === 'input' || err.kind === 'usage')) inputFailures.add(report);
  } finally {
    report.runtime = await runtimeSection(config, [model]);
    await model.release();
  }
  report.data = dataSection(config, range ? [range] : [], opts.endMs);
  if (opts.folds) {
    // A walk-forward decides, by SPEC section 7, like validate. There is no training summary, so no
    // gating: rules 1 (the model's own flags), 2, 4 and 5 apply, and rule 3 (LIVE) needs APPROVED
    // gating — a lone model is at most PAPER. The run is judged against decision.required.
    m.notes.push('no training summary, so no gating: rules 1 (golden vectors, look-ahead), 2, 4 and 5 decide, and LIVE (rule 3) needs APPROVED gating, so this model is at most PAPER');
    decideModel(m, config);
    concludeReport(report);
    return report;
  }
  // Without --walk-forward there is no decision: one window rewards luck (docs/backtest.md). The run
  // succeeds when the model could be evaluated, and says that it decided nothing.
  if (m.errors.length === 0) {
    report.conclusion = 'success';
    report.conclusionReasons = [NO_DECISION];
  } else {
    report.conclusion = 'failure';
    report.conclusionReasons = m.errors.map((e) => (e.startsWith(`${m.id}: `) ? e : `${m.id}: ${e}`));
  }
  return report;
}

/** What a backtest without --walk-forward concludes: a single window is reported, never judged. */
export const NO_DECISION = 'a backtest without --walk-forward decides nothing (no tier is earned or refused); add --walk-forward K for a decision (docs/backtest.md, "Decision")';
