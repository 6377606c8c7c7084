/**
 * The composite action under real-world failure, end to end: action.yml's steps run the way the
 * runner runs them (test/helpers/composite-runner.ts: shell steps in order, `if:` with failure(),
 * always() and cancelled(), per-step GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files) against the loopback
 * GitHub (test/helpers/fake-github.ts). The action folder holds what a runner downloads: action.yml,
 * package.json, scripts/ and the built dist/index.js; the ONNX Runtime is only there when the cache
 * step restores it or the install step installs it.
 *
 * Other repositories' actions (setup-node, cache, upload-artifact) are answered by the test: the cache
 * restores this repository's onnxruntime-node, or misses, and the npm registry is a closed loopback
 * port (an offline runner, a registry outage).
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildBundle, cleanupHarness, MERGE_SHA, NAME, OWNER, PR_HEAD, pullRequestPayload, REPO, temp, workspace, type Workspace } from './helpers/action-harness.js';
import { runComposite, type CompositeResult, type CompositeRun, type UsesStep } from './helpers/composite-runner.js';
import { expectNoViolations, type FakeGitHub, startFakeGitHub } from './helpers/fake-github.js';
import { secretForms } from '../src/adapters/alpaca/redact.js';
import { INTERRUPT_API_BUDGET_MS } from '../src/action/main.js';

// Every request to the loopback GitHub must be one GitHub's REST description allows.
afterEach(() => expectNoViolations());

const TOKEN = 'ghs_compositeTokenValue0123456789abcdefAB';
const EXAMPLE_ZIP = 'examples/Alpaca_trading_trained_20240911_120000.zip';

let bundleFile: string;
let fake: FakeGitHub;

beforeAll(async () => {
  ({ file: bundleFile } = await buildBundle());
}, 120_000);

afterAll(() => cleanupHarness());

beforeEach(async () => {
  await fake?.close();
  fake = await startFakeGitHub({ owner: OWNER, repo: NAME, token: TOKEN });
});

/** The action as a runner downloads it: tracked files plus the built bundle, no runtime. */
function actionFolder(): string {
  const dir = temp('action-');
  for (const f of ['action.yml', 'package.json']) cpSync(path.join(REPO, f), path.join(dir, f));
  cpSync(path.join(REPO, 'scripts'), path.join(dir, 'scripts'), { recursive: true });
  mkdirSync(path.join(dir, 'dist'));
  cpSync(bundleFile, path.join(dir, 'dist', 'index.js'));
  return dir;
}

/** A loopback port nothing listens on: the npm registry of an offline runner. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

interface Setup {
  /** What the cache restores: the runtime, nothing (a miss), or a folder without onnxruntime-node (a broken cache). */
  cache: 'hit' | 'miss' | 'broken';
}

interface Composite {
  run: CompositeRun;
  ws: Workspace;
  uses: UsesStep[];
}

function startComposite(opts: {
  setup: Setup;
  event: string;
  payload: unknown;
  inputs: Record<string, string>;
  ws?: Workspace;
  env?: Record<string, string>;
  registry: string;
  signals?: { sigtermAfterMs: number; sigkillAfterMs: number };
}): Composite {
  const ws = opts.ws ?? workspace();
  const actionDir = actionFolder();
  const eventPath = path.join(ws.runnerTemp, 'event.json');
  writeFileSync(eventPath, JSON.stringify(opts.payload));
  const uses: UsesStep[] = [];
  const run = runComposite({
    ...(opts.signals ?? {}),
    actionDir,
    inputs: opts.inputs,
    runnerTemp: ws.runnerTemp,
    github: { token: TOKEN },
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: ws.runnerTemp,
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
      RUNNER_TEMP: ws.runnerTemp,
      RUNNER_OS: 'Linux',
      // npm as an offline runner sees it: the registry refuses connections, nothing is cached.
      npm_config_registry: opts.registry,
      npm_config_fetch_retries: '0',
      npm_config_cache: path.join(ws.runnerTemp, 'npm-cache'),
      npm_config_update_notifier: 'false',
      ...opts.env,
    },
    uses: {
      'actions/setup-node': (s) => {
        uses.push(s);
        throw new Error('setup-node must not run: this runner has Node.js');
      },
      'actions/cache/restore': (s): { outputs: Record<string, string> } => {
        uses.push(s);
        if (opts.setup.cache === 'miss') return { outputs: { 'cache-primary-key': s.with['key']! } };
        mkdirSync(s.with['path']!, { recursive: true });
        if (opts.setup.cache === 'hit') symlinkSync(path.join(REPO, 'node_modules', 'onnxruntime-node'), path.join(s.with['path']!, 'onnxruntime-node'), 'dir');
        return { outputs: { 'cache-hit': 'true', 'cache-primary-key': s.with['key']!, 'cache-matched-key': s.with['key']! } };
      },
      'actions/cache/save': (s) => {
        uses.push(s);
        return { ok: existsSync(s.with['path']!) };
      },
      'actions/upload-artifact': (s) => {
        uses.push(s);
        return { outputs: { 'artifact-id': '31337' } };
      },
    },
  });
  return { run, ws, uses };
}

function pullRequestFiles(n: number): void {
  fake.state.pullFiles.set(n, [
    { filename: EXAMPLE_ZIP, status: 'modified' },
    { filename: 'deploy/live.json', status: 'modified', patch: '@@ -1,3 +1,5 @@\n {\n   "models": {\n+    "BTCUSD_2Hour": {\n+      "since": "2024-09-12"\n+    }\n   }\n }' },
  ]);
}

/** Every place a run writes to: step logs, the job summary, outputs and every request GitHub received. */
function everythingOf(res: CompositeResult): string {
  const steps = res.steps.map(
    (s) =>
      `${s.stdout
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n')}\n${s.stderr}\n${JSON.stringify(s.outputs)}`,
  );
  return [...steps, res.summary, JSON.stringify(res.outputs), ...fake.requests.map((r) => `${r.path}\n${r.rawBody}`)].join('\n');
}

function expectNoToken(res: CompositeResult): void {
  const text = everythingOf(res);
  for (const form of secretForms(TOKEN)) expect(text.includes(form), `token form ${form.slice(0, 8)}… leaked`).toBe(false);
}

const PR_INPUTS = { archive: EXAMPLE_ZIP, data: 'examples/data' };

describe('setup fails before the program runs', () => {
  it('the npm registry is unreachable on a cache miss: a completed failure check run says setup failed and why', async () => {
    pullRequestFiles(7);
    const registry = `http://127.0.0.1:${await closedPort()}/`;
    const { run } = startComposite({ setup: { cache: 'miss' }, event: 'pull_request', payload: pullRequestPayload({ number: 7 }), inputs: PR_INPUTS, registry });
    const res = await run.done;

    expect(res.step('Install the ONNX Runtime')!.outcome).toBe('failure');
    expect(res.step('gate')!.outcome).toBe('skipped');
    expect(res.result).toBe('failure');

    // The required check reports instead of waiting forever: one check run, on the PR head, completed.
    expect(fake.state.checkRuns).toHaveLength(1);
    const check = fake.state.checkRuns[0]!;
    expect(check).toMatchObject({ name: 'policy-gate', head_sha: PR_HEAD, status: 'completed', conclusion: 'failure' });
    expect(check.output!.title).toMatch(/^setup failed: /);
    expect(check.output!.title).toContain('Install the ONNX Runtime');
    // Why: npm's own error, from the install step's log.
    expect(check.output!.summary).toMatch(/ECONNREFUSED/);
    expect(check.output!.summary).toMatch(/onnxruntime-node@\d+\.\d+\.\d+/);
    // The job summary and the step's outputs say the same.
    expect(res.summary).toContain('setup failed');
    expect(res.outputs['conclusion']).toBe('failure');
    expectNoToken(res);
  }, 120_000);

  it('a shard job posts no check run for a failed setup (the merge job reports)', async () => {
    const registry = `http://127.0.0.1:${await closedPort()}/`;
    const { run } = startComposite({ setup: { cache: 'miss' }, event: 'pull_request', payload: pullRequestPayload({ number: 7 }), inputs: { ...PR_INPUTS, shard: '1/2' }, registry });
    const res = await run.done;
    expect(res.step('Install the ONNX Runtime')!.outcome).toBe('failure');
    expect(res.result).toBe('failure');
    expect(fake.state.checkRuns).toHaveLength(0);
    expect(res.summary).toContain('setup failed');
  }, 120_000);

  it('retries the check run through a 500 and a 429 with retry-after', async () => {
    const registry = `http://127.0.0.1:${await closedPort()}/`;
    fake.state.faults.set('POST check-runs', {
      status: 500,
      times: 1,
      then: { status: 429, headers: { 'retry-after': '1' }, body: { message: 'You have exceeded a secondary rate limit' }, times: 1 },
    });
    const { run } = startComposite({ setup: { cache: 'miss' }, event: 'pull_request', payload: pullRequestPayload({ number: 7 }), inputs: PR_INPUTS, registry });
    const res = await run.done;
    expect(fake.calls('POST check-runs').map((r) => r.status)).toEqual([500, 429, 201]);
    expect(fake.state.checkRuns[0]).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expectNoToken(res);
  }, 120_000);
});

describe('the runtime cache', () => {
  it('a cache miss installs the runtime and saves it right away: a run whose gate fails still leaves it cached', async () => {
    pullRequestFiles(7);
    // The real registry through this machine's npm cache (the project's own install put the package
    // there), so the install reads no large download.
    const cache = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } }).trim();
    const registry = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim();
    const { run, uses } = startComposite({
      setup: { cache: 'miss' },
      event: 'pull_request',
      payload: pullRequestPayload({ number: 7 }),
      inputs: PR_INPUTS,
      registry,
      env: { npm_config_cache: cache, npm_config_prefer_offline: 'true', npm_config_fetch_retries: '2' },
    });
    const res = await run.done;
    expect(res.step('Install the ONNX Runtime')!.outcome, res.step('Install the ONNX Runtime')!.stderr).toBe('success');
    const names = res.steps.map((x) => x.name);
    const save = names.findIndex((n) => n.startsWith('Save the ONNX Runtime to the cache'));
    expect(save).toBe(names.indexOf('Install the ONNX Runtime') + 1);
    expect(res.steps[save]!.outcome).toBe('success');
    expect(save).toBeLessThan(names.findIndex((n) => res.step(n)?.id === 'gate'));
    // What was saved: the installed runtime, under the key the restore step computed; only this platform's binaries.
    const saved = uses.find((u) => u.uses.startsWith('actions/cache/save'))!;
    expect(saved.with['key']).toMatch(/^policy-gate-ort-Linux-X64-\d+\.\d+\.\d+-cpu-v1$/);
    const bin = path.join(saved.with['path']!, 'onnxruntime-node', 'bin', 'napi-v6');
    const kept = readdirSync(bin).flatMap((os) => readdirSync(path.join(bin, os)).map((arch) => `${os}/${arch}`));
    expect(kept).toEqual([`${process.platform}/${process.arch}`]);
    // The gate then rejects the pull request: the job fails, and the cache was saved before it did.
    expect(res.step('gate')!.outcome).toBe('failure');
    expect(fake.state.checkRuns[0]!.conclusion).toBe('failure');
    expect(res.result).toBe('failure');
  }, 300_000);
});

describe('the runtime is missing when the program runs', () => {
  it('a broken cache: the check title leads with the infrastructure error, no model is DROP', async () => {
    pullRequestFiles(7);
    const registry = `http://127.0.0.1:${await closedPort()}/`;
    const { run, ws } = startComposite({ setup: { cache: 'broken' }, event: 'pull_request', payload: pullRequestPayload({ number: 7 }), inputs: PR_INPUTS, registry });
    const res = await run.done;
    expect(res.step('gate')!.outcome).toBe('failure');
    const check = fake.state.checkRuns[0]!;
    expect(check.conclusion).toBe('failure');
    expect(check.output!.title).toMatch(/^infrastructure error \(5 of 7 models not evaluated\): /);
    expect(check.output!.title).toContain('onnxruntime-node could not be loaded');
    expect(check.output!.title).not.toMatch(/DROP/);
    const decisions = JSON.parse(res.outputs['decisions']!) as { id: string; tier: string | null }[];
    expect(decisions.length).toBeGreaterThan(0);
    const report = JSON.parse(readFileSync(path.join(ws.dir, res.outputs['report-path']!, 'report.json'), 'utf8')) as { models: { id: string; gating: { classification: string } | null }[] };
    // Models gating drops without running them stay DROP; every other model is not evaluated.
    const gated = new Set(report.models.filter((m) => m.gating?.classification === 'DROP').map((m) => m.id));
    for (const d of decisions) if (!gated.has(d.id)) expect(d.tier, d.id).toBeNull();
    for (const text of [check.output!.summary!, res.summary, ...(fake.state.comments.get(7) ?? []).map((c) => c.body)]) {
      expect(text).toMatch(/not evaluated/);
      for (const line of text.split('\n').filter((l) => /^\|/.test(l))) {
        const id = decisions.find((d) => line.includes(d.id) && !gated.has(d.id));
        if (id) expect(line, `${id.id} row`).not.toMatch(/\bDROP\b/);
      }
    }
  }, 120_000);
});

/** Resolves once `ready()` holds (checked as requests arrive). */
function when(ready: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      if (ready()) {
        clearInterval(poll);
        resolve();
      }
    }, 10);
  });
}

describe('a cancelled or timed-out job (SIGINT, then SIGTERM 7.5 s later)', () => {
  /** A run that validates until cancelled: listing the pull request's files never answers. */
  async function cancelledRun(beforeCancel?: () => void, signals?: { sigtermAfterMs: number; sigkillAfterMs: number }): Promise<{ res: CompositeResult; ws: Workspace }> {
    fake.state.faults.set('GET pulls/files', { status: 200, transport: 'hang' });
    const registry = `http://127.0.0.1:${await closedPort()}/`;
    const { run, ws } = startComposite({ setup: { cache: 'hit' }, event: 'pull_request', payload: pullRequestPayload({ number: 7 }), inputs: PR_INPUTS, registry, ...(signals ? { signals } : {}) });
    await when(() => fake.state.checkRuns.length === 1 && fake.calls('GET pulls/files').length > 0);
    expect(fake.state.checkRuns[0]!.status).toBe('in_progress');
    beforeCancel?.();
    run.cancel();
    return { res: await run.done, ws };
  }

  function interruptedReport(ws: Workspace): { errors: string[]; conclusionReasons: string[] } {
    return JSON.parse(readFileSync(path.join(ws.dir, 'policy-gate-report', 'report.json'), 'utf8')) as { errors: string[]; conclusionReasons: string[] };
  }

  it('completes the check run as cancelled and writes the report', async () => {
    const { res, ws } = await cancelledRun();
    const gate = res.step('gate')!;
    expect(gate.exitCode).toBe(130);
    expect(res.result).toBe('cancelled');
    const check = fake.state.checkRuns[0]!;
    expect(check.history).toEqual([
      { status: 'in_progress', conclusion: null },
      { status: 'completed', conclusion: 'cancelled' },
    ]);
    expect(check.output!.title).toMatch(/^cancelled: the run was interrupted by SIGINT/);
    expect(check.output!.summary).toContain('nothing was decided');
    expect(interruptedReport(ws).conclusionReasons).toEqual(['run interrupted by SIGINT: nothing was decided']);
    expect(res.outputs['conclusion']).toBe('cancelled');
    expect(res.summary).toContain('policy-gate: cancelled');
    // The report is uploaded (if: always()); the failed-setup step does not run for a cancellation.
    expect(res.step('Upload the report')!.outcome).toBe('success');
    expect(res.step('setup-failed')!.outcome).toBe('skipped');
    expectNoToken(res);
  }, 120_000);

  it('retries completing the check run through a 500, a reset connection and a 429 with retry-after', async () => {
    fake.state.faults.set('PATCH check-runs', {
      status: 500,
      times: 1,
      then: { status: 502, transport: 'reset', times: 1, then: { status: 429, headers: { 'retry-after': '1' }, body: { message: 'You have exceeded a secondary rate limit' }, times: 1 } },
    });
    const { res } = await cancelledRun();
    expect(fake.calls('PATCH check-runs').map((r) => r.status)).toEqual([500, 502, 429, 200]);
    expect(fake.state.checkRuns).toHaveLength(1);
    expect(fake.state.checkRuns[0]).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
    expect(res.step('gate')!.exitCode).toBe(130);
  }, 120_000);

  it('completing keeps failing: a completed cancelled check run replaces it', async () => {
    fake.state.faults.set('PATCH check-runs', { status: 503 });
    const { res } = await cancelledRun();
    expect(fake.calls('PATCH check-runs').length).toBeGreaterThan(1);
    expect(fake.state.checkRuns).toHaveLength(2);
    expect(fake.state.checkRuns[1]).toMatchObject({ name: 'policy-gate', head_sha: PR_HEAD, status: 'completed', conclusion: 'cancelled' });
    expect(res.step('gate')!.exitCode).toBe(130);
  }, 120_000);

  it("GitHub never answers: the report is still written and the program ends by itself, inside the runner's grace period", async () => {
    // The program gives GitHub INTERRUPT_API_BUDGET_MS after SIGINT; the runner sends SIGTERM 7.5 s
    // after SIGINT. Here the runner never escalates, so the step must end on its own budget: it exits
    // 130 (SIGINT's code), not killed, whatever the machine's load.
    expect(INTERRUPT_API_BUDGET_MS).toBeLessThan(7500);
    fake.state.faults.set('PATCH check-runs', { status: 200, transport: 'hang' });
    const { res, ws } = await cancelledRun(() => fake.state.faults.set('POST check-runs', { status: 200, transport: 'hang' }), { sigtermAfterMs: Infinity, sigkillAfterMs: Infinity });
    const gate = res.step('gate')!;
    expect(gate.signal).toBeNull();
    expect(gate.exitCode).toBe(130);
    expect(interruptedReport(ws).errors.join('\n')).toContain('interrupted by SIGINT');
  }, 120_000);
});

const RUN_HEAD = '0123456789abcdef0123456789abcdef01234567';

function workflowRunPayload(): unknown {
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
      conclusion: 'success',
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

describe('workflow_run: the training archive artifact under GitHub errors', () => {
  it('the download redirect answers 500, then 429 with retry-after, and the blob 503: retried, the archive is validated', async () => {
    const bytes = readFileSync(path.join(REPO, EXAMPLE_ZIP));
    fake.state.artifacts.push({ id: 777, name: 'training-archive', runId: 4242, bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` });
    fake.state.faults.set('GET artifact zip', {
      status: 500,
      times: 1,
      then: { status: 429, headers: { 'retry-after': '1' }, body: { message: 'You have exceeded a secondary rate limit' }, times: 1 },
    });
    fake.state.faults.set('GET blob', { status: 503, times: 1 });
    const registry = `http://127.0.0.1:${await closedPort()}/`;
    const { run } = startComposite({ setup: { cache: 'hit' }, event: 'workflow_run', payload: workflowRunPayload(), inputs: { data: 'examples/data' }, registry });
    const res = await run.done;

    expect(fake.calls('GET artifact zip').map((r) => r.status)).toEqual([500, 429, 302]);
    // The signed blob: retried by the artifact library itself.
    expect(fake.calls('GET blob').map((r) => r.status)).toEqual([503, 200]);
    const check = fake.state.checkRuns[0]!;
    expect(check).toMatchObject({ head_sha: RUN_HEAD, status: 'completed' });
    // A verdict on the models, not a download error.
    expect(check.output!.title).toMatch(/^7 models: /);
    expect(check.output!.summary).toContain('artifact `training-archive` (id 777');
    expect(JSON.parse(res.outputs['decisions']!)).toHaveLength(7);
    expectNoToken(res);
  }, 180_000);

  it('a digest that does not match refuses the bytes, after the retries', async () => {
    const bytes = readFileSync(path.join(REPO, EXAMPLE_ZIP));
    fake.state.artifacts.push({ id: 778, name: 'training-archive', runId: 4242, bytes, digest: `sha256:${'0'.repeat(64)}` });
    fake.state.faults.set('GET artifact zip', { status: 502, times: 1 });
    const registry = `http://127.0.0.1:${await closedPort()}/`;
    const { run } = startComposite({ setup: { cache: 'hit' }, event: 'workflow_run', payload: workflowRunPayload(), inputs: { data: 'examples/data' }, registry });
    const res = await run.done;
    expect(fake.calls('GET artifact zip').map((r) => r.status)).toEqual([502, 302]);
    expect(fake.state.checkRuns[0]!.output!.title).toMatch(/^error: artifact "training-archive" \(id 778\): the downloaded bytes do not match the digest/);
    expect(res.result).toBe('failure');
  }, 180_000);
});

describe('the sticky comment', () => {
  const bot = (n: number): { id: number; body: string }[] => (fake.state.comments.get(n) ?? []).filter((c) => c.body.startsWith('<!-- policy-gate:sticky -->'));

  it('names the run in its footer; a later run with the same verdict does not edit it', async () => {
    pullRequestFiles(7);
    const registry = `http://127.0.0.1:${await closedPort()}/`;
    const first = startComposite({ setup: { cache: 'hit' }, event: 'pull_request', payload: pullRequestPayload({ number: 7 }), inputs: PR_INPUTS, registry });
    await first.run.done;
    expect(bot(7)).toHaveLength(1);
    const body = bot(7)[0]!.body;
    expect(body).toMatch(/^<sub>policy-gate \S+ · \[run 9001\]\(https:\/\/github\.com\/octo-org\/trading-policies\/actions\/runs\/9001\) · config sha256 /m);
    const footer = body.split('\n').find((l) => l.startsWith('<sub>policy-gate '))!;
    expect(footer).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d/);

    // A new run (a re-run, or a push that changes nothing the gate sees): same verdict, nothing re-sent.
    const second = startComposite({
      setup: { cache: 'hit' },
      event: 'pull_request',
      payload: pullRequestPayload({ number: 7 }),
      inputs: PR_INPUTS,
      registry,
      ws: first.ws,
      env: { GITHUB_RUN_ID: '9002', GITHUB_RUN_ATTEMPT: '2' },
    });
    const res = await second.run.done;
    expect(res.step('gate')!.exitCode).toBe(1);
    expect(fake.calls('POST comments')).toHaveLength(1);
    expect(fake.calls('PATCH comments')).toHaveLength(0);
    expect(bot(7)[0]!.body).toBe(body);
    // The check run and the job summary name the run that made them.
    expect(fake.state.checkRuns[1]!.output!.summary).toContain('[run 9002, attempt 2](https://github.com/octo-org/trading-policies/actions/runs/9002)');
    expect(res.summary).toContain('[run 9002, attempt 2]');
  }, 180_000);

  it('a pull request whose first run crashes gets the error as its sticky comment', async () => {
    pullRequestFiles(7);
    const registry = `http://127.0.0.1:${await closedPort()}/`;
    const { run } = startComposite({
      setup: { cache: 'hit' },
      event: 'pull_request',
      payload: pullRequestPayload({ number: 7 }),
      inputs: { ...PR_INPUTS, days: 'ninety' },
      registry,
    });
    const res = await run.done;
    expect(res.step('gate')!.outcome).toBe('failure');
    expect(fake.state.checkRuns[0]).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(bot(7)).toHaveLength(1);
    expect(bot(7)[0]!.body).toContain('## ❌ policy-gate: error');
    expect(bot(7)[0]!.body).toContain('days');
    expectNoToken(res);
  }, 180_000);
});

describe('workflow_run: the promotion pull request cannot be opened', () => {
  it('the check run keeps the verdict (success), the step fails and says why', async () => {
    fake.git.commit('main', { 'README.md': '# policies\n' });
    const bytes = readFileSync(path.join(REPO, EXAMPLE_ZIP));
    fake.state.artifacts.push({ id: 779, name: 'training-archive', runId: 4242, bytes });
    // The repository does not allow GitHub Actions to create pull requests.
    fake.state.faults.set('POST pulls', { status: 403, body: { message: 'GitHub Actions is not permitted to create or approve pull requests.' } });
    const ws = workspace((dir) => {
      // Only what a deployment config requests is held to a tier: here nothing, so the verdict is success.
      writeFileSync(path.join(dir, '.github', 'policy-gate.yml'), 'decision:\n  required: DROP\n');
      rmSync(path.join(dir, 'deploy'), { recursive: true });
    });
    const registry = `http://127.0.0.1:${await closedPort()}/`;
    const { run } = startComposite({ setup: { cache: 'hit' }, event: 'workflow_run', payload: workflowRunPayload(), inputs: { data: 'examples/data' }, registry, ws });
    const res = await run.done;
    expect(fake.calls('POST pulls').map((r) => r.status)).toEqual([403]);
    const check = fake.state.checkRuns[0]!;
    expect(check).toMatchObject({ head_sha: RUN_HEAD, status: 'completed', conclusion: 'success' });
    expect(check.output!.summary).toContain('Promotion pull request could not be opened');
    // The conclusion output equals the check run's; the step's exit code is what fails.
    expect(res.outputs['conclusion']).toBe('success');
    const gate = res.step('gate')!;
    expect(gate.exitCode).toBe(1);
    expect(gate.commands.find((c) => c.name === 'error')?.data).toMatch(/^policy-gate: the promotion pull request could not be opened: .*allow GitHub Actions to create pull requests/);
    expect(res.result).toBe('failure');
  }, 180_000);
});
