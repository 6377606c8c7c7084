/**
 * Positional reads on one FileHandle. We read with `fh.read(..., position)` rather than
 * `fh.createReadStream`, which adds a 'close' listener to the handle per stream (and keeps it), and
 * would reopen nothing by name, so concurrent reads of one archive cannot interfere.
 */
import type { FileHandle } from 'node:fs/promises';

/** Reads and inflates in chunks of this size. */
export const READ_CHUNK = 64 * 1024;

/** Up to `length` bytes at `position`; fewer only at the end of the file. */
export async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await fh.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

/** Exactly `length` bytes from `start`, in chunks of READ_CHUNK; throws if the file ends first. */
export async function* readRange(fh: FileHandle, start: number, length: number): AsyncGenerator<Buffer> {
  const end = start + length;
  for (let position = start; position < end; ) {
    const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK, end - position));
    const { bytesRead } = await fh.read(chunk, 0, chunk.length, position);
    if (bytesRead === 0) throw new Error(`the file ended at offset ${position}, before offset ${end}`);
    position += bytesRead;
    yield chunk.subarray(0, bytesRead);
  }
}
