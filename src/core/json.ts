/**
 * Structural checks on JSON text from an untrusted file, done before JSON.parse and without
 * recursion, so no shape of input can exhaust the stack or silently lose data:
 *
 * - **Nesting depth** at most MAX_JSON_DEPTH (64) levels. V8's JSON.parse copes with any depth, but
 *   everything after it that walks the value (validation, freezing, JSON.stringify for the report,
 *   the structured clone to the onnxruntime process) recurses: a card nested 100,000 arrays deep
 *   overflowed the stack. No file policy-gate reads needs more than about 8.
 * - **Duplicate keys** in one object are refused, naming the key: JSON.parse keeps the last silently,
 *   so `{"fitness_score": [bad], "fitness_score": [good]}` would show a reviewer one value and gate
 *   on another.
 * - **Member caps** on chosen containers (the training summary's model entries), counted while
 *   scanning, so a 1,000,000-entry summary is refused in one pass instead of being parsed into a
 *   million objects first.
 * - A **UTF-8 byte order mark** at the start (Windows editors and PowerShell's `Out-File` write one)
 *   is accepted and removed; JSON.parse alone rejects it with an error that quotes an invisible
 *   character.
 *
 * The scanner is lenient about everything else: syntax errors are left to JSON.parse, whose message
 * names the position.
 */
import { inputError } from './errors.js';

export const MAX_JSON_DEPTH = 64;

/** A cap on the members (keys of an object, items of an array) of the containers `applies` selects. */
export interface MemberCap {
  /** `path`: the keys leading to the container from the top ([] for the top level, '[]' for an array item). Asked for containers at depth <= 3 only. */
  applies: (path: readonly string[]) => boolean;
  max: number;
  /** The refusal, given the container's path and its full member count. */
  message: (path: readonly string[], count: number) => string;
}

export interface JsonCheckOptions {
  maxDepth?: number;
  cap?: MemberCap;
}

interface Frame {
  object: boolean;
  keys: Set<string> | null;
  /** Object: the next string is a key. Array: the next token starts an item. */
  expecting: boolean;
  members: number;
  capped: boolean;
  path: readonly string[] | null;
  /** Last key read (objects): where a child container sits. */
  key: string;
  /** Where the container's keys were first seen, for the duplicate message. */
  keyAt: Map<string, number> | null;
}

const BOM = 0xfeff;

/** `text` without a leading UTF-8 byte order mark. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === BOM ? text.slice(1) : text;
}

function position(text: string, index: number): string {
  let line = 1;
  let lineStart = 0;
  for (let k = text.indexOf('\n'); k >= 0 && k < index; k = text.indexOf('\n', k + 1)) {
    line++;
    lineStart = k + 1;
  }
  return `line ${line}, column ${index - lineStart + 1}`;
}

/** A key for a message: JSON-quoted (so control and invisible characters show as escapes), at most 80 characters. */
export function showKey(key: string): string {
  const quoted = JSON.stringify(key).replace(/[\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return quoted.length > 80 ? `${quoted.slice(0, 79)}…` : quoted;
}

function pathText(path: readonly string[]): string {
  return path.length === 0 ? 'the top level' : path.map((p) => (p === '[]' ? '[…]' : showKey(p))).join('.');
}

/**
 * Checks `text` (already without a BOM) and throws an input error naming `file` on the first
 * problem. Linear time, constant stack.
 */
export function checkJsonStructure(text: string, file: string, options: JsonCheckOptions = {}): void {
  const maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
  const cap = options.cap;
  const stack: Frame[] = [];
  // Once a container is over its cap, nothing else matters: only its members are still counted.
  let countingOnly = false;
  const n = text.length;

  const itemStarts = (top: Frame | undefined): void => {
    if (top && !top.object && top.expecting) {
      top.members++;
      top.expecting = false;
    }
  };

  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 10 || c === 13 || c === 9) continue;
    const top = stack[stack.length - 1];
    if (c === 34 /* " */) {
      let end = -1;
      for (let j = i + 1; ; ) {
        const q = text.indexOf('"', j);
        if (q < 0) break;
        let backslashes = 0;
        for (let b = q - 1; b > i && text.charCodeAt(b) === 92; b--) backslashes++;
        if (backslashes % 2 === 0) {
          end = q;
          break;
        }
        j = q + 1;
      }
      if (end < 0) return; // unterminated: JSON.parse reports it
      if (top?.object && top.expecting) {
        top.members++;
        top.expecting = false;
        if (!countingOnly) {
          let key: string;
          try {
            key = JSON.parse(text.slice(i, end + 1)) as string;
          } catch {
            return; // a malformed escape: JSON.parse reports it
          }
          top.key = key;
          if (top.keys) {
            if (top.keys.has(key)) {
              throw inputError(
                `${file}: key ${showKey(key)} appears twice in the same object (${position(text, top.keyAt!.get(key)!)} and ${position(text, i)}); ` +
                  'JSON keeps only the last one, so the file is refused rather than read one way here and another elsewhere. Remove one of them.',
                file,
              );
            }
            top.keys.add(key);
            top.keyAt!.set(key, i);
          }
        }
        if (top.capped && top.members > cap!.max) countingOnly = true;
      } else {
        itemStarts(top);
        if (top?.capped && top.members > cap!.max) countingOnly = true;
      }
      i = end;
      continue;
    }
    if (c === 123 /* { */ || c === 91 /* [ */) {
      itemStarts(top);
      if (top?.capped && top.members > cap!.max) countingOnly = true;
      if (stack.length + 1 > maxDepth) {
        throw inputError(`${file}: JSON nested more than ${maxDepth} levels deep (at ${position(text, i)}); no file policy-gate reads needs that — the file is broken or hostile.`, file);
      }
      let path: readonly string[] | null = null;
      if (!top) path = [];
      else if (top.path && stack.length < 3) path = [...top.path, top.object ? top.key : '[]'];
      const capped = !countingOnly && cap !== undefined && path !== null && cap.applies(path);
      const object = c === 123;
      stack.push({
        object,
        keys: object && !countingOnly ? new Set() : null,
        keyAt: object && !countingOnly ? new Map() : null,
        expecting: true,
        members: 0,
        capped,
        path,
        key: '',
      });
      continue;
    }
    if (c === 125 /* } */ || c === 93 /* ] */) {
      const frame = stack.pop();
      if (frame?.capped && frame.members > cap!.max) {
        throw inputError(`${file}: ${cap!.message(frame.path!, frame.members)}`, file);
      }
      continue;
    }
    if (c === 44 /* , */) {
      if (top) top.expecting = true;
      continue;
    }
    if (c === 58 /* : */) continue;
    // a number, true, false, null (or garbage JSON.parse will name): an item when in an array
    itemStarts(top);
    while (i + 1 < n) {
      const d = text.charCodeAt(i + 1);
      if (d === 44 || d === 93 || d === 125 || d === 32 || d === 10 || d === 13 || d === 9 || d === 34 || d === 123 || d === 91 || d === 58) break;
      i++;
    }
  }
  // Unclosed containers: JSON.parse reports them. A capped one may still be over its cap.
  for (const frame of stack) {
    if (frame.capped && frame.members > cap!.max) throw inputError(`${file}: ${cap!.message(frame.path!, frame.members)}`, file);
  }
}

/** Where a member cap applies, for messages. */
export { pathText as jsonPathText };

/** `text` without its BOM, checked by checkJsonStructure: ready for JSON.parse. */
export function prepareJson(text: string, file: string, options: JsonCheckOptions = {}): string {
  const body = stripBom(text);
  checkJsonStructure(body, file, options);
  return body;
}

/**
 * JSON.parse for a file policy-gate reads (a card, a deployed card, a report, an event payload):
 * BOM removed, structure checked, and a syntax error turned into an input error naming the file.
 */
export function parseJsonFile(text: string, file: string, options: JsonCheckOptions = {}): unknown {
  const body = prepareJson(text, file, options);
  try {
    return JSON.parse(body);
  } catch (err) {
    throw inputError(`${file}: not valid JSON (${jsonSyntaxReason(body, err)})`, file, err);
  }
}

/**
 * The same depth limit on a value already parsed (YAML files: configs and deployment files, which
 * may also be JSON), walked without recursion. Throws an input error naming `file`.
 */
export function checkValueDepth(value: unknown, file: string, maxDepth = MAX_JSON_DEPTH): void {
  const pending: { value: unknown; depth: number }[] = [{ value, depth: 1 }];
  const seen = new Set<object>();
  while (pending.length > 0) {
    const { value: v, depth } = pending.pop()!;
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    if (depth > maxDepth) {
      throw inputError(`${file}: nested more than ${maxDepth} levels deep; no file policy-gate reads needs that — the file is broken or hostile.`, file);
    }
    for (const child of Array.isArray(v) ? v : Object.values(v as Record<string, unknown>)) pending.push({ value: child, depth: depth + 1 });
  }
}

/** A YAML/JSON parser's error for a message: a stack overflow (absurd nesting) said plainly. */
export function parseFailureReason(err: unknown): string {
  if (err instanceof Error && /maximum call stack/i.test(err.message)) return `nested too deeply to read (more than ${MAX_JSON_DEPTH} levels is refused)`;
  const message = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
  return message.length > 300 ? `${message.slice(0, 300)}…` : message;
}

/**
 * Why `text` is not JSON, on one line for a message (JSON.parse's own message quotes the text around
 * the error, newlines included). A bare NaN / Infinity / -Infinity — what Python's json module writes
 * for float('nan') and float('inf') — is named with its line and column and the fix.
 */
export function jsonSyntaxReason(text: string, err: unknown): string {
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 34 /* " */) {
      for (i++; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c === 92 /* \ */) i++;
        else if (c === 34) break;
      }
      continue;
    }
    const token = text.startsWith('NaN', i) ? 'NaN' : text.startsWith('-Infinity', i) ? '-Infinity' : text.startsWith('Infinity', i) ? 'Infinity' : null;
    if (token) {
      const before = text.slice(0, i);
      const line = before.split('\n').length;
      const column = i - before.lastIndexOf('\n');
      return (
        `a bare ${token} at line ${line}, column ${column}: Python's json writes it for float('nan') or float('inf'), ` +
        `but JSON has no such value — write null or a number (json.dumps(..., allow_nan=False) catches it at export)`
      );
    }
  }
  const message = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
  return message.length > 200 ? `${message.slice(0, 200)}…` : message;
}
