/**
 * Secret scrubbing for everything the Alpaca source lets out: error messages, log lines and
 * (by construction, never containing keys) cache files.
 *
 * A key can leak in more shapes than its plain text: an HTTP client may put headers in an error, a
 * proxy may echo them base64-encoded (Basic auth) or URL-encoded. The redactor replaces, longest
 * first: the secret itself, its encodeURIComponent form, and its base64 / base64url forms at all
 * three byte alignments (so the secret is also caught inside the base64 of a longer string such as
 * "KEY:SECRET"), with and without padding.
 */

export const REDACTED = '[REDACTED]';

/** Base64 fragments shorter than this are not redacted on their own: too likely to hit innocent text. */
const MIN_FRAGMENT = 8;

/**
 * The encoded forms of one secret that must never appear in output.
 * Exported for tests, which assert none of them leaks.
 */
export function secretForms(secret: string): string[] {
  if (secret === '') return [];
  const forms = new Set<string>([secret, encodeURIComponent(secret)]);
  const bytes = Buffer.from(secret, 'utf8');
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    if (shift === 0) {
      forms.add(b64);
      forms.add(b64.replace(/=+$/, ''));
    }
    // With a prefix, the first 4-char group mixes prefix bits and secret bits; with a suffix, so
    // does the last group (unless the length is a multiple of 3). Keep only the groups that encode
    // secret bytes alone: they appear verbatim in any base64 text containing the secret at this alignment.
    const head = shift === 0 ? 0 : 4;
    const full = (shift + bytes.length) % 3 === 0;
    const core = b64.replace(/=+$/, '').slice(head, full ? undefined : Math.floor((shift + bytes.length) / 3) * 4);
    if (core.length >= MIN_FRAGMENT) forms.add(core);
  }
  for (const f of [...forms]) {
    const url = f.replace(/\+/g, '-').replace(/\//g, '_');
    if (url !== f) forms.add(url);
    const enc = encodeURIComponent(f);
    if (enc !== f) forms.add(enc);
  }
  return [...forms].filter((f) => f.length > 0).sort((a, b) => b.length - a.length);
}

export class Redactor {
  private forms: string[] = [];

  constructor(secrets: Iterable<string | undefined> = []) {
    for (const s of secrets) this.add(s);
  }

  /** Register a secret (empty and undefined values are ignored). */
  add(secret: string | undefined): void {
    if (!secret) return;
    const next = new Set([...this.forms, ...secretForms(secret)]);
    this.forms = [...next].sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.forms.length;
  }

  /** The text with every known secret form replaced by [REDACTED]. */
  redact(text: string): string {
    let out = text;
    for (const f of this.forms) {
      if (out.includes(f)) out = out.split(f).join(REDACTED);
    }
    return out;
  }
}
