/**
 * A shard job of a sharded workflow (`shard: i/n`, docs/sharding.md): validate this shard's models,
 * write the partial report, upload it as the artifact `policy-gate-shard-<i>-of-<n>` and write the
 * job summary. Nothing else is published: no check run, no comment, no promotion — the merge job
 * (`mode: merge`) publishes the one verdict for all shards.
 *
 * The step fails only when the shard could not do its part (a run error, an unreachable data
 * provider); a model that falls short is the merge's verdict to give, not this job's.
 */
import * as core from '@actions/core';
import { join } from 'node:path';
import { runValidate } from '../app/validate.js';
import { outputReport, writeReportFiles } from '../app/output.js';
import { emptyReport } from '../app/report-base.js';
import { describeShard, failedShardInfo } from '../app/shard.js';
import { inputError } from '../core/errors.js';
import type { Report } from '../core/report.js';
import { shardArtifactName, shardLabel } from '../core/shard.js';
import type { Redactor } from '../adapters/alpaca/index.js';
import { downloadTrainingArchive, uploadReport } from './artifacts.js';
import { runUrl, type ActionContext } from './context.js';
import { resolveConfig, shardInput, workspacePath, type ActionInputs } from './inputs.js';
import { info, neutralize, pipelineLog } from './log.js';
import { actionMarkdown, decisions, trimNote, type RunFacts, type RunMode } from './render.js';
import { readRequested } from './requested.js';
import { writeJobSummary } from './summary.js';

/** The commit the run is about, from the context alone (a shard makes no API call to find it). */
function contextSha(ctx: ActionContext): string {
  return ctx.pullRequest?.headSha ?? ctx.workflowRun?.headSha ?? ctx.sha;
}

async function validateShard(ctx: ActionContext, inputs: ActionInputs, mode: RunMode, reportDir: string, now: Date): Promise<{ report: Report; nothing: string | null }> {
  const shard = inputs.shard!;
  const ws = ctx.workspace;
  const { config, file } = await resolveConfig(inputs, ws);
  const requested = await readRequested(config, ws);
  let source: string;
  let artifactPath: string | null = null;
  if (mode === 'workflow_run') {
    const runId = inputs.runId ?? ctx.workflowRun!.id;
    const wr = ctx.workflowRun && ctx.workflowRun.id === runId ? ctx.workflowRun : null;
    if (wr?.conclusion && wr.conclusion !== 'success') {
      const report = emptyReport('validate', config, file, now);
      report.conclusion = 'success';
      const why = `the training run ${runId} concluded ${wr.conclusion}: nothing to validate`;
      report.conclusionReasons = [why];
      return { report, nothing: why };
    }
    const dl = await core.group(`policy-gate: download artifact "${inputs.artifactName}" of run ${runId}`, () =>
      downloadTrainingArchive({ token: inputs.token, repo: ctx.repo, runId, name: inputs.artifactName, runnerTemp: ctx.runnerTemp, log: pipelineLog }),
    );
    source = dl.path;
    artifactPath = `artifact ${dl.artifactName} (id ${dl.artifactId}) of run ${runId}`;
  } else {
    if (inputs.archive === null) {
      throw inputError(`input "archive" is required with "shard": a training archive (.zip or folder) in the workspace, the same in every shard`, 'input archive');
    }
    source = workspacePath(ws, inputs.archive);
  }
  const report = await core.group(`policy-gate: validate shard ${shardLabel(shard)} of ${source}`, () =>
    runValidate(source, config, file, {
      now,
      env: process.env,
      log: pipelineLog,
      endMs: inputs.endMs ?? undefined,
      equityOut: join(reportDir, 'equity'),
      requestedTiers: requested.tiers,
      root: ws,
      shard,
    }),
  );
  // The same archive.path an unsharded run records, so the merged report equals it.
  if (artifactPath !== null && report.archive) report.archive.path = artifactPath;
  return { report, nothing: null };
}

/** Runs the shard job; returns why the step fails, or null. Errors propagate to main.ts's crash path. */
export async function runShardJob(opts: { env: NodeJS.ProcessEnv; ctx: ActionContext; inputs: ActionInputs; mode: RunMode; now: Date; redactor: Redactor }): Promise<string | null> {
  const { env, ctx, inputs, mode, redactor } = opts;
  // An upload or summary error may quote what a server echoed, a token included (docs/threat-model.md).
  const warn = (text: string): void => core.warning(redactor.redact(neutralize(text)));
  const shard = inputs.shard!;
  const name = shardArtifactName(shard);
  const reportDir = workspacePath(ctx.workspace, inputs.reportDir);
  // action.yml's upload step names the artifact from this output (also after a crash: markFailedShard).
  core.setOutput('report-artifact', name);
  info(`policy-gate: shard ${shardLabel(shard)} (${mode} event ${ctx.eventName || 'unknown'}); the partial report goes to artifact ${name}, the verdict comes from the merge job`);
  const validated = await validateShard(ctx, inputs, mode, reportDir, opts.now);
  const { nothing } = validated;
  // Redacted and made visible as data before anything renders it (src/app/output.ts).
  const report = outputReport(validated.report);
  const written = await writeReportFiles(report, reportDir);
  info(`policy-gate: wrote ${written.join(', ')}`);

  const up = await uploadReport(name, reportDir, env);
  let artifactUrl: string | null = null;
  if (up.kind === 'uploaded') {
    artifactUrl = ctx.runId === null ? null : `${runUrl(ctx)}/artifacts/${up.id}`;
    core.setOutput('report-artifact-id', String(up.id));
    info(`policy-gate: uploaded the partial report as artifact ${name} (id ${up.id})`);
  } else if (up.kind === 'skipped' && env['POLICY_GATE_COMPOSITE_UPLOAD'] === 'true') {
    info(redactor.redact(`policy-gate: the partial report is uploaded as ${name} by the action's next step (${up.reason})`));
  } else {
    warn(`policy-gate: the partial report was not uploaded as artifact ${name}: ${up.reason}. The merge job will count shard ${shardLabel(shard)} as missing.`);
  }

  const facts: RunFacts = {
    mode,
    headSha: contextSha(ctx),
    shard: { index: shard.index, count: shard.count, summary: report.shard ? describeShard(report.shard) : `shard ${shardLabel(shard)}: ${nothing ?? 'nothing evaluated'}` },
    reportArtifact: { name, url: artifactUrl, runUrl: runUrl(ctx) },
  };
  const markdown = redactor.redact(actionMarkdown(report, facts));
  const note = trimNote({ name, url: artifactUrl }, runUrl(ctx));
  const summary = await writeJobSummary(markdown, note, env).catch((err: unknown) => {
    warn(`policy-gate: writing the job summary failed: ${String(err)}`);
    return 'failed';
  });
  if (summary === 'unavailable') warn('policy-gate: GITHUB_STEP_SUMMARY is not set; no job summary written');

  core.setOutput('conclusion', report.conclusion);
  core.setOutput('report-path', reportDir);
  core.setOutput('decisions', redactor.redact(JSON.stringify(decisions(report))));
  info(`policy-gate: shard ${shardLabel(shard)} done — its models: ${report.conclusion} (the merge job gives the verdict)`);
  const problems = [...report.errors, ...report.infraErrors];
  return problems.length > 0 ? redactor.redact(`shard ${shardLabel(shard)}: ${problems[0]}`) : null;
}

/**
 * For main.ts's crash path in a shard job: the failure report says which shard stopped (so the merge
 * names its models as missing) and is uploaded under the shard's artifact name.
 */
export function markFailedShard(env: NodeJS.ProcessEnv, report: Report): void {
  let spec;
  try {
    spec = shardInput(env);
  } catch {
    return; // a bad shard input: no shard to name; the merge counts it as missing
  }
  if (!spec) return;
  report.shard = failedShardInfo(spec, report.config.sha256, undefined);
  core.setOutput('report-artifact', shardArtifactName(spec));
}
