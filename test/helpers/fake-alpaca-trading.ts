/**
 * A loopback stand-in for Alpaca's trading API (https://paper-api.alpaca.markets) that speaks its paths
 * and JSON shapes, so tests drive the real @alpacahq/alpaca-trade-api client through APCA_API_BASE_URL:
 *
 *   GET /v2/account                                  → {id, account_number, status, currency, cash, equity, …}
 *   GET /v2/account/activities/FILL?after&until&direction&page_size&page_token
 *     → [{id, activity_type: "FILL", transaction_time, type, price, qty, side, symbol, leaves_qty,
 *         order_id, cum_qty, order_status}, …]          (numbers as strings, as Alpaca sends them)
 *   GET /v2/account/activities/CFEE?…                → [{id, activity_type: "CFEE", date, net_amount, qty,
 *         price, symbol, description, status, transaction_time}, …]
 *   GET /v2/orders?status=closed&after&until&direction&limit
 *     → [{id, client_order_id, created_at, submitted_at, filled_at, symbol, side, qty, filled_qty,
 *         filled_avg_price, status, asset_class, …}, …]
 *   GET /v2/positions                                → [{symbol, qty, side, avg_entry_price, asset_class, …}]
 *
 * Activities page on `page_token` = the id of the last activity of the previous page (ids sort by time,
 * as Alpaca's `<yyyymmddhhmmssms>::<uuid>`); page_size caps at 100. Orders cap at 500 per page and filter
 * `after` exclusively on submitted_at. Every other method or path is recorded and refused, so a test can
 * prove nothing else was asked. Faults are the market-data fake's (./fake-alpaca.ts), one per request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Fault, SeenRequest } from './fake-alpaca.js';

export interface FakeFill {
  id: string;
  orderId: string;
  clientOrderId: string;
  time: number;
  symbol: string;
  side: 'buy' | 'sell';
  qty: number;
  price: number;
  /** A crypto fee activity for this fill: in the asset (a buy) or in USD (a sell); none when null. */
  fee: { asset: 'base' | 'quote'; amount: number; withOrderId: boolean } | null;
}

export class FakeAlpacaTrading {
  readonly requests: SeenRequest[] = [];
  fills: FakeFill[] = [];
  positions: { symbol: string; qty: number }[] = [];
  account = { equity: 100_000 };
  requireKeys: { keyId: string; secret: string } | null = null;
  private readonly faults: Fault[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeAlpacaTrading> {
    let fake: FakeAlpacaTrading | undefined;
    const server = createServer((req, res) => fake!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    fake = new FakeAlpacaTrading(server, `http://127.0.0.1:${port}`);
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

  fault(...faults: Fault[]): this {
    this.faults.push(...faults);
    return this;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const seen: SeenRequest = { method: req.method ?? 'GET', path: u.pathname, query: Object.fromEntries(u.searchParams), headers: req.headers };
    this.requests.push(seen);
    const fault = this.faults.shift();
    if (fault?.(req, res, seen)) return;
    if (seen.method !== 'GET') return json(res, 403, { code: 40310000, message: `${seen.method} ${u.pathname} is not allowed on this test account` });
    if (this.requireKeys) {
      if (req.headers['apca-api-key-id'] !== this.requireKeys.keyId || req.headers['apca-api-secret-key'] !== this.requireKeys.secret) {
        // a careless server echoing the credentials it got: the client must never pass this on unredacted
        return json(res, 401, { code: 40110000, message: `request is not authorized: got ${JSON.stringify(req.headers)}` });
      }
    }
    const q = seen.query;
    const after = q['after'] ? Date.parse(q['after']) : -Infinity;
    const until = q['until'] ? Date.parse(q['until']) : Infinity;
    switch (u.pathname) {
      case '/v2/account':
        return json(res, 200, {
          id: '0d4d1c6e-7d2f-4c1f-9d1e-3f8f6a0b9c11',
          account_number: 'PA3TEST0001',
          status: 'ACTIVE',
          currency: 'USD',
          cash: String(this.account.equity),
          equity: String(this.account.equity),
          last_equity: String(this.account.equity),
          buying_power: String(this.account.equity * 2),
          pattern_day_trader: false,
          trading_blocked: false,
          crypto_status: 'ACTIVE',
          created_at: '2024-01-02T15:00:00.000000Z',
        });
      case '/v2/account/activities/FILL':
        return this.page(
          res,
          q,
          this.fillActivities().filter((a) => inRange(a.transaction_time, after, until)),
        );
      case '/v2/account/activities/CFEE':
        return this.page(
          res,
          q,
          this.feeActivities().filter((a) => inRange(a.transaction_time, after, until)),
        );
      case '/v2/orders': {
        if (q['status'] !== 'closed') return json(res, 422, { code: 42210000, message: 'this fake serves status=closed only' });
        const limit = Math.min(Number(q['limit'] ?? 50), 500);
        const orders = this.orders().filter((o) => Date.parse(o.submitted_at) > after && Date.parse(o.submitted_at) <= until);
        if (q['direction'] !== 'asc') orders.reverse();
        return json(res, 200, orders.slice(0, limit));
      }
      case '/v2/positions':
        return json(
          res,
          200,
          this.positions.map((p) => ({
            asset_id: '276e2673-764b-4ab6-a611-caf665ca6340',
            symbol: p.symbol,
            exchange: 'CRYPTO',
            asset_class: 'crypto',
            qty: String(Math.abs(p.qty)),
            side: p.qty < 0 ? 'short' : 'long',
            avg_entry_price: '40000',
            market_value: '0',
          })),
        );
      default:
        return json(res, 404, { code: 40410000, message: 'endpoint not found' });
    }
  }

  private page(res: ServerResponse, q: Record<string, string>, all: { id: string }[]): void {
    const size = Math.min(Number(q['page_size'] ?? 100), 100);
    if (q['direction'] !== 'asc') all.reverse();
    let from = 0;
    if (q['page_token']) {
      const at = all.findIndex((a) => a.id === q['page_token']);
      if (at < 0) return json(res, 422, { code: 42210000, message: 'invalid page_token' });
      from = at + 1;
    }
    json(res, 200, all.slice(from, from + size));
  }

  private fillActivities(): ({ id: string; transaction_time: string } & Record<string, unknown>)[] {
    const sorted = [...this.fills].sort((a, b) => a.time - b.time);
    const cum = new Map<string, number>();
    return sorted.map((f) => {
      const c = (cum.get(f.orderId) ?? 0) + f.qty;
      cum.set(f.orderId, c);
      return {
        id: f.id,
        activity_type: 'FILL',
        transaction_time: new Date(f.time).toISOString(),
        type: 'fill',
        price: String(f.price),
        qty: String(f.qty),
        side: f.side,
        symbol: f.symbol,
        leaves_qty: '0',
        order_id: f.orderId,
        cum_qty: String(c),
        order_status: 'filled',
      };
    });
  }

  private feeActivities(): ({ id: string; transaction_time: string } & Record<string, unknown>)[] {
    return [...this.fills]
      .sort((a, b) => a.time - b.time)
      .filter((f) => f.fee !== null)
      .map((f) => ({
        id: `${f.id}-fee`,
        activity_type: 'CFEE',
        transaction_time: new Date(f.time + 1000).toISOString(),
        date: new Date(f.time).toISOString().slice(0, 10),
        symbol: f.symbol,
        qty: f.fee!.asset === 'base' ? String(-f.fee!.amount) : '0',
        price: String(f.price),
        net_amount: f.fee!.asset === 'quote' ? String(-f.fee!.amount) : '0',
        description: f.fee!.asset === 'base' ? 'Coin Pair Transaction Fee (Non USD)' : 'Coin Pair Transaction Fee (USD)',
        status: 'executed',
        ...(f.fee!.withOrderId ? { order_id: f.orderId } : {}),
      }));
  }

  private orders(): { submitted_at: string }[] {
    const first = new Map<string, FakeFill>();
    const qty = new Map<string, number>();
    for (const f of [...this.fills].sort((a, b) => a.time - b.time)) {
      if (!first.has(f.orderId)) first.set(f.orderId, f);
      qty.set(f.orderId, (qty.get(f.orderId) ?? 0) + f.qty);
    }
    return [...first.values()].map((f) => {
      const submitted = new Date(f.time - 2000).toISOString();
      return {
        id: f.orderId,
        client_order_id: f.clientOrderId,
        created_at: submitted,
        updated_at: new Date(f.time).toISOString(),
        submitted_at: submitted,
        filled_at: new Date(f.time).toISOString(),
        asset_class: 'crypto',
        symbol: f.symbol,
        notional: null,
        qty: String(qty.get(f.orderId)),
        filled_qty: String(qty.get(f.orderId)),
        filled_avg_price: String(f.price),
        order_class: '',
        order_type: 'market',
        type: 'market',
        side: f.side,
        time_in_force: 'gtc',
        status: 'filled',
        extended_hours: false,
      };
    });
  }
}

function inRange(iso: string, after: number, until: number): boolean {
  const t = Date.parse(iso);
  return t > after && t <= until;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
