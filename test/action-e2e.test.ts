/**
 * The Action end to end, the way the runner runs it: the BUILT bundle (scripts/build-dist.mjs) in a
 * child process, inputs as INPUT_* variables, the event payload in GITHUB_EVENT_PATH, GITHUB_OUTPUT
 * and GITHUB_STEP_SUMMARY files, and GITHUB_API_URL pointing at a loopback fake of GitHub's API.
 *
 * The bundle is built into a temp folder `<tmp>/action/dist/index.js`, and onnxruntime-node is made
 * available exactly as action.yml does it: in `<tmp>/action/dist/runtime/node_modules` (here a symlink
 * to this repository's copy) with that folder on NODE_PATH. No node_modules folder is above the temp
 * folder, so this also proves the bundle needs nothing else from the repository.
 *
 * The report artifact upload needs ACTIONS_RUNTIME_TOKEN / ACTIONS_RESULTS_URL (the Actions results
 * service, which composite-action steps never get: action.yml uploads with actions/upload-artifact
 * instead). Most runs here leave them unset and cover the documented "skipped, with a warning" path;
 * the scheduled run sets them, and the fake's results service receives the upload.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync, zipSync } from 'fflate';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildBundle, cleanupHarness, runProcess, type ProcessResult } from './helpers/action-harness.js';
import { secretForms } from '../src/adapters/alpaca/redact.js';
import { STICKY_MARKER } from '../src/action/comment.js';
import { expectNoViolations, type FakeGitHub, seedComments, startFakeGitHub } from './helpers/fake-github.js';

// Every request to the loopback GitHub must be one GitHub's REST description allows.
afterEach(() => expectNoViolations());

const REPO = fileURLToPath(new URL('../', import.meta.url));
const EXAMPLE_ZIP_NAME = 'Alpaca_trading_trained_20240911_120000.zip';
const TOKEN = 'ghs_e2eTokenValue0123456789abcdefABCDEF';
const ALPACA_ID = 'PKE2EKEYID0123456789';
const ALPACA_SECRET = 'e2eAlpacaSecretValue0123456789abcdefghij';
const PR_HEAD = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
const MERGE_SHA = 'ffffeeeeddddccccbbbbaaaa9999888877776666';
const RUN_HEAD = '0123456789abcdef0123456789abcdef01234567';
const OWNER = 'octo-org';
const NAME = 'trading-policies';

const temps: string[] = [];
function temp(prefix: string): string {
  const d = mkdtempSync(path.join(tmpdir(), `pg-action-${prefix}`));
  temps.push(d);
  return d;
}

let bundle: string;
let runtimeModules: string;
let fake: FakeGitHub;

beforeAll(async () => {
  ({ file: bundle, runtimeModules } = await buildBundle());
}, 60_000);

afterAll(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
  cleanupHarness();
});

beforeEach(async () => {
  await fake?.close();
  fake = await startFakeGitHub({ owner: OWNER, repo: NAME, token: TOKEN });
});

interface Workspace {
  dir: string;
  runnerTemp: string;
}

/** A checkout: the example archive and bars, and deployment configs requesting two models. */
function workspace(): Workspace {
  const dir = temp('ws-');
  mkdirSync(path.join(dir, 'examples'));
  cpSync(path.join(REPO, 'examples', EXAMPLE_ZIP_NAME), path.join(dir, 'examples', EXAMPLE_ZIP_NAME));
  cpSync(path.join(REPO, 'examples', 'data'), path.join(dir, 'examples', 'data'), { recursive: true });
  mkdirSync(path.join(dir, 'deploy'));
  writeFileSync(path.join(dir, 'deploy', 'live.json'), JSON.stringify({ models: { BTCUSD_2Hour: { since: '2024-09-12' } } }, null, 2));
  writeFileSync(path.join(dir, 'deploy', 'paper.yml'), 'models:\n  BTCUSD_4Hour: {}\n');
  mkdirSync(path.join(dir, '.github'));
  writeFileSync(path.join(dir, '.github', 'policy-gate.yml'), 'promotion:\n  paper: deploy/paper.yml\n  live: deploy/live.json\n');
  return { dir, runnerTemp: temp('runner-temp-') };
}

/** A pull_request "synchronize" payload, shaped like GitHub's webhook docs. */
function pullRequestPayload(opts: { number: number; fork?: boolean }): unknown {
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
  const headRepo = opts.fork
    ? { id: 7777, node_id: 'R_7', name: NAME, full_name: `forker/${NAME}`, private: false, owner: { login: 'forker', id: 7, type: 'User' }, fork: true, default_branch: 'main' }
    : baseRepo;
  const user = opts.fork ? { login: 'forker', id: 7, type: 'User' } : { login: 'quant-dev', id: 2, type: 'User' };
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
      title: '::warning::Promote BTCUSD_2Hour to live',
      user,
      body: 'Retrained on September data.',
      merge_commit_sha: MERGE_SHA,
      draft: false,
      head: { label: `${headRepo.owner.login}:promote-btc`, ref: 'promote-btc', sha: PR_HEAD, user, repo: headRepo },
      base: { label: `${OWNER}:main`, ref: 'main', sha: '2222222222222222222222222222222222222222', user: baseRepo.owner, repo: baseRepo },
      author_association: opts.fork ? 'CONTRIBUTOR' : 'MEMBER',
    },
    repository: baseRepo,
    organization: { login: OWNER, id: 1 },
    sender: user,
  };
}

function workflowRunPayload(conclusion = 'success'): unknown {
  const repo = { id: 1296269, name: NAME, full_name: `${OWNER}/${NAME}`, owner: { login: OWNER } };
  return {
    action: 'completed',
    workflow_run: {
      id: 4242,
      name: 'train',
      head_branch: 'main',
      head_sha: RUN_HEAD,
      event: 'push',
      status: 'completed',
      conclusion,
      run_attempt: 1,
      pull_requests: [],
      repository: repo,
      head_repository: repo,
    },
    workflow: { id: 161335, name: 'train', path: '.github/workflows/train.yml' },
    repository: repo,
    sender: { login: 'quant-dev' },
  };
}

interface ActionRun extends ProcessResult {
  outputs: Record<string, string>;
  summary: string;
  ws: Workspace;
}

/** GITHUB_OUTPUT's `name<<delimiter` blocks. */
function parseOutputs(text: string): Record<string, string> {
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

async function runAction(opts: { event: string; payload: unknown; inputs: Record<string, string>; ws?: Workspace; extraEnv?: Record<string, string> }): Promise<ActionRun> {
  const ws = opts.ws ?? workspace();
  const eventPath = path.join(ws.runnerTemp, 'event.json');
  writeFileSync(eventPath, JSON.stringify(opts.payload));
  const outputFile = path.join(ws.runnerTemp, `output-${Date.now()}-${Math.random()}`);
  const summaryFile = path.join(ws.runnerTemp, `summary-${Date.now()}-${Math.random()}`);
  writeFileSync(outputFile, '');
  writeFileSync(summaryFile, '');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '',
    HOME: ws.runnerTemp,
    NODE_PATH: runtimeModules,
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_EVENT_NAME: opts.event,
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_REPOSITORY: `${OWNER}/${NAME}`,
    GITHUB_REPOSITORY_OWNER: OWNER,
    GITHUB_SHA: opts.event === 'pull_request' ? MERGE_SHA : RUN_HEAD,
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
    APCA_API_KEY_ID: ALPACA_ID,
    APCA_API_SECRET_KEY: ALPACA_SECRET,
    'INPUT_GITHUB-TOKEN': TOKEN,
    ...Object.fromEntries(Object.entries(opts.inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])),
    ...opts.extraEnv,
  };
  const res = await runProcess(process.execPath, [bundle], { cwd: ws.dir, env });
  return { ...res, outputs: parseOutputs(readFileSync(outputFile, 'utf8')), summary: readFileSync(summaryFile, 'utf8'), ws };
}

const PR_INPUTS = { archive: `examples/${EXAMPLE_ZIP_NAME}`, data: 'examples/data' };

/** 120 unrelated files plus the archive and the live config: two pages of pulls.listFiles. */
function seedPullFiles(n: number): void {
  const files: { filename: string; status: string; patch?: string }[] = [];
  for (let i = 0; i < 120; i++) files.push({ filename: `notebooks/analysis-${i}.md`, status: 'modified', patch: '@@ -1 +1 @@\n-a\n+b' });
  files.push({ filename: `examples/${EXAMPLE_ZIP_NAME}`, status: 'modified' });
  files.push({
    filename: 'deploy/live.json',
    status: 'modified',
    patch: '@@ -1,3 +1,5 @@\n {\n   "models": {\n+    "BTCUSD_2Hour": {\n+      "since": "2024-09-12"\n+    }\n   }\n }',
  });
  fake.state.pullFiles.set(n, files);
}

/** Every secret form that must never appear in output. */
function leakForms(): string[] {
  return [...secretForms(TOKEN), ...secretForms(ALPACA_ID), ...secretForms(ALPACA_SECRET)];
}

/** Everything the run let out: stdout minus the runner's own ::add-mask:: lines, stderr, summary, outputs, request bodies, report files. */
function emitted(run: ActionRun): string {
  const stdout = run.stdout
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
  const reportDir = path.join(run.ws.dir, 'policy-gate-report');
  const reports = existsSync(reportDir)
    ? readdirSync(reportDir)
        .filter((f) => f.startsWith('report.'))
        .map((f) => readFileSync(path.join(reportDir, f), 'utf8'))
    : [];
  return [stdout, run.stderr, run.summary, JSON.stringify(run.outputs), ...fake.requests.map((r) => r.rawBody), ...reports].join('\n');
}

function expectNoLeaks(run: ActionRun): void {
  const text = emitted(run);
  for (const form of leakForms()) expect(text.includes(form), `secret form ${form.slice(0, 6)}… leaked`).toBe(false);
  // The token is masked (the runner hides it from then on) and the mask command is the only place it appears.
  const masks = run.stdout.split('\n').filter((l) => l.startsWith('::add-mask::'));
  expect(masks).toContain(`::add-mask::${TOKEN}`);
  expect(masks).toContain(`::add-mask::${ALPACA_SECRET}`);
}

describe('pull_request: check run, sticky comment, summary, outputs', () => {
  it('validates the PR archive, then a second run updates the same comment', async () => {
    seedPullFiles(7);
    // 150 comments by people (two pages), one of them quoting the marker: it must never be touched.
    seedComments(fake, 7, 150, (i) => (i === 42 ? { body: `I copied the bot: ${STICKY_MARKER} looks fine` } : {}));
    const userMarker = fake.state.comments.get(7)![42]!;

    const first = await runAction({ event: 'pull_request', payload: pullRequestPayload({ number: 7 }), inputs: PR_INPUTS });
    expect(first.code, first.stdout + first.stderr).toBe(1); // models fall short: conclusion failure

    // The check run: created in_progress on the PR HEAD (not the merge commit), then completed.
    const creates = fake.calls('POST check-runs');
    expect(creates).toHaveLength(1);
    expect(creates[0]!.body).toMatchObject({ name: 'policy-gate', head_sha: PR_HEAD, status: 'in_progress', external_id: '9001:1' });
    const run = fake.state.checkRuns[0]!;
    expect(run.history.map((h) => h.status)).toEqual(['in_progress', 'completed']);
    expect(run.conclusion).toBe('failure');
    expect(run.output!.title).toMatch(/^7 models: 2 PAPER, 1 RETRAIN, 3 DROP, 1 not evaluated — 6 below the requested tier$/);
    const summary = run.output!.summary!;
    expect(summary).toContain('## ❌ policy-gate: failure');
    expect(summary).toContain('### Gating');
    expect(summary).toMatch(/\| Fold \|.*\| Sharpe/); // the fold tables
    expect(summary).toContain('Pull request #7 at `a1b2c3d` changes 7 model(s) — the archive examples/Alpaca\\_trading\\_trained\\_20240911\\_120000.zip changed.');
    expect(summary).toContain('- **BTCUSD\\_2Hour**: deploy/live.json requests it at LIVE');
    expect(summary).toContain('BTCUSD\\_2Hour: PAPER is below the requested LIVE');
    expect(summary).not.toContain('BTCUSD\\_4Hour: PAPER is below'); // requested PAPER by deploy/paper.yml, and earned it

    // Both pages of changed files and of comments were read.
    expect(fake.calls('GET pulls/files').map((r) => r.query['page'] ?? '1')).toEqual(['1', '2']);
    expect(fake.calls('GET comments').map((r) => r.query['page'] ?? '1')).toEqual(['1', '2']);
    expect(fake.calls('POST comments')).toHaveLength(1);
    expect(fake.calls('PATCH comments')).toHaveLength(0);
    const bot = () => fake.state.comments.get(7)!.filter((c) => c.user.type === 'Bot');
    expect(bot()).toHaveLength(1);
    expect(bot()[0]!.body.startsWith(`${STICKY_MARKER}\n## ❌ policy-gate: failure`)).toBe(true);

    // Job summary and step outputs.
    expect(first.summary).toContain('### Gating');
    expect(first.summary).toContain('BTCUSD\\_2Hour: PAPER is below the requested LIVE');
    expect(first.outputs['conclusion']).toBe('failure');
    expect(first.outputs['report-path']).toBe('policy-gate-report');
    const decisions = JSON.parse(first.outputs['decisions']!);
    expect(decisions).toHaveLength(7);
    expect(decisions).toContainEqual({ id: 'BTCUSD_2Hour', tier: 'PAPER', requested: 'LIVE' });
    expect(decisions).toContainEqual({ id: 'BTCUSD_4Hour', tier: 'PAPER', requested: 'PAPER' });
    expect(decisions).toContainEqual({ id: 'BTCUSD_1Hour', tier: 'DROP', requested: 'PAPER' });
    expect(JSON.parse(readFileSync(path.join(first.ws.dir, 'policy-gate-report', 'report.json'), 'utf8')).models).toHaveLength(7);
    expect(readdirSync(path.join(first.ws.dir, 'policy-gate-report', 'equity'))).toContain('BTCUSD_2Hour.fold1.csv');

    // The upload path this environment has: no Actions results service → a warning, not a failure.
    expect(first.stdout).toMatch(/^::warning::policy-gate: the report was not uploaded as an artifact: ACTIONS_RUNTIME_TOKEN/m);
    // The untrusted PR title never reaches the log as a workflow command.
    expect(first.stdout).not.toMatch(/^::warning::Promote/m);
    expectNoLeaks(first);

    // Second run on the same PR: the comment is found again, never duplicated; the verdict is the same,
    // so it is not re-sent (the footer names the run, not the time).
    const requestsBefore = fake.requests.length;
    const second = await runAction({ event: 'pull_request', payload: pullRequestPayload({ number: 7 }), inputs: PR_INPUTS, ws: first.ws });
    expect(second.code).toBe(1);
    const later = fake.requests.slice(requestsBefore);
    expect(later.filter((r) => r.route === 'GET comments').length).toBeGreaterThan(0);
    expect(later.filter((r) => r.route === 'POST comments')).toHaveLength(0);
    expect(later.filter((r) => r.route === 'PATCH comments')).toHaveLength(0);
    expect(bot()).toHaveLength(1);
    expect(fake.state.comments.get(7)!).toHaveLength(151);
    expect(fake.state.comments.get(7)!.find((c) => c.id === userMarker.id)!.body).toBe(`I copied the bot: ${STICKY_MARKER} looks fine`);
    expect(later.some((r) => r.method === 'PATCH' && r.path.endsWith(`/comments/${userMarker.id}`))).toBe(false);
    expect(fake.state.checkRuns).toHaveLength(2);
    expect(fake.state.checkRuns[1]!.conclusion).toBe('failure');
    expectNoLeaks(second);
  }, 60_000);

  it('a PR that changes no model still gets a completed check run (success) and no new comment', async () => {
    fake.state.pullFiles.set(8, [{ filename: 'README.md', status: 'modified', patch: '@@ -1 +1 @@\n-a\n+b' }]);
    const res = await runAction({ event: 'pull_request', payload: pullRequestPayload({ number: 8 }), inputs: PR_INPUTS });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const run = fake.state.checkRuns[0]!;
    expect(run.head_sha).toBe(PR_HEAD);
    expect(run.history.map((h) => h.status)).toEqual(['in_progress', 'completed']);
    expect(run.conclusion).toBe('success');
    expect(run.output!.title).toBe('no model changes');
    expect(run.output!.summary).toContain('no model changes');
    expect(fake.calls('POST comments')).toHaveLength(0);
    expect(res.outputs['conclusion']).toBe('success');
    expect(res.outputs['decisions']).toBe('[]');
    expectNoLeaks(res);
  });

  it('a crash after the check run was created still completes it as failure (and the stale comment says so)', async () => {
    fake.state.faults.set('GET pulls/files', { status: 422, body: { message: 'Validation Failed' } });
    seedComments(fake, 7, 1, () => ({ body: `${STICKY_MARKER}\n## ✅ policy-gate: success`, user: { login: 'github-actions[bot]', type: 'Bot' } }));
    const res = await runAction({ event: 'pull_request', payload: pullRequestPayload({ number: 7 }), inputs: PR_INPUTS });
    expect(res.code).toBe(1);
    expect(fake.calls('GET pulls/files')).toHaveLength(1); // 422 is never retried
    const run = fake.state.checkRuns[0]!;
    expect(run.history.map((h) => h.status)).toEqual(['in_progress', 'completed']);
    expect(run.conclusion).toBe('failure');
    expect(run.output!.title).toMatch(/^error: /);
    expect(run.output!.summary).toContain('## ❌ policy-gate: error');
    expect(res.stdout).toMatch(/^::error::policy-gate: /m);
    expect(res.outputs['conclusion']).toBe('failure');
    expect(res.summary).toContain('policy-gate: error');
    expect(res.summary).toContain('GitHub API error 422');
    expect(fake.state.comments.get(7)![0]!.body).toMatch(/^<!-- policy-gate:sticky -->\n## ❌ policy-gate: error/);
    expect(fake.calls('POST comments')).toHaveLength(0);
    expectNoLeaks(res);
  });

  it('a bad input fails with a message naming the input, and the check run is still completed', async () => {
    const res = await runAction({ event: 'pull_request', payload: pullRequestPayload({ number: 7 }), inputs: { ...PR_INPUTS, days: 'many' } });
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('::error::policy-gate: input "days" must be a positive number, got "many"');
    // Inputs are parsed before the run starts its check run; the error is still reported as one.
    const run = fake.state.checkRuns[0]!;
    expect(run.head_sha).toBe(PR_HEAD);
    expect(run.conclusion).toBe('failure');
    expect(run.output!.title).toBe('error: input "days" must be a positive number, got "many"');
  });

  it('fork PR: 403 on checks.create and on the comment → warnings, job summary, outputs, exit code per conclusion', async () => {
    seedPullFiles(9);
    const denied = { status: 403, body: { message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest/checks/runs#create-a-check-run' } };
    fake.state.faults.set('POST check-runs', denied);
    fake.state.faults.set('POST comments', denied);
    const res = await runAction({ event: 'pull_request', payload: pullRequestPayload({ number: 9, fork: true }), inputs: PR_INPUTS });
    expect(res.code, res.stdout + res.stderr).toBe(1); // the conclusion is failure: models fall short
    expect(fake.calls('POST check-runs')).toHaveLength(1); // a plain 403 is not retried
    expect(fake.calls('PATCH check-runs')).toHaveLength(0);
    expect(res.stdout).toMatch(/^::warning::policy-gate could not create its check run \(Resource not accessible by integration.*pull requests from forks/m);
    expect(res.stdout).toMatch(/^::warning::policy-gate could not comment on pull request #9 .*pull requests from forks/m);
    expect(res.summary).toContain('### Gating');
    expect(res.outputs['conclusion']).toBe('failure');
    expect(JSON.parse(res.outputs['decisions']!)).toHaveLength(7);
    expect(res.stdout).not.toMatch(/internal error/);
    expectNoLeaks(res);
  });
});

describe('schedule: re-validation, and the report uploaded through the Actions results service', () => {
  it('validates the archive input with the deployed tiers, posts the check on GITHUB_SHA, uploads the report', async () => {
    const res = await runAction({
      event: 'schedule',
      payload: { schedule: '17 6 * * 1-5', repository: { full_name: `${OWNER}/${NAME}` } },
      inputs: PR_INPUTS,
      extraEnv: { ACTIONS_RUNTIME_TOKEN: fake.state.runtimeToken, ACTIONS_RESULTS_URL: `${fake.url}/` },
    });
    expect(res.code, res.stdout + res.stderr).toBe(1);
    const run = fake.state.checkRuns[0]!;
    expect(run).toMatchObject({ head_sha: RUN_HEAD, status: 'completed', conclusion: 'failure' });
    expect(run.output!.summary).toContain('Re-validation at `0123456`.');
    expect(run.output!.summary).toContain('BTCUSD\\_2Hour: PAPER is below the requested LIVE');
    expect(fake.calls('GET pulls/files')).toHaveLength(0);
    expect(fake.calls('GET comments')).toHaveLength(0);
    // Uploaded once, by the program (so action.yml's upload step would be skipped).
    expect(fake.state.uploads).toHaveLength(1);
    const upload = fake.state.uploads[0]!;
    expect(upload.name).toBe('policy-gate-report');
    expect(res.outputs['report-artifact-id']).toBe(String(upload.id));
    expect(res.stdout).toContain(`policy-gate: uploaded the report as artifact policy-gate-report (id ${upload.id})`);
    const files = unzipSync(new Uint8Array(upload.bytes));
    expect(
      Object.keys(files)
        .filter((f) => f.startsWith('report.'))
        .sort(),
    ).toEqual(['report.html', 'report.json', 'report.md']);
    expect(Object.keys(files)).toContain('equity/BTCUSD_2Hour.fold1.csv');
    const report = JSON.parse(Buffer.from(files['report.json']!).toString('utf8'));
    expect(report.models.find((m: { id: string }) => m.id === 'BTCUSD_2Hour').requested).toBe('LIVE');
    const unpacked = Object.values(files)
      .map((b) => Buffer.from(b).toString('utf8'))
      .join('\n');
    for (const form of leakForms()) expect(unpacked.includes(form)).toBe(false);
    expectNoLeaks(res);
  });
});

describe("workflow_run: the training run's artifact", () => {
  it("finds the artifact with findBy, downloads it from the API, validates it, and reports on the run's head commit", async () => {
    // upload-artifact of the training zip: the artifact zip holds that one zip.
    const inner = new Uint8Array(readFileSync(path.join(REPO, 'examples', EXAMPLE_ZIP_NAME)));
    const artifactZip = Buffer.from(zipSync({ [EXAMPLE_ZIP_NAME]: [inner, { level: 0 }] }));
    fake.state.artifacts.push({ id: 99, name: 'training-archive', runId: 4242, bytes: artifactZip });
    const ws = workspace();
    const before = new Set(readdirSync(ws.dir));
    const res = await runAction({
      event: 'workflow_run',
      payload: workflowRunPayload(),
      inputs: { data: 'examples/data', 'fail-on-rejection': 'false' },
      ws,
    });
    expect(res.code, res.stdout + res.stderr).toBe(0); // fail-on-rejection: false → neutral, the step passes
    expect(fake.calls('GET run artifacts')[0]!.query).toMatchObject({ name: 'training-archive' });
    expect(fake.calls('GET artifact zip')).toHaveLength(1);
    expect(fake.calls('GET blob')).toHaveLength(1);
    const run = fake.state.checkRuns[0]!;
    expect(run.head_sha).toBe(RUN_HEAD);
    expect(run.history.map((h) => h.status)).toEqual(['in_progress', 'completed']);
    expect(run.conclusion).toBe('neutral');
    expect(run.output!.summary).toContain('Training archive: artifact `training-archive` (id 99) of workflow run [4242]');
    expect(run.output!.summary).toMatch(/\| Fold \|/);
    expect(fake.calls('GET comments')).toHaveLength(0); // no pull request, no comment
    expect(res.outputs['conclusion']).toBe('neutral');
    const report = JSON.parse(readFileSync(path.join(ws.dir, 'policy-gate-report', 'report.json'), 'utf8'));
    expect(report.archive.path).toBe('artifact training-archive (id 99) of run 4242');
    expect(report.models).toHaveLength(7);
    // The untrusted download stayed under RUNNER_TEMP: the workspace only gained the report folder.
    expect(readdirSync(ws.dir).filter((f) => !before.has(f))).toEqual(['policy-gate-report']);
    expect(readdirSync(ws.runnerTemp).some((f) => f.startsWith('policy-gate-artifact-'))).toBe(true);
    expectNoLeaks(res);
  });

  it('a training run that failed: nothing to validate, a neutral check run, the step passes', async () => {
    const res = await runAction({ event: 'workflow_run', payload: workflowRunPayload('failure'), inputs: { data: 'examples/data' } });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(fake.calls('GET run artifacts')).toHaveLength(0);
    const run = fake.state.checkRuns[0]!;
    expect(run).toMatchObject({ head_sha: RUN_HEAD, status: 'completed', conclusion: 'neutral' });
    expect(run.output!.title).toBe('the training run 4242 concluded failure: nothing to validate');
    expect(res.outputs['conclusion']).toBe('neutral');
  });

  it('a missing artifact is an error naming the input, and the check run is completed as failure', async () => {
    const res = await runAction({ event: 'workflow_run', payload: workflowRunPayload(), inputs: { data: 'examples/data', 'artifact-name': 'nope' } });
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('::error::policy-gate: workflow run 4242 has no artifact named "nope"');
    expect(fake.state.checkRuns[0]!.conclusion).toBe('failure');
  });
});
