/**
 * The look-ahead audit: at sampled decision bars τ, the observation built from the bars truncated at
 * τ (the future removed) must equal, value for value, the one built from the full series. A difference
 * means some feature read a bar after τ — a backtest that saw the future — and the model is flagged
 * LOOKAHEAD (DROP).
 *
 * The comparison is exact (float32 bit equality): every feature is a bit-exact function of its
 * trailing span (features.ts), so removing bars after τ cannot change a correct value in any bit.
 * Building the truncated observation may also fail (a feature that needs bar τ + 1 finds none); that
 * is a mismatch too.
 *
 * Cost: the first check builds from the shortest view that holds a valid observation at τ — bars
 * τ − warm-up … τ — so 16 checks cost 16 warm-ups, not 16 full series. Only when that differs is the
 * view of bars 0 … τ built as well, to tell the two causes apart: if the full-history view still
 * differs, the future leaked (LOOKAHEAD); if it matches, the observation depends on bars older than
 * its declared warm-up (a history dependence: reported, not a look-ahead).
 *
 * Pure: the bars to check come from the seeded sampler below. Asynchronous only because building a view
 * may need its feature graph run (src/app/feature-graph.ts).
 */
import type { ObservationState } from './observation.js';
import type { Rng } from './stats/bootstrap.js';
import type { BarSeries } from './types.js';

/** What the audit needs from an observation builder (ObservationBuilder fits). */
export interface ObservationSource {
  readonly size: number;
  readonly firstValidIndex: number;
  build(tau: number, state: ObservationState, out: Float32Array, offset?: number): Float32Array;
  locate?(index: number): { label: string };
}

export interface LookaheadAudit {
  /** Bars requested by the config. */
  samples: number;
  seed: number;
  /** Bars actually checked (fewer when the window has fewer decision bars). */
  checked: number;
  /** ISO start times of the checked bars, oldest first. */
  bars: string[];
  mismatches: number;
  /** One line per mismatching bar (at most 5), naming the first differing value. */
  details: string[];
  /** Bars whose observation changed without the bars before the warm-up (but not without the future). */
  historyDependent: number;
  historyDetails: string[];
}

/** Bars `from` … `tau` of `bars`, as views (no copy); the first `tau + 1` bars by default. */
export function truncateSeries(bars: BarSeries, tau: number, from = 0): BarSeries {
  const end = tau + 1;
  // Other symbols' bars are cut at the same time: nothing that starts after bar τ stays.
  const last = bars.time[tau]!;
  const others =
    bars.others === undefined
      ? undefined
      : Object.fromEntries(
          Object.entries(bars.others).map(([symbol, o]) => {
            let n = 0;
            while (n < o.time.length && o.time[n]! <= last) n++;
            return [symbol, truncateSeries(o, n - 1)];
          }),
        );
  return {
    ...(others === undefined ? {} : { others }),
    symbol: bars.symbol,
    timeframe: bars.timeframe,
    time: bars.time.subarray(from, end),
    open: bars.open.subarray(from, end),
    high: bars.high.subarray(from, end),
    low: bars.low.subarray(from, end),
    close: bars.close.subarray(from, end),
    volume: bars.volume.subarray(from, end),
  };
}

/** Up to `count` distinct integers from [from, to], drawn with `rng`, ascending. */
export function sampleBars(from: number, to: number, count: number, rng: Rng): number[] {
  const span = to - from + 1;
  if (span <= 0 || count <= 0) return [];
  if (count >= span) return Array.from({ length: span }, (_, i) => from + i);
  const picked = new Set<number>();
  while (picked.size < count) picked.add(from + Math.floor(rng() * span));
  return [...picked].sort((a, b) => a - b);
}

const MAX_DETAILS = 5;

/**
 * Compares, at each τ in `taus`, the observation `full` builds with the one `makeBuilder(bars 0…τ)`
 * builds, both with the same decision-time `state`.
 */
export async function auditLookahead(
  bars: BarSeries,
  full: ObservationSource,
  makeBuilder: (bars: BarSeries) => ObservationSource | Promise<ObservationSource>,
  taus: readonly number[],
  opts: { samples: number; seed: number; state: ObservationState },
): Promise<LookaheadAudit> {
  const details: string[] = [];
  const historyDetails: string[] = [];
  let mismatches = 0;
  let historyDependent = 0;
  const a = new Float32Array(full.size);
  const iso = (i: number): string => new Date(bars.time[i]!).toISOString();
  /** Null when the view's observation at τ equals `a`; else what differs ("without …" completes the sentence). */
  const compare = async (from: number, tau: number, without: string): Promise<string | null> => {
    try {
      const truncated = await makeBuilder(truncateSeries(bars, tau, from));
      const b = truncated.build(tau - from, opts.state, new Float32Array(truncated.size));
      if (b.length !== a.length) return `the observation has ${a.length} values with the full data but ${b.length} without ${without}`;
      for (let i = 0; i < a.length; i++) {
        if (!Object.is(a[i], b[i])) {
          const label = full.locate ? full.locate(i).label : `value ${i}`;
          return `value ${i} (${label}) is ${a[i]} with the full data but ${b[i]} without ${without}`;
        }
      }
      return null;
    } catch (err) {
      return `it cannot be built without ${without} (${err instanceof Error ? err.message : String(err)})`;
    }
  };
  for (const tau of taus) {
    full.build(tau, opts.state, a);
    const from = Math.max(0, tau - full.firstValidIndex);
    const short = await compare(from, tau, from === 0 ? 'the bars after it' : 'the bars after it and those before its warm-up');
    if (short === null) continue;
    const future = from === 0 ? short : await compare(0, tau, 'the bars after it');
    if (future !== null) {
      mismatches++;
      if (details.length < MAX_DETAILS) details.push(`observation at ${iso(tau)}: ${future}`);
    } else {
      historyDependent++;
      if (historyDetails.length < MAX_DETAILS) historyDetails.push(`observation at ${iso(tau)}: ${short}`);
    }
  }
  return { samples: opts.samples, seed: opts.seed, checked: taus.length, bars: taus.map(iso), mismatches, details, historyDependent, historyDetails };
}
