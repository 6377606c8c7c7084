/**
 * Protobuf wire format, both ways, for the ONNX messages policy-gate reads and writes itself: a
 * growable writer (the ONNX writer of src/devtools, and the first-layer split of ./split.ts) and a
 * reader that gives each field with its byte range, so a message can be copied field by field with
 * some fields left out or replaced (protobuf messages are concatenations of fields).
 */
const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const textEncoder = new TextEncoder();

/** A growable protobuf writer (proto2 semantics: repeated scalars are written unpacked unless asked). */
export class PbWriter {
  private buf = new Uint8Array(64);
  private len = 0;

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  /** Unsigned varint for 0 <= v <= 2^53, or a negative int64 as its 10-byte two's complement. */
  varint(v: number | bigint): void {
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new Error(`protobuf varint must be an integer, got ${v}`);
      if (v >= 0 && v <= 0xffffffff) {
        let x = v >>> 0;
        while (x > 0x7f) {
          this.byte((x & 0x7f) | 0x80);
          x >>>= 7;
        }
        this.byte(x);
        return;
      }
      v = BigInt(v);
    }
    let x = BigInt.asUintN(64, v);
    while (x > 0x7fn) {
      this.byte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.byte(Number(x));
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, v: number | bigint): void {
    this.tag(field, WIRE_VARINT);
    this.varint(v);
  }

  float(field: number, v: number): void {
    this.tag(field, WIRE_I32);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, v, true);
    this.len += 4;
  }

  double(field: number, v: number): void {
    this.tag(field, WIRE_I64);
    this.ensure(8);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 8).setFloat64(0, v, true);
    this.len += 8;
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  string(field: number, s: string): void {
    this.bytes(field, textEncoder.encode(s));
  }

  message(field: number, m: Uint8Array): void {
    this.bytes(field, m);
  }

  /** Appends bytes that are already encoded fields (copied from another message). */
  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

export interface PbField {
  field: number;
  wire: number;
  /** Varint value (wire 0). Exact up to 2^53. */
  value: number;
  /** Where the field starts (its key). */
  at: number;
  /** The payload: a length-delimited field's bytes, or a fixed 32/64-bit value's. */
  start: number;
  end: number;
}

/** The fields of the message in buf[start, end), in order; throws on malformed input. */
export function readFields(buf: Uint8Array, start = 0, end = buf.length): PbField[] {
  const out: PbField[] = [];
  let pos = start;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw new Error(`truncated varint at byte ${pos}`);
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new Error(`varint longer than 10 bytes at byte ${pos}`);
  };
  while (pos < end) {
    const at = pos;
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) throw new Error(`invalid field number 0 at byte ${at}`);
    if (wire === WIRE_VARINT) {
      const value = varint();
      out.push({ field, wire, value, at, start: pos, end: pos });
    } else if (wire === WIRE_LEN) {
      const len = varint();
      if (len > end - pos) throw new Error(`field ${field} at byte ${at} claims ${len} bytes but only ${end - pos} remain`);
      out.push({ field, wire, value: len, at, start: pos, end: pos + len });
      pos += len;
    } else if (wire === WIRE_I32 || wire === WIRE_I64) {
      const size = wire === WIRE_I32 ? 4 : 8;
      if (pos + size > end) throw new Error(`truncated fixed-size field at byte ${at}`);
      out.push({ field, wire, value: 0, at, start: pos, end: pos + size });
      pos += size;
    } else {
      throw new Error(`invalid wire type ${wire} at byte ${at}`);
    }
  }
  return out;
}

const textDecoder = new TextDecoder('utf-8', { fatal: false });

/** A length-delimited field's payload as text. */
export function fieldText(buf: Uint8Array, f: PbField): string {
  return textDecoder.decode(buf.subarray(f.start, f.end));
}

/** A ValueInfoProto of a float32 tensor: its name and dimensions (a string is a symbolic dimension). */
export function floatValueInfo(name: string, dims: readonly (number | string)[]): Uint8Array {
  const shape = new PbWriter();
  for (const d of dims) {
    const dim = new PbWriter();
    if (typeof d === 'number') dim.int(1, d);
    else dim.string(2, d);
    shape.message(1, dim.finish());
  }
  const tensorType = new PbWriter();
  tensorType.int(1, 1); // TensorProto.FLOAT
  tensorType.message(2, shape.finish());
  const type = new PbWriter();
  type.message(1, tensorType.finish());
  const v = new PbWriter();
  v.string(1, name);
  v.message(2, type.finish());
  return v.finish();
}

/**
 * A message built from parts that are not copied until the model is assembled once (joinParts in
 * split.ts): the weights of a first layer are megabytes.
 */
export type Parts = Uint8Array[];

/** A varint's bytes. */
export function varintBytes(v: number): Uint8Array {
  const w = new PbWriter();
  w.varint(v);
  return w.finish();
}

/** A length-delimited field holding `parts` (not copied). */
export function lenField(field: number, parts: Parts): Parts {
  const length = parts.reduce((a, p) => a + p.length, 0);
  return [varintBytes(field * 8 + 2), varintBytes(length), ...parts];
}
