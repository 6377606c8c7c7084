/**
 * Promotion and demotion through the Action, end to end: the built bundle in a child process, the
 * event payload in GITHUB_EVENT_PATH, and GITHUB_API_URL pointing at the loopback GitHub, whose git
 * store (test/helpers/fake-git.ts) plays the repository.
 *
 *   workflow_run → one promotion pull request with the PAPER models and their entries; a rerun updates
 *   it (fast-forward) instead of opening a second; its own check run passes.
 *   pull_request on that promotion pull request (no archive input) → its entries are evaluated from
 *   the committed files and pass.
 *   pull_request that puts a PAPER model in live → fails, and the comment says what would pass; a
 *   model the pull request removes from the configs is not held to a tier.
 *   schedule → a deployed model below its tier gets one demotion pull request and the run fails;
 *   nothing changes when every model holds.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildBundle, cleanupHarness, runProcess } from './helpers/action-harness.js';
import { STICKY_MARKER } from '../src/action/comment.js';
import { expectNoViolations, type FakeGitHub, startFakeGitHub } from './helpers/fake-github.js';

// Every request to the loopback GitHub must be one GitHub's REST description allows.
afterEach(() => expectNoViolations());

const REPO = fileURLToPath(new URL('../', import.meta.url));
const ZIP = 'Alpaca_trading_trained_20240911_120000.zip';
const TOKEN = 'ghs_promotionE2eToken0123456789abcdef';
const OWNER = 'octo-org';
const NAME = 'trading-policies';
const RUN_HEAD = '0123456789abcdef0123456789abcdef01234567';
/** Only what the deployment configs request is held to a tier (the example's other models fail on purpose). */
const CONFIG = 'decision:\n  required: DROP\n';

const temps: string[] = [];
const temp = (prefix: string): string => {
  const d = mkdtempSync(path.join(tmpdir(), `pg-promo-${prefix}`));
  temps.push(d);
  return d;
};

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

/** A checkout: bars, the config, and `files` (path → content). */
function workspace(files: Record<string, string | Buffer> = {}): string {
  const dir = temp('ws-');
  cpSync(path.join(REPO, 'examples', 'data'), path.join(dir, 'examples', 'data'), { recursive: true });
  mkdirSync(path.join(dir, '.github'));
  writeFileSync(path.join(dir, '.github', 'policy-gate.yml'), CONFIG);
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    writeFileSync(path.join(dir, p), c);
  }
  return dir;
}

interface ActionRun {
  code: number;
  stdout: string;
  outputs: Record<string, string>;
  summary: string;
}

async function runAction(ws: string, event: string, payload: unknown, inputs: Record<string, string>): Promise<ActionRun> {
  const runnerTemp = temp('runner-');
  const eventPath = path.join(runnerTemp, 'event.json');
  writeFileSync(eventPath, JSON.stringify(payload));
  const outputFile = path.join(runnerTemp, 'output');
  const summaryFile = path.join(runnerTemp, 'summary');
  writeFileSync(outputFile, '');
  writeFileSync(summaryFile, '');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '',
    HOME: runnerTemp,
    NODE_PATH: runtimeModules,
    GITHUB_ACTIONS: 'true',
    GITHUB_EVENT_NAME: event,
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_REPOSITORY: `${OWNER}/${NAME}`,
    GITHUB_SHA: RUN_HEAD,
    GITHUB_RUN_ID: '9001',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: fake.url,
    GITHUB_GRAPHQL_URL: `${fake.url}/graphql`,
    GITHUB_WORKSPACE: ws,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    RUNNER_TEMP: runnerTemp,
    'INPUT_GITHUB-TOKEN': TOKEN,
    'INPUT_UPLOAD-REPORT': 'false',
    ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])),
  };
  const res = await runProcess(process.execPath, [bundle], { cwd: ws, env });
  const outputs: Record<string, string> = {};
  const lines = readFileSync(outputFile, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(lines[i]!);
    if (!m) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]!);
    outputs[m[1]!] = value.join('\n');
  }
  return { code: res.code, stdout: res.stdout + res.stderr, outputs, summary: readFileSync(summaryFile, 'utf8') };
}

function workflowRunPayload(): unknown {
  const repo = { id: 1, name: NAME, full_name: `${OWNER}/${NAME}`, owner: { login: OWNER }, default_branch: 'main' };
  return {
    action: 'completed',
    workflow_run: { id: 4242, name: 'train', head_branch: 'main', head_sha: RUN_HEAD, event: 'push', status: 'completed', conclusion: 'success', repository: repo, head_repository: repo },
    repository: repo,
  };
}

function pullRequestPayload(number: number, headSha: string, headRef: string): unknown {
  const repo = { id: 1, name: NAME, full_name: `${OWNER}/${NAME}`, owner: { login: OWNER }, default_branch: 'main' };
  return {
    action: 'synchronize',
    number,
    pull_request: {
      number,
      title: 'deployment change',
      head: { ref: headRef, sha: headSha, repo },
      base: { ref: 'main', sha: fake.git.refs.get('heads/main'), repo },
    },
    repository: repo,
  };
}

/** The files of a branch as a checkout (plus bars and the config). */
function checkout(ref: string): string {
  const files: Record<string, Buffer> = {};
  for (const [p, bytes] of fake.git.files(ref)) files[p] = bytes;
  return workspace(files);
}

const PROMOTE_BRANCH = 'policy-gate/promote-4242';

async function promotionRun(ws = workspace()): Promise<ActionRun> {
  const inner = new Uint8Array(readFileSync(path.join(REPO, 'examples', ZIP)));
  if (!fake.state.artifacts.length) fake.state.artifacts.push({ id: 99, name: 'training-archive', runId: 4242, bytes: Buffer.from(zipSync({ [ZIP]: [inner, { level: 0 }] })) });
  return runAction(ws, 'workflow_run', workflowRunPayload(), { data: 'examples/data' });
}

describe('workflow_run: the promotion pull request', () => {
  it('opens one pull request with the models that earned PAPER; a rerun updates it; the PR gate then passes on the committed files', async () => {
    const first = await promotionRun();
    expect(first.code, first.stdout).toBe(0);
    expect(fake.git.pulls).toHaveLength(1);
    const pr = fake.git.pulls[0]!;
    expect(pr).toMatchObject({ number: 1, head: PROMOTE_BRANCH, base: 'main', state: 'open' });
    expect(pr.title).toBe('policy-gate: promote BTCUSD_4Hour → PAPER, BTCUSD_2Hour → PAPER (training run 4242)');
    expect(pr.body).toContain('| BTCUSD\\_2Hour | — | PAPER | PAPER | `deploy/paper.json` |');
    expect(pr.body).toContain('### Gating'); // the report
    const files = [...fake.git.files(PROMOTE_BRANCH).keys()].sort();
    expect(files.filter((f) => f !== 'README.md')).toEqual([
      'deploy/paper.json',
      expect.stringMatching(/^models\/BTCUSD_2Hour\/[0-9a-f]{12}\/BTCUSD_2Hour\.card\.json$/),
      expect.stringMatching(/^models\/BTCUSD_2Hour\/[0-9a-f]{12}\/BTCUSD_2Hour\.onnx$/),
      expect.stringMatching(/^models\/BTCUSD_4Hour\/[0-9a-f]{12}\/BTCUSD_4Hour\.card\.json$/),
      expect.stringMatching(/^models\/BTCUSD_4Hour\/[0-9a-f]{12}\/BTCUSD_4Hour\.onnx$/),
    ]);
    const paper = JSON.parse(fake.git.read(PROMOTE_BRANCH, 'deploy/paper.json')!);
    expect(paper.models.BTCUSD_2Hour).toMatchObject({ tier: 'PAPER', gating: 'APPROVED', run_url: 'https://github.com/octo-org/trading-policies/actions/runs/9001' });
    // The training commit's check and the pull request's own check, both passing.
    const head1 = fake.git.refs.get(`heads/${PROMOTE_BRANCH}`)!;
    expect(fake.state.checkRuns.map((c) => [c.head_sha, c.conclusion])).toEqual([
      [RUN_HEAD, 'success'],
      [head1, 'success'],
    ]);
    expect(first.outputs['pull-request-url']).toBe('https://github.com/octo-org/trading-policies/pull/1');
    expect(first.summary).toContain('Promotion pull request [#1](https://github.com/octo-org/trading-policies/pull/1) created: BTCUSD\\_4Hour: not deployed → PAPER');

    // Rerun of the same training run: the same branch moves forward, the same pull request is updated.
    const second = await promotionRun();
    expect(second.code, second.stdout).toBe(0);
    expect(fake.git.pulls).toHaveLength(1);
    expect(fake.calls('POST pulls')).toHaveLength(1);
    const head2 = fake.git.refs.get(`heads/${PROMOTE_BRANCH}`)!;
    expect(fake.git.history(PROMOTE_BRANCH)).toContain(head1); // fast-forward: nothing lost
    expect(fake.calls('PATCH git/refs').map((r) => [r.status, (r.body as { force: boolean }).force])).toEqual([[200, false]]);
    expect(second.summary).toContain('Promotion pull request [#1](https://github.com/octo-org/trading-policies/pull/1) updated');
    // A new report (new generatedAt) is new evidence for the same files: the entries' report sha moves, promoted_at does not.
    const paper2 = JSON.parse(fake.git.read(PROMOTE_BRANCH, 'deploy/paper.json')!);
    expect(paper2.models.BTCUSD_2Hour.promoted_at).toBe(paper.models.BTCUSD_2Hour.promoted_at);
    expect(paper2.models.BTCUSD_2Hour.model).toBe(paper.models.BTCUSD_2Hour.model);

    // The PR gate on the promotion pull request (e.g. with an App token, which does start workflows):
    // no archive input, so the changed entries are evaluated from the committed files.
    fake.state.pullFiles.set(
      1,
      files.filter((f) => f !== 'README.md').map((filename) => ({ filename, status: 'added' })),
    );
    const gate = await runAction(checkout(PROMOTE_BRANCH), 'pull_request', pullRequestPayload(1, head2, PROMOTE_BRANCH), { data: 'examples/data' });
    expect(gate.code, gate.stdout).toBe(0);
    const check = fake.state.checkRuns[fake.state.checkRuns.length - 1]!;
    expect(check).toMatchObject({ head_sha: head2, conclusion: 'success' });
    expect(JSON.parse(gate.outputs['decisions']!)).toEqual([
      { id: 'BTCUSD_2Hour', tier: 'PAPER', requested: 'PAPER' },
      { id: 'BTCUSD_4Hour', tier: 'PAPER', requested: 'PAPER' },
    ]);
  }, 60_000);
});

describe("pull_request: the requested tier comes from the pull request's change to the configs", () => {
  it('a PAPER model put in live fails, and the comment says why and what would pass; a retired model needs no evidence', async () => {
    // The base: BTCUSD_1Day (which now decides RETRAIN) on paper.
    fake.git.commit('main', { 'deploy/paper.json': '{"models": {"BTCUSD_1Day": {"owner": "desk-1"}}}\n' });
    // The pull request retires it, puts BTCUSD_2Hour on paper and BTCUSD_4Hour in live.
    const head = {
      'deploy/paper.json': '{"models": {"BTCUSD_2Hour": {}}}\n',
      'deploy/live.json': '{"models": {"BTCUSD_4Hour": {}}}\n',
    };
    const headSha = fake.git.commit('promote-btc', head);
    fake.git.pulls.push({ number: 7, state: 'open', title: 'deployment change', body: '', head: 'promote-btc', base: 'main', merged: false });
    fake.state.pullFiles.set(7, [
      { filename: 'deploy/paper.json', status: 'modified' },
      { filename: 'deploy/live.json', status: 'added' },
    ]);
    const ws = workspace({ ...head, [`examples/${ZIP}`]: readFileSync(path.join(REPO, 'examples', ZIP)) });
    const res = await runAction(ws, 'pull_request', pullRequestPayload(7, headSha, 'promote-btc'), { archive: `examples/${ZIP}`, data: 'examples/data' });
    expect(res.code, res.stdout).toBe(1);
    const decisions = JSON.parse(res.outputs['decisions']!);
    expect(decisions).toContainEqual({ id: 'BTCUSD_4Hour', tier: 'PAPER', requested: 'LIVE' });
    expect(decisions).toContainEqual({ id: 'BTCUSD_2Hour', tier: 'PAPER', requested: 'PAPER' });
    expect(decisions).toContainEqual({ id: 'BTCUSD_1Day', tier: 'RETRAIN', requested: 'DROP' });
    const check = fake.state.checkRuns[0]!;
    expect(check).toMatchObject({ head_sha: headSha, conclusion: 'failure' });
    expect(check.output!.title).toMatch(/— 1 below the requested tier$/);
    const comment = fake.state.comments.get(7)![0]!.body;
    expect(comment.startsWith(STICKY_MARKER)).toBe(true);
    expect(comment).toContain('- BTCUSD\\_4Hour: PAPER is below the requested LIVE');
    expect(comment).toContain('**What would pass:**');
    expect(comment).toMatch(
      /- \*\*BTCUSD\\_4Hour\*\*: `deploy\/live\.json` requests LIVE, but its decision is PAPER \(rule 4: positive share 80 % ≥ 60 %, Sharpe std 1\.496 ≤ 2; .*\) — move BTCUSD\\_4Hour to deploy/,
    );
    expect(comment).toContain('move BTCUSD\\_4Hour to deploy/paper.json to pass: its decision is PAPER.');
    expect(comment).not.toContain('BTCUSD\\_1Day: RETRAIN is below');
    // The base was read at the pull request's base commit, through the contents API.
    expect(fake.calls('GET pull')).toHaveLength(1);
    expect(fake.calls('GET contents').map((r) => r.query['ref'])).toEqual([fake.git.refs.get('heads/main'), fake.git.refs.get('heads/main')]);
  }, 30_000);
});

describe('schedule: re-validation of what is deployed', () => {
  /** The promotion of the workflow_run test, merged, with BTCUSD_2Hour then moved to live by hand. */
  async function deployed(moveToLive: boolean): Promise<string> {
    await promotionRun();
    fake.git.merge(1);
    if (moveToLive) {
      const paper = JSON.parse(fake.git.read('main', 'deploy/paper.json')!);
      const live = { models: { BTCUSD_2Hour: { ...paper.models.BTCUSD_2Hour, tier: 'LIVE' } } };
      delete paper.models.BTCUSD_2Hour;
      fake.git.commit('main', { 'deploy/paper.json': JSON.stringify(paper, null, 2) + '\n', 'deploy/live.json': JSON.stringify(live, null, 2) + '\n' });
    }
    fake.requests.length = 0;
    fake.state.checkRuns.length = 0;
    return checkout('main');
  }
  const schedule = { schedule: '17 6 * * 1-5', repository: { full_name: `${OWNER}/${NAME}` } };

  it('a live model that only earns PAPER gets one demotion pull request, and the run fails', async () => {
    const ws = await deployed(true);
    const res = await runAction(ws, 'schedule', schedule, { data: 'examples/data' });
    expect(res.code, res.stdout).toBe(1);
    expect(res.outputs['decisions']).toBe(
      JSON.stringify([
        { id: 'BTCUSD_2Hour', tier: 'PAPER', requested: 'LIVE' },
        { id: 'BTCUSD_4Hour', tier: 'PAPER', requested: 'PAPER' },
      ]),
    );
    const demote = fake.git.pulls.find((p) => p.head === 'policy-gate/demote')!;
    expect(demote).toMatchObject({ number: 2, state: 'open', title: 'policy-gate: demote BTCUSD_2Hour → PAPER' });
    expect(demote.body).toContain('| BTCUSD\\_2Hour | LIVE | PAPER | PAPER | `deploy/paper.json` |');
    expect(JSON.parse(fake.git.read('policy-gate/demote', 'deploy/live.json')!)).toEqual({ models: {} });
    expect(JSON.parse(fake.git.read('policy-gate/demote', 'deploy/paper.json')!).models.BTCUSD_2Hour.tier).toBe('PAPER');
    expect(fake.state.checkRuns.map((c) => c.conclusion)).toEqual(['failure', 'success']); // the default branch's commit; the demotion pull request
    expect(res.summary).toContain('Demotion pull request [#2]');
    expect(res.summary).toContain('BTCUSD\\_2Hour: PAPER is below the requested LIVE');

    const again = await runAction(ws, 'schedule', schedule, { data: 'examples/data' });
    expect(again.code).toBe(1);
    expect(fake.git.pulls.filter((p) => p.head === 'policy-gate/demote')).toHaveLength(1);
  }, 60_000);

  it('nothing changes when every deployed model holds its tier', async () => {
    const ws = await deployed(false);
    const res = await runAction(ws, 'schedule', schedule, { data: 'examples/data' });
    expect(res.code, res.stdout).toBe(0);
    expect(fake.state.checkRuns.map((c) => [c.head_sha, c.conclusion])).toEqual([[RUN_HEAD, 'success']]);
    expect(fake.requests.filter((r) => r.route !== 'POST check-runs' && r.route !== 'PATCH check-runs')).toEqual([]);
    expect(fake.git.pulls).toHaveLength(1); // the merged promotion only
  }, 60_000);
});
