/**
 * The stationary block bootstrap (Politis & Romano 1994, "The Stationary Bootstrap", JASA 89(428),
 * 1303–1313) with a seeded PRNG, and percentile intervals for the Sharpe ratio and the total return
 * of a return series.
 *
 * A resample of length T is built by concatenating blocks that start at uniformly random indices and
 * whose lengths are Geometric with mean L (as if each next observation started a new block with
 * probability 1/L), wrapping around the end of the series. Keeping runs of
 * consecutive bars keeps the serial dependence (volatility clustering, position holding periods)
 * that an IID resample would destroy.
 *
 * Mean block length: configured, or automatically ⌈T^{1/3}⌉ — the rate at which the optimal block
 * length grows (Hall, Horowitz & Jing 1995; Politis & White 2004) without their data-dependent constant.
 *
 * Interval: the percentile interval [q_{(1−c)/2}, q_{(1+c)/2}] of the B resampled statistics, each
 * quantile by linear interpolation between order statistics (numpy's default, "type 7").
 *
 * The PRNG is mulberry32 (Tommy Ettinger's 32-bit generator): tiny, fast, fully determined by its
 * 32-bit seed, so the same seed gives the same interval on every platform.
 *
 * Pure: randomness comes only from the seed passed in.
 */

/** A uniform [0, 1) generator. */
export type Rng = () => number;

/** mulberry32: a seeded 32-bit PRNG returning uniforms in [0, 1) with 2^-32 resolution. */
export function mulberry32(seed: number): Rng {
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The automatic mean block length ⌈T^{1/3}⌉ (at least 1). */
export function autoBlockLength(n: number): number {
  return Math.max(1, Math.ceil(Math.cbrt(n) - 1e-9));
}

/**
 * One stationary-bootstrap resample of length `length` from a series of n values, as blocks: each
 * block starts at a uniform index in [0, n) and has a Geometric(1/L) length (P(k) = (1 − 1/L)^{k−1}/L,
 * drawn by inversion: 1 + ⌊ln U / ln(1 − 1/L)⌋), the last one cut to fit. `visit(start, len)` gets
 * each block; it may run past the end of the series, and wraps around to index 0.
 * Drawing whole blocks (two uniforms each) is the same distribution as deciding at every step whether
 * to start a new block with probability 1/L (Politis & Romano's definition), with far fewer draws.
 */
export function stationaryBlocks(n: number, meanBlockLength: number, length: number, rng: Rng, visit: (start: number, len: number) => void): void {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`the series needs at least one value, got ${n}`);
  if (!(meanBlockLength >= 1)) throw new RangeError(`the mean block length must be ≥ 1, got ${meanBlockLength}`);
  const logStay = Math.log(1 - 1 / meanBlockLength); // −Infinity for L = 1: every block has length 1
  let left = length;
  while (left > 0) {
    const start = Math.floor(rng() * n);
    const u = 1 - rng(); // (0, 1]
    const len = logStay === -Infinity ? 1 : 1 + Math.floor(Math.log(u) / logStay);
    const take = Math.min(left, len);
    visit(start, take);
    left -= take;
  }
}

/** Fills `out` with the indices of one stationary-bootstrap resample of a series of length n. */
export function stationaryResample(n: number, meanBlockLength: number, rng: Rng, out: Int32Array): Int32Array {
  let t = 0;
  stationaryBlocks(n, meanBlockLength, out.length, rng, (start, len) => {
    for (let k = 0, i = start; k < len; k++, t++) {
      out[t] = i;
      if (++i === n) i = 0;
    }
  });
  return out;
}

/**
 * The length of a block drawn from the 32-bit output x: 1 + ⌊ln u / ln(1 − 1/L)⌋ with u = 1 − x/2³² ∈ (0, 1]
 * (stationaryBlocks' inversion, with u from the same draw); 1 for L = 1.
 */
export function geometricLength(x: number, logStay: number): number {
  return logStay === -Infinity ? 1 : 1 + Math.floor(Math.log(1 - x / 4294967296) / logStay);
}

/** Outputs x ∈ [0, 2³²) fall into 2^(32 − BUCKET_SHIFT) buckets of consecutive values. */
export const BUCKET_SHIFT = 20;

/**
 * For each bucket of draws x, the block length geometricLength gives every x in it, or 0 where it is not
 * the same for all of them. The length is non-decreasing in x: u = 1 − x/2³² is exact, and the logarithms
 * of two neighbouring u differ by at least 2⁻³² (u ≤ 1) while Math.log errs by less than an ulp of
 * |ln u| ≤ 22.2 (2⁻⁴⁸), so ln u is strictly decreasing in x; dividing by the negative ln(1 − 1/L) and
 * flooring keep the order. A bucket whose first and last x give the same length therefore gives it for
 * every x in between: the table returns exactly what the formula does, without a logarithm per block.
 */
export function blockLengthTable(blockLength: number): Int32Array {
  const logStay = Math.log(1 - 1 / blockLength);
  const buckets = 2 ** (32 - BUCKET_SHIFT);
  const table = new Int32Array(buckets);
  const width = 2 ** BUCKET_SHIFT;
  for (let k = 0; k < buckets; k++) {
    const first = geometricLength(k * width, logStay);
    table[k] = first === geometricLength(k * width + width - 1, logStay) ? first : 0;
  }
  return table;
}

/** The q-quantile (0 ≤ q ≤ 1) of ascending `sorted` by linear interpolation (numpy "linear"). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export interface BootstrapOptions {
  samples: number;
  /** Mean block length L; null = automatic (⌈T^{1/3}⌉). */
  blockLength: number | null;
  /** Central coverage of the interval, e.g. 0.9. */
  confidence: number;
  /** Scales the per-period Sharpe ratio (√P annualises it). */
  periodsPerYear: number;
  /** The seed of the mulberry32 generator that draws the blocks. */
  seed: number;
}

export type Interval = [number, number];

export interface BootstrapResult {
  samples: number;
  blockLength: number;
  blockLengthSource: 'auto' | 'config';
  confidence: number;
  /** Annualised Sharpe ratio: mean / std (ddof 1) · √P; null with a reason when a resample has zero variance. */
  sharpe: Interval | null;
  totalReturn: Interval | null;
  undefinedReasons: Record<string, string>;
}

/**
 * Percentile intervals of the annualised Sharpe ratio and of the total return Π(1 + r) − 1 over
 * stationary-bootstrap resamples of `returns`.
 */
export function bootstrapSharpeAndReturn(returns: ArrayLike<number>, opts: BootstrapOptions): BootstrapResult {
  const n = returns.length;
  const blockLength = opts.blockLength ?? autoBlockLength(n);
  const base = {
    samples: opts.samples,
    blockLength,
    blockLengthSource: (opts.blockLength === null ? 'auto' : 'config') as 'auto' | 'config',
    confidence: opts.confidence,
  };
  const reasons: Record<string, string> = {};
  if (!(Number.isInteger(opts.samples) && opts.samples >= 1)) {
    reasons['sharpe'] = reasons['totalReturn'] = 'bootstrap switched off (evidence.bootstrap.samples is 0)';
    return { ...base, sharpe: null, totalReturn: null, undefinedReasons: reasons };
  }
  if (n < 2) {
    reasons['sharpe'] = reasons['totalReturn'] = `needs at least 2 returns, got ${n}`;
    return { ...base, sharpe: null, totalReturn: null, undefinedReasons: reasons };
  }
  for (let i = 0; i < n; i++) {
    if (!(Number.isFinite(returns[i]!) && returns[i]! > -1)) {
      reasons['sharpe'] = reasons['totalReturn'] = `return ${i} is ${returns[i]}: the equity reached zero, so resampled paths are not defined`;
      return { ...base, sharpe: null, totalReturn: null, undefinedReasons: reasons };
    }
  }
  // Prefix sums of r, r², ln(1 + r) and of the count of non-zero returns: a block's contribution is
  // then two lookups, so a resample costs O(T / L) instead of O(T).
  const S1 = new Float64Array(n + 1);
  const S2 = new Float64Array(n + 1);
  const SL = new Float64Array(n + 1);
  const NZ = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const x = returns[i]!;
    S1[i + 1] = S1[i]! + x;
    S2[i + 1] = S2[i]! + x * x;
    SL[i + 1] = SL[i]! + Math.log1p(x);
    NZ[i + 1] = NZ[i]! + (x !== 0 ? 1 : 0);
  }
  const sqrtP = Math.sqrt(opts.periodsPerYear);
  const sharpes = new Float64Array(opts.samples);
  const totals = new Float64Array(opts.samples);
  let zeroVariance = 0;
  // stationaryBlocks with mulberry32(seed), inlined with the generator's state and the sums in locals:
  // the same draws in the same order and the same additions in the same order (so the same bits as
  // stationaryBlocks(n, L, n, mulberry32(seed), …)), without a closure call per draw.
  if (!(blockLength >= 1)) throw new RangeError(`the mean block length must be ≥ 1, got ${blockLength}`);
  mulberry32(opts.seed); // checks the seed
  let a = opts.seed >>> 0;
  const lengths = blockLengthTable(blockLength);
  const logStay = Math.log(1 - 1 / blockLength); // −Infinity for L = 1: every block has length 1
  for (let b = 0; b < opts.samples; b++) {
    let s = 0;
    let s2 = 0;
    let sl = 0;
    let nz = 0;
    let left = n;
    while (left > 0) {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      const start = Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
      a = (a + 0x6d2b79f5) >>> 0;
      t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      const x = (t ^ (t >>> 14)) >>> 0;
      // The block length 1 + ⌊ln u / ln(1 − 1/L)⌋ of u = 1 − x/2³², read from the table where it is the
      // same for every x of x's bucket (all but the last few buckets), else computed.
      let len = lengths[x >>> BUCKET_SHIFT]!;
      if (len === 0) len = geometricLength(x, logStay);
      const take = Math.min(left, len);
      const end = start + take;
      if (end <= n) {
        s += S1[end]! - S1[start]!;
        s2 += S2[end]! - S2[start]!;
        sl += SL[end]! - SL[start]!;
        nz += NZ[end]! - NZ[start]!;
      } else {
        // The block wraps around the end of the series.
        s += S1[n]! - S1[start]!;
        s2 += S2[n]! - S2[start]!;
        sl += SL[n]! - SL[start]!;
        nz += NZ[n]! - NZ[start]!;
        const rest = end - n;
        s += S1[rest]! - S1[0]!;
        s2 += S2[rest]! - S2[0]!;
        sl += SL[rest]! - SL[0]!;
        nz += NZ[rest]! - NZ[0]!;
      }
      left -= take;
    }
    totals[b] = Math.expm1(sl);
    const mean = s / n;
    const variance = (s2 - s * mean) / (n - 1);
    // All-zero resamples (a flat policy) have no variance; a variance below 1e-12 of the mean square
    // is a rounding residue of a constant resample, not a measurement.
    if (nz === 0 || !(variance > 1e-12 * (s2 / n))) {
      zeroVariance++;
      sharpes[b] = NaN;
    } else {
      sharpes[b] = (mean / Math.sqrt(variance)) * sqrtP;
    }
  }
  const lo = (1 - opts.confidence) / 2;
  const hi = (1 + opts.confidence) / 2;
  totals.sort();
  const totalReturn: Interval = [quantileSorted(totals, lo), quantileSorted(totals, hi)];
  let sharpe: Interval | null = null;
  if (zeroVariance > 0) {
    reasons['sharpe'] = `${zeroVariance} of ${opts.samples} resamples have zero variance (the policy was flat for most of the window), so the Sharpe interval is not defined`;
  } else {
    sharpes.sort();
    sharpe = [quantileSorted(sharpes, lo), quantileSorted(sharpes, hi)];
  }
  return { ...base, sharpe, totalReturn, undefinedReasons: reasons };
}
