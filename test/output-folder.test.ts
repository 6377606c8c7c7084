/**
 * An output folder that cannot take the report (docs/threat-model.md, "Output folders"): found before
 * the run, an input error (exit 2) naming the folder, never an internal error with a stack; and a
 * write that fails at the end (a full disk) never replaces a good report with an empty one or leaves
 * a mix of new and old files.
 *
 * The full disk at the end is injected through the writer's file-system seam (CliIo.outputFs): the
 * temp file's write fails with ENOSPC exactly as Node reports it. Where this machine lets the test
 * mount a tiny tmpfs (root with CAP_SYS_ADMIN), a real full and a real read-only file system are used
 * too; elsewhere those two cases are skipped and say so.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import type { AtomicFs } from '../src/util/atomic.js';
import { cleanupTempDirs, EXAMPLE_DATA, EXAMPLE_ZIP, tempDir } from './helpers/e2e.js';

const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts.splice(0)) {
    try {
      execFileSync('umount', [m]);
      rmdirSync(m);
    } catch {
      // best effort
    }
  }
  cleanupTempDirs();
});

async function run(argv: string[], cwd: string, outputFs?: Partial<AtomicFs>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    now: () => new Date('2025-01-02T03:04:05.000Z'),
    cwd,
    outputFs,
  });
  return { code, stdout, stderr };
}

/** A seam whose temp files named like `target` fail to write with Node's own ENOSPC error. */
function fullDiskFor(target: string): Partial<AtomicFs> {
  const fullOpen = (async (file: Parameters<typeof open>[0], flags?: Parameters<typeof open>[1], mode?: Parameters<typeof open>[2]) => {
    const fh = await open(file, flags, mode);
    if (!path.basename(String(file)).startsWith(`${target}.`)) return fh;
    fh.writeFile = async () => {
      throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { errno: -28, code: 'ENOSPC', syscall: 'write' });
    };
    return fh;
  }) as typeof open;
  return { open: fullOpen };
}

const ls = (dir: string): string[] => readdirSync(dir).sort();

describe('an output folder that cannot be written', () => {
  it('--out under a regular file: exit 2 before the run, naming the folder; no stack, nothing written', async () => {
    const ws = tempDir('out-file-');
    writeFileSync(path.join(ws, 'file.txt'), 'x');
    const r = await run(['gate', EXAMPLE_ZIP, '--out', 'file.txt/out'], ws);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /policy-gate: error: --out \S*file\.txt\/out: cannot write there \((ENOTDIR|EEXIST): [^)]+\), checked before the run\. Free space, fix the permissions, or name another folder\./,
    );
    expect(r.stderr).not.toMatch(/internal error| {4}at /);
    expect(r.stderr).not.toMatch(/archive .*files, sha256/); // the archive was never opened
    expect(ls(ws)).toEqual(['file.txt']);
  });

  it('--equity-out is probed too', async () => {
    const ws = tempDir('out-eq-');
    writeFileSync(path.join(ws, 'file.txt'), 'x');
    const r = await run(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--out', 'out', '--equity-out', 'file.txt/eq'], ws);
    expect(r.stderr).toMatch(/--equity-out \S*file\.txt\/eq: cannot write there/);
    expect(r.code).toBe(2);
  });

  it('a disk that fills up before the report is written: exit 2 naming the folder, the previous report kept byte for byte, the results on stdout', async () => {
    const ws = tempDir('out-full-');
    const first = await run(['gate', EXAMPLE_ZIP, '--out', 'out', '--json'], ws);
    expect(first.code).toBe(1); // the example's gate verdict (some models DROP)
    const before = Object.fromEntries(ls(path.join(ws, 'out')).map((f) => [f, readFileSync(path.join(ws, 'out', f), 'utf8')]));
    expect(Object.keys(before)).toEqual(['report.html', 'report.json', 'report.md']);

    // report.json and report.md would fit; report.html does not
    const r = await run(['gate', EXAMPLE_ZIP, '--out', 'out', '--json', '--config', 'c.yml'], ws, fullDiskFor('report.html'));
    expect(r.stderr).toMatch(/config file c\.yml does not exist/); // a failing run: its failure report cannot be written either
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the report could not be written to \S*out: ENOSPC: no space left on device, write; nothing there was replaced/);

    const r2 = await run(['gate', EXAMPLE_ZIP, '--out', 'out', '--json'], ws, fullDiskFor('report.html'));
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(
      /policy-gate: error: --out \S*out: cannot write there \(ENOSPC: no space left on the device\); the report was not written and nothing there was replaced \(a previous report, if any, is kept\); the results follow on stdout/,
    );
    expect(r2.stderr).not.toMatch(/internal error| {4}at /);
    // the results are not lost: the full report is on stdout
    expect(JSON.parse(r2.stdout).models.map((m: { id: string }) => m.id)).toEqual(JSON.parse(before['report.json']!).models.map((m: { id: string }) => m.id));
    // nothing replaced, no temp files left
    expect(ls(path.join(ws, 'out'))).toEqual(['report.html', 'report.json', 'report.md']);
    for (const [f, text] of Object.entries(before)) expect(readFileSync(path.join(ws, 'out', f), 'utf8'), f).toBe(text);
  });
});

/** Mounts a tmpfs at a fresh folder; null where this machine does not allow it (not root, no CAP_SYS_ADMIN). */
function tryMount(options: string): string | null {
  const dir = path.join(tempDir('out-mnt-'), 'mnt');
  mkdirSync(dir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return null;
  }
  mounts.push(dir);
  return dir;
}

const canMount = (() => {
  if (process.getuid?.() !== 0) return false;
  const probe = tryMount('size=16k');
  return probe !== null;
})();

describe.skipIf(!canMount)('real file systems (a tiny tmpfs; skipped where mounting is not allowed)', () => {
  it('a full file system: ENOSPC found by the probe, exit 2 naming the folder, before the run', async () => {
    const mnt = tryMount('size=16k')!;
    writeFileSync(path.join(mnt, 'filler'), Buffer.alloc(12 * 1024, 1)); // what is left is less than the probe needs
    const r = await run(['gate', EXAMPLE_ZIP, '--out', path.join(mnt, 'out')], tempDir('out-mnt-ws-'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out \S*mnt\/out: cannot write there \(ENOSPC: no space left on the device\), checked before the run/);
    expect(ls(mnt)).toEqual(['filler']); // the probe file and the folder it made were removed
  });

  it('a read-only file system: EROFS, exit 2 naming the folder, before the run', async () => {
    const mnt = tryMount('size=64k,ro')!;
    const r = await run(['gate', EXAMPLE_ZIP, '--out', path.join(mnt, 'out')], tempDir('out-mnt-ws-'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out \S*mnt\/out: cannot write there \(EROFS: the file system is read-only\), checked before the run/);
  });
});
