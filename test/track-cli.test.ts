/**
 * `policy-gate track` end to end: the bundled example's BTCUSD_2Hour deployed on PAPER since 2024-07-20,
 * the real SDK reading a loopback paper account (127.0.0.1), the bars from examples/data.
 *
 * Pass 1: the account holds 0.25 BTC bought before promoted_at and one unrelated ETH fill: the model has no
 * record (said, never a pass), and its backtest's decisions are in the report. Pass 2: a simulated paper
 * account replays those decisions one bar late with random slippage, one order filled in two parts at 80 %,
 * one order missed and one manual trade; the reconciliation finds and measures each.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { loadBarsFromDir } from '../src/adapters/bars/csv.js';
import { sha256 } from '../src/util/hash.js';
import { EXAMPLE_DATA, cleanupTempDirs, exampleFiles, tempDir, writeTree } from './helpers/e2e.js';
import { installLoopbackGuard } from './helpers/fake-alpaca.js';
import { FakeAlpacaTrading, type FakeFill } from './helpers/fake-alpaca-trading.js';
import { simulatePaperAccount } from './helpers/paper-account.js';

const NOW = new Date('2025-01-02T03:04:05.000Z');
const PROMOTED_AT = '2024-07-20T00:00:00.000Z';
const KEY_ID = 'PKTRACKTEST000000001';
const SECRET = 'tRaCk/secret+key0123456789abcdefghijklmn';
const SRC = 'Alpaca_trading/models/rl_symbols';
const HOUR2 = 2 * 3_600_000;

let fake: FakeAlpacaTrading;
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
  fake = await FakeAlpacaTrading.start();
  fake.requireKeys = { keyId: KEY_ID, secret: SECRET };
});
afterEach(async () => {
  await fake.close();
});

async function run(argv: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    now: () => NOW,
    cwd,
    env: { APCA_API_KEY_ID: KEY_ID, APCA_API_SECRET_KEY: SECRET, APCA_API_BASE_URL: fake.url, PATH: process.env['PATH'] },
  });
  return { code, stdout, stderr };
}

/** A repository with the example's 2-hour (and optionally 4-hour) model deployed on PAPER. */
function repo(models: Record<string, Record<string, unknown>>): string {
  const files = exampleFiles();
  const tree: Record<string, Uint8Array | string> = {};
  const entries: Record<string, unknown> = {};
  for (const [id, extra] of Object.entries(models)) {
    const onnx = files[`${SRC}/${id}.onnx`]!;
    tree[`models/${id}/${id}.onnx`] = onnx;
    tree[`models/${id}/${id}.card.json`] = files[`${SRC}/${id}.card.json`]!;
    entries[id] = {
      model: `models/${id}/${id}.onnx`,
      model_sha256: sha256(Buffer.from(onnx)),
      card: `models/${id}/${id}.card.json`,
      gating: 'APPROVED',
      tier: 'PAPER',
      promoted_at: PROMOTED_AT,
      train_end: '2023-12-31T22:00:00Z',
      ...extra,
    };
  }
  tree['deploy/paper.json'] = JSON.stringify({ models: entries }, null, 2) + '\n';
  return writeTree(tempDir('track-'), tree);
}

const fakeFill = (
  f: { id: string; orderId: string; clientOrderId: string | null; time: number; side: 'buy' | 'sell'; qty: number; price: number; fee: number; feeAsset: 'base' | 'quote' },
  symbol = 'BTC/USD',
): FakeFill => ({
  id: f.id,
  orderId: f.orderId,
  clientOrderId: f.clientOrderId ?? `manual-${f.orderId}`,
  time: f.time,
  symbol,
  side: f.side,
  qty: f.qty,
  price: f.price,
  fee: f.fee > 0 ? { asset: f.feeAsset, amount: f.fee, withOrderId: false } : null,
});

// Bought before promoted_at: the backtest must start from this position too.
const EARLY = {
  id: '20240715000005000::early',
  orderId: 'early-1',
  clientOrderId: null,
  time: Date.parse('2024-07-15T00:00:05Z'),
  side: 'buy' as const,
  qty: 0.25,
  price: 64_000,
  fee: 0,
  feeAsset: 'base' as const,
};
const ETH = {
  id: '20240801000005000::eth',
  orderId: 'eth-1',
  clientOrderId: null,
  time: Date.parse('2024-08-01T00:00:05Z'),
  side: 'buy' as const,
  qty: 1,
  price: 3_200,
  fee: 0.0025,
  feeAsset: 'base' as const,
};

describe('policy-gate track', () => {
  it('says "no record" when nothing is attributed, then finds and measures a simulated paper account\'s departures', async () => {
    const dir = repo({ BTCUSD_2Hour: {} });
    fake.fills = [fakeFill(EARLY), fakeFill(ETH, 'ETH/USD')];
    fake.positions = [
      { symbol: 'BTC/USD', qty: 0.25 },
      { symbol: 'ETH/USD', qty: 1 - 0.0025 },
    ];

    // ---- pass 1: no record
    const first = await run(['track', '--data', EXAMPLE_DATA, '--out', 'out1', '--json'], dir);
    expect(first.code, first.stderr).toBe(0);
    const r1 = JSON.parse(first.stdout);
    expect(r1.command).toBe('track');
    const t1 = r1.models[0].track;
    expect(t1.judgement.verdict).toBe('no_record');
    // the early buy is before promoted_at, so it is not read: the position at the start comes from the account's
    expect(t1.judgement.reasons).toEqual(['no record yet: no fills are attributed to this model on the account']);
    expect(t1.startPosition).toBe(0.25);
    expect(t1.attribution).toEqual({ by: 'symbol', value: 'BTCUSD' });
    const decisions = t1.reconciliation.decisions.items.map((i: any) => i.backtest);
    expect(decisions.length).toBeGreaterThan(10);
    expect(t1.reconciliation.decisions.missed).toBe(decisions.length);
    expect(t1.reconciliation.period.start).toBe(PROMOTED_AT);
    expect(first.stderr).not.toContain(SECRET);
    expect(first.stderr).not.toContain(KEY_ID);

    // ---- pass 2: the simulated paper account
    const { bars } = await loadBarsFromDir(EXAMPLE_DATA, 'BTCUSD', '2Hour');
    const end = bars.time.length - 1;
    const btFills = decisions.map((d: any) => ({ barIndex: d.bar, quantity: d.side === 'buy' ? d.qty : -d.qty }));
    // a buy to fill in part, a sell to miss, a manual buy where the backtest does nothing
    const partialAt = btFills.findIndex((f: any) => f.quantity > 0);
    const missAt = btFills.findIndex((f: any, i: number) => i > partialAt + 1 && f.quantity < 0);
    let manualBar = decisions[0].bar + 1;
    while (btFills.some((f: any) => Math.abs(f.barIndex - manualBar) <= 4)) manualBar++;
    expect(manualBar).toBeLessThan(bars.time.length - 2);
    const account = simulatePaperAccount(
      bars,
      { fills: btFills as never, end },
      {
        lagBars: 1,
        maxSlippageBps: 15,
        seed: 7,
        feeBps: 25,
        partialAt,
        partialShare: 0.8,
        missAt,
        manual: { bar: manualBar, qty: 0.01 },
        qtyDecimals: 9,
        startPosition: 0.25,
      },
    );
    const held = account.fills.reduce((q, f) => q + (f.side === 'buy' ? f.qty - f.fee : -f.qty), 0.25);
    fake.fills = [fakeFill(EARLY), fakeFill(ETH, 'ETH/USD'), ...account.fills.map((f) => fakeFill(f))];
    fake.positions = [
      { symbol: 'BTC/USD', qty: held },
      { symbol: 'ETH/USD', qty: 1 - 0.0025 },
    ];
    fake.requests.length = 0;

    const second = await run(['track', '--data', EXAMPLE_DATA, '--out', 'out2'], dir);
    expect([0, 1]).toContain(second.code);
    const r2 = JSON.parse(readFileSync(path.join(dir, 'out2', 'report.json'), 'utf8'));
    const t2 = r2.models[0].track;
    const rec = t2.reconciliation;
    expect(t2.startPosition).toBeCloseTo(0.25, 9);
    expect(rec.record).toEqual({ status: 'ok' });
    // the same backtest as in pass 1 (same start state)
    expect(rec.items ?? rec.decisions.items.filter((i: any) => i.backtest).map((i: any) => i.backtest)).toEqual(decisions);
    expect(rec.decisions.missed).toBe(1);
    expect(rec.decisions.items.find((i: any) => i.kind === 'missed').backtest).toEqual(decisions[missAt]);
    expect(rec.decisions.extra).toBe(1);
    expect(rec.decisions.items.find((i: any) => i.kind === 'extra').account.orderId).toBe('manual-1');
    expect(rec.decisions.matched).toBe(decisions.length - 1);
    expect(rec.decisions.lag.counts).toEqual({ '1': decisions.length - 1 });
    const partial = rec.decisions.items.find((i: any) => i.account?.orderId === `order-${partialAt}`);
    expect(partial.account.fills).toBe(2);
    expect(partial.qtyRatio).toBeCloseTo(0.8, 6);
    // shortfall per fill, computed here from the account's fills and pass 1's backtest prices
    const expected = account.fills
      .filter((f) => f.orderId !== 'manual-1')
      .map((f) => {
        const d = decisions[Number(f.orderId.split('-')[1])];
        return f.side === 'buy' ? ((f.price - d.price) / d.price) * 1e4 : ((d.price - f.price) / d.price) * 1e4;
      });
    expect(rec.shortfall.perFill.map((s: any) => s.shortfallBps)).toEqual(expected.map((e: number) => expect.closeTo(e, 8)));
    expect(rec.shortfall.shortfallBps.mean).toBeCloseTo(expected.reduce((a: number, v: number) => a + v, 0) / expected.length, 8);
    // the sleeve: 0.25 BTC at the first open, then the fills, marked at each 2-hour close
    const startBar = bars.time.findIndex((t) => t >= Date.parse(PROMOTED_AT));
    const cash0 = 100_000 - 0.25 * bars.open[startBar]!;
    const k = rec.sleeve.equity.length - 1;
    let q = 0.25;
    let cash = cash0;
    for (const f of account.fills) {
      if (f.side === 'buy') {
        q += f.qty - f.fee;
        cash -= f.qty * f.price;
      } else {
        q -= f.qty;
        cash += f.qty * f.price - f.fee;
      }
    }
    expect(rec.sleeve.equity[k]).toBeCloseTo(cash + q * bars.close[end]!, 4);
    expect(rec.sleeve.finalPosition).toBeCloseTo(held, 9);
    expect(rec.period.end).toBe(new Date(bars.time[end]! + HOUR2).toISOString());

    // printed, and written to report.json / .md / .html
    expect(second.stdout).toContain('=== BTCUSD_2Hour (PAPER, paper account, since 2024-07-20T00:00:00.000Z) ===');
    expect(second.stdout).toContain(`decisions: ${decisions.length - 1} matched, 1 missed, 1 extra of ${decisions.length + 1}`);
    const md = readFileSync(path.join(dir, 'out2', 'report.md'), 'utf8');
    expect(md).toContain('Record on the paper account since 2024-07-20T00:00:00.000Z');
    const html = readFileSync(path.join(dir, 'out2', 'report.html'), 'utf8');
    expect(html).toContain('Record on the paper account');
    expect(html).toContain('data-chart="reconciliation"');
    // every account order marked along the top, every backtest decision along the bottom; the extra and the missed one hollow
    expect(html.match(/data-kind="account-/g)!.length).toBe(decisions.length);
    expect(html.match(/data-kind="backtest-/g)!.length).toBe(decisions.length);
    expect(html).toMatch(/class="fill-mark pos hollow" data-kind="account-extra"/);
    expect(html).toMatch(/class="fill-mark neg hollow" data-kind="backtest-missed"/);
    // --end pins the window; the position at promoted_at still comes from every fill since then
    const pinned = await run(['track', '--data', EXAMPLE_DATA, '--end', '2024-09-01T00:00:00Z', '--json'], dir);
    const tp = JSON.parse(pinned.stdout).models[0].track;
    expect(tp.startPosition).toBeCloseTo(0.25, 9);
    expect(tp.reconciliation.period.end).toBe('2024-09-01T00:00:00.000Z');
    expect(tp.reconciliation.trades.fillsOutsideWindow).toBe(account.fills.filter((f) => f.time >= Date.parse('2024-09-01T00:00:00Z')).length);
    expect(tp.reconciliation.trades.fillsOutsideWindow).toBeGreaterThan(0);

    // read only: nothing but GETs reached the account
    expect(fake.requests.length).toBeGreaterThan(0);
    expect(fake.requests.every((r) => r.method === 'GET')).toBe(true);
  }, 120_000);

  it('gives no record to two models that share a symbol without client_order_id prefixes, and attributes by prefix when given', async () => {
    const dir = repo({ BTCUSD_2Hour: {}, BTCUSD_4Hour: {} });
    fake.fills = [fakeFill(ETH, 'ETH/USD')];
    const res = await run(['track', '--data', EXAMPLE_DATA, '--json'], dir);
    expect(res.code, res.stderr).toBe(0);
    const r = JSON.parse(res.stdout);
    for (const m of r.models) {
      expect(m.track.judgement.verdict).toBe('no_record');
      expect(m.track.judgement.reasons[0]).toBe(
        'no record yet: BTCUSD_2Hour, BTCUSD_4Hour all trade BTCUSD on this account: give each entry a client_order_id_prefix (the prefix of the client_order_id its orders are sent with)',
      );
    }

    const dir2 = repo({ BTCUSD_2Hour: { client_order_id_prefix: 'pg-2h-' }, BTCUSD_4Hour: { client_order_id_prefix: 'pg-4h-' } });
    const t = Date.parse('2024-08-10T10:00:05Z');
    fake.fills = [
      fakeFill({ id: `${t}::a`, orderId: 'a', clientOrderId: 'pg-2h-0001', time: t, side: 'buy', qty: 0.5, price: 60_000, fee: 0.00125, feeAsset: 'base' }),
      fakeFill({ id: `${t + 1}::b`, orderId: 'b', clientOrderId: 'pg-4h-0001', time: t + 1, side: 'buy', qty: 0.7, price: 60_010, fee: 0.00175, feeAsset: 'base' }),
      fakeFill({ id: `${t + 2}::c`, orderId: 'c', clientOrderId: 'someone-else', time: t + 2, side: 'buy', qty: 0.1, price: 60_020, fee: 0, feeAsset: 'base' }),
    ];
    const res2 = await run(['track', '--data', EXAMPLE_DATA, '--json'], dir2);
    const r2 = JSON.parse(res2.stdout);
    const byId = Object.fromEntries(r2.models.map((m: any) => [m.id, m.track]));
    expect(byId.BTCUSD_2Hour.attribution).toEqual({ by: 'client_order_id_prefix', value: 'pg-2h-' });
    expect(byId.BTCUSD_2Hour.reconciliation.trades.accountFills).toBe(1);
    expect(byId.BTCUSD_2Hour.reconciliation.sleeve.finalPosition).toBeCloseTo(0.5 - 0.00125, 12);
    expect(byId.BTCUSD_4Hour.reconciliation.sleeve.finalPosition).toBeCloseTo(0.7 - 0.00175, 12);
  }, 120_000);

  it('has no record without keys, and asks the account nothing', async () => {
    const dir = repo({ BTCUSD_2Hour: {} });
    let stdout = '';
    const code = await main(['track', '--data', EXAMPLE_DATA, '--json'], { stdout: (t) => (stdout += t), stderr: () => undefined, now: () => NOW, cwd: dir, env: { APCA_API_BASE_URL: fake.url } });
    expect(code).toBe(0);
    const m = JSON.parse(stdout).models[0];
    expect(m.track.judgement.verdict).toBe('no_record');
    expect(m.track.judgement.reasons[0]).toMatch(/^no record yet: the paper account cannot be read: reading the trading account needs Alpaca API keys/);
    expect(fake.requests).toEqual([]);
    writeFileSync(path.join(dir, 'x'), ''); // the repository stays writable: nothing else to check
  }, 120_000);

  it('makes a PAPER model whose record holds eligible for LIVE, and demotes one whose fills cost far more than assumed (exit 1)', async () => {
    // BTCUSD_4Hour's latest walk-forward: 4/5 positive folds, Sharpe std 1.50 — LIVE under these thresholds
    const dir = repo({ BTCUSD_4Hour: {} });
    writeFileSync(path.join(dir, 'pg.yml'), 'decision:\n  live: { min_positive_share: 0.8, max_sharpe_std: 2 }\n  no_observation_parity_cap: LIVE\n  track: { min_trades: 3 }\n');
    fake.fills = [fakeFill(ETH, 'ETH/USD')];
    const first = await run(['track', '--data', EXAMPLE_DATA, '--config', 'pg.yml', '--json'], dir);
    expect(first.code, first.stderr).toBe(0);
    const m1 = JSON.parse(first.stdout).models[0];
    expect(m1.decision.tier).toBe('LIVE');
    expect(m1.track.judgement.verdict).toBe('no_record');
    const decisions = m1.track.reconciliation.decisions.items.map((i: any) => i.backtest);
    expect(decisions.length).toBe(3); // a slow model: three orders in 54 days (hence min_trades 3 above)
    const { bars } = await loadBarsFromDir(EXAMPLE_DATA, 'BTCUSD', '4Hour');
    const btFills = decisions.map((d: any) => ({ barIndex: d.bar, quantity: d.side === 'buy' ? d.qty : -d.qty }));
    const replay = async (maxSlippageBps: number) => {
      const account = simulatePaperAccount(
        bars,
        { fills: btFills as never, end: bars.time.length - 1 },
        {
          lagBars: 0,
          maxSlippageBps,
          seed: 3,
          feeBps: 25,
          partialAt: null,
          partialShare: 1,
          missAt: null,
          manual: null,
          qtyDecimals: 9,
        },
      );
      fake.fills = [fakeFill(ETH, 'ETH/USD'), ...account.fills.map((f) => fakeFill(f))];
      fake.positions = [{ symbol: 'BTC/USD', qty: account.fills.reduce((q, f) => q + (f.side === 'buy' ? f.qty - f.fee : -f.qty), 0) }];
      const res = await run(['track', '--data', EXAMPLE_DATA, '--config', 'pg.yml', '--json'], dir);
      const meanCost = account.slippageBps.reduce((a, v) => a + v, 0) / account.slippageBps.length + 25;
      return { res, track: JSON.parse(res.stdout).models[0].track, meanCost };
    };

    const good = await replay(10);
    expect(good.res.code, good.res.stderr).toBe(0);
    expect(good.track.reconciliation.decisions).toMatchObject({ matched: decisions.length, missed: 0, extra: 0 });
    expect(good.track.reconciliation.shortfall.costBps.mean).toBeCloseTo(good.meanCost, 6);
    expect(good.track.judgement.verdict).toBe('eligible_live');
    expect(good.track.judgement.reasons[0]).toMatch(/^eligible for LIVE: 53\.7 days on record ≥ 30; 3 orders on record ≥ 3; mean realised cost \d+\.\d bps = \d\.\d\d × the assumed 30 bps ≤ 2 ×;/);
    expect(JSON.parse(good.res.stdout).conclusionReasons[0]).toMatch(/^BTCUSD_4Hour: eligible for LIVE/);

    const bad = await replay(300);
    expect(bad.res.code).toBe(1);
    expect(bad.track.judgement.verdict).toBe('demote');
    const ratio = bad.meanCost / 30;
    expect(bad.track.reconciliation.shortfall.ratio).toBeCloseTo(ratio, 6);
    expect(bad.track.judgement.reasons[0]).toContain(`mean realised cost ${bad.meanCost.toFixed(1)} bps = ${ratio.toFixed(2)} × the assumed 30 bps > 2 ×`);
  }, 120_000);
});
