/**
 * Helpers for the end-to-end tests: run the CLI in-process with captured output, temp folders that
 * clean themselves up, the bundled example (zip, bars, its files extracted), and equity-CSV reading.
 * Nothing here writes inside the repository.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync } from 'fflate';
import { main } from '../../src/cli.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const EXAMPLE_ZIP = path.join(REPO, 'examples', 'Alpaca_trading_trained_20240911_120000.zip');
export const EXAMPLE_DATA = path.join(REPO, 'examples', 'data');
/** Where the example's models live inside the zip. */
export const MODELS_DIR = 'Alpaca_trading/models/rl_symbols';
/** A fixed clock: report.generatedAt is this, so runs are comparable. */
export const NOW = new Date('2025-01-02T03:04:05.000Z');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `main(argv)` in-process, with captured stdout/stderr, a fixed clock and `cwd` (default: a fresh empty temp folder). */
export async function runCli(argv: string[], cwd?: string): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    now: () => NOW,
    cwd: cwd ?? tempDir('cwd-'),
  });
  return { code, stdout, stderr };
}

const made: string[] = [];

/** A fresh folder under the OS temp dir; removed by `cleanupTempDirs` (call it in afterAll). */
export function tempDir(prefix = 'e2e-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), `policy-gate-${prefix}`));
  made.push(dir);
  return dir;
}

export function cleanupTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Every file of the example zip: path inside the archive → bytes. */
export function exampleFiles(): Record<string, Uint8Array> {
  return unzipSync(new Uint8Array(readFileSync(EXAMPLE_ZIP)));
}

/** Writes `files` (path → bytes) under `dir`, creating folders; returns `dir`. */
export function writeTree(dir: string, files: Record<string, Uint8Array | string>): string {
  for (const [p, bytes] of Object.entries(files)) {
    const target = path.join(dir, ...p.split('/'));
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, bytes);
  }
  return dir;
}

/** The example archive unpacked into a new temp folder (a folder archive); returns the folder. */
export function exampleFolder(edit?: (files: Record<string, Uint8Array>) => void): string {
  const files = exampleFiles();
  edit?.(files);
  return writeTree(tempDir('archive-'), files);
}

export const enc = (text: string): Uint8Array => new TextEncoder().encode(text);
export const dec = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** Parse a JSON file of the archive map, change it, and store it back. */
export function editJson(files: Record<string, Uint8Array>, p: string, edit: (doc: any) => void): void {
  const bytes = files[p];
  if (!bytes) throw new Error(`no ${p} in the example`);
  const doc = JSON.parse(dec(bytes));
  edit(doc);
  files[p] = enc(JSON.stringify(doc, null, 2) + '\n');
}

/** Lists a folder recursively (relative, '/'-separated, sorted); [] when it does not exist. */
export function listTree(dir: string): string[] {
  try {
    statSync(dir);
  } catch {
    return [];
  }
  return (readdirSync(dir, { recursive: true }) as string[]).map((e) => e.split(path.sep).join('/')).sort();
}

export interface EquityRow {
  timestamp: string;
  equity: number;
  exposure: number;
}

/** An equity CSV written by --equity-out: its header and rows. */
export function readEquityCsv(file: string): { header: string; rows: EquityRow[]; text: string } {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const [header, ...body] = lines;
  const rows = body.map((l) => {
    const [timestamp, equity, exposure] = l.split(',');
    return { timestamp: timestamp!, equity: Number(equity), exposure: Number(exposure) };
  });
  return { header: header!, rows, text };
}

/** Every file of a folder, name → contents, for byte-for-byte comparisons of two output folders. */
export function readFolder(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of listTree(dir)) out[name] = readFileSync(path.join(dir, name), 'utf8');
  return out;
}

/** Bars CSV text truncated to the rows whose timestamp is ≤ `lastIso` (the header kept). */
export function truncateBars(csv: string, lastIso: string): string {
  const lines = csv.split('\n');
  const cut = Date.parse(lastIso);
  const kept = [lines[0]!];
  for (const l of lines.slice(1)) {
    if (l.trim() === '') continue;
    if (Date.parse(l.slice(0, l.indexOf(','))) <= cut) kept.push(l);
  }
  return kept.join('\n') + '\n';
}

export const HOUR = 3_600_000;
export const TIMEFRAME_MS: Record<string, number> = {
  '1Hour': HOUR,
  '2Hour': 2 * HOUR,
  '4Hour': 4 * HOUR,
  '1Day': 24 * HOUR,
};
