/** Escaping of archive text: for HTML (`esc`) and for markdown (`md`). */

/** HTML escaping for text and attribute values (everything that comes from an archive passes through it). */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * Escape text for a markdown table cell or paragraph. Every line ending CommonMark knows — LF, CRLF
 * and a lone CR — becomes a space: a CR alone would end a table row mid-cell (docs/threat-model.md).
 *
 * Mentions stay inert: GitHub links `@name` and `@org/team` (and notifies them) wherever an `@` that
 * follows no word character is followed by a letter or digit — a backslash escape does not stop it,
 * because GitHub finds mentions in the rendered text. A word joiner (U+2060, invisible, no width)
 * after such an `@` breaks the pattern, so a model id or an error quoting `@org/admins` pings nobody.
 */
export function md(text: string): string {
  return text
    .replace(/[\\`*_{}[\]()#+!|<>~]/g, (c) => `\\${c}`)
    .replace(/\r\n|\r|\n/g, ' ')
    .replace(/@(?=[\p{L}\p{N}])/gu, `@${WORD_JOINER}`);
}

/** Inserted after an `@` so that GitHub does not read a mention (see `md`). */
export const WORD_JOINER = '\u2060';
