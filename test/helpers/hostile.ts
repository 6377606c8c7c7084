/**
 * Helpers of the hostile-case suite (test/hostile-*.test.ts): the example archive with edits (and its
 * manifest's sha256 sums kept true, so a test reaches the code it aims at), folder snapshots for
 * "nothing else was written", and the secret scanner.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { zipSync } from 'fflate';
import { secretForms } from '../../src/util/redact.js';
import { md } from '../../src/core/render/markdown.js';
import { esc } from '../../src/core/render/escape.js';
import { dec, enc, exampleFiles } from './e2e.js';

export const ROOT = 'Alpaca_trading';
export const MODELS = `${ROOT}/models/rl_symbols`;
export const SUMMARY = `${ROOT}/training_summary_20240911_120000.json`;
export const MANIFEST = `${ROOT}/manifest.json`;

/** The example archive's files after `edit`, with every manifest entry's sha256 recomputed. */
export function exampleWith(edit: (files: Record<string, Uint8Array>) => void): Record<string, Uint8Array> {
  const files = exampleFiles();
  edit(files);
  const manifestBytes = files[MANIFEST];
  if (manifestBytes) {
    let doc: { files: Record<string, string> };
    try {
      doc = JSON.parse(dec(manifestBytes));
    } catch {
      return files; // the test made the manifest itself unreadable
    }
    for (const rel of Object.keys(doc.files)) {
      const bytes = files[`${ROOT}/${rel}`];
      if (bytes) doc.files[rel] = createHash('sha256').update(bytes).digest('hex');
      else delete doc.files[rel];
    }
    files[MANIFEST] = enc(JSON.stringify(doc, null, 2) + '\n');
  }
  return files;
}

/** Writes the files as a zip at `file`; returns `file`. */
export function writeZip(file: string, files: Record<string, Uint8Array>): string {
  writeFileSync(file, zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, [v, { level: 6 }]]))));
  return file;
}

/** Every file and folder under `dir` (relative paths) with each file's sha256: compare two to prove nothing changed. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of readdirSync(dir, { recursive: true }) as string[]) {
    const full = path.join(dir, rel);
    out[rel.split(path.sep).join('/')] = statSync(full).isFile() ? createHash('sha256').update(readFileSync(full)).digest('hex') : 'dir';
  }
  return out;
}

/** Every file's text under `dir` (recursively), name → text. */
export function readAll(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of readdirSync(dir, { recursive: true }) as string[]) {
    const full = path.join(dir, rel);
    if (statSync(full).isFile()) out[rel] = readFileSync(full, 'utf8');
  }
  return out;
}

/**
 * Every form of every secret that must never appear in output: the value, its URL encoding, its
 * base64 and base64url (padded or not, and as it appears inside the base64 of a longer string such as
 * "KEY:SECRET" at each byte alignment) — src/util/redact.ts's secretForms — and each of those as
 * markdown, HTML and JSON escape it (`ghs\_…` renders on GitHub as the token itself).
 */
export function leakForms(secrets: readonly string[]): string[] {
  const plain = secrets.flatMap((s) => secretForms(s));
  return [...new Set(plain.flatMap((f) => [f, md(f), esc(f), JSON.stringify(f).slice(1, -1)]))];
}

/** Names each (where, secret form) pair found; [] when nothing leaked. */
export function findLeaks(outputs: Record<string, string>, secrets: readonly string[]): string[] {
  const forms = leakForms(secrets);
  const found: string[] = [];
  for (const [where, text] of Object.entries(outputs)) {
    for (const f of forms) if (text.includes(f)) found.push(`${where}: ${f.slice(0, 6)}…`);
  }
  return found;
}
