/**
 * Secret scrubbing for everything policy-gate lets out: error messages, log lines, report files,
 * equity CSVs, the job summary, the PR comment, the check run, step outputs, stdout and stderr.
 *
 * There is one process-wide `outputRedactor`. The CLI and the Action register the run's secrets with
 * it before anything is read or printed (`registerEnvSecrets`): the GitHub token, the Alpaca key pair
 * (from the environment or ALPACA_KEYS_FILE), and every environment value whose name looks secret
 * (`SECRET_NAME`, at least `MIN_SECRET_LENGTH` characters) — the same values the Action registers with
 * the runner (`::add-mask::`). A report is redacted as DATA (`redactDeep`) before it is rendered:
 * markdown or HTML escaping can change a secret's spelling (`ghs_x` becomes `ghs\_x`), so redaction
 * after rendering alone could miss it; the rendered text and every file written
 * (src/util/atomic.ts) are redacted again on the way out. Secrets stay registered for the life of the
 * process.
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

/**
 * Environment variable names whose values are treated as secrets: `*TOKEN*`, `*SECRET*`,
 * `*PASSWORD*` / `*PASSWD*`, `*CREDENTIAL*`, and names ending in `_KEY` (case-insensitive).
 * The GitHub token and the Alpaca key pair are always secrets, whatever their length.
 */
export const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|_KEY$/i;

/** Values shorter than this under a secret-looking name are not redacted (`true`, `1`, `none` would hit innocent text). */
export const MIN_SECRET_LENGTH = 8;

/** The values of `env` that are secrets by name (see SECRET_NAME), plus the named ones of policy-gate itself. */
export function secretsFromEnv(env: NodeJS.ProcessEnv): string[] {
  const out = new Set<string>();
  for (const name of ['GITHUB_TOKEN', 'INPUT_GITHUB-TOKEN', 'INPUT_GITHUB_TOKEN', 'APCA_API_KEY_ID', 'APCA_API_SECRET_KEY']) {
    const v = env[name]?.trim();
    if (v) out.add(v);
  }
  for (const [name, value] of Object.entries(env)) {
    const v = value?.trim();
    if (v && v.length >= MIN_SECRET_LENGTH && SECRET_NAME.test(name)) out.add(v);
  }
  return [...out];
}

/** The one redactor every output goes through (see the top of this file). */
export const outputRedactor = new Redactor();

/** Registers secrets with the process-wide redactor; returns them (deduplicated, non-empty). */
export function registerSecrets(secrets: Iterable<string | undefined | null>): string[] {
  const unique = [...new Set([...secrets].filter((s): s is string => typeof s === 'string' && s.trim() !== '').map((s) => s.trim()))];
  for (const s of unique) outputRedactor.add(s);
  return unique;
}

/** Shorthand: `outputRedactor.redact(text)`. */
export function redactOutput(text: string): string {
  return outputRedactor.redact(text);
}

/**
 * A copy of `value` with every string — object keys included — passed through `redactor`. Typed
 * arrays, numbers and other non-string leaves are kept as they are; Maps and Sets are copied.
 * `transform` runs after redaction on every string (e.g. to make invisible characters visible).
 */
export function redactDeep<T>(value: T, redactor: Redactor = outputRedactor, transform: (s: string) => string = (s) => s): T {
  const str = (s: string): string => transform(redactor.redact(s));
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return str(v);
    if (v === null || typeof v !== 'object') return v;
    if (ArrayBuffer.isView(v) || v instanceof Date) return v;
    if (Array.isArray(v)) return v.map(walk);
    if (v instanceof Map) return new Map([...v].map(([k, x]) => [walk(k), walk(x)]));
    if (v instanceof Set) return new Set([...v].map(walk));
    const proto = Object.getPrototypeOf(v) as unknown;
    const out: Record<string, unknown> = proto === null ? (Object.create(null) as Record<string, unknown>) : {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const key = str(k);
      // Never a prototype setter, whatever a key became.
      Object.defineProperty(out, key, { value: walk(x), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  return walk(value) as T;
}
