/**
 * `--data alpaca`: bars from Alpaca's market-data API (SPEC section 4), cached on disk by coverage.
 *
 * `get(symbol, timeframe, assetClass, {startMs, endMs})` returns the bars whose start time t satisfies
 * startMs <= t < endMs, as the same `BarSeries` the CSV source builds (symbol spelled as the caller
 * passed it), with data-quality notes: crypto through the CSV source's `gapNotes` (24/7 market),
 * US equities through `equityGapNotes` (only bars due in the regular session of a trading day).
 *
 * Cache (see cache.ts): the ranges fetched so far and their bars. Only the parts of the requested
 * range not yet covered are fetched. A bar may still be forming (or be revised by late trades) until
 * it has ended, so coverage is recorded only up to `now() − one bar`: newer bars are returned but
 * fetched again next time. When a fetch extends a covered range, it re-reads the last cached bar too;
 * if Alpaca's bar differs (a split or dividend re-adjusted history with adjustment=all, or a
 * revision), the cached series is stale and the whole range is fetched afresh.
 */
import { formatTimestamp } from '../../core/gaps.js';
import { parseIsoTimestamp } from '../../core/time.js';
import { inputError, PolicyGateError } from '../../core/errors.js';
import { isTimeframe, timeframeMs, type AssetClass, type BarSeries, type DataQualityNote, type Timeframe } from '../../core/types.js';
import { cacheFilePath, emptyColumns, mergeIntervals, readCacheFile, sliceIndices, uncovered, writeCacheFile, type BarColumns, type CacheEntry, type CacheKey, type Interval } from './cache.js';
import { barGapNotes } from '../../core/gaps.js';
import { AlpacaHttp, dataBaseUrl, type Deadline, type WireBar } from './http.js';
import { KEY_ID_ENV, missingKeysMessage, readAlpacaKeys, SECRET_ENV, type AlpacaKeys } from './keys.js';
import { Redactor } from './redact.js';
import { toAlpacaSymbol } from './symbols.js';

export interface AlpacaSourceOptions {
  /** Stock feed, sent on every stock request: `iex` (free) or `sip` (paid subscription). */
  feed: string;
  /** Stock price adjustment, sent on every stock request: `raw`, `split`, `dividend`, `spin-off` or `all`. */
  adjustment: string;
  /** Cache folder (e.g. `.policy-gate/cache`). */
  cacheDir: string;
  /** Where keys and APCA_API_DATA_URL are read from (injected; normally process.env). */
  env: NodeJS.ProcessEnv;
  /** Epoch ms. */
  now: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Overall deadline for fetching one series, retries and waits included. Default 5 minutes. */
  deadlineMs?: number;
  log?: (line: string) => void;
  /** Per-attempt HTTP timeout (the client's `timeoutMs`), body included; never longer than what is left of the deadline. Default 30 s. */
  timeoutMs?: number;
  /** Bytes of one HTTP response body. Default 64 MiB (http.ts MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number;
  /** Bars of one series, all pages together. Default 5,000,000 (http.ts MAX_BARS_PER_SERIES). */
  maxBarsPerSeries?: number;
  /** Proactive pacing. Default 180 (Alpaca's free plan allows 200). */
  maxRequestsPerMinute?: number;
}

export interface AlpacaBarsResult {
  bars: BarSeries;
  notes: DataQualityNote[];
  /** HTTP requests this call made (retries included); 0 when served from the cache. */
  requests: number;
  fromCache: boolean;
}

export const DEFAULT_DEADLINE_MS = 300_000;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_REQUESTS_PER_MINUTE = 180;

const FEED = /^[a-z][a-z0-9_]{0,19}$/;
const ADJUSTMENT = /^[a-z][a-z,-]{0,39}$/;

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Row {
  t: number;
  o: number;
  h: number;
  l: number;
  c: number;
  v: number;
}

function rowsToColumns(rows: Row[]): BarColumns {
  const cols = emptyColumns();
  for (const r of rows) {
    cols.t.push(r.t);
    cols.o.push(r.o);
    cols.h.push(r.h);
    cols.l.push(r.l);
    cols.c.push(r.c);
    cols.v.push(r.v);
  }
  return cols;
}

function columnsToRows(cols: BarColumns, lo = 0, hi = cols.t.length): Row[] {
  const rows: Row[] = [];
  for (let i = lo; i < hi; i++) rows.push({ t: cols.t[i]!, o: cols.o[i]!, h: cols.h[i]!, l: cols.l[i]!, c: cols.c[i]!, v: cols.v[i]! });
  return rows;
}

function sameRow(a: Row, b: Row): boolean {
  return a.t === b.t && a.o === b.o && a.h === b.h && a.l === b.l && a.c === b.c && a.v === b.v;
}

function describe(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/**
 * Validate wire bars at the boundary: a parseable RFC 3339 time, Number.isFinite on every value,
 * positive prices, low <= open, close <= high, volume >= 0 (the CSV source's rules). An impossible bar
 * is an input error naming the symbol and the timestamp. Returns rows sorted by time with exact
 * duplicates dropped (a bar repeated on two pages); two different bars at one time are an error.
 */
export function parseWireBars(symbol: string, wire: WireBar[]): { rows: Row[]; duplicates: number; unsorted: boolean } {
  const rows: Row[] = [];
  let unsorted = false;
  for (const b of wire) {
    const t = typeof b.t === 'string' ? parseIsoTimestamp(b.t) : NaN;
    if (!Number.isFinite(t)) throw inputError(`Alpaca returned a bar for ${symbol} with an unreadable timestamp ${describe(b.t)}`, symbol);
    const at = formatTimestamp(t);
    const vals = { open: b.o, high: b.h, low: b.l, close: b.c, volume: b.v };
    for (const [name, v] of Object.entries(vals)) {
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw inputError(`Alpaca returned an impossible bar for ${symbol} at ${at}: ${name} ${describe(v)} is not a finite number`, symbol);
      }
    }
    const r: Row = { t, o: b.o as number, h: b.h as number, l: b.l as number, c: b.c as number, v: b.v as number };
    let problem: string | null = null;
    if (r.o <= 0 || r.h <= 0 || r.l <= 0 || r.c <= 0) {
      problem = `non-positive price (open ${r.o}, high ${r.h}, low ${r.l}, close ${r.c})`;
    } else if (r.h < r.l) problem = `high ${r.h} < low ${r.l}`;
    else if (r.h < Math.max(r.o, r.c)) problem = `high ${r.h} < ${r.o >= r.c ? `open ${r.o}` : `close ${r.c}`}`;
    else if (r.l > Math.min(r.o, r.c)) problem = `low ${r.l} > ${r.o <= r.c ? `open ${r.o}` : `close ${r.c}`}`;
    else if (r.v < 0) problem = `negative volume ${r.v}`;
    if (problem) throw inputError(`Alpaca returned an impossible bar for ${symbol} at ${at}: ${problem}`, symbol);
    if (rows.length > 0 && t < rows[rows.length - 1]!.t) unsorted = true;
    rows.push(r);
  }
  if (unsorted) rows.sort((a, b) => a.t - b.t);
  const out: Row[] = [];
  let duplicates = 0;
  for (const r of rows) {
    const last = out[out.length - 1];
    if (last && last.t === r.t) {
      if (!sameRow(last, r)) {
        throw inputError(`Alpaca returned two different bars for ${symbol} at ${formatTimestamp(r.t)} (close ${last.c} vs ${r.c})`, symbol);
      }
      duplicates++;
      continue;
    }
    out.push(r);
  }
  return { rows: out, duplicates, unsorted };
}

/**
 * The range to fetch for an evaluation: the windows (`days` before the last bar at `endMs`, SPEC
 * section 5) plus `warmupBars` of history before them, with margin. For US equities bars exist only
 * on trading days (16 hourly bars a day with extended hours), so the warm-up is converted to calendar
 * days generously (a shortfall would fail the evaluation; extra bars are cheap and cached).
 * Returns a half-open [startMs, endMs) on bar start times that includes the bar starting at `endMs`.
 */
export function historyRange(opts: { endMs: number; days: number; warmupBars: number; timeframe: Timeframe; assetClass: AssetClass }): {
  startMs: number;
  endMs: number;
} {
  const step = timeframeMs(opts.timeframe);
  const DAY = 86_400_000;
  const end = opts.endMs + step;
  const warm = Math.max(0, Math.ceil(opts.warmupBars)) + 1;
  let warmMs: number;
  if (opts.assetClass === 'crypto') {
    warmMs = warm * step;
  } else {
    const barsPerDay = step >= DAY ? 1 : Math.max(1, Math.floor((16 * 3_600_000) / step));
    const tradingDays = Math.ceil(warm / barsPerDay);
    warmMs = (Math.ceil(tradingDays * 1.5) + 5) * DAY;
  }
  return { startMs: opts.endMs - opts.days * DAY - warmMs, endMs: end };
}

export class AlpacaBarsSource {
  private readonly redactor = new Redactor();
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly log: (line: string) => void;
  private http: AlpacaHttp | null = null;
  private keys: AlpacaKeys | null | undefined;
  private keysError: PolicyGateError | null = null;
  private readonly locks = new Map<string, Promise<unknown>>();
  private cacheHits = 0;

  constructor(private readonly opts: AlpacaSourceOptions) {
    this.sleep = opts.sleep ?? realSleep;
    const log = opts.log ?? (() => undefined);
    this.log = (line) => log(this.redactor.redact(line));
    if (!FEED.test(opts.feed)) throw inputError(`data feed must be a word like iex or sip, got ${describe(opts.feed)}`, 'data.feed');
    if (!ADJUSTMENT.test(opts.adjustment)) {
      throw inputError(`data adjustment must be raw, split, dividend, spin-off or all, got ${describe(opts.adjustment)}`, 'data.adjustment');
    }
  }

  stats(): { requests: number; cacheHits: number } {
    return { requests: this.http?.requests ?? 0, cacheHits: this.cacheHits };
  }

  /**
   * Keys read once; their values are registered with the redactor before anything can print them.
   * A keys problem (half a pair, an unreadable file) fails stock requests only: crypto needs no keys.
   */
  private loadKeys(): { keys: AlpacaKeys | null; error: PolicyGateError | null } {
    if (this.keys === undefined) {
      // Register whatever is in the environment first, so even a half-configured pair is never echoed.
      this.redactor.add(this.opts.env[KEY_ID_ENV]?.trim());
      this.redactor.add(this.opts.env[SECRET_ENV]?.trim());
      try {
        this.keys = readAlpacaKeys(this.opts.env);
      } catch (err) {
        if (!(err instanceof PolicyGateError)) throw err;
        this.keys = null;
        this.keysError = err;
      }
      if (this.keys) {
        this.redactor.add(this.keys.keyId);
        this.redactor.add(this.keys.secret);
      }
    }
    return { keys: this.keys, error: this.keysError };
  }

  private client(): AlpacaHttp {
    if (!this.http) {
      this.http = new AlpacaHttp({
        keys: this.loadKeys().keys,
        baseUrl: dataBaseUrl(this.opts.env),
        now: this.opts.now,
        sleep: this.sleep,
        log: this.log,
        redactor: this.redactor,
        timeoutMs: this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        maxRequestsPerMinute: this.opts.maxRequestsPerMinute ?? DEFAULT_MAX_REQUESTS_PER_MINUTE,
        maxResponseBytes: this.opts.maxResponseBytes,
        maxBarsPerSeries: this.opts.maxBarsPerSeries,
      });
    }
    return this.http;
  }

  async get(symbol: string, timeframe: Timeframe, assetClass: AssetClass, range: { startMs: number; endMs: number }): Promise<AlpacaBarsResult> {
    try {
      return await this.getUnsafe(symbol, timeframe, assetClass, range);
    } catch (err) {
      throw this.scrub(err);
    }
  }

  /** Errors leave with redacted messages and without the client's error objects attached. */
  private scrub(err: unknown): PolicyGateError {
    if (err instanceof PolicyGateError) {
      const clean = new PolicyGateError(err.kind, this.redactor.redact(err.message), {
        subject: err.subject === undefined ? undefined : this.redactor.redact(err.subject),
      });
      return clean;
    }
    const message = err instanceof Error ? err.message : String(err);
    return new PolicyGateError('infra', this.redactor.redact(`Alpaca market data: unexpected failure: ${message}`), { subject: 'alpaca' });
  }

  private async getUnsafe(symbol: string, timeframe: Timeframe, assetClass: AssetClass, range: { startMs: number; endMs: number }): Promise<AlpacaBarsResult> {
    if (!isTimeframe(timeframe)) throw inputError(`unknown timeframe ${describe(timeframe)} for ${symbol}`, symbol);
    if (assetClass !== 'crypto' && assetClass !== 'us_equity') throw inputError(`unknown asset class ${describe(assetClass)} for ${symbol}`, symbol);
    const { startMs, endMs } = range;
    if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || !(startMs < endMs)) {
      throw inputError(`bad time range for ${symbol}: start ${startMs} must be before end ${endMs}`, symbol);
    }
    const alpacaSymbol = toAlpacaSymbol(symbol, assetClass);
    const { keys, error } = this.loadKeys();
    if (assetClass === 'us_equity') {
      if (error) throw error;
      if (!keys) throw inputError(missingKeysMessage(`${symbol} (us_equity)`), KEY_ID_ENV);
    }
    const http = this.client();
    const key: CacheKey =
      assetClass === 'us_equity'
        ? { provider: 'alpaca', host: dataBaseUrl(this.opts.env), assetClass, symbol: alpacaSymbol, timeframe, feed: this.opts.feed, adjustment: this.opts.adjustment }
        : { provider: 'alpaca', host: dataBaseUrl(this.opts.env), assetClass, symbol: alpacaSymbol, timeframe, loc: 'us' };
    const file = cacheFilePath(this.opts.cacheDir, key);

    // one fetch per cache file at a time within this process
    const prior = this.locks.get(file) ?? Promise.resolve();
    const run = prior.catch(() => undefined).then(() => this.fetchWithCache(symbol, alpacaSymbol, timeframe, assetClass, key, file, startMs, endMs, http));
    this.locks.set(file, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(file) === run) this.locks.delete(file);
    }
  }

  private async fetchWithCache(
    symbol: string,
    alpacaSymbol: string,
    timeframe: Timeframe,
    assetClass: AssetClass,
    key: CacheKey,
    file: string,
    startMs: number,
    endMs: number,
    http: AlpacaHttp,
  ): Promise<AlpacaBarsResult> {
    const step = timeframeMs(timeframe);
    const label = `${alpacaSymbol} ${timeframe}${assetClass === 'us_equity' ? ` (feed ${this.opts.feed}, adjustment ${this.opts.adjustment})` : ''}`;
    const span = `${formatTimestamp(startMs)} … ${formatTimestamp(endMs)}`;
    const read = await readCacheFile(file, key);
    if (read.problem) this.log(`alpaca: ignoring cache file ${file}: it ${read.problem}; fetching afresh`);
    let entry: CacheEntry = read.entry ?? { key, coverage: [], bars: emptyColumns() };

    const missing = uncovered(entry.coverage, startMs, endMs);
    const notes: DataQualityNote[] = [];
    const before = http.requests;
    let rows: Row[];
    if (missing.length === 0) {
      this.cacheHits++;
      const [lo, hi] = sliceIndices(entry.bars.t, startMs, endMs);
      rows = columnsToRows(entry.bars, lo, hi);
      this.log(`alpaca: ${label} ${span}: ${rows.length} bars from the cache`);
    } else {
      const deadline = http.deadline(this.opts.deadlineMs ?? DEFAULT_DEADLINE_MS);
      const finalEnd = this.opts.now() - step; // bars starting before this have ended a bar ago: final
      let pieces: { from: number; to: number; rows: Row[] }[] = [];
      let stale = false;
      for (const [a, b] of missing) {
        // re-read the cached bars on either side of the hole: they must not have changed
        const left = this.anchorBefore(entry, a);
        const right = this.anchorAfter(entry, b);
        const got = await this.fetchRange(http, deadline, assetClass, alpacaSymbol, timeframe, left ? left.t : a, right ? right.t + 1 : b, notes);
        if (left) {
          const first = got[0];
          if (!first || !sameRow(first, left)) {
            stale = true;
            break;
          }
          got.shift();
        }
        if (right) {
          const last = got[got.length - 1];
          if (!last || !sameRow(last, right)) {
            stale = true;
            break;
          }
          got.pop();
        }
        pieces.push({ from: a, to: b, rows: got });
      }
      if (stale) {
        this.log(`alpaca: cached ${label} bars no longer match Alpaca's (history re-adjusted for a split or dividend, or revised); discarding the cache file and fetching ${span} afresh`);
        entry = { key, coverage: [], bars: emptyColumns() };
        pieces = [{ from: startMs, to: endMs, rows: await this.fetchRange(http, deadline, assetClass, alpacaSymbol, timeframe, startMs, endMs, notes) }];
      }

      // merge: final parts go into the cache; everything asked for goes back to the caller
      const cached = columnsToRows(entry.bars);
      const coverage: Interval[] = [...entry.coverage];
      const fresh: Row[] = [];
      let added = false;
      for (const p of pieces) {
        const coverEnd = Math.min(p.to, finalEnd);
        if (p.from < coverEnd) {
          coverage.push([p.from, coverEnd]);
          added = true;
        }
        for (const r of p.rows) {
          if (r.t < coverEnd) cached.push(r);
          fresh.push(r);
        }
      }
      const requests = http.requests - before;
      if (added) {
        cached.sort((x, y) => x.t - y.t);
        const next: CacheEntry = { key, coverage: mergeIntervals(coverage), bars: rowsToColumns(cached) };
        try {
          await writeCacheFile(file, next);
        } catch (err) {
          this.log(`alpaca: could not write cache file ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); going on without it`);
        }
        entry = next;
      }
      const [lo, hi] = sliceIndices(entry.bars.t, startMs, endMs);
      const merged = columnsToRows(entry.bars, lo, hi);
      const seen = new Set(merged.map((r) => r.t));
      for (const r of fresh) if (r.t >= startMs && r.t < endMs && !seen.has(r.t)) merged.push(r);
      merged.sort((x, y) => x.t - y.t);
      rows = merged;
      this.log(`alpaca: ${label} ${span}: ${rows.length} bars (${requests} request${requests === 1 ? '' : 's'}; ${missing.length} missing range${missing.length === 1 ? '' : 's'} fetched)`);
    }
    const requests = http.requests - before;

    if (rows.length === 0) {
      throw inputError(
        `Alpaca has no ${timeframe} bars for ${alpacaSymbol} from ${formatTimestamp(startMs)} to ${formatTimestamp(endMs)}${assetClass === 'us_equity' ? ` on feed ${this.opts.feed}` : ''}: check the symbol, the asset class and the range`,
        symbol,
      );
    }
    const n = rows.length;
    const bars: BarSeries = {
      symbol,
      timeframe,
      time: new Float64Array(n),
      open: new Float64Array(n),
      high: new Float64Array(n),
      low: new Float64Array(n),
      close: new Float64Array(n),
      volume: new Float64Array(n),
    };
    rows.forEach((r, i) => {
      bars.time[i] = r.t;
      bars.open[i] = r.o;
      bars.high[i] = r.h;
      bars.low[i] = r.l;
      bars.close[i] = r.c;
      bars.volume[i] = r.v;
    });
    notes.push(...barGapNotes(bars, assetClass));
    return { bars, notes, requests, fromCache: requests === 0 };
  }

  /** The last cached bar before `a`, when `a` ends a covered range that holds it (the overlap check). */
  private anchorBefore(entry: CacheEntry, a: number): Row | null {
    const iv = entry.coverage.find(([, end]) => end === a);
    if (!iv) return null;
    const [lo] = sliceIndices(entry.bars.t, a, a);
    const i = lo - 1;
    if (i < 0 || entry.bars.t[i]! < iv[0]) return null;
    return columnsToRows(entry.bars, i, i + 1)[0]!;
  }

  /** The first cached bar at or after `b`, when `b` starts a covered range that holds it. */
  private anchorAfter(entry: CacheEntry, b: number): Row | null {
    const iv = entry.coverage.find(([start]) => start === b);
    if (!iv) return null;
    const [i] = sliceIndices(entry.bars.t, b, b);
    if (i >= entry.bars.t.length || entry.bars.t[i]! >= iv[1]) return null;
    return columnsToRows(entry.bars, i, i + 1)[0]!;
  }

  /** Bars with from <= t < to, fetched (all pages) and validated. */
  private async fetchRange(
    http: AlpacaHttp,
    deadline: Deadline,
    assetClass: AssetClass,
    alpacaSymbol: string,
    timeframe: Timeframe,
    from: number,
    to: number,
    notes: DataQualityNote[],
  ): Promise<Row[]> {
    const wire = await http.fetchAll({ assetClass, symbol: alpacaSymbol, timeframe, startMs: from, endMs: to, feed: this.opts.feed, adjustment: this.opts.adjustment }, deadline);
    const { rows, duplicates, unsorted } = parseWireBars(alpacaSymbol, wire);
    if (unsorted) notes.push({ kind: 'unsorted', message: `Alpaca ${alpacaSymbol} ${timeframe}: bars arrived out of time order; sorted` });
    if (duplicates > 0) {
      notes.push({ kind: 'duplicate', message: `Alpaca ${alpacaSymbol} ${timeframe}: ${duplicates} repeated bar${duplicates === 1 ? '' : 's'} (same time, same values) dropped`, count: duplicates });
    }
    return rows.filter((r) => r.t >= from && r.t < to);
  }
}
