/**
 * A raw ZIP writer for tests: local headers, central directory and end-of-central-directory record,
 * written field by field so a test can emit what no well-behaved zip tool would — any name bytes, lying
 * sizes and CRCs, any external attributes, local headers that disagree with the central directory,
 * central records that share one local header, and zip64 end records.
 */
import zlib from 'node:zlib';

export interface ZipEntrySpec {
  /** The raw name: a string is written as UTF-8, a Buffer byte for byte. */
  name: string | Buffer;
  /** The uncompressed content (default empty). */
  data?: Buffer | string;
  /** 0 = stored (default), 8 = deflate, anything else is written as given. */
  method?: number;
  /** Compressed bytes to write instead of compressing `data` (e.g. made by a streaming deflate). */
  compressed?: Buffer;
  /** Declared values, written to both headers; default: the true ones. */
  crc32?: number;
  compressedSize?: number;
  uncompressedSize?: number;
  /** Default: a regular file, rw-r--r--, made on Unix. */
  externalAttributes?: number;
  versionMadeBy?: number;
  flags?: number;
  /** Local-header overrides, for central/local disagreement. */
  localName?: string | Buffer;
  localMethod?: number;
  /** Write no local header or data: the central record points at entry `shareLocalWith`'s local header. */
  shareLocalWith?: number;
  /** Point the central record at this offset instead. */
  localHeaderOffset?: number;
}

export interface ZipOptions {
  /** Declared entry count in the EOCD record (default: the true count). */
  eocdEntryCount?: number;
  /** Bytes written before the first local header. */
  prefix?: Buffer;
  comment?: Buffer;
  /** Write zip64 end records (and 0xffff/0xffffffff in the EOCD), with sizes and offsets in zip64 extras. */
  zip64?: boolean;
}

export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const S_IFIFO = 0o010000;

/** External attributes as Unix zip tools write them: the st_mode in the high 16 bits. */
export function unixAttributes(mode: number): number {
  return (mode << 16) >>> 0;
}

function bytes(value: string | Buffer): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

export function buildZip(entries: readonly ZipEntrySpec[], options: ZipOptions = {}): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  const localOffsets: number[] = [];
  let offset = 0;
  if (options.prefix) {
    parts.push(options.prefix);
    offset += options.prefix.length;
  }

  for (const entry of entries) {
    const name = bytes(entry.name);
    const data = bytes(entry.data ?? '');
    const method = entry.method ?? 0;
    const compressed = entry.compressed ?? (method === 8 ? zlib.deflateRawSync(data) : data);
    const crc = entry.crc32 ?? zlib.crc32(data);
    const compressedSize = entry.compressedSize ?? compressed.length;
    const uncompressedSize = entry.uncompressedSize ?? data.length;
    const flags = entry.flags ?? 0;

    let localOffset: number;
    if (entry.shareLocalWith !== undefined) {
      localOffset = localOffsets[entry.shareLocalWith]!;
    } else {
      localOffset = offset;
      const localName = bytes(entry.localName ?? name);
      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(20, 4);
      local.writeUInt16LE(flags, 6);
      local.writeUInt16LE(entry.localMethod ?? method, 8);
      local.writeUInt32LE(0, 10); // time and date: 1980-00-00, irrelevant here
      local.writeUInt32LE(crc >>> 0, 14);
      local.writeUInt32LE(options.zip64 ? 0xffffffff : compressedSize, 18);
      local.writeUInt32LE(options.zip64 ? 0xffffffff : uncompressedSize, 22);
      local.writeUInt16LE(localName.length, 26);
      const localExtra = options.zip64 ? zip64Extra([uncompressedSize, compressedSize]) : Buffer.alloc(0);
      local.writeUInt16LE(localExtra.length, 28);
      parts.push(local, localName, localExtra, compressed);
      offset += local.length + localName.length + localExtra.length + compressed.length;
    }
    localOffsets.push(localOffset);
    const pointer = entry.localHeaderOffset ?? localOffset;

    const record = Buffer.alloc(46);
    record.writeUInt32LE(0x02014b50, 0);
    record.writeUInt16LE(entry.versionMadeBy ?? (3 << 8) | 20, 4);
    record.writeUInt16LE(20, 6);
    record.writeUInt16LE(flags, 8);
    record.writeUInt16LE(method, 10);
    record.writeUInt32LE(0, 12);
    record.writeUInt32LE(crc >>> 0, 16);
    record.writeUInt32LE(options.zip64 ? 0xffffffff : compressedSize, 20);
    record.writeUInt32LE(options.zip64 ? 0xffffffff : uncompressedSize, 24);
    record.writeUInt16LE(name.length, 28);
    const extra = options.zip64 ? zip64Extra([uncompressedSize, compressedSize, pointer]) : Buffer.alloc(0);
    record.writeUInt16LE(extra.length, 30);
    record.writeUInt16LE(0, 32); // comment length
    record.writeUInt16LE(0, 34); // disk
    record.writeUInt16LE(0, 36); // internal attributes
    record.writeUInt32LE(entry.externalAttributes ?? unixAttributes(S_IFREG | 0o644), 38);
    record.writeUInt32LE(options.zip64 ? 0xffffffff : pointer, 42);
    central.push(record, name, extra);
  }

  const cdOffset = offset;
  const cdSize = central.reduce((sum, b) => sum + b.length, 0);
  for (const c of central) parts.push(c); // not push(...central): 100,000 entries overflow the stack
  offset += cdSize;

  const count = options.eocdEntryCount ?? entries.length;
  const comment = options.comment ?? Buffer.alloc(0);
  if (options.zip64) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4); // size of the rest of the record
    record.writeUInt16LE(45, 12);
    record.writeUInt16LE(45, 14);
    record.writeUInt32LE(0, 16);
    record.writeUInt32LE(0, 20);
    record.writeBigUInt64LE(BigInt(count), 24);
    record.writeBigUInt64LE(BigInt(count), 32);
    record.writeBigUInt64LE(BigInt(cdSize), 40);
    record.writeBigUInt64LE(BigInt(cdOffset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeUInt32LE(0, 4);
    locator.writeBigUInt64LE(BigInt(offset), 8);
    locator.writeUInt32LE(1, 16);
    parts.push(record, locator);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(0, 4);
  eocd.writeUInt16LE(0, 6);
  eocd.writeUInt16LE(options.zip64 ? 0xffff : count, 8);
  eocd.writeUInt16LE(options.zip64 ? 0xffff : count, 10);
  eocd.writeUInt32LE(options.zip64 ? 0xffffffff : cdSize, 12);
  eocd.writeUInt32LE(options.zip64 ? 0xffffffff : cdOffset, 16);
  eocd.writeUInt16LE(comment.length, 20);
  parts.push(eocd, comment);
  return Buffer.concat(parts);
}

/** A zip64 extended-information extra field (header id 1) holding 8-byte values. */
function zip64Extra(values: number[]): Buffer {
  const extra = Buffer.alloc(4 + 8 * values.length);
  extra.writeUInt16LE(0x0001, 0);
  extra.writeUInt16LE(8 * values.length, 2);
  values.forEach((v, i) => {
    extra.writeBigUInt64LE(BigInt(v), 4 + 8 * i);
  });
  return extra;
}

/**
 * Deflates `totalBytes` of zeros without ever holding them: one zero-filled chunk is fed to a
 * streaming deflater again and again. Returns the compressed bytes and the CRC-32 of the input.
 */
export async function deflateZeros(totalBytes: number, chunkBytes = 1024 * 1024): Promise<{ compressed: Buffer; crc32: number }> {
  const zeros = Buffer.alloc(chunkBytes);
  const deflater = zlib.createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  deflater.on('data', (chunk: Buffer) => out.push(chunk));
  const done = new Promise<void>((resolve, reject) => {
    deflater.on('end', resolve);
    deflater.on('error', reject);
  });
  let crc = 0;
  for (let written = 0; written < totalBytes; written += chunkBytes) {
    const chunk = totalBytes - written >= chunkBytes ? zeros : zeros.subarray(0, totalBytes - written);
    crc = zlib.crc32(chunk, crc);
    if (!deflater.write(chunk)) await new Promise((resolve) => deflater.once('drain', resolve));
  }
  deflater.end();
  await done;
  return { compressed: Buffer.concat(out), crc32: crc };
}
