/**
 * The trading account's record, read through @alpacahq/alpaca-trade-api v4's trading API — and only read:
 * the client's fetch refuses every request that is not a GET before it is sent (http.ts `readOnly`), so
 * policy-gate can place, replace or cancel no order whatever the code above it does.
 *
 *   GET /v2/account                                   the account (id, status, currency, equity)
 *   GET /v2/account/activities/FILL?after&until&direction=asc&page_size=100&page_token=<last id>
 *   GET /v2/account/activities/CFEE?…                 crypto fees, same paging
 *   GET /v2/orders?status=closed&after&until&direction=asc&limit=500
 *   GET /v2/positions
 *
 * Base URL: APCA_API_BASE_URL (https, or plain http to localhost only, as APCA_API_DATA_URL); default the
 * paper endpoint https://paper-api.alpaca.markets, or https://api.alpaca.markets for `account: 'live'`.
 * Keys: the market-data ones (APCA_API_KEY_ID / APCA_API_SECRET_KEY or ALPACA_KEYS_FILE). Retries,
 * deadlines, the byte cap and redaction are http.ts's.
 *
 * Raw schema → domain: the SDK's generated mapping of the activities endpoint reads a FILL as a non-trade
 * activity and drops its fields, so each page's JSON is read from the raw response and validated here
 * (every number `Number.isFinite`, every time an RFC 3339 string).
 *
 * Paging: activities follow `page_token` = the id of the last activity of a full page until a page is
 * short; a token seen twice is an infra error. Orders have no token: the next page starts 1 ms before the
 * last order's `submitted_at` and orders already seen are dropped, so orders submitted in the same
 * millisecond across a page boundary are not lost.
 *
 * Fees: Alpaca's FILL activity carries no fee. Crypto fees are CFEE activities: `qty` (negative) in the
 * asset received when a buy's fee is taken from the coin bought, else `net_amount` (negative) in the quote
 * currency. Each fill, partial or not, has its own CFEE. A CFEE that names an `order_id` is attached to the first fill
 * of that order without a fee yet (else its last fill); otherwise — fees are posted in the order of their
 * fills — to the earliest fill of the same symbol at or before it (within a day) that
 * has no fee yet; one that fits no fill is reported in `notes`. Equities
 * trade without commission (fee 0).
 */
import { trading } from '@alpacahq/alpaca-trade-api/rest';

import { infraError, inputError, PolicyGateError } from '../../core/errors.js';
import type { AccountFill } from '../../core/reconcile.js';
import { parseIsoTimestamp } from '../../core/time.js';
import { AlpacaHttp, hideUserinfo, type Deadline } from './http.js';
import { KEY_ID_ENV, missingKeysMessage, readAlpacaKeys, SECRET_ENV, type AlpacaKeys } from './keys.js';
import { Redactor } from './redact.js';

export const TRADING_URL_ENV = 'APCA_API_BASE_URL';
export const PAPER_TRADING_HOST = trading.TRADING_PAPER_HOST;
export const LIVE_TRADING_HOST = trading.TRADING_LIVE_HOST;
export const ACTIVITY_PAGE_SIZE = 100;
export const ORDER_PAGE_LIMIT = 500;
const MAX_PAGES = 10_000;
const DAY_MS = 86_400_000;

export type AccountKind = 'paper' | 'live';

export interface TradingFill extends AccountFill {
  /** Compact symbol (`BTCUSD`, `AAPL`). */
  symbol: string;
}

export interface TradingRecord {
  baseUrl: string;
  account: { id: string | null; status: string | null; currency: string | null; equity: number | null };
  fills: TradingFill[];
  /** Closed orders in the range (their client_order_id is what attribution by prefix reads). */
  orders: number;
  positions: { symbol: string; qty: number }[];
  notes: string[];
}

export interface TradingOptions {
  env: NodeJS.ProcessEnv;
  account: AccountKind;
  now: () => number;
  sleep?: (ms: number) => Promise<void>;
  log?: (line: string) => void;
  /** Overall deadline for reading the record. Default 5 minutes. */
  deadlineMs?: number;
  timeoutMs?: number;
  maxRequestsPerMinute?: number;
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;
const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The trading base URL (see the file comment). */
export function tradingBaseUrl(env: NodeJS.ProcessEnv, account: AccountKind): string {
  const raw = (env[TRADING_URL_ENV] ?? '').trim();
  if (raw === '') return account === 'live' ? LIVE_TRADING_HOST : PAPER_TRADING_HOST;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw inputError(`${TRADING_URL_ENV} is not a URL: ${JSON.stringify(hideUserinfo(raw).slice(0, 200))}`, TRADING_URL_ENV);
  }
  if (url.username !== '' || url.password !== '') {
    throw inputError(`${TRADING_URL_ENV} must not carry credentials in the URL; the keys go in ${KEY_ID_ENV} / ${SECRET_ENV}`, TRADING_URL_ENV);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw inputError(`${TRADING_URL_ENV} must be an http(s) URL, got ${url.protocol}`, TRADING_URL_ENV);
  if (url.protocol === 'http:' && !LOOPBACK.test(url.hostname)) {
    throw inputError(`${TRADING_URL_ENV} uses plain http to ${url.hostname}: the API keys would travel unencrypted; use https (plain http is allowed to localhost only)`, TRADING_URL_ENV);
  }
  // the SDK adds /v2/…; a base URL written with /v2 would double it
  return `${url.origin}${url.pathname.replace(/\/+$/, '').replace(/\/v2$/, '')}`;
}

export const compactSymbol = (s: string): string => s.replace(/[/_-]/g, '').toUpperCase();

function num(v: unknown, what: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw infraError(`Alpaca trading API: ${what} is not a number (${JSON.stringify(v)?.slice(0, 40)})`, 'alpaca');
  return n;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') throw infraError(`Alpaca trading API: ${what} is missing or not a string`, 'alpaca');
  return v;
}

function time(v: unknown, what: string): number {
  const t = typeof v === 'string' ? parseIsoTimestamp(v) : NaN;
  if (!Number.isFinite(t)) throw infraError(`Alpaca trading API: ${what} is not an RFC 3339 time (${JSON.stringify(v)?.slice(0, 40)})`, 'alpaca');
  return t;
}

export class AlpacaTrading {
  private readonly redactor = new Redactor();
  private readonly log: (line: string) => void;
  private readonly keys: AlpacaKeys | null;
  private readonly keysError: PolicyGateError | null = null;
  readonly baseUrl: string;
  private http: AlpacaHttp | null = null;

  constructor(private readonly opts: TradingOptions) {
    const log = opts.log ?? (() => undefined);
    this.log = (line) => log(this.redactor.redact(line));
    this.redactor.add(opts.env[KEY_ID_ENV]?.trim());
    this.redactor.add(opts.env[SECRET_ENV]?.trim());
    let keys: AlpacaKeys | null = null;
    try {
      keys = readAlpacaKeys(opts.env);
    } catch (err) {
      if (!(err instanceof PolicyGateError)) throw err;
      this.keysError = err;
    }
    this.keys = keys;
    if (keys) {
      this.redactor.add(keys.keyId);
      this.redactor.add(keys.secret);
    }
    this.baseUrl = tradingBaseUrl(opts.env, opts.account);
  }

  /** Null when keys are configured; else why the account cannot be read (never the keys themselves). */
  missingKeys(): string | null {
    if (this.keysError) return this.keysError.message;
    return this.keys ? null : missingKeysMessage('reading the trading account').replace(/ Crypto bars need no keys\.$/, '');
  }

  /** HTTP attempts made so far (retries included). */
  get requests(): number {
    return this.http?.requests ?? 0;
  }

  private client(): AlpacaHttp {
    this.http ??= new AlpacaHttp({
      keys: this.keys,
      baseUrl: this.baseUrl,
      clientHost: PAPER_TRADING_HOST,
      readOnly: true,
      now: this.opts.now,
      sleep: this.opts.sleep ?? realSleep,
      log: this.log,
      redactor: this.redactor,
      timeoutMs: this.opts.timeoutMs ?? 30_000,
      maxRequestsPerMinute: this.opts.maxRequestsPerMinute ?? 180,
    });
    return this.http;
  }

  private config(timeoutMs: number): trading.Configuration {
    return new trading.Configuration({
      keyId: this.keys?.keyId,
      secret: this.keys?.secret,
      fetchApi: this.client().fetch,
      timeoutMs,
      redirect: 'error',
    });
  }

  /** Reads a raw response's JSON (a truncated or malformed body throws, and is retried). */
  private static async json(resp: { raw: Response }): Promise<unknown> {
    const text = await resp.raw.text();
    if (text.trim() === '') throw new SyntaxError('empty body');
    return JSON.parse(text) as unknown;
  }

  /** The account's fills (with crypto fees attached), closed orders and positions in (afterMs, untilMs]. */
  async record(afterMs: number, untilMs: number): Promise<TradingRecord> {
    try {
      return await this.recordUnsafe(afterMs, untilMs);
    } catch (err) {
      if (err instanceof PolicyGateError) throw new PolicyGateError(err.kind, this.redactor.redact(err.message), { subject: err.subject });
      throw new PolicyGateError('infra', this.redactor.redact(`Alpaca trading API: unexpected failure: ${err instanceof Error ? err.message : String(err)}`), { subject: 'alpaca' });
    }
  }

  private async recordUnsafe(afterMs: number, untilMs: number): Promise<TradingRecord> {
    const missing = this.missingKeys();
    if (missing !== null) throw inputError(missing, KEY_ID_ENV);
    const http = this.client();
    const deadline = http.deadline(this.opts.deadlineMs ?? 300_000);
    const notes: string[] = [];

    const accountJson = (await http.retrying('account', deadline, async (t) => AlpacaTrading.json(await new trading.AccountsApi(this.config(t)).getAccountRaw()))) as Record<string, unknown> | null;
    if (!accountJson || typeof accountJson !== 'object') throw infraError('Alpaca trading API: the account is not a JSON object', 'alpaca');
    const equity = accountJson['equity'] === undefined ? null : num(accountJson['equity'], 'account.equity');
    const account = {
      id: typeof accountJson['id'] === 'string' ? accountJson['id'] : null,
      status: typeof accountJson['status'] === 'string' ? accountJson['status'] : null,
      currency: typeof accountJson['currency'] === 'string' ? accountJson['currency'] : null,
      equity,
    };

    const fillActs = await this.activities('FILL', afterMs, untilMs, deadline);
    const feeActs = await this.activities('CFEE', afterMs, untilMs, deadline);
    const orders = await this.closedOrders(afterMs, untilMs, deadline);
    const positionsJson = await http.retrying('positions', deadline, async (t) => AlpacaTrading.json(await new trading.PositionsApi(this.config(t)).getAllOpenPositionsRaw()));
    if (!Array.isArray(positionsJson)) throw infraError('Alpaca trading API: positions are not a list', 'alpaca');
    const positions = positionsJson.map((p: Record<string, unknown>, i) => {
      const qty = num(p['qty'], `positions[${i}].qty`);
      return { symbol: compactSymbol(str(p['symbol'], `positions[${i}].symbol`)), qty: p['side'] === 'short' && qty > 0 ? -qty : qty };
    });

    const clientIds = new Map<string, string | null>();
    for (const o of orders) clientIds.set(o.id, o.clientOrderId);
    const fills: TradingFill[] = fillActs.map((a, i) => {
      const what = `FILL activity ${typeof a['id'] === 'string' ? a['id'] : `#${i}`}`;
      const side = a['side'];
      const sideText = typeof side === 'string' ? side.toLowerCase() : '';
      if (sideText !== 'buy' && sideText !== 'sell' && sideText !== 'sell_short') throw infraError(`Alpaca trading API: ${what}: side ${JSON.stringify(side)} is neither buy nor sell`, 'alpaca');
      const qty = Math.abs(num(a['qty'], `${what}: qty`));
      const price = num(a['price'], `${what}: price`);
      if (!(qty > 0) || !(price > 0)) throw infraError(`Alpaca trading API: ${what}: quantity ${qty} and price ${price} must be positive`, 'alpaca');
      const orderId = str(a['order_id'], `${what}: order_id`);
      return {
        id: str(a['id'], `${what}: id`),
        orderId,
        clientOrderId: clientIds.get(orderId) ?? null,
        symbol: compactSymbol(str(a['symbol'], `${what}: symbol`)),
        time: time(a['transaction_time'], `${what}: transaction_time`),
        side: sideText === 'buy' ? 'buy' : 'sell',
        qty,
        price,
        fee: 0,
        feeAsset: 'quote',
      };
    });
    fills.sort((a, b) => a.time - b.time || a.id.localeCompare(b.id));
    const unknownOrders = fills.filter((f) => !clientIds.has(f.orderId)).length;
    if (unknownOrders > 0) notes.push(`${unknownOrders} fill(s) belong to orders not among the closed orders read (still open, or outside the range): their client_order_id is unknown`);

    for (const [i, a] of feeActs.entries()) {
      const what = `CFEE activity ${typeof a['id'] === 'string' ? a['id'] : `#${i}`}`;
      const symbol = typeof a['symbol'] === 'string' ? compactSymbol(a['symbol']) : null;
      const at = typeof a['transaction_time'] === 'string' ? time(a['transaction_time'], `${what}: transaction_time`) : typeof a['date'] === 'string' ? time(a['date'], `${what}: date`) : NaN;
      const qty = a['qty'] === undefined || a['qty'] === null ? 0 : num(a['qty'], `${what}: qty`);
      const net = a['net_amount'] === undefined || a['net_amount'] === null ? 0 : num(a['net_amount'], `${what}: net_amount`);
      const orderId = typeof a['order_id'] === 'string' ? a['order_id'] : null;
      let target: TradingFill | undefined = orderId ? (fills.find((f) => f.orderId === orderId && f.fee === 0) ?? fills.findLast((f) => f.orderId === orderId)) : undefined;
      if (!target && symbol && Number.isFinite(at)) {
        // fees follow their fills in order: the earliest fill of the symbol that has no fee yet
        target = fills.find((f) => f.symbol === symbol && f.fee === 0 && f.time <= at && at - f.time <= DAY_MS);
      }
      if (!target) {
        notes.push(`${what} (${symbol ?? 'no symbol'}) fits no fill: its fee is not counted in any sleeve`);
        continue;
      }
      const asset: 'base' | 'quote' = qty !== 0 ? 'base' : 'quote';
      if (target.fee > 0 && target.feeAsset !== asset) {
        notes.push(`${what}: a second fee in another asset for fill ${target.id}; only the first is counted`);
        continue;
      }
      target.feeAsset = asset;
      target.fee += asset === 'base' ? Math.abs(qty) : Math.abs(net);
    }
    return { baseUrl: this.baseUrl, account, fills, orders: orders.length, positions, notes };
  }

  private async activities(type: 'FILL' | 'CFEE', afterMs: number, untilMs: number, deadline: Deadline): Promise<Record<string, unknown>[]> {
    const http = this.client();
    const out: Record<string, unknown>[] = [];
    const seen = new Set<string>();
    let token: string | undefined;
    for (let page = 1; ; page++) {
      if (page > MAX_PAGES) throw infraError(`Alpaca ${type} activities: more than ${MAX_PAGES} pages; refusing to go on`, 'alpaca');
      const list = await http.retrying(`${type} activities`, deadline, async (t) =>
        AlpacaTrading.json(
          await new trading.AccountActivitiesApi(this.config(t)).getAccountActivitiesByActivityTypeRaw({
            activityType: type,
            after: new Date(afterMs),
            until: new Date(untilMs),
            direction: 'asc',
            pageSize: ACTIVITY_PAGE_SIZE,
            pageToken: token,
          }),
        ),
      );
      if (!Array.isArray(list)) throw infraError(`Alpaca ${type} activities: page ${page} is not a list`, 'alpaca');
      for (const a of list) {
        if (!a || typeof a !== 'object') throw infraError(`Alpaca ${type} activities: an activity is not an object`, 'alpaca');
        out.push(a as Record<string, unknown>);
      }
      if (list.length < ACTIVITY_PAGE_SIZE) return out;
      const last = (list[list.length - 1] as Record<string, unknown>)['id'];
      if (typeof last !== 'string' || last === '') throw infraError(`Alpaca ${type} activities: the last activity of page ${page} has no id to page on`, 'alpaca');
      if (seen.has(last)) throw infraError(`Alpaca ${type} activities: page ${page} ends on an activity seen before (a pagination loop); refusing a record that may be incomplete`, 'alpaca');
      seen.add(last);
      token = last;
    }
  }

  private async closedOrders(afterMs: number, untilMs: number, deadline: Deadline): Promise<{ id: string; clientOrderId: string | null }[]> {
    const http = this.client();
    const byId = new Map<string, { id: string; clientOrderId: string | null }>();
    let after = afterMs;
    for (let page = 1; ; page++) {
      if (page > MAX_PAGES) throw infraError(`Alpaca orders: more than ${MAX_PAGES} pages; refusing to go on`, 'alpaca');
      const list = await http.retrying('closed orders', deadline, async (t) =>
        AlpacaTrading.json(
          await new trading.OrdersApi(this.config(t)).getAllOrdersRaw({
            status: 'closed',
            after: new Date(after).toISOString(),
            until: new Date(untilMs).toISOString(),
            direction: 'asc',
            limit: ORDER_PAGE_LIMIT,
          }),
        ),
      );
      if (!Array.isArray(list)) throw infraError(`Alpaca orders: page ${page} is not a list`, 'alpaca');
      let fresh = 0;
      let lastSubmitted = after;
      for (const [i, o] of (list as Record<string, unknown>[]).entries()) {
        const id = str(o?.['id'], `orders page ${page} [${i}].id`);
        lastSubmitted = Math.max(lastSubmitted, time(o['submitted_at'] ?? o['created_at'], `order ${id}: submitted_at`));
        if (byId.has(id)) continue;
        fresh++;
        byId.set(id, { id, clientOrderId: typeof o['client_order_id'] === 'string' ? o['client_order_id'] : null });
      }
      if (list.length < ORDER_PAGE_LIMIT) return [...byId.values()];
      if (fresh === 0) throw infraError(`Alpaca orders: page ${page} holds no order not seen before (a pagination loop); refusing a record that may be incomplete`, 'alpaca');
      after = lastSubmitted - 1;
    }
  }
}
