/**
 * The Action run the way the runner runs it, for the hostile-case suite: the BUILT bundle
 * (scripts/build-dist.mjs) in a child process, inputs as INPUT_* variables, the event payload in
 * GITHUB_EVENT_PATH, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, and GITHUB_API_URL pointing at the
 * loopback fake of GitHub (test/helpers/fake-github.ts). The same shape as test/action-e2e.test.ts's
 * harness, plus `everything()`: every output of a run, for the secret scan.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FakeGitHub } from './fake-github.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const EXAMPLE_ZIP_NAME = 'Alpaca_trading_trained_20240911_120000.zip';
export const OWNER = 'octo-org';
export const NAME = 'trading-policies';
export const PR_HEAD = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
export const MERGE_SHA = 'ffffeeeeddddccccbbbbaaaa9999888877776666';

const temps: string[] = [];
export function temp(prefix: string): string {
  const d = mkdtempSync(path.join(tmpdir(), `pg-hostile-${prefix}`));
  temps.push(d);
  return d;
}
export function cleanupHarness(): void {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface Bundle {
  file: string;
  runtimeModules: string;
}

export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runProcess(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Builds dist/index.js into a temp folder, with onnxruntime-node where action.yml installs it. */
export async function buildBundle(): Promise<Bundle> {
  const actionDir = temp('dist-');
  const file = path.join(actionDir, 'dist', 'index.js');
  const build = await runProcess(process.execPath, [path.join(REPO, 'scripts', 'build-dist.mjs'), '--outfile', file], { cwd: REPO, env: { PATH: process.env['PATH'] ?? '' } });
  if (build.code !== 0) throw new Error(`build-dist failed: ${build.stderr}`);
  const runtimeModules = path.join(actionDir, 'dist', 'runtime', 'node_modules');
  mkdirSync(runtimeModules, { recursive: true });
  symlinkSync(path.join(REPO, 'node_modules', 'onnxruntime-node'), path.join(runtimeModules, 'onnxruntime-node'), 'dir');
  return { file, runtimeModules };
}

export interface Workspace {
  dir: string;
  runnerTemp: string;
}

/** A checkout: the example archive and bars, and deployment configs requesting two models. */
export function workspace(edit?: (dir: string) => void): Workspace {
  const dir = temp('ws-');
  mkdirSync(path.join(dir, 'examples'));
  cpSync(path.join(REPO, 'examples', EXAMPLE_ZIP_NAME), path.join(dir, 'examples', EXAMPLE_ZIP_NAME));
  cpSync(path.join(REPO, 'examples', 'data'), path.join(dir, 'examples', 'data'), { recursive: true });
  mkdirSync(path.join(dir, 'deploy'));
  writeFileSync(path.join(dir, 'deploy', 'live.json'), JSON.stringify({ models: { BTCUSD_2Hour: { since: '2024-09-12' } } }, null, 2));
  writeFileSync(path.join(dir, 'deploy', 'paper.yml'), 'models:\n  BTCUSD_4Hour: {}\n');
  mkdirSync(path.join(dir, '.github'));
  writeFileSync(path.join(dir, '.github', 'policy-gate.yml'), 'promotion:\n  paper: deploy/paper.yml\n  live: deploy/live.json\n');
  edit?.(dir);
  return { dir, runnerTemp: temp('runner-temp-') };
}

/** A pull_request "synchronize" payload, shaped like GitHub's webhook docs. */
export function pullRequestPayload(opts: { number: number; title?: string; headRef?: string; body?: string }): unknown {
  const baseRepo = {
    id: 1296269,
    node_id: 'R_1',
    name: NAME,
    full_name: `${OWNER}/${NAME}`,
    private: false,
    owner: { login: OWNER, id: 1, type: 'Organization' },
    fork: false,
    default_branch: 'main',
  };
  const user = { login: 'quant-dev', id: 2, type: 'User' };
  return {
    action: 'synchronize',
    number: opts.number,
    before: '1111111111111111111111111111111111111111',
    after: PR_HEAD,
    pull_request: {
      url: `https://api.github.com/repos/${OWNER}/${NAME}/pulls/${opts.number}`,
      id: 1,
      node_id: 'PR_1',
      html_url: `https://github.com/${OWNER}/${NAME}/pull/${opts.number}`,
      number: opts.number,
      state: 'open',
      locked: false,
      title: opts.title ?? 'Promote BTCUSD_2Hour to live',
      user,
      body: opts.body ?? 'Retrained on September data.',
      merge_commit_sha: MERGE_SHA,
      draft: false,
      head: { label: `${OWNER}:${opts.headRef ?? 'promote-btc'}`, ref: opts.headRef ?? 'promote-btc', sha: PR_HEAD, user, repo: baseRepo },
      base: { label: `${OWNER}:main`, ref: 'main', sha: '2222222222222222222222222222222222222222', user: baseRepo.owner, repo: baseRepo },
      author_association: 'MEMBER',
    },
    repository: baseRepo,
    organization: { login: OWNER, id: 1 },
    sender: user,
  };
}

export interface ActionRun extends ProcessResult {
  outputs: Record<string, string>;
  outputFile: string;
  summary: string;
  ws: Workspace;
}

/** GITHUB_OUTPUT's `name<<delimiter` blocks. */
export function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(lines[i]!);
    if (!m) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]!);
    out[m[1]!] = value.join('\n');
  }
  return out;
}

export async function runAction(
  bundle: Bundle,
  fake: FakeGitHub,
  opts: { event: string; payload: unknown; inputs: Record<string, string>; token: string; ws?: Workspace; env?: Record<string, string> },
): Promise<ActionRun> {
  const ws = opts.ws ?? workspace();
  const eventPath = path.join(ws.runnerTemp, 'event.json');
  writeFileSync(eventPath, JSON.stringify(opts.payload));
  const outputFile = path.join(ws.runnerTemp, `output-${Date.now()}`);
  const summaryFile = path.join(ws.runnerTemp, `summary-${Date.now()}`);
  writeFileSync(outputFile, '');
  writeFileSync(summaryFile, '');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '',
    HOME: ws.runnerTemp,
    NODE_PATH: bundle.runtimeModules,
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_EVENT_NAME: opts.event,
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_REPOSITORY: `${OWNER}/${NAME}`,
    GITHUB_REPOSITORY_OWNER: OWNER,
    GITHUB_SHA: MERGE_SHA,
    GITHUB_REF: 'refs/pull/7/merge',
    GITHUB_RUN_ID: '9001',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: fake.url,
    GITHUB_GRAPHQL_URL: `${fake.url}/graphql`,
    GITHUB_WORKSPACE: ws.dir,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    RUNNER_TEMP: ws.runnerTemp,
    RUNNER_OS: 'Linux',
    'INPUT_GITHUB-TOKEN': opts.token,
    ...Object.fromEntries(Object.entries(opts.inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])),
    ...opts.env,
  };
  const res = await runProcess(process.execPath, [bundle.file], { cwd: ws.dir, env });
  return { ...res, outputs: parseOutputs(readFileSync(outputFile, 'utf8')), outputFile, summary: readFileSync(summaryFile, 'utf8'), ws };
}

/**
 * Every output of a run, by where it went: stdout (less the runner's own ::add-mask:: commands, which
 * must carry the secret), stderr, the job summary, GITHUB_OUTPUT, every request body the fake GitHub
 * received (check runs, comments, pull requests), and every file of the report folder.
 */
export function everything(run: ActionRun, fake: FakeGitHub): Record<string, string> {
  const out: Record<string, string> = {
    stdout: run.stdout
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n'),
    stderr: run.stderr,
    summary: run.summary,
    GITHUB_OUTPUT: readFileSync(run.outputFile, 'utf8'),
  };
  fake.requests.forEach((r, i) => {
    out[`request ${i} ${r.route}`] = `${r.path}?${new URLSearchParams(r.query).toString()}\n${r.rawBody}`;
  });
  for (const c of fake.state.checkRuns) out[`check run ${c.id}`] = JSON.stringify(c);
  for (const [n, list] of fake.state.comments) out[`comments #${n}`] = JSON.stringify(list);
  const reportDir = path.join(run.ws.dir, 'policy-gate-report');
  if (existsSync(reportDir)) {
    for (const rel of readdirSync(reportDir, { recursive: true }) as string[]) {
      const full = path.join(reportDir, rel);
      if (statSync(full).isFile()) out[`report ${rel}`] = readFileSync(full, 'utf8');
    }
  }
  return out;
}
