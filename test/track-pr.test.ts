/**
 * The scheduled tracking run's pull request, against the loopback GitHub and a loopback paper account,
 * both through their real clients: BTCUSD_4Hour's record holds (eligible for LIVE) and BTCUSD_2Hour's
 * fills cost far more than assumed (demoted), both trading BTCUSD on one account, told apart by their
 * client_order_id prefixes. One pull request moves the first to live and takes the second out; a rerun
 * updates it; after the merge nothing is left to do.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AlpacaTrading } from '../src/adapters/alpaca/trading.js';
import { loadBarsFromDir } from '../src/adapters/bars/csv.js';
import { reportJson } from '../src/app/output.js';
import { runTrack } from '../src/app/track.js';
import { createGitHub, type GitHubClient } from '../src/action/github.js';
import { openTrackPullRequest, TRACK_BRANCH } from '../src/action/promotion.js';
import { defaultConfig, type Config } from '../src/config/schema.js';
import { planTrack } from '../src/core/track-plan.js';
import { readDeployFiles } from '../src/app/promote.js';
import { sha256 } from '../src/util/hash.js';
import { cleanupTempDirs, EXAMPLE_DATA, exampleFiles, tempDir, writeTree } from './helpers/e2e.js';
import { installLoopbackGuard } from './helpers/fake-alpaca.js';
import { FakeAlpacaTrading, type FakeFill } from './helpers/fake-alpaca-trading.js';
import { expectNoViolations, startFakeGitHub, type FakeGitHub } from './helpers/fake-github.js';

// Every request the code under test sent must be one GitHub's REST description allows.
afterEach(() => expectNoViolations());
import { simulatePaperAccount } from './helpers/paper-account.js';

const NOW = new Date('2025-01-02T03:04:05.000Z');
const PROMOTED_AT = '2024-07-20T00:00:00.000Z';
const TOKEN = 'ghs_trackTokenValue0123456789abcdef';
const repo = { owner: 'octo-org', repo: 'trading-policies' };
const PATHS = { paper: 'deploy/paper.json', live: 'deploy/live.json' };
const SRC = 'Alpaca_trading/models/rl_symbols';
const KEYS = { APCA_API_KEY_ID: 'PKTRACKPR0000000001', APCA_API_SECRET_KEY: 'trackPrSecret/0123456789abcdefghijklmnop' };

let trading: FakeAlpacaTrading;
let github: FakeGitHub;
let gh: GitHubClient;
let guard: ReturnType<typeof installLoopbackGuard>;
beforeAll(() => {
  guard = installLoopbackGuard();
});
afterAll(() => {
  guard.restore();
  expect(guard.violations).toEqual([]);
  cleanupTempDirs();
});
beforeEach(async () => {
  trading = await FakeAlpacaTrading.start();
  github = await startFakeGitHub({ ...repo, token: TOKEN });
  gh = createGitHub({ token: TOKEN, baseUrl: github.url, sleep: async () => {} });
});
afterEach(async () => {
  await trading.close();
  await github.close();
});

function config(): Config {
  const c = defaultConfig();
  c.data.dir = EXAMPLE_DATA;
  c.decision.live.maxSharpeStd = 2; // BTCUSD_4Hour's walk-forward (Sharpe std 1.496) earns LIVE
  c.decision.noObservationParityCap = 'LIVE';
  c.decision.track.minTrades = 3;
  return c;
}

async function track(ws: string) {
  const account = new AlpacaTrading({ env: { ...KEYS, APCA_API_BASE_URL: trading.url }, account: 'paper', now: () => Date.now(), sleep: async () => {} });
  return runTrack(config(), null, { root: ws, paths: PATHS, now: NOW, env: {}, log: () => {}, endMs: undefined, equityOut: null, account: 'paper', trading: account });
}

describe('the tracking pull request (schedule)', () => {
  it('moves an eligible PAPER model to live and takes a diverging one out, in one pull request, once', async () => {
    const files = exampleFiles();
    const tree: Record<string, Uint8Array | string> = {};
    const models: Record<string, unknown> = {};
    for (const [id, prefix] of [
      ['BTCUSD_2Hour', 'pg-2h-'],
      ['BTCUSD_4Hour', 'pg-4h-'],
    ] as const) {
      tree[`models/${id}/${id}.onnx`] = files[`${SRC}/${id}.onnx`]!;
      tree[`models/${id}/${id}.card.json`] = files[`${SRC}/${id}.card.json`]!;
      models[id] = {
        model: `models/${id}/${id}.onnx`,
        model_sha256: sha256(Buffer.from(files[`${SRC}/${id}.onnx`]!)),
        card: `models/${id}/${id}.card.json`,
        gating: 'APPROVED',
        tier: 'PAPER',
        promoted_at: PROMOTED_AT,
        train_end: '2023-12-31T22:00:00Z',
        client_order_id_prefix: prefix,
        owner: 'desk-1',
      };
    }
    tree[PATHS.paper] = JSON.stringify({ models }, null, 2) + '\n';
    const ws = writeTree(tempDir('track-pr-'), tree);
    github.git.commit('main', { [PATHS.paper]: readFileSync(path.join(ws, PATHS.paper)) });

    // pass 1: nothing attributed yet — the backtests' decisions
    trading.fills = [{ id: '1::eth', orderId: 'eth', clientOrderId: 'manual', time: Date.parse('2024-08-01T00:00:05Z'), symbol: 'ETH/USD', side: 'buy', qty: 1, price: 3200, fee: null }];
    const first = await track(ws);
    const account: FakeFill[] = [...trading.fills];
    for (const [id, tf, prefix, slip] of [
      ['BTCUSD_2Hour', '2Hour', 'pg-2h-', 300],
      ['BTCUSD_4Hour', '4Hour', 'pg-4h-', 10],
    ] as const) {
      const m = first.report.models.find((x) => x.id === id)!;
      expect(m.track!.judgement.verdict).toBe('no_record');
      const decisions = m.track!.reconciliation!.decisions.items.map((i) => i.backtest!);
      const { bars } = await loadBarsFromDir(EXAMPLE_DATA, 'BTCUSD', tf);
      const sim = simulatePaperAccount(
        bars,
        { fills: decisions.map((d) => ({ barIndex: d.bar, quantity: d.side === 'buy' ? d.qty : -d.qty })) as never, end: bars.time.length - 1 },
        {
          lagBars: 0,
          maxSlippageBps: slip,
          seed: 11,
          feeBps: 25,
          partialAt: null,
          partialShare: 1,
          missAt: null,
          manual: null,
          qtyDecimals: 9,
        },
      );
      for (const f of sim.fills) {
        account.push({
          id: `${f.id}-${prefix}`,
          orderId: `${prefix}${f.orderId}`,
          clientOrderId: `${prefix}${f.orderId}`,
          time: f.time,
          symbol: 'BTC/USD',
          side: f.side,
          qty: f.qty,
          price: f.price,
          fee: { asset: f.feeAsset, amount: f.fee, withOrderId: true },
        });
      }
    }
    trading.fills = account;

    // pass 2: the verdicts
    const { report } = await track(ws);
    const verdicts = Object.fromEntries(report.models.map((m) => [m.id, m.track!.judgement.verdict]));
    expect(verdicts).toEqual({ BTCUSD_2Hour: 'demote', BTCUSD_4Hour: 'eligible_live' });
    const demoted = report.models.find((m) => m.id === 'BTCUSD_2Hour')!.track!;
    expect(demoted.attribution).toEqual({ by: 'client_order_id_prefix', value: 'pg-2h-' });
    expect(demoted.reconciliation!.decisions.extra).toBe(0); // the other model's orders are not its own
    expect(report.conclusion).toBe('failure');

    // the plan, as `track` proposes it
    const deploy = await readDeployFiles(ws, PATHS);
    const plan = planTrack(deploy.configs, report, { now: NOW, runUrl: null, reportSha256: 'x' });
    expect(plan.changes.map((c) => [c.id, c.kind, c.from, c.to])).toEqual([
      ['BTCUSD_2Hour', 'removed', 'PAPER', null],
      ['BTCUSD_4Hour', 'promoted', 'PAPER', 'LIVE'],
    ]);

    const req = { report, reportSha256: sha256(reportJson(report)), markdown: '## tracking', paths: PATHS, runUrl: null, now: NOW, externalId: null, log: () => {}, sleep: async () => {} };
    const res = await openTrackPullRequest(gh, repo, req);
    expect(res.outcome).toMatchObject({ kind: 'created', number: 1 });
    expect(github.git.pulls[0]!.head).toBe(TRACK_BRANCH);
    expect(github.git.pulls[0]!.title).toBe('policy-gate: on the account record, BTCUSD_2Hour → out, BTCUSD_4Hour → LIVE');
    const live = JSON.parse(github.git.read(TRACK_BRANCH, PATHS.live)!);
    expect(live.models.BTCUSD_4Hour).toMatchObject({ tier: 'LIVE', promoted_at: NOW.toISOString(), owner: 'desk-1', client_order_id_prefix: 'pg-4h-', model: 'models/BTCUSD_4Hour/BTCUSD_4Hour.onnx' });
    expect(live.models.BTCUSD_4Hour.reasons).toMatch(/^eligible for LIVE: 53\.7 days on record ≥ 30; 3 orders on record ≥ 3;/);
    expect(JSON.parse(github.git.read(TRACK_BRANCH, PATHS.paper)!)).toEqual({ models: {} });
    // each change with its numbers (markdown-escaped in the body)
    expect(github.git.pulls[0]!.body).toMatch(/- BTCUSD\\_2Hour: PAPER → out \\\(the record diverges from the backtest: mean realised cost \d+\.\d bps = \d+\.\d\d × the assumed 30 bps \\> 2 ×/);
    expect(github.git.pulls[0]!.body).toMatch(/- BTCUSD\\_4Hour: PAPER → LIVE \\\(eligible for LIVE: 53\.7 days on record/);
    expect(res.check).toBe('success'); // BTCUSD_4Hour's walk-forward on the same report is LIVE

    const again = await openTrackPullRequest(gh, repo, req);
    expect(again.outcome).toMatchObject({ kind: 'unchanged', number: 1 });
    expect(github.git.pulls).toHaveLength(1);
    github.git.merge(1);
    expect((await openTrackPullRequest(gh, repo, req)).outcome.kind).toBe('nothing');
  }, 120_000);
});
