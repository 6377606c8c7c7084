/**
 * Stopping a run on SIGINT, SIGTERM or SIGHUP: Ctrl-C, a closed terminal, a cancelled workflow (the
 * runner sends SIGINT, then SIGTERM), a CI job's timeout.
 *
 * What happens, in this order:
 *   1. every onnxruntime process is killed at once (SIGKILL) and its private folder removed, so a model
 *      that hangs the runtime never outlives policy-gate; no new one starts (src/adapters/onnx/host.ts);
 *   2. the report as far as the run got is written (report.json, report.md, report.html in --out):
 *      it says the run was interrupted by that signal; the models evaluated so far keep their results,
 *      every other model carries the error "not evaluated: the run was interrupted by SIGTERM …", and no
 *      model gets a decision — an interrupted run decides nothing (not DROP, which a deployment would
 *      act on), and it concludes `failure`;
 *   3. the process exits with 128 + the signal's number, as a shell reports a process killed by it:
 *      130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP).
 * A second signal, or a report that cannot be written within 10 s, exits at once with the same code.
 *
 * Should policy-gate itself be killed outright (SIGKILL, which no handler sees), each onnxruntime
 * process notices on its own and ends (the host's lifeline, src/adapters/onnx/host-main.ts).
 */
import { stopOrtHostsNow } from '../adapters/onnx/host.js';
import type { Report } from '../core/report.js';

export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

export const STOP_SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** 128 + the signal's number (POSIX numbering, also used by the runner on every platform). */
export const SIGNAL_EXIT_CODES: Readonly<Record<StopSignal, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/** How long writing the report may take after a signal before the process exits anyway. */
const WRITE_GRACE_MS = 10_000;

let tracked: Report | null = null;
let stopping = false;

/**
 * Resolves at once, unless the run is being stopped by a signal: then never (the process exits when
 * the interruption's report is written). Called before a run writes anything, so an interrupted run's
 * half-evaluated models are never written as results, nor acted on (a demotion).
 */
export function haltWhenStopping(): Promise<void> {
  return stopping ? new Promise<void>(() => {}) : Promise.resolve();
}

/** Whether a stop signal has arrived. */
export function isStopping(): boolean {
  return stopping;
}

/**
 * Registers the report the run in progress fills in (runValidate, runBacktest and runRevalidate call it
 * as soon as they make it), so an interruption can write what was done so far.
 */
export function trackReport(report: Report | null): void {
  tracked = report;
}

/**
 * The report of a run stopped by `signal`: a copy of the tracked report (or `fallback` when the run had
 * not made one yet) marked as interrupted. Synchronous: it is taken before anything else can change it.
 */
export function interruptedReport(signal: StopSignal, fallback: Report): Report {
  const why = `the run was interrupted by ${signal} before it finished`;
  const report = tracked ? structuredClone(tracked) : fallback;
  let evaluated = 0;
  for (const m of report.models) {
    m.decision = null;
    const done = m.walkForward?.summary != null || (report.command === 'backtest' && m.backtest !== null && m.walkForward === null && m.errors.length === 0);
    if (done) evaluated++;
    else if (m.gating?.classification !== 'DROP' && m.errors.length === 0) m.errors.push(`not evaluated: ${why}`);
  }
  const models = report.models.length ? `; ${evaluated} of ${report.models.length} models were evaluated, none was decided` : '';
  report.errors.push(`${why} (the onnxruntime processes were stopped)${models}`);
  report.conclusion = 'failure';
  report.conclusionReasons = [`run interrupted by ${signal}: nothing was decided`];
  return report;
}

/**
 * Handles SIGINT, SIGTERM and SIGHUP for the rest of the run: on the first, stops the onnxruntime
 * processes, runs `onStop` (it should take interruptedReport() first, synchronously, then write it) and
 * exits with 128 + the signal's number. Returns a function that removes the handlers.
 */
export function handleStopSignals(onStop: (signal: StopSignal) => Promise<void>): () => void {
  tracked = null;
  const handler = (signal: StopSignal): void => {
    const code = SIGNAL_EXIT_CODES[signal];
    if (stopping) process.exit(code);
    stopping = true;
    stopOrtHostsNow(`policy-gate was interrupted by ${signal}`);
    // Not unref'd: it must end the process even when writing the report is stuck.
    setTimeout(() => process.exit(code), WRITE_GRACE_MS);
    let done: Promise<void>;
    try {
      done = onStop(signal);
    } catch {
      done = Promise.resolve();
    }
    void done.catch(() => {}).finally(() => process.exit(code));
  };
  for (const s of STOP_SIGNALS) process.on(s, handler);
  return () => {
    for (const s of STOP_SIGNALS) process.off(s, handler);
  };
}
