/**
 * Gating on training metric histories (SPEC section 8): APPROVED / REVIEW / DROP with flags.
 * Pure: the same histories and thresholds always give the same result.
 */
import type { MetricHistory } from './summary.js';
import type { FinalMetrics, GatingConfig, GatingFlag, GatingResult, GatingThresholds, MetricKey } from './types.js';

/**
 * Tolerance for "more than X" comparisons on differences of decimal fractions: 0.80 − 0.75 is
 * 0.05000000000000004 in binary floating point, and must not count as "more than 0.05".
 */
const EPS = 1e-12;

const fmt = (v: number): string => String(Number(v.toPrecision(6)));

function passes(final: Required<{ [K in keyof FinalMetrics]: number }>, t: GatingThresholds): boolean {
  return final.fitness >= t.fitness && final.profitFactor >= t.profitFactor && final.consistency >= t.consistency && final.maxDrawdown <= t.maxDrawdown;
}

/** Checks on ranges: a fraction outside [0, 1] is never rescaled (SPEC section 2). */
function rangeProblem(key: MetricKey, values: number[]): string | null {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if ((key === 'consistency' || key === 'max_drawdown') && (v < 0 || v > 1)) {
      return `${key}[${i}] = ${v} is outside [0, 1] (values are fractions: 0.08 means 8 %); not rescaled`;
    }
    if (key === 'profit_factor' && v < 0) return `${key}[${i}] = ${v} is negative; a profit factor cannot be`;
  }
  return null;
}

export function gate(metrics: Record<MetricKey, MetricHistory>, cfg: GatingConfig): GatingResult {
  const flags: GatingFlag[] = [];
  const reasons: string[] = [];
  const lastOf = (k: MetricKey): number | null => {
    const h = metrics[k];
    return h.ok ? h.values[h.values.length - 1]! : null;
  };
  const final: FinalMetrics = {
    fitness: lastOf('fitness_score'),
    profitFactor: lastOf('profit_factor'),
    consistency: lastOf('consistency'),
    maxDrawdown: lastOf('max_drawdown'),
  };
  const fitnessHistory = metrics.fitness_score.ok ? metrics.fitness_score.values : [];

  const invalid: string[] = [];
  for (const key of Object.keys(metrics) as MetricKey[]) {
    const h = metrics[key];
    if (!h.ok) invalid.push(h.reason);
    else {
      const problem = rangeProblem(key, h.values);
      if (problem) invalid.push(problem);
    }
  }
  if (invalid.length > 0) {
    return {
      classification: 'DROP',
      flags: ['METRIC_INVALID'],
      final,
      checkpointIndex: null,
      reasons: invalid.map((r) => `METRIC_INVALID: ${r}`),
      points: fitnessHistory.length,
    };
  }

  const f = final as { fitness: number; profitFactor: number; consistency: number; maxDrawdown: number };
  const a = cfg.approved;
  if (f.fitness < a.fitness) {
    flags.push('LOW_FITNESS');
    reasons.push(`LOW_FITNESS: fitness ${fmt(f.fitness)} < ${fmt(a.fitness)}`);
  }
  if (f.profitFactor < a.profitFactor) {
    flags.push('LOW_PF');
    reasons.push(`LOW_PF: profit factor ${fmt(f.profitFactor)} < ${fmt(a.profitFactor)}`);
  }
  if (f.consistency < a.consistency) {
    flags.push('LOW_CONSISTENCY');
    reasons.push(`LOW_CONSISTENCY: consistency ${fmt(f.consistency)} < ${fmt(a.consistency)}`);
  }
  if (f.maxDrawdown > a.maxDrawdown) {
    flags.push('HIGH_DRAWDOWN');
    reasons.push(`HIGH_DRAWDOWN: training MaxDD ${fmt(f.maxDrawdown)} > ${fmt(a.maxDrawdown)} (a reward-volatility proxy)`);
  }

  // FITNESS_DECLINE: the final fitness is more than `fitnessDecline` (absolute) below the history's peak.
  let checkpointIndex: number | null = null;
  let peakIdx = 0;
  for (let i = 1; i < fitnessHistory.length; i++) if (fitnessHistory[i]! > fitnessHistory[peakIdx]!) peakIdx = i;
  const peak = fitnessHistory[peakIdx]!;
  if (peak - f.fitness > cfg.fitnessDecline + EPS) {
    flags.push('FITNESS_DECLINE');
    checkpointIndex = peakIdx;
    reasons.push(
      `FITNESS_DECLINE: final fitness ${fmt(f.fitness)} is ${fmt(peak - f.fitness)} below the peak ${fmt(peak)} at point ${peakIdx} (limit ${fmt(cfg.fitnessDecline)}); checkpoint ${peakIdx} recommended`,
    );
  }

  // UNSTABLE_TRAINING: over the last 5 points fitness both rises and falls, and one step drops by
  // more than `unstableOscillation` of the point before it. Steady improvement never qualifies.
  const tail = fitnessHistory.slice(-5);
  let rises = false;
  let falls = false;
  let worstDrop: { at: number; rel: number } | null = null;
  for (let i = 1; i < tail.length; i++) {
    const prev = tail[i - 1]!;
    const cur = tail[i]!;
    if (cur > prev) rises = true;
    if (cur < prev) {
      falls = true;
      const drop = prev - cur;
      if (drop > cfg.unstableOscillation * Math.abs(prev) + EPS) {
        const rel = prev === 0 ? Infinity : drop / Math.abs(prev);
        if (!worstDrop || rel > worstDrop.rel) worstDrop = { at: fitnessHistory.length - tail.length + i, rel };
      }
    }
  }
  if (rises && falls && worstDrop) {
    flags.push('UNSTABLE_TRAINING');
    reasons.push(
      `UNSTABLE_TRAINING: fitness oscillates over the last ${tail.length} points; the drop into point ${worstDrop.at} is ${
        Number.isFinite(worstDrop.rel) ? `${fmt(worstDrop.rel * 100)} %` : 'from 0'
      } of the point before it (limit ${fmt(cfg.unstableOscillation * 100)} %)`,
    );
  }

  if (fitnessHistory.length < 3) {
    flags.push('SHORT_HISTORY');
    reasons.push(`SHORT_HISTORY: ${fitnessHistory.length} validation point(s), fewer than 3; trends cannot be judged`);
  }

  let classification: GatingResult['classification'];
  if (passes(f, cfg.approved)) classification = 'APPROVED';
  else if (passes(f, cfg.review)) classification = 'REVIEW';
  else {
    classification = 'DROP';
    const r = cfg.review;
    const below: string[] = [];
    if (f.fitness < r.fitness) below.push(`fitness ${fmt(f.fitness)} < ${fmt(r.fitness)}`);
    if (f.profitFactor < r.profitFactor) below.push(`profit factor ${fmt(f.profitFactor)} < ${fmt(r.profitFactor)}`);
    if (f.consistency < r.consistency) below.push(`consistency ${fmt(f.consistency)} < ${fmt(r.consistency)}`);
    if (f.maxDrawdown > r.maxDrawdown) below.push(`MaxDD ${fmt(f.maxDrawdown)} > ${fmt(r.maxDrawdown)}`);
    reasons.unshift(`below the REVIEW level: ${below.join(', ')}`);
  }

  return { classification, flags, final, checkpointIndex, reasons, points: fitnessHistory.length };
}
