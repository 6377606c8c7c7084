/**
 * The bundled action on a schedule with `track: paper`, as the runner starts it (a process running the
 * esbuild bundle), against the loopback GitHub and a loopback paper account: the first run finds no record
 * (nothing opened, the run passes); once the account holds BTCUSD_4Hour's orders as its backtest placed
 * them, the second run opens ONE tracking pull request moving it to live, with its passing check; a
 * rerun updates the same pull request. The Alpaca keys never reach a log, the summary or the report.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadBarsFromDir } from '../src/adapters/bars/csv.js';
import { sha256 } from '../src/util/hash.js';
import { buildBundle, cleanupHarness, everything, NAME, OWNER, REPO, runAction, temp, type Bundle } from './helpers/action-harness.js';
import { exampleFiles, writeTree } from './helpers/e2e.js';
import { FakeAlpacaTrading, type FakeFill } from './helpers/fake-alpaca-trading.js';
import { expectNoViolations, startFakeGitHub, type FakeGitHub } from './helpers/fake-github.js';

// Every request the code under test sent must be one GitHub's REST description allows.
afterEach(() => expectNoViolations());
import { simulatePaperAccount } from './helpers/paper-account.js';

const TOKEN = 'ghs_trackE2eToken0123456789abcdefgh';
const KEYS = { APCA_API_KEY_ID: 'PKTRACKE2E000000001', APCA_API_SECRET_KEY: 'trackE2eSecret/0123456789abcdefghijklmn' };
const SRC = 'Alpaca_trading/models/rl_symbols';
const CONFIG = 'decision:\n  live: { min_positive_share: 0.8, max_sharpe_std: 2 }\n  no_observation_parity_cap: LIVE\n  track: { min_trades: 3 }\n';

let bundle: Bundle;
let github: FakeGitHub;
let trading: FakeAlpacaTrading;
beforeAll(async () => {
  bundle = await buildBundle();
}, 120_000);
afterAll(cleanupHarness);
beforeEach(async () => {
  github = await startFakeGitHub({ owner: OWNER, repo: NAME, token: TOKEN });
  trading = await FakeAlpacaTrading.start();
  trading.requireKeys = { keyId: KEYS.APCA_API_KEY_ID, secret: KEYS.APCA_API_SECRET_KEY };
});
afterEach(async () => {
  await github.close();
  await trading.close();
});

describe('schedule with track: paper', () => {
  it('opens nothing without a record, then one tracking pull request moving an eligible model to live', async () => {
    const files = exampleFiles();
    const onnx = files[`${SRC}/BTCUSD_4Hour.onnx`]!;
    const paper = {
      models: {
        BTCUSD_4Hour: {
          model: 'models/BTCUSD_4Hour/BTCUSD_4Hour.onnx',
          model_sha256: sha256(Buffer.from(onnx)),
          card: 'models/BTCUSD_4Hour/BTCUSD_4Hour.card.json',
          gating: 'APPROVED',
          tier: 'PAPER',
          promoted_at: '2024-07-20T00:00:00.000Z',
          train_end: '2023-12-31T20:00:00Z',
        },
      },
    };
    const dir = temp('track-ws-');
    writeTree(dir, {
      'models/BTCUSD_4Hour/BTCUSD_4Hour.onnx': onnx,
      'models/BTCUSD_4Hour/BTCUSD_4Hour.card.json': files[`${SRC}/BTCUSD_4Hour.card.json`]!,
      'deploy/paper.json': JSON.stringify(paper, null, 2) + '\n',
      '.github/policy-gate.yml': CONFIG,
      'examples/data/BTCUSD_4Hour.csv': readFileSync(path.join(REPO, 'examples', 'data', 'BTCUSD_4Hour.csv')),
    });
    github.git.commit('main', { 'deploy/paper.json': JSON.stringify(paper, null, 2) + '\n' });
    const ws = { dir, runnerTemp: temp('track-runner-') };
    const schedule = { schedule: '47 6 * * 1-5', repository: { full_name: `${OWNER}/${NAME}` } };
    const run = () =>
      runAction(bundle, github, {
        event: 'schedule',
        payload: schedule,
        inputs: { track: 'paper', data: 'examples/data', 'upload-report': 'false' },
        token: TOKEN,
        ws,
        env: { ...KEYS, APCA_API_BASE_URL: trading.url },
      });

    // ---- no record: nothing opened, the run passes
    trading.fills = [{ id: '1::eth', orderId: 'eth', clientOrderId: 'manual', time: Date.parse('2024-08-01T00:00:05Z'), symbol: 'ETH/USD', side: 'buy', qty: 1, price: 3200, fee: null }];
    const first = await run();
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(github.git.pulls).toHaveLength(0);
    const r1 = JSON.parse(readFileSync(path.join(dir, 'policy-gate-report', 'report.json'), 'utf8'));
    const t1 = r1.models[0].track;
    expect(t1.judgement.verdict).toBe('no_record');

    // ---- the account trades as the backtest did
    const decisions = t1.reconciliation.decisions.items.map((i: any) => i.backtest);
    const { bars } = await loadBarsFromDir(path.join(REPO, 'examples', 'data'), 'BTCUSD', '4Hour');
    const sim = simulatePaperAccount(
      bars,
      { fills: decisions.map((d: any) => ({ barIndex: d.bar, quantity: d.side === 'buy' ? d.qty : -d.qty })) as never, end: bars.time.length - 1 },
      {
        lagBars: 0,
        maxSlippageBps: 10,
        seed: 11,
        feeBps: 25,
        partialAt: null,
        partialShare: 1,
        missAt: null,
        manual: null,
        qtyDecimals: 9,
      },
    );
    trading.fills = [
      ...trading.fills,
      ...sim.fills.map(
        (f): FakeFill => ({
          id: f.id,
          orderId: f.orderId,
          clientOrderId: f.clientOrderId!,
          time: f.time,
          symbol: 'BTC/USD',
          side: f.side,
          qty: f.qty,
          price: f.price,
          fee: { asset: f.feeAsset, amount: f.fee, withOrderId: false },
        }),
      ),
    ];
    trading.positions = [{ symbol: 'BTC/USD', qty: sim.fills.reduce((q, f) => q + (f.side === 'buy' ? f.qty - f.fee : -f.qty), 0) }];

    const second = await run();
    expect(second.code, second.stdout + second.stderr).toBe(0);
    const pr = github.git.pulls.find((p) => p.head === 'policy-gate/track')!;
    expect(pr).toMatchObject({ number: 1, state: 'open', title: 'policy-gate: on the account record, BTCUSD_4Hour → LIVE' });
    expect(JSON.parse(github.git.read('policy-gate/track', 'deploy/live.json')!).models.BTCUSD_4Hour).toMatchObject({ tier: 'LIVE', model: paper.models.BTCUSD_4Hour.model });
    expect(JSON.parse(github.git.read('policy-gate/track', 'deploy/paper.json')!)).toEqual({ models: {} });
    expect(github.state.checkRuns.map((c) => c.conclusion)).toEqual(['success', 'success', 'success']); // two runs on the default branch's commit; the pull request's head
    expect(second.summary).toContain('Tracking pull request [#1]');
    expect(second.outputs['pull-request-url']).toContain('/pull/1');

    const third = await run();
    expect(third.code).toBe(0);
    expect(github.git.pulls.filter((p) => p.head === 'policy-gate/track')).toHaveLength(1);

    for (const [where, text] of Object.entries(everything(second, github))) {
      expect(text, where).not.toContain(KEYS.APCA_API_SECRET_KEY);
      expect(text, where).not.toContain(KEYS.APCA_API_KEY_ID);
    }
  }, 240_000);
});
