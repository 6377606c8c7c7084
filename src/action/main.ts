/**
 * The GitHub Action shell (SPEC section 11) around the same pipeline the CLI runs.
 *
 *   context + inputs → mode and head commit → check run `in_progress` → validate (PR archive,
 *   workflow_run artifact, or scheduled re-validation) → report files → artifact, job summary,
 *   sticky comment, outputs → check run `completed` (in `finally`, also after a crash).
 *
 * A rejected model is a normal outcome: everything is still published, the check concludes `failure`
 * (or `neutral` with fail-on-rejection: false) and the step fails. A crash is the other failure path:
 * it is reported the same places with the error. Publishing is best effort — a 403 from a fork's
 * read-only token or a GitHub outage while posting turns into a warning and never hides the verdict,
 * which the step's exit code always carries. This file holds the only `core.setFailed`.
 */
import * as core from '@actions/core';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_CONFIG_PATH } from '../config/load.js';
import { defaultConfig, type Config } from '../config/schema.js';
import { emptyReport } from '../app/report-base.js';
import { runValidate } from '../app/validate.js';
import { outputReport, writeReportFiles } from '../app/output.js';
import type { DeployFiles } from '../app/promote.js';
import { runRevalidate } from '../app/revalidate.js';
import { haltWhenStopping, isStopping, type StopSignal } from '../app/interrupt.js';
import { runTrack } from '../app/track.js';
import { AlpacaTrading } from '../adapters/alpaca/trading.js';
import { planTrack } from '../core/track-plan.js';
import { planPromotion, tierAdvice } from '../core/promotion.js';
import { sha256 } from '../util/hash.js';
import { errorMessage, inputError, PolicyGateError } from '../core/errors.js';
import type { Report } from '../core/report.js';
import { readAlpacaKeys, Redactor } from '../adapters/alpaca/index.js';
import { outputRedactor, redactDeep, redactOutput, registerSecrets, secretsFromEnv } from '../util/redact.js';
import { visibleText } from '../util/visible.js';
import { downloadTrainingArchive, uploadReport, type DownloadedArchive } from './artifacts.js';
import { finishCheck, postCompletedCheck, startCheck, type CheckConclusion, type CheckResult, type CheckStart } from './checks.js';
import { commentBody, tokenIdentity, upsertStickyComment } from './comment.js';
import { readContext, runUrl, type ActionContext } from './context.js';
import { createGitHub, httpStatus, type GitHubClient } from './github.js';
import { parseInputs, readInput, resolveConfig, workspacePath, type ActionInputs } from './inputs.js';
import { info, pipelineLog } from './log.js';
import { actionMarkdown, cancelledMarkdown, checkConclusion, checkTitle, crashMarkdown, decisions, trimNote, type RunFacts, type RunMode } from './render.js';
import { changedModels, readRequested, repoPath, type ChangedFile } from './requested.js';
import { pullRequestScope, retireRemoved, unsuccessfulTrainingRun } from '../app/pull-request.js';
import { writeJobSummary } from './summary.js';
import type { TrimNote } from './trim.js';
import { openDemotionPullRequest, openPromotionPullRequest, openTrackPullRequest, pullRequestDeploy, withChangedEntries } from './promotion.js';
import { mergeShards } from './merge.js';
import { markFailedShard, runShardJob } from './shard.js';

interface Outcome {
  conclusion: CheckConclusion;
  title: string;
  markdown: string;
}

const FORK_NOTE =
  'This is expected on pull requests from forks, whose GITHUB_TOKEN is read-only: the verdict is in this job summary and in the ' +
  "step's exit code. To get the check run and comment there too, see docs/action.md (\"Pull requests from forks\").";

/**
 * The run's redactor, for warnings written from anywhere in this file: an API error's message may
 * quote what the server echoed, a token included (docs/threat-model.md). The runner masks registered
 * secrets in its log, but only plain ones, and only on GitHub's runners: redact them here too.
 */
let warningRedactor = new Redactor();

/** core.warning, with every secret form redacted. */
function warn(text: string): void {
  core.warning(warningRedactor.redact(text));
}

/**
 * Mask every secret the run can see before anything is logged (the runner then hides them), and
 * register the same values with the process-wide redactor (src/util/redact.ts), which every output
 * passes through: the token, the Alpaca key pair, and every variable whose name looks secret.
 */
function maskSecrets(env: NodeJS.ProcessEnv): Redactor {
  const secrets = [readInput(env, 'github-token'), env['GITHUB_TOKEN'], env['APCA_API_KEY_ID'], env['APCA_API_SECRET_KEY'], ...secretsFromEnv(env)];
  try {
    const keys = readAlpacaKeys(env);
    if (keys) secrets.push(keys.keyId, keys.secret);
  } catch {
    // A half-configured key pair is reported by the data source when (and if) it is used.
  }
  const unique = registerSecrets(secrets);
  for (const s of unique) core.setSecret(s);
  warningRedactor = outputRedactor;
  return outputRedactor;
}

/**
 * Everything this process writes to stdout and stderr passes through the redactor — @actions/core's
 * own lines, a library's warning, a stack trace — except the `::add-mask::` commands, which must carry
 * the secret to the runner. Returns the function that puts the streams back.
 */
function guardStreams(): () => void {
  const restore: (() => void)[] = [];
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write;
    const guarded = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
      let out = chunk;
      if (typeof chunk === 'string' && !chunk.startsWith('::add-mask::')) out = redactOutput(chunk);
      else if (chunk instanceof Uint8Array) out = redactOutput(Buffer.from(chunk).toString('utf8'));
      return (write as (...a: unknown[]) => boolean).call(this, out, ...rest);
    };
    stream.write = guarded as typeof stream.write;
    restore.push(() => {
      stream.write = write;
    });
  }
  return () => {
    for (const r of restore) r();
  };
}

/** core.setOutput with the value redacted (step outputs are read by later steps and shown in logs). */
function setOutput(name: string, value: string): void {
  core.setOutput(name, redactOutput(value));
}

export function resolveMode(inputs: ActionInputs, ctx: ActionContext): RunMode {
  if (ctx.eventName === 'pull_request_target') {
    throw inputError(
      'policy-gate does not run on pull_request_target: that event gives a fork\'s files a write token and secrets. Trigger the gate on pull_request (see docs/action.md)',
      'GITHUB_EVENT_NAME',
    );
  }
  // merge publishes for the event like auto does; only where the report comes from differs.
  const mode = inputs.mode === 'auto' || inputs.mode === 'merge'
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

async function headShaFor(mode: RunMode, ctx: ActionContext, inputs: ActionInputs, gh: GitHubClient): Promise<string> {
  if (mode === 'pull_request') return ctx.pullRequest!.headSha;
  if (mode === 'workflow_run') {
    if (ctx.workflowRun && (inputs.runId === null || inputs.runId === ctx.workflowRun.id)) return ctx.workflowRun.headSha;
    const run = await gh.rest.actions.getWorkflowRun({ ...ctx.repo, run_id: inputs.runId! });
    return run.data.head_sha;
  }
  if (!/^[0-9a-f]{40}$/i.test(ctx.sha)) throw inputError(`GITHUB_SHA must be a commit SHA, got ${JSON.stringify(ctx.sha)}`, 'GITHUB_SHA');
  return ctx.sha;
}

async function listPullRequestFiles(gh: GitHubClient, ctx: ActionContext, pr: number): Promise<ChangedFile[]> {
  const files = await gh.paginate(gh.rest.pulls.listFiles, { ...ctx.repo, pull_number: pr, per_page: 100 });
  return files.map((f) => ({
    filename: f.filename,
    status: f.status,
    ...(f.previous_filename ? { previous_filename: f.previous_filename } : {}),
    ...(f.patch !== undefined ? { patch: f.patch } : {}),
  }));
}

function requireArchive(inputs: ActionInputs, mode: RunMode): string {
  if (inputs.archive === null) {
    throw inputError(`input "archive" is required in ${mode} mode: a training archive (.zip or folder) in the workspace`, 'input archive');
  }
  return inputs.archive;
}

async function validate(
  mode: RunMode,
  ctx: ActionContext,
  inputs: ActionInputs,
  gh: GitHubClient,
  headSha: string,
  now: Date,
  reportDir: string,
): Promise<{ report: Report; facts: RunFacts; nothingToValidate?: string; deployment?: Deployment }> {
  const ws = ctx.workspace;
  const { config, file } = await resolveConfig(inputs, ws);
  const requested = await readRequested(config, ws);
  const facts: RunFacts = {
    mode,
    headSha,
    deployConfigs: requested.configs,
    run: ctx.runId === null ? null : { id: ctx.runId, attempt: ctx.runAttempt ?? 1, url: runUrl(ctx) },
  };
  if (inputs.mode === 'merge' && mode !== 'workflow_run' && inputs.archive === null) {
    throw inputError('input "archive" is required with mode: merge — the archive the shards validated (the merge checks their partial reports against it)', 'input archive');
  }
  const run = (source: string): Promise<Report> =>
    inputs.mode === 'merge'
      ? core.group(`policy-gate: merge the shards' partial reports for ${source}`, () =>
          mergeShards({ source, config, configFile: file, requestedTiers: requested.tiers, endMs: inputs.endMs, token: inputs.token, ctx, reportDir, now, facts }),
        )
      : core.group(`policy-gate: validate ${source}`, () =>
          runValidate(source, config, file, {
            now,
            env: process.env,
            log: pipelineLog,
            endMs: inputs.endMs ?? undefined,
            equityOut: join(reportDir, 'equity'),
            requestedTiers: requested.tiers,
            root: ws,
          }),
        );

  if (mode === 'pull_request') {
    const pr = ctx.pullRequest!;
    const files = await core.group(`policy-gate: files changed by pull request #${pr.number}`, async () => {
      info(`pull request #${pr.number} "${pr.title}" (head ${pr.headRepo ?? 'deleted repository'}${pr.isFork ? ', a fork' : ''})`);
      const list = await listPullRequestFiles(gh, ctx, pr.number);
      info(`${list.length} files changed`);
      return list;
    });
    const archiveRel = inputs.archive === null ? null : repoPath(ws, inputs.archive);
    const configRel = repoPath(ws, file ?? inputs.config ?? DEFAULT_CONFIG_PATH);
    const scope = pullRequestScope(files, {
      archive: archiveRel,
      configFile: configRel,
      deploy: requested.configs.map((c) => c.path),
      modelsDir: repoPath(ws, config.promotion.modelsDir),
    });
    if (scope.noChanges !== null) {
      const report = emptyReport('validate', config, file, now);
      report.conclusion = 'success';
      report.conclusionReasons = ['no model changes'];
      facts.pullRequest = { number: pr.number, changed: new Map(), relevantFiles: [], noChanges: scope.noChanges };
      return { report, facts };
    }
    const modelFiles = scope.modelFiles;
    const deploy = await core.group('policy-gate: deployment configs at the base and in the pull request', () =>
      pullRequestDeploy(gh, ctx.repo, pr.number, ws, config.promotion, info, modelFiles),
    );
    retireRemoved(deploy.diff, requested.tiers);
    const archiveReport = inputs.archive === null && deploy.diff.length > 0 ? null : await run(workspacePath(ws, requireArchive(inputs, mode)));
    const report = await withChangedEntries(archiveReport, deploy, config, file, {
      root: ws,
      paths: config.promotion,
      now,
      env: process.env,
      log: pipelineLog,
      endMs: inputs.endMs ?? undefined,
      equityOut: join(reportDir, 'equity'),
    });
    facts.advice = tierAdvice(report.models, requested.configs);
    const changed = changedModels(report, files, archiveRel === null || !report.archive ? null : { path: archiveRel, kind: report.archive.kind }, requested);
    for (const m of report.models) {
      const why = changed.get(m.id);
      if (why) m.notes.push(`changed by pull request #${pr.number}: ${why.join('; ')}`);
    }
    facts.pullRequest = { number: pr.number, changed, relevantFiles: scope.relevant, noChanges: null };
    return { report, facts };
  }

  if (mode === 'workflow_run') {
    const runId = inputs.runId ?? ctx.workflowRun!.id;
    const wr = ctx.workflowRun && ctx.workflowRun.id === runId ? ctx.workflowRun : null;
    const why = unsuccessfulTrainingRun(runId, wr?.conclusion);
    if (why !== null) {
      const report = emptyReport('validate', config, file, now);
      report.conclusion = 'success'; // no model was requested, so none fell short
      report.conclusionReasons = [why];
      return { report, facts, nothingToValidate: why };
    }
    const dl: DownloadedArchive = await core.group(`policy-gate: download artifact "${inputs.artifactName}" of run ${runId}`, () =>
      downloadTrainingArchive({ token: inputs.token, repo: ctx.repo, runId, name: inputs.artifactName, runnerTemp: ctx.runnerTemp, log: pipelineLog }),
    );
    const runLink = `${ctx.serverUrl}/${ctx.repo.owner}/${ctx.repo.repo}/actions/runs/${runId}`;
    facts.artifact = { name: dl.artifactName, id: dl.artifactId, runId, digest: dl.digest, runUrl: runLink };
    const report = await run(dl.path);
    if (report.archive) report.archive.path = `artifact ${dl.artifactName} (id ${dl.artifactId}) of run ${runId}`;
    if (wr?.isFork) {
      // A fork's training run is untrusted: its models are reported, never proposed for deployment.
      facts.deployPr = { kind: 'promotion', outcome: 'not opened: the training run came from a fork', number: null, url: null, changes: [], error: null };
      return { report, facts };
    }
    return { report, facts, deployment: { kind: 'promote', archivePath: dl.path, config } };
  }

  if (inputs.archive !== null) return { report: await run(workspacePath(ws, inputs.archive)), facts };
  if (inputs.track !== null) {
    // No archive, `track`: the deployed models of that account on their record (docs/promotion.md).
    const account = inputs.track;
    const { report, deploy } = await core.group(`policy-gate: track the ${account} account's deployed models`, () =>
      runTrack(config, file, {
        root: ws,
        paths: config.promotion,
        now,
        env: process.env,
        log: pipelineLog,
        endMs: inputs.endMs ?? undefined,
        equityOut: null,
        account,
        trading: new AlpacaTrading({ env: process.env, account, now: () => Date.now(), log: pipelineLog, deadlineMs: config.data.deadlineSeconds * 1000 }),
      }),
    );
    return { report, facts, deployment: { kind: 'track', deploy, config } };
  }
  // No archive: re-validate what the deployment configs list, each model from its own files.
  const { report, deploy } = await core.group('policy-gate: re-validate the deployed models', () =>
    runRevalidate(config, file, {
      root: ws,
      paths: config.promotion,
      now,
      env: process.env,
      log: pipelineLog,
      endMs: inputs.endMs ?? undefined,
      equityOut: join(reportDir, 'equity'),
    }),
  );
  return { report, facts, deployment: { kind: 'demote', deploy, config } };
}

/** Runs `fn`; a failure becomes a warning (publishing never changes or hides the verdict). */
async function bestEffort<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
  return fn().catch((err: unknown) => {
    warn(`policy-gate: ${what} failed: ${errorMessage(err)}`);
    return undefined;
  });
}

/** The sticky comment, created or brought up to date; a 403 (fork) is a warning. */
async function postComment(gh: GitHubClient, ctx: ActionContext, markdown: string, note: TrimNote, createIfMissing: boolean): Promise<void> {
  const pr = ctx.pullRequest!;
  const posted = await bestEffort('updating the pull request comment', async () =>
    upsertStickyComment(gh, ctx.repo, pr.number, commentBody(markdown, note), await tokenIdentity(gh, info), { createIfMissing }),
  );
  if (posted?.kind === 'denied') {
    warn(`policy-gate could not comment on pull request #${pr.number} (${posted.reason}). ${pr.isFork ? FORK_NOTE : 'Give the workflow `pull-requests: write`.'}`);
  } else if (posted && posted.kind !== 'absent') {
    info(`policy-gate: pull request comment ${posted.kind} (id ${posted.id})${posted.duplicatesRemoved ? `, ${posted.duplicatesRemoved} duplicate(s) removed` : ''}`);
  }
}

/** What a run proposes to the deployment configs: promote (workflow_run) or demote (schedule, no archive). */
type Deployment =
  | { kind: 'promote'; archivePath: string; config: Config }
  | { kind: 'demote'; deploy: DeployFiles; config: Config }
  | { kind: 'track'; deploy: DeployFiles; config: Config };

/**
 * Opens or updates the promotion or demotion pull request (src/action/promotion.ts) and records it in
 * `facts`. A failure is returned, not thrown: the verdict is still published, and the step fails.
 */
async function deploymentPullRequest(
  gh: GitHubClient,
  ctx: ActionContext,
  d: Deployment,
  report: Report,
  facts: RunFacts,
  reportDir: string,
  now: Date,
  redactor: Redactor,
): Promise<string | null> {
  const kind = d.kind === 'promote' ? 'promotion' : d.kind === 'track' ? 'tracking' : 'demotion';
  const paths = { paper: repoPath(ctx.workspace, d.config.promotion.paper), live: repoPath(ctx.workspace, d.config.promotion.live) };
  // Re-validation where every deployed model holds its tier changes nothing: no pull request, no API call.
  if (d.kind === 'demote' && planPromotion(d.deploy.configs, report, { mode: 'revalidate', now, runUrl: null, reportSha256: '' }).changes.length === 0) return null;
  // Tracking where no record moves a model changes nothing either.
  if (d.kind === 'track' && planTrack(d.deploy.configs, report, { now, runUrl: null, reportSha256: '' }).changes.length === 0) return null;
  try {
    const common = {
      report,
      reportSha256: sha256(await readFile(join(reportDir, 'report.json'))),
      markdown: redactor.redact(actionMarkdown(report, facts)),
      paths,
      runUrl: runUrl(ctx),
      now,
      externalId: ctx.runId === null ? null : `${ctx.runId}:${ctx.runAttempt ?? 1}:${kind}`,
      log: info,
    };
    const res = await core.group(`policy-gate: ${kind} pull request`, () =>
      d.kind === 'promote'
        ? openPromotionPullRequest(gh, ctx.repo, { ...common, archivePath: d.archivePath, modelsDir: repoPath(ctx.workspace, d.config.promotion.modelsDir), runId: facts.artifact?.runId ?? null })
        : d.kind === 'track'
          ? openTrackPullRequest(gh, ctx.repo, common)
          : openDemotionPullRequest(gh, ctx.repo, common),
    );
    if (!res) return null; // no model earned PAPER or LIVE
    const o = res.outcome;
    const changes = (res.plan?.changes ?? []).map((c) => c.summary);
    if (o.kind === 'nothing') {
      facts.deployPr = { kind, outcome: 'not needed: the default branch already holds these changes', number: null, url: null, changes: [], error: null };
    } else {
      facts.deployPr = { kind, outcome: o.kind, number: o.number, url: o.url, changes, error: null };
      setOutput('pull-request-url', o.url);
      info(`policy-gate: ${kind} pull request #${o.number} ${o.kind} (${o.url}), head ${o.headSha.slice(0, 12)}${o.attempts > 1 ? `, after ${o.attempts} attempts` : ''}; its check: ${res.check ?? 'not posted'}`);
    }
    return null;
  } catch (err) {
    const status = httpStatus(err);
    const message = redactor.redact(
      status === 403
        ? `${errorMessage(err)} — the job needs \`contents: write\` and \`pull-requests: write\`, and the repository must allow GitHub Actions to create pull requests (Settings → Actions → General)`
        : err instanceof PolicyGateError
          ? err.message
          : status !== undefined
            ? `GitHub API error ${status}: ${errorMessage(err)}`
            : errorMessage(err),
    );
    facts.deployPr = { kind, outcome: 'failed', number: null, url: null, changes: [], error: message };
    warn(`policy-gate: the ${kind} pull request could not be opened: ${message}`);
    return message;
  }
}

/**
 * What an interruption needs to report the run (src/action/index.ts calls reportInterruption): filled
 * in as the run learns it — the context and token, the commit, the check run once it exists.
 */
const live: { ctx: ActionContext | null; token: string | null; headSha: string | null; check: CheckStart | null; sharded: boolean; note: TrimNote } = {
  ctx: null,
  token: null,
  headSha: null,
  check: null,
  sharded: false,
  note: trimNote(null, null),
};

/** How long, from the signal, completing the check run may take: the runner sends SIGTERM 7.5 s after SIGINT. */
export const INTERRUPT_API_BUDGET_MS = 6_000;

/**
 * A cancelled or timed-out job (SIGINT, then SIGTERM 7.5 s later): completes the run's check run as
 * `cancelled` — or posts one completed, when the run had not created it yet — and writes the job
 * summary, all within INTERRUPT_API_BUDGET_MS of the signal. Requests are retried on 5xx, network
 * failures and rate limits with short back-offs, never past that budget; completing that fails is
 * replaced by a new completed check run (checks.ts finishCheck). A shard job posts nothing.
 */
export async function reportInterruption(signal: StopSignal, report: Report, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const started = Date.now();
  const { ctx, token } = live;
  const markdown = cancelledMarkdown(signal, report, ctx ? runUrl(ctx) : null);
  const result: CheckResult = {
    conclusion: 'cancelled',
    title: `cancelled: the run was interrupted by ${signal} before it finished — nothing was decided`,
    summary: markdown,
    trimNote: live.note,
  };
  await bestEffort('writing the job summary', () => writeJobSummary(markdown, live.note, env));
  if (live.sharded || !ctx || !token) return;
  const client = createGitHub({ token, baseUrl: ctx.apiUrl, log: info, retries: 6, backoffMs: 250, timeoutMs: 3_000, deadline: started + INTERRUPT_API_BUDGET_MS });
  const ids = { now: () => new Date(), externalId: ctx.runId === null ? null : `${ctx.runId}:${ctx.runAttempt ?? 1}`, detailsUrl: runUrl(ctx), log: info };
  const check = live.check;
  if (check?.kind === 'created') {
    const how = await bestEffort('completing the check run as cancelled', () => finishCheck(client, ctx.repo, check, result, ids));
    if (how) info(`policy-gate: check run ${how === 'completed' ? check.id : 'replaced'}: cancelled`);
  } else if (check === null && live.headSha) {
    const sha = live.headSha;
    await bestEffort('reporting the interruption as a check run', () => postCompletedCheck(client, ctx.repo, sha, result, ids));
  }
}

export async function run(env: NodeJS.ProcessEnv = process.env, clock: () => Date = () => new Date()): Promise<void> {
  let redactor = new Redactor();
  let gh: GitHubClient | null = null;
  let ctx: ActionContext | null = null;
  let mode: RunMode | null = null;
  let check: CheckStart | null = null;
  let outcome: Outcome | null = null;
  let note = trimNote(null, null);
  // A shard job never posts a check run or a comment, not even for a crash (docs/sharding.md).
  const sharded = readInput(env, 'shard') !== '';
  live.sharded = sharded;
  const unguard = guardStreams();
  try {
    redactor = maskSecrets(env);
    ctx = readContext(env);
    live.ctx = ctx;
    live.token = readInput(env, 'github-token') || null;
    live.headSha = ctx.pullRequest?.headSha ?? ctx.workflowRun?.headSha ?? null;
    const inputs = parseInputs(env);
    mode = resolveMode(inputs, ctx);
    if (inputs.shard) {
      // A shard job publishes only its job summary and partial report; the merge job does the rest.
      const failure = await runShardJob({ env, ctx, inputs, mode, now: clock(), redactor });
      if (failure !== null) core.setFailed(`policy-gate: ${failure}`);
      return;
    }
    const client = createGitHub({ token: inputs.token, baseUrl: ctx.apiUrl, log: info });
    gh = client;
    const headSha = await headShaFor(mode, ctx, inputs, client);
    live.headSha = headSha;
    info(`policy-gate: ${mode} mode (event ${ctx.eventName || 'unknown'}), check run on ${headSha}`);
    check = await startCheck(client, ctx.repo, headSha, {
      externalId: ctx.runId === null ? null : `${ctx.runId}:${ctx.runAttempt ?? 1}`,
      detailsUrl: runUrl(ctx),
      now: clock(),
    });
    live.check = check;
    if (check.kind === 'denied') {
      warn(`policy-gate could not create its check run (${check.reason}). ${ctx.pullRequest?.isFork ? FORK_NOTE : 'Give the workflow `checks: write`.'}`);
    }

    const reportDir = workspacePath(ctx.workspace, inputs.reportDir);
    const validated = await validate(mode, ctx, inputs, client, headSha, clock(), reportDir);
    // Interrupted (SIGINT/SIGTERM/SIGHUP, ./index.ts): the handler writes the report; nothing here may overwrite it or act on it.
    await haltWhenStopping();
    const { nothingToValidate, deployment } = validated;
    // Redacted and made visible as DATA, before anything renders it (markdown, HTML, the check run,
    // the comment, the job summary, the outputs): no escaping can then hide a secret from the redactor.
    const report = outputReport(validated.report);
    const facts = redactDeep(validated.facts, outputRedactor, visibleText);
    const written = await writeReportFiles(report, reportDir);
    info(`policy-gate: wrote ${written.join(', ')}`);
    const deployError = deployment ? await deploymentPullRequest(client, ctx, deployment, report, facts, reportDir, clock(), redactor) : null;
    const conclusion = nothingToValidate ? 'neutral' : checkConclusion(report, inputs.failOnRejection);
    outcome = {
      conclusion,
      title: redactor.redact(nothingToValidate ?? checkTitle(report)),
      markdown: redactor.redact(actionMarkdown(report, facts)),
    };

    let artifactUrl: string | null = null;
    if (inputs.reportArtifact !== null) {
      const up = await uploadReport(inputs.reportArtifact, reportDir, env);
      if (up.kind === 'uploaded') {
        artifactUrl = ctx.runId === null ? null : `${runUrl(ctx)}/artifacts/${up.id}`;
        setOutput('report-artifact-id', String(up.id));
        info(`policy-gate: uploaded the report as artifact ${inputs.reportArtifact} (id ${up.id})`);
      } else if (up.kind === 'skipped' && env['POLICY_GATE_COMPOSITE_UPLOAD'] === 'true') {
        info(`policy-gate: the report artifact is uploaded by the action's next step (${up.reason})`);
      } else {
        warn(`policy-gate: the report was not uploaded as an artifact: ${up.reason}. It is in ${reportDir}.`);
      }
    }
    note = trimNote(inputs.reportArtifact === null ? null : { name: inputs.reportArtifact, url: artifactUrl }, runUrl(ctx));
    live.note = note;
    if (inputs.reportArtifact !== null && !nothingToValidate) {
      // The link to report.html (the charts) is known once the artifact is: uploaded here, or by action.yml's next step.
      facts.reportArtifact = { name: inputs.reportArtifact, url: artifactUrl, runUrl: runUrl(ctx) };
      outcome.markdown = redactor.redact(actionMarkdown(report, facts));
    }

    const summary = await bestEffort('writing the job summary', () => writeJobSummary(outcome!.markdown, note, env));
    if (summary === 'unavailable') warn('policy-gate: GITHUB_STEP_SUMMARY is not set; no job summary written');
    if (mode === 'pull_request') {
      // A pull request that touches no model gets no new comment; an earlier one is still brought up to date.
      await postComment(client, ctx, outcome.markdown, note, report.models.length > 0 || report.errors.length > 0);
    }

    setOutput('conclusion', conclusion);
    setOutput('report-path', reportDir);
    setOutput('decisions', JSON.stringify(decisions(report)));
    info(`policy-gate: ${conclusion} — ${outcome.title}`);
    if (conclusion === 'failure') core.setFailed(`policy-gate: ${outcome.title}`);
    if (deployError !== null) core.setFailed(`policy-gate: the ${deployment!.kind === 'promote' ? 'promotion' : deployment!.kind === 'track' ? 'tracking' : 'demotion'} pull request could not be opened: ${deployError}`);
  } catch (err) {
    await haltWhenStopping();
    const known = err instanceof PolicyGateError;
    const status = httpStatus(err);
    const message = visibleText(
      redactor.redact(known ? err.message : status !== undefined ? `GitHub API error ${status}: ${errorMessage(err)}` : `internal error: ${errorMessage(err)}`),
    );
    if (!known && err instanceof Error && err.stack) core.debug(redactor.redact(err.stack));
    const report = emptyReport('validate', defaultConfig(), null, clock());
    report.errors.push(message);
    report.conclusionReasons = [`run error: ${message}`];
    if (sharded) markFailedShard(env, report);
    outcome = { conclusion: 'failure', title: `error: ${message}`, markdown: crashMarkdown(message, ctx ? runUrl(ctx) : null) };
    const reportDir = ctx ? workspacePath(ctx.workspace, readInput(env, 'report-dir') || 'policy-gate-report') : null;
    if (reportDir) await bestEffort('writing the failure report', () => writeReportFiles(report, reportDir));
    await bestEffort('writing the job summary', () => writeJobSummary(outcome!.markdown, note, env));
    // An earlier comment (say, green for the previous commit) must not outlive this run's failure, and a
    // pull request whose first run crashes gets one too: the error is what its author needs to see.
    const onPullRequest = mode === 'pull_request' || (mode === null && ctx?.pullRequest != null && ctx.eventName.startsWith('pull_request') && ctx.eventName !== 'pull_request_target');
    const token = readInput(env, 'github-token');
    const commenter = gh ?? (ctx && onPullRequest && token ? createGitHub({ token, baseUrl: ctx.apiUrl, log: info }) : null);
    if (commenter && ctx && onPullRequest && !sharded) await postComment(commenter, ctx, outcome.markdown, note, true);
    setOutput('conclusion', 'failure');
    if (reportDir) setOutput('report-path', reportDir);
    setOutput('decisions', '[]');
    core.setFailed(`policy-gate: ${message}`);
  } finally {
    // Reached with an outcome from the try or the catch; the fallback covers a throw inside the catch.
    const { conclusion, title, markdown } = outcome ?? {
      conclusion: 'failure' as const,
      title: 'error: the run stopped unexpectedly',
      markdown: crashMarkdown('the run stopped unexpectedly', ctx ? runUrl(ctx) : null),
    };
    const result = { conclusion, title, summary: markdown, trimNote: note };
    const ids = ctx ? { now: clock, externalId: ctx.runId === null ? null : `${ctx.runId}:${ctx.runAttempt ?? 1}`, detailsUrl: runUrl(ctx), log: info } : null;
    if (isStopping()) {
      // Interrupted: the signal handler (src/action/index.ts) reports the run as cancelled.
    } else if (gh && ctx && ids && check?.kind === 'created') {
      const [client, repo, started] = [gh, ctx.repo, check];
      await bestEffort('completing the check run', () => finishCheck(client, repo, started, result, ids));
    } else if (check === null && ctx && ids && !sharded) {
      // The run stopped before its check run existed (a bad input, an unknown run): the required check
      // must still report, so post it completed — when the token and the commit are known.
      const token = readInput(env, 'github-token');
      const sha = ctx.pullRequest?.headSha ?? ctx.workflowRun?.headSha ?? (/^[0-9a-f]{40}$/i.test(ctx.sha) ? ctx.sha : null);
      const repo = ctx.repo;
      const client = gh ?? (token ? createGitHub({ token, baseUrl: ctx.apiUrl, log: info }) : null);
      if (client && sha) {
        await bestEffort('reporting the error as a check run', () => postCompletedCheck(client, repo, sha, result, { ...ids, externalId: null }));
      }
    }
    unguard();
  }
}
