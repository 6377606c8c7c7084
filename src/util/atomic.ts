import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { redactOutput } from './redact.js';

/** The file-system calls writeFileAtomic makes: a seam for fault injection in tests (a failing rename, fsync, ...). */
export interface AtomicFs {
  mkdir: typeof mkdir;
  open: typeof open;
  rename: typeof rename;
  rm: typeof rm;
}

const REAL_FS: AtomicFs = { mkdir, open, rename, rm };

/**
 * Write a file atomically: a temp file in the same folder (opened exclusively), fsync, rename over the
 * target, then a best-effort fsync of the folder. A reader sees the old bytes or the new, never a part.
 * Text passes through the process-wide secret redactor (src/util/redact.ts) on its way out; bytes
 * (a model file being deployed) are written as they are.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, fs: Partial<AtomicFs> = {}): Promise<void> {
  const { mkdir, open, rename, rm } = { ...REAL_FS, ...fs };
  if (typeof data === 'string') data = redactOutput(data);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  try {
    const dir = await open(path.dirname(file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // best effort: some filesystems refuse fsync on a directory
  }
}
