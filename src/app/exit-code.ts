/**
 * How a command-line run ends (SPEC section 9), as pure rules src/cli.ts applies: 0 success, 1 a model
 * fell short, 2 bad input or usage (an unwritable --out included), 3 a data provider or API
 * unreachable. Tested in test/cli-args.test.ts.
 */
import { PolicyGateError } from '../core/errors.js';
import { hasRunInputError, type Report } from '../core/report.js';
import { unwritableError } from './output.js';

export type ExitCode = 0 | 1 | 2 | 3;

/**
 * The exit code of a run that finished with a report. `writeFailed`: --out could not take the report
 * (it was printed instead); `failedOnInput`: the run failed on its own bad input (src/app/backtest.ts).
 */
export function exitCodeOf(report: Pick<Report, 'conclusion' | 'infraErrors' | 'models'>, how: { writeFailed: boolean; failedOnInput: boolean }): ExitCode {
  if (how.writeFailed) return 2;
  if (report.infraErrors.length > 0) return 3;
  if (hasRunInputError(report)) return 2;
  if (report.conclusion === 'success') return 0;
  return how.failedOnInput ? 2 : 1;
}

/** Each model not evaluated for the run's own bad input, as an error line naming the model. */
export function modelInputErrors(report: Pick<Report, 'models'>): string[] {
  return report.models.flatMap((m) => (m.notEvaluated?.kind === 'input' ? [m.notEvaluated.reason.startsWith(`${m.id}: `) ? m.notEvaluated.reason : `${m.id}: ${m.notEvaluated.reason}`] : []));
}

/** A run that stopped on an error, as the command line reports it. */
export interface RunError {
  /** A PolicyGateError (the user's to fix, printed as "error: …"), not a bug. */
  known: boolean;
  /** What stderr says: the error's message, or "internal error: " and the stack. */
  message: string;
  /** What the failure report's errors say: the message, an internal error's first line only. */
  reportError: string;
  infra: boolean;
  exitCode: number;
}

export function describeRunError(caught: unknown): RunError {
  // A full or read-only disk met during the run (an equity CSV, a cache file) is the user's to fix: exit 2, no stack.
  // (Only the codes that can only come from a write: an EACCES could be a read.)
  const errno = (caught as NodeJS.ErrnoException | null)?.code;
  const diskFull = errno === 'ENOSPC' || errno === 'EDQUOT' || errno === 'EROFS';
  const err = caught instanceof PolicyGateError || !diskFull ? caught : (unwritableError(String((caught as { path?: unknown }).path ?? 'a file policy-gate writes'), caught) ?? caught);
  if (err instanceof PolicyGateError) return { known: true, message: err.message, reportError: err.message, infra: err.kind === 'infra', exitCode: err.exitCode };
  const message = `internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
  return { known: false, message, reportError: message.split('\n')[0]!, infra: false, exitCode: 2 };
}
