/**
 * A deliberately naive, independent reference for the feature vocabulary (SPEC section 3 table) and
 * the observation layout. It works on plain bar objects, computes one value at a time straight from
 * the formula, and is handed only the bars up to the decision bar (so it cannot look ahead). It does
 * not import anything from src/core except types.
 */
import type { PlainBar } from './bars.js';

export interface RefFeature {
  name: string;
  lag?: number;
  period?: number;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

function sampleStd(xs: number[]): number {
  if (xs.every((x) => x === xs[0])) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.map((x) => (x - m) ** 2).reduce((a, b) => a + b, 0) / (xs.length - 1));
}

/** Bars at offsets back from the end: back(0) = the last bar; undefined when not available. */
function backOf(bars: readonly PlainBar[]): (k: number) => PlainBar | undefined {
  return (k) => bars[bars.length - 1 - k];
}

/** The last `n` values of f(bar index) over `bars`, or undefined when fewer exist. */
function lastN<T>(bars: readonly PlainBar[], n: number, needBefore: number, f: (i: number) => T): T[] | undefined {
  if (bars.length < n + needBefore) return undefined;
  const out: T[] = [];
  for (let i = bars.length - n; i < bars.length; i++) out.push(f(i));
  return out;
}

/**
 * The value of a per-bar feature at the LAST bar of `bars` (so callers pass bars.slice(0, τ + 1)).
 * NaN when the history is too short.
 */
export function refColumnValue(bars: readonly PlainBar[], f: RefFeature): number {
  const back = backOf(bars);
  const now = back(0)!;
  switch (f.name) {
    case 'log_return':
    case 'return': {
      const past = back(f.lag ?? 1);
      if (past === undefined) return NaN;
      return f.name === 'log_return' ? Math.log(now.c / past.c) : now.c / past.c - 1;
    }
    case 'volatility': {
      const r = lastN(bars, f.period!, 1, (i) => Math.log(bars[i].c / bars[i - 1].c));
      return r === undefined ? NaN : sampleStd(r);
    }
    case 'rsi': {
      const d = lastN(bars, f.period!, 1, (i) => bars[i].c - bars[i - 1].c);
      if (d === undefined) return NaN;
      const gain = mean(d.map((x) => Math.max(x, 0)));
      const loss = mean(d.map((x) => Math.max(-x, 0)));
      return gain === 0 && loss === 0 ? 0.5 : gain / (gain + loss);
    }
    case 'sma_ratio': {
      const c = lastN(bars, f.period!, 0, (i) => bars[i].c);
      return c === undefined ? NaN : now.c / mean(c) - 1;
    }
    case 'ema_ratio': {
      const n = f.period!;
      const c = lastN(bars, 4 * n, 0, (i) => bars[i].c);
      if (c === undefined) return NaN;
      const alpha = 2 / (n + 1);
      let ema = mean(c.slice(0, n));
      for (const x of c.slice(n)) ema += alpha * (x - ema);
      return now.c / ema - 1;
    }
    case 'range':
      return (now.h - now.l) / now.c;
    case 'body':
      return (now.c - now.o) / now.o;
    case 'volume_z': {
      const v = lastN(bars, f.period!, 0, (i) => bars[i].v);
      if (v === undefined) return NaN;
      const sd = sampleStd(v);
      return sd === 0 ? 0 : (now.v - mean(v)) / sd;
    }
    case 'hour_sin':
    case 'hour_cos': {
      const angle = (2 * Math.PI * new Date(now.t).getUTCHours()) / 24;
      return f.name === 'hour_sin' ? Math.sin(angle) : Math.cos(angle);
    }
    case 'dow_sin':
    case 'dow_cos': {
      const mondayZero = (new Date(now.t).getUTCDay() + 6) % 7; // getUTCDay: Sunday = 0
      const angle = (2 * Math.PI * mondayZero) / 7;
      return f.name === 'dow_sin' ? Math.sin(angle) : Math.cos(angle);
    }
  }
  throw new Error(`reference: ${f.name} is not a per-bar feature`);
}

export interface RefCard {
  window: number;
  features: RefFeature[];
  normalize?: { mean: number[]; std: number[] };
  clip?: number;
}

/**
 * The observation at the last bar of `bars` (pass bars.slice(0, τ + 1)), as float64 values before the
 * float32 store: rows oldest first, feature-major inside a row. Undefined when any value is missing.
 */
export function refObservation(bars: readonly PlainBar[], card: RefCard, state: { position: number; unrealizedReturn: number }): number[] | undefined {
  const W = card.window;
  if (bars.length < W) return undefined;
  const decision = bars[bars.length - 1];
  const windowBars = bars.slice(bars.length - W);
  const volumeMean = mean(windowBars.map((b) => b.v));
  const out: number[] = [];
  for (let r = 0; r < W; r++) {
    const rowBars = bars.slice(0, bars.length - W + 1 + r); // history up to this row's bar
    const bar = rowBars[rowBars.length - 1];
    card.features.forEach((f, k) => {
      let x: number;
      switch (f.name) {
        case 'open_rel':
          x = bar.o / decision.c - 1;
          break;
        case 'high_rel':
          x = bar.h / decision.c - 1;
          break;
        case 'low_rel':
          x = bar.l / decision.c - 1;
          break;
        case 'close_rel':
          x = bar.c / decision.c - 1;
          break;
        case 'volume_rel':
          x = volumeMean === 0 ? 0 : bar.v / volumeMean - 1;
          break;
        case 'position':
          x = state.position;
          break;
        case 'unrealized_return':
          x = state.unrealizedReturn;
          break;
        default:
          x = refColumnValue(rowBars, f);
      }
      if (card.normalize) x = (x - card.normalize.mean[k]) / card.normalize.std[k];
      if (card.clip !== undefined) x = Math.min(card.clip, Math.max(-card.clip, x));
      out.push(x);
    });
  }
  return out.some((x) => Number.isNaN(x)) ? undefined : out;
}

/**
 * True when a and b agree to `rel` relative, with an absolute floor `abs` for values that are small
 * differences of nearly equal numbers (returns and ratios near 0 lose relative precision to
 * cancellation whatever the summation order). Two NaNs agree.
 */
export function close(a: number, b: number, rel = 1e-12, abs = 1e-15): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  return Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b)) + abs;
}
