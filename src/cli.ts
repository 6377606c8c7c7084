/**
 * The command-line shell (SPEC section 9). It parses flags, runs the same pipeline the Action runs,
 * prints results on stdout and progress on stderr, and maps outcomes to exit codes:
 * 0 success, 1 a model fell short, 2 bad input or usage, 3 infrastructure.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { loadConfig } from './config/load.js';
import type { Config, Device } from './config/schema.js';
import { checkCrossField, defaultConfig } from './config/schema.js';
import { emptyReport } from './app/report-base.js';
import { PolicyGateError, usageError, errorMessage } from './core/errors.js';
import { hasRunInputError, outcomeLabel, type Report } from './core/report.js';
import { TERMINAL_WIDTH, decisionBlock, decisionsTable, foldAnalysis, gatingTable, metricsBlock, modelNotes } from './core/render/text.js';
import { thresholds } from './core/render/verdict.js';
import { wrapText } from './core/render/width.js';
import { evidenceText } from './core/render/evidence.js';
import { runGate } from './app/gate.js';
import { runValidate } from './app/validate.js';
import { failedOnInput, runBacktest } from './app/backtest.js';
import { outputReport, probeOutputFolder, reportJson, unwritableError, writeReportFiles } from './app/output.js';
import type { AtomicFs } from './util/atomic.js';
import { redactOutput, registerSecrets, secretsFromEnv } from './util/redact.js';
import { readAlpacaKeys } from './adapters/alpaca/index.js';
import { toolVersion } from './util/version.js';
import { createProgress } from './util/progress.js';
import { logLine, neutralizeCommands, printable } from './util/terminal.js';
import { promoteCommand, revalidateCommand, trackCommand } from './cli-promotion.js';
import { parseShardSpec, type ShardSpec } from './core/shard.js';
import { describeShard, failedShardInfo } from './app/shard.js';
import { runMerge } from './app/merge.js';
import { checkArchive, checkExitCode, checkModelFile, renderCheck } from './app/check.js';
import { closest, commandHelp } from './cli-help.js';
import { parseUtc } from './core/time.js';
import { handleStopSignals, interruptedReport } from './app/interrupt.js';

const USAGE = `policy-gate ${'{version}'} — gate, backtest and walk-forward-validate RL trading policies (ONNX)

Usage:
  policy-gate validate <archive.zip|dir> [--data <dir>|alpaca] [--days 180] [--walk-forward 5]
                       [--backtest-days 30] [--capital 100000] [--end <ISO>] [--config <file>]
                       [--out <dir>] [--equity-out <dir>] [--trades-out <dir>] [--device auto|cpu|cuda] [--json]
                       [--shard <i>/<n>]   evaluate the i-th of n shards: a partial report
  policy-gate merge <partial report.json|dir>... [--out <dir>] [--json]
  policy-gate check <archive.zip|dir> | --model <file.onnx> [--card <file>]  [--config <file>] [--json]
                       bind each card to its model and run the inference goldens (no bars):
                       exit 0 fits, 1 a golden mismatches, 2 a mis-set card
  policy-gate gate <archive.zip|dir> [--config <file>] [--out <dir>] [--json]
  policy-gate backtest --model <file.onnx> [--card <file>] [--data <dir>|alpaca] [--days 30]
                       [--capital 100000] [--walk-forward <K>] [--end <ISO>] [--config <file>]
                       [--out <dir>] [--equity-out <dir>] [--trades-out <dir>] [--device auto|cpu|cuda] [--json]
  policy-gate promote --report <report.json> [--paper <file>] [--live <file>] [--archive <zip|dir>]
                      [--models-dir <dir>] [--config <file>] [--dry-run] [--json]
  policy-gate revalidate [--paper <file>] [--live <file>] [--data <dir>|alpaca] [--end <ISO>]
                         [--days 180] [--walk-forward 5] [--backtest-days 30] [--config <file>]
                         [--out <dir>] [--equity-out <dir>] [--trades-out <dir>] [--device auto|cpu|cuda] [--json]
  policy-gate track [--paper <file>] [--live <file>] [--account paper|live] [--data <dir>|alpaca]
                    [--end <ISO>] [--config <file>] [--out <dir>] [--json]
                       each deployed model's record on its Alpaca account beside its backtest

Each command's flags: policy-gate <command> --help (or policy-gate help <command>).
Exit codes: 0 success, 1 a model fell short, 2 bad input or usage, 3 data provider or API unreachable,
128 + the signal when interrupted (130 SIGINT, 143 SIGTERM, 129 SIGHUP; the report is still written).
Progress goes to stderr; --json prints report.json on stdout. Docs: README.md, docs/.`;

const OPTIONS = {
  data: { type: 'string' },
  days: { type: 'string' },
  'walk-forward': { type: 'string' },
  'backtest-days': { type: 'string' },
  capital: { type: 'string' },
  end: { type: 'string' },
  config: { type: 'string' },
  out: { type: 'string' },
  'equity-out': { type: 'string' },
  'trades-out': { type: 'string' },
  device: { type: 'string' },
  json: { type: 'boolean' },
  model: { type: 'string' },
  card: { type: 'string' },
  report: { type: 'string' },
  paper: { type: 'string' },
  live: { type: 'string' },
  archive: { type: 'string' },
  'models-dir': { type: 'string' },
  shard: { type: 'string' },
  'dry-run': { type: 'boolean' },
  account: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

type Values = { -readonly [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

const ALLOWED: Record<string, (keyof typeof OPTIONS)[]> = {
  gate: ['config', 'out', 'json'],
  validate: ['data', 'days', 'walk-forward', 'backtest-days', 'capital', 'end', 'config', 'out', 'equity-out', 'trades-out', 'device', 'json', 'shard'],
  merge: ['out', 'json'],
  check: ['model', 'card', 'config', 'json'],
  backtest: ['model', 'card', 'data', 'days', 'walk-forward', 'capital', 'end', 'config', 'out', 'equity-out', 'trades-out', 'device', 'json'],
  promote: ['report', 'paper', 'live', 'archive', 'models-dir', 'config', 'json', 'dry-run'],
  revalidate: ['paper', 'live', 'data', 'days', 'walk-forward', 'backtest-days', 'capital', 'end', 'config', 'out', 'equity-out', 'trades-out', 'device', 'json'],
  track: ['paper', 'live', 'account', 'data', 'days', 'walk-forward', 'backtest-days', 'capital', 'end', 'config', 'out', 'device', 'json'],
};

function positiveNumber(flag: string, raw: string | undefined, integer = false): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw usageError(`--${flag} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(raw)}`, `--${flag}`);
  }
  return v;
}

/**
 * --end: an ISO date or time (UTC). With `now`, an end in the future is refused: a window that ends
 * after the clock holds bars that do not exist yet, so the run could not be reproduced. (An end after
 * the last bar of a series but not in the future is accepted, and the report notes which bar was used.)
 */
export function parseEnd(raw: string | undefined, now?: Date): number | undefined {
  if (raw === undefined) return undefined;
  // No offset means UTC, whatever the machine's time zone (src/core/time.ts).
  const ms = parseUtc(raw);
  if (ms === null) throw usageError(`--end must be an ISO 8601 date or time (UTC unless it names an offset), got ${JSON.stringify(raw)}`, '--end');
  if (now !== undefined && ms > now.getTime()) {
    throw usageError(
      `--end ${new Date(ms).toISOString()} is in the future (now ${now.toISOString()}): pin the window to a time that has passed, or omit --end to end at the last bar`,
      '--end',
    );
  }
  return ms;
}

/** Apply command-line overrides on top of the config file, then re-check the cross-field rules. */
function applyFlags(config: Config, command: string, v: Values): Config {
  const c = structuredClone(config);
  if (command === 'validate' || command === 'revalidate' || command === 'track') {
    c.walkForward.days = positiveNumber('days', v.days) ?? c.walkForward.days;
    c.backtest.days = positiveNumber('backtest-days', v['backtest-days']) ?? c.backtest.days;
  }
  if (command === 'backtest') c.backtest.days = positiveNumber('days', v.days) ?? c.backtest.days;
  c.walkForward.folds = positiveNumber('walk-forward', v['walk-forward'], true) ?? c.walkForward.folds;
  c.backtest.capital = positiveNumber('capital', v.capital) ?? c.backtest.capital;
  if (v.device !== undefined) {
    if (!['auto', 'cpu', 'cuda'].includes(v.device)) throw usageError(`--device must be auto, cpu or cuda, got ${JSON.stringify(v.device)}`, '--device');
    c.runtime.device = v.device as Device;
  }
  if (v.data !== undefined) {
    if (v.data === 'alpaca') {
      c.data.source = 'alpaca';
    } else {
      c.data.source = 'csv';
      c.data.dir = v.data;
    }
  }
  checkCrossField(c, 'command line');
  return c;
}

/** An output folder must be a folder, or not exist yet (it is created); checked before any work. */
function checkOutputFolder(flag: string, path: string | undefined): void {
  if (path === undefined) return;
  const st = statSync(path, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) {
    throw usageError(`--${flag} ${path} is a file, not a folder; name a folder (it is created when missing)`, `--${flag}`);
  }
}

function checkInputFolder(what: string, path: string): void {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw usageError(`${what}: the bars folder ${path} does not exist; pass a folder of <SYMBOL>_<TIMEFRAME>.csv files`, what);
  if (!st.isDirectory()) throw usageError(`${what}: ${path} is not a folder; pass a folder of <SYMBOL>_<TIMEFRAME>.csv files`, what);
}

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  now: () => Date;
  cwd: string;
  /** Environment for keys and provider URLs; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** stderr is a terminal: progress is a bar there (unless CI is set), plain lines otherwise. */
  stderrIsTTY?: boolean;
  /** The terminal's width, for the bar. */
  columns?: number;
  /**
   * Handle SIGINT, SIGTERM and SIGHUP (src/app/interrupt.ts): stop the onnxruntime processes, write the
   * report as far as the run got, exit with 128 + the signal. The real command line does; a caller that
   * runs main() inside its own process (tests) does not.
   */
  handleSignals?: boolean;
  /** The file-system calls the report writer and the output probe make (a seam for tests: a full disk). */
  outputFs?: Partial<AtomicFs>;
}

const defaultIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  now: () => new Date(),
  cwd: process.cwd(),
  env: process.env,
  stderrIsTTY: process.stderr.isTTY === true,
  columns: process.stderr.columns,
  handleSignals: true,
};

export async function main(argv: string[], rawIo: CliIo = defaultIo): Promise<number> {
  // Untrusted text (model ids, entry names, card fields) reaches both streams: no line may become a
  // workflow command when the CLI runs in a GitHub workflow, and stdout gets no terminal controls
  // (src/util/terminal.ts). The progress bar draws with its own escapes on stderr, so stderr is only
  // neutralised, and each log line is made printable before it is drawn.
  // Secrets first, before anything is read or printed: the Alpaca keys, the GitHub token and every
  // secret-looking variable are redacted from both streams and from every file written
  // (src/util/redact.ts) — the CLI needs no Action around it for that.
  const env = rawIo.env ?? process.env;
  registerSecrets(secretsFromEnv(env));
  try {
    const keys = readAlpacaKeys(env);
    if (keys) registerSecrets([keys.keyId, keys.secret]);
  } catch {
    // A half-configured key pair is reported by the data source when (and if) it is used.
  }
  const io: CliIo = {
    ...rawIo,
    stdout: (t) => rawIo.stdout(neutralizeCommands(printable(redactOutput(t)))),
    stderr: (t) => rawIo.stderr(neutralizeCommands(redactOutput(t))),
  };
  const progress = createProgress({ write: io.stderr, isTTY: io.stderrIsTTY ?? false, columns: io.columns, env: io.env ?? process.env });
  const log = (line: string): void => progress.log(`policy-gate: ${logLine(line)}`);
  const [command, ...rest] = argv;
  // Where a failure report goes when the run cannot finish (known as soon as the flags are parsed).
  let outDir: string | undefined;
  let resolvedConfig: Config | undefined;
  let configFile: string | null = null;
  let shard: ShardSpec | undefined;
  let endMs: number | undefined;
  // Writes --out, prints the report, and maps the outcome to the exit code.
  const finish = async (raw: Report, values: { out?: string; json?: boolean }): Promise<number> => {
    if (interrupted) return halt();
    progress.end();
    // Redacted and made visible as data, before it is rendered anywhere (src/app/output.ts).
    const report = outputReport(raw);
    let writeFailed = false;
    if (values.out) {
      try {
        const written = await writeReportFiles(report, values.out, io.outputFs);
        log(`wrote ${written.join(', ')}`);
      } catch (err) {
        // The results are not lost: they are printed below. Nothing in the folder was replaced.
        const problem = unwritableError(`--out ${values.out}`, err, '; the report was not written and nothing there was replaced (a previous report, if any, is kept); the results follow on stdout');
        if (!problem) throw err;
        io.stderr(`policy-gate: error: ${problem.message}\n`);
        writeFailed = true;
      }
    }
    if (values.json) io.stdout(reportJson(report) + '\n');
    else io.stdout(renderForTerminal(report) + '\n');
    if (writeFailed) return 2;
    if (report.infraErrors.length > 0) return 3;
    if (hasRunInputError(report)) {
      // Bad input of the run, found on a model: said on stderr like any exit-2 error, the model named.
      for (const m of report.models) {
        if (m.notEvaluated?.kind === 'input') io.stderr(`policy-gate: error: ${printable(m.notEvaluated.reason.startsWith(`${m.id}: `) ? m.notEvaluated.reason : `${m.id}: ${m.notEvaluated.reason}`)}\n`);
      }
      return 2;
    }
    if (report.conclusion === 'success') return 0;
    return failedOnInput(raw) ? 2 : 1;
  };
  // Set on SIGINT/SIGTERM/SIGHUP: from then on only the interruption writes and prints (the run's own
  // code may still settle, e.g. with "onnxruntime is not started again", and must not overwrite it).
  let interrupted = false;
  const halt = (): Promise<never> => new Promise<never>(() => {});
  const stopHandlers = rawIo.handleSignals
    ? handleStopSignals(async (signal) => {
        interrupted = true;
        // Taken first, synchronously: the run's report as far as it got, marked as interrupted.
        const known = command !== undefined && command in ALLOWED;
        const report = outputReport(interruptedReport(signal, emptyReport(known ? command : 'validate', resolvedConfig ?? defaultConfig(), configFile, io.now())));
        if (shard && command === 'validate') report.shard ??= failedShardInfo(shard, report.config.sha256, endMs);
        progress.end();
        io.stderr(`policy-gate: error: interrupted by ${signal}: the onnxruntime processes were stopped; the run did not finish and decides nothing\n`);
        if (outDir !== undefined && known) {
          try {
            const written = await writeReportFiles(report, outDir);
            log(`wrote ${written.join(', ')}`);
          } catch (writeErr) {
            io.stderr(`policy-gate: error: the report could not be written to ${outDir}: ${errorMessage(writeErr)}\n`);
          }
        }
      })
    : null;
  try {
    if (command === 'help' && rest[0] !== undefined && rest[0] in ALLOWED) {
      io.stdout(commandHelp(rest[0], toolVersion()) + '\n');
      return 0;
    }
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      io.stdout(USAGE.replace('{version}', toolVersion()) + '\n');
      return command === undefined ? 2 : 0;
    }
    if (command === '--version') {
      io.stdout(`${toolVersion()}\n`);
      return 0;
    }
    if (!(command in ALLOWED)) {
      const guess = command.startsWith('-') ? null : closest(command, Object.keys(ALLOWED));
      throw usageError(`unknown command "${command}"${guess ? `; did you mean ${guess}?` : ''} (run policy-gate --help)`, command);
    }
    const commandFlags = [...ALLOWED[command]!, 'help'];
    // `<command> --help` prints that command's flags, whatever else is on the line.
    if (rest.some((a) => a === '--help' || a === '-h')) {
      io.stdout(commandHelp(command, toolVersion()) + '\n');
      return 0;
    }
    let parsed: { values: Values; positionals: string[] };
    try {
      parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true }) as typeof parsed;
    } catch (err) {
      const unknown = /^Unknown option '(-[^'=]*)/.exec(errorMessage(err))?.[1];
      if (unknown !== undefined) {
        const guess = unknown.startsWith('--') ? closest(unknown.slice(2), commandFlags) : null;
        throw usageError(
          `unknown flag ${unknown} for "${command}"${guess ? `; did you mean --${guess}?` : ''} (run policy-gate ${command} --help)`,
          unknown,
        );
      }
      throw usageError(`${errorMessage(err)} (run policy-gate ${command} --help)`, command);
    }
    const { values, positionals } = parsed;
    // Relative paths are relative to io.cwd (the workspace), like the config file.
    const at = (p: string): string => (isAbsolute(p) ? p : relative(process.cwd(), resolve(io.cwd, p)) || '.');
    for (const flag of ['model', 'card', 'out', 'equity-out', 'trades-out'] as const) if (values[flag] !== undefined) values[flag] = at(values[flag]!);
    if (values.data !== undefined && values.data !== 'alpaca') values.data = at(values.data);
    outDir = values.out;
    for (const key of Object.keys(values)) {
      if (!commandFlags.includes(key)) {
        const guess = closest(key, commandFlags.filter((f) => f !== key));
        throw usageError(
          `--${key} does not apply to "${command}"${guess ? `; did you mean --${guess}?` : ''} (run policy-gate ${command} --help)`,
          `--${key}`,
        );
      }
    }

    // Written to at the end (or during the run): found unwritable now, before any work.
    for (const flag of ['out', 'equity-out', 'trades-out'] as const) {
      const dir = values[flag];
      if (dir === undefined) continue;
      try {
        try {
          checkOutputFolder(flag, dir);
        } catch (err) {
          throw unwritableError(`--${flag} ${dir}`, err, ', checked before the run') ?? err;
        }
        await probeOutputFolder(`--${flag}`, dir, io.outputFs);
      } catch (err) {
        // No failure report can go where the probe could not write.
        if (flag === 'out') outDir = undefined;
        throw err;
      }
    }
    if (values.shard !== undefined) {
      const spec = parseShardSpec(values.shard);
      if ('error' in spec) throw usageError(`--shard ${spec.error}`, '--shard');
      shard = spec;
    }
    if (command === 'merge') {
      // Needs no config: every partial carries the config it ran with, and the merge checks they agree.
      const merged = await runMerge(positionals.map(at), { now: io.now(), log });
      return await finish(merged.report, values);
    }
    if (values.data !== undefined && values.data !== 'alpaca') checkInputFolder('--data', values.data);

    const loaded = await loadConfig(values.config, io.cwd);
    const config = applyFlags(loaded.config, command, values);
    const promotionIo = { stdout: io.stdout, log, now: io.now, cwd: io.cwd, env: io.env ?? process.env };
    if (command === 'check') {
      if (values.model !== undefined && positionals.length !== 0) throw usageError('"check" takes an archive or --model <file.onnx>, not both', 'check');
      if (values.model === undefined && positionals.length !== 1) {
        throw usageError(`"check" takes exactly one archive (a .zip file or a folder), or --model <file.onnx> [--card <file>]; got ${positionals.length} arguments`, 'check');
      }
      if (values.card !== undefined && values.model === undefined) throw usageError('--card goes with --model <file.onnx>', '--card');
      const checked = values.model
        ? await checkModelFile(values.model, config, { log, cardPath: values.card ?? null })
        : await checkArchive(at(positionals[0]!), config, { log });
      progress.end();
      io.stdout((values.json ? JSON.stringify(checked, null, 2) : renderCheck(checked)) + '\n');
      return checkExitCode(checked);
    }
    if (command === 'promote') {
      if (positionals.length !== 0) throw usageError('"promote" takes no positional arguments; use --report <report.json>', 'promote');
      return await promoteCommand(values, config, promotionIo);
    }
    if (config.data.source === 'csv' && config.data.dir && values.data === undefined) {
      config.data.dir = at(config.data.dir);
      checkInputFolder('data.dir', config.data.dir);
    }
    if (config.data.source === 'alpaca') config.data.cache = at(config.data.cache);
    resolvedConfig = config;
    configFile = loaded.file;
    const now = io.now();
    let report: Report;
    if (command === 'revalidate') {
      if (positionals.length !== 0) throw usageError('"revalidate" takes no positional arguments: it re-validates what --paper and --live list', 'revalidate');
      return await revalidateCommand({ ...values, end: parseEnd(values.end, now) }, config, loaded.file, promotionIo);
    }

    if (command === 'track') {
      if (positionals.length !== 0) throw usageError('"track" takes no positional arguments: it tracks what --paper and --live list', 'track');
      return await trackCommand({ ...values, end: parseEnd(values.end, now) }, config, loaded.file, promotionIo);
    }

    if (command === 'gate' || command === 'validate') {
      if (positionals.length !== 1) {
        throw usageError(`"${command}" takes exactly one archive (a .zip file or a folder), got ${positionals.length}`, command);
      }
      const source = at(positionals[0]!);
      if (command === 'gate') {
        report = await runGate(source, config, loaded.file, { now, log });
      } else {
        endMs = parseEnd(values.end, now);
        report = await runValidate(source, config, loaded.file, {
          now,
          env: io.env ?? process.env,
          log,
          endMs,
          equityOut: values['equity-out'] ?? null,
          tradesOut: values['trades-out'] ?? null,
          root: io.cwd,
          progress: progress.update,
          ...(shard ? { shard } : {}),
        });
      }
    } else {
      if (positionals.length !== 0) throw usageError(`"backtest" takes no positional arguments; use --model <file.onnx>`, 'backtest');
      if (!values.model) throw usageError('"backtest" needs --model <file.onnx>', '--model');
      report = await runBacktest(values.model, config, loaded.file, {
        now,
        env: io.env ?? process.env,
        log,
        cardPath: values.card ?? null,
        endMs: parseEnd(values.end, now),
        folds: values['walk-forward'] !== undefined ? config.walkForward.folds : null,
        equityOut: values['equity-out'] ?? null,
        tradesOut: values['trades-out'] ?? null,
        root: io.cwd,
      });
    }

    return await finish(report, values);
  } catch (caught) {
    if (interrupted) return halt();
    progress.end();
    // A full or read-only disk met during the run (an equity CSV, a cache file) is the user's to fix: exit 2, no stack.
    // (Only the codes that can only come from a write: an EACCES could be a read.)
    const errno = (caught as NodeJS.ErrnoException | null)?.code;
    const diskFull = errno === 'ENOSPC' || errno === 'EDQUOT' || errno === 'EROFS';
    const err =
      caught instanceof PolicyGateError || !diskFull
        ? caught
        : (unwritableError(String((caught as { path?: unknown }).path ?? 'a file policy-gate writes'), caught) ?? caught);
    const known = err instanceof PolicyGateError;
    const message = known ? err.message : `internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
    io.stderr(`policy-gate: ${known ? 'error: ' : ''}${printable(message)}\n`);
    const code = known ? err.exitCode : 2;
    if (outDir !== undefined && command !== undefined && command in ALLOWED) {
      // The run could not finish, but the report is still written: it says why.
      try {
        const report = emptyReport(command, resolvedConfig ?? defaultConfig(), configFile, io.now());
        report.errors.push(known ? message : message.split('\n')[0]!);
        if (known && err.kind === 'infra') report.infraErrors.push(message);
        report.conclusionReasons = [`run error: ${report.errors[0]}`];
        // A shard that stopped still says which shard it is: the merge then names its models as missing.
        if (shard && command === 'validate') report.shard = failedShardInfo(shard, report.config.sha256, endMs);
        const written = await writeReportFiles(report, outDir, io.outputFs);
        log(`wrote ${written.join(', ')}`);
      } catch (writeErr) {
        io.stderr(`policy-gate: error: the report could not be written to ${outDir}: ${errorMessage(writeErr)}; nothing there was replaced\n`);
      }
    }
    return code;
  } finally {
    stopHandlers?.();
  }
}

export function renderForTerminal(report: Report): string {
  const parts: string[] = [];
  const t = thresholds(report);
  if (report.command === 'gate') {
    parts.push(`Gating (${report.config['gating'] ? (report.config['gating'] as { preset: string }).preset : ''}) — ${report.archive?.path}`, '', gatingTable(report.models));
    const notes = modelNotes(report.models);
    if (notes) parts.push('', notes);
  } else {
    if (report.command === 'validate') parts.push(`Gating — ${report.archive?.path}`, '', gatingTable(report.models));
    const days = report.config['backtest'] ? (report.config['backtest'] as { days: number }).days : '';
    // Each model's block ends with its decision (the rule, what it missed for the next tier) and its notes.
    for (const m of report.models) {
      parts.push('', report.command === 'validate' ? `=== ${m.id} (${m.candidate}) ===` : `=== ${m.id} ===`);
      if (m.backtest) {
        parts.push(metricsBlock(report.command === 'validate' ? `BACKTEST (${days} days; informational — the walk-forward folds decide)` : 'BACKTEST', m.backtest));
      }
      if (m.walkForward) parts.push('', foldAnalysis(m.walkForward));
      if (m.evidence) parts.push('', evidenceText(m.evidence));
      const block = decisionBlock(m, t);
      if (block) parts.push(...(m.backtest || m.walkForward ? [''] : []), block);
    }
  }
  if (report.archive?.unreferenced.length) parts.push('', `unreferenced model files (not evaluated): ${report.archive.unreferenced.join(', ')}`);
  for (const e of report.errors) parts.push(`error: ${e}`);
  // The summary table comes last, right above the conclusion: what a reader looks for first.
  if (report.command === 'validate') parts.push('', 'DECISIONS', decisionsTable(report));
  if (report.shard) parts.push('', `${describeShard(report.shard)} — a partial report: combine the shards' reports with policy-gate merge`);
  const reasons = report.conclusionReasons;
  parts.push(
    '',
    reasons.length > 1
      ? [`conclusion: ${outcomeLabel(report)} — ${reasons.length} reasons:`, ...reasons.map((r) => `  - ${r}`)].join('\n')
      : `conclusion: ${outcomeLabel(report)}${reasons.length ? ` — ${reasons[0]}` : ''}`,
  );
  // Every line within the terminal's width: tables are cut to it already, prose wraps with a hanging indent.
  return wrapText(parts.join('\n'), TERMINAL_WIDTH);
}
