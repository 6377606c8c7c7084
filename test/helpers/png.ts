/**
 * A minimal PNG decoder for screenshots (8-bit RGB or RGBA, not interlaced — what Chromium writes):
 * chunks, zlib (fflate), scanline filters. Enough to tell a rendered page from a blank one.
 */
import { unzlibSync } from 'fflate';

export interface Image {
  width: number;
  height: number;
  /** RGBA, 4 bytes per pixel. */
  rgba: Uint8Array;
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

export function decodePng(bytes: Uint8Array): Image {
  if (!SIGNATURE.every((b, i) => bytes[i] === b)) throw new Error('not a PNG file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Uint8Array[] = [];
  while (pos < bytes.length) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const data = bytes.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = view.getUint32(pos + 8);
      height = view.getUint32(pos + 12);
      const depth = data[8];
      const color = data[9];
      const interlace = data[12];
      if (depth !== 8 || (color !== 2 && color !== 6) || interlace !== 0) throw new Error(`unsupported PNG: depth ${depth}, colour type ${color}, interlace ${interlace}`);
      channels = color === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  const joined = new Uint8Array(idat.reduce((n, d) => n + d.length, 0));
  let off = 0;
  for (const d of idat) {
    joined.set(d, off);
    off += d.length;
  }
  const raw = unzlibSync(joined);
  const stride = width * channels;
  const out = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = out.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? out.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? cur[i - channels]! : 0;
      const b = prev[i]!;
      const c = i >= channels ? prev[i - channels]! : 0;
      const x = line[i]!;
      cur[i] = (filter === 0 ? x : filter === 1 ? x + a : filter === 2 ? x + b : filter === 3 ? x + ((a + b) >> 1) : x + paeth(a, b, c)) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    rgba[p * 4] = out[p * channels]!;
    rgba[p * 4 + 1] = out[p * channels + 1]!;
    rgba[p * 4 + 2] = out[p * channels + 2]!;
    rgba[p * 4 + 3] = channels === 4 ? out[p * channels + 3]! : 255;
  }
  return { width, height, rgba };
}

export function pixel(img: Image, x: number, y: number): [number, number, number] {
  const i = (y * img.width + x) * 4;
  return [img.rgba[i]!, img.rgba[i + 1]!, img.rgba[i + 2]!];
}

/** Pixels within `tolerance` (per channel) of `rgb`. */
export function countNear(img: Image, rgb: [number, number, number], tolerance = 24): number {
  let n = 0;
  for (let i = 0; i < img.rgba.length; i += 4) {
    if (Math.abs(img.rgba[i]! - rgb[0]) <= tolerance && Math.abs(img.rgba[i + 1]! - rgb[1]) <= tolerance && Math.abs(img.rgba[i + 2]! - rgb[2]) <= tolerance) n++;
  }
  return n;
}

/** The share of pixels that differ from the top-left (background) pixel. */
export function inkShare(img: Image): number {
  const bg = pixel(img, 0, 0);
  let n = 0;
  for (let i = 0; i < img.rgba.length; i += 4) {
    if (Math.abs(img.rgba[i]! - bg[0]) + Math.abs(img.rgba[i + 1]! - bg[1]) + Math.abs(img.rgba[i + 2]! - bg[2]) > 30) n++;
  }
  return n / (img.width * img.height);
}

/** The left `width` columns of an image. */
export function cropWidth(img: Image, width: number): Image {
  const w = Math.min(width, img.width);
  const rgba = new Uint8Array(w * img.height * 4);
  for (let y = 0; y < img.height; y++) rgba.set(img.rgba.subarray(y * img.width * 4, (y * img.width + w) * 4), y * w * 4);
  return { width: w, height: img.height, rgba };
}
