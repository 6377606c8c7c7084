/**
 * A zip training archive, read in place: entries are inflated into memory one at a time, on demand,
 * and nothing is ever extracted to disk.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { PassThrough, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { inputError, PolicyGateError } from '../../core/errors.js';
import { LFS_POINTER_MAX_BYTES, lfsPointerError, parseLfsPointer } from '../../core/lfs.js';
import type { ArchiveFile, ArchiveReader } from '../../core/types.js';
import { READ_CHUNK, readAt, readRange } from './io.js';
import { formatBytes, type ArchiveLimits } from './limits.js';
import { quoteName } from './names.js';
import { readZipDirectory, type ZipEntry } from './zip-directory.js';

export async function openZip(source: string, limits: ArchiveLimits): Promise<ArchiveReader> {
  let fh: FileHandle;
  try {
    // Not through a symbolic link in its last component, and never a FIFO (which would block) or a device.
    fh = await open(source, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') {
      throw inputError(`${source}: the archive is a symbolic link; refusing it. Name the archive file itself.`, source, err);
    }
    throw inputError(`${source}: cannot open the archive (${(err as Error).message}).`, source, err);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw inputError(`${source}: not a regular file; refusing it. Name a .zip file or a folder.`, source);
    const { size } = st;
    if (size > limits.maxArchiveBytes) {
      throw inputError(
        `${source}: the archive is ${formatBytes(size)}, more than the limit of ${formatBytes(limits.maxArchiveBytes)}; ` +
          'refusing it. Keep only the training summary, the models and their cards in the archive.',
        source,
      );
    }
    if (size <= LFS_POINTER_MAX_BYTES) {
      const pointer = parseLfsPointer(await readAt(fh, 0, size));
      if (pointer) throw lfsPointerError(source, 'training archive', pointer);
    }
    // Structure first: a hostile archive is refused before we spend time hashing it.
    const entries = await readZipDirectory(fh, size, source, limits).catch((err: unknown) => {
      if (err instanceof PolicyGateError) throw err;
      // Whatever a malformed file makes the parser throw is still bad input, not a crash.
      throw inputError(`${source}: cannot read the zip archive (${(err as Error).message}); it is corrupt or uses an unsupported feature. Rebuild it.`, source, err);
    });
    const sha256 = await hashFile(fh, size);
    return new ZipArchiveReader(source, fh, sha256, entries);
  } catch (err) {
    await fh.close();
    throw err;
  }
}

async function hashFile(fh: FileHandle, size: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of readRange(fh, 0, size)) hash.update(chunk);
  return hash.digest('hex');
}

class ZipArchiveReader implements ArchiveReader {
  readonly kind = 'zip' as const;
  readonly files: readonly ArchiveFile[];
  private readonly entries: ReadonlyMap<string, ZipEntry>;
  private closed = false;

  constructor(
    readonly source: string,
    private readonly fh: FileHandle,
    readonly sha256: string,
    entries: readonly ZipEntry[],
  ) {
    this.entries = new Map(entries.map((e) => [e.path, e]));
    this.files = Object.freeze(entries.map((e) => Object.freeze({ path: e.path, size: e.uncompressedSize })));
  }

  async read(path: string): Promise<Buffer> {
    if (this.closed) throw new Error(`${this.source}: read(${quoteName(path)}) after close()`);
    const entry = this.entries.get(path);
    if (!entry) {
      throw inputError(`${this.source}: the archive has no file ${quoteName(path)}. Check the path against the archive's contents (unzip -l).`, path);
    }
    return inflateEntry(this.fh, entry, this.source);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}

/** Thrown inside the pipeline to stop it; turned into an input error below. */
class TooLarge extends Error {
  constructor(readonly bytesSeen: number) {
    super('entry larger than declared');
  }
}

/**
 * Streams one entry's data through a byte counter and a CRC-32. Declared sizes may lie either way:
 * more bytes than declared stops the stream at the first chunk past the declared size (so a lying
 * entry costs at most declared + READ_CHUNK bytes of memory), fewer is reported as truncation.
 */
async function inflateEntry(fh: FileHandle, entry: ZipEntry, source: string): Promise<Buffer> {
  const fail = (problem: string, cause?: unknown) =>
    inputError(`${source}: entry ${quoteName(entry.path)} ${problem}; refusing the archive. The archive is corrupt or was tampered with: rebuild it.`, entry.path, cause);

  const decoder: Transform = entry.method === 8 ? zlib.createInflateRaw({ chunkSize: READ_CHUNK }) : new PassThrough({ highWaterMark: READ_CHUNK });

  const chunks: Buffer[] = [];
  let total = 0;
  let crc = 0;
  try {
    await pipeline(readRange(fh, entry.dataOffset, entry.compressedSize), decoder, async (output: AsyncIterable<Buffer>) => {
      for await (const chunk of output) {
        total += chunk.length;
        if (total > entry.uncompressedSize) throw new TooLarge(total);
        crc = zlib.crc32(chunk, crc);
        chunks.push(chunk);
      }
    });
  } catch (err) {
    if (err instanceof TooLarge) {
      throw fail(`is larger than declared: the central directory says ${entry.uncompressedSize} bytes, ` + `reading stopped at ${err.bytesSeen} bytes`);
    }
    if (err instanceof PolicyGateError) throw err;
    const code = (err as { code?: unknown }).code;
    if (code === 'Z_BUF_ERROR') {
      throw fail(`is truncated: its compressed data ends early (after ${total} of ${entry.uncompressedSize} bytes)`, err);
    }
    if (typeof code === 'string' && code.startsWith('Z_')) {
      throw fail(`has corrupt compressed data (${(err as Error).message})`, err);
    }
    throw inputError(`${source}: cannot read entry ${quoteName(entry.path)} (${(err as Error).message}).`, entry.path, err);
  }

  if (total < entry.uncompressedSize) {
    throw fail(`is truncated: it holds ${total} bytes but the central directory declares ${entry.uncompressedSize}`);
  }
  if (crc >>> 0 !== entry.crc32) {
    throw fail(`fails its CRC-32 check (computed ${hex32(crc)}, the central directory says ${hex32(entry.crc32)})`);
  }
  return Buffer.concat(chunks, total);
}

function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}
