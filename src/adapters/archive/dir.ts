/**
 * A folder with the same content as a training archive, read under the same rules as a zip: plain
 * relative names, regular files only (a symbolic link anywhere inside is refused, threats.md Z2),
 * and the same count and size limits.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readdir, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { inputError, PolicyGateError } from '../../core/errors.js';
import type { ArchiveFile, ArchiveReader } from '../../core/types.js';
import { readRange } from './io.js';
import { formatBytes, type ArchiveLimits } from './limits.js';
import { checkEntryName, quoteName } from './names.js';

interface DirEntry extends ArchiveFile {
  /** Identity at walk time: `read` refuses a file that has since been replaced. */
  readonly dev: number;
  readonly ino: number;
}

// O_NOFOLLOW makes open() fail on a symlink in the last path component; it does not exist on Windows,
// where the realpath and identity checks still apply.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);

export async function openDirectory(source: string, limits: ArchiveLimits): Promise<ArchiveReader> {
  try {
    return await walkDirectory(source, limits);
  } catch (err) {
    if (err instanceof PolicyGateError) throw err;
    // Permissions, files vanishing mid-walk and the like.
    throw inputError(`${source}: cannot read the folder (${(err as Error).message}).`, source, err);
  }
}

async function walkDirectory(source: string, limits: ArchiveLimits): Promise<ArchiveReader> {
  const root = await realpath(source);
  const refuse = (name: string, problem: string, advice: string): PolicyGateError => inputError(`${source}: ${quoteName(name)} ${problem}; refusing the folder. ${advice}`, name);

  const files: DirEntry[] = [];
  let entries = 0;
  let totalBytes = 0;
  // Iterative walk, so a deep tree cannot exhaust the stack.
  const pending: string[] = [''];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    const names = await readdir(path.join(root, dir));
    for (const name of names) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      const problem = checkEntryName(rel);
      if (problem) throw refuse(rel, problem.reason, problem.advice);

      entries += 1;
      if (entries > limits.maxEntries) {
        throw inputError(`${source}: the folder has more than ${limits.maxEntries} files and folders; refusing it. ` + 'Keep only the training summary, the models and their cards in it.', source);
      }

      const stats = await lstat(path.join(root, rel));
      if (stats.isSymbolicLink()) {
        throw refuse(rel, 'is a symbolic link', 'Replace the link with the file it points to (cp -L), or remove it.');
      }
      if (stats.isDirectory()) {
        pending.push(rel);
        continue;
      }
      if (!stats.isFile()) {
        throw refuse(rel, 'is not a regular file (a device, socket or pipe)', 'Remove it from the folder.');
      }
      if (stats.size > limits.maxEntryBytes) {
        throw refuse(rel, `is ${formatBytes(stats.size)}, more than the per-file limit of ${formatBytes(limits.maxEntryBytes)}`, 'Remove the file from the folder or raise the limit.');
      }
      totalBytes += stats.size;
      if (totalBytes > limits.maxTotalBytes) {
        throw refuse(rel, `brings the folder's total past the limit of ${formatBytes(limits.maxTotalBytes)}`, 'Keep only the training summary, the models and their cards in it.');
      }
      files.push({ path: rel, size: stats.size, dev: stats.dev, ino: stats.ino });
    }
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  // The folder's digest: sha256 over its sorted "<sha256 hex>  <path>\n" lines (sha256sum's format).
  const digest = createHash('sha256');
  const hashes = new Map<string, string>();
  for (const file of files) {
    const fh = await openChecked(source, root, file);
    const hash = createHash('sha256');
    try {
      // Bounded to the size the walk saw; `read` re-checks the size.
      for await (const chunk of readRange(fh, 0, file.size)) hash.update(chunk);
    } finally {
      await fh.close();
    }
    const hex = hash.digest('hex');
    hashes.set(file.path, hex);
    digest.update(`${hex}  ${file.path}\n`);
  }
  return new DirArchiveReader(source, root, digest.digest('hex'), files, hashes);
}

class DirArchiveReader implements ArchiveReader {
  readonly kind = 'dir' as const;
  readonly files: readonly ArchiveFile[];
  private readonly byPath: ReadonlyMap<string, DirEntry>;
  private closed = false;

  constructor(
    readonly source: string,
    private readonly root: string,
    readonly sha256: string,
    entries: readonly DirEntry[],
    private readonly hashes: ReadonlyMap<string, string>,
  ) {
    this.byPath = new Map(entries.map((e) => [e.path, e]));
    this.files = Object.freeze(entries.map((e) => Object.freeze({ path: e.path, size: e.size })));
  }

  async read(file: string): Promise<Buffer> {
    if (this.closed) throw new Error(`${this.source}: read(${quoteName(file)}) after close()`);
    const entry = this.byPath.get(file);
    if (!entry) {
      throw inputError(`${this.source}: the folder has no file ${quoteName(file)}. Check the path against its contents.`, file);
    }
    const fh = await openChecked(this.source, this.root, entry);
    try {
      return await readExactly(fh, entry.size, () => changed(this.source, entry, 'its size changed'));
    } finally {
      await fh.close();
    }
  }

  /** The file's sha256 as hashed when the folder was opened (its digest is made of these). */
  sha256Of(file: string): string | undefined {
    return this.hashes.get(file);
  }

  async close(): Promise<void> {
    // Nothing is held open between reads.
    this.closed = true;
  }
}

/**
 * Opens a file found by the walk, re-checking that it is still the same regular file inside the root:
 * a path component may have been swapped for a symlink since (realpath), the file itself may be a
 * symlink now (O_NOFOLLOW) or another file altogether (device and inode).
 */
async function openChecked(source: string, root: string, entry: DirEntry): Promise<FileHandle> {
  const absolute = path.join(root, ...entry.path.split('/'));
  let real: string;
  try {
    real = await realpath(absolute);
  } catch (err) {
    throw changed(source, entry, `it cannot be resolved: ${(err as Error).message}`, err);
  }
  const relative = path.relative(root, real);
  if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    throw inputError(`${source}: ${quoteName(entry.path)} now resolves outside the folder (to ${real}); refusing it. ` + 'Remove the symbolic link from the folder.', entry.path);
  }
  let fh: FileHandle;
  try {
    fh = await open(absolute, OPEN_FLAGS);
  } catch (err) {
    throw changed(source, entry, `it cannot be opened: ${(err as Error).message}`, err);
  }
  try {
    const stats = await fh.stat();
    if (!stats.isFile() || stats.dev !== entry.dev || stats.ino !== entry.ino) throw changed(source, entry, 'it was replaced');
    if (stats.size !== entry.size) throw changed(source, entry, 'its size changed');
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

function changed(source: string, entry: DirEntry, what: string, cause?: unknown): PolicyGateError {
  return inputError(`${source}: ${quoteName(entry.path)} changed after the folder was opened (${what}); refusing it. ` + 'Do not modify the folder while policy-gate reads it.', entry.path, cause);
}

/** Reads exactly `size` bytes and checks the file has no more (it may grow while we read). */
async function readExactly(fh: FileHandle, size: number, changed: () => PolicyGateError): Promise<Buffer> {
  const buffer = Buffer.alloc(size);
  let filled = 0;
  while (filled < size) {
    const { bytesRead } = await fh.read(buffer, filled, size - filled, filled);
    if (bytesRead === 0) throw changed();
    filled += bytesRead;
  }
  const { bytesRead } = await fh.read(Buffer.alloc(1), 0, 1, size);
  if (bytesRead !== 0) throw changed();
  return buffer;
}
