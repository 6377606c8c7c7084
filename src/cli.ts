/**
 * The command-line shell (SPEC section 9). It parses flags (src/cli-args.ts), runs the same pipeline the
 * Action runs, prints results on stdout and progress on stderr, and maps outcomes to exit codes
 * (src/app/exit-code.ts): 0 success, 1 a model fell short, 2 bad input or usage, 3 infrastructure.
 */
import { statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { defaultConfig } from './config/schema.js';
import { emptyReport, runErrorReport } from './app/report-base.js';
import { usageError, errorMessage } from './core/errors.js';
import { outcomeLabel, type Report } from './core/report.js';
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
import { createProgress, type Progress } from './util/progress.js';
import { logLine, neutralizeCommands, printable } from './util/terminal.js';
import { promoteCommand, revalidateCommand, trackCommand, type PromotionIo } from './cli-promotion.js';
import { parseShardSpec, type ShardSpec } from './core/shard.js';
import { describeShard, failedShardInfo } from './app/shard.js';
import { runMerge } from './app/merge.js';
import { checkArchive, checkExitCode, checkModelFile, renderCheck } from './app/check.js';
import { commandHelp, usage } from './cli-help.js';
import { handleStopSignals, interruptedReport, type StopSignal } from './app/interrupt.js';
import { applyFlags, isCommand, parseCommandLine, parseEnd, positionalError, type CommandLine, type CommandName, type Values } from './cli-args.js';
import { describeRunError, exitCodeOf, modelInputErrors } from './app/exit-code.js';

export { parseEnd };

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

/** What a run has learned so far: where its report goes if it cannot finish, and what that report says. */
interface RunState {
  /** The command as typed: a report is written only for a known one. */
  readonly command: string | undefined;
  /** --out, known as soon as the flags are parsed (unset again when it cannot be written). */
  outDir?: string;
  config?: Config;
  configFile: string | null;
  shard?: ShardSpec;
  endMs?: number;
  // Set on SIGINT/SIGTERM/SIGHUP: from then on only the interruption writes and prints (the run's own
  // code may still settle, e.g. with "onnxruntime is not started again", and must not overwrite it).
  interrupted: boolean;
}

interface Session {
  io: CliIo;
  progress: Progress;
  log: (line: string) => void;
  state: RunState;
}

/** A command to run: its flags (paths resolved) and arguments. */
interface Invocation extends Session {
  command: CommandName;
  values: Values;
  positionals: string[];
  /** A path as given, relative to io.cwd (the workspace), like the config file. */
  at: (path: string) => string;
}

export async function main(argv: string[], rawIo: CliIo = defaultIo): Promise<number> {
  const io = redactingIo(rawIo);
  const progress = createProgress({ write: io.stderr, isTTY: io.stderrIsTTY ?? false, columns: io.columns, env: io.env ?? process.env });
  const log = (line: string): void => progress.log(`policy-gate: ${logLine(line)}`);
  const session: Session = { io, progress, log, state: { command: argv[0], configFile: null, interrupted: false } };
  const stopHandlers = rawIo.handleSignals ? handleStopSignals((signal) => reportInterruption(session, signal)) : null;
  try {
    const line = parseCommandLine(argv);
    if (line.kind === 'usage' || line.kind === 'help' || line.kind === 'version') return printHelp(io, line);
    // Relative paths are relative to io.cwd (the workspace), like the config file.
    const at = (p: string): string => (isAbsolute(p) ? p : relative(process.cwd(), resolve(io.cwd, p)) || '.');
    if (line.kind === 'error') {
      session.state.outDir = line.out === undefined ? undefined : at(line.out);
      throw line.error;
    }
    const run = invocation(session, line, at);
    await checkOutputs(run);
    return await COMMANDS[run.command](run);
  } catch (caught) {
    if (session.state.interrupted) return halt();
    return await reportRunError(session, caught);
  } finally {
    stopHandlers?.();
  }
}

/**
 * The IO every line goes through. Untrusted text (model ids, entry names, card fields) reaches both
 * streams: no line may become a workflow command when the CLI runs in a GitHub workflow, and stdout
 * gets no terminal controls (src/util/terminal.ts). The progress bar draws with its own escapes on
 * stderr, so stderr is only neutralised, and each log line is made printable before it is drawn.
 * Secrets first, before anything is read or printed: the Alpaca keys, the GitHub token and every
 * secret-looking variable are redacted from both streams and from every file written
 * (src/util/redact.ts) — the CLI needs no Action around it for that.
 */
function redactingIo(rawIo: CliIo): CliIo {
  const env = rawIo.env ?? process.env;
  registerSecrets(secretsFromEnv(env));
  try {
    const keys = readAlpacaKeys(env);
    if (keys) registerSecrets([keys.keyId, keys.secret]);
  } catch {
    // A half-configured key pair is reported by the data source when (and if) it is used.
  }
  return {
    ...rawIo,
    stdout: (t) => rawIo.stdout(neutralizeCommands(printable(redactOutput(t)))),
    stderr: (t) => rawIo.stderr(neutralizeCommands(redactOutput(t))),
  };
}

function printHelp(io: CliIo, line: Extract<CommandLine, { kind: 'usage' | 'help' | 'version' }>): number {
  if (line.kind === 'help') io.stdout(commandHelp(line.command, toolVersion()) + '\n');
  else if (line.kind === 'version') io.stdout(`${toolVersion()}\n`);
  else io.stdout(usage(toolVersion()) + '\n');
  return line.kind === 'usage' ? line.exitCode : 0;
}

/** The parsed command with its paths resolved; --out is where a failure report goes from now on. */
function invocation(session: Session, line: Extract<CommandLine, { kind: 'run' }>, at: (p: string) => string): Invocation {
  const { values } = line;
  for (const flag of ['model', 'card', 'out', 'equity-out', 'trades-out'] as const) if (values[flag] !== undefined) values[flag] = at(values[flag]!);
  if (values.data !== undefined && values.data !== 'alpaca') values.data = at(values.data);
  session.state.outDir = values.out;
  return { ...session, command: line.command, values, positionals: line.positionals, at };
}

/** The folders written to at the end (or during the run), found unwritable now, before any work; and --shard. */
async function checkOutputs(run: Invocation): Promise<void> {
  const { values, state } = run;
  for (const flag of ['out', 'equity-out', 'trades-out'] as const) {
    const dir = values[flag];
    if (dir === undefined) continue;
    try {
      try {
        checkOutputFolder(flag, dir);
      } catch (err) {
        throw unwritableError(`--${flag} ${dir}`, err, ', checked before the run') ?? err;
      }
      await probeOutputFolder(`--${flag}`, dir, run.io.outputFs);
    } catch (err) {
      // No failure report can go where the probe could not write.
      if (flag === 'out') state.outDir = undefined;
      throw err;
    }
  }
  if (values.shard !== undefined) {
    const spec = parseShardSpec(values.shard);
    if ('error' in spec) throw usageError(`--shard ${spec.error}`, '--shard');
    state.shard = spec;
  }
}

function requirePositionals(run: Invocation): void {
  const error = positionalError(run.command, run.values, run.positionals);
  if (error) throw error;
}

/** The config file with the command line's overrides; --data is checked first. */
async function configFor(run: Invocation): Promise<{ config: Config; file: string | null }> {
  if (run.values.data !== undefined && run.values.data !== 'alpaca') checkInputFolder('--data', run.values.data);
  const loaded = await loadConfig(run.values.config, run.io.cwd);
  return { config: applyFlags(loaded.config, run.command, run.values), file: loaded.file };
}

/** The config of a command that reads bars, its paths resolved; from here on a failure report carries it. */
async function evaluationConfig(run: Invocation): Promise<{ config: Config; file: string | null; now: Date }> {
  const { config, file } = await configFor(run);
  if (config.data.source === 'csv' && config.data.dir && run.values.data === undefined) {
    config.data.dir = run.at(config.data.dir);
    checkInputFolder('data.dir', config.data.dir);
  }
  if (config.data.source === 'alpaca') config.data.cache = run.at(config.data.cache);
  run.state.config = config;
  run.state.configFile = file;
  return { config, file, now: run.io.now() };
}

function promotionIo(run: Invocation): PromotionIo {
  return { stdout: run.io.stdout, log: run.log, now: run.io.now, cwd: run.io.cwd, env: run.io.env ?? process.env };
}

/** One handler per command: each checks its own arguments, runs, and finishes with an exit code. */
const COMMANDS: Record<CommandName, (run: Invocation) => Promise<number>> = {
  // Needs no config: every partial carries the config it ran with, and the merge checks they agree.
  merge: async (run) => finish(run, (await runMerge(run.positionals.map(run.at), { now: run.io.now(), log: run.log })).report),
  check: async (run) => {
    const { config } = await configFor(run);
    requirePositionals(run);
    const { values, log } = run;
    const checked = values.model ? await checkModelFile(values.model, config, { log, cardPath: values.card ?? null }) : await checkArchive(run.at(run.positionals[0]!), config, { log });
    run.progress.end();
    run.io.stdout((values.json ? JSON.stringify(checked, null, 2) : renderCheck(checked)) + '\n');
    return checkExitCode(checked);
  },
  promote: async (run) => {
    const { config } = await configFor(run);
    requirePositionals(run);
    return promoteCommand(run.values, config, promotionIo(run));
  },
  revalidate: async (run) => {
    const { config, file, now } = await evaluationConfig(run);
    requirePositionals(run);
    return revalidateCommand({ ...run.values, end: parseEnd(run.values.end, now) }, config, file, promotionIo(run));
  },
  track: async (run) => {
    const { config, file, now } = await evaluationConfig(run);
    requirePositionals(run);
    return trackCommand({ ...run.values, end: parseEnd(run.values.end, now) }, config, file, promotionIo(run));
  },
  gate: async (run) => {
    const { config, file, now } = await evaluationConfig(run);
    requirePositionals(run);
    return finish(run, await runGate(run.at(run.positionals[0]!), config, file, { now, log: run.log }));
  },
  validate: async (run) => {
    const { config, file, now } = await evaluationConfig(run);
    requirePositionals(run);
    const { values, state } = run;
    state.endMs = parseEnd(values.end, now);
    const report = await runValidate(run.at(run.positionals[0]!), config, file, {
      now,
      env: run.io.env ?? process.env,
      log: run.log,
      endMs: state.endMs,
      equityOut: values['equity-out'] ?? null,
      tradesOut: values['trades-out'] ?? null,
      root: run.io.cwd,
      progress: run.progress.update,
      ...(state.shard ? { shard: state.shard } : {}),
    });
    return finish(run, report);
  },
  backtest: async (run) => {
    const { config, file, now } = await evaluationConfig(run);
    requirePositionals(run);
    const { values } = run;
    const report = await runBacktest(values.model!, config, file, {
      now,
      env: run.io.env ?? process.env,
      log: run.log,
      cardPath: values.card ?? null,
      endMs: parseEnd(values.end, now),
      folds: values['walk-forward'] !== undefined ? config.walkForward.folds : null,
      equityOut: values['equity-out'] ?? null,
      tradesOut: values['trades-out'] ?? null,
      root: run.io.cwd,
    });
    return finish(run, report);
  },
};

/** Never settles: an interrupted run's exit is the signal handler's (src/app/interrupt.ts). */
const halt = (): Promise<never> => new Promise<never>(() => {});

/** Writes --out, prints the report, and maps the outcome to the exit code. */
async function finish(run: Invocation, raw: Report): Promise<number> {
  if (run.state.interrupted) return halt();
  const { io, values } = run;
  run.progress.end();
  // Redacted and made visible as data, before it is rendered anywhere (src/app/output.ts).
  const report = outputReport(raw);
  let writeFailed = false;
  if (values.out) {
    try {
      const written = await writeReportFiles(report, values.out, io.outputFs);
      run.log(`wrote ${written.join(', ')}`);
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
  const code = exitCodeOf(report, { writeFailed, failedOnInput: failedOnInput(raw) });
  // Bad input of the run, found on a model: said on stderr like any exit-2 error, the model named.
  if (code === 2 && !writeFailed) for (const line of modelInputErrors(report)) io.stderr(`policy-gate: error: ${printable(line)}\n`);
  return code;
}

/** An error stopped the run: said on stderr, and the report in --out says why too. */
async function reportRunError(session: Session, caught: unknown): Promise<number> {
  const { io, state } = session;
  session.progress.end();
  const e = describeRunError(caught);
  io.stderr(`policy-gate: ${e.known ? 'error: ' : ''}${printable(e.message)}\n`);
  if (state.outDir !== undefined && isCommand(state.command)) {
    // The run could not finish, but the report is still written: it says why.
    try {
      const report = runErrorReport(state.command, state.config ?? defaultConfig(), state.configFile, io.now(), e.reportError, e.infra ? e.message : null);
      // A shard that stopped still says which shard it is: the merge then names its models as missing.
      if (state.shard && state.command === 'validate') report.shard = failedShardInfo(state.shard, report.config.sha256, state.endMs);
      const written = await writeReportFiles(report, state.outDir, io.outputFs);
      session.log(`wrote ${written.join(', ')}`);
    } catch (writeErr) {
      io.stderr(`policy-gate: error: the report could not be written to ${state.outDir}: ${errorMessage(writeErr)}; nothing there was replaced\n`);
    }
  }
  return e.exitCode;
}

/** SIGINT, SIGTERM or SIGHUP: the report as far as the run got, in --out, saying it was interrupted. */
async function reportInterruption(session: Session, signal: StopSignal): Promise<void> {
  const { io, state } = session;
  state.interrupted = true;
  // Taken first, synchronously: the run's report as far as it got, marked as interrupted.
  const known = isCommand(state.command);
  const report = outputReport(interruptedReport(signal, emptyReport(known ? state.command! : 'validate', state.config ?? defaultConfig(), state.configFile, io.now())));
  if (state.shard && state.command === 'validate') report.shard ??= failedShardInfo(state.shard, report.config.sha256, state.endMs);
  session.progress.end();
  io.stderr(`policy-gate: error: interrupted by ${signal}: the onnxruntime processes were stopped; the run did not finish and decides nothing\n`);
  if (state.outDir !== undefined && known) {
    try {
      const written = await writeReportFiles(report, state.outDir);
      session.log(`wrote ${written.join(', ')}`);
    } catch (writeErr) {
      io.stderr(`policy-gate: error: the report could not be written to ${state.outDir}: ${errorMessage(writeErr)}\n`);
    }
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
