/**
 * Git LFS pointers. A repository that tracks archives, models or bars with Git LFS checks out small
 * text stubs instead of the files when LFS is not pulled (actions/checkout's default is `lfs: false`):
 *
 *   version https://git-lfs.github.com/spec/v1
 *   oid sha256:4d7a2146…
 *   size 12345
 *
 * Read as a zip, an ONNX model or a CSV, such a stub gives a baffling parse error; recognised here, it
 * gives the one thing to do. The spec (git-lfs docs/spec.md) caps a pointer at 1024 bytes and fixes
 * the first line; the oid and size lines are read when present, for the message.
 */
import { inputError, type PolicyGateError } from './errors.js';

/** The first line of every Git LFS pointer. */
export const LFS_POINTER_VERSION = 'version https://git-lfs.github.com/spec/v1';
/** No pointer is larger (git-lfs spec). */
export const LFS_POINTER_MAX_BYTES = 1024;

export interface LfsPointer {
  /** `sha256:<hex>` of the real file, when the pointer names it. */
  oid: string | null;
  /** Size of the real file in bytes, when the pointer gives it. */
  size: number | null;
}

/** The pointer's fields when `content` is a Git LFS pointer, else null. */
export function parseLfsPointer(content: Uint8Array | string): LfsPointer | null {
  // A string's UTF-8 size is at least its length: a long text is never a pointer, without measuring it.
  if (content.length > LFS_POINTER_MAX_BYTES) return null;
  const length = typeof content === 'string' ? Buffer.byteLength(content) : content.length;
  if (length > LFS_POINTER_MAX_BYTES || length < LFS_POINTER_VERSION.length) return null;
  const text = typeof content === 'string' ? content : Buffer.from(content.buffer, content.byteOffset, content.length).toString('utf8');
  const body = text.replace(/^\uFEFF/, '');
  if (!body.startsWith(LFS_POINTER_VERSION)) return null;
  const rest = body.slice(LFS_POINTER_VERSION.length);
  if (rest !== '' && !/^\r?\n/.test(rest)) return null;
  const oid = /^oid ([a-z0-9]+:[0-9a-f]+)\s*$/m.exec(body)?.[1] ?? null;
  const sizeText = /^size (\d+)\s*$/m.exec(body)?.[1];
  return { oid, size: sizeText === undefined ? null : Number(sizeText) };
}

/** The sentence every LFS refusal carries. */
export const LFS_ADVICE = 'this is a Git LFS pointer: run git lfs pull (or set lfs: true in actions/checkout)';

/** The input error (exit 2, or the model's error) for `label`, a `what` that is only its LFS pointer. */
export function lfsPointerError(label: string, what: string, pointer: LfsPointer): PolicyGateError {
  const real: string[] = [];
  if (pointer.size !== null) real.push(`${pointer.size} bytes`);
  if (pointer.oid !== null) real.push(pointer.oid.length > 19 ? `${pointer.oid.slice(0, 19)}…` : pointer.oid);
  const of = real.length ? ` (${real.join(', ')})` : '';
  return inputError(`${label}: ${LFS_ADVICE}. It stands for the ${what}${of}, which was not downloaded.`, label);
}
