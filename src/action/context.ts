/**
 * The GitHub context, read in one place: the runner's environment and the event payload file. Nothing
 * else in the action reads GITHUB_* variables or the payload. (@actions/github's `context` is not used:
 * it is built when its module loads, so it cannot be tested or rebuilt; threats.md G1/G4.)
 *
 * The head SHA a check run belongs to is the pull request's HEAD commit (`pull_request.head.sha`), not
 * the merge commit GITHUB_SHA points to on pull_request events: a check on the merge SHA never shows on
 * the pull request.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { inputError } from '../core/errors.js';

export interface RepoRef {
  owner: string;
  repo: string;
}

export interface PullRequestInfo {
  number: number;
  headSha: string;
  /** owner/name of the head repository; null when the fork was deleted. */
  headRepo: string | null;
  baseRepo: string;
  /** The head branch lives in another repository: the token is read-only and secrets are absent. */
  isFork: boolean;
  title: string;
}

export interface WorkflowRunInfo {
  id: number;
  headSha: string;
  name: string;
  conclusion: string | null;
  event: string;
  headRepo: string | null;
  /** The triggering run came from a fork's pull request: its artifacts are untrusted input. */
  isFork: boolean;
}

export interface ActionContext {
  eventName: string;
  payload: Record<string, unknown>;
  repo: RepoRef;
  /** GITHUB_SHA: for pull_request events the merge commit, otherwise the commit the run is for. */
  sha: string;
  serverUrl: string;
  apiUrl: string;
  runId: number | null;
  runAttempt: number | null;
  workspace: string;
  /** RUNNER_TEMP (else the OS temp folder): where untrusted downloads go, never the workspace. */
  runnerTemp: string;
  pullRequest: PullRequestInfo | null;
  workflowRun: WorkflowRunInfo | null;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/i;

function positiveInt(v: unknown): number | null {
  const n = typeof v === 'string' && /^[1-9][0-9]*$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : null;
}

function fullName(repo: unknown): string | null {
  return isObj(repo) ? str(repo['full_name']) : null;
}

function readPayload(path: string | undefined): Obj {
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw inputError(`GITHUB_EVENT_PATH names ${path}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 'GITHUB_EVENT_PATH', err);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw inputError(`GITHUB_EVENT_PATH ${path}: the event payload is not valid JSON`, 'GITHUB_EVENT_PATH', err);
  }
  if (!isObj(doc)) throw inputError(`GITHUB_EVENT_PATH ${path}: the event payload is not a JSON object`, 'GITHUB_EVENT_PATH');
  return doc;
}

function pullRequestFrom(payload: Obj, repoFullName: string): PullRequestInfo | null {
  const pr = payload['pull_request'];
  if (!isObj(pr)) return null;
  const number = positiveInt(pr['number']) ?? positiveInt(payload['number']);
  const head = isObj(pr['head']) ? pr['head'] : {};
  const base = isObj(pr['base']) ? pr['base'] : {};
  const headSha = str(head['sha']);
  if (number === null || headSha === null || !SHA.test(headSha)) {
    throw inputError('the pull_request payload has no valid number and head.sha', 'GITHUB_EVENT_PATH');
  }
  const headRepo = fullName(head['repo']);
  const baseRepo = fullName(base['repo']) ?? repoFullName;
  return {
    number,
    headSha,
    headRepo,
    baseRepo,
    isFork: headRepo === null || headRepo.toLowerCase() !== baseRepo.toLowerCase(),
    title: str(pr['title']) ?? '',
  };
}

function workflowRunFrom(payload: Obj, repoFullName: string): WorkflowRunInfo | null {
  const run = payload['workflow_run'];
  if (!isObj(run)) return null;
  const id = positiveInt(run['id']);
  const headSha = str(run['head_sha']);
  if (id === null || headSha === null || !SHA.test(headSha)) {
    throw inputError('the workflow_run payload has no valid id and head_sha', 'GITHUB_EVENT_PATH');
  }
  const headRepo = fullName(run['head_repository']);
  return {
    id,
    headSha,
    name: str(run['name']) ?? '',
    conclusion: str(run['conclusion']),
    event: str(run['event']) ?? '',
    headRepo,
    isFork: headRepo !== null && headRepo.toLowerCase() !== repoFullName.toLowerCase(),
  };
}

/** The context of this run, from `env` (the runner's environment). */
export function readContext(env: NodeJS.ProcessEnv): ActionContext {
  const repository = env['GITHUB_REPOSITORY'] ?? '';
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(repository);
  if (!m) {
    throw inputError(`GITHUB_REPOSITORY must be "owner/name", got ${JSON.stringify(repository)}; policy-gate's action runs inside GitHub Actions (use the CLI elsewhere)`, 'GITHUB_REPOSITORY');
  }
  const payload = readPayload(env['GITHUB_EVENT_PATH']);
  const eventName = env['GITHUB_EVENT_NAME'] ?? '';
  const workspace = env['GITHUB_WORKSPACE'] || process.cwd();
  return {
    eventName,
    payload,
    repo: { owner: m[1]!, repo: m[2]! },
    sha: env['GITHUB_SHA'] ?? '',
    serverUrl: (env['GITHUB_SERVER_URL'] || 'https://github.com').replace(/\/+$/, ''),
    apiUrl: (env['GITHUB_API_URL'] || 'https://api.github.com').replace(/\/+$/, ''),
    runId: positiveInt(env['GITHUB_RUN_ID']),
    runAttempt: positiveInt(env['GITHUB_RUN_ATTEMPT']),
    workspace,
    runnerTemp: env['RUNNER_TEMP'] || tmpdir(),
    pullRequest: pullRequestFrom(payload, repository),
    workflowRun: workflowRunFrom(payload, repository),
  };
}

/** The URL of this workflow run's page (its artifacts are listed there), or null outside a run. */
export function runUrl(ctx: ActionContext): string | null {
  return ctx.runId === null ? null : `${ctx.serverUrl}/${ctx.repo.owner}/${ctx.repo.repo}/actions/runs/${ctx.runId}`;
}
