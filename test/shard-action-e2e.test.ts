/**
 * The sharded workflow end to end with the BUILT bundle, as test/action-e2e.test.ts runs it (inputs
 * as INPUT_*, GITHUB_* files, a loopback fake of GitHub's API and of the Actions results service):
 *
 * - three shard jobs (`shard: i/3`) each upload their partial report as `policy-gate-shard-<i>-of-3`
 *   through the results service and post no check run and no comment;
 * - the merge job (`mode: merge`) finds those artifacts of its run through the REST API (findBy),
 *   downloads them, and publishes ONE check run whose report equals an unsharded run's (generatedAt
 *   aside), with the equity CSVs;
 * - a merge whose config differs from the shards' is refused; a missing shard makes the check fail
 *   naming its models, also with fail-on-rejection: false, and the pull request gets its comment.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync } from 'fflate';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildBundle, cleanupHarness, parseOutputs, runProcess } from './helpers/action-harness.js';
import { STICKY_MARKER } from '../src/action/comment.js';
import { expectNoViolations, type FakeGitHub, startFakeGitHub } from './helpers/fake-github.js';

// Every request to the loopback GitHub must be one GitHub's REST description allows.
afterEach(() => expectNoViolations());

const REPO = fileURLToPath(new URL('../', import.meta.url));
const EXAMPLE_ZIP_NAME = 'Alpaca_trading_trained_20240911_120000.zip';
const TOKEN = 'ghs_shardE2eToken0123456789abcdefABCDEF';
const PR_HEAD = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
const RUN_SHA = '0123456789abcdef0123456789abcdef01234567';
const OWNER = 'octo-org';
const NAME = 'trading-policies';
const RUN_ID = 9001;
const INPUTS = { archive: `examples/${EXAMPLE_ZIP_NAME}`, data: 'examples/data' };

const temps: string[] = [];
function temp(prefix: string): string {
  const d = mkdtempSync(path.join(tmpdir(), `pg-shard-${prefix}`));
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

/** A checkout: the example archive and bars, deployment configs requesting two models. */
function workspace(): { dir: string; runnerTemp: string } {
  const dir = temp('ws-');
  mkdirSync(path.join(dir, 'examples'));
  cpSync(path.join(REPO, 'examples', EXAMPLE_ZIP_NAME), path.join(dir, 'examples', EXAMPLE_ZIP_NAME));
  cpSync(path.join(REPO, 'examples', 'data'), path.join(dir, 'examples', 'data'), { recursive: true });
  mkdirSync(path.join(dir, 'deploy'));
  writeFileSync(path.join(dir, 'deploy', 'live.json'), JSON.stringify({ models: { BTCUSD_2Hour: { since: '2024-09-12' } } }));
  writeFileSync(path.join(dir, 'deploy', 'paper.yml'), 'models:\n  BTCUSD_4Hour: {}\n');
  mkdirSync(path.join(dir, '.github'));
  writeFileSync(path.join(dir, '.github', 'policy-gate.yml'), 'promotion:\n  paper: deploy/paper.yml\n  live: deploy/live.json\n');
  return { dir, runnerTemp: temp('runner-temp-') };
}

const DISPATCH = { event: 'workflow_dispatch', payload: { inputs: {}, ref: 'refs/heads/main', repository: { full_name: `${OWNER}/${NAME}` } } };

function pullRequest(number: number): { event: string; payload: unknown } {
  const repo = { id: 1, name: NAME, full_name: `${OWNER}/${NAME}`, owner: { login: OWNER } };
  return {
    event: 'pull_request',
    payload: {
      action: 'synchronize',
      number,
      pull_request: { number, title: 'Retrained models', head: { sha: PR_HEAD, ref: 'retrain', repo }, base: { sha: '2'.repeat(40), ref: 'main', repo } },
      repository: repo,
    },
  };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
}

/** One job of the workflow; `upload` gives it the results service (as a JavaScript action gets it). */
async function runJob(ws: { dir: string; runnerTemp: string }, trigger: { event: string; payload: unknown }, inputs: Record<string, string>, upload = false): Promise<Run> {
  const tag = `${Date.now()}-${Math.random()}`;
  const eventPath = path.join(ws.runnerTemp, `event-${tag}.json`);
  const outputFile = path.join(ws.runnerTemp, `output-${tag}`);
  const summaryFile = path.join(ws.runnerTemp, `summary-${tag}`);
  writeFileSync(eventPath, JSON.stringify(trigger.payload));
  writeFileSync(outputFile, '');
  writeFileSync(summaryFile, '');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '',
    HOME: ws.runnerTemp,
    NODE_PATH: runtimeModules,
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_EVENT_NAME: trigger.event,
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_REPOSITORY: `${OWNER}/${NAME}`,
    GITHUB_SHA: RUN_SHA,
    GITHUB_RUN_ID: String(RUN_ID),
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: fake.url,
    GITHUB_WORKSPACE: ws.dir,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    RUNNER_TEMP: ws.runnerTemp,
    'INPUT_GITHUB-TOKEN': TOKEN,
    ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])),
    ...(upload ? { ACTIONS_RUNTIME_TOKEN: fake.state.runtimeToken, ACTIONS_RESULTS_URL: `${fake.url}/` } : {}),
  };
  const res = await runProcess(process.execPath, [bundle], { cwd: ws.dir, env });
  return { ...res, outputs: parseOutputs(readFileSync(outputFile, 'utf8')), summary: readFileSync(summaryFile, 'utf8') };
}

/** What the runner does between the jobs: the shards' uploads become artifacts of this run. */
function publishUploads(): void {
  for (const u of fake.state.uploads.splice(0)) fake.state.artifacts.push({ id: u.id, name: u.name, runId: RUN_ID, bytes: u.bytes });
}

const readJson = (file: string): any => JSON.parse(readFileSync(file, 'utf8'));
const withoutTime = (doc: any): any => {
  const copy = structuredClone(doc);
  delete copy.generatedAt;
  return copy;
};

describe('a sharded run: three shard jobs, then the merge job', () => {
  it('shards upload partial reports and post nothing; the merge publishes one check run equal to an unsharded run', async () => {
    const ws = workspace();
    // The reference: one unsharded run of the same workspace.
    const full = await runJob(ws, DISPATCH, { ...INPUTS, 'report-dir': 'full-report' });
    expect(full.code, full.stdout + full.stderr).toBe(1);
    expect(fake.state.checkRuns).toHaveLength(1);
    const fullCheck = fake.state.checkRuns[0]!;

    for (let i = 1; i <= 3; i++) {
      const shard = await runJob(ws, DISPATCH, { ...INPUTS, shard: `${i}/3`, 'report-dir': `shard-${i}` }, true);
      // Models fall short, but a shard's step passes: the verdict is the merge job's.
      expect(shard.code, shard.stdout + shard.stderr).toBe(0);
      expect(shard.outputs['report-artifact']).toBe(`policy-gate-shard-${i}-of-3`);
      expect(shard.summary).toContain(`**Partial report of shard ${i}/3**`);
      expect(shard.summary).toContain('come from the merge job');
      const partial = readJson(path.join(ws.dir, `shard-${i}`, 'report.json'));
      expect(partial.shard).toMatchObject({ index: i, count: 3 });
      expect(JSON.parse(shard.outputs['decisions']!).map((d: { id: string }) => d.id)).toEqual(partial.shard.models);
    }
    // No shard touched the check runs or the comments.
    expect(fake.state.checkRuns).toHaveLength(1);
    expect(fake.calls('POST check-runs')).toHaveLength(1);
    expect(fake.calls('GET comments')).toHaveLength(0);
    expect(fake.state.uploads.map((u) => u.name)).toEqual(['policy-gate-shard-1-of-3', 'policy-gate-shard-2-of-3', 'policy-gate-shard-3-of-3']);
    const uploaded = unzipSync(new Uint8Array(fake.state.uploads[1]!.bytes));
    expect(Object.keys(uploaded)).toContain('report.json');
    // An unrelated artifact of the run is not a shard.
    fake.state.artifacts.push({ id: 5, name: 'training-archive', runId: RUN_ID, bytes: Buffer.from('not a zip') });
    publishUploads();
    // GitHub errors on the way: the list answers 502 once, the first download redirect 500 then 429 with
    // retry-after, one blob 503. Every one is retried under the action's policy.
    fake.state.faults.set('GET run artifacts', { status: 502, times: 1 });
    fake.state.faults.set('GET artifact zip', {
      status: 500,
      times: 1,
      then: { status: 429, headers: { 'retry-after': '1' }, body: { message: 'You have exceeded a secondary rate limit' }, times: 1 },
    });
    fake.state.faults.set('GET blob', { status: 503, times: 1 });

    const merge = await runJob(ws, DISPATCH, { ...INPUTS, mode: 'merge', 'report-dir': 'merged-report' });
    expect(merge.code, merge.stdout + merge.stderr).toBe(1);
    expect(fake.calls('GET run artifacts').map((r) => [r.path, r.status])).toEqual([
      [`/repos/${OWNER}/${NAME}/actions/runs/${RUN_ID}/artifacts`, 502],
      [`/repos/${OWNER}/${NAME}/actions/runs/${RUN_ID}/artifacts`, 200],
    ]);
    // Three shards: 500, 429, then the redirect; the 503 blob is retried by the artifact library itself.
    expect(fake.calls('GET artifact zip').map((r) => r.status)).toEqual([500, 429, 302, 302, 302]);
    expect(fake.calls('GET blob').map((r) => r.status)).toEqual([503, 200, 200, 200]);
    expect(fake.state.checkRuns).toHaveLength(2);
    const check = fake.state.checkRuns[1]!;
    expect(check).toMatchObject({ name: 'policy-gate', head_sha: RUN_SHA, status: 'completed', conclusion: 'failure' });
    expect(check.output!.title).toBe(fullCheck.output!.title);
    expect(check.output!.summary).toContain('Merged from 3 of 3 shard partial report(s)');
    expect(merge.summary).toContain('Merged from 3 of 3 shard partial report(s)');
    expect(merge.outputs['decisions']).toBe(full.outputs['decisions']);
    expect(merge.outputs['conclusion']).toBe('failure');

    // The merged report is the unsharded one, generatedAt aside; so are the equity CSVs.
    const merged = readJson(path.join(ws.dir, 'merged-report', 'report.json'));
    const reference = readJson(path.join(ws.dir, 'full-report', 'report.json'));
    expect(merged.shard).toBeUndefined();
    expect(withoutTime(merged)).toEqual(withoutTime(reference));
    const equity = readdirSync(path.join(ws.dir, 'merged-report', 'equity')).sort();
    expect(equity).toEqual(readdirSync(path.join(ws.dir, 'full-report', 'equity')).sort());
    for (const f of equity) {
      expect(readFileSync(path.join(ws.dir, 'merged-report', 'equity', f), 'utf8')).toBe(readFileSync(path.join(ws.dir, 'full-report', 'equity', f), 'utf8'));
    }

    // A merge job whose inputs differ from the shards' is refused, as a failed check run.
    const other = await runJob(ws, DISPATCH, { ...INPUTS, mode: 'merge', capital: '50000', 'report-dir': 'other-report' });
    expect(other.code).toBe(1);
    const refused = fake.state.checkRuns[2]!;
    expect(refused.conclusion).toBe('failure');
    expect(refused.output!.title).toMatch(
      /^error: artifact policy-gate-shard-1-of-3 \(id \d+\) \(shard 1\/3\) ran with another config: sha256 [0-9a-f]{12}…, but the merge resolves sha256 [0-9a-f]{12}…/,
    );
  }, 120_000);

  it('pull_request: a shard that never uploaded fails the merged check naming its models, even with fail-on-rejection: false', async () => {
    const ws = workspace();
    fake.state.pullFiles.set(7, [{ filename: `examples/${EXAMPLE_ZIP_NAME}`, status: 'modified' }]);
    for (const i of [1, 3]) {
      const shard = await runJob(ws, pullRequest(7), { ...INPUTS, shard: `${i}/3`, 'report-dir': `shard-${i}` }, true);
      expect(shard.code, shard.stdout + shard.stderr).toBe(0);
    }
    expect(fake.state.checkRuns).toHaveLength(0);
    expect(fake.calls('POST comments')).toHaveLength(0);
    publishUploads();
    const plan = readJson(path.join(ws.dir, 'shard-1', 'report.json')).shard.plan as { id: string; shard: number }[];
    const missing = plan.filter((p) => p.shard === 2).map((p) => p.id);
    expect(missing.length).toBeGreaterThan(0);

    const merge = await runJob(ws, pullRequest(7), { ...INPUTS, mode: 'merge', 'fail-on-rejection': 'false' });
    expect(merge.code).toBe(1);
    const check = fake.state.checkRuns[0]!;
    expect(fake.state.checkRuns).toHaveLength(1);
    expect(check).toMatchObject({ head_sha: PR_HEAD, status: 'completed', conclusion: 'failure' });
    const why = `shard 2/3 did not report (no partial report): ${missing.length} model(s) not evaluated: ${missing.join(', ')}`;
    expect(check.output!.title).toBe(`error: ${why}`);
    expect(merge.outputs['conclusion']).toBe('failure');
    const comments = fake.state.comments.get(7)!;
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body.startsWith(`${STICKY_MARKER}\n## ❌ policy-gate: failure`)).toBe(true);
    expect(comments[0]!.body).toContain('missing: shard 2/3 (no partial report');
    const report = readJson(path.join(ws.dir, 'policy-gate-report', 'report.json'));
    expect(report.errors).toEqual([why]);
    const present = plan.filter((p) => p.shard !== 2).map((p) => p.id);
    expect(report.models.slice(0, present.length).map((m: { id: string }) => m.id)).toEqual(present);
    // A missing model the pull request deploys is judged on the files its deployment entry names, as
    // for any model the archive report lacks (here the entry names none: not evaluated).
    for (const m of report.models.slice(present.length)) {
      expect(missing).toContain(m.id);
      expect(m.notes.join('\n')).toContain('evaluated from the files its deploy/live.json entry names');
    }
    // This job's requests (deploy/paper.yml, deploy/live.json) apply to the merged models.
    expect(report.models.find((m: { id: string }) => m.id === 'BTCUSD_4Hour').requested).toBe('PAPER');
    expect(report.models.find((m: { id: string }) => m.id === 'BTCUSD_1Hour').requested).toBe('PAPER');
  }, 120_000);

  it('an upload the artifact service refuses, with an error that echoes the token: a warning, redacted', async () => {
    const ws = workspace();
    fake.state.pullFiles.set(7, [{ filename: `examples/${EXAMPLE_ZIP_NAME}`, status: 'modified' }]);
    fake.state.faults.set('twirp CreateArtifact', { status: 400, body: { code: 'invalid_argument', msg: `rejected for token ${TOKEN}` } });
    const shard = await runJob(ws, pullRequest(7), { ...INPUTS, shard: '1/3', 'report-dir': 'shard-1' }, true);
    expect(shard.code, shard.stdout + shard.stderr).toBe(0);
    expect(fake.calls('twirp CreateArtifact').length).toBeGreaterThan(0);
    expect(fake.state.uploads).toHaveLength(0);
    const warning = shard.stdout.split('\n').find((l) => l.startsWith('::warning::policy-gate: the partial report was not uploaded'));
    expect(warning).toBeDefined();
    expect(warning).toContain('The merge job will count shard 1/3 as missing.');
    // policy-gate's own lines never carry it. Two lines do, outside its control: the runner's mask
    // command itself, and @actions/artifact's own `::debug::Body: …` of the refused response (shown only
    // with step debug logging on, and masked by the runner, since the token was registered with add-mask).
    const said = (shard.stdout + shard.stderr).split('\n').filter((l) => !l.startsWith('::add-mask::') && !l.startsWith('::debug::Body: '));
    expect(said.filter((l) => l.includes(TOKEN))).toEqual([]);
    expect(warning).toContain('rejected for token [REDACTED]');
  }, 60_000);

  it('a bad shard input fails the step naming the input, and posts no check run', async () => {
    const ws = workspace();
    const res = await runJob(ws, DISPATCH, { ...INPUTS, shard: '4/3' });
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('::error::policy-gate: input "shard" must be i/n with 1 ≤ i ≤ n (shards are numbered from 1), got "4/3"');
    expect(fake.calls('POST check-runs')).toHaveLength(0);
  }, 60_000);
});
