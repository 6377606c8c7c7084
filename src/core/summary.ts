/**
 * Reading a training summary (SPEC section 2): tolerant in the shapes it reads, strict in what it
 * accepts as a number. A bad metric never breaks the run: it becomes METRIC_INVALID for its model.
 */
import { inputError } from './errors.js';
import { jsonSyntaxReason, prepareJson, type JsonCheckOptions } from './json.js';

export { jsonSyntaxReason };
import { isTimeframe, METRIC_KEYS, type MetricKey, type Timeframe } from './types.js';

/** A metric history: finite numbers, or a reason the history is not usable. */
export type MetricHistory = { ok: true; values: number[] } | { ok: false; reason: string };

export interface SummaryCheckpoint {
  index: number;
  model: string | null;
}

export interface SummaryEntry {
  /** The key in the summary's `symbols` map (a symbol or a model id). */
  key: string;
  id: string;
  symbol: string;
  timeframe: Timeframe;
  /** Where the timeframe came from, for the report. */
  timeframeSource: 'key' | 'entry' | 'model file' | 'default';
  model: string | null;
  trainStart: string | null;
  trainEnd: string | null;
  metrics: Record<MetricKey, MetricHistory>;
  checkpoints: SummaryCheckpoint[];
  /** An inline policy card (`card` object in the entry), if any. */
  card: unknown;
  /** Problems with this entry that do not concern a single metric. */
  problems: string[];
}

export interface TrainingSummary {
  runId: string | null;
  entries: SummaryEntry[];
}

const NON_FINITE_MARK = '\u0000nonfinite:';

/**
 * JSON.parse that also reads the bare NaN / Infinity / -Infinity tokens Python's json module writes.
 * They become marker strings, so the metric they stand in is reported as invalid, never guessed.
 */
export function parseJsonTolerant(text: string, file: string, options: JsonCheckOptions = {}): unknown {
  // A BOM is dropped; depth, duplicate keys and member caps are checked before anything is parsed.
  text = prepareJson(text, file, options);
  let out = '';
  let i = 0;
  let last = 0;
  const n = text.length;
  while (i < n) {
    const ch = text.charCodeAt(i);
    if (ch === 34 /* " */) {
      i++;
      while (i < n) {
        const c = text.charCodeAt(i);
        if (c === 92 /* \ */) i += 2;
        else if (c === 34) break;
        else i++;
      }
      i++;
      continue;
    }
    let token: string | null = null;
    if (text.startsWith('NaN', i)) token = 'NaN';
    else if (text.startsWith('-Infinity', i)) token = '-Infinity';
    else if (text.startsWith('Infinity', i)) token = 'Infinity';
    if (token) {
      out += text.slice(last, i) + JSON.stringify(NON_FINITE_MARK + token);
      i += token.length;
      last = i;
      continue;
    }
    i++;
  }
  out += text.slice(last);
  try {
    return JSON.parse(out);
  } catch (err) {
    throw inputError(`${file}: not valid JSON (${jsonSyntaxReason(out, err)}); fix or re-export the training summary`, file, err);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string' && value.startsWith(NON_FINITE_MARK)) return value.slice(NON_FINITE_MARK.length);
  if (value === undefined) return 'missing';
  return JSON.stringify(value);
}

/** A value read by parseJsonTolerant, for a message: NaN / Infinity / -Infinity as written, else JSON. */
export const describeJsonValue = describe;

function readHistory(raw: unknown, key: MetricKey): MetricHistory {
  if (raw === undefined) return { ok: false, reason: `${key} is missing` };
  const values = Array.isArray(raw) ? raw : [raw];
  if (values.length === 0) return { ok: false, reason: `${key} is an empty history` };
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      return { ok: false, reason: `${key}[${i}] is ${describe(v)}, not a finite number` };
    }
    out.push(v);
  }
  return { ok: true, values: out };
}

const ID_PATTERN = /^(.+)_(1Min|5Min|15Min|30Min|1Hour|2Hour|4Hour|1Day)$/;

/** Split a model id or file stem `<SYMBOL>_<TIMEFRAME>` into its parts; null when it has no timeframe. */
export function splitModelId(stem: string): { symbol: string; timeframe: Timeframe } | null {
  const m = ID_PATTERN.exec(stem);
  if (!m) return null;
  return { symbol: m[1]!, timeframe: m[2] as Timeframe };
}

function fileStem(path: string): string {
  const base = path.split('/').pop() ?? path;
  return base.replace(/\.(onnx|pt|pth)$/i, '');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function looksLikeEntry(v: unknown): v is Record<string, unknown> {
  if (!isObject(v)) return false;
  if (isObject(v['metrics'])) return true;
  return METRIC_KEYS.some((k) => k in v);
}

function optString(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

function readEntry(key: string, raw: Record<string, unknown>, file: string): SummaryEntry {
  const problems: string[] = [];
  const metricsObj = isObject(raw['metrics']) ? raw['metrics'] : raw;
  const metrics = {} as Record<MetricKey, MetricHistory>;
  for (const k of METRIC_KEYS) metrics[k] = readHistory(metricsObj[k], k);

  const model = optString(raw['model']);
  const fromKey = splitModelId(key);
  const symbol = fromKey?.symbol ?? optString(raw['symbol']) ?? key;
  let timeframe: Timeframe = '1Hour';
  let timeframeSource: SummaryEntry['timeframeSource'] = 'default';
  const tfRaw = raw['timeframe'];
  const fromModel = model ? splitModelId(fileStem(model)) : null;
  if (fromKey) {
    timeframe = fromKey.timeframe;
    timeframeSource = 'key';
    if (tfRaw !== undefined && tfRaw !== fromKey.timeframe) {
      problems.push(`timeframe ${JSON.stringify(tfRaw)} contradicts the key "${key}"`);
    }
  } else if (tfRaw !== undefined) {
    if (isTimeframe(tfRaw)) {
      timeframe = tfRaw;
      timeframeSource = 'entry';
    } else {
      problems.push(`timeframe ${JSON.stringify(tfRaw)} is not one of 1Min, 5Min, 15Min, 30Min, 1Hour, 2Hour, 4Hour, 1Day`);
    }
  } else if (fromModel) {
    timeframe = fromModel.timeframe;
    timeframeSource = 'model file';
  }

  const checkpoints: SummaryCheckpoint[] = [];
  const cps = raw['checkpoints'];
  if (cps !== undefined) {
    if (!Array.isArray(cps)) {
      problems.push('checkpoints must be a list of {index, model}');
    } else {
      cps.forEach((cp, i) => {
        if (!isObject(cp) || typeof cp['index'] !== 'number' || !Number.isInteger(cp['index']) || cp['index'] < 0) {
          problems.push(`checkpoints[${i}] must be {index: non-negative integer, model: path}`);
          return;
        }
        checkpoints.push({ index: cp['index'], model: optString(cp['model']) });
      });
    }
  }

  const dateOrNull = (name: string): string | null => {
    const v = raw[name];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) {
      problems.push(`${name} ${JSON.stringify(v)} is not an ISO 8601 date`);
      return null;
    }
    return new Date(Date.parse(v)).toISOString();
  };

  void file;
  return {
    key,
    id: `${symbol}_${timeframe}`,
    symbol,
    timeframe,
    timeframeSource,
    model,
    trainStart: dateOrNull('train_start'),
    trainEnd: dateOrNull('train_end'),
    metrics,
    checkpoints,
    card: raw['card'],
    problems,
  };
}

/**
 * The most model entries a training summary may hold. A training run has tens of models (60 is a
 * large one); every entry is gated, located in the archive and reported, so the count bounds the
 * run's work: 1,000 leaves room for any real run and refuses a summary built to exhaust the runner
 * (a million entries fit in a 3 MB zip). Counted while scanning the text, before it is parsed.
 */
export const MAX_SUMMARY_ENTRIES = 1000;

/** Parse a training summary's text. Shapes: `{symbols: {...}}`, the symbols map itself, or `symbols` as a list. */
export function parseTrainingSummary(text: string, file: string, maxEntries = MAX_SUMMARY_ENTRIES): TrainingSummary {
  const doc = parseJsonTolerant(text, file, {
    cap: {
      // the entries live in "symbols" (or "models"), a map or a list, or are the top level itself
      applies: (path) => path.length === 0 || (path.length === 1 && (path[0] === 'symbols' || path[0] === 'models')),
      max: maxEntries,
      message: (path, count) =>
        `${path.length === 0 ? 'the training summary' : `"${path[0]}"`} holds ${count} entries, more than the limit of ${maxEntries} models per training summary; ` +
        'refusing the archive. Split the run into archives of at most that many models.',
    },
  });
  if (!isObject(doc)) {
    throw inputError(`${file}: a training summary must be a JSON object with a "symbols" map`, file);
  }
  const runId = optString(doc['run_id']) ?? optString(doc['timestamp']);
  const symbols = doc['symbols'] ?? doc['models'];
  const entries: SummaryEntry[] = [];

  if (Array.isArray(symbols)) {
    symbols.forEach((item, i) => {
      if (!isObject(item)) throw inputError(`${file}: symbols[${i}] is not an object`, file);
      const key = optString(item['id']) ?? optString(item['symbol']);
      if (!key) throw inputError(`${file}: symbols[${i}] has no "symbol" (or "id")`, file);
      entries.push(readEntry(key, item, file));
    });
  } else if (isObject(symbols)) {
    for (const [key, value] of Object.entries(symbols)) {
      if (!isObject(value)) throw inputError(`${file}: symbols.${key} is not an object`, file);
      entries.push(readEntry(key, value, file));
    }
  } else if (symbols === undefined) {
    // The top level is the symbols map itself; metadata keys with non-entry values are skipped.
    for (const [key, value] of Object.entries(doc)) {
      if (looksLikeEntry(value)) entries.push(readEntry(key, value, file));
    }
  } else {
    throw inputError(`${file}: "symbols" must be a map of symbol → entry or a list of entries`, file);
  }

  if (entries.length === 0) {
    throw inputError(`${file}: no model entries found (expected "symbols": { "<SYMBOL>": { "metrics": { "fitness_score": [...], ... } } })`, file);
  }
  const seen = new Map<string, string>();
  for (const e of entries) {
    const prev = seen.get(e.id);
    if (prev !== undefined) {
      throw inputError(`${file}: entries "${prev}" and "${e.key}" both describe model ${e.id}; keep one`, file);
    }
    seen.set(e.id, e.key);
  }
  return { runId, entries };
}
