/**
 * A loopback stand-in for https://data.alpaca.markets that speaks the real paths and JSON shapes, so
 * tests drive the real @alpacahq/alpaca-trade-api client through APCA_API_DATA_URL:
 *
 *   GET /v2/stocks/bars?symbols=AAPL&timeframe=1Hour&start=..&end=..&limit=..&feed=..&adjustment=..&page_token=..
 *     → {"bars": {"AAPL": [{t,o,h,l,c,v,n,vw}, ...]}, "next_page_token": "..." | null, "currency": "USD"}
 *   GET /v1beta3/crypto/us/bars?symbols=BTC%2FUSD&timeframe=1Hour&start=..&end=..&page_token=..
 *     → {"bars": {"BTC/USD": [...]}, "next_page_token": ...}
 *
 * start and end are inclusive (as Alpaca's), pages hold min(limit, pageSize) bars, page tokens are
 * base64 like Alpaca's. Faults are queued and consumed one per request; `always` makes one permanent.
 * Every request is recorded (path, query, headers) for assertions.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface WireBar {
  t: string;
  o: number;
  h: number;
  l: number;
  c: number;
  v: number;
  n: number;
  vw: number;
}

export interface SeenRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
}

/** A fault handles the request itself and returns true, or returns false to let it be served normally. */
export type Fault = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => boolean;

export class FakeAlpaca {
  readonly requests: SeenRequest[] = [];
  readonly stocks = new Map<string, WireBar[]>();
  readonly crypto = new Map<string, WireBar[]>();
  /** Server-side page size cap (Alpaca's is 10,000). */
  pageSize = 10_000;
  /** When set, stock requests must carry these keys; otherwise 401 (with the request headers echoed in the body, to test redaction). */
  requireKeys: { keyId: string; secret: string } | null = null;
  /** Every page after the first repeats the first page's token (a pagination loop). */
  repeatToken = false;
  private readonly faults: Fault[] = [];
  private permanent: Fault | null = null;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeAlpaca> {
    let fake: FakeAlpaca | undefined;
    const server = createServer((req, res) => fake!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    fake = new FakeAlpaca(server, `http://127.0.0.1:${port}`);
    server.on('connection', (s) => {
      fake!.sockets.add(s);
      s.on('close', () => fake!.sockets.delete(s));
    });
    return fake;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Queue faults, used one per request in order. */
  fault(...faults: Fault[]): this {
    this.faults.push(...faults);
    return this;
  }

  /** A fault on every request from now on (null to clear). */
  always(fault: Fault | null): this {
    this.permanent = fault;
    return this;
  }

  barRequests(): SeenRequest[] {
    return this.requests.filter((r) => r.path.endsWith('/bars'));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const seen: SeenRequest = { method: req.method ?? 'GET', path: u.pathname, query: Object.fromEntries(u.searchParams), headers: req.headers };
    this.requests.push(seen);
    const fault = this.faults.shift() ?? this.permanent;
    if (fault?.(req, res, seen)) return;
    if (seen.method !== 'GET') return json(res, 405, { code: 40510000, message: 'method not allowed' });
    if (u.pathname === '/v2/stocks/bars') {
      if (this.requireKeys) {
        const id = req.headers['apca-api-key-id'];
        const secret = req.headers['apca-api-secret-key'];
        if (id !== this.requireKeys.keyId || secret !== this.requireKeys.secret) {
          // a careless server echoing the credentials it got: the client must never pass this on unredacted
          return json(res, 401, { code: 40110000, message: `request is not authorized: got ${JSON.stringify(req.headers)}` });
        }
      }
      return this.serveBars(res, seen, this.stocks, true);
    }
    if (u.pathname === '/v1beta3/crypto/us/bars') return this.serveBars(res, seen, this.crypto, false);
    return json(res, 404, { code: 40410000, message: 'endpoint not found' });
  }

  private serveBars(res: ServerResponse, seen: SeenRequest, store: Map<string, WireBar[]>, stocks: boolean): void {
    const q = seen.query;
    const symbols = (q['symbols'] ?? '').split(',').filter((s) => s !== '');
    if (symbols.length === 0 || !q['timeframe']) return json(res, 400, { code: 42210000, message: 'invalid request: symbols and timeframe are required' });
    const start = q['start'] ? Date.parse(q['start']) : -Infinity;
    const end = q['end'] ? Date.parse(q['end']) : Infinity;
    const limit = Math.min(Number(q['limit'] ?? 1000), this.pageSize);
    const offset = q['page_token'] ? Number(JSON.parse(Buffer.from(q['page_token'], 'base64').toString('utf8')).offset) : 0;
    // all symbols' bars, sorted by symbol then time (Alpaca's order); the limit counts across symbols
    const all: { symbol: string; bar: WireBar }[] = [];
    for (const s of [...symbols].sort()) {
      for (const bar of store.get(s) ?? []) {
        const t = Date.parse(bar.t);
        if (Number.isNaN(t) || (t >= start && t <= end)) all.push({ symbol: s, bar }); // unparseable: served, for the client to refuse
      }
    }
    const page = all.slice(offset, offset + limit);
    const bars: Record<string, WireBar[]> = {};
    for (const { symbol, bar } of page) (bars[symbol] ??= []).push(bar);
    const more = offset + page.length < all.length;
    const token = more ? (this.repeatToken && offset > 0 ? seen.query['page_token']! : tokenFor(offset + page.length)) : null;
    json(res, 200, stocks ? { bars, next_page_token: token, currency: 'USD' } : { bars, next_page_token: token });
  }
}

function tokenFor(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64');
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

// ------------------------------------------------------------------ faults

export const faults = {
  status(status: number, headers: Record<string, string> = {}, body: unknown = { code: status * 100000, message: `status ${status}` }): Fault {
    return (_req, res) => {
      json(res, status, body, headers);
      return true;
    };
  },
  /** Drop the connection without an answer (ECONNRESET / "other side closed" for the client). */
  reset(): Fault {
    return (req) => {
      req.socket.destroy();
      return true;
    };
  },
  /** Promise 5000 bytes, send 100 of valid-looking JSON, then close the connection. */
  shortContentLength(): Fault {
    return (req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '5000' });
      res.write('{"bars":{"BTC/USD":[{"t":"2024-01-01T00:00:00Z","o":42000,"h":42100,"l":41900,"c":42050,"v":1,"n":1,"vw":4'.slice(0, 100));
      setTimeout(() => req.socket.destroy(), 10);
      return true;
    };
  },
  /** A complete HTTP response (chunked) whose JSON is cut mid-array. */
  cutJson(): Fault {
    return (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"bars":{"BTC/USD":[{"t":"2024-01-01T00:00:00Z","o":42000,"h":42100,"l":41900,"c":42050,"v":1,"n":1,"vw":42000},');
      res.end('{"t":"2024-01-01T01:00:00Z","o":4');
      return true;
    };
  },
  /** Accept and never answer (the client's per-attempt timeout must fire). */
  hang(): Fault {
    return () => true;
  },
};

// ------------------------------------------------------------------ bars

/** Wire bars from CSV text `timestamp,open,high,low,close,volume` (the values exactly as written). */
export function wireBarsFromCsv(text: string): WireBar[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines[0]!.split(',').map((h) => h.trim().toLowerCase());
  const col = (name: string): number => header.indexOf(name);
  const [ti, oi, hi, li, ci, vi] = ['timestamp', 'open', 'high', 'low', 'close', 'volume'].map(col) as [number, number, number, number, number, number];
  return lines.slice(1).map((line) => {
    const f = line.split(',');
    const o = Number(f[oi]);
    const c = Number(f[ci]);
    return { t: f[ti]!, o, h: Number(f[hi]), l: Number(f[li]), c, v: Number(f[vi]), n: 1, vw: (o + c) / 2 };
  });
}

/** `count` synthetic bars `step` apart from `startMs` (a gentle random walk, deterministic). */
export function syntheticBars(startMs: number, step: number, count: number, base = 100): WireBar[] {
  const out: WireBar[] = [];
  let price = base;
  for (let i = 0; i < count; i++) {
    const o = price;
    const c = Math.round(price * (1 + 0.001 * Math.sin(i * 0.7)) * 100) / 100;
    const h = Math.max(o, c) + 0.05;
    const l = Math.min(o, c) - 0.05;
    out.push({ t: new Date(startMs + i * step).toISOString().replace('.000Z', 'Z'), o, h, l, c, v: 1000 + i, n: 10, vw: (o + c) / 2 });
    price = c;
  }
  return out;
}

// ------------------------------------------------------------------ loopback guard

function isLoopback(host: string | undefined): boolean {
  if (host === undefined || host === '') return true; // Node's default host is localhost
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * Make every non-loopback TCP connection from this process fail (and record it), so a test that
 * would reach the real Alpaca (or anywhere) fails instead. Patches net.Socket.prototype.connect,
 * which Node's fetch (undici), http and tls all go through.
 */
export function installLoopbackGuard(): { violations: string[]; restore: () => void } {
  const violations: string[] = [];
  const original = net.Socket.prototype.connect;
  const patched = function (this: net.Socket, ...args: unknown[]): net.Socket {
    let opts: unknown = args[0];
    if (Array.isArray(opts)) opts = opts[0]; // net.connect passes its normalised [options, cb]
    let host: string | undefined;
    let isPath = false;
    if (opts && typeof opts === 'object') {
      const o = opts as { host?: string; path?: string };
      host = o.host;
      isPath = typeof o.path === 'string';
    } else if (typeof opts === 'number' || (typeof opts === 'string' && /^\d+$/.test(opts))) {
      host = typeof args[1] === 'string' ? args[1] : undefined;
    } else if (typeof opts === 'string') {
      isPath = true;
    }
    if (!isPath && !isLoopback(host)) {
      violations.push(String(host));
      throw new Error(`test network guard: refusing a connection to ${String(host)} (only loopback is allowed in tests)`);
    }
    return (original as (...a: unknown[]) => net.Socket).apply(this, args);
  };
  net.Socket.prototype.connect = patched as typeof net.Socket.prototype.connect;
  return {
    violations,
    restore: () => {
      net.Socket.prototype.connect = original;
    },
  };
}
