/**
 * The on-disk bar cache: one file per series, holding the time ranges already fetched ("coverage")
 * and the bars inside them, so a rerun over the same range makes no request and a longer range
 * fetches only what is missing.
 *
 * Key (one file each): provider host, asset class, Alpaca symbol, timeframe, and for stocks feed and
 * adjustment; the range is not part of the file name but of its content (coverage).
 * Path: <cacheDir>/alpaca-bars-v1/<asset class>/<SYMBOL>_<timeframe>[_<feed>_<adjustment>][_<host hash>].json
 *
 * File: {"sha256": hex, "body": {...}} where sha256 is over JSON.stringify(body) and body is
 *   { format, version, key: {...}, coverage: [[startMs, endMs), ...] sorted and disjoint,
 *     bars: { t: [...], o: [...], h: [...], l: [...], c: [...], v: [...] } }
 * every bar lies inside the coverage, times strictly increase. Any file that is not exactly that
 * (bad JSON, truncated, checksum mismatch, another key, a bar outside coverage) is reported as
 * corrupt, ignored and overwritten after a fresh fetch: never trusted.
 * Writes are atomic: a temp file in the same folder, fsync, rename.
 * The file holds no credentials: only the key fields above and market data.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../util/atomic.js';

import type { AssetClass, Timeframe } from '../../core/types.js';
import { sha256 } from '../../util/hash.js';

export const CACHE_FORMAT = 'policy-gate/alpaca-bars';
export const CACHE_VERSION = 1;
export const CACHE_SUBDIR = 'alpaca-bars-v1';

export interface CacheKey {
  provider: 'alpaca';
  /** The data host the bars came from (`https://data.alpaca.markets` unless overridden). */
  host: string;
  assetClass: AssetClass;
  /** Alpaca's spelling: `BTC/USD`, `AAPL`. */
  symbol: string;
  timeframe: Timeframe;
  /** Stocks only. */
  feed?: string;
  /** Stocks only. */
  adjustment?: string;
  /** Crypto only: the location (`us`). */
  loc?: string;
}

/** Columnar bars, oldest first, strictly increasing t (epoch ms). */
export interface BarColumns {
  t: number[];
  o: number[];
  h: number[];
  l: number[];
  c: number[];
  v: number[];
}

export type Interval = [number, number];

export interface CacheEntry {
  key: CacheKey;
  coverage: Interval[];
  bars: BarColumns;
}

export const DEFAULT_HOST = 'https://data.alpaca.markets';

export function emptyColumns(): BarColumns {
  return { t: [], o: [], h: [], l: [], c: [], v: [] };
}

function safePart(s: string): string {
  return s.replace(/\//g, '-').replace(/[^A-Za-z0-9.+-]/g, (ch) => `~${ch.charCodeAt(0).toString(16)}`);
}

export function cacheFilePath(cacheDir: string, key: CacheKey): string {
  const parts = [safePart(key.symbol), key.timeframe];
  if (key.assetClass === 'us_equity') parts.push(safePart(key.feed ?? ''), safePart(key.adjustment ?? ''));
  else parts.push(safePart(key.loc ?? 'us'));
  if (key.host !== DEFAULT_HOST) parts.push(sha256(key.host).slice(0, 12));
  return path.join(cacheDir, CACHE_SUBDIR, key.assetClass, `${parts.join('_')}.json`);
}

function sameKey(a: unknown, b: CacheKey): boolean {
  if (!a || typeof a !== 'object') return false;
  const x = a as Record<string, unknown>;
  const fields: (keyof CacheKey)[] = ['provider', 'host', 'assetClass', 'symbol', 'timeframe', 'feed', 'adjustment', 'loc'];
  return fields.every((f) => x[f] === b[f]) && Object.keys(x).every((f) => (fields as string[]).includes(f));
}

function isIntervalList(v: unknown): v is Interval[] {
  if (!Array.isArray(v)) return false;
  let prevEnd = -Infinity;
  for (const iv of v) {
    if (!Array.isArray(iv) || iv.length !== 2) return false;
    const [a, b] = iv as unknown[];
    if (typeof a !== 'number' || typeof b !== 'number' || !Number.isFinite(a) || !Number.isFinite(b) || a >= b || a < prevEnd) return false;
    prevEnd = b;
  }
  return true;
}

/** Why a parsed body is not a valid entry for `key`, or null when it is. */
function checkBody(body: unknown, key: CacheKey): string | null {
  if (!body || typeof body !== 'object') return 'no body';
  const b = body as Record<string, unknown>;
  if (b['format'] !== CACHE_FORMAT || b['version'] !== CACHE_VERSION) return 'unknown format or version';
  if (!sameKey(b['key'], key)) return 'the file belongs to another series';
  if (!isIntervalList(b['coverage'])) return 'coverage is not a sorted list of disjoint [start, end) ranges';
  const bars = b['bars'] as Record<string, unknown> | undefined;
  if (!bars || typeof bars !== 'object') return 'no bars';
  const cols = ['t', 'o', 'h', 'l', 'c', 'v'] as const;
  const n = Array.isArray(bars['t']) ? (bars['t'] as unknown[]).length : -1;
  for (const c of cols) {
    const col = bars[c];
    if (!Array.isArray(col) || col.length !== n) return `bar column ${c} is missing or has the wrong length`;
    if (!col.every((x) => typeof x === 'number' && Number.isFinite(x))) return `bar column ${c} holds a value that is not a finite number`;
  }
  const t = bars['t'] as number[];
  const coverage = b['coverage'] as Interval[];
  let ci = 0;
  for (let i = 0; i < n; i++) {
    if (i > 0 && !(t[i]! > t[i - 1]!)) return 'bar times do not strictly increase';
    while (ci < coverage.length && coverage[ci]![1] <= t[i]!) ci++;
    if (ci >= coverage.length || t[i]! < coverage[ci]![0]) return 'a bar lies outside the recorded coverage';
  }
  return null;
}

export type CacheRead = { entry: CacheEntry; problem: null } | { entry: null; problem: string | null };

/**
 * Read a cache file. `problem` is null when the file does not exist, else why it was refused
 * (the caller logs it and refetches).
 */
export async function readCacheFile(file: string, key: CacheKey): Promise<CacheRead> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { entry: null, problem: null };
    return { entry: null, problem: `cannot be read (${code ?? 'error'})` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { entry: null, problem: 'is not valid JSON (truncated?)' };
  }
  if (!parsed || typeof parsed !== 'object') return { entry: null, problem: 'is not a cache file' };
  const { sha256: sum, body } = parsed as { sha256?: unknown; body?: unknown };
  if (typeof sum !== 'string' || body === undefined) return { entry: null, problem: 'has no checksum' };
  if (sha256(JSON.stringify(body)) !== sum) return { entry: null, problem: 'fails its checksum' };
  const why = checkBody(body, key);
  if (why) return { entry: null, problem: why };
  const b = body as { coverage: Interval[]; bars: BarColumns };
  return { entry: { key, coverage: b.coverage, bars: b.bars }, problem: null };
}

/** Serialise an entry: the exact bytes a reader verifies. */
export function serializeEntry(entry: CacheEntry): string {
  const body = {
    format: CACHE_FORMAT,
    version: CACHE_VERSION,
    key: entry.key,
    coverage: entry.coverage,
    bars: entry.bars,
  };
  const bodyText = JSON.stringify(body);
  return `{"sha256":"${sha256(bodyText)}","body":${bodyText}}\n`;
}

/** Write a cache file atomically (temp file, fsync, rename). */
export async function writeCacheFile(file: string, entry: CacheEntry): Promise<void> {
  await writeFileAtomic(file, serializeEntry(entry));
}

// ------------------------------------------------------------------ interval arithmetic

/** Sorted, merged union of intervals (touching intervals merge). */
export function mergeIntervals(list: Interval[]): Interval[] {
  const sorted = list.filter(([a, b]) => a < b).sort((x, y) => x[0] - y[0]);
  const out: Interval[] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** The parts of [start, end) not covered by `coverage` (sorted, disjoint). */
export function uncovered(coverage: Interval[], start: number, end: number): Interval[] {
  const out: Interval[] = [];
  let cursor = start;
  for (const [a, b] of coverage) {
    if (b <= cursor) continue;
    if (a >= end) break;
    if (a > cursor) out.push([cursor, Math.min(a, end)]);
    cursor = Math.max(cursor, b);
    if (cursor >= end) break;
  }
  if (cursor < end) out.push([cursor, end]);
  return out;
}

/** Indices [lo, hi) of the bars with start <= t < end (t sorted). */
export function sliceIndices(t: readonly number[], start: number, end: number): [number, number] {
  const lower = (x: number): number => {
    let lo = 0;
    let hi = t.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (t[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return [lower(start), lower(end)];
}
