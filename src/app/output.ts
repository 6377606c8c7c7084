/**
 * Writing report.json, report.md and report.html: all three to temp files first, then each renamed
 * over its target, so a full or read-only disk leaves the folder as it was (the previous report, if
 * any) and never a mix of new and old files, nor an empty report in place of a good one. The output
 * folders are probed before a run, so an unwritable one is found before the work, not after.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, rmdir, stat } from 'node:fs/promises';
import { writeFileAtomic, type AtomicFs } from '../util/atomic.js';
export { writeFileAtomic };
import { dirname, join, resolve } from 'node:path';
import { inputError, type PolicyGateError } from '../core/errors.js';
import type { Report } from '../core/report.js';
import { renderMarkdown } from '../core/render/markdown.js';
import { renderHtml } from '../core/render/html.js';
import { outputRedactor, redactDeep, redactOutput } from '../util/redact.js';
import { visibleText } from '../util/visible.js';

/**
 * report.json text. JSON.stringify would silently turn NaN or Infinity into null; a non-finite number
 * here is a bug, so it is recorded in the report's errors with its path instead of passing unnoticed.
 */
export function reportJson(report: Report): string {
  const bad: string[] = [];
  const text = JSON.stringify(
    report,
    function (this: unknown, key: string, value: unknown) {
      if (typeof value === 'number' && !Number.isFinite(value)) {
        bad.push(key);
        return null;
      }
      return value;
    },
    2,
  );
  if (bad.length === 0) return text;
  const fixed = { ...report, errors: [...report.errors, `internal: non-finite numbers written as null at keys ${bad.join(', ')}`] };
  return JSON.stringify(fixed, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}

/**
 * The report as every output shows it: each string (keys included) with every registered secret
 * redacted and every control, bidirectional or zero-width character shown as a visible escape
 * (src/util/redact.ts, src/util/visible.ts). It runs on the DATA, before any markdown or HTML
 * escaping, so no escaping can change a secret's spelling past the redactor. Idempotent.
 */
export function outputReport(report: Report): Report {
  return redactDeep(report, outputRedactor, visibleText);
}

const REAL_FS: AtomicFs = { mkdir, open, rename, rm };

/** File-system errors that mean "this folder cannot take the output": the user's to fix (exit 2). */
const UNWRITABLE: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exhausted',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'a part of the path exists and is not a folder',
  EISDIR: 'a folder is in the way of a file',
  EMFILE: 'too many open files',
};

/** An input error naming `what` (`--out out`, say) and the system's reason, when `err` is one of UNWRITABLE; otherwise null. */
export function unwritableError(what: string, err: unknown, after = ''): PolicyGateError | null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code !== 'string' || !(code in UNWRITABLE)) return null;
  return inputError(`${what}: cannot write there (${code}: ${UNWRITABLE[code]})${after}. Free space, fix the permissions, or name another folder.`, what, err);
}

/**
 * Creates `dir` if needed, writes a small probe file in it and removes it: a folder that cannot take
 * the report is refused before the run (an input error, exit 2, naming the folder), not after it.
 */
export async function probeOutputFolder(flag: string, dir: string, fs: Partial<AtomicFs> = {}): Promise<void> {
  const { mkdir, open, rm } = { ...REAL_FS, ...fs };
  const probe = join(dir, `.policy-gate-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  let created: string | undefined;
  try {
    created = await mkdir(dir, { recursive: true }).catch(async (err: unknown) => {
      // A recursive mkdir reports ENOENT for what is really EROFS or EACCES on the first missing
      // folder: make that one alone to get the true reason.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      let first = dir;
      while (
        dirname(first) !== first &&
        (await stat(dirname(first)).then(
          () => false,
          () => true,
        ))
      )
        first = dirname(first);
      await mkdir(first);
      throw err;
    });
    const fh = await open(probe, 'wx');
    try {
      // Enough bytes that a full disk says so now (a zero-byte file needs no block).
      await fh.writeFile(Buffer.alloc(64 * 1024, 0x20));
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    await rm(probe, { force: true }).catch(() => undefined);
    await removeCreated(dir, created);
    throw unwritableError(`${flag} ${dir}`, err, ', checked before the run') ?? err;
  }
  await rm(probe, { force: true });
  // The folders the probe made are removed again: a run that stops early leaves nothing behind
  // (the writers create them when they write).
  await removeCreated(dir, created);
}

/** Removes `dir` and its parents up to `created` (the first folder mkdir made), each only if empty. */
async function removeCreated(dir: string, created: string | undefined): Promise<void> {
  if (created === undefined) return;
  for (let d = resolve(dir); ; d = dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
    if (d === resolve(created) || dirname(d) === d) return;
  }
}

export async function writeReportFiles(raw: Report, dir: string, fs: Partial<AtomicFs> = {}): Promise<string[]> {
  const report = outputReport(raw);
  const { mkdir, open, rename, rm } = { ...REAL_FS, ...fs };
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    ['report.json', reportJson(report) + '\n'],
    // report.md sits beside report.html (in the folder and in the artifact): a relative link to the charts.
    ['report.md', renderMarkdown(report, { htmlLink: '[report.html](report.html)' })],
    ['report.html', renderHtml(report)],
  ];
  // Phase 1: every file to a temp file beside its target (fsynced). A failure here (a full disk)
  // removes the temps and leaves the folder exactly as it was.
  const staged: { tmp: string; target: string }[] = [];
  try {
    for (const [name, text] of files) {
      const target = join(dir, name);
      const tmp = `${target}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
      staged.push({ tmp, target });
      const fh = await open(tmp, 'wx');
      try {
        // The redactor again on the way out (src/util/redact.ts), as for every file policy-gate writes.
        await fh.writeFile(redactOutput(text));
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    // Phase 2: renames, which need no space.
    for (const { tmp, target } of staged) await rename(tmp, target);
  } catch (err) {
    for (const { tmp } of staged) await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  return staged.map((s) => s.target);
}
