/**
 * Hostile case: the services fail (threats.md A1, A2, I2, I3, I7; docs/threat-model.md).
 *
 * GitHub (loopback fake, test/helpers/fake-github.ts): 429 with Retry-After, 5xx, a reset connection,
 * a body cut short and a server that never answers are retried by the client within bounds; when
 * GitHub stays broken the run still ends, the report is still written, and the check run was completed
 * whenever GitHub accepted it. Alpaca (loopback fake): 429, 5xx, truncated and cut JSON that never end
 * give exit 3 within the deadline with the report written. One model's onnxruntime crash never loses
 * the others' results: test/hostile-ort.test.ts.
 */
import { inspect } from 'node:util';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGitHub } from '../src/action/github.js';
import { shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { FakeAlpaca, faults, installLoopbackGuard, syntheticBars } from './helpers/fake-alpaca.js';
import { expectNoViolations, type FakeGitHub, startFakeGitHub } from './helpers/fake-github.js';
import { buildBundle, cleanupHarness, everything, EXAMPLE_ZIP_NAME, OWNER, NAME, PR_HEAD, pullRequestPayload, REPO, runAction, type Bundle } from './helpers/action-harness.js';
import { cleanupTempDirs, runCli, tempDir } from './helpers/e2e.js';
import { findLeaks } from './helpers/hostile.js';

// Every request to the loopback GitHub must be one GitHub's REST description allows.
afterEach(() => expectNoViolations());

const TOKEN = 'ghs_faultTokenValue0123456789abcdefABCD';
const PR_INPUTS = { archive: `examples/${EXAMPLE_ZIP_NAME}`, data: 'examples/data' };

let fake: FakeGitHub;
let guard: ReturnType<typeof installLoopbackGuard>;
beforeAll(() => {
  guard = installLoopbackGuard();
});
beforeEach(async () => {
  fake = await startFakeGitHub({ owner: OWNER, repo: NAME, token: TOKEN });
});
afterEach(async () => {
  await fake.close();
});
afterAll(async () => {
  guard.restore();
  expect(guard.violations).toEqual([]);
  await shutdownOrtHost();
  cleanupHarness();
  cleanupTempDirs();
});

describe('the GitHub client under faults (in-process, real octokit against the fake)', () => {
  const waits: number[] = [];
  const client = () =>
    createGitHub({
      token: TOKEN,
      baseUrl: fake.url,
      timeoutMs: 300,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
  const create = (gh: ReturnType<typeof client>) => gh.rest.checks.create({ owner: OWNER, repo: NAME, name: 'policy-gate', head_sha: PR_HEAD, status: 'in_progress' });
  beforeEach(() => {
    waits.length = 0;
  });

  it.each([
    ['429 with Retry-After: 1', { status: 429, headers: { 'retry-after': '1' }, times: 1 }, [1000]],
    ['502 twice', { status: 502, times: 2 }, [1000, 2000]],
    ['a reset connection', { status: 0, transport: 'reset' as const, times: 1 }, [1000]],
    ['a 201 whose JSON body is cut short', { status: 201, transport: 'truncate' as const, times: 1 }, [1000]],
    ['a server that never answers (per-attempt deadline)', { status: 0, transport: 'hang' as const, times: 1 }, [1000]],
  ])('%s: retried, then the check run is created', async (_label, fault, expectedWaits) => {
    fake.state.faults.set('POST check-runs', fault);
    const res = await create(client());
    expect(res.data.id).toEqual(fake.state.checkRuns[0]!.id);
    expect(fake.state.checkRuns).toHaveLength(1);
    expect(waits).toEqual(expectedWaits);
    // The back-off waits went to the injected sleep (never slept for real).
    expect(fake.calls('POST check-runs')).toHaveLength(expectedWaits.length + 1);
  });

  it('a server that never answers at all: a bounded failure, and the error carries no token', async () => {
    // The server never answers, so only the per-attempt deadline can end each attempt: that the call
    // fails at all, after exactly four attempts, is the proof that it is bounded.
    fake.state.faults.set('POST check-runs', { status: 0, transport: 'hang' });
    const err = await create(client()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(fake.calls('POST check-runs')).toHaveLength(4); // 1 + 3 retries
    expect(findLeaks({ message: String((err as Error).message), inspect: inspect(err, { depth: 8 }), json: JSON.stringify(err) }, [TOKEN])).toEqual([]);
  });

  it.each([401, 403, 404, 422])('%d is never retried; the serialised error has the token redacted', async (status) => {
    fake.state.faults.set('POST check-runs', { status, body: { message: 'nope' } });
    const err = await create(client()).catch((e: unknown) => e);
    expect((err as { status: number }).status).toBe(status);
    expect(fake.calls('POST check-runs')).toHaveLength(1);
    const dump = inspect(err, { depth: 8 });
    expect(dump).toContain('[REDACTED]'); // octokit's own redaction of the authorization header
    expect(findLeaks({ inspect: dump, json: JSON.stringify(err), message: (err as Error).message }, [TOKEN])).toEqual([]);
  });
});

describe('the Action when GitHub fails', () => {
  let bundle: Bundle;
  beforeAll(async () => {
    bundle = await buildBundle();
  }, 60_000);

  const pr = () => runAction(bundle, fake, { event: 'pull_request', payload: pullRequestPayload({ number: 7 }), inputs: PR_INPUTS, token: TOKEN });

  beforeEach(() => {
    fake.state.pullFiles.set(7, [{ filename: `examples/${EXAMPLE_ZIP_NAME}`, status: 'modified' }]);
  });

  it('5xx on completing the check run, then success: the check run ends completed, the report is written', async () => {
    fake.state.faults.set('PATCH check-runs', { status: 502, times: 2 });
    const run = await pr();
    expect(run.code, run.stdout + run.stderr).toBe(1); // the example's verdict
    const check = fake.state.checkRuns[0]!;
    expect(check.history.map((h) => h.status)).toEqual(['in_progress', 'completed']);
    expect(check.conclusion).toBe('failure');
    expect(fake.calls('PATCH check-runs').map((r) => r.status)).toEqual([502, 502, 200]);
    expect(JSON.parse(readFileSync(path.join(run.ws.dir, 'policy-gate-report', 'report.json'), 'utf8')).models).toHaveLength(7);
    expect(findLeaks(everything(run, fake), [TOKEN])).toEqual([]);
  }, 60_000);

  it('GitHub down for good after the check run was created: the run still ends, the report and the summary are written', async () => {
    fake.state.faults.set('PATCH check-runs', { status: 503 });
    fake.state.faults.set('GET comments', { status: 503 });
    fake.state.faults.set('POST comments', { status: 503 });
    // Once the check run exists, creating one fails too (no replacement can be posted).
    const downAfterCreate = setInterval(() => {
      if (fake.state.checkRuns.length === 1) {
        fake.state.faults.set('POST check-runs', { status: 503 });
        clearInterval(downAfterCreate);
      }
    }, 2);
    const run = await pr();
    clearInterval(downAfterCreate);
    expect(run.code).toBe(1);
    expect(fake.calls('PATCH check-runs')).toHaveLength(4); // every retry, then it gives up
    expect(fake.calls('POST check-runs').map((r) => r.status)).toEqual([201, 503, 503, 503, 503]);
    expect(run.stdout).toMatch(/^::warning::policy-gate: completing the check run failed: /m);
    expect(run.summary).toContain('### Gating');
    expect(run.outputs['conclusion']).toBe('failure');
    expect(JSON.parse(readFileSync(path.join(run.ws.dir, 'policy-gate-report', 'report.json'), 'utf8')).models).toHaveLength(7);
    expect(findLeaks(everything(run, fake), [TOKEN])).toEqual([]);
  }, 60_000);

  it('completing the check run fails for good: a completed check run of the same name replaces it', async () => {
    fake.state.faults.set('PATCH check-runs', { status: 503 });
    const run = await pr();
    expect(run.code).toBe(1);
    expect(fake.calls('PATCH check-runs')).toHaveLength(4);
    expect(fake.state.checkRuns).toHaveLength(2);
    const [first, second] = fake.state.checkRuns;
    expect(first!.status).toBe('in_progress');
    expect(second).toMatchObject({ name: 'policy-gate', head_sha: first!.head_sha, status: 'completed', conclusion: 'failure' });
    expect(second!.output!.title).toMatch(/^7 models: /);
    expect(run.stdout).toMatch(/^policy-gate: completing check run \d+ failed \(.*\); posting a completed check run in its place$/m);
    expect(run.stdout).not.toMatch(/^::warning::policy-gate: completing the check run failed/m);
  }, 60_000);

  it('a reset on the comment, a cut body on the file list: retried; the comment is posted once', async () => {
    fake.state.faults.set('GET pulls/files', { status: 200, transport: 'truncate', times: 1 });
    fake.state.faults.set('POST comments', { status: 0, transport: 'reset', times: 1 });
    const run = await pr();
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(fake.calls('GET pulls/files').length).toBeGreaterThanOrEqual(2);
    expect(fake.state.comments.get(7)!.filter((c) => c.user.type === 'Bot')).toHaveLength(1);
    expect(fake.state.checkRuns[0]!.status).toBe('completed');
  }, 60_000);
});

describe('Alpaca fails for good: exit 3 within the deadline, the report written', () => {
  let alpaca: FakeAlpaca;
  let ws: string;
  let savedUrl: string | undefined;
  beforeAll(async () => {
    alpaca = await FakeAlpaca.start();
    savedUrl = process.env['APCA_API_DATA_URL'];
    process.env['APCA_API_DATA_URL'] = alpaca.url; // the CLI reads it from its environment
    ws = tempDir('alpaca-faults-');
    const files = unzipSync(readFileSync(path.join(REPO, 'examples', EXAMPLE_ZIP_NAME)));
    mkdirSync(path.join(ws, 'm'));
    writeFileSync(path.join(ws, 'm', 'BTCUSD_1Hour.onnx'), files['Alpaca_trading/models/rl_symbols/BTCUSD_1Hour.onnx']!);
    writeFileSync(path.join(ws, 'm', 'BTCUSD_1Hour.card.json'), files['Alpaca_trading/models/rl_symbols/BTCUSD_1Hour.card.json']!);
    alpaca.crypto.set('BTC/USD', syntheticBars(Date.parse('2024-01-01T00:00:00Z'), 3_600_000, 6_000, 40_000));
  });
  afterAll(async () => {
    if (savedUrl === undefined) delete process.env['APCA_API_DATA_URL'];
    else process.env['APCA_API_DATA_URL'] = savedUrl;
    await alpaca.close();
  });

  it.each([
    ['429 forever', () => faults.status(429, { 'retry-after': '1' })],
    ['503 forever', () => faults.status(503)],
    ['a body shorter than its Content-Length, forever', () => faults.shortContentLength()],
    ['JSON cut mid-array, forever', () => faults.cutJson()],
    ['connections reset, forever', () => faults.reset()],
  ])(
    '%s',
    async (_label, fault) => {
      alpaca.always(fault());
      try {
        const out = path.join(ws, `out-${Math.random().toString(36).slice(2)}`);
        writeFileSync(path.join(ws, 'c.yml'), `data: { deadline_seconds: 2, cache: ${JSON.stringify(path.join(out, 'cache'))} }\n`);
        // The fault never stops, so only the 2 s deadline (data.deadline_seconds) can end the run.
        const run = await runCli(['backtest', '--model', 'm/BTCUSD_1Hour.onnx', '--data', 'alpaca', '--config', 'c.yml', '--out', out, '--end', '2024-08-01T00:00:00Z'], ws);
        expect(run.code, run.stderr).toBe(3);
        const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
        expect(report.conclusion).toBe('failure');
        expect(report.infraErrors).toHaveLength(1);
        expect(report.infraErrors[0]).toMatch(/^BTCUSD_1Hour: Alpaca .*BTC\/USD.*gave up/);
        expect(report.models[0].backtest).toBeNull();
        expect(alpaca.barRequests().length).toBeGreaterThan(0); // it was this server that failed
      } finally {
        alpaca.always(null);
      }
    },
    30_000,
  );
});
