/**
 * GitHub's size limits (SPEC section 11), applied by trimming with a note, never by failing:
 * a check run's output.summary holds 65,535 characters, an issue comment 65,536, a job summary 1 MiB.
 * Text is measured in UTF-8 bytes, which is never less than its length in characters, so a body
 * under the byte limit is under every limit GitHub states. The cut falls at a line end (so a table
 * loses whole rows), never inside a fenced code block (the cut moves back to before the fence), and
 * never between the two halves of a UTF-16 surrogate pair (a single over-long line is cut at a code
 * point boundary).
 */

export const CHECK_SUMMARY_LIMIT = 65_535;
export const COMMENT_LIMIT = 65_536;
export const JOB_SUMMARY_LIMIT = 1024 * 1024;

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/**
 * The note that ends a trimmed text: fixed, or computed from the part kept and the whole (so it can say
 * what was cut). A computed note must not grow by more than NOTE_RESERVE bytes over `note('', '')`.
 */
export type TrimNote = string | ((kept: string, whole: string) => string);

/** Room kept for what a computed note says beyond its empty form (counts, a model id). */
export const NOTE_RESERVE = 400;

export interface Trimmed {
  text: string;
  trimmed: boolean;
}

/**
 * `text` if it fits in `maxBytes`; otherwise its longest prefix that ends at a line end outside any
 * code fence, followed by a blank line and `note`, all within `maxBytes`.
 */
export function trimToBytes(text: string, maxBytes: number, note: TrimNote): Trimmed {
  if (bytes(text) <= maxBytes) return { text, trimmed: false };
  const noteFor = (kept: string): string => (typeof note === 'string' ? note : note(kept, text));
  const reserve = typeof note === 'string' ? 0 : NOTE_RESERVE;
  const budget = maxBytes - bytes(`\n\n${noteFor('')}\n`) - reserve;
  if (budget <= 0) return { text: cutAtCodePoint(noteFor(''), maxBytes), trimmed: true };

  const lines = text.split('\n');
  let used = 0;
  let kept = 0; // lines kept so far
  let safeKept = 0; // the largest `kept` that ends outside a fence
  let fence: string | null = null;
  for (const line of lines) {
    const cost = bytes(line) + 1; // the line and its newline
    if (used + cost > budget) break;
    used += cost;
    kept++;
    const m = FENCE.exec(line);
    if (m) {
      const marker = m[1]!;
      if (fence === null) fence = marker;
      else if (marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker) fence = null;
    }
    if (fence === null) safeKept = kept;
  }
  let head = lines.slice(0, safeKept).join('\n');
  if (safeKept === 0 && !FENCE.test(lines[0] ?? '')) {
    // Not even the first line fits: cut it at a code point boundary.
    head = cutAtCodePoint(lines[0] ?? '', budget);
  }
  const body = head.replace(/\s+$/, '');
  const out = `${body}\n\n${noteFor(body)}\n`;
  // A computed note longer than its reserve falls back to its empty form (never over the limit).
  return { text: bytes(out) <= maxBytes ? out : `${body}\n\n${cutAtCodePoint(noteFor(''), maxBytes - bytes(body) - 3)}\n`, trimmed: true };
}

/** The longest prefix of `s` within `maxBytes` UTF-8 bytes that does not split a surrogate pair. */
export function cutAtCodePoint(s: string, maxBytes: number): string {
  let used = 0;
  let end = 0;
  for (const ch of s) {
    const b = bytes(ch);
    if (used + b > maxBytes) break;
    used += b;
    end += ch.length;
  }
  return s.slice(0, end);
}
