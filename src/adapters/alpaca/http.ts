/**
 * Bars over HTTP through @alpacahq/alpaca-trade-api v4, with policy-gate's own retry policy.
 *
 * Why the generated `marketData.StockApi` / `CryptoApi` with a `marketData.Configuration` and not
 * the `Alpaca` facade: the facade resolves credentials in its constructor, throws without them
 * (crypto needs none) and falls back to `process.env` (we take an injected env). The Configuration
 * reads keys only from what we pass.
 *
 * Why our own retries: the client's retry (3 attempts, 250 ms–5 s) sleeps on real timers and reads
 * Retry-After against `Date.now()`, and its rate limiter is a real-timer token bucket, so neither can
 * be driven by an injected clock; its pagination helpers stop silently on a repeated page token.
 * They are left off (a bare Configuration has neither) and this module does it:
 *   - every page is one GET; an attempt is bounded by the client's per-attempt timeout (`timeoutMs`,
 *     default 30 s, which also covers reading the body), shortened to what is left of the overall
 *     deadline, so no attempt outlives it;
 *   - the overall deadline is checked before every page, every attempt and every wait (pacing or
 *     retry): a series that is still paging when it passes fails as an infra error (exit 3);
 *   - a response body is read through a byte counter: a declared Content-Length above
 *     `maxResponseBytes` (default 64 MiB, about 50 times a full 10,000-bar page) is refused before
 *     its body is read, and a body that grows past it is aborted there — never buffered whole;
 *   - a series holds at most `maxBarsPerSeries` bars (default 5,000,000: nine years of 1-minute bars
 *     around the clock); the page that brings it past is refused, naming the count and the cap;
 *   - retried: HTTP 408, 425, 429 and 5xx, connection failures (reset, refused, timeout), and a
 *     truncated or malformed body (the whole page is refetched, nothing partial is kept);
 *   - 429 waits for Retry-After (seconds or an HTTP date), else X-Ratelimit-Reset (epoch seconds),
 *     else the backoff; the others back off 1 s, 2 s, 4 s … capped at 30 s;
 *   - at most 8 attempts per page, and never past the overall deadline (default 5 min per series):
 *     a wait that would end after it fails at once. Giving up is an infra error (exit 3);
 *   - not retried: 401 (bad key), 403 (no permission, or no SIP subscription for feed sip), 400,
 *     404, 422: input errors (exit 2);
 *   - proactive pacing: at most `maxRequestsPerMinute` (default 180) requests per sliding minute;
 *   - pagination follows next_page_token to the end; a token seen twice, or more than 10,000 pages,
 *     is an infra error (never a silently shortened series).
 * Every message that leaves this module goes through the Redactor first.
 */
import { ApiError, FetchError, marketData } from '@alpacahq/alpaca-trade-api/rest';

import { infraError, inputError, PolicyGateError } from '../../core/errors.js';
import type { AssetClass, Timeframe } from '../../core/types.js';
import type { AlpacaKeys } from './keys.js';
import type { Redactor } from './redact.js';

export const DEFAULT_DATA_HOST = marketData.MARKET_DATA_HOST;
export const DATA_URL_ENV = 'APCA_API_DATA_URL';

export const MAX_ATTEMPTS = 8;
export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_CAP_MS = 30_000;
export const PAGE_LIMIT = 10_000;
export const MAX_PAGES = 10_000;
/** Bytes of one HTTP response body; a full 10,000-bar page is about 1.3 MB. */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** Bars of one series (all its pages): nine and a half years of 1-minute bars, 24/7. */
export const MAX_BARS_PER_SERIES = 5_000_000;

/** Raw wire bar as Alpaca sends it. */
export interface WireBar {
  t?: unknown;
  o?: unknown;
  h?: unknown;
  l?: unknown;
  c?: unknown;
  v?: unknown;
  n?: unknown;
  vw?: unknown;
}

export interface BarsRequest {
  assetClass: AssetClass;
  /** Alpaca spelling. */
  symbol: string;
  timeframe: Timeframe;
  startMs: number;
  endMs: number;
  feed: string;
  adjustment: string;
}

export interface HttpOptions {
  keys: AlpacaKeys | null;
  /** Base URL requests go to instead of https://data.alpaca.markets. */
  baseUrl: string;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  log: (line: string) => void;
  redactor: Redactor;
  timeoutMs: number;
  maxRequestsPerMinute: number;
  /** Default MAX_RESPONSE_BYTES. */
  maxResponseBytes?: number;
  /** Default MAX_BARS_PER_SERIES. */
  maxBarsPerSeries?: number;
  /** The host the client builds URLs for (default the market-data host); `baseUrl` replaces it. */
  clientHost?: string;
  /** Refuse every request that is not a GET, before it is sent (the trading API is only read). */
  readOnly?: boolean;
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/**
 * The data base URL from APCA_API_DATA_URL (default https://data.alpaca.markets). Plain http is
 * allowed only to this machine: keys must not travel unencrypted.
 */
export function dataBaseUrl(env: NodeJS.ProcessEnv): string {
  const raw = (env[DATA_URL_ENV] ?? '').trim();
  if (raw === '') return DEFAULT_DATA_HOST;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw inputError(`${DATA_URL_ENV} is not a URL: ${JSON.stringify(hideUserinfo(raw).slice(0, 200))}`, DATA_URL_ENV);
  }
  if (url.username !== '' || url.password !== '') {
    throw inputError(`${DATA_URL_ENV} must not carry credentials in the URL; the keys go in APCA_API_KEY_ID / APCA_API_SECRET_KEY`, DATA_URL_ENV);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw inputError(`${DATA_URL_ENV} must be an http(s) URL, got ${url.protocol}`, DATA_URL_ENV);
  }
  if (url.protocol === 'http:' && !LOOPBACK.test(url.hostname)) {
    throw inputError(`${DATA_URL_ENV} uses plain http to ${url.hostname}: the API keys would travel unencrypted; use https (plain http is allowed to localhost only)`, DATA_URL_ENV);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * `raw` with everything that could be a user name or password — from after `scheme://` up to the
 * last `@` anywhere in it (a password may hold `/`, `?` or `#`) — shown as `***`, for messages about
 * a URL that may not even parse: `https://***@host`.
 */
export function hideUserinfo(raw: string): string {
  const at = raw.lastIndexOf('@');
  if (at < 0) return raw;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/*/.exec(raw)?.[0] ?? '';
  return `${scheme.length <= at ? scheme : ''}***${raw.slice(at)}`;
}

function header(err: ApiError, name: string): string | null {
  try {
    return err.response?.headers?.get(name) ?? null;
  } catch {
    return null;
  }
}

export interface Deadline {
  /** Epoch ms (on the injected clock). */
  at: number;
  /** Its length, for messages. */
  ms: number;
}

/** A request other than GET on a read-only client: never sent. */
export class ReadOnlyViolation extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
  ) {
    super(`refusing ${method} ${path}: policy-gate only reads the trading API`);
    this.name = 'ReadOnlyViolation';
  }
}

/** A 2xx answer with no body at all: treated like a truncated one. */
class EmptyBodyError extends Error {
  constructor() {
    super('empty response body');
    this.name = 'EmptyBodyError';
  }
}

/** A response body larger than the cap: declared (Content-Length) or counted while it streamed. */
class ResponseTooLarge extends Error {
  constructor(
    readonly bytes: number,
    readonly declared: boolean,
    readonly cap: number,
  ) {
    super(`response body ${declared ? 'declares' : 'passed'} ${bytes} bytes, more than the cap of ${cap}`);
    this.name = 'ResponseTooLarge';
  }
}

function isTooLarge(err: unknown): ResponseTooLarge | null {
  for (let e = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ResponseTooLarge) return e;
  }
  return null;
}

/**
 * The response with its body counted as it streams: past `cap` bytes the stream errors (which also
 * cancels the connection), so a huge or endless body costs at most `cap` plus one chunk of memory.
 */
function capResponse(res: Response, cap: number): Response {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > cap) {
    void res.body?.cancel().catch(() => undefined);
    throw new ResponseTooLarge(declared, true, cap);
  }
  if (!res.body) return res;
  let seen = 0;
  const counted = res.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > cap) controller.error(new ResponseTooLarge(seen, false, cap));
        else controller.enqueue(chunk);
      },
    }),
  );
  return new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
}

type Verdict = { retry: true; reason: string; waitMs: number | null } | { retry: false; error: PolicyGateError };

export class AlpacaHttp {
  private readonly sent: number[] = [];
  private readonly fetchApi: (input: string, init: RequestInit) => Promise<Response>;
  private readonly maxResponseBytes: number;
  private readonly maxBarsPerSeries: number;
  /** The per-attempt timeout of the attempt in flight (the configured one, or less near the deadline). */
  private attemptTimeoutMs: number;
  /** HTTP attempts made (retries included). */
  requests = 0;

  constructor(private readonly opts: HttpOptions) {
    const base = opts.baseUrl;
    this.maxResponseBytes = opts.maxResponseBytes ?? MAX_RESPONSE_BYTES;
    this.maxBarsPerSeries = opts.maxBarsPerSeries ?? MAX_BARS_PER_SERIES;
    this.attemptTimeoutMs = opts.timeoutMs;
    const host = opts.clientHost ?? DEFAULT_DATA_HOST;
    this.fetchApi = async (input: string, init: RequestInit): Promise<Response> => {
      const url = String(input);
      if (!url.startsWith(host + '/')) {
        // The client only ever builds URLs on its host; anything else must not get our headers.
        throw new Error('refusing a request to an unexpected host');
      }
      const method = (init.method ?? 'GET').toUpperCase();
      if (opts.readOnly && method !== 'GET') throw new ReadOnlyViolation(method, url.slice(host.length).split('?')[0]!);
      this.requests++;
      return capResponse(await fetch(base + url.slice(host.length), init), this.maxResponseBytes);
    };
  }

  /**
   * The generated APIs over a Configuration whose per-attempt timeout is `timeoutMs`. A fresh pair per
   * attempt (they are cheap), so the timeout can shrink as the deadline nears.
   */
  private apis(timeoutMs: number): { stocks: marketData.StockApi; crypto: marketData.CryptoApi } {
    const config = new marketData.Configuration({
      keyId: this.opts.keys?.keyId,
      secret: this.opts.keys?.secret,
      fetchApi: this.fetchApi,
      timeoutMs,
      redirect: 'error',
      // no `retry`, no `rateLimit`: both off in a bare Configuration (see the file comment)
    });
    return { stocks: new marketData.StockApi(config), crypto: new marketData.CryptoApi(config) };
  }

  /** The client's fetch: `fetchApi` of a Configuration (the host check, the read-only check, the byte cap). */
  get fetch(): (input: string, init: RequestInit) => Promise<Response> {
    return this.fetchApi;
  }

  /**
   * One request under the retry policy above (the caller builds it with the per-attempt timeout it is
   * given); a body that is empty, cut off or not JSON is retried like the bars' pages.
   */
  retrying<T>(what: string, deadline: Deadline, call: (timeoutMs: number) => Promise<T>): Promise<T> {
    return this.withRetry(what, null, deadline, call);
  }

  /** An overall deadline `ms` from now, to pass to fetchAll (one per series, shared by its pages and ranges). */
  deadline(ms: number): Deadline {
    return { at: this.opts.now() + ms, ms };
  }

  private redact(s: string): string {
    return this.opts.redactor.redact(s);
  }

  /** Every bar of [startMs, endMs] (Alpaca's end is inclusive), following all pages. */
  async fetchAll(req: BarsRequest, deadline: Deadline): Promise<WireBar[]> {
    const out: WireBar[] = [];
    const seen = new Set<string>();
    let token: string | undefined;
    const what = `${req.symbol} ${req.timeframe}`;
    for (let page = 1; ; page++) {
      if (page > MAX_PAGES) throw infraError(`Alpaca ${what}: more than ${MAX_PAGES} pages; refusing to go on`, req.symbol);
      this.checkDeadline(what, deadline, `before page ${page} (${out.length} bars so far)`);
      const feed = req.assetClass === 'us_equity' ? req.feed : null;
      const resp = await this.withRetry(what, feed, deadline, async (timeoutMs) => {
        const r = await this.page(req, token, timeoutMs);
        if (r === undefined || r === null) throw new EmptyBodyError();
        return r;
      });
      if (typeof resp !== 'object' || Array.isArray(resp)) throw infraError(`Alpaca ${what}: the response is not a JSON object`, req.symbol);
      const { bars, nextPageToken } = resp as { bars?: unknown; nextPageToken?: unknown };
      if (bars !== null && bars !== undefined && (typeof bars !== 'object' || Array.isArray(bars))) {
        throw infraError(`Alpaca ${what}: "bars" is not an object keyed by symbol`, req.symbol);
      }
      const list = bars ? (bars as Record<string, unknown>)[req.symbol] : undefined;
      if (list !== undefined && list !== null) {
        if (!Array.isArray(list)) throw infraError(`Alpaca ${what}: bars for ${req.symbol} are not a list`, req.symbol);
        for (const b of list) {
          if (!b || typeof b !== 'object') throw infraError(`Alpaca ${what}: a bar is not an object`, req.symbol);
          out.push(b as WireBar);
        }
        if (out.length > this.maxBarsPerSeries) {
          throw infraError(
            `Alpaca ${what}: page ${page} brings the series to ${out.length} bars, more than the cap of ${this.maxBarsPerSeries} bars per series; ` +
              'refusing to hold more. Shorten the range (backtest days, walk-forward folds) or use a longer timeframe',
            req.symbol,
          );
        }
      }
      if (nextPageToken === null || nextPageToken === undefined || nextPageToken === '') return out;
      if (typeof nextPageToken !== 'string') throw infraError(`Alpaca ${what}: next_page_token is not a string`, req.symbol);
      if (seen.has(nextPageToken)) {
        throw infraError(`Alpaca ${what}: page ${page} repeats an earlier next_page_token (a pagination loop); refusing a series that may be incomplete`, req.symbol);
      }
      seen.add(nextPageToken);
      token = nextPageToken;
    }
  }

  /** An infra error once the overall deadline has passed: checked before every page, attempt and wait. */
  private checkDeadline(what: string, deadline: Deadline, when: string): void {
    if (this.opts.now() >= deadline.at) throw this.deadlineError(what, deadline, when);
  }

  private deadlineError(what: string, deadline: Deadline, when: string): PolicyGateError {
    return infraError(
      this.redact(
        `Alpaca ${what}: the ${Math.round(deadline.ms / 1000)} s deadline for fetching one series (data.deadline_seconds) passed ${when}; ` +
          'gave up. The data provider is slow or never finishes paging: try again later, or raise data.deadline_seconds',
      ),
      'alpaca',
    );
  }

  private page(req: BarsRequest, pageToken: string | undefined, timeoutMs: number): Promise<unknown> {
    const { stocks, crypto } = this.apis(timeoutMs);
    const common = {
      symbols: req.symbol,
      timeframe: req.timeframe,
      start: new Date(req.startMs),
      end: new Date(req.endMs),
      limit: PAGE_LIMIT,
      sort: 'asc' as marketData.Sort,
      pageToken,
    };
    if (req.assetClass === 'crypto') {
      return crypto.cryptoBars({ ...common, loc: 'us' as marketData.CryptoHistoricalLoc });
    }
    return stocks.stockBars({
      ...common,
      feed: req.feed as marketData.StockHistoricalFeed,
      adjustment: req.adjustment,
    });
  }

  private async pace(what: string, deadline: Deadline): Promise<void> {
    const limit = this.opts.maxRequestsPerMinute;
    if (!(limit > 0)) return;
    for (;;) {
      const now = this.opts.now();
      while (this.sent.length > 0 && this.sent[0]! <= now - 60_000) this.sent.shift();
      if (this.sent.length < limit) {
        this.sent.push(now);
        return;
      }
      const wait = this.sent[0]! + 60_000 - now;
      if (now + wait > deadline.at) {
        throw this.deadlineError(what, deadline, `while pacing (the next request could start only ${Math.ceil(wait / 1000)} s later)`);
      }
      this.opts.log(`alpaca: pacing at ${limit} requests a minute; waiting ${Math.ceil(wait / 1000)} s`);
      await this.opts.sleep(wait);
    }
  }

  private async withRetry<T>(what: string, feed: string | null, deadline: Deadline, call: (timeoutMs: number) => Promise<T>): Promise<T> {
    let lastReason: string | null = null;
    for (let attempt = 1; ; attempt++) {
      await this.pace(what, deadline);
      const remaining = deadline.at - this.opts.now();
      if (remaining <= 0) {
        throw this.deadlineError(what, deadline, `before attempt ${attempt}${lastReason ? ` (the last one: ${lastReason})` : ''}`);
      }
      // No attempt may outlive the deadline: the per-attempt timeout is the smaller of the two.
      this.attemptTimeoutMs = Math.max(1, Math.min(this.opts.timeoutMs, Math.ceil(remaining)));
      let verdict: Verdict;
      try {
        return await call(this.attemptTimeoutMs);
      } catch (err) {
        verdict = this.classify(err, what, feed);
      }
      if (!verdict.retry) throw verdict.error;
      lastReason = verdict.reason;
      const wait = Math.max(0, verdict.waitMs ?? Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1)));
      const left = deadline.at - this.opts.now();
      if (attempt >= MAX_ATTEMPTS || wait > left) {
        const why =
          attempt >= MAX_ATTEMPTS
            ? `after ${attempt} attempts`
            : `after ${attempt} attempt${attempt === 1 ? '' : 's'}: the next would start ${Math.ceil(wait / 1000)} s later, past the ${Math.round(deadline.ms / 1000)} s deadline`;
        throw infraError(this.redact(`Alpaca ${what}: ${verdict.reason}; gave up ${why}. The data provider is unavailable: try again later`), 'alpaca');
      }
      this.opts.log(this.redact(`alpaca: ${what}: ${verdict.reason}; retry ${attempt}/${MAX_ATTEMPTS - 1} in ${(wait / 1000).toFixed(wait < 1000 ? 3 : 0)} s`));
      await this.opts.sleep(wait);
    }
  }

  /** Retry or not, and the message: never the raw client error (it may carry headers or URLs). */
  private classify(err: unknown, what: string, feed: string | null): Verdict {
    if (err instanceof PolicyGateError) return { retry: false, error: err };
    for (let e = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
      if (e instanceof ReadOnlyViolation) return { retry: false, error: infraError(`Alpaca ${what}: ${e.message}`, 'alpaca') };
    }
    const tooLarge = isTooLarge(err);
    if (tooLarge) {
      const mib = (n: number): string => `${+(n / 1048576).toFixed(2)} MiB`;
      return {
        retry: false,
        error: infraError(
          `Alpaca ${what}: the response ${tooLarge.declared ? `declares ${mib(tooLarge.bytes)} (Content-Length)` : `grew past ${mib(tooLarge.cap)} and was cut off unread`}, ` +
            `more than the cap of ${mib(tooLarge.cap)} per response; refusing it (a page of 10,000 bars is about 1.3 MB). The data provider or APCA_API_DATA_URL is not behaving like Alpaca`,
          'alpaca',
        ),
      };
    }
    if (err instanceof ApiError) {
      const status = err.status;
      const excerpt = this.redact(
        String(err.message ?? '')
          .replace(/ \(Your account may not have SIP[\s\S]*$/, '') // the client's own hint; ours follows
          .replace(/\s+/g, ' ')
          .trim()
          .slice(0, 300),
      );
      if (status === 429) {
        return { retry: true, reason: 'rate limited (HTTP 429)', waitMs: this.retryAfter(err) };
      }
      if (status === 408 || status === 425 || status >= 500) {
        return { retry: true, reason: `HTTP ${status}${excerpt ? ` (${excerpt})` : ''}`, waitMs: null };
      }
      const source = this.opts.keys ? ` (the keys came from ${this.opts.keys.source})` : '';
      if (status === 401) {
        return {
          retry: false,
          error: inputError(
            this.redact(
              `Alpaca rejected the API key for ${what} (HTTP 401: bad key id or secret${excerpt ? `; server said: ${excerpt}` : ''}). ` +
                `Check APCA_API_KEY_ID / APCA_API_SECRET_KEY or ALPACA_KEYS_FILE${source}`,
            ),
            'APCA_API_KEY_ID',
          ),
        };
      }
      if (status === 403) {
        const sip = feed === 'sip';
        const msg = sip
          ? `Alpaca refused ${what} with feed sip (HTTP 403: no SIP subscription for recent data${excerpt ? `: ${excerpt}` : ''}). Use feed iex (the free feed), end the range at least 15 minutes ago, or subscribe to SIP data`
          : `Alpaca refused ${what} (HTTP 403: the key is not permitted to read this data${excerpt ? `; server said: ${excerpt}` : ''}). Check the key's market-data permissions${source}`;
        return { retry: false, error: inputError(this.redact(msg), 'alpaca') };
      }
      return {
        retry: false,
        error: inputError(this.redact(`Alpaca refused the request for ${what} (HTTP ${status}${excerpt ? `: ${excerpt}` : ''}): check the symbol, timeframe, feed and range`), 'alpaca'),
      };
    }
    if (err instanceof FetchError) {
      const cause = err.cause as { name?: string; message?: string; cause?: { code?: string; message?: string } } | undefined;
      if (cause?.name === 'TimeoutError' || cause?.name === 'AbortError') {
        return { retry: true, reason: `the request timed out (no complete answer within ${this.attemptTimeoutMs} ms)`, waitMs: null };
      }
      const detail = `${cause?.cause?.message ?? ''} ${cause?.message ?? ''}`;
      if (/redirect/i.test(detail)) {
        return { retry: false, error: infraError(this.redact(`Alpaca ${what}: the server answered with a redirect, which is refused (keys must not follow it)`), 'alpaca') };
      }
      const code = cause?.cause?.code ?? (cause as { code?: string } | undefined)?.code;
      return { retry: true, reason: this.redact(`connection failed (${code ?? cause?.message ?? 'network error'})`), waitMs: null };
    }
    if (err instanceof EmptyBodyError) {
      return { retry: true, reason: 'empty response body', waitMs: null };
    }
    if (err instanceof SyntaxError) {
      return { retry: true, reason: 'malformed response body (not complete JSON)', waitMs: null };
    }
    if (err instanceof Error) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if ((err.name === 'TypeError' && (err.message === 'terminated' || code !== undefined)) || err.name === 'AbortError' || err.name === 'TimeoutError') {
        // undici's "terminated" while reading the body: the connection closed before Content-Length bytes
        return { retry: true, reason: this.redact(`truncated response body (${code ?? err.message})`), waitMs: null };
      }
      return { retry: false, error: infraError(this.redact(`Alpaca ${what}: unexpected client error: ${err.message}`), 'alpaca') };
    }
    return { retry: false, error: infraError(`Alpaca ${what}: unexpected client failure`, 'alpaca') };
  }

  /** ms to wait from Retry-After (seconds or HTTP date), else X-Ratelimit-Reset (epoch seconds); null when neither is usable. */
  private retryAfter(err: ApiError): number | null {
    const now = this.opts.now();
    const ra = header(err, 'retry-after');
    if (ra !== null && ra.trim() !== '') {
      const s = Number(ra);
      if (Number.isFinite(s) && s >= 0) return Math.ceil(s * 1000);
      const when = Date.parse(ra);
      if (Number.isFinite(when)) return Math.max(0, when - now);
    }
    const reset = header(err, 'x-ratelimit-reset');
    if (reset !== null && reset.trim() !== '') {
      const s = Number(reset);
      if (Number.isFinite(s) && s > 0) return Math.max(0, Math.ceil(s * 1000 - now));
    }
    return null;
  }
}
