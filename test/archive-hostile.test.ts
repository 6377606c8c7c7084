/**
 * Hostile and broken archives (threats.md Z1-Z4), all built by code: every one must be refused with
 * an input error (exit 2) that names the archive and the entry, before anything is inflated where the
 * central directory already tells, and without writing anything to disk.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openArchive, type ArchiveLimits } from '../src/adapters/archive/index.js';
import { checkEntryName } from '../src/adapters/archive/names.js';
import { PolicyGateError } from '../src/core/errors.js';
import { buildZip, deflateZeros, S_IFDIR, S_IFIFO, S_IFLNK, unixAttributes, type ZipEntrySpec, type ZipOptions } from './helpers/zip-writer.js';

const MiB = 1024 * 1024;

/** Each test's own folder: `outer/work/archive.zip`, so a write through "../" would land in `outer`. */
let outer: string;
let work: string;
/** What the test itself wrote into `work`. */
let written: string[];
beforeEach(async () => {
  outer = await mkdtemp(path.join(tmpdir(), 'policy-gate-hostile-'));
  work = path.join(outer, 'work');
  await mkdir(work);
  written = [];
});
afterEach(async () => {
  await rm(outer, { recursive: true, force: true });
});

async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map((e) => e.split(path.sep).join('/')).sort();
}

async function writeZip(entries: ZipEntrySpec[], options?: ZipOptions, name = 'archive.zip'): Promise<string> {
  const file = path.join(work, name);
  await writeFile(file, buildZip(entries, options));
  written.push(name);
  return file;
}

/** Awaits a refusal: a PolicyGateError with exit code 2 whose message names the archive and each of `names`. */
async function refused(promise: Promise<unknown>, source: string, ...mentions: string[]): Promise<PolicyGateError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a refusal').toBeInstanceOf(PolicyGateError);
  const error = err as PolicyGateError;
  expect(error.exitCode).toBe(2);
  expect(error.message).toContain(source);
  for (const m of mentions) expect(error.message).toContain(m);
  return error;
}

/** Refused at open, naming the entry; and nothing but the archive exists afterwards. */
async function refusedAtOpen(file: string, entry: string, limits?: Partial<ArchiveLimits>): Promise<PolicyGateError> {
  const err = await refused(openArchive(file, limits), file, JSON.stringify(entry));
  expect(err.subject).toBe(entry);
  expect(await listTree(outer)).toEqual(['work', ...written.map((w) => `work/${w}`)].sort());
  return err;
}

/** Samples this process's RSS while `run` runs; returns the peak growth in bytes. */
async function peakRssGrowth(run: () => Promise<unknown>): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage.rss();
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 2);
  try {
    await run();
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, process.memoryUsage.rss());
  return peak - before;
}

describe('unsafe entry names (Z1)', () => {
  const cases: [name: string, reason: RegExp][] = [
    ['../evil', /escapes the archive root \(a "\.\." segment\)/],
    ['a/../../x', /escapes the archive root/],
    ['hack/../../x', /escapes the archive root/],
    ['../out2/x', /escapes the archive root/],
    ['a/b/../../../c', /escapes the archive root/],
    ['..', /escapes the archive root/],
    ['a/..', /escapes the archive root/],
    ['/etc/passwd', /is an absolute path/],
    ['/', /is an absolute path/],
    ['C:/x', /starts with a drive letter/],
    ['C:x', /starts with a drive letter/],
    ['a\\b', /contains a backslash/],
    ['\\evil', /contains a backslash/],
    ['..\\evil', /contains a backslash/],
    ['x\0.onnx', /contains a NUL byte/],
    ['', /has an empty name/],
    ['./a', /has a "\." segment/],
    ['a/./b', /has a "\." segment/],
    ['a//b', /has an empty path segment/],
    ['models/a\nb.onnx', /contains a control character/],
  ];

  it.each(cases)('refuses %j', async (name, reason) => {
    const file = await writeZip([
      { name: 'summary.json', data: '{}' },
      { name, data: 'pwned', method: 8 },
    ]);
    // refusedAtOpen checks that nothing appeared next to or above the archive; check the working
    // directory too, where a relative name would land if anything extracted it.
    const target = name.includes('\0') ? undefined : path.resolve(name);
    const existedBefore = target !== undefined && existsSync(target);
    const err = await refusedAtOpen(file, name);
    expect(err.message).toMatch(reason);
    expect(err.message).toMatch(/refusing the archive\. (Rebuild|Rename)/);
    if (target !== undefined) expect(existsSync(target)).toBe(existedBefore);
  });

  it('refuses an unsafe directory entry', async () => {
    const file = await writeZip([{ name: '../evil/', externalAttributes: unixAttributes(S_IFDIR | 0o755) }]);
    await refusedAtOpen(file, '../evil/');
    expect(existsSync(path.join(outer, 'evil'))).toBe(false);
  });

  it('refuses a name that is not valid UTF-8', async () => {
    const file = await writeZip([{ name: Buffer.from([0x6d, 0xff, 0xfe, 0x2e, 0x6f]), data: 'x' }]);
    const err = await refused(openArchive(file), file, 'not valid UTF-8');
    expect(err.message).toContain('"m\uFFFD\uFFFD.o"');
  });
});

describe('symlinks and special files (Z2)', () => {
  it('refuses a symlink entry, even when a regular file of the same name follows', async () => {
    const file = await writeZip([
      { name: 'evil', data: '/etc/passwd', externalAttributes: unixAttributes(S_IFLNK | 0o777) },
      { name: 'evil', data: 'overwrite' },
    ]);
    const err = await refusedAtOpen(file, 'evil');
    expect(err.message).toMatch(/is a symbolic link/);
  });

  it('refuses a directory symlink with a file "inside" it', async () => {
    const file = await writeZip([
      { name: 'd', data: tmpdir(), externalAttributes: unixAttributes(S_IFLNK | 0o777) },
      { name: 'd/x', data: 'x' },
    ]);
    await refusedAtOpen(file, 'd');
  });

  it('refuses a FIFO entry', async () => {
    const file = await writeZip([{ name: 'models/pipe', externalAttributes: unixAttributes(S_IFIFO | 0o644) }]);
    const err = await refusedAtOpen(file, 'models/pipe');
    expect(err.message).toMatch(/not a regular file or directory/);
  });

  it('accepts MS-DOS attributes (no Unix mode) as regular files', async () => {
    const file = await writeZip([{ name: 'summary.json', data: '{}', externalAttributes: 0x20, versionMadeBy: 20 }]);
    const archive = await openArchive(file);
    expect(archive.files).toEqual([{ path: 'summary.json', size: 2 }]);
    await archive.close();
  });
});

describe('duplicates, encryption, methods and header disagreements', () => {
  it('refuses two entries with the same path', async () => {
    const file = await writeZip([
      { name: 'models/BTCUSD_1Hour.onnx', data: 'good' },
      { name: 'models/BTCUSD_1Hour.onnx', data: 'evil' },
    ]);
    const err = await refusedAtOpen(file, 'models/BTCUSD_1Hour.onnx');
    expect(err.message).toMatch(/appears more than once/);
  });

  it('refuses a file and a directory with the same path', async () => {
    const file = await writeZip([
      { name: 'models', data: 'x' },
      { name: 'models/', externalAttributes: unixAttributes(S_IFDIR | 0o755) },
    ]);
    await refusedAtOpen(file, 'models/');
  });

  it('refuses an encrypted entry', async () => {
    const file = await writeZip([{ name: 'summary.json', data: 'xxxxxxxxxxxx{}', flags: 0x01 }]);
    const err = await refusedAtOpen(file, 'summary.json');
    expect(err.message).toMatch(/is encrypted/);
  });

  it('refuses compression methods other than stored and deflate', async () => {
    const file = await writeZip([{ name: 'summary.json', data: '{}', method: 12 }]);
    const err = await refusedAtOpen(file, 'summary.json');
    expect(err.message).toMatch(/compression method 12/);
  });

  it('refuses a directory entry with content', async () => {
    const file = await writeZip([{ name: 'models/', data: 'hidden', externalAttributes: unixAttributes(S_IFDIR | 0o755) }]);
    await refusedAtOpen(file, 'models/');
  });

  it('refuses a local header that names another file (Z4)', async () => {
    const file = await writeZip([{ name: 'summary.json', localName: 'evil.json', data: '{}' }]);
    const err = await refusedAtOpen(file, 'summary.json');
    expect(err.message).toMatch(/local header with a different name/);
  });

  it('refuses a local header with another compression method (Z4)', async () => {
    const file = await writeZip([{ name: 'summary.json', data: '{}', method: 0, localMethod: 8 }]);
    const err = await refusedAtOpen(file, 'summary.json');
    expect(err.message).toMatch(/different compression method/);
  });
});

describe('local headers that disagree with the central directory on CRC-32 or sizes (Z4)', () => {
  /** A real zip (deflated by zlib, headers as every zip tool writes them), then one local-header field overwritten byte-wise. */
  async function corrupted(field: 'crc' | 'compressed' | 'uncompressed', value: number): Promise<string> {
    const bytes = buildZip([
      { name: 'a.json', data: '{"first": true}', method: 8 },
      { name: 'models/m.onnx', data: randomBytes(3000), method: 8 },
    ]);
    // the second entry's local header: after the first entry's header, name and data
    const second = bytes.indexOf(Buffer.from('PK\x03\x04', 'latin1'), 4);
    expect(bytes.toString('utf8', second + 30, second + 30 + 13)).toBe('models/m.onnx');
    const at = second + { crc: 14, compressed: 18, uncompressed: 22 }[field];
    expect(bytes.readUInt32LE(at)).not.toBe(value);
    bytes.writeUInt32LE(value >>> 0, at);
    const file = path.join(work, `local-${field}.zip`);
    await writeFile(file, bytes);
    written.push(`local-${field}.zip`);
    return file;
  }

  it.each([
    ['crc', 0xdeadbeef, /has a local header whose CRC-32 \(deadbeef\) differs from the central directory's \([0-9a-f]{8}\)/],
    ['compressed', 10, /has a local header whose compressed size \(10\) differs from the central directory's \(\d+\)/],
    ['uncompressed', 999_999, /has a local header whose uncompressed size \(999999\) differs from the central directory's \(3000\)/],
  ] as const)('a local %s that differs: refused at open, naming the entry', async (field, value, message) => {
    const file = await corrupted(field, value);
    const err = await refusedAtOpen(file, 'models/m.onnx');
    expect(err.message).toMatch(message);
  });

  it("a streaming writer's zeros (data-descriptor flag) are accepted; the data still reads and checks its CRC", async () => {
    const data = randomBytes(2000);
    const bytes = buildZip([{ name: 'models/m.onnx', data, method: 8, flags: 0x0008 }]);
    for (const at of [14, 18, 22]) bytes.writeUInt32LE(0, at);
    const file = path.join(work, 'descriptor.zip');
    await writeFile(file, bytes);
    written.push('descriptor.zip');
    const reader = await openArchive(file);
    try {
      expect(Buffer.from(await reader.read('models/m.onnx')).equals(data)).toBe(true);
    } finally {
      await reader.close();
    }
  });
});

describe('size and count limits (Z3)', () => {
  it('refuses more entries than a lowered limit', async () => {
    const file = await writeZip(Array.from({ length: 4 }, (_, i) => ({ name: `f${i}`, data: 'x' })));
    const err = await refused(openArchive(file, { maxEntries: 3 }), file, '4 entries', 'limit of 3');
    expect(err.subject).toBe(file);
  });

  it('refuses 20,000 tiny entries under the default limit, without parsing them', async () => {
    // The last entry's name leaves the root: parsed, it would be refused by name. It is refused by the
    // count, read from the end record before any entry is parsed.
    const file = await writeZip(Array.from({ length: 20_000 }, (_, i) => ({ name: i === 19_999 ? '../evil.onnx' : `m/${i}.onnx`, data: 'x' })));
    const err = await refused(openArchive(file), file, '20000 entries', 'limit of 10000');
    expect(err.message).not.toContain('evil');
  });

  it('refuses an EOCD record that claims more entries than the file can hold', async () => {
    const file = await writeZip([{ name: 'summary.json', data: '{}' }], { eocdEntryCount: 65_534 });
    await refused(openArchive(file), file, '65534 entries', 'limit of 10000');
    await refused(openArchive(file, { maxEntries: 100_000 }), file, 'too small for the 65534 entries');
    // 0xffff means "see the zip64 record", which this file does not have.
    const zip64Claim = await writeZip([{ name: 'summary.json', data: '{}' }], { eocdEntryCount: 0xffff }, 'claim.zip');
    await refused(openArchive(zip64Claim), zip64Claim, 'not a zip archive');
  });

  it('refuses an entry whose declared size is over the per-file limit', async () => {
    const file = await writeZip([{ name: 'models/big.onnx', data: randomBytes(2_000) }]);
    const err = await refusedAtOpen(file, 'models/big.onnx', { maxEntryBytes: 1_000 });
    expect(err.message).toMatch(/more than the per-file limit of 1000 bytes/);

    // A 120-byte zip declaring 4 GB (adm-zip CVE: Buffer.alloc(declared)) is refused by the default limit.
    const lie = await writeZip([{ name: 'models/huge.onnx', data: 'x', uncompressedSize: 0xfffffff0, method: 8 }], {}, 'lie.zip');
    await refusedAtOpen(lie, 'models/huge.onnx');
  });

  it('refuses when the declared total is over the limit', async () => {
    const file = await writeZip([
      { name: 'a.onnx', data: randomBytes(600) },
      { name: 'b.onnx', data: randomBytes(600) },
    ]);
    const err = await refusedAtOpen(file, 'b.onnx', { maxTotalBytes: 1_000 });
    expect(err.message).toMatch(/total past the limit/);
  });

  it('refuses an archive file over the size limit', async () => {
    const file = await writeZip([{ name: 'a.onnx', data: randomBytes(2_000) }]);
    await refused(openArchive(file, { maxArchiveBytes: 1_000 }), file, 'more than the limit of 1000 bytes');
  });
});

describe('zip bombs (Z3)', () => {
  it('refuses a 400 MiB zero-filled entry by its ratio, before inflating anything', async () => {
    const { compressed, crc32 } = await deflateZeros(400 * MiB);
    expect(compressed.length).toBeLessThan(1 * MiB);
    const file = await writeZip([
      { name: 'summary.json', data: '{}' },
      { name: 'models/BTCUSD_1Hour.onnx', method: 8, compressed, crc32, uncompressedSize: 400 * MiB },
    ]);

    let err: unknown;
    const growth = await peakRssGrowth(async () => {
      err = await openArchive(file).catch((e: unknown) => e);
    });
    await refused(Promise.reject(err), file, '"models/BTCUSD_1Hour.onnx"', 'compression ratio', 'zip bomb');
    expect(growth).toBeLessThan(64 * MiB);
  });

  it('stops inflating at the declared size when the central directory understates it', async () => {
    // The same 400 MiB of zeros declared as 1 MiB: small enough to be exempt from the ratio check.
    const { compressed, crc32 } = await deflateZeros(400 * MiB);
    const declared = 1 * MiB;
    const file = await writeZip([{ name: 'models/bomb.onnx', method: 8, compressed, crc32, uncompressedSize: declared }]);
    const archive = await openArchive(file);
    expect(archive.files).toEqual([{ path: 'models/bomb.onnx', size: declared }]);

    let err: unknown;
    const growth = await peakRssGrowth(async () => {
      err = await archive.read('models/bomb.onnx').catch((e: unknown) => e);
    });
    const error = await refused(Promise.reject(err), file, '"models/bomb.onnx"', 'larger than declared');
    const stoppedAt = Number(/stopped at (\d+) bytes/.exec(error.message)?.[1]);
    expect(stoppedAt).toBeGreaterThan(declared);
    expect(stoppedAt).toBeLessThanOrEqual(declared + 64 * 1024);
    expect(growth).toBeLessThan(64 * MiB);
    await archive.close();
  });

  it('refuses entries that overlap in the file (Fifield-style)', async () => {
    // "outer" declares a data range that swallows "inner"'s local header and data.
    const inner = { name: 'inner.onnx', data: 'inner-data' };
    const outerData = Buffer.from('outer');
    const swallowed = outerData.length + 30 + inner.name.length + inner.data.length;
    const file = await writeZip([{ name: 'outer.onnx', data: outerData, compressedSize: swallowed, uncompressedSize: swallowed }, inner]);
    const err = await refusedAtOpen(file, 'inner.onnx');
    expect(err.message).toMatch(/overlaps entry "outer\.onnx"/);
  });

  it('refuses two central records that point at one local header', async () => {
    const file = await writeZip([
      { name: 'models/A_1Hour.onnx', data: 'model' },
      { name: 'models/B_1Hour.onnx', data: 'model', shareLocalWith: 0 },
    ]);
    await refusedAtOpen(file, 'models/B_1Hour.onnx');
  });

  it('refuses an entry that points outside the file', async () => {
    const file = await writeZip([{ name: 'summary.json', data: '{}', localHeaderOffset: 1_000_000 }]);
    const err = await refusedAtOpen(file, 'summary.json');
    expect(err.message).toMatch(/points outside/);
  });

  it('refuses an entry whose compressed size runs into the central directory', async () => {
    const file = await writeZip([{ name: 'summary.json', data: '{}', compressedSize: 5_000 }]);
    const err = await refusedAtOpen(file, 'summary.json');
    expect(err.message).toMatch(/extends past the end of the entries/);
  });
});

describe('lying sizes and corrupt data at read time', () => {
  const payload = randomBytes(100_000);

  it.each([
    ['deflate', 8],
    ['stored', 0],
  ])('aborts a %s entry that is larger than declared', async (_label, method) => {
    const file = await writeZip([{ name: 'models/A_1Hour.onnx', data: payload, method, uncompressedSize: 1_000 }]);
    const archive = await openArchive(file);
    const err = await refused(archive.read('models/A_1Hour.onnx'), file, '"models/A_1Hour.onnx"', 'larger than declared');
    expect(err.subject).toBe('models/A_1Hour.onnx');
    await archive.close();
  });

  it.each([
    ['deflate', 8],
    ['stored', 0],
  ])('refuses a %s entry that is smaller than declared as truncated', async (_label, method) => {
    const file = await writeZip([{ name: 'models/A_1Hour.onnx', data: payload, method, uncompressedSize: payload.length + 1 }]);
    const archive = await openArchive(file);
    await refused(archive.read('models/A_1Hour.onnx'), file, '"models/A_1Hour.onnx"', 'truncated');
    await archive.close();
  });

  it('refuses a deflate stream cut short', async () => {
    const compressed = zlib.deflateRawSync(payload);
    const file = await writeZip([{ name: 'models/A_1Hour.onnx', method: 8, compressed: compressed.subarray(0, compressed.length >> 1), uncompressedSize: payload.length }]);
    const archive = await openArchive(file);
    await refused(archive.read('models/A_1Hour.onnx'), file, '"models/A_1Hour.onnx"', 'truncated');
    await archive.close();
  });

  it('refuses corrupt deflate data', async () => {
    const file = await writeZip([{ name: 'models/A_1Hour.onnx', method: 8, compressed: Buffer.alloc(64, 0xff), uncompressedSize: 1_000 }]);
    const archive = await openArchive(file);
    await refused(archive.read('models/A_1Hour.onnx'), file, '"models/A_1Hour.onnx"', 'corrupt compressed data');
    await archive.close();
  });

  it('refuses a CRC-32 mismatch', async () => {
    const good = zlib.crc32(payload);
    const file = await writeZip([{ name: 'models/A_1Hour.onnx', data: payload, method: 8, crc32: good ^ 1 }]);
    const archive = await openArchive(file);
    await refused(archive.read('models/A_1Hour.onnx'), file, '"models/A_1Hour.onnx"', 'CRC-32');
    await archive.close();
  });

  it('refuses to read an unknown path, naming it', async () => {
    const file = await writeZip([{ name: 'summary.json', data: '{}' }]);
    const archive = await openArchive(file);
    const err = await refused(archive.read('../evil'), file, '"../evil"');
    expect(err.subject).toBe('../evil');
    await archive.close();
  });
});

describe('files that are not (whole) zips', () => {
  it('refuses garbage', async () => {
    const file = path.join(work, 'archive.zip');
    await writeFile(file, randomBytes(10_000));
    await refused(openArchive(file), file, 'not a zip archive');
    const tiny = path.join(work, 'tiny.zip');
    await writeFile(tiny, 'PK');
    await refused(openArchive(tiny), tiny, 'not a zip archive');
  });

  it('refuses a zip cut in half', async () => {
    const zip = buildZip([
      { name: 'summary.json', data: '{}' },
      { name: 'models/A_1Hour.onnx', data: randomBytes(5_000), method: 8 },
    ]);
    const file = path.join(work, 'archive.zip');
    await writeFile(file, zip.subarray(0, zip.length >> 1));
    await refused(openArchive(file), file, 'not a zip archive', 'truncated');
  });

  it('refuses a zip appended to another file (offsets do not match)', async () => {
    const first = buildZip([{ name: 'summary.json', data: '{"decoy": true}' }]);
    const second = buildZip([{ name: 'summary.json', data: '{}' }]);
    const file = path.join(work, 'archive.zip');
    await writeFile(file, Buffer.concat([first, second]));
    await refused(openArchive(file), file, 'not a zip archive', 'does not end where');
  });
});

describe('hostile folders', () => {
  it('refuses a symlink inside the folder, naming it', async () => {
    const root = path.join(work, 'run');
    await mkdir(path.join(root, 'models'), { recursive: true });
    await writeFile(path.join(root, 'summary.json'), '{}');
    await writeFile(path.join(outer, 'secret.txt'), 'secret');
    await symlink(path.join(outer, 'secret.txt'), path.join(root, 'models', 'BTCUSD_1Hour.onnx'));
    const err = await refused(openArchive(root), root, '"models/BTCUSD_1Hour.onnx"', 'is a symbolic link');
    expect(err.subject).toBe('models/BTCUSD_1Hour.onnx');
  });

  it('refuses a directory symlink deep inside', async () => {
    const root = path.join(work, 'run');
    await mkdir(path.join(root, 'a', 'b'), { recursive: true });
    await symlink(tmpdir(), path.join(root, 'a', 'b', 'tmp'), 'dir');
    await refused(openArchive(root), root, '"a/b/tmp"', 'is a symbolic link');
  });

  it('refuses a file name with a backslash', async () => {
    const root = path.join(work, 'run');
    await mkdir(root);
    await writeFile(path.join(root, 'a\\b.onnx'), 'x');
    await refused(openArchive(root), root, JSON.stringify('a\\b.onnx'), 'backslash');
  });

  it('applies the count and size limits', async () => {
    const root = path.join(work, 'run');
    await mkdir(path.join(root, 'models'), { recursive: true });
    for (let i = 0; i < 4; i++) await writeFile(path.join(root, 'models', `M${i}.onnx`), randomBytes(600));
    await refused(openArchive(root, { maxEntries: 3 }), root, 'more than 3 files and folders');
    await refused(openArchive(root, { maxEntryBytes: 500 }), root, '"models/M', 'per-file limit');
    await refused(openArchive(root, { maxTotalBytes: 1_000 }), root, '"models/M', 'total past the limit');
  });
});

/** A small seeded generator, so a failure reproduces. */
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x80000000;
  };
}

describe('robustness', () => {
  it('accepts a name only if it stays inside the root, for arbitrary names', () => {
    const random = lcg(7);
    const pieces = ['a', 'b.onnx', '.', '..', '/', '//', '\\', 'C:', ':', '\0', ' ', '...', '.a'];
    for (let i = 0; i < 20_000; i++) {
      const length = Math.floor(random() * 6);
      const name = Array.from({ length }, () => pieces[Math.floor(random() * pieces.length)]).join('');
      if (checkEntryName(name) !== undefined) continue;
      const body = name.endsWith('/') ? name.slice(0, -1) : name;
      const resolved = path.posix.resolve('/root', body);
      expect(resolved.startsWith('/root/'), name).toBe(true);
      expect(path.posix.relative('/root', resolved), name).toBe(body);
      expect(path.win32.isAbsolute(body) || body.includes('\\') || body.includes('\0'), name).toBe(false);
    }
  });

  it.each([
    ['zip32', false],
    ['zip64', true],
  ])('reads or refuses randomly corrupted %s archives, never crashing', async (_label, zip64) => {
    const base = buildZip(
      [
        { name: 'a/', externalAttributes: unixAttributes(S_IFDIR | 0o755) },
        { name: 'a/summary.json', data: '{"x": 1}'.repeat(20), method: 8 },
        { name: 'a/m.onnx', data: randomBytes(300) },
        { name: 'b.onnx', data: Buffer.alloc(5000, 7), method: 8 },
      ],
      { zip64 },
    );
    const random = lcg(zip64 ? 64 : 32);
    const file = path.join(work, 'mutant.zip');
    for (let i = 0; i < 400; i++) {
      const mutant = Buffer.from(base);
      for (let k = 1 + Math.floor(random() * 4); k > 0; k--) {
        mutant[Math.floor(random() * mutant.length)] = random() < 0.3 ? 0xff : random() < 0.5 ? 0 : Math.floor(random() * 256);
      }
      await writeFile(file, mutant);
      const archive = await openArchive(file).catch((err: unknown) => {
        expect(err, `mutant ${i}`).toBeInstanceOf(PolicyGateError);
        return undefined;
      });
      if (!archive) continue;
      for (const f of archive.files) {
        await archive.read(f.path).catch((err: unknown) => expect(err, `mutant ${i}: ${f.path}`).toBeInstanceOf(PolicyGateError));
      }
      await archive.close();
    }
  });

  it.runIf(existsSync('/proc/self/fd'))('closes the archive file when it refuses one', async () => {
    const file = await writeZip([{ name: '../evil', data: 'x' }]);
    const openFds = async () => (await readdir('/proc/self/fd')).length;
    const before = await openFds();
    for (let i = 0; i < 20; i++) await openArchive(file).catch(() => undefined);
    expect(await openFds()).toBe(before);
  });
});
