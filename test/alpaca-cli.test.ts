/**
 * `--data alpaca` end to end: the CLI, the real Alpaca client, a loopback server speaking Alpaca's
 * protocol. The same bars served by Alpaca and read from CSV must give byte-identical equity; a
 * provider that stays down must give exit 3 with the report still written and no secret anywhere.
 */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { FakeAlpaca, faults, installLoopbackGuard, wireBarsFromCsv } from './helpers/fake-alpaca.js';

const ROOT = new URL('..', import.meta.url).pathname;
const ZIP = join(ROOT, 'examples/Alpaca_trading_trained_20240911_120000.zip');
const CSV = join(ROOT, 'examples/data/BTCUSD_1Hour.csv');
const KEY = 'PKTESTKEYID0123456789';
const SECRET = 'sEcReT/with+chars=0123456789abcdefABCDEF';

let server: FakeAlpaca;
let guard: ReturnType<typeof installLoopbackGuard>;
let work: string;

async function cli(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    stdout: (t) => (out += t),
    stderr: (t) => (err += t),
    now: () => new Date('2024-09-11T18:30:00Z'),
    cwd: work,
    env,
  });
  return { code, out, err };
}

function everyFile(dir: string): string {
  let text = '';
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) text += readFileSync(join(entry.parentPath, entry.name), 'utf8');
  }
  return text;
}

function secretForms(s: string): string[] {
  return [s, encodeURIComponent(s), Buffer.from(s).toString('base64'), Buffer.from(s).toString('base64url')];
}

beforeAll(async () => {
  guard = installLoopbackGuard();
  server = await FakeAlpaca.start();
  server.crypto.set('BTC/USD', wireBarsFromCsv(readFileSync(CSV, 'utf8')));
  work = mkdtempSync(join(tmpdir(), 'pg-alpaca-cli-'));
  // The BTCUSD_1Hour model and its card, out of the example archive.
  const files = unzipSync(readFileSync(ZIP));
  mkdirSync(join(work, 'model'));
  for (const name of ['BTCUSD_1Hour.onnx', 'BTCUSD_1Hour.card.json']) {
    writeFileSync(join(work, 'model', name), files[`Alpaca_trading/models/rl_symbols/${name}`]!);
  }
  mkdirSync(join(work, 'csv'));
  writeFileSync(join(work, 'csv/BTCUSD_1Hour.csv'), readFileSync(CSV));
});

afterAll(async () => {
  await server.close();
  guard.restore();
  expect(guard.violations).toEqual([]);
});

describe('backtest --data alpaca', () => {
  it('gives byte-identical equity to the CSV source for the same bars, and a rerun makes no request', async () => {
    const env = { APCA_API_DATA_URL: server.url, APCA_API_KEY_ID: KEY, APCA_API_SECRET_KEY: SECRET };
    writeFileSync(join(work, 'cache.yml'), `data: { cache: ${join(work, 'cache')} }\n`);
    const common = ['backtest', '--model', join(work, 'model/BTCUSD_1Hour.onnx'), '--config', join(work, 'cache.yml'), '--days', '30', '--walk-forward', '3', '--end', '2024-08-01T00:00:00Z'];
    const viaCsv = await cli([...common, '--data', join(work, 'csv'), '--equity-out', join(work, 'eq-csv')], env);
    expect([0, 1]).toContain(viaCsv.code); // the walk-forward's decision; the same from either source
    const before = server.barRequests().length;
    const viaAlpaca = await cli([...common, '--data', 'alpaca', '--equity-out', join(work, 'eq-alpaca'), '--out', join(work, 'out-alpaca')], env);
    expect(viaAlpaca.err).toMatch(/BTCUSD 1Hour: \d+ bars from Alpaca \(\d+ requests\)/);
    expect(viaAlpaca.code).toBe(viaCsv.code);
    expect(server.barRequests().length).toBeGreaterThan(before);
    expect(readdirSync(join(work, 'cache'), { recursive: true }).some((f) => String(f).endsWith('.json'))).toBe(true);
    for (const f of ['BTCUSD_1Hour.backtest.csv', 'BTCUSD_1Hour.fold1.csv', 'BTCUSD_1Hour.fold2.csv', 'BTCUSD_1Hour.fold3.csv']) {
      expect(readFileSync(join(work, 'eq-alpaca', f), 'utf8')).toBe(readFileSync(join(work, 'eq-csv', f), 'utf8'));
    }
    // Crypto bars are public: the request carried no key.
    const last = server.barRequests().at(-1)!;
    expect(last.path).toBe('/v1beta3/crypto/us/bars');
    expect(last.query['symbols']).toBe('BTC/USD');

    const count = server.barRequests().length;
    const again = await cli([...common, '--data', 'alpaca', '--equity-out', join(work, 'eq-alpaca2')], env);
    expect(again.code).toBe(viaCsv.code);
    expect(again.err).toMatch(/from Alpaca \(cache\)/);
    expect(server.barRequests().length).toBe(count);
    expect(readFileSync(join(work, 'eq-alpaca2/BTCUSD_1Hour.backtest.csv'), 'utf8')).toBe(readFileSync(join(work, 'eq-csv/BTCUSD_1Hour.backtest.csv'), 'utf8'));
  });

  it('a provider that stays down: exit 3, the report still written, naming the symbol, no secret anywhere', async () => {
    server.always(faults.status(503));
    try {
      const env = { APCA_API_DATA_URL: server.url, APCA_API_KEY_ID: KEY, APCA_API_SECRET_KEY: SECRET };
      writeFileSync(join(work, 'down.yml'), `data: { deadline_seconds: 2, cache: ${join(work, 'cache-down')} }\n`);
      const r = await cli(['backtest', '--model', join(work, 'model/BTCUSD_1Hour.onnx'), '--data', 'alpaca', '--config', join(work, 'down.yml'), '--out', join(work, 'out-down'), '--json'], env);
      expect(r.code).toBe(3);
      const report = JSON.parse(readFileSync(join(work, 'out-down/report.json'), 'utf8'));
      expect(report.conclusion).toBe('failure');
      expect(report.infraErrors).toHaveLength(1);
      expect(report.infraErrors[0]).toMatch(/BTC/);
      const all = r.out + r.err + everyFile(join(work, 'out-down'));
      for (const form of [...secretForms(KEY), ...secretForms(SECRET)]) expect(all).not.toContain(form);
    } finally {
      server.always(null);
    }
  }, 30_000);
});
