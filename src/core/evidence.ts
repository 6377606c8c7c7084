/**
 * Evidence that survives scrutiny (docs/evidence.md): statistics of a model's walk-forward beyond the
 * fold counts, and the optional rules that let them lower a decision.
 *
 * - On the pooled walk-forward returns (every fold's per-bar returns, fold after fold): the
 *   probabilistic Sharpe ratio against a benchmark, the minimum track record length, the deflated
 *   Sharpe ratio for N trials (stats/psr.ts), and a seeded stationary-bootstrap interval for the
 *   Sharpe ratio and the total return (stats/bootstrap.ts).
 * - On the folds: the binomial p-value of the positive-fold count under a coin-flip null.
 * - Filled in by the pipeline: the cost-stressed walk-forward, the look-ahead audit, and the
 *   champion/challenger comparison (compareChampion here).
 *
 * Rules (all off by default, so SPEC section 7's default decisions stand): each enabled rule that
 * fails lowers the decision one tier, never below RETRAIN (evidence rules withhold a promotion; they
 * do not condemn a model — DROP stays for broken evidence and consistent losses).
 *
 * Pure: no I/O, no clock; randomness only from the configured seeds.
 */
import type { EvidenceConfig } from './config.js';
import type { FoldSummary } from './folds.js';
import type { LookaheadAudit } from './lookahead.js';
import { foldBinomialP, pairedTTest, signTest, type PairedTTest, type SignTest } from './stats/binomial.js';
import { bootstrapSharpeAndReturn, type BootstrapResult } from './stats/bootstrap.js';
import { deflatedSharpe, minTrackRecordLength, probabilisticSharpe, returnMoments } from './stats/psr.js';
import { TIER_ORDER, tierRank, type Decision, type Tier } from './types.js';

export interface PooledReturns {
  /** T: per-bar returns over all folds. */
  observations: number;
  periodsPerYear: number;
  /** Per-period Sharpe ratio SR̂ (mean / std, ddof 1), the one PSR, MinTRL and DSR use. */
  sharpePerPeriod: number | null;
  /** SR̂ · √P, comparable with the report's Sharpe ratios. */
  sharpe: number | null;
  skewness: number | null;
  /** Raw kurtosis (3 for a normal distribution). */
  kurtosis: number | null;
  /** Π over the folds of (1 + fold return) − 1: the folds traded back to back. */
  totalReturn: number | null;
}

export interface DeflatedSharpe {
  value: number | null;
  trials: number;
  /** Where N came from. */
  trialsSource: string;
  /** SR₀, annualised (· √P). */
  expectedMaxSharpe: number | null;
  /** V[{SR_n}], per period. */
  trialSharpeVariance: number | null;
  varianceSource: string;
}

export interface MinTrackRecord {
  /** Returns (bars) needed for PSR ≥ confidence. */
  observations: number;
  /** The same in years (observations / P) and calendar days (years · 365). */
  years: number;
  days: number;
  confidence: number;
  /** Whether the pooled walk-forward already has that many returns. */
  met: boolean;
}

export interface FoldSignificance {
  positive: number;
  k: number;
  /** P(X ≥ positive) for X ~ Binomial(k, ½). */
  binomialP: number | null;
  note: string;
}

export interface StressedFold {
  index: number;
  totalReturn: number | null;
  sharpe: number | null;
  trades: number;
}

export interface CostStress {
  multiplier: number;
  feeBps: number;
  slippageBps: number;
  folds: StressedFold[];
  summary: FoldSummary;
  /** The decision the stressed walk-forward earns under the same rules; null without a decision (backtest). */
  decisionUnderStress: Tier | null;
  /** decisionUnderStress is at least the decision; null without a decision. */
  holds: boolean | null;
}

export interface ChampionFold {
  index: number;
  challenger: number | null;
  champion: number | null;
  /** challenger − champion fold return. */
  difference: number | null;
  challengerSharpe: number | null;
  championSharpe: number | null;
}

export interface ChampionComparison {
  /** The deployment config that holds the champion. */
  source: string;
  tier: 'LIVE' | 'PAPER';
  path: string;
  card: string;
  sha256: string;
  folds: ChampionFold[];
  /** Mean of the per-fold return differences (challenger − champion). */
  meanDifference: number | null;
  /** The folds' returns compounded, each model. */
  challengerTotalReturn: number | null;
  championTotalReturn: number | null;
  tTest: PairedTTest;
  signTest: SignTest;
  /** How much (little) the tests can say with this many folds. */
  note: string;
  /** meanDifference ≥ 0; null when no fold pair is defined. */
  notWorse: boolean | null;
}

export interface EvidenceRuleResult {
  rule: string;
  passed: boolean;
  detail: string;
}

export interface Evidence {
  returns: PooledReturns;
  /** Annualised benchmark SR* of the PSR. */
  psrBenchmarkSharpe: number;
  psr: number | null;
  minTrl: MinTrackRecord | null;
  dsr: DeflatedSharpe;
  bootstrap: BootstrapResult & { seed: number; sharpePoint: number | null; totalReturnPoint: number | null };
  folds: FoldSignificance;
  costStress: CostStress | null;
  lookahead: LookaheadAudit | null;
  champion: ChampionComparison | null;
  /** The enabled rules and their outcome (filled in with the decision). */
  rules: EvidenceRuleResult[];
  /** For every null statistic above: why. */
  undefinedReasons: Record<string, string>;
}

/** A percentage for prose: up to 4 significant digits, no trailing zeros (18.75, 3.125, 50). */
export function percentText(p: number): string {
  return `${Number((p * 100).toPrecision(4))} %`;
}

export function binomialNote(positive: number, k: number, p: number): string {
  return `${positive} of ${k} positive folds happens ${percentText(p)} of the time with no edge (P(X ≥ ${positive}), each fold a fair coin flip)`;
}

export interface EvidenceInputs {
  /** Each fold's equity curve E_0..E_N, in fold order. */
  foldEquity: readonly ArrayLike<number>[];
  summary: FoldSummary;
  periodsPerYear: number;
  /** N for the deflated Sharpe ratio, and where it came from. */
  trials: { n: number; source: string };
  config: EvidenceConfig;
}

/** The statistics of the pooled walk-forward and of the fold count. */
export function computeEvidence(input: EvidenceInputs): Evidence {
  const { config: cfg, periodsPerYear: P } = input;
  const reasons: Record<string, string> = {};
  const sqrtP = Math.sqrt(P);

  // Pooled per-bar returns r_t = E_t / E_{t−1} − 1, fold after fold.
  let count = 0;
  let blown: string | null = null;
  input.foldEquity.forEach((eq, k) => {
    count += Math.max(0, eq.length - 1);
    for (let t = 0; t < eq.length; t++) if (!(eq[t]! > 0) && blown === null) blown = `the equity of fold ${k + 1} reached zero or below`;
  });
  const returns = new Float64Array(count);
  let at = 0;
  let growth = 1;
  for (const eq of input.foldEquity) {
    for (let t = 1; t < eq.length; t++) returns[at++] = eq[t]! / eq[t - 1]! - 1;
    if (eq.length > 0) growth *= eq[eq.length - 1]! / eq[0]!;
  }

  const moments = blown === null ? returnMoments(returns) : null;
  const why = blown ?? moments?.reason ?? null;
  const sr = moments?.sharpe ?? null;
  const pooled: PooledReturns = {
    observations: count,
    periodsPerYear: P,
    sharpePerPeriod: sr,
    sharpe: sr === null ? null : sr * sqrtP,
    skewness: moments?.skewness ?? null,
    kurtosis: moments?.kurtosis ?? null,
    totalReturn: blown === null && count > 0 ? growth - 1 : null,
  };
  if (sr === null) {
    for (const k of ['sharpe', 'skewness', 'kurtosis', 'psr', 'minTrl', 'dsr']) reasons[k] = why ?? 'no returns';
  }
  if (pooled.totalReturn === null) reasons['totalReturn'] = blown ?? 'no returns';

  let psr: number | null = null;
  let minTrl: MinTrackRecord | null = null;
  const benchmark = cfg.psrBenchmarkSharpe / sqrtP;
  const trialVariance = count >= 2 ? 1 / (count - 1) : null;
  const dsr: DeflatedSharpe = {
    value: null,
    trials: input.trials.n,
    trialsSource: input.trials.source,
    expectedMaxSharpe: null,
    trialSharpeVariance: trialVariance,
    varianceSource: "the Sharpe ratio estimator's variance under the null of no skill, 1/(T − 1): the trials' own Sharpe ratios are not in the archive",
  };
  if (sr !== null && moments) {
    const g3 = moments.skewness!;
    const g4 = moments.kurtosis!;
    const p = probabilisticSharpe(sr, benchmark, count, g3, g4);
    psr = p.value;
    if (p.value === null) reasons['psr'] = p.reason;
    const m = minTrackRecordLength(sr, benchmark, g3, g4, cfg.minTrlConfidence);
    if (m.value === null) reasons['minTrl'] = m.reason;
    else {
      const obs = Math.ceil(m.value);
      minTrl = { observations: obs, years: obs / P, days: (obs / P) * 365, confidence: cfg.minTrlConfidence, met: count >= obs };
    }
    const d = deflatedSharpe(sr, count, g3, g4, input.trials.n, trialVariance!);
    dsr.value = d.value;
    dsr.expectedMaxSharpe = d.expectedMax * sqrtP;
    if (d.value === null) reasons['dsr'] = d.reason;
  }

  const boot = bootstrapSharpeAndReturn(blown === null ? returns : new Float64Array(0), {
    samples: cfg.bootstrap.samples,
    blockLength: cfg.bootstrap.blockLength,
    confidence: cfg.bootstrap.confidence,
    periodsPerYear: P,
    seed: cfg.bootstrap.seed,
  });
  if (blown !== null) {
    boot.undefinedReasons['sharpe'] = boot.undefinedReasons['totalReturn'] = blown;
  }
  for (const [k, v] of Object.entries(boot.undefinedReasons)) reasons[`bootstrap.${k}`] = v;

  const s = input.summary;
  const b = foldBinomialP(s.positiveFolds, s.folds);
  if (b.value === null) reasons['folds.binomialP'] = b.reason;
  const folds: FoldSignificance = {
    positive: s.positiveFolds,
    k: s.folds,
    binomialP: b.value,
    note: b.value === null ? b.reason : binomialNote(s.positiveFolds, s.folds, b.value),
  };

  return {
    returns: pooled,
    psrBenchmarkSharpe: cfg.psrBenchmarkSharpe,
    psr,
    minTrl,
    dsr,
    bootstrap: { ...boot, seed: cfg.bootstrap.seed, sharpePoint: pooled.sharpe, totalReturnPoint: pooled.totalReturn },
    folds,
    costStress: null,
    lookahead: null,
    champion: null,
    rules: [],
    undefinedReasons: reasons,
  };
}

/** The per-fold comparison of a challenger with the deployed champion on the same folds. */
export function compareChampion(
  challenger: readonly { index: number; totalReturn: number | null; sharpe: number | null }[],
  champion: readonly { index: number; totalReturn: number | null; sharpe: number | null }[],
  meta: { source: string; tier: 'LIVE' | 'PAPER'; path: string; card: string; sha256: string },
): ChampionComparison {
  const folds: ChampionFold[] = challenger.map((c, i) => {
    const d = champion[i];
    const a = c.totalReturn;
    const b = d?.totalReturn ?? null;
    return {
      index: c.index,
      challenger: a,
      champion: b,
      difference: a === null || b === null ? null : a - b,
      challengerSharpe: c.sharpe,
      championSharpe: d?.sharpe ?? null,
    };
  });
  const diffs = folds.flatMap((f) => (f.difference === null ? [] : [f.difference]));
  const tTest = pairedTTest(diffs);
  const sign = signTest(diffs);
  const compound = (xs: (number | null)[]): number | null => (xs.some((x) => x === null) || xs.length === 0 ? null : xs.reduce<number>((g, x) => g * (1 + x!), 1) - 1);
  const k = diffs.length;
  const note =
    k === 0
      ? 'no fold has a return for both models'
      : `${k} paired folds: the two-sided sign test cannot go below p = ${percentText(Math.min(1, 2 / 2 ** k))} even when every fold favours one model, ` +
        `and the t-test (${k - 1} degrees of freedom) only detects differences several times the folds' spread — a non-significant result is not evidence of equality`;
  const meanDifference = tTest.meanDifference;
  return {
    ...meta,
    folds,
    meanDifference,
    challengerTotalReturn: compound(folds.map((f) => f.challenger)),
    championTotalReturn: compound(folds.map((f) => f.champion)),
    tTest,
    signTest: sign,
    note,
    notWorse: meanDifference === null ? null : meanDifference >= 0,
  };
}

const num = (v: number): string => String(Number(v.toFixed(3)));

/** The enabled rules' outcomes for a model's evidence and its (SPEC section 7) decision. */
export function evaluateEvidenceRules(evidence: Evidence, cfg: EvidenceConfig, decision: Decision): EvidenceRuleResult[] {
  const out: EvidenceRuleResult[] = [];
  const r = cfg.rules;
  if (r.minPsr !== null) {
    const v = evidence.psr;
    out.push(
      v === null
        ? { rule: 'min_psr', passed: false, detail: `probabilistic Sharpe ratio not defined (${evidence.undefinedReasons['psr'] ?? 'no reason given'}); min_psr ${r.minPsr} not demonstrated` }
        : { rule: 'min_psr', passed: v >= r.minPsr, detail: `probabilistic Sharpe ratio ${num(v)} ${v >= r.minPsr ? '≥' : '<'} min_psr ${r.minPsr}` },
    );
  }
  if (r.minDsr !== null) {
    const v = evidence.dsr.value;
    out.push(
      v === null
        ? { rule: 'min_dsr', passed: false, detail: `deflated Sharpe ratio not defined (${evidence.undefinedReasons['dsr'] ?? 'no reason given'}); min_dsr ${r.minDsr} not demonstrated` }
        : { rule: 'min_dsr', passed: v >= r.minDsr, detail: `deflated Sharpe ratio ${num(v)} (N = ${evidence.dsr.trials}) ${v >= r.minDsr ? '≥' : '<'} min_dsr ${r.minDsr}` },
    );
  }
  if (r.maxBinomialP !== null) {
    const v = evidence.folds.binomialP;
    out.push(
      v === null
        ? { rule: 'max_binomial_p', passed: false, detail: `fold binomial p-value not defined; max_binomial_p ${r.maxBinomialP} not demonstrated` }
        : { rule: 'max_binomial_p', passed: v <= r.maxBinomialP, detail: `${evidence.folds.note}: p ${num(v)} ${v <= r.maxBinomialP ? '≤' : '>'} max_binomial_p ${r.maxBinomialP}` },
    );
  }
  if (cfg.costStress.requireHold) {
    const cs = evidence.costStress;
    if (!cs || cs.decisionUnderStress === null) {
      out.push({ rule: 'cost_stress.require_hold', passed: false, detail: 'the cost-stressed walk-forward did not run, so the decision is not shown to hold under stress' });
    } else {
      const holds = tierRank(cs.decisionUnderStress) >= tierRank(decision.tier);
      out.push({
        rule: 'cost_stress.require_hold',
        passed: holds,
        detail: `at ${cs.multiplier}× costs the walk-forward earns ${cs.decisionUnderStress}${holds ? `, at least ${decision.tier}` : `, below ${decision.tier}`}`,
      });
    }
  }
  if (r.challengerNotWorse) {
    const c = evidence.champion;
    if (!c) {
      out.push({ rule: 'challenger_not_worse', passed: true, detail: `no champion to compare with (${evidence.undefinedReasons['champion'] ?? 'none deployed'})` });
    } else if (c.notWorse === null) {
      out.push({ rule: 'challenger_not_worse', passed: false, detail: `the comparison with the champion ${c.path} has no defined fold pair` });
    } else {
      out.push({
        rule: 'challenger_not_worse',
        passed: c.notWorse,
        detail: `mean fold return difference vs the champion ${c.path} (${c.source}) is ${c.meanDifference! >= 0 ? '+' : ''}${(c.meanDifference! * 100).toFixed(2)} %${c.notWorse ? '' : ': the challenger is worse'}`,
      });
    }
  }
  return out;
}

/**
 * The decision after the evidence rules: one tier lower per failing rule, never below RETRAIN; a
 * decision already at RETRAIN or DROP keeps its tier and lists the failing rules as facts.
 */
export function applyEvidenceRules(decision: Decision, results: readonly EvidenceRuleResult[]): Decision {
  const failed = results.filter((r) => !r.passed);
  if (failed.length === 0) return decision;
  const floor = tierRank('RETRAIN');
  const from = tierRank(decision.tier);
  if (from <= floor) {
    return { ...decision, reasons: [...decision.reasons, ...failed.map((f) => `evidence rule ${f.rule} also fails: ${f.detail}`)] };
  }
  const to = Math.max(floor, from - failed.length);
  const tier = TIER_ORDER[to]!;
  return {
    tier,
    rule: `evidence rules: ${failed.map((f) => f.rule).join(', ')}`,
    reasons: [
      ...failed.map((f, i) => `evidence rule ${f.rule}: ${f.detail}${i === 0 ? ` → ${decision.tier} lowered to ${tier}` : ''}`),
      `before the evidence rules: ${decision.tier} (${decision.rule})`,
      ...decision.reasons,
    ],
  };
}
