/**
 * Alpaca API keys: from the environment, or from a file named by ALPACA_KEYS_FILE.
 *
 * Order: APCA_API_KEY_ID + APCA_API_SECRET_KEY when both are set; else ALPACA_KEYS_FILE; else none.
 * One of the pair without the other is an error (it is almost always a typo or a missing secret).
 *
 * Key file layouts (a UTF-8 text file; a BOM, CRLF, blank lines and `#` comments are fine):
 *   1. KEY=VALUE lines (dotenv style; `export ` prefix, quotes and `KEY: VALUE` accepted), with the
 *      key id under APCA_API_KEY_ID, ALPACA_API_KEY_ID, ALPACA_API_KEY, ALPACA_KEY_ID, ALPACA_KEY,
 *      API_KEY_ID, API_KEY or KEY_ID, and the secret under APCA_API_SECRET_KEY, ALPACA_API_SECRET_KEY,
 *      ALPACA_SECRET_KEY, ALPACA_API_SECRET, ALPACA_SECRET, API_SECRET_KEY, API_SECRET, SECRET_KEY or
 *      SECRET (names are case-insensitive; other lines are ignored);
 *   2. JSON: {"key_id"|"keyId"|"api_key"|"apiKey"|"key"|"APCA_API_KEY_ID": "...",
 *             "secret_key"|"secretKey"|"secret"|"api_secret"|"apiSecret"|"APCA_API_SECRET_KEY": "..."};
 *   3. two lines: the key id, then the secret.
 * Errors name the file and the layouts, never a line of its content.
 */
import { readOwnFileSync } from '../../util/safe-read.js';

import { inputError } from '../../core/errors.js';

export interface AlpacaKeys {
  keyId: string;
  secret: string;
  /** Where the keys came from, for messages: never the keys themselves. */
  source: string;
}

export const KEY_ID_ENV = 'APCA_API_KEY_ID';
export const SECRET_ENV = 'APCA_API_SECRET_KEY';
export const KEYS_FILE_ENV = 'ALPACA_KEYS_FILE';

const KEY_ID_NAMES = ['APCA_API_KEY_ID', 'ALPACA_API_KEY_ID', 'ALPACA_API_KEY', 'ALPACA_KEY_ID', 'ALPACA_KEY', 'API_KEY_ID', 'API_KEY', 'KEY_ID'];
const SECRET_NAMES = ['APCA_API_SECRET_KEY', 'ALPACA_API_SECRET_KEY', 'ALPACA_SECRET_KEY', 'ALPACA_API_SECRET', 'ALPACA_SECRET', 'API_SECRET_KEY', 'API_SECRET', 'SECRET_KEY', 'SECRET'];
const JSON_KEY_ID = ['key_id', 'keyid', 'api_key', 'apikey', 'api_key_id', 'key', ...KEY_ID_NAMES.map((n) => n.toLowerCase())];
const JSON_SECRET = ['secret_key', 'secretkey', 'secret', 'api_secret', 'apisecret', 'api_secret_key', ...SECRET_NAMES.map((n) => n.toLowerCase())];

export const KEY_FILE_LAYOUTS =
  'KEY=VALUE lines (APCA_API_KEY_ID=... and APCA_API_SECRET_KEY=..., or ALPACA_API_KEY=... and ALPACA_SECRET_KEY=...), ' +
  'JSON {"key_id": "...", "secret_key": "..."}, or two lines: the key id, then the secret';

/** The message for a run that needs keys and has none. Names every place keys can come from. */
export function missingKeysMessage(what: string): string {
  return `${what} needs Alpaca API keys: set ${KEY_ID_ENV} and ${SECRET_ENV}, or point ${KEYS_FILE_ENV} at a file holding them ` + `(${KEY_FILE_LAYOUTS}). Crypto bars need no keys.`;
}

function clean(v: string | undefined): string {
  return (v ?? '').trim();
}

/** Keys from the environment or the keys file; null when none are configured. Throws an input error for a half pair or an unreadable file. */
export function readAlpacaKeys(env: NodeJS.ProcessEnv): AlpacaKeys | null {
  const keyId = clean(env[KEY_ID_ENV]);
  const secret = clean(env[SECRET_ENV]);
  if (keyId !== '' && secret !== '') return { keyId, secret, source: `environment (${KEY_ID_ENV}, ${SECRET_ENV})` };
  if (keyId !== '' || secret !== '') {
    const [set, unset] = keyId !== '' ? [KEY_ID_ENV, SECRET_ENV] : [SECRET_ENV, KEY_ID_ENV];
    throw inputError(`${set} is set but ${unset} is not: set both (or neither, and use ${KEYS_FILE_ENV})`, unset);
  }
  const file = clean(env[KEYS_FILE_ENV]);
  if (file === '') return null;
  let text: string;
  try {
    // Links are followed (a mounted secret often is one), but only a regular file is read: a FIFO
    // would block the run, a device or a folder is not a keys file.
    text = readOwnFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const what = code === 'ENOTREG' ? 'which is not a regular file' : `which cannot be read (${code})`;
    throw inputError(`${KEYS_FILE_ENV} names ${file}, ${what}`, KEYS_FILE_ENV);
  }
  const parsed = parseKeysFile(text);
  if (!parsed) {
    throw inputError(`${KEYS_FILE_ENV} file ${file} holds no Alpaca keys in a known layout; write ${KEY_FILE_LAYOUTS}`, KEYS_FILE_ENV);
  }
  return { keyId: parsed.keyId, secret: parsed.secret, source: `file ${file} (${parsed.layout})` };
}

interface ParsedKeys {
  keyId: string;
  secret: string;
  layout: 'KEY=VALUE' | 'JSON' | 'two lines';
}

/** Parse a keys file's text; null when no layout matches. Pure, for tests. */
export function parseKeysFile(raw: string): ParsedKeys | null {
  const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let obj: unknown;
    try {
      obj = JSON.parse(trimmed);
    } catch {
      return null;
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return null;
    const lower = new Map<string, unknown>();
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) lower.set(k.toLowerCase(), v);
    const pick = (names: string[]): string => {
      for (const n of names) {
        const v = lower.get(n);
        if (typeof v === 'string' && v.trim() !== '') return v.trim();
      }
      return '';
    };
    const keyId = pick(JSON_KEY_ID);
    const secret = pick(JSON_SECRET);
    return keyId !== '' && secret !== '' ? { keyId, secret, layout: 'JSON' } : null;
  }

  const lines = text
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const values = new Map<string, string>();
  for (const line of lines) {
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*[=:]\s*(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!.trim();
    if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v[v.length - 1] === v[0]) v = v.slice(1, -1);
    else v = v.replace(/\s+#.*$/, '');
    values.set(m[1]!.toUpperCase(), v.trim());
  }
  const first = (names: string[]): string => {
    for (const n of names) {
      const v = values.get(n);
      if (v) return v;
    }
    return '';
  };
  const keyId = first(KEY_ID_NAMES);
  const secret = first(SECRET_NAMES);
  if (keyId !== '' && secret !== '') return { keyId, secret, layout: 'KEY=VALUE' };

  // Two bare lines. A secret may contain '=' (base64-like), so only lines with a known name above
  // count as KEY=VALUE; with no known name, two lines without whitespace are key then secret.
  if (lines.length === 2 && lines.every((l) => !/\s/.test(l))) {
    return { keyId: lines[0]!, secret: lines[1]!, layout: 'two lines' };
  }
  return null;
}
