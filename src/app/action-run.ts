/**
 * What an Action run does, as pure rules the Action's shell (src/action/main.ts) calls: which mode the
 * event asks for, what a mode needs, what there is to validate, when the result is an empty success,
 * and whom the run reports to. Plain data in and out, no GitHub API; tested in test/action-run.test.ts.
 * The pull request's own rules are in ./pull-request.ts.
 */
import type { Config } from '../config/schema.js';
import { inputError, type PolicyGateError } from '../core/errors.js';
import type { Report } from '../core/report.js';
import { emptyReport } from './report-base.js';

/** Where the models come from and what the run publishes. */
export type RunMode = 'pull_request' | 'workflow_run' | 'schedule';

/** The `mode` input: a run mode, `auto` (from the event), or `merge` (the shards' partial reports). */
export type ModeInput = RunMode | 'auto' | 'merge';

/** The parts of the event a rule reads. */
export interface EventFacts {
  eventName: string;
  pullRequest: unknown;
  workflowRun: unknown;
}

export function resolveMode(inputs: { mode: ModeInput; runId: number | null }, ctx: EventFacts): RunMode {
  if (ctx.eventName === 'pull_request_target') {
    throw inputError(
      "policy-gate does not run on pull_request_target: that event gives a fork's files a write token and secrets. Trigger the gate on pull_request (see docs/action.md)",
      'GITHUB_EVENT_NAME',
    );
  }
  // merge publishes for the event like auto does; only where the report comes from differs.
  const mode =
    inputs.mode === 'auto' || inputs.mode === 'merge'
      ? ctx.pullRequest && ctx.eventName.startsWith('pull_request')
        ? 'pull_request'
        : ctx.eventName === 'workflow_run'
          ? 'workflow_run'
          : 'schedule'
      : inputs.mode;
  if (mode === 'pull_request' && !ctx.pullRequest) {
    throw inputError(`input "mode" is pull_request but the ${ctx.eventName || 'unknown'} event has no pull_request payload`, 'input mode');
  }
  if (mode === 'workflow_run' && !ctx.workflowRun && inputs.runId === null) {
    throw inputError(`input "mode" is workflow_run but the ${ctx.eventName || 'unknown'} event has no workflow_run payload; set the run-id input`, 'input mode');
  }
  return mode;
}

/** The merge checks the shards' partial reports against the archive they validated: it needs it, except for a training run's artifact. */
export function mergeInputError(inputs: { mode: ModeInput; archive: string | null }, mode: RunMode): PolicyGateError | null {
  if (inputs.mode === 'merge' && mode !== 'workflow_run' && inputs.archive === null) {
    return inputError('input "archive" is required with mode: merge — the archive the shards validated (the merge checks their partial reports against it)', 'input archive');
  }
  return null;
}

export function requireArchive(archive: string | null, mode: RunMode): string {
  if (archive === null) {
    throw inputError(`input "archive" is required in ${mode} mode: a training archive (.zip or folder) in the workspace`, 'input archive');
  }
  return archive;
}

/**
 * The archive a pull request's run validates. Without an archive input, a pull request that changes
 * the deployment configs is validated on the changed entries alone (null); one that does not needs
 * the archive.
 */
export function pullRequestArchive(archive: string | null, deployChanges: number): string | null {
  return archive === null && deployChanges > 0 ? null : requireArchive(archive, 'pull_request');
}

/**
 * The report of a run with nothing to validate (a pull request that changes no model, a training run
 * that did not succeed): no model was requested, so none fell short — a success, with the reason.
 */
export function nothingToValidateReport(config: Config, configFile: string | null, now: Date, reason: string): Report {
  const report = emptyReport('validate', config, configFile, now);
  report.conclusion = 'success';
  report.conclusionReasons = [reason];
  return report;
}

/** Notes each model the pull request changed with why (model id → reasons). */
export function noteChangedModels(report: Report, changed: ReadonlyMap<string, readonly string[]>, pullRequest: number): void {
  for (const m of report.models) {
    const why = changed.get(m.id);
    if (why) m.notes.push(`changed by pull request #${pullRequest}: ${why.join('; ')}`);
  }
}

/** A fork's training run is untrusted: its models are reported, never proposed for deployment. Why not, or null to propose. */
export function trainingRunNotDeployed(isFork: boolean | undefined): string | null {
  return isFork ? 'not opened: the training run came from a fork' : null;
}

/**
 * What a scheduled run (or any run that is neither a pull request nor a training run) validates: the
 * archive when one is given; else, with `track`, the record of that account's deployed models; else a
 * re-validation of every deployed model, which may demote them.
 */
export type ScheduledWork = { kind: 'archive'; archive: string } | { kind: 'track'; account: 'paper' | 'live' } | { kind: 'revalidate' };

export function scheduledWork(inputs: { archive: string | null; track: 'paper' | 'live' | null }): ScheduledWork {
  if (inputs.archive !== null) return { kind: 'archive', archive: inputs.archive };
  if (inputs.track !== null) return { kind: 'track', account: inputs.track };
  return { kind: 'revalidate' };
}

export type DeploymentKind = 'promote' | 'demote' | 'track';

/** The pull request a deployment opens, as the run names it. */
export function deploymentName(kind: DeploymentKind): 'promotion' | 'tracking' | 'demotion' {
  return kind === 'promote' ? 'promotion' : kind === 'track' ? 'tracking' : 'demotion';
}

/** A pull request that touches no model gets no new comment; an earlier one is still brought up to date. */
export function wantsNewComment(report: Pick<Report, 'models' | 'errors'>): boolean {
  return report.models.length > 0 || report.errors.length > 0;
}

/**
 * Whether a run that crashed reports on a pull request: in pull_request mode, or — when it crashed
 * before its mode was known — on a pull request event (never pull_request_target, which it refuses).
 */
export function crashedOnPullRequest(mode: RunMode | null, ctx: EventFacts | null): boolean {
  return mode === 'pull_request' || (mode === null && ctx?.pullRequest != null && ctx.eventName.startsWith('pull_request') && ctx.eventName !== 'pull_request_target');
}

/** The commit a check run for a run that stopped early goes on: the pull request's or training run's head, else GITHUB_SHA when it is one. */
export function fallbackHeadSha(ctx: { pullRequest: { headSha: string } | null; workflowRun: { headSha: string } | null; sha: string }): string | null {
  return ctx.pullRequest?.headSha ?? ctx.workflowRun?.headSha ?? (/^[0-9a-f]{40}$/i.test(ctx.sha) ? ctx.sha : null);
}
