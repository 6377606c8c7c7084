/**
 * The archive reader on well-formed input: zips from our raw writer and from fflate (a third-party
 * writer, including its streaming mode with data descriptors), zip64, and folders.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Zip, ZipDeflate, ZipPassThrough, zipSync } from 'fflate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openArchive, DEFAULT_LIMITS } from '../src/adapters/archive/index.js';
import { resolveLimits } from '../src/adapters/archive/limits.js';
import { PolicyGateError } from '../src/core/errors.js';
import { buildZip, S_IFDIR, unixAttributes, type ZipEntrySpec } from './helpers/zip-writer.js';

let work: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'policy-gate-archive-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

async function refusal(promise: Promise<unknown>): Promise<PolicyGateError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PolicyGateError);
  expect((err as PolicyGateError).exitCode).toBe(2);
  return err as PolicyGateError;
}

const sha256 = (data: Buffer | Uint8Array) => createHash('sha256').update(data).digest('hex');

const MODEL = 'Alpaca_trading/models/rl_symbols/BTCUSD_1Hour.onnx';
const SUMMARY = 'Alpaca_trading/training_summary_20241227_101500.json';

function trainingContent(): Record<string, Buffer> {
  return {
    [MODEL]: randomBytes(300_000),
    'Alpaca_trading/models/rl_symbols/UNIUSD_1Hour.onnx': randomBytes(70_000),
    'Alpaca_trading/models/rl_symbols/UNIUSD_1Hour.card.json': Buffer.from(JSON.stringify({ observation: { window: 32 } })),
    [SUMMARY]: Buffer.from(JSON.stringify({ run_id: '20241227_101500', symbols: { BTCUSD: { timeframe: '1Hour' } } }, null, 2).repeat(50)),
    'Alpaca_trading/empty.txt': Buffer.alloc(0),
  };
}

describe('zip archives', () => {
  it('lists nested files (no directories) and reads each back byte-exact', async () => {
    const content = trainingContent();
    const dirs = ['Alpaca_trading/', 'Alpaca_trading/models/', 'Alpaca_trading/models/rl_symbols/'];
    const entries: ZipEntrySpec[] = [
      ...dirs.map((name) => ({ name, externalAttributes: unixAttributes(S_IFDIR | 0o755) })),
      ...Object.entries(content).map(([name, data], i) => ({ name, data, method: i % 2 === 0 ? 8 : 0 })),
    ];
    const zip = buildZip(entries);
    const file = path.join(work, 'archive.zip');
    await writeFile(file, zip);

    const archive = await openArchive(file);
    try {
      expect(archive.kind).toBe('zip');
      expect(archive.source).toBe(file);
      expect(archive.sha256).toBe(sha256(zip));
      expect(archive.files.map((f) => f.path)).toEqual(Object.keys(content).sort());
      for (const f of archive.files) {
        expect(f.size).toBe(content[f.path]!.length);
        expect((await archive.read(f.path)).equals(content[f.path]!)).toBe(true);
      }
      // Concurrent reads share one file handle.
      const all = await Promise.all(archive.files.map((f) => archive.read(f.path)));
      all.forEach((data, i) => {
        expect(data.equals(content[archive.files[i]!.path]!)).toBe(true);
      });
    } finally {
      await archive.close();
    }
  });

  it('reads a zip written by fflate (zipSync)', async () => {
    const content = trainingContent();
    const zip = zipSync(Object.fromEntries(Object.entries(content).map(([k, v]) => [k, new Uint8Array(v)])), { level: 6 });
    const file = path.join(work, 'fflate.zip');
    await writeFile(file, zip);

    const archive = await openArchive(file);
    expect(archive.files.map((f) => f.path)).toEqual(Object.keys(content).sort());
    expect((await archive.read(MODEL)).equals(content[MODEL]!)).toBe(true);
    expect((await archive.read(SUMMARY)).equals(content[SUMMARY]!)).toBe(true);
    await archive.close();
  });

  it('reads a streamed zip with data descriptors (sizes only in the central directory), as artifact uploads write', async () => {
    const content = trainingContent();
    const chunks: Uint8Array[] = [];
    await new Promise<void>((resolve, reject) => {
      const zip = new Zip((err, data, final) => {
        if (err) return reject(err);
        chunks.push(data);
        if (final) resolve();
      });
      Object.entries(content).forEach(([name, data], i) => {
        const entry = i % 2 === 0 ? new ZipDeflate(name, { level: 6 }) : new ZipPassThrough(name);
        zip.add(entry);
        entry.push(new Uint8Array(data), true);
      });
      zip.end();
    });
    const zip = Buffer.concat(chunks);
    expect(zip.readUInt16LE(6) & 0x08).toBe(0x08); // the first local header defers its sizes
    const file = path.join(work, 'streamed.zip');
    await writeFile(file, zip);

    const archive = await openArchive(file);
    for (const f of archive.files) expect((await archive.read(f.path)).equals(content[f.path]!)).toBe(true);
    await archive.close();
  });

  it('reads a zip64 archive', async () => {
    const content = trainingContent();
    const zip = buildZip(
      Object.entries(content).map(([name, data]) => ({ name, data, method: 8 })),
      { zip64: true },
    );
    const file = path.join(work, 'zip64.zip');
    await writeFile(file, zip);

    const archive = await openArchive(file);
    expect(archive.files.map((f) => f.path)).toEqual(Object.keys(content).sort());
    expect((await archive.read(MODEL)).equals(content[MODEL]!)).toBe(true);
    await archive.close();
  });

  it('accepts an empty zip and a zip with a comment', async () => {
    const empty = path.join(work, 'empty.zip');
    await writeFile(empty, buildZip([]));
    const a = await openArchive(empty);
    expect(a.files).toEqual([]);
    await a.close();

    const commented = path.join(work, 'commented.zip');
    await writeFile(commented, buildZip([{ name: 'summary.json', data: '{}' }], { comment: Buffer.from('made by trainer PK\x05\x06') }));
    const b = await openArchive(commented);
    expect(await b.read('summary.json')).toEqual(Buffer.from('{}'));
    await b.close();
  });

  it('opens 5,000 entries under the default limits', async () => {
    const entries = Array.from({ length: 5_000 }, (_, i) => ({ name: `models/checkpoints/M${i}_1Hour.onnx`, data: `m${i}` }));
    const file = path.join(work, 'many.zip');
    await writeFile(file, buildZip(entries));

    const archive = await openArchive(file);
    expect(archive.files).toHaveLength(5_000);
    expect((await archive.read('models/checkpoints/M4321_1Hour.onnx')).toString()).toBe('m4321');
    await archive.close();
  });

  it('refuses to read a path that is not in the archive, and to read after close', async () => {
    const file = path.join(work, 'archive.zip');
    await writeFile(file, buildZip([{ name: 'models/A_1Hour.onnx', data: 'x' }]));
    const archive = await openArchive(file);

    const err = await refusal(archive.read('models/B_1Hour.onnx'));
    expect(err.message).toContain('"models/B_1Hour.onnx"');
    expect(err.message).toContain(file);
    // A directory that exists only implicitly is not a file either.
    await refusal(archive.read('models'));

    await archive.close();
    await archive.close(); // idempotent
    await expect(archive.read('models/A_1Hour.onnx')).rejects.toThrow(/after close/);
  });
});

describe('folders', () => {
  async function makeTree(root: string, content: Record<string, Buffer>): Promise<void> {
    for (const [name, data] of Object.entries(content)) {
      await mkdir(path.dirname(path.join(root, name)), { recursive: true });
      await writeFile(path.join(root, name), data);
    }
  }

  it("gives each file's sha256 as hashed when opened, so it is not read again; a file changed since reads differently", async () => {
    const content = trainingContent();
    const root = path.join(work, 'run');
    await makeTree(root, content);
    const archive = await openArchive(root);
    for (const f of archive.files) expect(archive.sha256Of!(f.path)).toBe(sha256(content[f.path]!));
    expect(archive.sha256Of!('no/such/file')).toBeUndefined();
    // The same size, other bytes, in place: read gives the new bytes, sha256Of the ones the archive was opened with.
    const name = archive.files[0]!.path;
    const changed = Buffer.from(content[name]!);
    changed[0] = changed[0]! ^ 1;
    await writeFile(path.join(root, name), changed);
    expect(sha256(await archive.read(name))).toBe(sha256(changed));
    expect(archive.sha256Of!(name)).toBe(sha256(content[name]!));
    // A zip is hashed as a whole: its entries have no sha256 from the opening.
    const zip = path.join(work, 'run.zip');
    await writeFile(zip, zipSync({ 'a.json': new Uint8Array(Buffer.from('{}')) }));
    const z = await openArchive(zip);
    expect(z.sha256Of?.('a.json')).toBeUndefined();
  });

  it('lists nested files with posix paths, reads them back, and has a stable sha256', async () => {
    const content = trainingContent();
    const root = path.join(work, 'run');
    await makeTree(root, content);
    await mkdir(path.join(root, 'Alpaca_trading', 'logs')); // an empty folder is not a file

    const archive = await openArchive(root);
    expect(archive.kind).toBe('dir');
    expect(archive.files.map((f) => f.path)).toEqual(Object.keys(content).sort());
    for (const f of archive.files) {
      expect(f.size).toBe(content[f.path]!.length);
      expect((await archive.read(f.path)).equals(content[f.path]!)).toBe(true);
    }
    const expected = sha256(
      Buffer.from(
        Object.keys(content)
          .sort()
          .map((p) => `${sha256(content[p]!)}  ${p}\n`)
          .join(''),
      ),
    );
    expect(archive.sha256).toBe(expected);
    await archive.close();

    // The same content written in another order, elsewhere, has the same digest.
    const copy = path.join(work, 'copy');
    await makeTree(copy, Object.fromEntries(Object.entries(content).reverse()));
    const again = await openArchive(copy);
    expect(again.sha256).toBe(expected);
    await again.close();
  });

  it('refuses to read a path that is not in the folder', async () => {
    const root = path.join(work, 'run');
    await makeTree(root, { 'summary.json': Buffer.from('{}') });
    const archive = await openArchive(root);
    const err = await refusal(archive.read('../summary.json'));
    expect(err.message).toContain('"../summary.json"');
    await archive.close();
  });

  it('refuses a file replaced by a symlink after the folder was opened', async () => {
    const root = path.join(work, 'run');
    const secret = path.join(work, 'secret.txt');
    await writeFile(secret, 'secret');
    await makeTree(root, { 'models/A_1Hour.onnx': Buffer.from('model') });
    const archive = await openArchive(root);

    await unlink(path.join(root, 'models/A_1Hour.onnx'));
    await symlink(secret, path.join(root, 'models/A_1Hour.onnx'));
    const err = await refusal(archive.read('models/A_1Hour.onnx'));
    expect(err.message).toContain('"models/A_1Hour.onnx"');
    expect(err.message).toMatch(/outside the folder/);
    await archive.close();
  });

  it('refuses a file swapped for another one after the folder was opened', async () => {
    const root = path.join(work, 'run');
    await makeTree(root, { 'summary.json': Buffer.from('{"a": 1}') });
    const archive = await openArchive(root);
    await writeFile(path.join(work, 'other.json'), '{"b": 2}');
    await rename(path.join(work, 'other.json'), path.join(root, 'summary.json'));
    const err = await refusal(archive.read('summary.json'));
    expect(err.message).toMatch(/"summary\.json" changed after the folder was opened \(it was replaced\)/);
    await archive.close();
  });

  it('refuses a file that changed after the folder was opened', async () => {
    const root = path.join(work, 'run');
    await makeTree(root, { 'summary.json': Buffer.from('{}') });
    const archive = await openArchive(root);
    await writeFile(path.join(root, 'summary.json'), '{"grown": true}');
    const err = await refusal(archive.read('summary.json'));
    expect(err.message).toContain('"summary.json"');
    expect(err.message).toMatch(/changed after the folder was opened \(its size changed\)/);
    await archive.close();
  });
});

describe('openArchive', () => {
  it('refuses a path that does not exist', async () => {
    const missing = path.join(work, 'nope.zip');
    const err = await refusal(openArchive(missing));
    expect(err.message).toContain(missing);
    expect(err.message).toMatch(/does not exist/);
  });

  it('uses generous documented defaults and validates overrides', () => {
    expect(DEFAULT_LIMITS).toEqual({
      maxEntries: 10_000,
      maxEntryBytes: 512 * 1024 * 1024,
      maxTotalBytes: 4 * 1024 ** 3,
      maxRatio: 200,
      maxArchiveBytes: 4 * 1024 ** 3,
    });
    expect(resolveLimits({ maxEntries: 5 }).maxEntries).toBe(5);
    expect(resolveLimits({ maxEntries: 5 }).maxRatio).toBe(200);
    expect(() => resolveLimits({ maxRatio: -1 })).toThrow(/maxRatio/);
    expect(() => resolveLimits({ maxEntries: Number.NaN })).toThrow(/maxEntries/);
  });
});
