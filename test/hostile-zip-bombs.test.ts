/**
 * Hostile case: zip bombs and broken zips, end to end (threats.md Z3, Z4; docs/threat-model.md).
 *
 * Each archive goes through `policy-gate validate --out report` and must end the same way: exit 2, a
 * message naming the archive and the entry, a failure report.json that says so, nothing else written
 * anywhere, and bounded time and memory (the resident-set growth of this process while the command
 * runs is measured). The reader's unit tests (test/archive-hostile.test.ts) cover each refusal in
 * detail; these prove the whole command holds.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, EXAMPLE_DATA, exampleFiles, runCli, tempDir } from './helpers/e2e.js';
import { buildZip, deflateZeros, type ZipEntrySpec, type ZipOptions } from './helpers/zip-writer.js';

const MiB = 1024 * 1024;
afterAll(() => cleanupTempDirs());

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of readdirSync(dir, { recursive: true }) as string[]) {
    const full = path.join(dir, rel);
    out[rel] = statSync(full).isFile() ? createHash('sha256').update(readFileSync(full)).digest('hex') : 'dir';
  }
  return out;
}

/** The example archive's entries, stored, with `edit` applied. */
function exampleEntries(edit: (entries: ZipEntrySpec[]) => void = () => {}): ZipEntrySpec[] {
  const entries: ZipEntrySpec[] = Object.entries(exampleFiles()).map(([name, data]) => ({ name, data: Buffer.from(data) }));
  edit(entries);
  return entries;
}

interface Refusal {
  stderr: string;
  report: { errors: string[]; conclusion: string };
  rssGrowth: number;
}

/**
 * Runs validate on the zip in a fresh folder and checks the common outcome: exit 2, the message names
 * the archive and `entry`, the report says the same, and the folder holds only the zip and the report.
 */
async function refusedEndToEnd(entries: ZipEntrySpec[] | Buffer, entry: string, options?: ZipOptions): Promise<Refusal> {
  const parent = tempDir('bomb-');
  const ws = path.join(parent, 'ws');
  mkdirSync(ws);
  writeFileSync(path.join(ws, 'archive.zip'), Buffer.isBuffer(entries) ? entries : buildZip(entries, options));
  const before = snapshot(parent);
  (globalThis as { gc?: () => void }).gc?.();
  const rss0 = process.memoryUsage.rss();
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2);
  const run = await runCli(['validate', 'archive.zip', '--data', EXAMPLE_DATA, '--out', 'report'], ws);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  expect(run.code, run.stderr).toBe(2);
  expect(run.stderr).toMatch(/^policy-gate: error: \S*archive\.zip: /m);
  expect(run.stderr).toContain(JSON.stringify(entry));
  expect(run.stdout).toBe('');
  const report = JSON.parse(readFileSync(path.join(ws, 'report', 'report.json'), 'utf8'));
  expect(report.conclusion).toBe('failure');
  expect(report.errors).toHaveLength(1);
  expect(report.errors[0]).toContain(JSON.stringify(entry));
  const after = snapshot(parent);
  for (const k of Object.keys(after)) if (k.startsWith(path.join('ws', 'report'))) delete after[k];
  expect(after).toEqual(before);
  return { stderr: run.stderr, report, rssGrowth: peak - rss0 };
}

describe('zip bombs', () => {
  it('a 400 MiB zero-filled model in under 1 MiB: refused by its ratio before inflating, in bounded memory', async () => {
    const { compressed, crc32 } = await deflateZeros(400 * MiB);
    expect(compressed.length).toBeLessThan(MiB);
    const bomb = 'Alpaca_trading/models/rl_symbols/BTCUSD_1Hour.onnx';
    const r = await refusedEndToEnd(
      exampleEntries((e) => {
        const i = e.findIndex((x) => x.name === bomb);
        e[i] = { name: bomb, method: 8, compressed, crc32, uncompressedSize: 400 * MiB };
      }),
      bomb,
    );
    expect(r.stderr).toMatch(/has a compression ratio of \d+:1 \(400 MiB from [\d.]+ KiB\).*zip bomb/);
    expect(r.rssGrowth).toBeLessThan(64 * MiB);
  });

  it('a declared size that understates the data: inflating stops just past it', async () => {
    // The training summary declared as 1,000 bytes, inflating to 400 MiB.
    const { compressed, crc32 } = await deflateZeros(400 * MiB);
    const bomb = 'Alpaca_trading/training_summary_20240911_120000.json';
    const r = await refusedEndToEnd(
      exampleEntries((e) => {
        const i = e.findIndex((x) => x.name === bomb);
        e[i] = { name: bomb, method: 8, compressed, crc32, uncompressedSize: 1_000 };
      }),
      bomb,
    );
    expect(r.stderr).toMatch(/is larger than declared: the central directory says 1000 bytes/);
    const stoppedAt = Number(/stopped at (\d+) bytes/.exec(r.stderr)?.[1]);
    expect(stoppedAt).toBeGreaterThan(1_000);
    expect(stoppedAt).toBeLessThanOrEqual(1_000 + 64 * 1024);
    expect(r.rssGrowth).toBeLessThan(64 * MiB);
  });

  it('a declared size that overstates the data: the entry is truncated', async () => {
    const model = 'Alpaca_trading/models/rl_symbols/BTCUSD_4Hour.onnx';
    const r = await refusedEndToEnd(
      exampleEntries((e) => {
        const i = e.findIndex((x) => x.name === model);
        e[i] = { ...e[i]!, uncompressedSize: (e[i]!.data as Buffer).length + 1 };
      }),
      model,
    );
    expect(r.stderr).toMatch(/is truncated: it holds 954 bytes but the central directory declares 955/);
  });

  it('100,000 entries: refused from the end record alone (the entries are never parsed) and in bounded memory', async () => {
    const entries: ZipEntrySpec[] = Array.from({ length: 100_000 }, (_, i) => ({ name: `m/${i}.onnx`, data: 'x' }));
    const zip = buildZip(entries, { zip64: true });
    // Break the first central directory header: parsing any entry would refuse the archive for that.
    const cd = zip.indexOf(Buffer.from('PK\x01\x02', 'latin1'));
    expect(cd).toBeGreaterThan(0);
    zip[cd + 2] = 0x09;
    const parent = tempDir('bomb-');
    writeFileSync(path.join(parent, 'archive.zip'), zip);
    (globalThis as { gc?: () => void }).gc?.();
    const rss0 = process.memoryUsage.rss();
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2);
    const run = await runCli(['validate', 'archive.zip', '--data', EXAMPLE_DATA, '--out', 'report'], parent);
    clearInterval(sampler);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('archive.zip: the archive has 100000 entries, more than the limit of 10000; refusing the archive.');
    expect(peak - rss0).toBeLessThan(64 * MiB);
    expect(JSON.parse(readFileSync(path.join(parent, 'report', 'report.json'), 'utf8')).errors[0]).toContain('100000 entries');
  }, 60_000);

  it('two central records pointing at one local header (overlapping entries)', async () => {
    const r = await refusedEndToEnd(
      exampleEntries((e) => {
        e.push({ name: 'Alpaca_trading/models/rl_symbols/XRPUSD_1Hour.onnx', data: 'x', shareLocalWith: 2 });
      }),
      'Alpaca_trading/models/rl_symbols/XRPUSD_1Hour.onnx',
    );
    // Its local header is entry 2's, so the names disagree (and the ranges overlap): refused either way.
    expect(r.stderr).toContain('has a local header with a different name; refusing the archive');
  });

  it('an entry whose declared data swallows the next entry (Fifield-style overlap)', async () => {
    const inner = { name: 'inner.onnx', data: Buffer.from('inner-data') };
    const outerData = Buffer.from('outer');
    const swallowed = outerData.length + 30 + inner.name.length + inner.data.length;
    const r = await refusedEndToEnd([{ name: 'outer.onnx', data: outerData, compressedSize: swallowed, uncompressedSize: swallowed }, inner], 'inner.onnx');
    expect(r.stderr).toContain('overlaps entry "outer.onnx" in the file — a possible zip bomb');
  });
});

describe('truncated and garbage files', () => {
  it.each([0.25, 0.6, 0.99])('a zip cut at %d of its length', async (fraction) => {
    const zip = buildZip(exampleEntries());
    const parent = tempDir('cut-');
    writeFileSync(path.join(parent, 'archive.zip'), zip.subarray(0, Math.floor(zip.length * fraction)));
    const run = await runCli(['validate', 'archive.zip', '--data', EXAMPLE_DATA, '--out', 'report'], parent);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^policy-gate: error: \S*archive\.zip: not a zip archive \(.*\); it may be truncated or another kind of file\./m);
    expect(JSON.parse(readFileSync(path.join(parent, 'report', 'report.json'), 'utf8')).errors[0]).toMatch(/not a zip archive/);
  });

  it('an empty file and random bytes', async () => {
    for (const bytes of [Buffer.alloc(0), createHash('sha512').update('garbage').digest()]) {
      const parent = tempDir('junk-');
      writeFileSync(path.join(parent, 'archive.zip'), bytes);
      const run = await runCli(['validate', 'archive.zip', '--data', EXAMPLE_DATA], parent);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('archive.zip: not a zip archive');
    }
  });
});
