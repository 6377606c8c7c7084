/**
 * Hostile case: secrets (threats.md A8, G5; docs/threat-model.md). Full runs with Alpaca keys and a
 * GitHub token set — on the happy path and on every failure path — and EVERY output scanned for each
 * secret in all the forms it can leak in: plain, URL-encoded, base64 and base64url (padded or not, and
 * inside the base64 of a longer string such as "KEY:SECRET" at each alignment).
 *
 * CLI: stdout, stderr, report.json/.md/.html, the equity CSVs and the bar cache. Action: stdout (less
 * the runner's own ::add-mask:: commands, which must carry each secret), stderr, the job summary,
 * GITHUB_OUTPUT, the check run, the PR comment and every other request body GitHub received, and the
 * report folder. The serialised errors of the HTTP clients: test/hostile-faults.test.ts. The
 * onnxruntime host's environment: test/hostile-ort.test.ts.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { FakeAlpaca, faults, installLoopbackGuard, syntheticBars } from './helpers/fake-alpaca.js';
import { expectNoViolations, type FakeGitHub, startFakeGitHub } from './helpers/fake-github.js';
import { buildBundle, cleanupHarness, everything, EXAMPLE_ZIP_NAME, NAME, OWNER, pullRequestPayload, REPO, runAction, workspace, type Bundle } from './helpers/action-harness.js';
import { cleanupTempDirs, tempDir } from './helpers/e2e.js';
import { findLeaks, readAll } from './helpers/hostile.js';

// Every request to the loopback GitHub must be one GitHub's REST description allows.
afterEach(() => expectNoViolations());

const KEY = 'PKHOSTILEKEYID012345';
// '+', '/' and '=' so that the URL-encoded and base64url forms differ from the plain one.
const SECRET = 'hostile/Secret+Key=0123456789abcdefABCDEF';
const TOKEN = 'ghs_hostileTokenValue0123456789abcdefAB';
const SECRETS = [KEY, SECRET, TOKEN];

let guard: ReturnType<typeof installLoopbackGuard>;
beforeAll(() => {
  guard = installLoopbackGuard();
});
afterAll(async () => {
  guard.restore();
  expect(guard.violations).toEqual([]);
  await shutdownOrtHost();
  cleanupHarness();
  cleanupTempDirs();
});

describe('CLI runs on Alpaca stock data with keys set', () => {
  let alpaca: FakeAlpaca;
  let ws: string;

  beforeAll(async () => {
    alpaca = await FakeAlpaca.start();
    alpaca.stocks.set('AAPL', syntheticBars(Date.parse('2024-01-01T00:00:00Z'), 3_600_000, 6_000, 180));
    ws = tempDir('secrets-cli-');
    // A stock policy: the example's 1-hour network with its card pointed at AAPL (observation goldens
    // dropped: they belong to the BTC bars).
    const files = unzipSync(readFileSync(path.join(REPO, 'examples', EXAMPLE_ZIP_NAME)));
    mkdirSync(path.join(ws, 'm'));
    writeFileSync(path.join(ws, 'm', 'AAPL_1Hour.onnx'), files['Alpaca_trading/models/rl_symbols/BTCUSD_1Hour.onnx']!);
    const card = JSON.parse(Buffer.from(files['Alpaca_trading/models/rl_symbols/BTCUSD_1Hour.card.json']!).toString('utf8'));
    card.symbol = 'AAPL';
    card.asset_class = 'us_equity';
    card.golden = (card.golden ?? []).filter((g: { at?: unknown }) => g.at === undefined);
    writeFileSync(path.join(ws, 'm', 'AAPL_1Hour.card.json'), JSON.stringify(card));
    writeFileSync(path.join(ws, 'keys.json'), JSON.stringify({ key_id: KEY, secret_key: SECRET }));
  });
  afterAll(async () => {
    await alpaca.close();
  });
  beforeEach(() => {
    alpaca.requireKeys = { keyId: KEY, secret: SECRET };
    alpaca.always(null);
  });

  async function cli(name: string, env: NodeJS.ProcessEnv, extraConfig = ''): Promise<{ code: number; outputs: Record<string, string> }> {
    const out = path.join(ws, name);
    mkdirSync(out);
    writeFileSync(path.join(out, 'c.yml'), `data: { deadline_seconds: 2, cache: ${JSON.stringify(path.join(out, 'cache'))} }\n${extraConfig}`);
    let stdout = '';
    let stderr = '';
    const code = await main(
      [
        'backtest',
        '--model',
        'm/AAPL_1Hour.onnx',
        '--data',
        'alpaca',
        '--config',
        path.join(out, 'c.yml'),
        '--days',
        '20',
        '--walk-forward',
        '2',
        '--end',
        '2024-08-01T00:00:00Z',
        '--out',
        path.join(out, 'report'),
        '--equity-out',
        path.join(out, 'equity'),
        '--json',
      ],
      { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), now: () => new Date('2024-09-11T18:30:00Z'), cwd: ws, env: { APCA_API_DATA_URL: alpaca.url, GITHUB_TOKEN: TOKEN, ...env } },
    );
    return { code, outputs: { stdout, stderr, ...readAll(out) } };
  }

  it('keys in the environment, the happy path: the keys reach Alpaca and nothing else', async () => {
    const r = await cli('env-ok', { APCA_API_KEY_ID: KEY, APCA_API_SECRET_KEY: SECRET });
    expect(r.code, r.outputs['stderr']).toBeLessThan(2);
    expect(r.outputs['stderr']).toMatch(/AAPL 1Hour: \d+ bars from Alpaca/);
    expect(Object.keys(r.outputs).some((k) => k.startsWith('cache'))).toBe(true);
    const sent = alpaca.barRequests().at(-1)!;
    expect(sent.headers['apca-api-key-id']).toBe(KEY);
    expect(findLeaks(r.outputs, SECRETS)).toEqual([]);
  });

  it("keys from ALPACA_KEYS_FILE: the file's content appears nowhere", async () => {
    const r = await cli('file-ok', { ALPACA_KEYS_FILE: path.join(ws, 'keys.json') });
    expect(r.code, r.outputs['stderr']).toBeLessThan(2);
    expect(findLeaks(r.outputs, SECRETS)).toEqual([]);
  });

  it("rejected keys, with a server that echoes the request headers back: the model's error, redacted", async () => {
    alpaca.requireKeys = { keyId: 'PKOTHER', secret: 'other' };
    const r = await cli('echo-401', { APCA_API_KEY_ID: KEY, APCA_API_SECRET_KEY: SECRET });
    expect(r.code).toBe(2); // rejected keys are bad input of the run: that model is not evaluated
    const report = JSON.parse(r.outputs['report/report.json']!);
    expect(report.models[0].errors[0]).toMatch(
      /^Alpaca rejected the API key for AAPL 1Hour \(HTTP 401: bad key id or secret; server said: .*"apca-api-key-id":"\[REDACTED\]","apca-api-secret-key":"\[REDACTED\]"/,
    );
    expect(report.models[0].errors[0]).toContain('[REDACTED]');
    expect(findLeaks(r.outputs, SECRETS)).toEqual([]);
  });

  it.each([
    ['500 forever', () => faults.status(500, {}, { message: `internal error for key ${KEY} secret ${SECRET}` })],
    ['429 forever', () => faults.status(429, { 'retry-after': '1' }, { message: `slow down, ${Buffer.from(`${KEY}:${SECRET}`).toString('base64')}` })],
    ['a cut body', () => faults.cutJson()],
  ])('%s (bodies echoing the keys): exit 3, redacted', async (_label, fault) => {
    alpaca.always(fault());
    const r = await cli(`fault-${Math.random().toString(36).slice(2)}`, { APCA_API_KEY_ID: KEY, APCA_API_SECRET_KEY: SECRET });
    expect(r.code).toBe(3);
    expect(findLeaks(r.outputs, SECRETS)).toEqual([]);
  });
});

describe('Action runs with the token and the Alpaca keys set', () => {
  let bundle: Bundle;
  let fake: FakeGitHub;
  beforeAll(async () => {
    bundle = await buildBundle();
  }, 60_000);
  beforeEach(async () => {
    await fake?.close();
    fake = await startFakeGitHub({ owner: OWNER, repo: NAME, token: TOKEN });
    fake.state.pullFiles.set(7, [{ filename: `examples/${EXAMPLE_ZIP_NAME}`, status: 'modified' }]);
  });
  afterAll(async () => {
    await fake?.close();
  });

  const env = { APCA_API_KEY_ID: KEY, APCA_API_SECRET_KEY: SECRET, GITHUB_TOKEN: TOKEN };
  const run = (ws = workspace()) =>
    runAction(bundle, fake, {
      event: 'pull_request',
      payload: pullRequestPayload({ number: 7 }),
      inputs: { archive: `examples/${EXAMPLE_ZIP_NAME}`, data: 'examples/data' },
      token: TOKEN,
      ws,
      env,
    });

  function expectMasked(stdout: string): void {
    const masks = stdout.split('\n').filter((l) => l.startsWith('::add-mask::'));
    for (const s of SECRETS) expect(masks, 'each secret is registered with the runner').toContain(`::add-mask::${s}`);
  }

  it('the happy path: check run, comment, summary, outputs and report hold no secret', async () => {
    const r = await run();
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(fake.state.checkRuns[0]!.status).toBe('completed');
    expect(fake.state.comments.get(7)!.length).toBe(1);
    expectMasked(r.stdout);
    const outputs = everything(r, fake);
    expect(Object.keys(outputs).filter((k) => k.startsWith('report '))).toContain('report report.json');
    expect(findLeaks(outputs, SECRETS)).toEqual([]);
  }, 60_000);

  it('GitHub errors whose bodies echo the token: every warning and the check run stay clean', async () => {
    const echo = { message: `Server Error: token ${TOKEN} (${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')})` };
    fake.state.faults.set('POST comments', { status: 500, body: echo });
    fake.state.faults.set('GET comments', { status: 500, body: echo, times: 4 });
    fake.state.faults.set('PATCH check-runs', { status: 422, body: echo, times: 1 });
    const r = await run();
    expect(r.code).toBe(1);
    expectMasked(r.stdout);
    expect(r.stdout).toMatch(/^::warning::policy-gate: /m);
    const outputs = everything(r, fake);
    const leaks = findLeaks(outputs, SECRETS);
    if (leaks.length)
      console.log(
        outputs['stdout']!.split('\n')
          .filter((l) => SECRETS.some((x) => l.includes(x)) || l.includes('Z2hz'))
          .join('\n'),
      );
    expect(leaks).toEqual([]);
  }, 60_000);

  it('a bad input and a crash path: the failure report and the completed check run hold no secret', async () => {
    const ws = workspace((dir) => writeFileSync(path.join(dir, '.github', 'policy-gate.yml'), `runtime: { device: ${TOKEN} }\n`));
    const r = await run(ws);
    expect(r.code).toBe(1);
    expect(fake.state.checkRuns[0]!.conclusion).toBe('failure');
    expect(findLeaks(everything(r, fake), SECRETS)).toEqual([]);
  }, 60_000);
});
