import { trading } from '@alpacahq/alpaca-trade-api/rest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AlpacaHttp, ReadOnlyViolation } from '../src/adapters/alpaca/http.js';
import { Redactor } from '../src/adapters/alpaca/redact.js';
import { AlpacaTrading, PAPER_TRADING_HOST, tradingBaseUrl } from '../src/adapters/alpaca/trading.js';
import { faults, installLoopbackGuard } from './helpers/fake-alpaca.js';
import { FakeAlpacaTrading, type FakeFill } from './helpers/fake-alpaca-trading.js';

const KEY_ID = 'PKTESTKEY0000000001';
const SECRET = 'sEcReT/tradingkey+0123456789abcdefghijkl';
const T0 = Date.parse('2025-03-01T00:00:00Z');
const HOUR = 3_600_000;

let fake: FakeAlpacaTrading;
let guard: ReturnType<typeof installLoopbackGuard>;

beforeAll(() => {
  guard = installLoopbackGuard();
});
afterAll(() => {
  guard.restore();
  expect(guard.violations).toEqual([]);
});
beforeEach(async () => {
  fake = await FakeAlpacaTrading.start();
});
afterEach(async () => {
  await fake.close();
});

function env(over: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { APCA_API_KEY_ID: KEY_ID, APCA_API_SECRET_KEY: SECRET, APCA_API_BASE_URL: fake.url, ...over };
}

function client(e: NodeJS.ProcessEnv, logs: string[] = [], sleeps: number[] = []): AlpacaTrading {
  let now = Date.parse('2025-04-01T00:00:00Z');
  return new AlpacaTrading({
    env: e,
    account: 'paper',
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
    log: (l) => logs.push(l),
  });
}

/** `n` one-fill orders, alternately buy and sell, an hour apart; every 7th order fills in two parts. */
function fills(n: number): FakeFill[] {
  const out: FakeFill[] = [];
  for (let i = 0; i < n; i++) {
    const t = T0 + i * HOUR + 5_000;
    const side = i % 2 === 0 ? 'buy' : 'sell';
    const id = (k: number): string => `${new Date(t + k).toISOString().replace(/\D/g, '')}::fill-${i}-${k}`;
    const fee = { asset: side === 'buy' ? ('base' as const) : ('quote' as const), amount: side === 'buy' ? 0.0025 * 0.1 : 40_000 * 0.1 * 0.0025, withOrderId: i % 3 === 0 };
    if (i % 7 === 3) {
      // each part of a partial fill has its own fee: 0.6 and 0.4 of the order's
      const part = (share: number) => ({ ...fee, amount: fee.amount * share });
      out.push({ id: id(0), orderId: `ord-${i}`, clientOrderId: `pg-BTCUSD_1Hour-${i}`, time: t, symbol: 'BTC/USD', side, qty: 0.06, price: 40_000, fee: part(0.6) });
      out.push({ id: id(1), orderId: `ord-${i}`, clientOrderId: `pg-BTCUSD_1Hour-${i}`, time: t + 1, symbol: 'BTC/USD', side, qty: 0.04, price: 40_010, fee: part(0.4) });
    } else {
      out.push({ id: id(0), orderId: `ord-${i}`, clientOrderId: `pg-BTCUSD_1Hour-${i}`, time: t, symbol: 'BTC/USD', side, qty: 0.1, price: 40_000 + i, fee });
    }
  }
  return out;
}

describe('trading base URL', () => {
  it('defaults to the paper endpoint, the live one for a live account, and refuses plain http off this machine', () => {
    expect(tradingBaseUrl({}, 'paper')).toBe('https://paper-api.alpaca.markets');
    expect(tradingBaseUrl({}, 'live')).toBe('https://api.alpaca.markets');
    expect(tradingBaseUrl({ APCA_API_BASE_URL: 'http://127.0.0.1:9/v2/' }, 'paper')).toBe('http://127.0.0.1:9');
    expect(() => tradingBaseUrl({ APCA_API_BASE_URL: 'http://paper-api.example.com' }, 'paper')).toThrow(/unencrypted/);
    expect(() => tradingBaseUrl({ APCA_API_BASE_URL: 'https://user:pw@paper-api.alpaca.markets' }, 'paper')).toThrow(/credentials/);
  });
});

describe('AlpacaTrading.record against a loopback trading API', () => {
  it('reads every page of fills, fees and orders, attaches fees and client order ids, and only ever GETs', async () => {
    fake.fills = fills(230); // 263 fill activities: 3 pages of 100; 230 orders
    fake.positions = [{ symbol: 'BTC/USD', qty: 0.1 }];
    fake.requireKeys = { keyId: KEY_ID, secret: SECRET };
    const c = client(env());
    const rec = await c.record(T0 - HOUR, T0 + 300 * HOUR);

    expect(rec.account).toMatchObject({ status: 'ACTIVE', currency: 'USD', equity: 100_000 });
    expect(rec.fills.length).toBe(263);
    expect(rec.orders).toBe(230);
    expect(rec.positions).toEqual([{ symbol: 'BTCUSD', qty: 0.1 }]);
    expect(rec.notes).toEqual([]);
    // activity pages: page_token is the last id of the page before
    const fillPages = fake.requests.filter((r) => r.path === '/v2/account/activities/FILL');
    expect(fillPages.length).toBe(3);
    expect(fillPages[0]!.query).toMatchObject({ direction: 'asc', page_size: '100', after: new Date(T0 - HOUR).toISOString(), until: new Date(T0 + 300 * HOUR).toISOString() });
    expect(fillPages[0]!.query['page_token']).toBeUndefined();
    expect(fillPages[1]!.query['page_token']).toBe(rec.fills[99]!.id);
    expect(fillPages[2]!.query['page_token']).toBe(rec.fills[199]!.id);
    expect(fake.requests.filter((r) => r.path === '/v2/orders').map((r) => r.query['status'])).toEqual(['closed']);

    // fees: a buy's in BTC, a sell's in USD, on the last fill of a partially filled order
    const f0 = rec.fills.find((f) => f.orderId === 'ord-0')!;
    expect(f0).toMatchObject({ symbol: 'BTCUSD', side: 'buy', qty: 0.1, price: 40_000, feeAsset: 'base', clientOrderId: 'pg-BTCUSD_1Hour-0' });
    expect(f0.fee).toBeCloseTo(0.00025, 15);
    const f1 = rec.fills.find((f) => f.orderId === 'ord-1')!;
    expect(f1).toMatchObject({ side: 'sell', feeAsset: 'quote' });
    expect(f1.fee).toBeCloseTo(10, 12);
    const partial = rec.fills.filter((f) => f.orderId === 'ord-3');
    expect(partial.map((f) => [f.qty, f.fee, f.feeAsset])).toEqual([
      [0.06, expect.closeTo(6, 9), 'quote'],
      [0.04, expect.closeTo(4, 9), 'quote'],
    ]);
    // an order whose fees name no order_id (i = 10: a buy, fees in BTC)
    const partial10 = rec.fills.filter((f) => f.orderId === 'ord-10');
    expect(partial10.map((f) => [f.qty, f.fee, f.feeAsset])).toEqual([
      [0.06, expect.closeTo(0.00015, 15), 'base'],
      [0.04, expect.closeTo(0.0001, 15), 'base'],
    ]);
    expect(new Set(rec.fills.map((f) => f.time)).size).toBe(263);

    // read-only: every request a GET on the five read paths, none to place an order
    expect(fake.requests.every((r) => r.method === 'GET')).toBe(true);
    expect(new Set(fake.requests.map((r) => r.path))).toEqual(new Set(['/v2/account', '/v2/account/activities/FILL', '/v2/account/activities/CFEE', '/v2/orders', '/v2/positions']));
  });

  it('reads fill times with a UTC offset as the same instant, and fractional quantities as written', async () => {
    fake.fills = [{ id: '1::a', orderId: 'a', clientOrderId: 'x', time: T0, symbol: 'BTC/USD', side: 'buy', qty: 0.000123456, price: 40_000.5, fee: null }];
    const server = fake as unknown as { fillActivities: () => Record<string, unknown>[] };
    const original = server.fillActivities.bind(fake);
    // Alpaca writes UTC, but an RFC 3339 offset must not move the fill to another bar
    server.fillActivities = () => original().map((a) => ({ ...a, transaction_time: '2025-03-01T02:00:00+02:00' }));
    const rec = await client(env()).record(T0 - HOUR, T0 + HOUR);
    expect(rec.fills[0]!.time).toBe(T0);
    expect(rec.fills[0]!.qty).toBe(0.000123456);
    expect(rec.fills[0]!.price).toBe(40_000.5);
  });

  it('pages closed orders past 500 without losing or repeating one', async () => {
    fake.fills = fills(620);
    const rec = await client(env()).record(T0 - HOUR, T0 + 700 * HOUR);
    expect(rec.orders).toBe(620);
    const orderPages = fake.requests.filter((r) => r.path === '/v2/orders');
    expect(orderPages.length).toBe(2);
    expect(rec.fills.every((f) => f.clientOrderId === `pg-BTCUSD_1Hour-${f.orderId.slice(4)}`)).toBe(true);
  });

  it('retries 429 (after Retry-After), 503, a cut JSON body and a short body, and still reads everything', async () => {
    fake.fills = fills(12);
    fake.fault(faults.status(429, { 'Retry-After': '7' }), faults.status(503), faults.cutJson(), faults.shortContentLength());
    const logs: string[] = [];
    const sleeps: number[] = [];
    const rec = await client(env(), logs, sleeps).record(T0 - HOUR, T0 + 30 * HOUR);
    expect(rec.fills.length).toBe(14); // orders 3 and 10 fill in two parts
    expect(rec.fills.every((f) => f.fee > 0)).toBe(true);
    expect(sleeps[0]).toBe(7000);
    // all four hit the first request (the account): attempts 2, 3 and 4 back off 2 s, 4 s, 8 s
    expect(sleeps.slice(1)).toEqual([2000, 4000, 8000]);
    expect(logs.join('\n')).toMatch(/malformed response body/);
    expect(logs.join('\n')).toMatch(/truncated response body|connection failed/);
    expect(logs.join('\n')).toMatch(/rate limited \(HTTP 429\)/);
    expect(logs.join('\n')).toMatch(/HTTP 503/);
  });

  it('says when keys are absent (and asks nothing), and never prints a key', async () => {
    const none = client({ APCA_API_BASE_URL: fake.url });
    expect(none.missingKeys()).toMatch(/APCA_API_KEY_ID/);
    await expect(none.record(T0, T0 + HOUR)).rejects.toThrow(/needs Alpaca API keys/);
    expect(fake.requests.length).toBe(0);

    fake.requireKeys = { keyId: 'other', secret: 'other' };
    const logs: string[] = [];
    const err = await client(env(), logs)
      .record(T0, T0 + HOUR)
      .catch((e: unknown) => e as Error);
    expect(String((err as Error).message)).toMatch(/HTTP 401/);
    for (const text of [(err as Error).message, ...logs]) {
      expect(text).not.toContain(KEY_ID);
      expect(text).not.toContain(SECRET);
    }
  });
});

describe('read-only client', () => {
  it("refuses to send an order: the SDK's postOrder fails before any byte leaves, and the server sees nothing", async () => {
    const http = new AlpacaHttp({
      keys: { keyId: KEY_ID, secret: SECRET, source: 'test' },
      baseUrl: fake.url,
      clientHost: PAPER_TRADING_HOST,
      readOnly: true,
      now: () => 0,
      sleep: async () => undefined,
      log: () => undefined,
      redactor: new Redactor(),
      timeoutMs: 5000,
      maxRequestsPerMinute: 0,
    });
    const api = new trading.OrdersApi(new trading.Configuration({ keyId: KEY_ID, secret: SECRET, fetchApi: http.fetch }));
    const err = await api.postOrder({ postOrderRequest: { symbol: 'BTC/USD', qty: '1', side: 'buy', type: 'market', timeInForce: 'gtc' } } as never).catch((e: unknown) => e);
    let cause: unknown = err;
    while (cause && !(cause instanceof ReadOnlyViolation)) cause = (cause as { cause?: unknown }).cause;
    expect(cause).toBeInstanceOf(ReadOnlyViolation);
    expect((cause as ReadOnlyViolation).method).toBe('POST');
    expect((cause as ReadOnlyViolation).path).toBe('/v2/orders');
    expect(fake.requests).toEqual([]);
  });
});
