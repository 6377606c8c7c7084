/**
 * Symbol spelling between policy-gate (training summaries write crypto pairs as `UNIUSD`) and
 * Alpaca's market-data API (`UNI/USD` for crypto, `AAPL` / `BRK.B` for stocks).
 */
import { inputError } from '../../core/errors.js';
import type { AssetClass } from '../../core/types.js';

/** Quote currencies Alpaca lists crypto pairs against, longest first so `USDT` wins over `USD`. */
const CRYPTO_QUOTES = ['USDT', 'USDC', 'USD', 'BTC'];

/** `UNIUSD` → `UNI/USD`, `btc/usd` → `BTC/USD`, `aapl` → `AAPL`. Throws an input error for anything Alpaca cannot name. */
export function toAlpacaSymbol(symbol: string, assetClass: AssetClass): string {
  const s = symbol.trim().toUpperCase();
  if (assetClass === 'crypto') {
    if (/^[A-Z0-9]{1,15}\/[A-Z0-9]{2,10}$/.test(s)) return s;
    const compact = s.replace(/[-_]/g, '');
    if (/^[A-Z0-9]{3,25}$/.test(compact)) {
      for (const q of CRYPTO_QUOTES) {
        if (compact.endsWith(q) && compact.length > q.length) return `${compact.slice(0, -q.length)}/${q}`;
      }
    }
    throw inputError(`crypto symbol '${symbol}' is not a pair Alpaca can name: write it as BASE/QUOTE (e.g. BTC/USD) or BASEQUOTE with quote ${CRYPTO_QUOTES.join(', ')} (e.g. UNIUSD)`, symbol);
  }
  if (/^[A-Z][A-Z0-9]{0,9}([.-][A-Z0-9]{1,4})?$/.test(s)) return s;
  throw inputError(`stock symbol '${symbol}' is not a ticker Alpaca can name (letters and digits, optionally a class suffix like BRK.B)`, symbol);
}
