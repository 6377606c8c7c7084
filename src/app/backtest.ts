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
import { emptyReport } from './report-base.js';
import { trackReport } from './interrupt.js';
import { barsProvider, checkDevice, dataSection, requireDataDir, runtimeSection } from './validate.js';
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
    throw inputError(
      `no policy card for ${modelPath}: expected ${cardPath} (or pass --card <file>); the card says how to build observations and read actions (docs/policy-card.md)`,
      cardPath,
    );
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
      log: opts.log,
    });
    range = evaluated.range;
  } catch (err) {
    // A bars file refused for what it is (a symbolic link, a FIFO): with one model, exit 2 (the
    // failure report is still written by the caller).
    if (err instanceof RefusedFileError) throw err;
    if (!(err instanceof GoldenMismatch)) m.errors.push(describeError(err));
    if (err instanceof PolicyGateError && err.kind === 'infra') report.infraErrors.push(`${m.id}: ${err.message}`);
    if (err instanceof PolicyGateError && (err.kind === 'input' || err.kind === 'usage')) inputFailures.add(report);
  } finally {
    report.runtime = await runtimeSection(config, [model]);
    await model.release();
  }
  report.data = dataSection(config, range ? [range] : []);
  // No training summary, so no gating and no deployment decision: the run succeeds when the model
  // could be evaluated (the walk-forward rating is reported for the reader to judge).
  report.conclusion = m.errors.length === 0 ? 'success' : 'failure';
  report.conclusionReasons = m.errors.map((e) => `${m.id}: ${e}`);
  return report;
}
