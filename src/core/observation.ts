/**
 * Builds a policy's observation at a decision bar τ (SPEC section 3).
 *
 * Layout: the W most recent feature rows, bars τ−W+1 … τ, flattened time-major (index = row·F +
 * feature, oldest row first). Window-relative features use the decision bar τ (close_rel = c_row /
 * c_τ − 1; volume_rel = v_row / mean(v over the W rows) − 1). State features (position,
 * unrealized_return) hold the decision-time value in every row. Then (x − mean) / std per feature (or
 * per observation element, when the card gives W·F values: VecNormalize over stacked frames) and clip
 * to [−clip, clip], computed in float64 and stored as float32.
 *
 * Reads only bars ≤ τ: every column feature at bar i is a pure function of bars ≤ i (features.ts), and
 * the window-relative features read bars τ−W+1 … τ.
 *
 * Speed (docs/performance.md): a column feature's normalised, clipped value at bar i does not depend
 * on the decision bar, so it is computed once per bar into a row matrix (float32, bar-major, F values
 * per bar). Because the observation is time-major with consecutive bars, the column part of the
 * observation at τ is then ONE contiguous slice of that matrix (bars τ−W+1 … τ), copied with a single
 * `set`; only window-relative and state features are computed per decision and written over it. The
 * values are the same float64 expressions rounded once to float32, so the result is bit-identical to
 * computing every value per decision (the tests compare with such a definition, written on their own).
 * A window holding a non-finite value is an error naming the first one in build()'s order
 * (`firstNonFinite`); what `out` holds after such an error is unspecified.
 * Feature columns are shared between consecutive builders on the same BarSeries object (a checkpoint
 * and its final model), guarded by an exact snapshot of the bars so a series changed in place is
 * recomputed.
 */
import { inputError } from './errors.js';
import { warmupBars, type PolicyCard } from './card.js';
import { computeFeatureColumns, featureKind, featureLabel, type FeatureColumnCache, type FeatureSpec } from './features.js';
import type { BarSeries } from './types.js';

export interface ObservationState {
  /** Current exposure: position value / equity, in [−1, 1]. */
  readonly position: number;
  /** Return of the open position since its (average) entry price; 0 when flat. */
  readonly unrealizedReturn: number;
}

export const FLAT_STATE: ObservationState = Object.freeze({ position: 0, unrealizedReturn: 0 });

/**
 * The flat indices (row·F + feature, ascending) of a card's state features: the values of an
 * observation that depend on the simulated position rather than on the decision bar.
 */
export function stateIndicesOf(card: Pick<PolicyCard, 'observation'>): Int32Array {
  return stateColumnsOf(card).indices;
}

/** A card's state columns, and which of them always hold the same value. */
export interface StateColumns {
  /** The flat indices (row·F + feature, ascending) of the state features. */
  readonly indices: Int32Array;
  /** For each of `indices`, its group: the columns of one group hold the same value in every observation. */
  readonly groupOf: Int32Array;
  /** For each group, its first flat index (groups are numbered in the order their first index comes). */
  readonly groupFirst: Int32Array;
}

/**
 * The state columns of a card, grouped by the value they hold. A state feature holds the decision-time
 * value in every row, so its W columns hold the same normalised value whenever they are normalised with
 * the same mean and std (always, under per-feature normalisation): a group is one feature with one
 * (mean, std) pair. The first-layer split multiplies each group once, by the sum of its weights.
 */
export function stateColumnsOf(card: Pick<PolicyCard, 'observation'>): StateColumns {
  const { window, features, normalize } = card.observation;
  const F = features.length;
  // Under per-feature statistics every row of a feature has the same ones: the feature alone is the key.
  const at = (xs: readonly number[] | undefined, e: number): string => (xs === undefined || xs.length === F ? '' : ` ${xs[e]!}`);
  const indices: number[] = [];
  const groupOf: number[] = [];
  const groupFirst: number[] = [];
  const groups = new Map<string, number>();
  for (let r = 0; r < window; r++) {
    for (let f = 0; f < F; f++) {
      if (featureKind(features[f]!) !== 'state') continue;
      const e = r * F + f;
      const key = `${f}${at(normalize?.mean, e)}${at(normalize?.std, e)}`;
      let g = groups.get(key);
      if (g === undefined) {
        g = groupFirst.push(e) - 1;
        groups.set(key, g);
      }
      indices.push(e);
      groupOf.push(g);
    }
  }
  return { indices: Int32Array.from(indices), groupOf: Int32Array.from(groupOf), groupFirst: Int32Array.from(groupFirst) };
}

/**
 * The feature layout of a card's observation for the trunk as a convolution over time: W, F, the
 * column features and the window-relative ones (ascending). Null under per-element normalisation, where
 * a column value depends on the row it takes in the observation.
 */
export function convLayoutOf(card: Pick<PolicyCard, 'observation'>): { window: number; features: number; column: Int32Array; windowed: Int32Array } | null {
  const { window, features, normalize } = card.observation;
  const F = features.length;
  if (normalize !== null && (normalize.mean.length !== F || normalize.std.length !== F)) return null;
  const of = (kind: string): Int32Array => Int32Array.from(features.flatMap((f, i) => (featureKind(f) === kind ? [i] : [])));
  return { window, features: F, column: of('column'), windowed: of('window') };
}

// How each feature's raw value is obtained.
const COLUMN = 0;
const OPEN_REL = 1;
const HIGH_REL = 2;
const LOW_REL = 3;
const CLOSE_REL = 4;
const VOLUME_REL = 5;
const POSITION = 6;
const UNREALIZED = 7;

/** x clipped to [−clip, clip]. */
function clipTo(x: number, clip: number): number {
  // Stryker disable next-line EqualityOperator: at x = ±clip either comparison gives ±clip
  return x > clip ? clip : x < -clip ? -clip : x;
}

function sourceOf(spec: FeatureSpec): number {
  switch (spec.name) {
    case 'open_rel':
      return OPEN_REL;
    case 'high_rel':
      return HIGH_REL;
    case 'low_rel':
      return LOW_REL;
    case 'close_rel':
      return CLOSE_REL;
    case 'volume_rel':
      return VOLUME_REL;
    case 'position':
      return POSITION;
    case 'unrealized_return':
      return UNREALIZED;
    default:
      return COLUMN;
  }
}

export class ObservationBuilder {
  /** W */
  readonly window: number;
  /** F */
  readonly featureCount: number;
  /** W · F: the length of one observation. */
  readonly size: number;
  /** F_w: the number of window-relative features (buildWindowed writes W · F_w values). */
  readonly windowedCount: number;
  /** Number of bars in the series. */
  readonly length: number;
  /** The smallest τ with a complete observation (= warmupBars(card)); ≥ length when there is none. */
  readonly firstValidIndex: number;
  /**
   * True when a state feature is present: observations then depend on the position path and must be
   * built step by step with the simulator's state; buildBatch refuses.
   */
  readonly usesState: boolean;

  private readonly card: PolicyCard;
  private readonly bars: BarSeries;
  private readonly features: readonly FeatureSpec[];
  /** The feature columns, computed when first read (a builder used only on a few bars may never need them). */
  private computedColumns: (Float64Array | null)[] | null = null;
  /** The first decision bar this builder builds (constructor option `from`). */
  private readonly decisionsFrom: number;
  private readonly sources: Uint8Array;
  /** Per observation element (W·F, time-major); rows repeat the per-feature values unless perElement. */
  private readonly mean: Float64Array;
  private readonly std: Float64Array;
  /** The card normalises each observation element on its own (VecNormalize over stacked frames). */
  private readonly perElement: boolean;
  private readonly clip: number;
  /** [clip]: read through a Float64Array so optimised code keeps it (and the values it bounds) unboxed. */
  private readonly clipBox: Float64Array;
  private readonly needsVolumeMean: boolean;
  /** Indices of the window-relative features (computed per decision). */
  private readonly windowed: Int32Array;
  /** Indices of the state features (the decision-time state in every row). */
  private readonly stateful: Int32Array;
  private prepared: PreparedRows | null = null;
  private stateGroups: StateColumns | null = null;

  /**
   * `opts.from`: the first decision bar this builder will build (default 0): the feature columns are then
   * computed from that observation's first row on (a look-ahead audit's view is built at its last bar alone).
   */
  constructor(card: PolicyCard, bars: BarSeries, opts: { from?: number } = {}) {
    const { window, features, normalize, clip } = card.observation;
    this.card = card;
    this.bars = bars;
    this.features = features;
    this.window = window;
    this.featureCount = features.length;
    this.size = window * features.length;
    this.length = bars.close.length;
    this.firstValidIndex = warmupBars(card);
    this.decisionsFrom = Math.max(0, opts.from ?? 0);
    // Columns that can be missing (a feature graph not run on these bars, another symbol's bars not
    // fetched) are computed now, so a builder that cannot build says so when it is made.
    if (features.some((f) => f.name === 'graph' || f.symbol !== undefined)) void this.columns;
    this.sources = Uint8Array.from(features, sourceOf);
    const indices = features.map((_, f) => f);
    this.windowed = Int32Array.from(indices.filter((f) => this.sources[f] >= OPEN_REL && this.sources[f] <= VOLUME_REL));
    this.stateful = Int32Array.from(indices.filter((f) => this.sources[f] === POSITION || this.sources[f] === UNREALIZED));
    this.windowedCount = this.windowed.length;
    this.usesState = features.some((f) => featureKind(f) === 'state');
    this.needsVolumeMean = features.some((f) => f.name === 'volume_rel');
    // Per observation element (W·F values): a per-feature normalisation is repeated for every row.
    const F = features.length;
    this.perElement = normalize !== null && normalize.mean.length !== F;
    const expand = (xs: readonly number[] | undefined, fill: number): Float64Array => {
      const out = new Float64Array(window * F);
      if (xs === undefined) out.fill(fill);
      // Stryker disable next-line EqualityOperator: a typed array ignores a write past its end
      else if (xs.length === F) for (let i = 0; i < out.length; i++) out[i] = xs[i % F]!;
      // Stryker disable next-line EqualityOperator: a typed array ignores a write past its end
      else for (let i = 0; i < out.length; i++) out[i] = xs[i]!;
      return out;
    };
    // Read-only and the same for every builder of this card (the look-ahead audit makes one per sampled bar).
    let norm = expandedNormalize.get(card.observation);
    if (norm === undefined || norm.normalize !== normalize || norm.mean.length !== window * F) {
      norm = { normalize, mean: expand(normalize?.mean, 0), std: expand(normalize?.std, 1) };
      expandedNormalize.set(card.observation, norm);
    }
    this.mean = norm.mean;
    this.std = norm.std;
    this.clip = clip ?? Infinity;
    this.clipBox = Float64Array.of(this.clip);
  }

  /**
   * The feature columns this builder reads, per feature (null for window-relative and state features):
   * shared with the other builders on the same, unchanged BarSeries object, recomputed when its bars
   * change in place.
   */
  featureColumns(): readonly (Float64Array | null)[] {
    return this.columns;
  }

  /** Every feature's column over the whole series, computed on first use and kept. */
  private get columns(): (Float64Array | null)[] {
    if (this.computedColumns === null) {
      const first = Math.max(0, this.decisionsFrom - this.window + 1);
      // Columns cut at a first bar are this builder's own; whole ones are shared with the series' other builders.
      this.computedColumns = first === 0 ? computeFeatureColumns(this.bars, this.features, columnCacheFor(this.bars)) : computeFeatureColumns(this.bars, this.features, new Map(), first);
    }
    return this.computedColumns;
  }

  /** Whether τ has a complete observation in this series. */
  isValid(tau: number): boolean {
    return Number.isInteger(tau) && tau >= this.firstValidIndex && tau < this.length;
  }

  /**
   * Writes the observation for decision bar τ into out[offset .. offset + size) and returns `out`.
   * Throws when τ is outside the series or inside the warm-up (its observation would hold NaN), or
   * when a value is not finite (bad bars).
   */
  build(tau: number, state: ObservationState, out: Float32Array, offset = 0): Float32Array {
    this.checkTau(tau);
    if (!Number.isInteger(offset) || offset < 0 || offset + this.size > out.length) {
      throw new RangeError(`${this.card.file}: an observation of ${this.size} values does not fit at offset ${offset} of a buffer of ${out.length}`);
    }
    if (this.usesState && !(Number.isFinite(state.position) && Number.isFinite(state.unrealizedReturn))) {
      throw new RangeError(`${this.card.file}: the state at bar ${tau} must be finite, got position ${state.position}, ` + `unrealized return ${state.unrealizedReturn}`);
    }

    const W = this.window;
    const F = this.featureCount;
    const first = tau - W + 1;
    const rows = (this.prepared ??= this.prepareRows());
    if (rows.badPrefix[tau + 1 - rows.from] !== rows.badPrefix[first - rows.from]) {
      // A non-finite column value in the window: the error names the first one.
      throw this.firstNonFinite(tau);
    }
    if (rows.raw === null) out.set(rows.values.subarray((first - rows.from) * F, (tau + 1 - rows.from) * F), offset);
    else this.writeColumnsPerElement(rows.raw, (first - rows.from) * F, out, offset);
    if (this.windowed.length > 0 && !this.writeWindowed(tau, out, offset)) {
      // A non-finite window-relative value: the error names the first one.
      throw this.firstNonFinite(tau);
    }
    const stateful = this.stateful;
    // Stryker disable next-line EqualityOperator: stateful[length] is undefined, and so is every index written with it
    for (let k = 0; k < stateful.length; k++) {
      const f = stateful[k];
      // Finite (checked above); the same value in every row.
      const raw = this.sources[f] === POSITION ? state.position : state.unrealizedReturn;
      const clip = this.clipBox[0];
      for (let r = 0, e = f; r < W; r++, e += F) {
        const x = (raw - this.mean[e]) / this.std[e];
        out[offset + e] = clipTo(x, clip);
      }
    }
    return out;
  }

  /**
   * Writes the window-relative features of the observation at τ, normalised and clipped, into their
   * columns of `out`. False when a raw value is not finite (the caller then takes the reference path).
   */
  private writeWindowed(tau: number, out: Float32Array, offset: number): boolean {
    return this.writeWindowedAt(tau, out, offset, this.featureCount, false);
  }

  /**
   * writeWindowed with another layout: row r of feature f at out[offset + r·stride + (compact ? k : f)],
   * k being f's place among the window-relative features.
   */
  private writeWindowedAt(tau: number, out: Float32Array, offset: number, stride: number, compact: boolean): boolean {
    const { open, high, low, close, volume } = this.bars;
    const W = this.window;
    const F = this.featureCount;
    const first = tau - W + 1;
    const decisionClose = close[tau];
    const volumeMean = this.needsVolumeMean ? this.volumeMean(first, tau) : 0;
    const clip = this.clipBox[0];
    const windowed = this.windowed;
    let finite = true;
    for (let k = 0; k < windowed.length; k++) {
      const f = windowed[k];
      const source = this.sources[f];
      const mean = this.mean;
      const std = this.std;
      const at = offset + (compact ? k : f);
      if (source === VOLUME_REL) {
        for (let r = 0, e = f, o = at; r < W; r++, e += F, o += stride) {
          let x = volumeMean === 0 ? 0 : volume[first + r] / volumeMean - 1;
          if (!Number.isFinite(x)) finite = false;
          x = (x - mean[e]) / std[e];
          out[o] = clipTo(x, clip);
        }
        continue;
      }
      const price = source === OPEN_REL ? open : source === HIGH_REL ? high : source === LOW_REL ? low : close;
      if (!this.perElement) {
        // Every row of the feature has its mean and std (the same values as mean[e], std[e] below, read once).
        const m = mean[f];
        const sd = std[f];
        for (let r = 0, o = at; r < W; r++, o += stride) {
          let x = price[first + r] / decisionClose - 1;
          if (!Number.isFinite(x)) finite = false;
          x = (x - m) / sd;
          out[o] = clipTo(x, clip);
        }
        continue;
      }
      for (let r = 0, e = f, o = at; r < W; r++, e += F, o += stride) {
        let x = price[first + r] / decisionClose - 1;
        if (!Number.isFinite(x)) finite = false;
        x = (x - mean[e]) / std[e];
        out[o] = clipTo(x, clip);
      }
    }
    return finite;
  }

  /**
   * The normalised, clipped column features of every bar a valid observation can read (bars from
   * firstValidIndex − W + 1 on), bar-major; per-decision features hold 0 until written over.
   */
  private prepareRows(): PreparedRows {
    const F = this.featureCount;
    const n = this.length;
    const from = Math.min(n, Math.max(0, this.firstValidIndex - this.window + 1, this.decisionsFrom - this.window + 1));
    const count = n - from;
    // Per-element normalisation depends on the row a bar takes in the observation: keep the raw values.
    const raw = this.perElement ? new Float64Array(count * F) : null;
    // Stryker disable next-line ConditionalExpression: under per-element normalisation the values are never read
    const values = new Float32Array(raw === null ? count * F : 0);
    const bad = new Uint8Array(count);
    const clip = this.clipBox[0];
    // Stryker disable next-line EqualityOperator: sources[F] is undefined, not COLUMN
    for (let f = 0; f < F; f++) {
      if (this.sources[f] !== COLUMN) continue;
      const column = this.columns[f]!;
      const mean = this.mean[f];
      const std = this.std[f];
      // Stryker disable next-line EqualityOperator: column[n] is undefined, marked bad past the end of `bad`, which ignores it
      for (let i = from; i < n; i++) {
        let x = column[i];
        if (!Number.isFinite(x)) {
          bad[i - from] = 1;
          continue;
        }
        if (raw !== null) {
          raw[(i - from) * F + f] = x;
          continue;
        }
        x = (x - mean) / std;
        values[(i - from) * F + f] = clipTo(x, clip);
      }
    }
    const badPrefix = new Int32Array(count + 1);
    // Stryker disable next-line EqualityOperator,ArithmeticOperator: a write past the end is ignored, and counting down instead of up tells a bad bar from a good one as well (only differences are compared)
    for (let k = 0; k < count; k++) badPrefix[k + 1] = badPrefix[k] + bad[k];
    return { from, values, raw, badPrefix };
  }

  /** The column features of one observation under per-element normalisation (raw values from `at`). */
  private writeColumnsPerElement(raw: Float64Array, at: number, out: Float32Array, offset: number): void {
    const size = this.size;
    const F = this.featureCount;
    const clip = this.clipBox[0];
    const mean = this.mean;
    const std = this.std;
    for (let e = 0, f = 0; e < size; e++) {
      if (this.sources[f] === COLUMN) {
        const x = (raw[at + e] - mean[e]) / std[e];
        out[offset + e] = clipTo(x, clip);
      }
      if (++f === F) f = 0;
    }
  }

  /** The mean volume of bars first … τ (volume_rel's denominator). */
  private volumeMean(first: number, tau: number): number {
    const volume = this.bars.volume;
    let sum = 0;
    for (let i = first; i <= tau; i++) sum += volume[i];
    return sum / this.window;
  }

  /**
   * The error for a window that holds a non-finite value: the raw values of the observation at τ are
   * read in build()'s order (row by row, feature by feature, oldest row first) and the first one that
   * is not finite is named. State values are checked before the fast path runs, so only column and
   * window-relative features are read here; a window-relative value is read without its "− 1", which
   * changes neither whether it is finite nor a non-finite value (∞ − 1 = ∞, NaN − 1 = NaN).
   */
  private firstNonFinite(tau: number): Error {
    const { open, high, low, close, volume } = this.bars;
    const W = this.window;
    const F = this.featureCount;
    const first = tau - W + 1;
    const decisionClose = close[tau];
    const volumeMean = this.needsVolumeMean ? this.volumeMean(first, tau) : 0;
    for (let i = first; i <= tau; i++) {
      for (let f = 0; f < F; f++) {
        let x: number;
        switch (this.sources[f]) {
          case COLUMN:
            x = this.columns[f]![i];
            break;
          case OPEN_REL:
            x = open[i] / decisionClose;
            break;
          case HIGH_REL:
            x = high[i] / decisionClose;
            break;
          case LOW_REL:
            x = low[i] / decisionClose;
            break;
          case CLOSE_REL:
            x = close[i] / decisionClose;
            break;
          case VOLUME_REL:
            x = volumeMean === 0 ? 0 : volume[i] / volumeMean;
            break;
          default:
            continue;
        }
        if (!Number.isFinite(x)) return this.nonFinite(tau, i, f, x);
      }
    }
    // Stryker disable next-line StringLiteral: unreachable (the callers found a non-finite value first); the message is for a broken invariant.
    throw new Error(`${this.card.file}: the observation at bar ${tau} was reported to hold a non-finite value, but none was found`);
  }

  /**
   * The flat observation indices that hold state features (row·F + feature, ascending): the only
   * values of an observation that depend on the simulated position rather than on the decision bar.
   */
  stateIndices(): Int32Array {
    return this.stateColumns().indices;
  }

  /** The state columns and their groups (stateColumnsOf of this builder's card). */
  stateColumns(): StateColumns {
    return (this.stateGroups ??= stateColumnsOf(this.card));
  }

  /**
   * Writes the value of each state column group of the observation at τ (stateColumns().groupFirst
   * order) into out[offset ..): the values build() writes at those indices.
   */
  buildState(tau: number, state: ObservationState, out: Float32Array, offset = 0): Float32Array {
    this.checkTau(tau);
    if (!(Number.isFinite(state.position) && Number.isFinite(state.unrealizedReturn))) {
      throw new RangeError(`${this.card.file}: the state at bar ${tau} must be finite, got position ${state.position}, ` + `unrealized return ${state.unrealizedReturn}`);
    }
    const F = this.featureCount;
    const firsts = this.stateColumns().groupFirst;
    const clip = this.clipBox[0];
    for (let g = 0; g < firsts.length; g++) {
      const e = firsts[g];
      const raw = this.sources[e % F] === POSITION ? state.position : state.unrealizedReturn;
      const x = (raw - this.mean[e]) / this.std[e];
      out[offset + g] = clipTo(x, clip);
    }
    return out;
  }

  /**
   * The column features' normalised, clipped values over bars first … first + count − 1, channel-major
   * (column feature c, in ascending feature order, at out[offset + c·stride + j] for bar first + j): the
   * values build() copies into an observation. False, with `out` unspecified, when a bar is outside the
   * prepared range or holds a non-finite value, or under per-element normalisation (a value then depends
   * on the row it takes in the observation).
   */
  writeColumnChannels(first: number, count: number, out: Float32Array, offset: number, stride = count): boolean {
    const rows = (this.prepared ??= this.prepareRows());
    const from = first - rows.from;
    if (rows.raw !== null || !(Number.isInteger(from) && from >= 0 && count >= 0 && first + count <= this.length)) return false;
    if (rows.badPrefix[from + count] !== rows.badPrefix[from]) return false;
    const F = this.featureCount;
    const values = rows.values;
    let c = 0;
    for (let f = 0; f < F; f++) {
      if (this.sources[f] !== COLUMN) continue;
      const base = offset + c * stride;
      for (let j = 0; j < count; j++) out[base + j] = values[(from + j) * F + f];
      c++;
    }
    return true;
  }

  /**
   * The window-relative features of the observation at τ, normalised and clipped, row by row (feature
   * j of the window-relative ones, in ascending feature order, of row r at out[offset + r·F_w + j]): the
   * values build() writes at those features. False when one is not finite.
   */
  buildWindowed(tau: number, out: Float32Array, offset: number): boolean {
    this.checkTau(tau);
    return this.writeWindowedAt(tau, out, offset, this.windowed.length, true);
  }

  /**
   * Observations for many decision bars at once, back to back: observation k at out[k·size ..).
   * Only for cards without state features (flat position otherwise would be a silent guess).
   */
  buildBatch(taus: readonly number[], out: Float32Array): Float32Array {
    if (this.usesState) {
      throw new Error(`${this.card.file}: the observation uses state features (position / unrealized_return); ` + `build it step by step with the simulated position instead of in a batch`);
    }
    if (out.length < taus.length * this.size) {
      throw new RangeError(`${this.card.file}: a batch of ${taus.length} observations needs ${taus.length * this.size} values, the buffer has ${out.length}`);
    }
    for (let k = 0; k < taus.length; k++) this.build(taus[k], FLAT_STATE, out, k * this.size);
    return out;
  }

  /** Which row and feature a flat index addresses, for mismatch reports. */
  locate(index: number): { row: number; feature: number; label: string } {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new RangeError(`observation index ${index} is outside 0..${this.size - 1}`);
    }
    const row = Math.floor(index / this.featureCount);
    const feature = index % this.featureCount;
    const age = this.window - 1 - row;
    return {
      row,
      feature,
      label: `${featureLabel(this.features[feature])} in row ${row} (${age === 0 ? 'the decision bar' : `${age} bar${age === 1 ? '' : 's'} before the decision bar`})`,
    };
  }

  private checkTau(tau: number): void {
    if (!Number.isInteger(tau) || tau < 0 || tau >= this.length) {
      throw new RangeError(`${this.card.file}: decision bar index ${tau} is outside the series of ${this.length} bars`);
    }
    if (tau < this.firstValidIndex) {
      throw inputError(
        `${this.card.file}: the observation at bar ${isoAt(this.bars, tau)} (index ${tau}) needs ` +
          `${this.firstValidIndex} bars of warm-up history before it, but the series has only ${tau}; ` +
          `fetch more history before the evaluation window`,
        this.card.file,
      );
    }
    if (tau < this.decisionsFrom) {
      throw new RangeError(`${this.card.file}: this builder builds observations from bar ${this.decisionsFrom} on, not at ${tau}`);
    }
  }

  private nonFinite(tau: number, bar: number, feature: number, value: number): Error {
    const spec = this.features[feature]!;
    const hint =
      spec.name === 'graph'
        ? `the feature graph ${this.bars.graph?.file ?? ''} returned it for that bar's window; check the graph on those bars (a division by zero, a log of a non-positive value, a statistic of too few values)`
        : 'check the bars for zero or missing prices or volumes';
    return inputError(`${this.card.file}: feature ${featureLabel(spec)} is ${value} at bar ${isoAt(this.bars, bar)} ` + `in the observation for ${isoAt(this.bars, tau)}; ${hint}`, this.card.file);
  }
}

interface PreparedRows {
  /** The first bar in `values`. */
  from: number;
  /** Bar-major normalised column values: bar i at (i − from)·F (empty under per-element normalisation). */
  values: Float32Array;
  /** Under per-element normalisation: the raw column values, bar-major; else null. */
  raw: Float64Array | null;
  /** badPrefix[k] = number of bars among from … from + k − 1 with a non-finite column value. */
  badPrefix: Int32Array;
}

/** The normalisation of each observation element, per card (its observation section, which is never changed). */
const expandedNormalize = new WeakMap<PolicyCard['observation'], { normalize: PolicyCard['observation']['normalize']; mean: Float64Array; std: Float64Array }>();

/**
 * Feature columns of the most recent BarSeries object, valid while its bars are unchanged (compared
 * bit for bit with a snapshot). One series at a time: models are evaluated one after another, and a
 * run's bars stay in memory until it ends, so caching every series would keep every model's columns
 * alive (tens of MB per model on minute bars).
 */
const columnCaches = new WeakMap<BarSeries, { snapshot: Float64Array; cache: FeatureColumnCache }>();
let cachedSeries: WeakRef<BarSeries> | null = null;

function columnCacheFor(bars: BarSeries): FeatureColumnCache {
  const arrays = [bars.time, bars.open, bars.high, bars.low, bars.close, bars.volume];
  const entry = columnCaches.get(bars);
  if (entry && sameBits(entry.snapshot, arrays)) return entry.cache;
  const previous = cachedSeries?.deref();
  if (previous) columnCaches.delete(previous);
  const snapshot = new Float64Array(arrays.reduce((a, x) => a + x.length, 0));
  let at = 0;
  for (const x of arrays) {
    snapshot.set(x, at);
    at += x.length;
  }
  const cache: FeatureColumnCache = new Map();
  columnCaches.set(bars, { snapshot, cache });
  cachedSeries = new WeakRef(bars);
  return cache;
}

function sameBits(snapshot: Float64Array, arrays: readonly Float64Array[]): boolean {
  const saved = new Uint32Array(snapshot.buffer, snapshot.byteOffset, snapshot.length * 2);
  let at = 0;
  for (const x of arrays) {
    const now = new Uint32Array(x.buffer, x.byteOffset, x.length * 2);
    if (at + now.length > saved.length) return false;
    for (let i = 0; i < now.length; i++) if (saved[at + i] !== now[i]) return false;
    at += now.length;
  }
  return at === saved.length;
}

function isoAt(bars: BarSeries, index: number): string {
  const t = bars.time[index];
  return Number.isFinite(t) ? new Date(t).toISOString() : `#${index}`;
}
