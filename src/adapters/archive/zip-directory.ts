/**
 * Reads and validates a zip's structure — end-of-central-directory record, central directory and
 * local headers — without inflating anything (threats.md Z1-Z4).
 *
 * The central directory is the source of truth (never the local headers that streaming parsers
 * trust). unzipper's `Open.custom` parses its records, but over a copy of the directory in memory
 * rather than `Open.file`, because `Open.file` reopens the file by name for every read (the file could
 * be swapped after validation) and leaves its read streams open. We locate and check the EOCD record
 * ourselves first — unzipper takes the first signature it sees near the end and would iterate whatever
 * record count the file declares — and then point unzipper at exactly that record.
 */
import type { FileHandle } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import unzipper from 'unzipper';
import { inputError, type PolicyGateError } from '../../core/errors.js';
import { readAt } from './io.js';
import { formatBytes, RATIO_MIN_BYTES, type ArchiveLimits } from './limits.js';
import { checkEntryName, quoteName } from './names.js';

/** One file entry, validated, with everything `read()` needs. */
export interface ZipEntry {
  readonly path: string;
  /** 0 = stored, 8 = deflate. */
  readonly method: 0 | 8;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly crc32: number;
  /** Absolute offset of the entry's (compressed) data in the file. */
  readonly dataOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const ZIP64_EOCD_SIZE = 56;
const CENTRAL_RECORD_MIN = 46;
const LOCAL_SIGNATURE = 0x04034b50;
const LOCAL_HEADER_SIZE = 30;
const MAX_COMMENT = 0xffff;
/** The central directory is read into memory; 10,000 entries with long names take about 3 MB. */
const MAX_CENTRAL_DIRECTORY_BYTES = 64 * 1024 * 1024;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

const FLAG_ENCRYPTED = 0x0001;
const FLAG_STRONG_ENCRYPTION = 0x0040;
const FLAG_DATA_DESCRIPTOR = 0x0008;
const ZIP64_MARK = 0xffffffff;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Lenient = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

interface EndOfCentralDirectory {
  eocdOffset: number;
  entryCount: number;
  cdOffset: number;
  cdSize: number;
}

/**
 * Validates the whole structure and returns the file entries (directories left out), sorted by path.
 * Every refusal is an input error naming `source` and, where there is one, the entry.
 */
export async function readZipDirectory(fh: FileHandle, fileSize: number, source: string, limits: ArchiveLimits): Promise<ZipEntry[]> {
  const refuse = (message: string, subject = source): PolicyGateError => inputError(`${source}: ${message}`, subject);
  const refuseEntry: RefuseEntry = (name, problem, advice) => refuse(`entry ${quoteName(name)} ${problem}; refusing the archive. ${advice}`, name);

  const eocd = await findEndOfCentralDirectory(fh, fileSize, refuse);

  // Plan from the declared count, but check it against the limit and the bytes that hold it first
  // (golang/go#46242: OOM from a declared count).
  if (eocd.entryCount > limits.maxEntries) {
    throw refuse(
      `the archive has ${eocd.entryCount} entries, more than the limit of ${limits.maxEntries}; refusing the archive. ` + 'Keep only the training summary, the models and their cards in the archive.',
    );
  }
  if (eocd.cdSize < eocd.entryCount * CENTRAL_RECORD_MIN) {
    throw refuse(`the central directory (${eocd.cdSize} bytes) is too small for the ${eocd.entryCount} entries it declares; ` + 'the zip is corrupt or hostile. Rebuild the archive.');
  }
  if (eocd.cdSize > MAX_CENTRAL_DIRECTORY_BYTES) {
    throw refuse(`the central directory is ${formatBytes(eocd.cdSize)}, too large to be genuine; refusing the archive.`);
  }

  const directory = await parseCentralDirectory(fh, fileSize, eocd, source);

  const entries: ZipEntry[] = [];
  const seen = new Set<string>();
  const ranges: { start: number; end: number; name: string }[] = [];
  let totalBytes = 0;

  for (const record of directory) {
    const { rawName, name, isDirectory } = checkRecord(record, limits, refuseEntry);

    const key = isDirectory && name.endsWith('/') ? name.slice(0, -1) : name;
    if (seen.has(key)) {
      throw refuseEntry(name, 'appears more than once in the archive', 'Rebuild the archive so every path is unique.');
    }
    seen.add(key);

    totalBytes += record.uncompressedSize;
    if (totalBytes > limits.maxTotalBytes) {
      throw refuseEntry(
        name,
        `brings the declared uncompressed total past the limit of ${formatBytes(limits.maxTotalBytes)}`,
        'Keep only the training summary, the models and their cards in the archive.',
      );
    }

    // The local header must agree with the central directory; its name and extra field decide where
    // the data starts, which the overlap check needs.
    const dataOffset = await checkLocalHeader(fh, record, rawName, name, eocd.cdOffset, refuseEntry);
    const end = dataOffset + record.compressedSize;
    if (end > eocd.cdOffset) {
      throw refuseEntry(name, 'has data that extends past the end of the entries (into the central directory or beyond the file)', 'The zip is corrupt, truncated or hostile; rebuild it.');
    }
    ranges.push({ start: record.offsetToLocalFileHeader, end, name });

    if (!isDirectory) {
      entries.push({
        path: name,
        method: record.compressionMethod as 0 | 8,
        compressedSize: record.compressedSize,
        uncompressedSize: record.uncompressedSize,
        crc32: record.crc32 >>> 0,
        dataOffset,
      });
    }
  }

  // Overlapping entries are how a small zip claims a huge total (Fifield's "better zip bomb"); they
  // also include two central records pointing at one local header.
  ranges.sort((a, b) => a.start - b.start);
  for (let i = 1; i < ranges.length; i++) {
    const previous = ranges[i - 1]!;
    const current = ranges[i]!;
    if (current.start < previous.end) {
      throw refuseEntry(current.name, `overlaps entry ${quoteName(previous.name)} in the file — a possible zip bomb`, 'Rebuild the archive with a standard zip tool.');
    }
  }

  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return entries;
}

type RefuseEntry = (name: string, problem: string, advice: string) => PolicyGateError;

/** The checks one central record must pass on its own: name, numbers, file type, encryption, method, size, ratio. */
function checkRecord(record: unzipper.File, limits: ArchiveLimits, refuseEntry: RefuseEntry): { rawName: Buffer; name: string; isDirectory: boolean } {
  // unzipper hands back '' rather than an empty Buffer for a zero-length name.
  const rawName = Buffer.isBuffer(record.pathBuffer) ? record.pathBuffer : Buffer.alloc(0);
  const name = decodeName(rawName);
  if (name === undefined) {
    throw refuseEntry(utf8Lenient.decode(rawName), 'has a name that is not valid UTF-8', 'Rebuild the archive with UTF-8 file names (Python zipfile and 7-Zip do this).');
  }
  const nameProblem = checkEntryName(name);
  if (nameProblem) throw refuseEntry(name, nameProblem.reason, nameProblem.advice);

  // unzipper leaves a zip64 field undefined when its extra field is missing.
  for (const field of ['compressedSize', 'uncompressedSize', 'offsetToLocalFileHeader'] as const) {
    if (!Number.isSafeInteger(record[field]) || record[field] < 0) {
      throw refuseEntry(name, `has an invalid ${field} in the central directory`, 'The zip is corrupt; rebuild it.');
    }
  }

  // The high 16 bits hold the Unix st_mode when the archiver recorded one; 0 (MS-DOS and most Windows
  // tools) means a plain file or, with a trailing "/", a directory.
  const fileType = ((record.externalFileAttributes >>> 16) & S_IFMT) >>> 0;
  if (fileType === S_IFLNK) {
    throw refuseEntry(name, 'is a symbolic link', 'Archive the file the link points to instead (zip without -y, or tar -h before zipping).');
  }
  if (fileType !== 0 && fileType !== S_IFREG && fileType !== S_IFDIR) {
    throw refuseEntry(name, `is not a regular file or directory (file type 0o${fileType.toString(8)})`, 'Only regular files belong in a training archive.');
  }

  if (record.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) {
    throw refuseEntry(name, 'is encrypted', 'Rebuild the archive without a password.');
  }

  const isDirectory = name.endsWith('/') || fileType === S_IFDIR;
  if (isDirectory && record.uncompressedSize !== 0) {
    throw refuseEntry(name, 'is a directory entry with content', 'The zip is corrupt or hostile; rebuild it.');
  }
  if (!isDirectory && record.compressionMethod !== 0 && record.compressionMethod !== 8) {
    throw refuseEntry(name, `uses compression method ${record.compressionMethod}; only stored (0) and deflate (8) are supported`, 'Rebuild the archive with standard deflate compression.');
  }

  if (record.uncompressedSize > limits.maxEntryBytes) {
    throw refuseEntry(
      name,
      `declares ${formatBytes(record.uncompressedSize)} uncompressed, more than the per-file limit of ${formatBytes(limits.maxEntryBytes)}`,
      'Remove the file from the archive or raise the limit.',
    );
  }
  if (record.uncompressedSize > RATIO_MIN_BYTES) {
    const ratio = record.uncompressedSize / Math.max(record.compressedSize, 1);
    if (ratio > limits.maxRatio) {
      throw refuseEntry(
        name,
        `has a compression ratio of ${Math.round(ratio)}:1 (${formatBytes(record.uncompressedSize)} from ` +
          `${formatBytes(record.compressedSize)}), above the limit of ${limits.maxRatio}:1 — a possible zip bomb`,
        'Nothing was inflated. Rebuild the archive from the real files.',
      );
    }
  }
  return { rawName, name, isDirectory };
}

/** `undefined` when the bytes are not valid UTF-8. The language-encoding flag is not required: 7-bit names and macOS's tools both omit it. */
function decodeName(bytes: Buffer): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Finds the EOCD record the way yauzl does: scanning backwards for a signature whose comment length
 * reaches exactly the end of the file, so trailing bytes and stray signatures in data are not taken
 * for it. Then checks that the central directory ends where the EOCD (or zip64) record begins, which
 * rules out leading garbage and zips concatenated onto others.
 */
async function findEndOfCentralDirectory(fh: FileHandle, fileSize: number, refuse: (message: string) => PolicyGateError): Promise<EndOfCentralDirectory> {
  const notZip = (why: string) => refuse(`not a zip archive (${why}); it may be truncated or another kind of file. Pass a .zip file or a folder.`);

  if (fileSize < EOCD_SIZE) throw notZip(`only ${fileSize} bytes`);
  const tailLength = Math.min(fileSize, EOCD_SIZE + MAX_COMMENT);
  const tailStart = fileSize - tailLength;
  const tail = await readAt(fh, tailStart, tailLength);

  let at = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIGNATURE && tail.readUInt16LE(i + 20) === tail.length - i - EOCD_SIZE) {
      at = i;
      break;
    }
  }
  if (at < 0) throw notZip('no end-of-central-directory record');

  const eocdOffset = tailStart + at;
  const diskNumber = tail.readUInt16LE(at + 4);
  const diskStart = tail.readUInt16LE(at + 6);
  const recordsOnDisk = tail.readUInt16LE(at + 8);
  let entryCount = tail.readUInt16LE(at + 10);
  let cdSize = tail.readUInt32LE(at + 12);
  let cdOffset = tail.readUInt32LE(at + 16);
  let cdEnd = eocdOffset;
  let multiDisk = diskNumber !== 0 || diskStart !== 0 || recordsOnDisk !== entryCount;

  // The same trigger unzipper uses to switch to zip64, so the two of us read the same numbers.
  const zip64 = diskNumber === 0xffff || entryCount === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff;
  if (zip64) {
    const locatorOffset = eocdOffset - ZIP64_LOCATOR_SIZE;
    if (locatorOffset < 0) throw notZip('zip64 end-of-central-directory locator missing');
    const locator = await readAt(fh, locatorOffset, ZIP64_LOCATOR_SIZE);
    if (locator.length < ZIP64_LOCATOR_SIZE || locator.readUInt32LE(0) !== ZIP64_LOCATOR_SIGNATURE) {
      throw notZip('zip64 end-of-central-directory locator missing');
    }
    const recordOffset = toSafeNumber(locator.readBigUInt64LE(8));
    if (recordOffset === undefined || recordOffset + ZIP64_EOCD_SIZE > locatorOffset) {
      throw notZip('zip64 end-of-central-directory locator points outside the file');
    }
    const record = await readAt(fh, recordOffset, ZIP64_EOCD_SIZE);
    if (record.readUInt32LE(0) !== ZIP64_EOCD_SIGNATURE) throw notZip('zip64 end-of-central-directory record missing');
    const count = toSafeNumber(record.readBigUInt64LE(32));
    const countOnDisk = toSafeNumber(record.readBigUInt64LE(24));
    const size = toSafeNumber(record.readBigUInt64LE(40));
    const offset = toSafeNumber(record.readBigUInt64LE(48));
    if (count === undefined || size === undefined || offset === undefined) {
      throw notZip('zip64 end-of-central-directory record holds impossible numbers');
    }
    multiDisk = record.readUInt32LE(16) !== 0 || record.readUInt32LE(20) !== 0 || countOnDisk !== count;
    entryCount = count;
    cdSize = size;
    cdOffset = offset;
    cdEnd = recordOffset;
  }

  if (multiDisk) {
    throw refuse('split (multi-disk) zip archives are not supported. Rebuild it as a single file.');
  }
  if (cdOffset + cdSize !== cdEnd) {
    throw notZip(
      `the central directory (offset ${cdOffset}, ${cdSize} bytes) does not end where the end-of-central-directory record ` + `begins (offset ${cdEnd}); the file has extra bytes before or inside it`,
    );
  }
  return { eocdOffset, entryCount, cdOffset, cdSize };
}

function toSafeNumber(value: bigint): number | undefined {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

type OpenCustom = (source: Parameters<typeof unzipper.Open.custom>[0], options: { tailSize: number }) => Promise<unzipper.CentralDirectory>;

/**
 * Parses the central-directory records with unzipper, over an in-memory copy of everything from the
 * central directory to the end of the file. `tailSize` makes unzipper start its EOCD search exactly at
 * the record we validated.
 */
async function parseCentralDirectory(fh: FileHandle, fileSize: number, eocd: EndOfCentralDirectory, source: string): Promise<unzipper.File[]> {
  const region = await readAt(fh, eocd.cdOffset, fileSize - eocd.cdOffset);
  const corrupt = (why: string, cause?: unknown) => inputError(`${source}: the central directory is unreadable (${why}); the zip is corrupt. Rebuild the archive.`, source, cause);

  const openCustom = unzipper.Open.custom as OpenCustom;
  let directory: unzipper.CentralDirectory;
  try {
    directory = await openCustom(
      {
        size: () => Promise.resolve(fileSize),
        // Anything before the central directory is never needed here; answer with an empty stream
        // (unzipper then fails cleanly with FILE_ENDED) rather than an error event it does not handle.
        stream: (offset: number, length?: number): Readable => {
          const stream = new PassThrough();
          const start = offset - eocd.cdOffset;
          if (start < 0) stream.end();
          else stream.end(region.subarray(start, length ? start + length : undefined));
          return stream;
        },
      },
      { tailSize: fileSize - eocd.eocdOffset },
    );
  } catch (err) {
    throw corrupt(err instanceof Error ? err.message : String(err), err);
  }

  const records = directory.files;
  if (records.length !== eocd.entryCount || directory.offsetToStartOfCentralDirectory !== eocd.cdOffset || directory.sizeOfCentralDirectory !== eocd.cdSize) {
    throw corrupt('its records disagree with the end-of-central-directory record');
  }
  let recordBytes = 0;
  for (const r of records) recordBytes += CENTRAL_RECORD_MIN + r.fileNameLength + r.extraFieldLength + r.fileCommentLength;
  if (recordBytes !== eocd.cdSize) {
    throw corrupt(`its records take ${recordBytes} bytes but it declares ${eocd.cdSize}`);
  }
  return records;
}

/**
 * Reads one entry's local header and checks it against the central record (threats.md Z4: a local
 * header naming another file or method is how a validator and an extractor are made to disagree).
 * Returns the offset of the entry's data.
 */
async function checkLocalHeader(fh: FileHandle, record: unzipper.File, rawName: Buffer, name: string, cdOffset: number, refuseEntry: RefuseEntry): Promise<number> {
  const offset = record.offsetToLocalFileHeader;
  const nameLength = rawName.length;
  if (offset + LOCAL_HEADER_SIZE > cdOffset) {
    throw refuseEntry(name, "points outside the file's entries (its local header would be past the start of the central directory)", 'The zip is corrupt or hostile; rebuild it.');
  }
  const header = await readAt(fh, offset, Math.min(LOCAL_HEADER_SIZE + nameLength, cdOffset - offset));
  if (header.readUInt32LE(0) !== LOCAL_SIGNATURE) {
    throw refuseEntry(name, 'points at something that is not a local file header', 'The zip is corrupt or hostile; rebuild it.');
  }
  const localMethod = header.readUInt16LE(8);
  const localNameLength = header.readUInt16LE(26);
  const localExtraLength = header.readUInt16LE(28);
  if (localNameLength !== nameLength || !header.subarray(LOCAL_HEADER_SIZE).equals(rawName)) {
    throw refuseEntry(name, 'has a local header with a different name', 'The zip is corrupt or hostile; rebuild it.');
  }
  if (localMethod !== record.compressionMethod) {
    throw refuseEntry(name, `has a local header with a different compression method (${localMethod} vs ${record.compressionMethod})`, 'The zip is corrupt or hostile; rebuild it.');
  }
  // CRC-32 and sizes: a streaming extractor trusts the local header, policy-gate the central
  // directory; they must agree. With the data-descriptor flag (bit 3) a streaming writer leaves them 0
  // in the local header (the real values follow the data): 0 is accepted then, any other value must
  // still agree. 0xffffffff means "in the zip64 extra field", whose values the central record holds.
  const localFlags = header.readUInt16LE(6);
  const deferred = (localFlags & FLAG_DATA_DESCRIPTOR) !== 0;
  const fields: [string, number, number][] = [
    ['CRC-32', header.readUInt32LE(14), record.crc32 >>> 0],
    ['compressed size', header.readUInt32LE(18), record.compressedSize],
    ['uncompressed size', header.readUInt32LE(22), record.uncompressedSize],
  ];
  for (const [what, local, central] of fields) {
    if (local === central || (deferred && local === 0) || (what !== 'CRC-32' && local === ZIP64_MARK)) continue;
    const show = (n: number) => (what === 'CRC-32' ? n.toString(16).padStart(8, '0') : String(n));
    throw refuseEntry(
      name,
      `has a local header whose ${what} (${show(local)}) differs from the central directory's (${show(central)})`,
      'A streaming extractor would read other bytes than policy-gate checks: the zip is corrupt or hostile; rebuild it.',
    );
  }
  return offset + LOCAL_HEADER_SIZE + localNameLength + localExtraLength;
}
