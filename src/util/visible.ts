/**
 * Characters that change how text looks without being seen, shown as visible escapes.
 *
 * - Bidirectional controls (U+202A–U+202E embeddings and overrides, U+2066–U+2069 isolates, U+200E /
 *   U+200F / U+061C marks) reorder what follows: `BTCUSD\u202E1Hour` can display as another id.
 * - Zero-width characters (U+200B–U+200D, U+2060, U+FEFF) and the other invisible format characters
 *   (U+00AD soft hyphen, U+180E, U+2061–U+2064) make two different ids look identical.
 * - C0 and C1 control characters (other than tab, LF and CR) and U+2028 / U+2029.
 *
 * `visibleText` writes each as `\uXXXX` (controls below U+0100 as `\xNN`), so a look-alike id cannot
 * pass for another in any output: report.json, report.md, report.html, the terminal, the job summary,
 * the PR comment and the check run (docs/threat-model.md). Tab, LF and CR are left alone here: each
 * renderer decides about line breaks (markdown turns them into spaces, log lines show them as `\n`).
 */

/** The characters `visibleText` escapes. */
export const INVISIBLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

/** One character as `\\xNN` (below U+0100) or `\\uNNNN`. */
export function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` with every invisible or reordering character shown as an escape (see above). */
export function visibleText(text: string): string {
  return text.replace(INVISIBLE, escapeChar);
}

/** How many characters of a file's content an error message quotes at most. */
export const EXCERPT_CHARS = 80;

/**
 * A file's content quoted in an error message: at most `max` characters (code points) — longer text
 * is cut and ends with `…` — with every control, invisible and line-break character escaped, so a
 * quote is one short visible line whatever the file holds.
 */
export function excerpt(text: string, max = EXCERPT_CHARS): string {
  const points = Array.from(text.length > max * 2 + 8 ? text.slice(0, max * 2 + 8) : text);
  const cut = points.length > max;
  const kept = cut ? points.slice(0, max).join('') : text;
  const shown = visibleText(kept).replace(/[\t\n\r]/g, (c) => (c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
  return cut ? `${shown}…` : shown;
}
