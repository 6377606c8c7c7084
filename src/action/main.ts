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
import { runErrorReport } from '../app/report-base.js';
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
import { actionMarkdown, cancelledMarkdown, checkConclusion, checkTitle, crashMarkdown, decisions, trimNote, type RunFacts } from './render.js';
import { changedModels, readRequested, repoPath, type ChangedFile, type Requested } from './requested.js';
import { pullRequestScope, retireRemoved, unsuccessfulTrainingRun } from '../app/pull-request.js';
import {
  crashedOnPullRequest,
  deploymentName,
  fallbackHeadSha,
  mergeInputError,
  noteChangedModels,
  nothingToValidateReport,
  pullRequestArchive,
  resolveMode,
  scheduledWork,
  trainingRunNotDeployed,
  wantsNewComment,
  type RunMode,
} from '../app/action-run.js';
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
  'step\'s exit code. To get the check run and comment there too, see docs/action.md ("Pull requests from forks").';

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

export { resolveMode };

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

/** What validate() works with: the run's inputs, its config and requested tiers, and how to run an archive. */
interface Validation {
  ctx: ActionContext;
  inputs: ActionInputs;
  gh: GitHubClient;
  config: Config;
  file: string | null;
  requested: Requested;
  facts: RunFacts;
  now: Date;
  reportDir: string;
  /** Validates an archive (or, with mode: merge, merges the shards' partial reports for it). */
  run: (source: string) => Promise<Report>;
}

interface Validated {
  report: Report;
  facts: RunFacts;
  nothingToValidate?: string;
  deployment?: Deployment;
}

async function validate(mode: RunMode, ctx: ActionContext, inputs: ActionInputs, gh: GitHubClient, headSha: string, now: Date, reportDir: string): Promise<Validated> {
  const ws = ctx.workspace;
  const { config, file } = await resolveConfig(inputs, ws);
  const requested = await readRequested(config, ws);
  const facts: RunFacts = {
    mode,
    headSha,
    deployConfigs: requested.configs,
    run: ctx.runId === null ? null : { id: ctx.runId, attempt: ctx.runAttempt ?? 1, url: runUrl(ctx) },
  };
  const mergeError = mergeInputError(inputs, mode);
  if (mergeError) throw mergeError;
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
  const v: Validation = { ctx, inputs, gh, config, file, requested, facts, now, reportDir, run };
  if (mode === 'pull_request') return validatePullRequest(v);
  if (mode === 'workflow_run') return validateTrainingRun(v);
  return validateScheduled(v);
}

/** The models a pull request changes: in the archive, in the deployment configs, in the models folder. */
async function validatePullRequest(v: Validation): Promise<Validated> {
  const { ctx, inputs, gh, config, file, requested, facts, now } = v;
  const ws = ctx.workspace;
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
    facts.pullRequest = { number: pr.number, changed: new Map(), relevantFiles: [], noChanges: scope.noChanges };
    return { report: nothingToValidateReport(config, file, now, 'no model changes'), facts };
  }
  const modelFiles = scope.modelFiles;
  const deploy = await core.group('policy-gate: deployment configs at the base and in the pull request', () => pullRequestDeploy(gh, ctx.repo, pr.number, ws, config.promotion, info, modelFiles));
  retireRemoved(deploy.diff, requested.tiers);
  const archive = pullRequestArchive(inputs.archive, deploy.diff.length);
  const archiveReport = archive === null ? null : await v.run(workspacePath(ws, archive));
  const report = await withChangedEntries(archiveReport, deploy, config, file, {
    root: ws,
    paths: config.promotion,
    now,
    env: process.env,
    log: pipelineLog,
    endMs: inputs.endMs ?? undefined,
    equityOut: join(v.reportDir, 'equity'),
  });
  facts.advice = tierAdvice(report.models, requested.configs);
  const changed = changedModels(report, files, archiveRel === null || !report.archive ? null : { path: archiveRel, kind: report.archive.kind }, requested);
  noteChangedModels(report, changed, pr.number);
  facts.pullRequest = { number: pr.number, changed, relevantFiles: scope.relevant, noChanges: null };
  return { report, facts };
}

/** The training archive a finished training run uploaded; its models are proposed for promotion. */
async function validateTrainingRun(v: Validation): Promise<Validated> {
  const { ctx, inputs, config, file, facts, now } = v;
  const runId = inputs.runId ?? ctx.workflowRun!.id;
  const wr = ctx.workflowRun && ctx.workflowRun.id === runId ? ctx.workflowRun : null;
  const why = unsuccessfulTrainingRun(runId, wr?.conclusion);
  if (why !== null) return { report: nothingToValidateReport(config, file, now, why), facts, nothingToValidate: why };
  const dl: DownloadedArchive = await core.group(`policy-gate: download artifact "${inputs.artifactName}" of run ${runId}`, () =>
    downloadTrainingArchive({ token: inputs.token, repo: ctx.repo, runId, name: inputs.artifactName, runnerTemp: ctx.runnerTemp, log: pipelineLog }),
  );
  const runLink = `${ctx.serverUrl}/${ctx.repo.owner}/${ctx.repo.repo}/actions/runs/${runId}`;
  facts.artifact = { name: dl.artifactName, id: dl.artifactId, runId, digest: dl.digest, runUrl: runLink };
  const report = await v.run(dl.path);
  if (report.archive) report.archive.path = `artifact ${dl.artifactName} (id ${dl.artifactId}) of run ${runId}`;
  const notDeployed = trainingRunNotDeployed(wr?.isFork);
  if (notDeployed !== null) {
    facts.deployPr = { kind: 'promotion', outcome: notDeployed, number: null, url: null, changes: [], error: null };
    return { report, facts };
  }
  return { report, facts, deployment: { kind: 'promote', archivePath: dl.path, config } };
}

/** A scheduled run: the archive given, else the deployed models — tracked on their account or re-validated. */
async function validateScheduled(v: Validation): Promise<Validated> {
  const { ctx, inputs, config, file, facts, now } = v;
  const ws = ctx.workspace;
  const work = scheduledWork(inputs);
  if (work.kind === 'archive') return { report: await v.run(workspacePath(ws, work.archive)), facts };
  const common = { root: ws, paths: config.promotion, now, env: process.env, log: pipelineLog, endMs: inputs.endMs ?? undefined };
  if (work.kind === 'track') {
    // The deployed models of that account on their record (docs/promotion.md).
    const { account } = work;
    const { report, deploy } = await core.group(`policy-gate: track the ${account} account's deployed models`, () =>
      runTrack(config, file, {
        ...common,
        equityOut: null,
        account,
        trading: new AlpacaTrading({ env: process.env, account, now: () => Date.now(), log: pipelineLog, deadlineMs: config.data.deadlineSeconds * 1000 }),
      }),
    );
    return { report, facts, deployment: { kind: 'track', deploy, config } };
  }
  // Re-validate what the deployment configs list, each model from its own files.
  const { report, deploy } = await core.group('policy-gate: re-validate the deployed models', () => runRevalidate(config, file, { ...common, equityOut: join(v.reportDir, 'equity') }));
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
type Deployment = { kind: 'promote'; archivePath: string; config: Config } | { kind: 'demote'; deploy: DeployFiles; config: Config } | { kind: 'track'; deploy: DeployFiles; config: Config };

/**
 * Opens or updates the promotion or demotion pull request (src/action/promotion.ts) and records it in
 * `facts`. A failure is returned, not thrown: the verdict is still published, and the step fails.
 */
async function deploymentPullRequest(gh: GitHubClient, ctx: ActionContext, d: Deployment, report: Report, facts: RunFacts, reportDir: string, now: Date, redactor: Redactor): Promise<string | null> {
  const kind = deploymentName(d.kind);
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
      info(
        `policy-gate: ${kind} pull request #${o.number} ${o.kind} (${o.url}), head ${o.headSha.slice(0, 12)}${o.attempts > 1 ? `, after ${o.attempts} attempts` : ''}; its check: ${res.check ?? 'not posted'}`,
      );
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
  const ids = { now: () => new Date(), externalId: externalId(ctx), detailsUrl: runUrl(ctx), log: info };
  const check = live.check;
  if (check?.kind === 'created') {
    const how = await bestEffort('completing the check run as cancelled', () => finishCheck(client, ctx.repo, check, result, ids));
    if (how) info(`policy-gate: check run ${how === 'completed' ? check.id : 'replaced'}: cancelled`);
  } else if (check === null && live.headSha) {
    const sha = live.headSha;
    await bestEffort('reporting the interruption as a check run', () => postCompletedCheck(client, ctx.repo, sha, result, ids));
  }
}

/** What the run knows so far: the crash report and the check run's completion use whatever is there. */
interface ActionRun {
  readonly env: NodeJS.ProcessEnv;
  readonly clock: () => Date;
  // A shard job never posts a check run or a comment, not even for a crash (docs/sharding.md).
  readonly sharded: boolean;
  redactor: Redactor;
  gh: GitHubClient | null;
  ctx: ActionContext | null;
  mode: RunMode | null;
  check: CheckStart | null;
  outcome: Outcome | null;
  note: TrimNote;
}

export async function run(env: NodeJS.ProcessEnv = process.env, clock: () => Date = () => new Date()): Promise<void> {
  const r: ActionRun = { env, clock, sharded: readInput(env, 'shard') !== '', redactor: new Redactor(), gh: null, ctx: null, mode: null, check: null, outcome: null, note: trimNote(null, null) };
  live.sharded = r.sharded;
  const unguard = guardStreams();
  try {
    await gateAndPublish(r);
  } catch (err) {
    await publishCrash(r, err);
  } finally {
    await completeCheck(r);
    unguard();
  }
}

/** The run proper: context and inputs, the check run, validate, then publish everything. */
async function gateAndPublish(r: ActionRun): Promise<void> {
  const { env, clock } = r;
  r.redactor = maskSecrets(env);
  const ctx = (r.ctx = live.ctx = readContext(env));
  live.token = readInput(env, 'github-token') || null;
  live.headSha = ctx.pullRequest?.headSha ?? ctx.workflowRun?.headSha ?? null;
  const inputs = parseInputs(env);
  const mode = (r.mode = resolveMode(inputs, ctx));
  if (inputs.shard) {
    // A shard job publishes only its job summary and partial report; the merge job does the rest.
    const failure = await runShardJob({ env, ctx, inputs, mode, now: clock(), redactor: r.redactor });
    if (failure !== null) core.setFailed(`policy-gate: ${failure}`);
    return;
  }
  const client = (r.gh = createGitHub({ token: inputs.token, baseUrl: ctx.apiUrl, log: info }));
  const headSha = (live.headSha = await headShaFor(mode, ctx, inputs, client));
  info(`policy-gate: ${mode} mode (event ${ctx.eventName || 'unknown'}), check run on ${headSha}`);
  r.check = live.check = await startCheck(client, ctx.repo, headSha, { externalId: externalId(ctx), detailsUrl: runUrl(ctx), now: clock() });
  if (r.check.kind === 'denied') {
    warn(`policy-gate could not create its check run (${r.check.reason}). ${ctx.pullRequest?.isFork ? FORK_NOTE : 'Give the workflow `checks: write`.'}`);
  }
  const reportDir = workspacePath(ctx.workspace, inputs.reportDir);
  const validated = await validate(mode, ctx, inputs, client, headSha, clock(), reportDir);
  // Interrupted (SIGINT/SIGTERM/SIGHUP, ./index.ts): the handler writes the report; nothing here may overwrite it or act on it.
  await haltWhenStopping();
  await publish(r, { ctx, inputs, mode, client, reportDir }, validated);
}

/** `<run id>:<attempt>`, which ties a check run to this run; null outside a workflow run. */
function externalId(ctx: ActionContext): string | null {
  return ctx.runId === null ? null : `${ctx.runId}:${ctx.runAttempt ?? 1}`;
}

/**
 * The report in every place: the report files, the deployment pull request, the artifact, the job
 * summary, the sticky comment and the step's outputs; the step fails on a failure.
 */
async function publish(r: ActionRun, run: { ctx: ActionContext; inputs: ActionInputs; mode: RunMode; client: GitHubClient; reportDir: string }, validated: Validated): Promise<void> {
  const { ctx, inputs, mode, client, reportDir } = run;
  const { redactor, env } = r;
  const { nothingToValidate, deployment } = validated;
  // Redacted and made visible as DATA, before anything renders it (markdown, HTML, the check run,
  // the comment, the job summary, the outputs): no escaping can then hide a secret from the redactor.
  const report = outputReport(validated.report);
  const facts = redactDeep(validated.facts, outputRedactor, visibleText);
  const written = await writeReportFiles(report, reportDir);
  info(`policy-gate: wrote ${written.join(', ')}`);
  const deployError = deployment ? await deploymentPullRequest(client, ctx, deployment, report, facts, reportDir, r.clock(), redactor) : null;
  const conclusion = nothingToValidate ? 'neutral' : checkConclusion(report, inputs.failOnRejection);
  const outcome: Outcome = (r.outcome = {
    conclusion,
    title: redactor.redact(nothingToValidate ?? checkTitle(report)),
    markdown: redactor.redact(actionMarkdown(report, facts)),
  });
  const artifactUrl = inputs.reportArtifact === null ? null : await uploadArtifact(ctx, inputs.reportArtifact, reportDir, env);
  const note = (r.note = live.note = trimNote(inputs.reportArtifact === null ? null : { name: inputs.reportArtifact, url: artifactUrl }, runUrl(ctx)));
  if (inputs.reportArtifact !== null && !nothingToValidate) {
    // The link to report.html (the charts) is known once the artifact is: uploaded here, or by action.yml's next step.
    facts.reportArtifact = { name: inputs.reportArtifact, url: artifactUrl, runUrl: runUrl(ctx) };
    outcome.markdown = redactor.redact(actionMarkdown(report, facts));
  }

  const summary = await bestEffort('writing the job summary', () => writeJobSummary(outcome.markdown, note, env));
  if (summary === 'unavailable') warn('policy-gate: GITHUB_STEP_SUMMARY is not set; no job summary written');
  if (mode === 'pull_request') await postComment(client, ctx, outcome.markdown, note, wantsNewComment(report));

  setOutput('conclusion', conclusion);
  setOutput('report-path', reportDir);
  setOutput('decisions', JSON.stringify(decisions(report)));
  info(`policy-gate: ${conclusion} — ${outcome.title}`);
  if (conclusion === 'failure') core.setFailed(`policy-gate: ${outcome.title}`);
  if (deployError !== null) core.setFailed(`policy-gate: the ${deploymentName(deployment!.kind)} pull request could not be opened: ${deployError}`);
}

/** Uploads the report folder as the artifact; its URL, or null when it was not uploaded here. */
async function uploadArtifact(ctx: ActionContext, name: string, reportDir: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  const up = await uploadReport(name, reportDir, env);
  if (up.kind === 'uploaded') {
    setOutput('report-artifact-id', String(up.id));
    info(`policy-gate: uploaded the report as artifact ${name} (id ${up.id})`);
    return ctx.runId === null ? null : `${runUrl(ctx)}/artifacts/${up.id}`;
  }
  if (up.kind === 'skipped' && env['POLICY_GATE_COMPOSITE_UPLOAD'] === 'true') {
    info(`policy-gate: the report artifact is uploaded by the action's next step (${up.reason})`);
  } else {
    warn(`policy-gate: the report was not uploaded as an artifact: ${up.reason}. It is in ${reportDir}.`);
  }
  return null;
}

/** A crash, reported where the verdict would have been: the report files, the job summary, the comment, the outputs. */
async function publishCrash(r: ActionRun, err: unknown): Promise<void> {
  const { env, ctx, redactor } = r;
  await haltWhenStopping();
  const known = err instanceof PolicyGateError;
  const status = httpStatus(err);
  const message = visibleText(redactor.redact(known ? err.message : status !== undefined ? `GitHub API error ${status}: ${errorMessage(err)}` : `internal error: ${errorMessage(err)}`));
  if (!known && err instanceof Error && err.stack) core.debug(redactor.redact(err.stack));
  const report = runErrorReport('validate', defaultConfig(), null, r.clock(), message);
  if (r.sharded) markFailedShard(env, report);
  const outcome: Outcome = (r.outcome = { conclusion: 'failure', title: `error: ${message}`, markdown: crashMarkdown(message, ctx ? runUrl(ctx) : null) });
  const reportDir = ctx ? workspacePath(ctx.workspace, readInput(env, 'report-dir') || 'policy-gate-report') : null;
  if (reportDir) await bestEffort('writing the failure report', () => writeReportFiles(report, reportDir));
  await bestEffort('writing the job summary', () => writeJobSummary(outcome.markdown, r.note, env));
  // An earlier comment (say, green for the previous commit) must not outlive this run's failure, and a
  // pull request whose first run crashes gets one too: the error is what its author needs to see.
  const onPullRequest = crashedOnPullRequest(r.mode, ctx);
  const token = readInput(env, 'github-token');
  const commenter = r.gh ?? (ctx && onPullRequest && token ? createGitHub({ token, baseUrl: ctx.apiUrl, log: info }) : null);
  if (commenter && ctx && onPullRequest && !r.sharded) await postComment(commenter, ctx, outcome.markdown, r.note, true);
  setOutput('conclusion', 'failure');
  if (reportDir) setOutput('report-path', reportDir);
  setOutput('decisions', '[]');
  core.setFailed(`policy-gate: ${message}`);
}

/** The check run completed with the outcome (in `finally`: also after a crash, or a throw inside the catch). */
async function completeCheck(r: ActionRun): Promise<void> {
  const { ctx, gh, check } = r;
  // Reached with an outcome from the try or the catch; the fallback covers a throw inside the catch.
  const { conclusion, title, markdown } = r.outcome ?? {
    conclusion: 'failure' as const,
    title: 'error: the run stopped unexpectedly',
    markdown: crashMarkdown('the run stopped unexpectedly', ctx ? runUrl(ctx) : null),
  };
  const result = { conclusion, title, summary: markdown, trimNote: r.note };
  const ids = ctx ? { now: r.clock, externalId: externalId(ctx), detailsUrl: runUrl(ctx), log: info } : null;
  if (isStopping()) {
    // Interrupted: the signal handler (src/action/index.ts) reports the run as cancelled.
  } else if (gh && ctx && ids && check?.kind === 'created') {
    const [client, repo, started] = [gh, ctx.repo, check];
    await bestEffort('completing the check run', () => finishCheck(client, repo, started, result, ids));
  } else if (check === null && ctx && ids && !r.sharded) {
    // The run stopped before its check run existed (a bad input, an unknown run): the required check
    // must still report, so post it completed — when the token and the commit are known.
    const token = readInput(r.env, 'github-token');
    const sha = fallbackHeadSha(ctx);
    const repo = ctx.repo;
    const client = gh ?? (token ? createGitHub({ token, baseUrl: ctx.apiUrl, log: info }) : null);
    if (client && sha) {
      await bestEffort('reporting the error as a check run', () => postCompletedCheck(client, repo, sha, result, { ...ids, externalId: null }));
    }
  }
}
