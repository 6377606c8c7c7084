/**
 * The onnxruntime host's wire format, both sides: the parent (./host.ts) and the host program
 * (./host-main.ts, bundled into the host's source text) use these same functions; every model load,
 * simulation and inference call of the test suite goes through them, and test/hostile-ort.test.ts
 * round-trips each frame kind.
 *
 * A frame is a u32 little-endian length (of the rest) and a body whose first byte says its kind:
 *
 *   kind 0, any message:  u8 0, 3 × u8 0, u32 header length, header, pad to 8, blobs (each padded to 8).
 *                         header = node:v8 serialize({ m: the message with every Float32Array /
 *                         Uint8Array replaced by { $blob: i }, b: [[kind 'f32' | 'u8', byteLength], …] })
 *   kind 2, run request:  u8 2, u8 fault, u8 feeds, u8 wanted, u32 id, u32 session,
 *                         per feed: u8 input index, u8 float64?, u8 rank, u8 0, rank × u32 dim, u32 bytes,
 *                         wanted output indices (u8 each, padded to 4), then each feed's float32 bytes.
 *   kind 3, run reply:    u8 3, u8 0, u8 outputs, u8 0, u32 id,
 *                         per output: u8 output index, u8 rank, u16 0, rank × u32 dim, u32 bytes,
 *                         then each output's float32 bytes.
 *
 * Inference calls are the hot path (a lockstep backtest makes thousands in a row), so they have the
 * compact binary kinds 2 and 3: no serialiser, names as indices into the session's input and output
 * lists, and arrays as their raw bytes — written straight from the caller's Float32Array and read by
 * the host as a view over its receive buffer (one copy, in the kernel). Everything else (session
 * creation with the model's bytes, errors, statistics) uses kind 0.
 */
import v8 from 'node:v8';

export const FRAME_MESSAGE = 0;
export const FRAME_RUN = 2;
export const FRAME_RUN_REPLY = 3;

/** The fault codes of a run request (test seam, see ./host.ts). */
export const FAULT_CODES: Record<string, number> = { abort: 1, segv: 2, exit: 3, hang: 4, slow: 5 };

type Blob = Float32Array | Uint8Array;

const align8 = (n: number): number => (n + 7) & ~7;
const align4 = (n: number): number => (n + 3) & ~3;
const PADDING = Buffer.alloc(8);

function swapOut(value: unknown, blobs: Blob[]): unknown {
  if (value instanceof Float32Array || value instanceof Uint8Array) return { $blob: blobs.push(value) - 1 };
  // Other typed arrays (a series' Float64Array columns) are small: the serialiser carries them.
  if (ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map((v) => swapOut(v, blobs));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = swapOut(v, blobs);
    return out;
  }
  return value;
}

function swapIn(value: unknown, arrays: Blob[]): unknown {
  if (ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map((v) => swapIn(v, arrays));
  if (value !== null && typeof value === 'object') {
    const ref = (value as { $blob?: unknown }).$blob;
    if (typeof ref === 'number') return arrays[ref];
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = swapIn(v, arrays);
    return out;
  }
  return value;
}

const bytesOf = (a: Blob): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** A Float32Array of `length` bytes at body offset `off`: a view where aligned, else a copy. */
function floatsAt(body: Buffer, off: number, length: number): Float32Array {
  const at = body.byteOffset + off;
  if (off + length > body.length) throw new RangeError('frame shorter than its arrays');
  return at % 4 === 0 ? new Float32Array(body.buffer, at, length / 4) : new Float32Array(body.buffer.slice(at, at + length));
}

/** A kind-0 frame of any message, as the buffers to write in order (the arrays' bytes are not copied). */
export function encodeMessage(message: unknown): Buffer[] {
  const blobs: Blob[] = [];
  const body = swapOut(message, blobs);
  const header = v8.serialize({ m: body, b: blobs.map((a) => [a instanceof Float32Array ? 'f32' : 'u8', a.byteLength]) });
  const head = Buffer.alloc(12);
  const parts: Buffer[] = [head, header];
  let size = 12 + header.length;
  const pad = (): void => {
    const p = align8(size) - size;
    if (p > 0) parts.push(PADDING.subarray(0, p));
    size += p;
  };
  pad();
  for (const a of blobs) {
    parts.push(bytesOf(a));
    size += a.byteLength;
    pad();
  }
  head.writeUInt32LE(size - 4, 0);
  head.writeUInt8(FRAME_MESSAGE, 4);
  head.writeUInt32LE(header.length, 8);
  return parts;
}

export interface RunFeed {
  /** Index into the session's inputs. */
  input: number;
  float64: boolean;
  dims: readonly number[];
  data: Float32Array;
}

/** A kind-2 frame: one inference call. */
export function encodeRun(id: number, session: number, fault: number, feeds: readonly RunFeed[], wanted: readonly number[]): Buffer[] {
  let headerSize = 12;
  for (const f of feeds) headerSize += 4 + 4 * f.dims.length + 4;
  headerSize += align4(wanted.length);
  const head = Buffer.alloc(4 + headerSize);
  head.writeUInt8(FRAME_RUN, 4);
  head.writeUInt8(fault, 5);
  head.writeUInt8(feeds.length, 6);
  head.writeUInt8(wanted.length, 7);
  head.writeUInt32LE(id, 8);
  head.writeUInt32LE(session, 12);
  let off = 16;
  for (const f of feeds) {
    head.writeUInt8(f.input, off);
    head.writeUInt8(f.float64 ? 1 : 0, off + 1);
    head.writeUInt8(f.dims.length, off + 2);
    off += 4;
    for (const d of f.dims) {
      head.writeUInt32LE(d, off);
      off += 4;
    }
    head.writeUInt32LE(f.data.byteLength, off);
    off += 4;
  }
  for (let i = 0; i < wanted.length; i++) head.writeUInt8(wanted[i]!, off + i);
  let size = head.length;
  const parts: Buffer[] = [head];
  for (const f of feeds) {
    parts.push(bytesOf(f.data));
    size += f.data.byteLength;
  }
  head.writeUInt32LE(size - 4, 0);
  return parts;
}

export interface RunOutput {
  /** Index into the session's outputs. */
  output: number;
  dims: number[];
  data: Float32Array;
}

/**
 * The message of a frame's `body` (the frame without its length word): a kind-0 message, or a kind-3
 * run reply as `{ id, ok: true, outputs: RunOutput[] }`. Arrays are views into `body` where aligned,
 * copies otherwise: hand in a buffer nobody else reuses.
 */
export function decodeFrame(body: Buffer): unknown {
  const kind = body.readUInt8(0);
  if (kind === FRAME_RUN_REPLY) {
    const count = body.readUInt8(2);
    const id = body.readUInt32LE(4);
    let off = 8;
    const heads: { output: number; dims: number[]; bytes: number }[] = [];
    for (let i = 0; i < count; i++) {
      const output = body.readUInt8(off);
      const rank = body.readUInt8(off + 1);
      off += 4;
      const dims: number[] = [];
      for (let k = 0; k < rank; k++, off += 4) dims.push(body.readUInt32LE(off));
      heads.push({ output, dims, bytes: body.readUInt32LE(off) });
      off += 4;
    }
    const outputs: RunOutput[] = heads.map((h) => {
      const data = floatsAt(body, off, h.bytes);
      off += align4(h.bytes);
      return { output: h.output, dims: h.dims, data };
    });
    return { id, ok: true, outputs };
  }
  if (kind !== FRAME_MESSAGE) throw new RangeError(`unknown frame kind ${kind}`);
  const headerLength = body.readUInt32LE(4);
  const { m, b } = v8.deserialize(body.subarray(8, 8 + headerLength)) as { m: unknown; b: [string, number][] };
  let off = align8(12 + headerLength) - 4;
  const arrays = b.map(([k, length]): Blob => {
    const at = off;
    off += align8(length);
    if (k === 'u8') {
      if (at + length > body.length) throw new RangeError('frame shorter than its arrays');
      return new Uint8Array(body.buffer, body.byteOffset + at, length);
    }
    return floatsAt(body, at, length);
  });
  return swapIn(m, arrays);
}

// ------------------------------------------------------------------ the host's side

/** A decoded kind-2 frame: one inference call. Feed arrays are views into the body (it must start 4-aligned). */
export interface RunRequest {
  kind: 2;
  id: number;
  fault: number;
  session: number;
  feeds: RunFeed[];
  wanted: number[];
}

/** A request as the host reads it: a kind-2 run, or any kind-0 message (`{ id, op, … }`). */
export function decodeRequest(body: Buffer): RunRequest | { id: number; op: string; [key: string]: unknown } {
  const kind = body.readUInt8(0);
  if (kind !== FRAME_RUN) return decodeFrame(body) as { id: number; op: string };
  const nFeeds = body.readUInt8(2);
  const nWanted = body.readUInt8(3);
  const frame: RunRequest = { kind: 2, id: body.readUInt32LE(4), fault: body.readUInt8(1), session: body.readUInt32LE(8), feeds: [], wanted: [] };
  let off = 12;
  const sizes: number[] = [];
  for (let i = 0; i < nFeeds; i++) {
    const input = body.readUInt8(off);
    const float64 = body.readUInt8(off + 1) === 1;
    const rank = body.readUInt8(off + 2);
    off += 4;
    const dims: number[] = [];
    for (let k = 0; k < rank; k++, off += 4) dims.push(body.readUInt32LE(off));
    sizes.push(body.readUInt32LE(off));
    off += 4;
    frame.feeds.push({ input, float64, dims, data: new Float32Array(0) });
  }
  for (let i = 0; i < nWanted; i++) frame.wanted.push(body.readUInt8(off + i));
  off += align4(nWanted);
  for (let i = 0; i < nFeeds; i++) {
    frame.feeds[i]!.data = floatsAt(body, off, sizes[i]!);
    off += sizes[i]!;
  }
  return frame;
}

/** A kind-3 frame: the outputs of one inference call, in one buffer. */
export function encodeRunReply(id: number, outputs: readonly { output: number; dims: readonly number[]; data: Float32Array }[]): Buffer {
  let size = 12;
  for (const o of outputs) size += 4 + 4 * o.dims.length + 4 + align4(o.data.byteLength);
  const frame = Buffer.alloc(size);
  frame.writeUInt32LE(size - 4, 0);
  frame.writeUInt8(FRAME_RUN_REPLY, 4);
  frame.writeUInt8(outputs.length, 6);
  frame.writeUInt32LE(id, 8);
  let off = 12;
  for (const o of outputs) {
    frame.writeUInt8(o.output, off);
    frame.writeUInt8(o.dims.length, off + 1);
    off += 4;
    for (const d of o.dims) {
      frame.writeUInt32LE(d, off);
      off += 4;
    }
    frame.writeUInt32LE(o.data.byteLength, off);
    off += 4;
  }
  for (const o of outputs) {
    frame.set(bytesOf(o.data), off);
    off += align4(o.data.byteLength);
  }
  return frame;
}
