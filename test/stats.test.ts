/**
 * The statistics behind the evidence (src/core/stats): the normal CDF and its inverse, PSR, MinTRL and
 * DSR against values worked out by hand from the published formulas (Bailey & López de Prado 2012,
 * 2014), the binomial fold p-values, the paired tests, and the seeded stationary bootstrap.
 *
 * Reference values for Φ and Φ⁻¹ are Python 3's math.erfc (0.5·erfc(−x/√2)) and
 * statistics.NormalDist().inv_cdf; Student-t critical values are the textbook t_{0.975, ν}.
 */
import { describe, expect, it } from 'vitest';
import { normalCdf, normalInv } from '../src/core/stats/normal.js';
import { deflatedSharpe, expectedMaxSharpe, expectedMaxStandardNormal, minTrackRecordLength, probabilisticSharpe, returnMoments, sharpeVarianceTerm } from '../src/core/stats/psr.js';
import { binomialTail, pairedTTest, signTest, studentTTwoSided } from '../src/core/stats/binomial.js';
import {
  autoBlockLength,
  blockLengthTable,
  bootstrapSharpeAndReturn,
  BUCKET_SHIFT,
  geometricLength,
  mulberry32,
  quantileSorted,
  stationaryBlocks,
  stationaryResample,
} from '../src/core/stats/bootstrap.js';

describe('normal distribution', () => {
  // x → Φ(x) from Python: 0.5 * math.erfc(-x / math.sqrt(2))
  const cdf: [number, number][] = [
    [-5, 2.866515718791946e-7],
    [-3, 0.0013498980316300957],
    [-1.96, 0.024997895148220435],
    [-1, 0.15865525393145707],
    [0, 0.5],
    [0.5, 0.6914624612740131],
    [1, 0.8413447460685429],
    [1.6448536269514722, 0.95],
    [1.96, 0.9750021048517795],
    [3, 0.9986501019683699],
    [8, 0.9999999999999993],
  ];
  it.each(cdf)('Φ(%s) to 1e-9', (x, p) => {
    expect(Math.abs(normalCdf(x) - p)).toBeLessThan(1e-9);
  });

  it('keeps relative accuracy in the lower tail (computed directly, not as 1 − Φ(x))', () => {
    expect(Math.abs(normalCdf(-5) / 2.866515718791946e-7 - 1)).toBeLessThan(1e-9);
    expect(normalCdf(-40)).toBe(0);
    expect(normalCdf(40)).toBe(1);
  });

  // p → Φ⁻¹(p) from Python: statistics.NormalDist().inv_cdf(p)
  const inv: [number, number][] = [
    [1e-10, -6.361340902404056],
    [0.001, -3.090232306167813],
    [0.025, -1.9599639845400538],
    [0.05, -1.6448536269514726],
    [0.5, 0],
    [0.8, 0.8416212335729144],
    [0.95, 1.6448536269514715],
    [0.975, 1.9599639845400536],
    [0.999, 3.090232306167813],
  ];
  it.each(inv)('Φ⁻¹(%s) to 1e-9', (p, x) => {
    expect(Math.abs(normalInv(p) - x)).toBeLessThan(1e-9);
  });

  it('Φ⁻¹ inverts Φ, and answers ±Infinity at 0 and 1, NaN outside', () => {
    for (const x of [-6, -2.5, -0.3, 0.7, 2.2, 4.5]) expect(Math.abs(normalInv(normalCdf(x)) - x)).toBeLessThan(1e-9);
    expect(normalInv(0)).toBe(-Infinity);
    expect(normalInv(1)).toBe(Infinity);
    expect(normalInv(1.2)).toBeNaN();
  });
});

// Series A: returns 2 %, −1 %, 3 %, 0 %, 1 % (T = 5).
//   mean = 0.05 / 5 = 0.01; deviations 0.01, −0.02, 0.02, −0.01, 0
//   Σd² = (1 + 4 + 4 + 1 + 0)·1e-4 = 1e-3  → sample variance 1e-3/4 = 2.5e-4, std = 0.0158113883
//   SR̂ = 0.01 / 0.0158113883 = 0.6324555320 (= √0.4, per period)
//   m2 = 1e-3/5 = 2e-4;  Σd³ = (1 − 8 + 8 − 1 + 0)·1e-6 = 0 → γ3 = 0
//   Σd⁴ = (1 + 16 + 16 + 1 + 0)·1e-8 = 34e-8 → m4 = 6.8e-8 → γ4 = 6.8e-8 / (2e-4)² = 1.7 (raw)
//   variance term 1 − γ3·SR + (γ4 − 1)/4·SR² = 1 − 0 + 0.175·0.4 = 1.07
const A = [0.02, -0.01, 0.03, 0.0, 0.01];
// Series B: returns 3 %, −1 %, 0 %, 0 %, 3 % (T = 5), a right-skewed one.
//   mean = 0.01; deviations 0.02, −0.02, −0.01, −0.01, 0.02
//   Σd² = (4 + 4 + 1 + 1 + 4)·1e-4 = 14e-4 → sample variance 3.5e-4, std = 0.0187082869
//   SR̂ = 0.01 / 0.0187082869 = 0.5345224838 (= √(2/7))
//   m2 = 14e-4/5 = 2.8e-4;  Σd³ = (8 − 8 − 1 − 1 + 8)·1e-6 = 6e-6 → m3 = 1.2e-6
//   γ3 = 1.2e-6 / (2.8e-4)^{3/2} = 1.2e-6 / 4.6852e-6 = 0.2561204163
//   Σd⁴ = (16 + 16 + 1 + 1 + 16)·1e-8 = 50e-8 → m4 = 1e-7 → γ4 = 1e-7 / (2.8e-4)² = 1.2755102041
//   variance term = 1 − 0.2561204163·0.5345224838 + (0.2755102041/4)·0.2857142857
//                 = 1 − 0.1369020469 + 0.0196793003 = 0.8827772534 … (0.8827771792 unrounded)
const B = [0.03, -0.01, 0.0, 0.0, 0.03];

describe('moments (per-period Sharpe, skewness, raw kurtosis)', () => {
  it('series A by hand', () => {
    const m = returnMoments(A);
    expect(m.n).toBe(5);
    expect(m.mean).toBeCloseTo(0.01, 15);
    expect(m.std).toBeCloseTo(0.015811388300841896, 14);
    expect(m.sharpe).toBeCloseTo(Math.sqrt(0.4), 12);
    expect(m.skewness).toBeCloseTo(0, 12);
    expect(m.kurtosis).toBeCloseTo(1.7, 12);
    expect(sharpeVarianceTerm(m.sharpe!, m.skewness!, m.kurtosis!)).toBeCloseTo(1.07, 12);
  });

  it('series B by hand; the kurtosis is RAW (a normal sample would be near 3, not 0)', () => {
    const m = returnMoments(B);
    expect(m.sharpe).toBeCloseTo(Math.sqrt(2 / 7), 12);
    expect(m.skewness).toBeCloseTo(1.2e-6 / 2.8e-4 ** 1.5, 10);
    expect(m.skewness).toBeCloseTo(0.2561204163, 9);
    expect(m.kurtosis).toBeCloseTo(1e-7 / (2.8e-4 * 2.8e-4), 10);
    expect(m.kurtosis).toBeCloseTo(1.2755102041, 9);
    const rng = mulberry32(7);
    const normal = Array.from({ length: 20000 }, () => normalInv(Math.max(1e-12, rng())));
    expect(returnMoments(normal).kurtosis!).toBeGreaterThan(2.8);
    expect(returnMoments(normal).kurtosis!).toBeLessThan(3.2);
  });

  it('a constant series has no Sharpe ratio (null with a reason, never NaN or 0)', () => {
    const m = returnMoments([0, 0, 0, 0]);
    expect(m.sharpe).toBeNull();
    expect(m.reason).toContain('zero variance');
    expect(returnMoments([0.01]).reason).toContain('fewer than 2');
  });
});

describe('probabilistic Sharpe ratio (Bailey & López de Prado 2012)', () => {
  it('series A, benchmark 0: Φ(SR·√(T−1)/√1.07) = Φ(0.6324555·2/1.0344080) = Φ(1.2228357) = 0.8893041', () => {
    const m = returnMoments(A);
    const p = probabilisticSharpe(m.sharpe!, 0, 5, m.skewness!, m.kurtosis!);
    expect(p.value).toBeCloseTo(0.8893041171218268, 9);
  });

  it('series A, benchmark 0.1 per period: Φ((0.6324555 − 0.1)·2/1.0344080) = Φ(1.0294800) = 0.8483749', () => {
    const m = returnMoments(A);
    expect(probabilisticSharpe(m.sharpe!, 0.1, 5, m.skewness!, m.kurtosis!).value).toBeCloseTo(0.8483748820718666, 9);
  });

  it('series B, benchmark 0: Φ(0.5345225·2/√0.8827772) = Φ(1.0690450/0.9395622) = Φ(1.1378118) = 0.8724005', () => {
    const m = returnMoments(B);
    expect(probabilisticSharpe(m.sharpe!, 0, 5, m.skewness!, m.kurtosis!).value).toBeCloseTo(0.8724004568994741, 9);
  });

  it('uses RAW kurtosis: passing the excess kurtosis (γ4 − 3) instead gives a different, wrong PSR', () => {
    const m = returnMoments(B);
    const right = probabilisticSharpe(m.sharpe!, 0, 5, m.skewness!, m.kurtosis!).value!;
    const wrong = probabilisticSharpe(m.sharpe!, 0, 5, m.skewness!, m.kurtosis! - 3).value!;
    expect(Math.abs(right - wrong)).toBeGreaterThan(0.01);
  });

  it('PSR rises with the track record and is ½ when SR̂ equals the benchmark', () => {
    expect(probabilisticSharpe(0.1, 0, 50, 0, 3).value!).toBeLessThan(probabilisticSharpe(0.1, 0, 500, 0, 3).value!);
    expect(probabilisticSharpe(0.2, 0.2, 100, -1, 8).value).toBe(0.5);
    expect(probabilisticSharpe(0.2, 0, 1, 0, 3).value).toBeNull();
  });
});

describe('minimum track record length', () => {
  it('series A at 95 %: 1 + 1.07·(1.6448536/0.6324555)² = 1 + 1.07·6.7639521 = 8.2373287', () => {
    const m = returnMoments(A);
    expect(minTrackRecordLength(m.sharpe!, 0, m.skewness!, m.kurtosis!, 0.95).value).toBeCloseTo(8.237328739705227, 9);
  });

  it('series B at 95 %: 1 + 0.8827772·(1.6448536/0.5345225)² = 9.3593721', () => {
    const m = returnMoments(B);
    expect(minTrackRecordLength(m.sharpe!, 0, m.skewness!, m.kurtosis!, 0.95).value).toBeCloseTo(9.359372065323411, 9);
  });

  it('at exactly MinTRL returns the PSR equals the confidence (the two formulas agree)', () => {
    for (const [sr, g3, g4, conf] of [
      [0.08, -0.5, 6, 0.95],
      [0.03, 0.2, 12, 0.9],
    ] as const) {
      const n = minTrackRecordLength(sr, 0.01, g3, g4, conf).value!;
      expect(probabilisticSharpe(sr, 0.01, n, g3, g4).value).toBeCloseTo(conf, 12);
    }
  });

  it('is not defined when the Sharpe ratio does not beat the benchmark', () => {
    const r = minTrackRecordLength(0.1, 0.1, 0, 3, 0.95);
    expect(r.value).toBeNull();
    expect(r.reason).toContain('does not exceed');
  });
});

describe('deflated Sharpe ratio (Bailey & López de Prado 2014)', () => {
  it('E[max of N standard normals] = (1 − γ)Φ⁻¹(1 − 1/N) + γΦ⁻¹(1 − 1/(Ne)); N = 10 → 0.4227843·1.2815516 + 0.5772157·1.7892418 = 1.5745983', () => {
    expect(expectedMaxStandardNormal(10)).toBeCloseTo(1.57459830134575, 9);
    expect(expectedMaxStandardNormal(1)).toBe(0);
  });

  it('the approximation is close to the exact expected maximum (numerical integration of N·x·φ(x)·Φ(x)^(N−1))', () => {
    for (const n of [5, 20, 100]) {
      let exact = 0;
      const h = 1e-3;
      for (let x = -8; x <= 8; x += h) exact += x * n * (Math.exp((-x * x) / 2) / Math.sqrt(2 * Math.PI)) * normalCdf(x) ** (n - 1) * h;
      expect(Math.abs(expectedMaxStandardNormal(n) / exact - 1)).toBeLessThan(0.03);
    }
  });

  it('series A with N = 10 trials and V = 1/(T − 1) = 0.25: SR₀ = 0.5·1.5745983 = 0.7872992; DSR = Φ((0.6324555 − 0.7872992)·2/1.0344080) = Φ(−0.2993860) = 0.3823228', () => {
    const m = returnMoments(A);
    const d = deflatedSharpe(m.sharpe!, 5, m.skewness!, m.kurtosis!, 10, 1 / 4);
    expect(d.expectedMax).toBeCloseTo(0.787299150672875, 9);
    expect(d.value).toBeCloseTo(0.38232278961476895, 9);
  });

  it('series B with N = 10: DSR = Φ((0.5345225 − 0.7872992)·2/0.9395622) = Φ(−0.5380733) = 0.2952632', () => {
    const m = returnMoments(B);
    expect(deflatedSharpe(m.sharpe!, 5, m.skewness!, m.kurtosis!, 10, 1 / 4).value).toBeCloseTo(0.2952632277284849, 9);
  });

  it('with one trial the DSR is the PSR against 0; more trials deflate it further', () => {
    const m = returnMoments(A);
    const one = deflatedSharpe(m.sharpe!, 5, m.skewness!, m.kurtosis!, 1, 0.25).value!;
    expect(one).toBeCloseTo(probabilisticSharpe(m.sharpe!, 0, 5, m.skewness!, m.kurtosis!).value!, 15);
    expect(deflatedSharpe(m.sharpe!, 5, m.skewness!, m.kurtosis!, 100, 0.25).value!).toBeLessThan(deflatedSharpe(m.sharpe!, 5, m.skewness!, m.kurtosis!, 10, 0.25).value!);
    expect(expectedMaxSharpe(10, 0)).toBe(0);
  });
});

describe('binomial fold significance and paired tests', () => {
  it('P(X ≥ k) for 5 coin flips: 5 → 1/32, 4 → 6/32, 3 → 16/32, 0 → 1', () => {
    expect(binomialTail(5, 5)).toBe(0.03125);
    expect(binomialTail(4, 5)).toBe(0.1875);
    expect(binomialTail(3, 5)).toBe(0.5);
    expect(binomialTail(0, 5)).toBe(1);
    expect(binomialTail(6, 5)).toBe(0);
    // 10 folds, ≥ 8 positive: (C(10,8) + C(10,9) + C(10,10)) / 1024 = (45 + 10 + 1) / 1024
    expect(binomialTail(8, 10)).toBe(56 / 1024);
  });

  it('Student t two-sided p at the textbook critical values t_{0.975,ν} is 0.05', () => {
    for (const [df, t] of [
      [1, 12.706204736174698],
      [2, 4.302652729749464],
      [3, 3.182446305284263],
      [4, 2.7764451051977987],
      [10, 2.228138851986274],
    ] as const) {
      expect(studentTTwoSided(t, df)).toBeCloseTo(0.05, 10);
    }
  });

  it('paired t-test on differences 1, 2, 3, 4, 5: t = 3/(1.5811388/√5) = 4.2426407, p = 0.0132356 (4 df)', () => {
    const r = pairedTTest([1, 2, 3, 4, 5]);
    expect(r.t).toBeCloseTo(4.242640687119285, 12);
    expect(r.df).toBe(4);
    expect(r.p).toBeCloseTo(0.01323559956368269, 10);
    expect(pairedTTest([0.02, 0.02, 0.02]).p).toBeNull();
  });

  it('sign test: 5 of 5 one way is p = 2/32 = 0.0625 — never below 5 % with 5 folds', () => {
    const s = signTest([0.1, 0.2, 0.01, 0.3, 0.05]);
    expect(s).toMatchObject({ positive: 5, negative: 0, ties: 0, p: 0.0625, smallestPossibleP: 0.0625 });
    expect(signTest([0.1, -0.2, 0, 0.3, -0.05]).p).toBe(1);
    expect(signTest([0, 0]).p).toBeNull();
  });
});

describe('stationary block bootstrap', () => {
  const series = (seed: number, n: number, mean: number, sd: number): number[] => {
    const rng = mulberry32(seed);
    return Array.from({ length: n }, () => mean + sd * normalInv(Math.min(1 - 1e-12, Math.max(1e-12, rng()))));
  };

  it('mulberry32 is deterministic per seed and roughly uniform', () => {
    const a = mulberry32(20240911);
    const b = mulberry32(20240911);
    const xs = Array.from({ length: 10000 }, () => a());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b()));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
  });

  it('resamples run in blocks whose mean length is L, wrapping around the end', () => {
    const idx = stationaryResample(1000, 20, mulberry32(1), new Int32Array(100000));
    let blocks = 1;
    let outside = 0;
    let wraps = 0;
    for (let t = 0; t < idx.length; t++) {
      if (!(idx[t]! >= 0 && idx[t]! < 1000)) outside++;
      if (t > 0 && idx[t] !== (idx[t - 1]! + 1) % 1000) blocks++;
      if (t > 0 && idx[t] === 0 && idx[t - 1] === 999) wraps++;
    }
    expect(outside).toBe(0);
    expect(wraps).toBeGreaterThan(0);
    const meanBlock = idx.length / blocks;
    expect(meanBlock).toBeGreaterThan(18);
    expect(meanBlock).toBeLessThan(22);
    expect(autoBlockLength(27)).toBe(3);
    expect(autoBlockLength(4320)).toBe(17);
  });

  it('quantiles interpolate linearly between order statistics (numpy default)', () => {
    expect(quantileSorted([1, 2, 3, 4], 0.05)).toBeCloseTo(1.15, 12);
    expect(quantileSorted([1, 2, 3, 4], 0.95)).toBeCloseTo(3.85, 12);
  });

  it('the same seed gives the same interval; another seed a different one', () => {
    const r = series(3, 500, 0.001, 0.01);
    const run = (seed: number) => bootstrapSharpeAndReturn(r, { samples: 400, blockLength: null, confidence: 0.9, periodsPerYear: 252, seed });
    const a = run(20240911);
    expect(run(20240911)).toEqual(a);
    const b = run(20240912);
    expect(b.sharpe).not.toEqual(a.sharpe);
    expect(b.totalReturn).not.toEqual(a.totalReturn);
    expect(a.blockLength).toBe(8);
    expect(a.sharpe![0]).toBeLessThan(a.sharpe![1]);
  });

  it('equals the statistics of stationaryResample(n, L, mulberry32(seed)) computed one resample at a time', () => {
    const r = series(11, 300, 0.0005, 0.01);
    const n = r.length;
    const samples = 250;
    const L = 6;
    const seed = 987654321;
    const got = bootstrapSharpeAndReturn(r, { samples, blockLength: L, confidence: 0.8, periodsPerYear: 252, seed });
    const rng = mulberry32(seed);
    const idx = new Int32Array(n);
    const sharpes: number[] = [];
    const totals: number[] = [];
    for (let b = 0; b < samples; b++) {
      stationaryResample(n, L, rng, idx);
      const x = Array.from(idx, (i) => r[i]!);
      const mean = x.reduce((a, v) => a + v, 0) / n;
      const sd = Math.sqrt(x.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
      sharpes.push((mean / sd) * Math.sqrt(252));
      totals.push(x.reduce((a, v) => a * (1 + v), 1) - 1);
    }
    sharpes.sort((p, q) => p - q);
    totals.sort((p, q) => p - q);
    const want = { sharpe: [quantileSorted(sharpes, 0.1), quantileSorted(sharpes, 0.9)], totalReturn: [quantileSorted(totals, 0.1), quantileSorted(totals, 0.9)] };
    for (const k of ['sharpe', 'totalReturn'] as const) {
      for (const j of [0, 1]) expect(Math.abs(got[k]![j]! - want[k][j]!), `${k}[${j}]`).toBeLessThan(1e-9 * Math.max(1, Math.abs(want[k][j]!)));
    }
    expect(got.sharpe![0]).not.toBe(got.sharpe![1]);
  });

  it('coverage sanity: the 90 % Sharpe interval holds the true Sharpe in roughly 90 % of IID samples', () => {
    // True per-period Sharpe 0.1 (mean 0.001, sd 0.01) → annualised with P = 252: 0.1·√252 = 1.587.
    const truth = 0.1 * Math.sqrt(252);
    let covered = 0;
    const trials = 120;
    for (let k = 0; k < trials; k++) {
      const r = series(1000 + k, 250, 0.001, 0.01);
      const b = bootstrapSharpeAndReturn(r, { samples: 300, blockLength: 1, confidence: 0.9, periodsPerYear: 252, seed: k });
      if (b.sharpe![0] <= truth && truth <= b.sharpe![1]) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.8);
    expect(covered / trials).toBeLessThan(0.97);
  });

  it('the block-length table gives what the inversion formula gives, at every bucket edge and inside', () => {
    const width = 2 ** BUCKET_SHIFT;
    const rng = mulberry32(5);
    for (const L of [1, 2, 3.5, 6, 17, 1000]) {
      const logStay = Math.log(1 - 1 / L);
      const table = blockLengthTable(L);
      expect(table.length).toBe(2 ** (32 - BUCKET_SHIFT));
      let computed = 0;
      for (let k = 0; k < table.length; k++) {
        if (table[k] === 0) {
          computed++;
          // Only where the length changes inside the bucket.
          expect(geometricLength(k * width, logStay), `L ${L} bucket ${k}`).not.toBe(geometricLength(k * width + width - 1, logStay));
          continue;
        }
        for (const x of [k * width, k * width + 1, k * width + width - 1, k * width + Math.floor(rng() * width)]) {
          expect(table[k], `L ${L} x ${x}`).toBe(geometricLength(x, logStay));
        }
      }
      // For the block lengths of real series (⌈T^⅓⌉: 17 for 4 320 bars) the lengths change inside few
      // buckets, all near u = 0: the table answers nearly every draw.
      if (L <= 17) expect(computed, `L ${L}`).toBeLessThan(table.length * 0.03);
      if (L === 1) expect(computed).toBe(0);
      // geometricLength is stationaryBlocks' inversion of the same draw: u = 1 − x/2³².
      const lengths: number[] = [];
      let draws = 0;
      const seq = mulberry32(77);
      const recorder = (): number => {
        const u = seq();
        if (draws++ % 2 === 1) lengths.push(geometricLength(Math.round(u * 4294967296), logStay));
        return u;
      };
      const visited: number[] = [];
      stationaryBlocks(1000, L, 1_000_000, recorder, (_start, len) => visited.push(len));
      expect(visited.slice(0, -1)).toEqual(lengths.slice(0, visited.length - 1));
    }
  });

  it('a series that is flat most of the time has no Sharpe interval (null with the reason), but a return interval', () => {
    const r = new Array<number>(200).fill(0);
    r[50] = 0.01;
    const b = bootstrapSharpeAndReturn(r, { samples: 200, blockLength: 5, confidence: 0.9, periodsPerYear: 252, seed: 1 });
    expect(b.sharpe).toBeNull();
    expect(b.undefinedReasons['sharpe']).toContain('zero variance');
    expect(b.totalReturn).not.toBeNull();
  });
});
