/**
 * The command line as data (SPEC section 9): which command, its flags and its arguments, or the usage
 * error that stops it before any work. Pure — no file, clock or environment — so the rules are tested
 * directly (test/cli-args.test.ts); src/cli.ts runs what this returns.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Config, Device } from './config/schema.js';
import { checkCrossField } from './config/schema.js';
import { errorMessage, usageError, type PolicyGateError } from './core/errors.js';
import { parseUtc } from './core/time.js';
import { closest } from './cli-help.js';

export const OPTIONS = {
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

export type Flag = keyof typeof OPTIONS;

export type Values = { -readonly [K in Flag]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** The flags each command takes (besides --help); src/cli-help.ts describes each of them. */
export const ALLOWED = {
  gate: ['config', 'out', 'json'],
  validate: ['data', 'days', 'walk-forward', 'backtest-days', 'capital', 'end', 'config', 'out', 'equity-out', 'trades-out', 'device', 'json', 'shard'],
  merge: ['out', 'json'],
  check: ['model', 'card', 'config', 'json'],
  backtest: ['model', 'card', 'data', 'days', 'walk-forward', 'capital', 'end', 'config', 'out', 'equity-out', 'trades-out', 'device', 'json'],
  promote: ['report', 'paper', 'live', 'archive', 'models-dir', 'config', 'json', 'dry-run'],
  revalidate: ['paper', 'live', 'data', 'days', 'walk-forward', 'backtest-days', 'capital', 'end', 'config', 'out', 'equity-out', 'trades-out', 'device', 'json'],
  track: ['paper', 'live', 'account', 'data', 'days', 'walk-forward', 'backtest-days', 'capital', 'end', 'config', 'out', 'device', 'json'],
} as const satisfies Record<string, readonly Flag[]>;

export type CommandName = keyof typeof ALLOWED;

/** A command's own name: `constructor` or `toString` is no command, though `in` would find it on the prototype. */
export function isCommand(name: string | undefined): name is CommandName {
  return name !== undefined && Object.hasOwn(ALLOWED, name);
}

/** What the command line asks for. */
export type CommandLine =
  /** The usage text: asked for (exit 0), or no command at all (exit 2). */
  | { kind: 'usage'; exitCode: 0 | 2 }
  /** One command's help. */
  | { kind: 'help'; command: CommandName }
  | { kind: 'version' }
  | { kind: 'run'; command: CommandName; values: Values; positionals: string[] }
  /** A usage error; `out` is the --out already given, where the failure report still goes. */
  | { kind: 'error'; error: PolicyGateError; out?: string };

export function parseCommandLine(argv: readonly string[]): CommandLine {
  const [command, ...rest] = argv;
  if (command === 'help' && isCommand(rest[0])) return { kind: 'help', command: rest[0] };
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') return { kind: 'usage', exitCode: command === undefined ? 2 : 0 };
  if (command === '--version') return { kind: 'version' };
  if (!isCommand(command)) {
    const guess = command.startsWith('-') ? null : closest(command, Object.keys(ALLOWED));
    return { kind: 'error', error: usageError(`unknown command "${command}"${guess ? `; did you mean ${guess}?` : ''} (run policy-gate --help)`, command) };
  }
  const commandFlags: string[] = [...ALLOWED[command], 'help'];
  // `<command> --help` prints that command's flags, whatever else is on the line.
  if (rest.some((a) => a === '--help' || a === '-h')) return { kind: 'help', command };
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...rest], options: OPTIONS, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (err) {
    const unknown = /^Unknown option '(-[^'=]*)/.exec(errorMessage(err))?.[1];
    if (unknown === undefined) return { kind: 'error', error: usageError(`${errorMessage(err)} (run policy-gate ${command} --help)`, command) };
    const guess = unknown.startsWith('--') ? closest(unknown.slice(2), commandFlags) : null;
    return {
      kind: 'error',
      error: usageError(`unknown flag ${unknown} for "${command}"${guess ? `; did you mean --${guess}?` : ''} (run policy-gate ${command} --help)`, unknown),
    };
  }
  const { values, positionals } = parsed;
  for (const key of Object.keys(values)) {
    if (!commandFlags.includes(key)) {
      const guess = closest(
        key,
        commandFlags.filter((f) => f !== key),
      );
      return {
        kind: 'error',
        error: usageError(`--${key} does not apply to "${command}"${guess ? `; did you mean --${guess}?` : ''} (run policy-gate ${command} --help)`, `--${key}`),
        ...(values.out !== undefined ? { out: values.out } : {}),
      };
    }
  }
  return { kind: 'run', command, values, positionals };
}

/** What a command takes besides its flags: the error when the arguments do not fit it, else null. */
export function positionalError(command: CommandName, values: Pick<Values, 'model' | 'card'>, positionals: readonly string[]): PolicyGateError | null {
  const n = positionals.length;
  switch (command) {
    case 'check':
      if (values.model !== undefined && n !== 0) return usageError('"check" takes an archive or --model <file.onnx>, not both', 'check');
      if (values.model === undefined && n !== 1) {
        return usageError(`"check" takes exactly one archive (a .zip file or a folder), or --model <file.onnx> [--card <file>]; got ${n} arguments`, 'check');
      }
      if (values.card !== undefined && values.model === undefined) return usageError('--card goes with --model <file.onnx>', '--card');
      return null;
    case 'promote':
      return n !== 0 ? usageError('"promote" takes no positional arguments; use --report <report.json>', 'promote') : null;
    case 'revalidate':
      return n !== 0 ? usageError('"revalidate" takes no positional arguments: it re-validates what --paper and --live list', 'revalidate') : null;
    case 'track':
      return n !== 0 ? usageError('"track" takes no positional arguments: it tracks what --paper and --live list', 'track') : null;
    case 'gate':
    case 'validate':
      return n !== 1 ? usageError(`"${command}" takes exactly one archive (a .zip file or a folder), got ${n}`, command) : null;
    case 'backtest':
      if (n !== 0) return usageError(`"backtest" takes no positional arguments; use --model <file.onnx>`, 'backtest');
      return values.model ? null : usageError('"backtest" needs --model <file.onnx>', '--model');
    case 'merge':
      // Its arguments are the partial reports, any number of them (the merge says what is missing).
      return null;
  }
}

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
    throw usageError(`--end ${new Date(ms).toISOString()} is in the future (now ${now.toISOString()}): pin the window to a time that has passed, or omit --end to end at the last bar`, '--end');
  }
  return ms;
}

/** Apply command-line overrides on top of the config file, then re-check the cross-field rules. */
export function applyFlags(config: Config, command: CommandName, v: Values): Config {
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
