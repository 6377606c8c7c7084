import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { loadBarsFromDir } from '../src/adapters/bars/csv.js';
import { barsProvider } from '../src/app/validate.js';
import { defaultConfig } from '../src/config/schema.js';
import {
  AlpacaBarsSource,
  cacheFilePath,
  equityGapNotes,
  historyRange,
  isTradingDay,
  nyTimeToUtc,
  parseKeysFile,
  readAlpacaKeys,
  Redactor,
  regularSession,
  secretForms,
  toAlpacaSymbol,
  type AlpacaSourceOptions,
} from '../src/adapters/alpaca/index.js';
import { PolicyGateError } from '../src/core/errors.js';
import type { BarSeries, Timeframe } from '../src/core/types.js';
import { FakeAlpaca, faults, installLoopbackGuard, syntheticBars, wireBarsFromCsv } from './helpers/fake-alpaca.js';

const root = path.resolve(import.meta.dirname, '..');
const H = 3_600_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2024, 0, 1);

// Test credentials. Everything the suite sees (errors, logs, cache files) is collected and searched
// for these in every encoding at the end.
const KEY = 'PKTESTKEYID7Q2W9Z4XJ';
const SECRET = 'sEcReT-TeSt+Value/9f8e7d6c5b4a3210zyxwvUTS';
const outputs: string[] = [];
const cacheDirs: string[] = [];
const tmpRoot = mkdtempSync(path.join(tmpdir(), 'pg-alpaca-'));

const guard = installLoopbackGuard();
let server: FakeAlpaca;

beforeAll(async () => {
  server = await FakeAlpaca.start();
});

afterEach(() => {
  server.always(null);
  server.requireKeys = null;
  server.repeatToken = false;
  server.pageSize = 10_000;
  server.stocks.clear();
  server.crypto.clear();
});

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

afterAll(async () => {
  await server.close();
  // NO SECRET IN ANY OUTPUT: every error message, log line and cache file of the whole suite
  const files = cacheDirs.flatMap(filesUnder);
  expect(files.length).toBeGreaterThan(3);
  const everything = [...outputs, ...files.map((f) => readFileSync(f, 'utf8'))];
  const forbidden = new Set<string>([
    KEY,
    SECRET,
    encodeURIComponent(KEY),
    encodeURIComponent(SECRET),
    Buffer.from(KEY).toString('base64'),
    Buffer.from(SECRET).toString('base64'),
    Buffer.from(`${KEY}:${SECRET}`).toString('base64'),
    ...secretForms(KEY),
    ...secretForms(SECRET),
  ]);
  for (const text of everything) {
    for (const f of forbidden) expect(text.includes(f), `a secret form leaked: ${text.slice(0, 200)}`).toBe(false);
  }
  guard.restore();
  expect(guard.violations).toEqual([]);
  rmSync(tmpRoot, { recursive: true, force: true });
});

// ------------------------------------------------------------------ harness

interface Harness {
  source: AlpacaBarsSource;
  sleeps: number[];
  logs: string[];
  clock: { t: number };
  cacheDir: string;
}

function newCacheDir(): string {
  const dir = mkdtempSync(path.join(tmpRoot, 'cache-'));
  cacheDirs.push(dir);
  return dir;
}

function noCacheFileIn(h: Harness): void {
  expect(filesUnder(h.cacheDir)).toEqual([]);
}

function harness(over: Partial<AlpacaSourceOptions> & { nowMs?: number; cacheDir?: string; envExtra?: NodeJS.ProcessEnv; noKeys?: boolean } = {}): Harness {
  const clock = { t: over.nowMs ?? Date.UTC(2025, 0, 1) };
  const sleeps: number[] = [];
  const logs: string[] = [];
  const cacheDir = over.cacheDir ?? newCacheDir();
  const env: NodeJS.ProcessEnv = {
    APCA_API_DATA_URL: server.url,
    ...(over.noKeys ? {} : { APCA_API_KEY_ID: KEY, APCA_API_SECRET_KEY: SECRET }),
    ...over.envExtra,
  };
  const source = new AlpacaBarsSource({
    feed: 'iex',
    adjustment: 'all',
    cacheDir,
    env,
    now: () => clock.t,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.t += ms;
    },
    log: (line) => {
      logs.push(line);
      outputs.push(line);
    },
    ...over,
  });
  return { source, sleeps, logs, clock, cacheDir };
}

async function failure(p: Promise<unknown>): Promise<PolicyGateError> {
  try {
    await p;
  } catch (err) {
    outputs.push(String((err as Error).message), String((err as Error).stack));
    expect(err).toBeInstanceOf(PolicyGateError);
    return err as PolicyGateError;
  }
  throw new Error('expected a failure');
}

function cols(b: BarSeries): number[][] {
  return [b.time, b.open, b.high, b.low, b.close, b.volume].map((a) => Array.from(a));
}

const iso = (ms: number): string => new Date(ms).toISOString();

// ------------------------------------------------------------------ symbols, keys, redaction

describe('toAlpacaSymbol', () => {
  it('splits crypto pairs and keeps tickers', () => {
    expect(toAlpacaSymbol('UNIUSD', 'crypto')).toBe('UNI/USD');
    expect(toAlpacaSymbol('BTCUSD', 'crypto')).toBe('BTC/USD');
    expect(toAlpacaSymbol('btc/usd', 'crypto')).toBe('BTC/USD');
    expect(toAlpacaSymbol('ETHUSDT', 'crypto')).toBe('ETH/USDT');
    expect(toAlpacaSymbol('ETHBTC', 'crypto')).toBe('ETH/BTC');
    expect(toAlpacaSymbol('aapl', 'us_equity')).toBe('AAPL');
    expect(toAlpacaSymbol('BRK.B', 'us_equity')).toBe('BRK.B');
  });
  it('refuses what Alpaca cannot name', () => {
    expect(() => toAlpacaSymbol('XYZ', 'crypto')).toThrow(/BASE\/QUOTE/);
    expect(() => toAlpacaSymbol('../etc', 'us_equity')).toThrow(PolicyGateError);
    expect(() => toAlpacaSymbol('BTC/USD', 'us_equity')).toThrow(/stock symbol/);
  });
});

describe('readAlpacaKeys', () => {
  const file = (name: string, text: string): string => {
    const p = path.join(tmpRoot, name);
    writeFileSync(p, text);
    return p;
  };

  it('reads the environment first', () => {
    const k = readAlpacaKeys({ APCA_API_KEY_ID: KEY, APCA_API_SECRET_KEY: SECRET, ALPACA_KEYS_FILE: '/nonexistent' });
    expect(k).toMatchObject({ keyId: KEY, secret: SECRET });
    expect(k!.source).toContain('APCA_API_KEY_ID');
    expect(k!.source).not.toContain(KEY);
  });

  it('returns null when nothing is configured, and refuses half a pair', () => {
    expect(readAlpacaKeys({})).toBeNull();
    let err: unknown;
    try {
      readAlpacaKeys({ APCA_API_KEY_ID: KEY });
    } catch (e) {
      err = e;
    }
    expect((err as PolicyGateError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/APCA_API_SECRET_KEY is not/);
    expect((err as Error).message).not.toContain(KEY);
  });

  it.each([
    ['two lines', `${KEY}\n${SECRET}\n`],
    ['two lines, CRLF, BOM and a comment', `\uFEFF# alpaca paper\r\n${KEY}\r\n${SECRET}\r\n`],
    ['APCA names', `APCA_API_KEY_ID=${KEY}\nAPCA_API_SECRET_KEY=${SECRET}\n`],
    ['ALPACA_API_KEY / ALPACA_SECRET_KEY with export and quotes', `# x\nexport ALPACA_API_KEY="${KEY}"\nexport ALPACA_SECRET_KEY='${SECRET}'\nOTHER=1\n`],
    ['ALPACA_API_KEY_ID / ALPACA_API_SECRET_KEY, colon style', `alpaca_api_key_id: ${KEY}\nalpaca_api_secret_key: ${SECRET}\n`],
    ['JSON key_id / secret_key', JSON.stringify({ key_id: KEY, secret_key: SECRET })],
    ['JSON keyId / secret', JSON.stringify({ keyId: KEY, secret: SECRET })],
    ['JSON api_key / api_secret', JSON.stringify({ api_key: KEY, api_secret: SECRET, paper: true })],
  ])('reads a keys file: %s', (name, text) => {
    const p = file(`keys-${name.replace(/\W+/g, '-')}`, text);
    const k = readAlpacaKeys({ ALPACA_KEYS_FILE: p });
    expect(k).toMatchObject({ keyId: KEY, secret: SECRET });
    expect(k!.source).toContain(p);
  });

  it('names the file and the layouts, never its content, when it cannot be used', () => {
    for (const [env, re] of [
      [{ ALPACA_KEYS_FILE: path.join(tmpRoot, 'missing.keys') }, /cannot be read \(ENOENT\)/],
      [{ ALPACA_KEYS_FILE: file('bad.keys', `just-one-line-${SECRET}\n`) }, /no Alpaca keys in a known layout.*two lines/],
      [{ ALPACA_KEYS_FILE: file('bad.json', JSON.stringify({ key_id: KEY })) }, /no Alpaca keys/],
    ] as const) {
      let err: unknown;
      try {
        readAlpacaKeys(env);
      } catch (e) {
        err = e;
      }
      outputs.push((err as Error).message);
      expect((err as PolicyGateError).exitCode).toBe(2);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).toContain('ALPACA_KEYS_FILE');
    }
  });

  it('parseKeysFile refuses unknown shapes', () => {
    expect(parseKeysFile('')).toBeNull();
    expect(parseKeysFile('a b\nc d\n')).toBeNull();
    expect(parseKeysFile('one\ntwo\nthree\n')).toBeNull();
    expect(parseKeysFile('[1,2]')).toBeNull();
  });
});

describe('Redactor', () => {
  const r = new Redactor([KEY, SECRET]);

  it('removes plain, URL-encoded, base64 and base64url forms', () => {
    const text = [
      `key=${KEY}`,
      `secret=${encodeURIComponent(SECRET)}`,
      `b64=${Buffer.from(SECRET).toString('base64')}`,
      `b64url=${Buffer.from(SECRET).toString('base64url')}`,
      `basic=${Buffer.from(`${KEY}:${SECRET}`).toString('base64')}`,
      `enc-b64=${encodeURIComponent(Buffer.from(SECRET).toString('base64'))}`,
    ].join(' ');
    const out = r.redact(text);
    expect(out).not.toContain(KEY);
    expect(out).not.toContain(SECRET);
    for (const f of secretForms(SECRET)) expect(out).not.toContain(f);
    expect(out).toContain('[REDACTED]');
    expect(out).toMatch(/^key=\[REDACTED\] secret=\[REDACTED\]/);
  });

  it('finds the secret inside the base64 of any surrounding text, at every alignment', () => {
    for (let pre = 0; pre < 7; pre++) {
      for (let post = 0; post < 4; post++) {
        const wrapped = Buffer.from(`${'x'.repeat(pre)}${SECRET}${'y'.repeat(post)}`).toString('base64');
        const out = r.redact(`header: ${wrapped}`);
        // whatever remains must not decode back to the secret
        expect(Buffer.from(out.replace('header: ', ''), 'base64').toString('latin1')).not.toContain(SECRET);
        expect(out).toContain('[REDACTED]');
      }
    }
  });

  it('leaves innocent text alone', () => {
    expect(r.redact('BTC/USD 1Hour: 3 requests')).toBe('BTC/USD 1Hour: 3 requests');
    expect(new Redactor([undefined, '']).redact('abc')).toBe('abc');
  });
});

// ------------------------------------------------------------------ fetching

describe('stocks', () => {
  it('follows every page and sends feed and adjustment explicitly', async () => {
    server.stocks.set('AAPL', syntheticBars(T0, H, 2500, 180));
    server.pageSize = 1000;
    const h = harness();
    const got = await h.source.get('AAPL', '1Hour', 'us_equity', { startMs: T0, endMs: T0 + 2500 * H });
    expect(got.bars.time.length).toBe(2500);
    expect(got.requests).toBe(3);
    expect(got.fromCache).toBe(false);
    expect(got.bars.symbol).toBe('AAPL');
    expect(got.bars.time[0]).toBe(T0);
    expect(got.bars.time[2499]).toBe(T0 + 2499 * H);
    const reqs = server.barRequests();
    expect(reqs).toHaveLength(3);
    for (const r of reqs) {
      expect(r.path).toBe('/v2/stocks/bars');
      expect(r.query).toMatchObject({ symbols: 'AAPL', timeframe: '1Hour', feed: 'iex', adjustment: 'all', start: iso(T0), end: iso(T0 + 2500 * H) });
      expect(r.headers['apca-api-key-id']).toBe(KEY);
      expect(r.headers['apca-api-secret-key']).toBe(SECRET);
    }
    expect(reqs[0]!.query['page_token']).toBeUndefined();
    expect(reqs[1]!.query['page_token']).toBeDefined();
    expect(reqs[2]!.query['page_token']).not.toBe(reqs[1]!.query['page_token']);
    expect(h.source.stats()).toEqual({ requests: 3, cacheHits: 0 });
    server.requests.length = 0;
  });

  it('sends the configured feed and adjustment (sip, split)', async () => {
    server.stocks.set('MSFT', syntheticBars(T0, DAY, 10, 370));
    const h = harness({ feed: 'sip', adjustment: 'split' });
    await h.source.get('MSFT', '1Day', 'us_equity', { startMs: T0, endMs: T0 + 10 * DAY });
    const r = server.barRequests().at(-1)!;
    expect(r.query['feed']).toBe('sip');
    expect(r.query['adjustment']).toBe('split');
    // the cache keeps feeds apart
    expect(cacheFilePath(h.cacheDir, { provider: 'alpaca', host: server.url, assetClass: 'us_equity', symbol: 'MSFT', timeframe: '1Day', feed: 'sip', adjustment: 'split' })).toMatch(
      /MSFT_1Day_sip_split_[0-9a-f]{12}\.json$/,
    );
  });

  it('missing keys: exit 2 naming every place keys can come from, and no request', async () => {
    const n = server.requests.length;
    const h = harness({ noKeys: true });
    const err = await failure(h.source.get('AAPL', '1Hour', 'us_equity', { startMs: T0, endMs: T0 + 10 * H }));
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain('APCA_API_KEY_ID');
    expect(err.message).toContain('APCA_API_SECRET_KEY');
    expect(err.message).toContain('ALPACA_KEYS_FILE');
    expect(server.requests.length).toBe(n);
  });

  it('reads keys from ALPACA_KEYS_FILE', async () => {
    const p = path.join(tmpRoot, 'env.keys');
    writeFileSync(p, `ALPACA_API_KEY=${KEY}\nALPACA_SECRET_KEY=${SECRET}\n`);
    server.stocks.set('AAPL', syntheticBars(T0, H, 5));
    server.requireKeys = { keyId: KEY, secret: SECRET };
    const h = harness({ noKeys: true, envExtra: { ALPACA_KEYS_FILE: p } });
    const got = await h.source.get('AAPL', '1Hour', 'us_equity', { startMs: T0, endMs: T0 + 5 * H });
    expect(got.bars.time.length).toBe(5);
  });

  it('401: "bad key", no retry, and the echoed headers are redacted', async () => {
    server.stocks.set('AAPL', syntheticBars(T0, H, 5));
    server.requireKeys = { keyId: 'PKOTHERKEY', secret: 'other-secret' };
    const h = harness();
    const n = server.barRequests().length;
    const err = await failure(h.source.get('AAPL', '1Hour', 'us_equity', { startMs: T0, endMs: T0 + 5 * H }));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/HTTP 401: bad key/);
    expect(err.message).toContain('[REDACTED]'); // the server echoed our headers; they are scrubbed
    expect(err.message).not.toContain(KEY);
    expect(err.message).not.toContain(SECRET);
    expect(server.barRequests().length - n).toBe(1);
    expect(h.sleeps).toEqual([]);
  });

  it('403 with feed sip: "no SIP subscription"', async () => {
    server.fault(faults.status(403, {}, { code: 40310000, message: 'subscription does not permit querying recent SIP data' }));
    const h = harness({ feed: 'sip' });
    const err = await failure(h.source.get('AAPL', '1Min', 'us_equity', { startMs: T0, endMs: T0 + H }));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/no SIP subscription/);
    expect(err.message).toMatch(/feed iex/);
    expect(h.sleeps).toEqual([]);
  });

  it('403 with feed iex: not permitted (no SIP talk)', async () => {
    server.fault(faults.status(403, {}, { code: 40310000, message: 'forbidden' }));
    const h = harness();
    const err = await failure(h.source.get('AAPL', '1Min', 'us_equity', { startMs: T0, endMs: T0 + H }));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/HTTP 403: the key is not permitted/);
    expect(err.message).not.toMatch(/SIP/);
  });

  it('400: an input error with the server message, not retried', async () => {
    server.fault(faults.status(400, {}, { code: 40010001, message: 'invalid symbol: ZZZZ' }));
    const h = harness();
    const err = await failure(h.source.get('ZZZZ', '1Hour', 'us_equity', { startMs: T0, endMs: T0 + H }));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/HTTP 400: invalid symbol: ZZZZ/);
  });
});

describe('crypto', () => {
  it('UNIUSD → UNI/USD on /v1beta3/crypto/us/bars, paginated, no keys needed or sent', async () => {
    server.crypto.set('UNI/USD', syntheticBars(T0, H, 250, 6));
    server.pageSize = 100;
    const n = server.barRequests().length;
    const h = harness({ noKeys: true });
    const got = await h.source.get('UNIUSD', '1Hour', 'crypto', { startMs: T0, endMs: T0 + 250 * H });
    expect(got.bars.time.length).toBe(250);
    expect(got.bars.symbol).toBe('UNIUSD');
    const reqs = server.barRequests().slice(n);
    expect(reqs).toHaveLength(3);
    for (const r of reqs) {
      expect(r.path).toBe('/v1beta3/crypto/us/bars');
      expect(r.query['symbols']).toBe('UNI/USD');
      expect(r.query['timeframe']).toBe('1Hour');
      expect(r.headers['apca-api-key-id']).toBeUndefined();
      expect(r.headers['apca-api-secret-key']).toBeUndefined();
    }
    expect(got.notes).toEqual([]);
  });

  it('a broken keys setup does not stop crypto (it needs no keys), but does stop stocks', async () => {
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 5, 42000));
    const h = harness({ noKeys: true, envExtra: { APCA_API_KEY_ID: KEY, ALPACA_KEYS_FILE: path.join(tmpRoot, 'nope') } });
    expect((await h.source.get('BTCUSD', '1Hour', 'crypto', { startMs: T0, endMs: T0 + 5 * H })).bars.time.length).toBe(5);
    const err = await failure(h.source.get('AAPL', '1Hour', 'us_equity', { startMs: T0, endMs: T0 + 5 * H }));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/APCA_API_KEY_ID is set but APCA_API_SECRET_KEY is not/);
  });

  it('gives the same bars and notes as the CSV source for the same data', async () => {
    const dir = path.join(root, 'examples/data');
    const csv = await loadBarsFromDir(dir, 'BTCUSD', '1Hour');
    server.crypto.set('BTC/USD', wireBarsFromCsv(readFileSync(path.join(dir, 'BTCUSD_1Hour.csv'), 'utf8')));
    server.pageSize = 1000;
    const h = harness();
    const t = csv.bars.time;
    const got = await h.source.get('BTCUSD', '1Hour', 'crypto', { startMs: t[0]!, endMs: t[t.length - 1]! + H });
    expect(got.requests).toBe(Math.ceil(t.length / 1000));
    expect(got.bars.symbol).toBe(csv.bars.symbol);
    expect(got.bars.timeframe).toBe(csv.bars.timeframe);
    for (const k of ['time', 'open', 'high', 'low', 'close', 'volume'] as const) {
      expect(got.bars[k]).toBeInstanceOf(Float64Array);
      expect(got.bars[k]).toEqual(csv.bars[k]);
    }
    expect(got.notes).toEqual(csv.notes);

    // and again from the cache: identical, zero requests
    const again = await harness({ cacheDir: h.cacheDir }).source.get('BTCUSD', '1Hour', 'crypto', { startMs: t[0]!, endMs: t[t.length - 1]! + H });
    expect(again.requests).toBe(0);
    expect(again.fromCache).toBe(true);
    for (const k of ['time', 'open', 'high', 'low', 'close', 'volume'] as const) expect(again.bars[k]).toEqual(csv.bars[k]);
    expect(again.notes).toEqual(csv.notes);
  });
});

// ------------------------------------------------------------------ cache

describe('cache', () => {
  const range = (a: number, b: number): { startMs: number; endMs: number } => ({ startMs: T0 + a * H, endMs: T0 + b * H });

  it('a rerun over the same range makes zero requests', async () => {
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 300, 42000));
    const first = harness();
    const a = await first.source.get('BTCUSD', '1Hour', 'crypto', range(0, 300));
    expect(a.requests).toBe(1);
    const n = server.requests.length;
    const second = harness({ cacheDir: first.cacheDir });
    const b = await second.source.get('BTCUSD', '1Hour', 'crypto', range(0, 300));
    expect(b).toMatchObject({ requests: 0, fromCache: true });
    expect(server.requests.length).toBe(n);
    expect(cols(b.bars)).toEqual(cols(a.bars));
    expect(second.source.stats()).toEqual({ requests: 0, cacheHits: 1 });
    // a sub-range is a hit too
    const c = await second.source.get('BTCUSD', '1Hour', 'crypto', range(10, 20));
    expect(c.requests).toBe(0);
    expect(c.bars.time.length).toBe(10);
    expect(c.bars.time[0]).toBe(T0 + 10 * H);
  });

  it('a longer range fetches only the missing part (forward and backward)', async () => {
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 400, 42000));
    const h = harness();
    await h.source.get('BTCUSD', '1Hour', 'crypto', range(100, 200));
    let n = server.barRequests().length;
    const longer = await h.source.get('BTCUSD', '1Hour', 'crypto', range(100, 300));
    expect(longer.requests).toBe(1);
    const fwd = server.barRequests().slice(n);
    expect(fwd).toHaveLength(1);
    // from the last cached bar (re-read to check it did not change), not from the start
    expect(fwd[0]!.query['start']).toBe(iso(T0 + 199 * H));
    expect(fwd[0]!.query['end']).toBe(iso(T0 + 300 * H));
    expect(longer.bars.time.length).toBe(200);
    expect(Array.from(longer.bars.time)).toEqual(Array.from({ length: 200 }, (_, i) => T0 + (100 + i) * H));

    n = server.barRequests().length;
    const back = await h.source.get('BTCUSD', '1Hour', 'crypto', range(50, 300));
    expect(back.requests).toBe(1);
    const bwd = server.barRequests().slice(n);
    expect(bwd[0]!.query['start']).toBe(iso(T0 + 50 * H));
    expect(Date.parse(bwd[0]!.query['end']!)).toBeLessThanOrEqual(T0 + 100 * H + 1);
    expect(back.bars.time.length).toBe(250);

    // both sides at once: two requests, the middle from the cache
    n = server.barRequests().length;
    const both = await h.source.get('BTCUSD', '1Hour', 'crypto', range(0, 400));
    expect(both.requests).toBe(2);
    expect(both.bars.time.length).toBe(400);
    expect(cols(both.bars)).toEqual(cols((await harness().source.get('BTCUSD', '1Hour', 'crypto', range(0, 400))).bars));
  });

  it('cached adjusted history that changed (a split) is refetched whole, never spliced', async () => {
    const bars = syntheticBars(T0, DAY, 60, 200);
    server.stocks.set('NVDA', bars);
    const h = harness();
    await h.source.get('NVDA', '1Day', 'us_equity', { startMs: T0, endMs: T0 + 30 * DAY });
    // a 4:1 split: Alpaca re-adjusts all history
    server.stocks.set(
      'NVDA',
      bars.map((b) => ({ ...b, o: b.o / 4, h: b.h / 4, l: b.l / 4, c: b.c / 4, v: b.v * 4 })),
    );
    const got = await h.source.get('NVDA', '1Day', 'us_equity', { startMs: T0, endMs: T0 + 60 * DAY });
    expect(got.bars.close[0]).toBeCloseTo(bars[0]!.c / 4, 12);
    expect(got.bars.close[59]).toBeCloseTo(bars[59]!.c / 4, 12);
    expect(h.logs.some((l) => /no longer match/.test(l))).toBe(true);
    const again = await harness({ cacheDir: h.cacheDir }).source.get('NVDA', '1Day', 'us_equity', { startMs: T0, endMs: T0 + 60 * DAY });
    expect(again.requests).toBe(0);
    expect(cols(again.bars)).toEqual(cols(got.bars));
  });

  it.each([
    ['truncated', (t: string) => t.slice(0, Math.floor(t.length / 2))],
    ['not JSON', () => 'garbage'],
    ['checksum mismatch', (t: string) => t.replace(/"c":\[(\d+)/, (_m, d: string) => `"c":[${Number(d) + 1}`)],
    ['another series', (t: string) => t.replace(/"symbol":"BTC\/USD"/, '"symbol":"ETH/USD"')],
    ['empty object', () => '{}'],
  ])('a corrupt cache file (%s) is refetched, never trusted', async (_name, corrupt) => {
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 50, 42000));
    const h = harness();
    const good = await h.source.get('BTCUSD', '1Hour', 'crypto', range(0, 50));
    const file = cacheFilePath(h.cacheDir, { provider: 'alpaca', host: server.url, assetClass: 'crypto', symbol: 'BTC/USD', timeframe: '1Hour', loc: 'us' });
    const text = readFileSync(file, 'utf8');
    const bad = corrupt(text);
    expect(bad).not.toBe(text);
    writeFileSync(file, bad);
    const h2 = harness({ cacheDir: h.cacheDir });
    const got = await h2.source.get('BTCUSD', '1Hour', 'crypto', range(0, 50));
    expect(got.requests).toBe(1);
    expect(cols(got.bars)).toEqual(cols(good.bars));
    expect(h2.logs.some((l) => l.includes('ignoring cache file'))).toBe(true);
    // rewritten whole: the next run is a hit
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect((await harness({ cacheDir: h.cacheDir }).source.get('BTCUSD', '1Hour', 'crypto', range(0, 50))).requests).toBe(0);
  });

  it('the forming bar is not cached as final: coverage ends at now − one bar', async () => {
    const now = T0 + 10 * H + 30 * 60_000; // 10:30: the 10:00 bar is still forming
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 11, 42000));
    const h = harness({ nowMs: now });
    const a = await h.source.get('BTCUSD', '1Hour', 'crypto', range(0, 11));
    expect(a.bars.time.length).toBe(11); // returned …
    const h2 = harness({ nowMs: now, cacheDir: h.cacheDir });
    const n = server.barRequests().length;
    const b = await h2.source.get('BTCUSD', '1Hour', 'crypto', range(0, 11));
    expect(b.requests).toBe(1); // … but fetched again: only the tail
    expect(Date.parse(server.barRequests()[n]!.query['start']!)).toBeGreaterThanOrEqual(T0 + 8 * H);
    // two hours later everything up to 11:00 is final: the next run fetches the tail once more, then never
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 11, 42000));
    const later = harness({ nowMs: now + 2 * H, cacheDir: h.cacheDir });
    expect((await later.source.get('BTCUSD', '1Hour', 'crypto', range(0, 11))).requests).toBe(1);
    expect((await later.source.get('BTCUSD', '1Hour', 'crypto', range(0, 11))).requests).toBe(0);
  });

  it('writes atomically: no temp files left, and the file holds no credentials', async () => {
    server.stocks.set('AAPL', syntheticBars(T0, H, 20));
    const h = harness();
    await h.source.get('AAPL', '1Hour', 'us_equity', range(0, 20));
    const files = filesUnder(h.cacheDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/alpaca-bars-v1\/us_equity\/AAPL_1Hour_iex_all_[0-9a-f]{12}\.json$/);
    const text = readFileSync(files[0]!, 'utf8');
    expect(text).not.toContain(KEY);
    expect(text).not.toContain(SECRET);
    const body = JSON.parse(text).body;
    expect(body.key).toMatchObject({ symbol: 'AAPL', timeframe: '1Hour', feed: 'iex', adjustment: 'all' });
    expect(body.coverage).toEqual([[T0, T0 + 20 * H]]);
  });
});

// ------------------------------------------------------------------ faults

describe('faults', () => {
  const get = (h: Harness, n = 24): ReturnType<AlpacaBarsSource['get']> => h.source.get('BTCUSD', '1Hour', 'crypto', { startMs: T0, endMs: T0 + n * H });
  const noCacheFile = (h: Harness): void => expect(filesUnder(h.cacheDir)).toEqual([]);

  it('429 honours Retry-After, then succeeds', async () => {
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 24, 42000));
    server.fault(faults.status(429, { 'Retry-After': '7' }));
    const h = harness();
    const got = await get(h);
    expect(got.bars.time.length).toBe(24);
    expect(h.sleeps).toEqual([7000]);
    expect(got.requests).toBe(2);
    expect(h.logs.some((l) => /rate limited \(HTTP 429\)/.test(l))).toBe(true);
  });

  it('429 honours X-Ratelimit-Reset when there is no Retry-After', async () => {
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 24, 42000));
    const h = harness();
    server.fault(faults.status(429, { 'X-Ratelimit-Limit': '200', 'X-Ratelimit-Remaining': '0', 'X-Ratelimit-Reset': String(h.clock.t / 1000 + 3) }));
    await get(h);
    expect(h.sleeps).toEqual([3000]);
  });

  it('429 forever ends as an infra error within the deadline', async () => {
    server.always(faults.status(429, { 'Retry-After': '20' }));
    const h = harness({ deadlineMs: 60_000 });
    const err = await failure(get(h));
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/rate limited/);
    expect(err.message).toMatch(/deadline/);
    expect(h.sleeps).toEqual([20_000, 20_000, 20_000]); // the fourth wait would end past the 60 s deadline
    noCacheFile(h);
  });

  it('500s then success, with exponential backoff', async () => {
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 24, 42000));
    server.fault(faults.status(500), faults.status(503));
    const h = harness();
    const n = server.barRequests().length;
    const got = await get(h);
    expect(server.barRequests().length - n).toBe(3); // the client's own retry is off: every attempt is ours
    expect(got.bars.time.length).toBe(24);
    expect(h.sleeps).toEqual([1000, 2000]);
    expect(got.requests).toBe(3);
  });

  it('500 forever: infra error (exit 3) after bounded attempts', async () => {
    server.always(faults.status(500));
    const h = harness();
    const n = server.barRequests().length;
    const err = await failure(get(h));
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/HTTP 500/);
    expect(err.message).toMatch(/gave up after 8 attempts/);
    expect(server.barRequests().length - n).toBe(8);
    expect(h.sleeps).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    noCacheFile(h);
  });

  it('500 forever with a short deadline gives up early', async () => {
    server.always(faults.status(502));
    const h = harness({ deadlineMs: 5000 });
    const err = await failure(get(h));
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/past the 5 s deadline/);
    expect(h.sleeps).toEqual([1000, 2000]);
  });

  it('a reset connection is retried', async () => {
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 24, 42000));
    server.fault(faults.reset());
    const h = harness();
    const got = await get(h);
    expect(got.bars.time.length).toBe(24);
    expect(h.sleeps).toEqual([1000]);
    expect(h.logs.some((l) => /connection failed/.test(l))).toBe(true);
  });

  it('a hanging server hits the per-attempt timeout and is retried', async () => {
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 24, 42000));
    server.fault(faults.hang());
    const h = harness({ timeoutMs: 300 });
    const got = await get(h);
    expect(got.bars.time.length).toBe(24);
    expect(h.logs.some((l) => /timed out/.test(l))).toBe(true);
  });

  it('a body shorter than its Content-Length is retried, and never becomes data', async () => {
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 24, 42000));
    server.fault(faults.shortContentLength());
    const h = harness();
    const got = await get(h);
    expect(got.bars.time.length).toBe(24);
    expect(h.logs.some((l) => /truncated response body/.test(l))).toBe(true);

    server.always(faults.shortContentLength());
    const h2 = harness();
    const err = await failure(get(h2));
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/truncated/);
    noCacheFile(h2);
  });

  it('JSON cut mid-array is an error, not partial data', async () => {
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 24, 42000));
    server.fault(faults.cutJson());
    const h = harness();
    expect((await get(h)).bars.time.length).toBe(24);
    expect(h.logs.some((l) => /malformed response body/.test(l))).toBe(true);

    server.always(faults.cutJson());
    const h2 = harness();
    const err = await failure(get(h2));
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/malformed/);
    noCacheFile(h2);
  });

  it('an empty 200 body is retried like a truncated one', async () => {
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 24, 42000));
    server.fault((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '0' });
      res.end();
      return true;
    });
    const h = harness();
    expect((await get(h)).bars.time.length).toBe(24);
    expect(h.logs.some((l) => /empty response body/.test(l))).toBe(true);
  });

  it('a repeated page token is an error', async () => {
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 30, 42000));
    server.pageSize = 10;
    server.repeatToken = true;
    const h = harness();
    const err = await failure(get(h, 30));
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/repeats an earlier next_page_token/);
    noCacheFile(h);
  });

  it('a response without the expected shape is an error', async () => {
    server.always(faults.status(200, {}, { bars: [1, 2, 3], next_page_token: null }));
    const err = await failure(get(harness()));
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/not an object keyed by symbol/);
  });
});

describe('resource caps', () => {
  const get = (h: Harness, n = 24): ReturnType<AlpacaBarsSource['get']> => h.source.get('BTCUSD', '1Hour', 'crypto', { startMs: T0, endMs: T0 + n * H });
  const bar = syntheticBars(T0, H, 1, 42000)[0]!;

  it('the deadline is checked before every page: endless page tokens stop at data.deadline_seconds', async () => {
    const h = harness({ deadlineMs: 20_000 });
    let served = 0;
    // Every answer is one valid bar and a fresh page token, forever; each costs one second of the injected clock.
    server.always((_req, res) => {
      served++;
      h.clock.t += 1000;
      const body = JSON.stringify({ bars: { 'BTC/USD': [bar] }, next_page_token: `page-${served}` });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return true;
    });
    const err = await failure(get(h));
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/the 20 s deadline for fetching one series \(data\.deadline_seconds\) passed before page 21 \(20 bars so far\)/);
    expect(served).toBe(20);
    noCacheFileIn(h);
  });

  it('the deadline is checked before a pacing wait', async () => {
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 30, 42000));
    server.pageSize = 10;
    const h = harness({ deadlineMs: 30_000, maxRequestsPerMinute: 2 });
    const err = await failure(get(h, 30));
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/deadline for fetching one series \(data\.deadline_seconds\) passed while pacing/);
    expect(h.sleeps).toEqual([]);
  });

  it('no attempt outlives the deadline: the per-attempt timeout is the smaller of the two', async () => {
    // The server never answers and the per-attempt timeout is ten minutes: only the (real-clock)
    // 300 ms deadline can end this; without the cap the test would hang until its own timeout.
    server.always(faults.hang());
    const clock = { t: 0 };
    const h = harness({
      timeoutMs: 600_000,
      deadlineMs: 300,
      now: () => Date.now() + clock.t,
      sleep: async (ms) => {
        clock.t += ms;
      },
    });
    const err = await failure(get(h));
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/timed out \(no complete answer within \d+ ms\)/);
    expect(err.message).toMatch(/deadline/);
    const within = Number(/within (\d+) ms/.exec(err.message)![1]);
    expect(within).toBeLessThanOrEqual(300);
  });

  it('a response body past the byte cap is cut off while it streams, never buffered whole', async () => {
    let closed = false;
    // An endless, valid-looking JSON body sent as fast as the client reads it.
    server.always((req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"bars":{"BTC/USD":[');
      const piece = Buffer.from((JSON.stringify(bar) + ',').repeat(200));
      const pump = (): void => {
        while (!closed && res.write(piece)) {
          // keep writing until the socket pushes back or closes
        }
        if (!closed) res.once('drain', pump);
      };
      req.socket.on('close', () => {
        closed = true;
      });
      pump();
      return true;
    });
    const h = harness({ maxResponseBytes: 256 * 1024 });
    const err = await failure(get(h));
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/the response grew past 0\.25 MiB and was cut off unread, more than the cap of 0\.25 MiB per response/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(true); // the connection was dropped, not drained
    expect(server.barRequests().at(-1)!.path).toBe('/v1beta3/crypto/us/bars');
  });

  it('a Content-Length above the byte cap is refused before the body is read', async () => {
    let sent = 0;
    server.always((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(1.5 * 1024 ** 3) });
      res.write('{"bars":{');
      sent++;
      return true; // and never more: a client that waited for the body would hang
    });
    const h = harness({ timeoutMs: 600_000 });
    const err = await failure(get(h));
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/the response declares 1536 MiB \(Content-Length\), more than the cap of 64 MiB per response/);
    expect(sent).toBe(1); // refused, not retried
  });

  it('a series past the bar cap is refused, naming the count and the cap', async () => {
    server.crypto.set('BTC/USD', syntheticBars(T0, H, 100, 42000));
    server.pageSize = 30;
    const h = harness({ maxBarsPerSeries: 50 });
    const n = server.barRequests().length;
    const err = await failure(get(h, 100));
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/page 2 brings the series to 60 bars, more than the cap of 50 bars per series/);
    expect(server.barRequests().length - n).toBe(2);
  });
});

describe('bar validation at the boundary', () => {
  const bar = { t: '2024-01-01T05:00:00Z', o: 10, h: 11, l: 9, c: 10.5, v: 100, n: 3, vw: 10.2 };
  it.each([
    ['high < low', { h: 8, l: 9, o: 8.5, c: 8.5 }, /high 8 < low 9/],
    ['non-positive price', { o: 0 }, /non-positive price/],
    ['null close', { c: null }, /close null is not a finite number/],
    ['string volume', { v: '100' }, /volume "100" is not a finite number/],
    ['bad timestamp', { t: 'yesterday' }, /unreadable timestamp "yesterday"/],
  ])('%s: an input error naming symbol and time', async (_name, patch, re) => {
    server.crypto.set('ETH/USD', [{ ...bar, ...(patch as object) } as never]);
    const err = await failure(harness().source.get('ETHUSD', '1Hour', 'crypto', { startMs: T0, endMs: T0 + DAY }));
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain('ETH/USD');
    expect(err.message).toMatch(re);
    if (!('t' in (patch as object))) expect(err.message).toContain('2024-01-01T05:00:00Z');
  });

  it('no bars at all is an input error naming the symbol and range', async () => {
    const err = await failure(harness().source.get('SOLUSD', '1Hour', 'crypto', { startMs: T0, endMs: T0 + DAY }));
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(/no 1Hour bars for SOL\/USD from 2024-01-01T00:00:00Z/);
  });

  it('refuses a bad range, timeframe or data URL', async () => {
    const h = harness();
    expect((await failure(h.source.get('BTCUSD', '1Hour', 'crypto', { startMs: T0, endMs: T0 }))).exitCode).toBe(2);
    expect((await failure(h.source.get('BTCUSD', '3Hour' as Timeframe, 'crypto', { startMs: T0, endMs: T0 + H }))).exitCode).toBe(2);
    const remote = harness({ envExtra: { APCA_API_DATA_URL: 'http://data.example.com' } });
    const err = await failure(remote.source.get('BTCUSD', '1Hour', 'crypto', { startMs: T0, endMs: T0 + H }));
    expect(err.message).toMatch(/plain http/);
    expect(() => harness({ feed: 'iex&x=1' })).toThrow(/feed/);
  });
});

// ------------------------------------------------------------------ market hours

describe('US-equity calendar and gap notes', () => {
  /** The UTC instant of a New York wall-clock time. */
  const ny = (date: string, hh: number, mm = 0): number => nyTimeToUtc(Date.parse(`${date}T00:00:00Z`) / DAY, hh, mm);
  const series = (timeframe: Timeframe, times: number[]): BarSeries => {
    const n = times.length;
    const f = (v: number): Float64Array => new Float64Array(n).fill(v);
    return { symbol: 'AAPL', timeframe, time: Float64Array.from(times), open: f(1), high: f(1), low: f(1), close: f(1), volume: f(1) };
  };
  /** Alpaca-like hourly bars, 04:00–19:00 New York time, on the given days. */
  const hourly = (days: string[], skip: (t: number) => boolean = () => false): number[] => days.flatMap((d) => Array.from({ length: 16 }, (_, i) => ny(d, 4 + i))).filter((t) => !skip(t));

  it('knows NYSE holidays, early closes and DST', () => {
    const holidays2024 = ['2024-01-01', '2024-01-15', '2024-02-19', '2024-03-29', '2024-05-27', '2024-06-19', '2024-07-04', '2024-09-02', '2024-11-28', '2024-12-25'];
    for (const d of holidays2024) expect(isTradingDay(Date.parse(`${d}T00:00:00Z`) / DAY), d).toBe(false);
    for (const d of ['2025-01-09', '2025-04-18', '2026-07-03', '2022-06-20', '2021-12-24']) expect(isTradingDay(Date.parse(`${d}T00:00:00Z`) / DAY), d).toBe(false);
    for (const d of ['2024-01-02', '2024-07-03', '2024-11-29', '2024-12-24', '2022-12-30']) expect(isTradingDay(Date.parse(`${d}T00:00:00Z`) / DAY), d).toBe(true);
    const day = (d: string): number => Date.parse(`${d}T00:00:00Z`) / DAY;
    expect(regularSession(day('2024-03-08'))).toEqual({ open: Date.parse('2024-03-08T14:30:00Z'), close: Date.parse('2024-03-08T21:00:00Z') }); // EST
    expect(regularSession(day('2024-03-11'))).toEqual({ open: Date.parse('2024-03-11T13:30:00Z'), close: Date.parse('2024-03-11T20:00:00Z') }); // EDT
    expect(regularSession(day('2024-11-29'))!.close).toBe(Date.parse('2024-11-29T18:00:00Z')); // 13:00 EST
    expect(regularSession(day('2024-07-03'))!.close).toBe(Date.parse('2024-07-03T17:00:00Z')); // 13:00 EDT
    expect(regularSession(day('2024-03-09'))).toBeNull();
  });

  it('no gaps for nights, weekends, holidays, DST changes, extended hours or an early close', () => {
    const days = ['2024-03-07', '2024-03-08', '2024-03-11', '2024-03-12']; // weekend + spring-forward
    expect(equityGapNotes(series('1Hour', hourly(days)))).toEqual([]);
    // July 3 (early close, nothing after 13:00 but the session), July 4 holiday, weekend
    const july = hourly(['2024-07-02', '2024-07-03', '2024-07-05', '2024-07-08'], (t) => t >= ny('2024-07-03', 13) && t < ny('2024-07-03', 20));
    expect(equityGapNotes(series('1Hour', july))).toEqual([]);
    // thin pre-market (IEX): missing 04:00–08:00 bars are not gaps
    const thin = hourly(['2024-03-12', '2024-03-13'], (t) => t < ny('2024-03-12', 9) || (t > ny('2024-03-12', 20) && t < ny('2024-03-13', 9)));
    expect(equityGapNotes(series('1Hour', thin))).toEqual([]);
    // daily bars over the Thanksgiving week and Christmas
    const daily = ['2024-11-25', '2024-11-26', '2024-11-27', '2024-11-29', '2024-12-02'].map(nyDayStart);
    expect(equityGapNotes(series('1Day', daily))).toEqual([]);
    const christmas = ['2024-12-23', '2024-12-24', '2024-12-26', '2024-12-27', '2024-12-30', '2024-12-31', '2025-01-02'].map(nyDayStart);
    expect(equityGapNotes(series('1Day', christmas))).toEqual([]);
  });

  it('flags a halt inside the session and a missing trading day', () => {
    // 1Min bars 09:30–16:00 with 10:00–10:29 missing (a halt)
    const mins = Array.from({ length: 390 }, (_, i) => ny('2024-03-12', 9, 30) + i * 60_000).filter((t) => t < ny('2024-03-12', 10) || t >= ny('2024-03-12', 10, 30));
    const notes = equityGapNotes(series('1Min', mins));
    expect(notes).toEqual([{ kind: 'gap', message: 'AAPL 1Min: 30 missing bars in regular trading hours from 2024-03-12T14:00:00Z to 2024-03-12T14:29:00Z', at: '2024-03-12T14:00:00Z', count: 30 }]);
    // hourly: Wednesday 2024-03-13 missing entirely
    const h = equityGapNotes(series('1Hour', hourly(['2024-03-12', '2024-03-14'])));
    expect(h).toHaveLength(1);
    expect(h[0]).toMatchObject({ kind: 'gap', count: 7, at: '2024-03-13T13:00:00Z' });
    // daily: a missing trading day between two bars
    const d = equityGapNotes(series('1Day', ['2024-03-11', '2024-03-12', '2024-03-14'].map(nyDayStart)));
    expect(d).toEqual([{ kind: 'gap', message: 'AAPL 1Day: 1 missing trading day at 2024-03-13T04:00:00Z', at: '2024-03-13T04:00:00Z', count: 1 }]);
  });

  it('fetched stock bars carry these notes, not 24/7 ones', async () => {
    const times = hourly(['2024-03-08', '2024-03-11']);
    server.stocks.set(
      'AAPL',
      times.map((t) => ({ t: new Date(t).toISOString(), o: 10, h: 11, l: 9, c: 10, v: 5, n: 1, vw: 10 })),
    );
    const got = await harness().source.get('AAPL', '1Hour', 'us_equity', { startMs: times[0]!, endMs: times.at(-1)! + H });
    expect(got.bars.time.length).toBe(32);
    expect(got.notes).toEqual([]);
  });
});

describe('the same bars through both sources give the same notes (docs/market-data.md)', () => {
  const ny = (date: string, hh: number, mm = 0): number => nyTimeToUtc(Date.parse(`${date}T00:00:00Z`) / DAY, hh, mm);
  /** Alpaca-like hourly stock bars, 04:00–19:00 New York time. */
  const hourly = (days: string[], skip: (t: number) => boolean = () => false): number[] => days.flatMap((d) => Array.from({ length: 16 }, (_, i) => ny(d, 4 + i))).filter((t) => !skip(t));
  const wire = (times: number[]) => times.map((t, i) => ({ t: new Date(t).toISOString().replace('.000Z', 'Z'), o: 100 + (i % 7), h: 108, l: 99, c: 100 + (i % 5), v: 10 + i, n: 1, vw: 101 }));
  const csvOf = (rows: ReturnType<typeof wire>): string => ['timestamp,open,high,low,close,volume', ...rows.map((r) => `${r.t},${r.o},${r.h},${r.l},${r.c},${r.v}`)].join('\n') + '\n';
  const dataDir = (name: string, rows: ReturnType<typeof wire>): string => {
    const dir = mkdtempSync(path.join(tmpRoot, 'csv-'));
    writeFileSync(path.join(dir, name), csvOf(rows));
    return dir;
  };

  it('stock bars: nights, weekends, holidays and extended hours are gaps for neither; a halt and a missing day are for both', async () => {
    // July 2024: the 3rd closes early, the 4th is a holiday, a weekend; Wednesday the 10th is missing
    // entirely and the 11th has a halt 11:00–12:59 New York time.
    const days = ['2024-07-01', '2024-07-02', '2024-07-03', '2024-07-05', '2024-07-08', '2024-07-09', '2024-07-11', '2024-07-12'];
    const times = hourly(days, (t) => (t >= ny('2024-07-03', 13) && t < ny('2024-07-03', 20)) || (t >= ny('2024-07-11', 11) && t < ny('2024-07-11', 13)));
    const rows = wire(times);
    server.stocks.set('AAPL', rows);
    const alpaca = await harness().source.get('AAPL', '1Hour', 'us_equity', { startMs: times[0]!, endMs: times.at(-1)! + H });
    const csv = await loadBarsFromDir(dataDir('AAPL_1Hour.csv', rows), 'AAPL', '1Hour', 'us_equity');
    for (const k of ['time', 'open', 'high', 'low', 'close', 'volume'] as const) expect(csv.bars[k]).toEqual(alpaca.bars[k]);
    expect(alpaca.notes).toEqual([
      { kind: 'gap', message: 'AAPL 1Hour: 7 missing bars in regular trading hours from 2024-07-10T13:00:00Z to 2024-07-10T19:00:00Z', at: '2024-07-10T13:00:00Z', count: 7 },
      { kind: 'gap', message: 'AAPL 1Hour: 2 missing bars in regular trading hours from 2024-07-11T15:00:00Z to 2024-07-11T16:00:00Z', at: '2024-07-11T15:00:00Z', count: 2 },
    ]);
    expect(csv.notes).toEqual(alpaca.notes);

    // the run's bars provider reads the CSV file with the model's asset class
    const config = defaultConfig();
    config.data.source = 'csv';
    config.data.dir = dataDir('AAPL_1Hour.csv', rows);
    const provided = await barsProvider(config, { now: new Date('2025-01-01T00:00:00Z'), log: () => {} })({
      symbol: 'AAPL',
      timeframe: '1Hour',
      assetClass: 'us_equity',
      endMs: undefined,
      days: 10,
      warmupBars: 0,
    });
    expect(provided.notes).toEqual(alpaca.notes);
  });

  it('daily stock bars: a missing trading day for both, the holiday for neither', async () => {
    const days = ['2024-11-25', '2024-11-26', '2024-11-27', '2024-11-29', '2024-12-02', '2024-12-04'];
    const rows = wire(days.map(nyDayStart));
    server.stocks.set('MSFT', rows);
    const alpaca = await harness().source.get('MSFT', '1Day', 'us_equity', { startMs: nyDayStart(days[0]!), endMs: nyDayStart(days.at(-1)!) + DAY });
    const csv = await loadBarsFromDir(dataDir('MSFT_1Day.csv', rows), 'MSFT', '1Day', 'us_equity');
    expect(alpaca.notes).toEqual([{ kind: 'gap', message: 'MSFT 1Day: 1 missing trading day at 2024-12-03T05:00:00Z', at: '2024-12-03T05:00:00Z', count: 1 }]);
    expect(csv.notes).toEqual(alpaca.notes);
  });

  it('more than 50 gaps: both list 50 and sum up the rest in one note (crypto and stocks alike)', async () => {
    // crypto: 60 holes of one bar each (every third hour missing)
    const cryptoTimes = Array.from({ length: 180 }, (_, i) => T0 + i * H).filter((_, i) => i % 3 !== 2);
    const cryptoRows = wire(cryptoTimes);
    server.crypto.set('ETH/USD', cryptoRows);
    const a = await harness().source.get('ETHUSD', '1Hour', 'crypto', { startMs: cryptoTimes[0]!, endMs: cryptoTimes.at(-1)! + H });
    const c = await loadBarsFromDir(dataDir('ETHUSD_1Hour.csv', cryptoRows), 'ETHUSD', '1Hour', 'crypto');
    expect(a.notes).toHaveLength(51);
    expect(a.notes[50]).toEqual({
      kind: 'gap',
      message: `ETHUSD 1Hour: 9 more gaps (9 missing bars) after ${new Date(T0 + 152 * H).toISOString().replace('.000Z', 'Z')}, not listed one by one`,
      at: new Date(T0 + 152 * H).toISOString().replace('.000Z', 'Z'),
      count: 9,
    });
    expect(c.notes).toEqual(a.notes);
    // stocks: 60 trading days, each missing its 10:00 bar (a one-bar halt)
    const stockDays: string[] = [];
    for (let d = Date.UTC(2024, 0, 2) / DAY; stockDays.length < 60; d++) if (isTradingDay(d)) stockDays.push(new Date(d * DAY).toISOString().slice(0, 10));
    const stockTimes = hourly(stockDays, (t) => stockDays.some((d) => t === ny(d, 10)));
    const stockRows = wire(stockTimes);
    server.stocks.set('IBM', stockRows);
    const sa = await harness().source.get('IBM', '1Hour', 'us_equity', { startMs: stockTimes[0]!, endMs: stockTimes.at(-1)! + H });
    const sc = await loadBarsFromDir(dataDir('IBM_1Hour.csv', stockRows), 'IBM', '1Hour', 'us_equity');
    expect(sa.notes).toHaveLength(51);
    expect(sa.notes[50]!.message).toMatch(/^IBM 1Hour: 10 more gaps \(10 missing bars\) after /);
    expect(sc.notes).toEqual(sa.notes);
  });
});

function nyDayStart(date: string): number {
  // Alpaca stamps daily stock bars at midnight New York time
  return nyTimeToUtc(Date.parse(`${date}T00:00:00Z`) / DAY, 0);
}

describe('historyRange', () => {
  it('covers the window and the warm-up, more generously for equities', () => {
    const end = Date.UTC(2024, 5, 28, 20);
    const c = historyRange({ endMs: end, days: 30, warmupBars: 48, timeframe: '1Hour', assetClass: 'crypto' });
    expect(c.endMs).toBe(end + H);
    expect(c.startMs).toBe(end - 30 * DAY - 49 * H);
    const s = historyRange({ endMs: end, days: 30, warmupBars: 48, timeframe: '1Hour', assetClass: 'us_equity' });
    expect(s.startMs).toBeLessThan(end - 30 * DAY - 4 * DAY);
    const d = historyRange({ endMs: end, days: 30, warmupBars: 50, timeframe: '1Day', assetClass: 'us_equity' });
    expect(end - 30 * DAY - d.startMs).toBeGreaterThanOrEqual(73 * DAY); // 51 trading days ≈ 72 calendar days
  });
});

describe('test network guard', () => {
  it('refuses non-loopback connections', async () => {
    await expect(fetch('http://192.0.2.1/')).rejects.toThrow();
    expect(guard.violations).toEqual(['192.0.2.1']);
    guard.violations.length = 0;
  });
});
