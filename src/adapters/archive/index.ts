/**
 * The training archive reader (SPEC section 2): a zip file or a folder, opened read-only and checked
 * against threats.md Z1-Z3 before any byte is inflated. Every refusal is an input error (exit 2)
 * naming the archive and the entry, and saying what to do.
 */
import { stat } from 'node:fs/promises';
import { inputError } from '../../core/errors.js';
import type { ArchiveReader } from '../../core/types.js';
import { openDirectory } from './dir.js';
import { resolveLimits, type ArchiveLimits } from './limits.js';
import { openZip } from './zip.js';

export { DEFAULT_LIMITS, type ArchiveLimits } from './limits.js';

/** Opens `path` — a zip file or a folder — and validates it as a whole. Call `close()` when done. */
export async function openArchive(path: string, limits?: Partial<ArchiveLimits>): Promise<ArchiveReader> {
  const resolved = resolveLimits(limits);
  let stats;
  try {
    stats = await stat(path);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(err as Error).message})`;
    throw inputError(`${path}: the training archive ${reason}. Pass a .zip file or a folder.`, path, err);
  }
  if (stats.isDirectory()) return openDirectory(path, resolved);
  if (stats.isFile()) return openZip(path, resolved);
  throw inputError(`${path}: the training archive is neither a file nor a folder. Pass a .zip file or a folder.`, path);
}
