/**
 * The Alpaca market-data source (`--data alpaca`, SPEC section 4). See docs/market-data.md.
 */
export { AlpacaBarsSource, historyRange, parseWireBars, DEFAULT_DEADLINE_MS, DEFAULT_MAX_REQUESTS_PER_MINUTE, DEFAULT_TIMEOUT_MS } from './source.js';
export type { AlpacaSourceOptions, AlpacaBarsResult } from './source.js';
export { readAlpacaKeys, parseKeysFile, missingKeysMessage, KEY_ID_ENV, SECRET_ENV, KEYS_FILE_ENV, KEY_FILE_LAYOUTS } from './keys.js';
export type { AlpacaKeys } from './keys.js';
export { toAlpacaSymbol } from './symbols.js';
export { Redactor, secretForms, REDACTED } from './redact.js';
export { dataBaseUrl, DATA_URL_ENV, DEFAULT_DATA_HOST } from './http.js';
export { cacheFilePath, CACHE_SUBDIR } from './cache.js';
export type { CacheKey } from './cache.js';
export { isTradingDay, regularSession, nyDay, nyTimeToUtc } from '../../core/calendar.js';
export { equityGapNotes } from '../../core/gaps.js';
