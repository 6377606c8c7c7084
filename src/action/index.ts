/**
 * The entry point dist/index.js is bundled from: it runs the action (main.ts), and on SIGINT, SIGTERM
 * or SIGHUP (a cancelled or timed-out job: the runner sends SIGINT, then SIGTERM 7.5 s later) stops the
 * onnxruntime processes, writes the report as far as the run got into the report folder, completes the
 * check run as `cancelled` (main.ts reportInterruption, within 6 s), fails the step and exits with
 * 128 + the signal (src/app/interrupt.ts).
 */
import * as core from '@actions/core';
import { defaultConfig } from '../config/schema.js';
import { handleStopSignals, interruptedReport } from '../app/interrupt.js';
import { outputReport, writeReportFiles } from '../app/output.js';
import { emptyReport } from '../app/report-base.js';
import { readInput, workspacePath } from './inputs.js';
import { reportInterruption, run } from './main.js';

const stopHandlers = handleStopSignals(async (signal) => {
  const report = outputReport(interruptedReport(signal, emptyReport('validate', defaultConfig(), null, new Date())));
  const workspace = process.env['GITHUB_WORKSPACE'] || process.cwd();
  const reportDir = workspacePath(workspace, readInput(process.env, 'report-dir') || 'policy-gate-report');
  const written = writeReportFiles(report, reportDir).then(
    () => core.setOutput('report-path', reportDir),
    (err: unknown) => core.warning(`policy-gate: the report could not be written to ${reportDir}: ${err instanceof Error ? err.message : String(err)}`),
  );
  // The report and the check run at the same time: both must be done before the runner's SIGTERM.
  await Promise.all([written, reportInterruption(signal, report)]);
  core.setOutput('conclusion', 'cancelled');
  core.setFailed(`policy-gate: interrupted by ${signal}: the onnxruntime processes were stopped; the run did not finish and decides nothing`);
});

await run();
stopHandlers();
