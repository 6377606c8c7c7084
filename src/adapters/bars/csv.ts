/**
 * Offline bars from CSV files (SPEC section 4).
 *
 * File: `<SYMBOL>_<TIMEFRAME>.csv` in a folder (a crypto pair `BTC/USD` is looked up as `BTCUSD`).
 * Columns are found by header name, case-insensitively, in any order; other columns are ignored:
 *   time:   timestamp | time | datetime | date | unix | t   (first match in this order wins)
 *   prices: open|o, high|h, low|l, close|c;   volume|v
 * Timestamps: ISO 8601 (`2024-01-01T00:00:00Z`, `2024-01-01 00:00:00+00:00`, `2024-01-01T00:00Z`,
 * `2024-01-01`; no offset means UTC), or epoch numbers whose unit is decided by magnitude from the
 * first row: < 1e11 seconds, < 1e14 milliseconds, < 1e17 microseconds, else nanoseconds. A later row
 * in another unit is an error.
 * CSV: RFC 4180 quoting ("a ""b"""), CRLF or LF, an optional UTF-8 BOM, blank lines skipped.
 *
 * Data quality: rows out of order are sorted (note `unsorted`); rows repeating a timestamp with the
 * same values are dropped after the first (note `duplicate`, with the count), and with different
 * values are an error; gaps are noted by src/core/gaps.ts for the series' asset class, exactly as for
 * Alpaca's bars: for crypto (the default) every hole of more than one timeframe step is a `gap` note
 * with the start of the first missing bar and the number of missing bars (round(Δt / step) − 1, so a
 * 25-hour step between daily bars across a DST change is not a gap); for us_equity only bars due in
 * NYSE's regular session (nights, weekends and holidays are not gaps). Impossible bars are errors
 * naming the file, line and problem.
 */

import { readdir } from 'node:fs/promises';
import path from 'node:path';

import { inputError, PolicyGateError } from '../../core/errors.js';
import { barGapNotes, formatTimestamp } from '../../core/gaps.js';
import { lfsPointerError, parseLfsPointer } from '../../core/lfs.js';
import { parseIsoTimestamp } from '../../core/time.js';
import { isTimeframe, timeframeMs, type AssetClass, type BarSeries, type DataQualityNote, type Timeframe } from '../../core/types.js';
import { readUntrustedText } from '../../util/safe-read.js';
import { excerpt } from '../../util/visible.js';

export interface ReadBarsOptions {
  symbol: string;
  timeframe: Timeframe;
  /** The file's path or name, for messages. */
  file: string;
  /** Which market's gap rules apply (src/core/gaps.ts); default crypto: every missing bar is a gap. */
  assetClass?: AssetClass;
}

export interface BarsReadResult {
  bars: BarSeries;
  notes: DataQualityNote[];
}

// ------------------------------------------------------------------ caps

/**
 * Bytes of one bars file, checked from its size before it is read. Five years of 1-minute bars
 * around the clock take about 180 MB; a file above this is not a bars file policy-gate should hold
 * in memory (a string cannot exceed about 512 MiB in Node anyway).
 */
export const MAX_BARS_FILE_BYTES = 256 * 1024 * 1024;

/**
 * Characters of one CSV field. A bars field is a timestamp or a number (under 40 characters); other
 * columns are ignored but still read, so this leaves room for a note column while refusing a field
 * that would be quoted into errors and reports (one 100 MiB field once made 105 MB of stderr).
 * The field is never quoted in the refusal.
 */
export const MAX_CSV_FIELD_CHARS = 4096;

function fieldTooLong(file: string, line: number, chars: number | null): never {
  throw inputError(
    `${file} line ${line}: a field ${chars === null ? 'runs' : `of ${chars} characters runs`} past the limit of ${MAX_CSV_FIELD_CHARS} characters per field ` +
      '(a bars field is a timestamp or a number); the file is broken — a quote never closed? — or not a bars file. Fix or regenerate it.',
    file,
  );
}

// ------------------------------------------------------------------ CSV records

interface CsvRecords {
  rows: string[][];
  /** 1-based line number where each row starts (the header is line 1 unless blank lines precede it). */
  lines: number[];
}

function parseCsv(text: string, file: string): CsvRecords {
  const rows: string[][] = [];
  const lines: number[] = [];
  const n = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    let quotedAny = false;
    for (;;) {
      let value: string;
      if (text.charCodeAt(i) === 34 /* " */) {
        quotedAny = true;
        i++;
        value = '';
        for (;;) {
          const q = text.indexOf('"', i);
          if (value.length + (q < 0 ? n - i : q - i) > MAX_CSV_FIELD_CHARS) fieldTooLong(file, startLine, null);
          if (q < 0) throw inputError(`${file} line ${startLine}: a quoted field is never closed`, file);
          const chunk = text.slice(i, q);
          for (let k = 0; k < chunk.length; k++) if (chunk.charCodeAt(k) === 10) line++;
          value += chunk;
          if (text.charCodeAt(q + 1) === 34) {
            value += '"';
            i = q + 2;
          } else {
            i = q + 1;
            break;
          }
        }
        const c = i < n ? text.charCodeAt(i) : -1;
        if (c !== 44 && c !== 10 && c !== 13 && c !== -1) {
          // tolerate spaces after a closing quote, nothing else
          while (i < n && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
          const d = i < n ? text.charCodeAt(i) : -1;
          if (d !== 44 && d !== 10 && d !== 13 && d !== -1) {
            throw inputError(`${file} line ${line}: unexpected text after a closing quote`, file);
          }
        }
      } else {
        const start = i;
        while (i < n) {
          const c = text.charCodeAt(i);
          if (c === 44 || c === 10 || c === 13) break;
          i++;
        }
        if (i - start > MAX_CSV_FIELD_CHARS) fieldTooLong(file, startLine, i - start);
        value = text.slice(start, i);
      }
      fields.push(value);
      const c = i < n ? text.charCodeAt(i) : -1;
      if (c === 44) {
        i++;
        continue;
      }
      if (c === 13) {
        i++;
        if (text.charCodeAt(i) === 10) i++;
        line++;
      } else if (c === 10) {
        i++;
        line++;
      }
      break;
    }
    if (fields.length === 1 && !quotedAny && fields[0]!.trim() === '') continue; // blank line
    rows.push(fields);
    lines.push(startLine);
  }
  return { rows, lines };
}

// ------------------------------------------------------------------ timestamps

type EpochUnit = 's' | 'ms' | 'us' | 'ns';
const EPOCH_TO_MS: Record<EpochUnit, number> = { s: 1000, ms: 1, us: 1e-3, ns: 1e-6 };
const EPOCH_NAMES: Record<EpochUnit, string> = { s: 'seconds', ms: 'milliseconds', us: 'microseconds', ns: 'nanoseconds' };

/** Epoch numbers before 1990 are refused: a compact date like 20240101 would otherwise read as August 1970. */
const EPOCH_FLOOR_MS = Date.UTC(1990, 0, 1);

function epochUnit(v: number): EpochUnit {
  const a = Math.abs(v);
  if (a < 1e11) return 's';
  if (a < 1e14) return 'ms';
  if (a < 1e17) return 'us';
  return 'ns';
}

/** True for an optionally signed decimal number without exponent: the shape of an epoch timestamp. */
function looksNumeric(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  let i = s.charCodeAt(0) === 45 ? 1 : 0;
  let seen = false;
  let dot = false;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) seen = true;
    else if (c === 46 && !dot) dot = true;
    else return false;
  }
  return seen;
}

export { formatTimestamp, parseIsoTimestamp };

// ------------------------------------------------------------------ columns

const TIME_COLUMNS = ['timestamp', 'time', 'datetime', 'date', 'unix', 't'] as const;
const VALUE_COLUMNS = {
  open: ['open', 'o'],
  high: ['high', 'h'],
  low: ['low', 'l'],
  close: ['close', 'c'],
  volume: ['volume', 'v'],
} as const;
type ValueKey = keyof typeof VALUE_COLUMNS;
const VALUE_KEYS = Object.keys(VALUE_COLUMNS) as ValueKey[];

interface ColumnMap {
  time: number;
  timeName: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

function mapColumns(header: string[], file: string): ColumnMap {
  const names = header.map((h) => h.trim().toLowerCase());
  const index = new Map<string, number>();
  names.forEach((name, i) => {
    if (name === '') return;
    if (index.has(name)) throw inputError(`${file}: the header names column '${excerpt(header[i]!.trim())}' twice`, file);
    index.set(name, i);
  });
  // The header is the file's first line, whatever the file is: quoted short and escaped, never whole.
  const found = `found columns: ${excerpt(header.map((h) => h.trim()).join(', '))}`;
  const timeName = TIME_COLUMNS.find((c) => index.has(c));
  if (timeName === undefined) {
    throw inputError(`${file}: no timestamp column (name one of ${TIME_COLUMNS.slice(0, 5).join(', ')}); ${found}`, file);
  }
  const map: Partial<ColumnMap> = { time: index.get(timeName)!, timeName };
  for (const key of VALUE_KEYS) {
    const present = VALUE_COLUMNS[key].filter((alias) => index.has(alias));
    if (present.length === 0) {
      throw inputError(`${file}: no ${key} column (name it ${VALUE_COLUMNS[key].join(' or ')}); ${found}`, file);
    }
    if (present.length > 1) {
      throw inputError(`${file}: both '${present[0]}' and '${present[1]}' columns are present; keep one ${key} column`, file);
    }
    map[key] = index.get(present[0]!)!;
  }
  return map as ColumnMap;
}

// ------------------------------------------------------------------ reading

const MAX_LISTED_PROBLEMS = 5;

/** Parse bars from CSV text. Throws an input error (exit 2) naming the file and line for impossible data. */
export function readBarsCsv(text: string, opts: ReadBarsOptions): BarsReadResult {
  const { file, symbol, timeframe } = opts;
  if (!isTimeframe(timeframe)) throw inputError(`unknown timeframe '${String(timeframe)}' for ${file}`, file);
  const pointer = parseLfsPointer(text);
  if (pointer) throw lfsPointerError(file, 'bars file', pointer);
  const { rows, lines } = parseCsv(text, file);
  if (rows.length === 0) throw inputError(`${file} is empty: expected a header line (timestamp,open,high,low,close,volume) and bars`, file);
  const cols = mapColumns(rows[0]!, file);
  const count = rows.length - 1;
  if (count === 0) throw inputError(`${file} has a header but no bars`, file);

  const need = Math.max(cols.time, cols.open, cols.high, cols.low, cols.close, cols.volume) + 1;
  const time = new Float64Array(count);
  const open = new Float64Array(count);
  const high = new Float64Array(count);
  const low = new Float64Array(count);
  const close = new Float64Array(count);
  const volume = new Float64Array(count);
  const rowLine = new Int32Array(count);
  const problems: string[] = [];
  let problemCount = 0;
  let badRows = 0;
  let lastBadLine = -1;
  const problem = (line: number, what: string): void => {
    problemCount++;
    if (line !== lastBadLine) badRows++;
    lastBadLine = line;
    if (problems.length < MAX_LISTED_PROBLEMS) problems.push(`line ${line}: ${what}`);
  };
  const num = (row: string[], col: number, name: string, line: number): number => {
    const raw = row[col]!;
    const s = raw.trim();
    const v = s === '' ? NaN : Number(s);
    if (!Number.isFinite(v)) {
      problem(line, s === '' ? `empty ${name}` : `${name} '${excerpt(raw)}' is not a number`);
      return NaN;
    }
    return v;
  };

  let unit: EpochUnit | undefined;
  let unsortedRows = 0;
  let firstUnsortedLine = 0;
  for (let r = 0; r < count; r++) {
    const row = rows[r + 1]!;
    const line = lines[r + 1]!;
    rowLine[r] = line;
    if (row.length < need) {
      problem(line, `expected at least ${need} fields, found ${row.length}`);
      time[r] = NaN;
      continue;
    }
    // timestamp
    const ts = row[cols.time]!.trim();
    let t: number;
    if (looksNumeric(ts)) {
      const v = Number(ts);
      const u = epochUnit(v);
      unit ??= u;
      if (u !== unit) {
        problem(line, `epoch timestamp ${excerpt(ts)} looks like ${EPOCH_NAMES[u]} but the first row's is in ${EPOCH_NAMES[unit]}`);
        t = NaN;
      } else {
        t = Math.round(v * EPOCH_TO_MS[unit]);
        if (t < EPOCH_FLOOR_MS) {
          problem(line, `epoch timestamp ${excerpt(ts)} is before 1990 (a YYYYMMDD date? write it as ISO 8601, e.g. 2024-01-01)`);
          t = NaN;
        }
      }
    } else {
      t = parseIsoTimestamp(ts);
      if (Number.isNaN(t)) {
        problem(line, `${cols.timeName} '${excerpt(ts)}' is not an ISO 8601 timestamp (2024-01-01T00:00:00Z) or epoch seconds/milliseconds`);
      }
    }
    time[r] = t;
    const o = num(row, cols.open, 'open', line);
    const h = num(row, cols.high, 'high', line);
    const l = num(row, cols.low, 'low', line);
    const c = num(row, cols.close, 'close', line);
    const v = num(row, cols.volume, 'volume', line);
    open[r] = o;
    high[r] = h;
    low[r] = l;
    close[r] = c;
    volume[r] = v;
    if (Number.isNaN(o + h + l + c + v)) continue;
    if (o <= 0 || h <= 0 || l <= 0 || c <= 0) {
      const which = o <= 0 ? `open ${o}` : h <= 0 ? `high ${h}` : l <= 0 ? `low ${l}` : `close ${c}`;
      problem(line, `non-positive price: ${which}`);
    } else if (h < l) {
      problem(line, `high ${h} < low ${l}`);
    } else if (h < Math.max(o, c)) {
      problem(line, `high ${h} < ${o >= c ? `open ${o}` : `close ${c}`}`);
    } else if (l > Math.min(o, c)) {
      problem(line, `low ${l} > ${o <= c ? `open ${o}` : `close ${c}`}`);
    }
    if (v < 0) problem(line, `negative volume ${v}`);
    if (r > 0 && t < time[r - 1]!) {
      // (a NaN on either side compares false; such rows already failed)
      if (unsortedRows === 0) firstUnsortedLine = line;
      unsortedRows++;
    }
  }
  if (problemCount > 0) {
    const more = problemCount > problems.length ? `; and ${problemCount - problems.length} more` : '';
    throw inputError(`${file}: ${badRows} impossible or unreadable bar${badRows === 1 ? '' : 's'}: ${problems.join('; ')}${more}. Fix or remove these rows.`, file);
  }

  const notes: DataQualityNote[] = [];
  // sort (stable: rows with equal timestamps keep file order)
  let order: Int32Array | undefined;
  if (unsortedRows > 0) {
    const idx = Array.from({ length: count }, (_, k) => k);
    idx.sort((a, b) => time[a]! - time[b]!);
    order = Int32Array.from(idx);
    notes.push({
      kind: 'unsorted',
      message: `${file}: rows are not in time order (first at line ${firstUnsortedLine}); sorted by timestamp`,
      count: unsortedRows,
    });
  }
  // duplicates
  const columns: Record<ValueKey, Float64Array> = { open, high, low, close, volume };
  const keep: number[] = [];
  let dupCount = 0;
  let firstDupAt = NaN;
  for (let k = 0; k < count; k++) {
    const r = order ? order[k]! : k;
    if (keep.length > 0) {
      const p = keep[keep.length - 1]!;
      if (time[r] === time[p]) {
        const diff = VALUE_KEYS.find((key) => columns[key][r] !== columns[key][p]);
        if (diff !== undefined) {
          const arr = columns[diff];
          throw inputError(`${file}: lines ${rowLine[p]} and ${rowLine[r]} are both bars at ${formatTimestamp(time[r]!)} but differ (${diff} ${arr[p]} vs ${arr[r]}); keep one of them`, file);
        }
        if (dupCount === 0) firstDupAt = time[r]!;
        dupCount++;
        continue;
      }
    }
    keep.push(r);
  }
  if (dupCount > 0) {
    notes.push({
      kind: 'duplicate',
      message: `${file}: ${dupCount} duplicate row${dupCount === 1 ? '' : 's'} (same timestamp, same values) dropped, first at ${formatTimestamp(firstDupAt)}`,
      at: formatTimestamp(firstDupAt),
      count: dupCount,
    });
  }

  const m = keep.length;
  const identity = order === undefined && dupCount === 0;
  const pick = (src: Float64Array): Float64Array => {
    if (identity) return src;
    const out = new Float64Array(m);
    for (let k = 0; k < m; k++) out[k] = src[keep[k]!]!;
    return out;
  };
  const bars: BarSeries = {
    symbol,
    timeframe,
    time: pick(time),
    open: pick(open),
    high: pick(high),
    low: pick(low),
    close: pick(close),
    volume: pick(volume),
  };
  notes.push(...barGapNotes(bars, opts.assetClass ?? 'crypto'));
  return { bars, notes };
}

/** Crypto (24/7) gap notes, as every source gives them. */
export { gapNotes } from '../../core/gaps.js';

// ------------------------------------------------------------------ files

/** The file name stem for a symbol: `BTC/USD` → `BTCUSD`. Refuses anything that could escape the folder. */
export function barsFileStem(symbol: string): string {
  const s = symbol.trim();
  const slash = s.indexOf('/');
  const stem = slash > 0 && slash === s.lastIndexOf('/') && slash < s.length - 1 ? s.slice(0, slash) + s.slice(slash + 1) : s;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(stem) || stem.includes('..')) {
    throw inputError(`symbol '${symbol}' cannot name a bars file: use letters, digits, '.', '-' or '_' (a crypto pair like BTC/USD is allowed)`, symbol);
  }
  return stem;
}

export function barsFileName(symbol: string, timeframe: Timeframe): string {
  return `${barsFileStem(symbol)}_${timeframe}.csv`;
}

/**
 * Read `<dir>/<SYMBOL>_<TIMEFRAME>.csv`. A missing file is an input error naming the path it expected
 * (and the other timeframes present for the symbol). The file must be a regular file in `dir` itself:
 * a symbolic link (`BTCUSD_4Hour.csv -> /proc/self/environ`), a FIFO, a device or a folder is refused
 * naming the path (src/util/safe-read.ts).
 */
export async function loadBarsFromDir(dir: string, symbol: string, timeframe: Timeframe, assetClass: AssetClass = 'crypto'): Promise<BarsReadResult & { file: string }> {
  if (!isTimeframe(timeframe)) throw inputError(`unknown timeframe '${String(timeframe)}' for ${symbol}`, symbol);
  const stem = barsFileStem(symbol);
  const name = `${stem}_${timeframe}.csv`;
  const candidates = [path.join(dir, name)];
  if (stem.toUpperCase() !== stem) candidates.push(path.join(dir, `${stem.toUpperCase()}_${timeframe}.csv`));
  for (const file of candidates) {
    let text: string;
    try {
      text = await readUntrustedText(file, {
        root: dir,
        what: 'bars file',
        maxBytes: MAX_BARS_FILE_BYTES,
        tooLarge: (size) =>
          inputError(
            `bars file ${file} is ${+(size / 1048576).toFixed(1)} MiB, more than the limit of ${MAX_BARS_FILE_BYTES / 1048576} MiB per bars file; ` +
              'it was not read. Keep only the range the evaluation needs (or use a longer timeframe).',
            file,
          ),
      });
    } catch (err) {
      if (err instanceof PolicyGateError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      if (err instanceof PolicyGateError) throw err;
      throw inputError(`cannot read bars file ${file}: ${(err as Error).message}`, file, err);
    }
    return { ...readBarsCsv(text, { symbol, timeframe, file, assetClass }), file };
  }
  let hint = '';
  try {
    const others = (await readdir(dir)).filter((f) => f.toUpperCase().startsWith(`${stem.toUpperCase()}_`) && f.toLowerCase().endsWith('.csv'));
    if (others.length > 0) hint = ` (the folder has ${others.sort().join(', ')})`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw inputError(`no bars for ${stem} ${timeframe}: the bars folder ${dir} does not exist`, dir, err);
    }
  }
  throw inputError(`no bars for ${stem} ${timeframe}: expected ${candidates[0]}${hint}`, candidates[0]);
}

// ------------------------------------------------------------------ writing and resampling

/** CSV text `timestamp,open,high,low,close,volume` with ISO 8601 UTC timestamps; readBarsCsv reads it back exactly. */
export function writeBarsCsv(bars: BarSeries): string {
  const parts: string[] = ['timestamp,open,high,low,close,volume\n'];
  for (let k = 0; k < bars.time.length; k++) {
    parts.push(`${formatTimestamp(bars.time[k]!)},${bars.open[k]},${bars.high[k]},${bars.low[k]},${bars.close[k]},${bars.volume[k]}\n`);
  }
  return parts.join('');
}

/**
 * Aggregate bars to a coarser timeframe: buckets are aligned to UTC multiples of the target step
 * from the epoch (4Hour: 00:00, 04:00, ...; 1Day: UTC midnight); open = first, high = max, low = min,
 * close = last, volume = sum. The first and last buckets are dropped when they hold fewer than
 * target/source bars (the data starts or ends inside them); a bucket in the middle with missing source
 * bars is kept with what it has, as an exchange's own aggregate would be.
 * 1Day from US-equity hours is UTC days, not sessions: use the provider's daily bars for equities.
 */
export function resampleBars(bars: BarSeries, timeframe: Timeframe): BarSeries {
  const src = timeframeMs(bars.timeframe);
  const dst = timeframeMs(timeframe);
  if (dst <= src || dst % src !== 0) {
    throw inputError(`cannot resample ${bars.symbol} ${bars.timeframe} bars to ${timeframe}: the target must be a multiple of the source timeframe`, bars.symbol);
  }
  const per = dst / src;
  const n = bars.time.length;
  const bucketStart: number[] = [];
  const first: number[] = [];
  const last: number[] = [];
  for (let k = 0; k < n; k++) {
    const b = Math.floor(bars.time[k]! / dst) * dst;
    if (bucketStart.length > 0 && bucketStart[bucketStart.length - 1] === b) {
      last[last.length - 1] = k;
    } else {
      bucketStart.push(b);
      first.push(k);
      last.push(k);
    }
  }
  let lo = 0;
  let hi = bucketStart.length;
  if (hi > 0 && last[0]! - first[0]! + 1 < per) lo = 1;
  if (hi > lo && last[hi - 1]! - first[hi - 1]! + 1 < per) hi--;
  const m = Math.max(0, hi - lo);
  const out = {
    time: new Float64Array(m),
    open: new Float64Array(m),
    high: new Float64Array(m),
    low: new Float64Array(m),
    close: new Float64Array(m),
    volume: new Float64Array(m),
  };
  for (let j = 0; j < m; j++) {
    const b = lo + j;
    const a = first[b]!;
    const z = last[b]!;
    let h = -Infinity;
    let l = Infinity;
    let v = 0;
    for (let k = a; k <= z; k++) {
      if (bars.high[k]! > h) h = bars.high[k]!;
      if (bars.low[k]! < l) l = bars.low[k]!;
      v += bars.volume[k]!;
    }
    out.time[j] = bucketStart[b]!;
    out.open[j] = bars.open[a]!;
    out.high[j] = h;
    out.low[j] = l;
    out.close[j] = bars.close[z]!;
    out.volume[j] = v;
  }
  return { symbol: bars.symbol, timeframe, ...out };
}
