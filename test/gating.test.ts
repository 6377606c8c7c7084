import { describe, expect, it } from 'vitest';
import { gate } from '../src/core/gating.js';
import { defaultConfig, GATING_PRESETS } from '../src/config/schema.js';
import type { MetricHistory } from '../src/core/summary.js';
import type { GatingConfig, MetricKey } from '../src/core/types.js';

const cfg: GatingConfig = defaultConfig().gating;
const v410: GatingConfig = { ...cfg, preset: 'v4.1.0', ...GATING_PRESETS['v4.1.0']! };

const h = (values: number[]): MetricHistory => ({ ok: true, values });

/** Histories whose final values are given; the fitness history is steady unless overridden. */
function metrics(final: { fitness: number; pf: number; consistency: number; dd: number }, fitnessHistory?: number[]): Record<MetricKey, MetricHistory> {
  return {
    fitness_score: h(fitnessHistory ?? [final.fitness * 0.8, final.fitness * 0.9, final.fitness]),
    profit_factor: h([final.pf, final.pf, final.pf]),
    consistency: h([final.consistency, final.consistency, final.consistency]),
    max_drawdown: h([final.dd, final.dd, final.dd]),
  };
}

const APPROVED_EDGE = { fitness: 0.7, pf: 1.8, consistency: 0.85, dd: 0.08 };
const REVIEW_EDGE = { fitness: 0.5, pf: 1.3, consistency: 0.65, dd: 0.15 };

describe('gating v2.4.5 thresholds at their boundaries', () => {
  it('APPROVED exactly at every APPROVED threshold (≥ / ≤ are inclusive)', () => {
    const r = gate(metrics(APPROVED_EDGE), cfg);
    expect(r.classification).toBe('APPROVED');
    expect(r.flags).toEqual([]);
    expect(r.final).toEqual({ fitness: 0.7, profitFactor: 1.8, consistency: 0.85, maxDrawdown: 0.08 });
  });

  it.each([
    ['fitness', { ...APPROVED_EDGE, fitness: 0.6999 }, 'LOW_FITNESS'],
    ['profit factor', { ...APPROVED_EDGE, pf: 1.7999 }, 'LOW_PF'],
    ['consistency', { ...APPROVED_EDGE, consistency: 0.8499 }, 'LOW_CONSISTENCY'],
    ['max drawdown', { ...APPROVED_EDGE, dd: 0.0801 }, 'HIGH_DRAWDOWN'],
  ])('just below APPROVED on %s → REVIEW with its flag', (_name, final, flag) => {
    const r = gate(metrics(final), cfg);
    expect(r.classification).toBe('REVIEW');
    expect(r.flags).toEqual([flag]);
  });

  it('REVIEW exactly at every REVIEW threshold, with all four LOW flags', () => {
    const r = gate(metrics(REVIEW_EDGE), cfg);
    expect(r.classification).toBe('REVIEW');
    expect(r.flags).toEqual(['LOW_FITNESS', 'LOW_PF', 'LOW_CONSISTENCY', 'HIGH_DRAWDOWN']);
  });

  it.each([
    ['fitness', { ...REVIEW_EDGE, fitness: 0.4999 }],
    ['profit factor', { ...REVIEW_EDGE, pf: 1.2999 }],
    ['consistency', { ...REVIEW_EDGE, consistency: 0.6499 }],
    ['max drawdown', { ...REVIEW_EDGE, dd: 0.1501 }],
  ])('just below REVIEW on %s → DROP (all four must pass)', (_name, final) => {
    const r = gate(metrics(final), cfg);
    expect(r.classification).toBe('DROP');
    expect(r.reasons[0]).toMatch(/^below the REVIEW level: /);
  });

  it('one excellent metric does not rescue a failing one', () => {
    const r = gate(metrics({ fitness: 0.95, pf: 3.0, consistency: 0.99, dd: 0.2 }), cfg);
    expect(r.classification).toBe('DROP');
    expect(r.flags).toEqual(['HIGH_DRAWDOWN']);
  });
});

describe('gating v4.1.0 preset', () => {
  it('APPROVED at 0.35 / 1.4 / 0.70 / 0.10 — a model v2.4.5 only REVIEWs', () => {
    const m = metrics({ fitness: 0.35, pf: 1.4, consistency: 0.7, dd: 0.1 });
    expect(gate(m, v410).classification).toBe('APPROVED');
    expect(gate(m, cfg).classification).toBe('DROP');
  });
  it('REVIEW at 0.10 / 1.1 / 0.50 / 0.20, DROP just below', () => {
    expect(gate(metrics({ fitness: 0.1, pf: 1.1, consistency: 0.5, dd: 0.2 }), v410).classification).toBe('REVIEW');
    expect(gate(metrics({ fitness: 0.0999, pf: 1.1, consistency: 0.5, dd: 0.2 }), v410).classification).toBe('DROP');
  });
});

describe('FITNESS_DECLINE', () => {
  const base = { pf: 2, consistency: 0.9, dd: 0.05 };
  it('flags a final fitness more than 0.05 below the peak and recommends the peak checkpoint', () => {
    const r = gate(metrics({ ...base, fitness: 0.74 }, [0.5, 0.8, 0.79, 0.74]), cfg);
    expect(r.flags).toContain('FITNESS_DECLINE');
    expect(r.checkpointIndex).toBe(1);
    expect(r.classification).toBe('APPROVED');
  });
  it('does not flag a decline of exactly 0.05 (0.80 → 0.75, despite binary rounding)', () => {
    const r = gate(metrics({ ...base, fitness: 0.75 }, [0.5, 0.8, 0.75]), cfg);
    expect(r.flags).not.toContain('FITNESS_DECLINE');
    expect(r.checkpointIndex).toBeNull();
  });
  it('flags 0.0501 below the peak', () => {
    const r = gate(metrics({ ...base, fitness: 0.7499 }, [0.5, 0.8, 0.7499]), cfg);
    expect(r.flags).toContain('FITNESS_DECLINE');
    expect(r.checkpointIndex).toBe(1);
  });
  it('takes the first index of a repeated peak', () => {
    const r = gate(metrics({ ...base, fitness: 0.7 }, [0.9, 0.8, 0.9, 0.7]), cfg);
    expect(r.checkpointIndex).toBe(0);
  });
  it('honours a configured fitness_decline', () => {
    const r = gate(metrics({ ...base, fitness: 0.74 }, [0.5, 0.8, 0.79, 0.74]), { ...cfg, fitnessDecline: 0.1 });
    expect(r.flags).not.toContain('FITNESS_DECLINE');
  });
});

describe('UNSTABLE_TRAINING', () => {
  const base = { pf: 2, consistency: 0.9, dd: 0.05 };
  it('flags rises and falls with a drop over 10 % of the point before it', () => {
    // 0.80 → 0.71 is a drop of 0.09 = 11.25 % of 0.80.
    const r = gate(metrics({ ...base, fitness: 0.78 }, [0.7, 0.8, 0.71, 0.78]), cfg);
    expect(r.flags).toContain('UNSTABLE_TRAINING');
  });
  it('does not flag a drop of exactly 10 % (0.80 → 0.72)', () => {
    const r = gate(metrics({ ...base, fitness: 0.78 }, [0.7, 0.8, 0.72, 0.78]), cfg);
    expect(r.flags).not.toContain('UNSTABLE_TRAINING');
  });
  it('steady improvement is not instability, however large the steps', () => {
    const r = gate(metrics({ ...base, fitness: 0.9 }, [0.1, 0.3, 0.6, 0.8, 0.9]), cfg);
    expect(r.flags).toEqual([]);
  });
  it('a monotone decline is not oscillation (it is FITNESS_DECLINE)', () => {
    const r = gate(metrics({ ...base, fitness: 0.7 }, [1.0, 0.9, 0.8, 0.7]), cfg);
    expect(r.flags).toContain('FITNESS_DECLINE');
    expect(r.flags).not.toContain('UNSTABLE_TRAINING');
  });
  it('only looks at the last 5 points', () => {
    // The big drop (0.9 → 0.5) is before the last five points, which rise steadily.
    const r = gate(metrics({ ...base, fitness: 0.9 }, [0.9, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9]), cfg);
    expect(r.flags).not.toContain('UNSTABLE_TRAINING');
  });
});

describe('SHORT_HISTORY and METRIC_INVALID', () => {
  it('flags fewer than 3 points; 3 points is enough', () => {
    const two = gate(metrics(APPROVED_EDGE, [0.69, 0.7]), cfg);
    expect(two.flags).toContain('SHORT_HISTORY');
    expect(two.points).toBe(2);
    expect(gate(metrics(APPROVED_EDGE, [0.6, 0.69, 0.7]), cfg).flags).not.toContain('SHORT_HISTORY');
  });

  it.each([
    ['consistency above 1 (a percentage)', { consistency: h([0.8, 88]) }, /consistency\[1\] = 88 is outside \[0, 1\]/],
    ['max_drawdown above 1', { max_drawdown: h([0.05, 10.178]) }, /max_drawdown\[1\] = 10.178 is outside/],
    ['negative max_drawdown', { max_drawdown: h([-0.01]) }, /outside \[0, 1\]/],
    ['negative profit factor', { profit_factor: h([-1]) }, /negative/],
    ['a missing metric', { profit_factor: { ok: false, reason: 'profit_factor is missing' } as MetricHistory }, /profit_factor is missing/],
    ['consistency just above 1', { consistency: h([0.9, 1.000001]) }, /consistency\[1\] = 1.000001 is outside \[0, 1\]/],
    ['negative consistency', { consistency: h([-0.000001, 0.9]) }, /consistency\[0\] = -0.000001 is outside \[0, 1\]/],
    ['max_drawdown just above 1', { max_drawdown: h([0.05, 1.000001]) }, /max_drawdown\[1\] = 1.000001 is outside/],
    ['a profit factor just below 0', { profit_factor: h([2, -0.000001]) }, /profit_factor\[1\] = -0.000001 is negative/],
  ])('%s → DROP with METRIC_INVALID and the reason', (_name, override, reason) => {
    const r = gate({ ...metrics(APPROVED_EDGE), ...override }, cfg);
    expect(r.classification).toBe('DROP');
    expect(r.flags).toEqual(['METRIC_INVALID']);
    expect(r.reasons.join('\n')).toMatch(reason);
  });
});

describe('METRIC_INVALID bounds are inclusive: the ends of each range are valid values', () => {
  it.each([
    ['a perfectly consistent model (consistency 1)', { consistency: h([0.9, 0.95, 1]) }],
    ['consistency 0 in the history', { consistency: h([0, 0.9, 0.9]) }],
    ['no drawdown at all (max_drawdown 0)', { max_drawdown: h([0.01, 0, 0]) }],
    ['a total drawdown in the history (max_drawdown 1)', { max_drawdown: h([1, 0.05, 0.05]) }],
    ['a profit factor of 0 in the history', { profit_factor: h([0, 2, 2]) }],
    ['a negative fitness (fitness is not a fraction)', { fitness_score: h([-0.5, 0.6, 0.8]) }],
  ])('%s is not METRIC_INVALID', (_name, override) => {
    const r = gate({ ...metrics({ fitness: 0.8, pf: 2, consistency: 0.9, dd: 0.05 }), ...override }, cfg);
    expect(r.flags).not.toContain('METRIC_INVALID');
    expect(r.classification).not.toBe('DROP');
  });
});

describe('the reasons name exactly what failed, with the numbers', () => {
  it.each([
    ['fitness', { ...REVIEW_EDGE, fitness: 0.4 }, 'below the REVIEW level: fitness 0.4 < 0.5'],
    ['profit factor', { ...REVIEW_EDGE, pf: 1.2 }, 'below the REVIEW level: profit factor 1.2 < 1.3'],
    ['consistency', { ...REVIEW_EDGE, consistency: 0.6 }, 'below the REVIEW level: consistency 0.6 < 0.65'],
    ['max drawdown', { ...REVIEW_EDGE, dd: 0.2 }, 'below the REVIEW level: MaxDD 0.2 > 0.15'],
  ])('DROP for %s alone lists only that metric', (_what, final, reason) => {
    const r = gate(metrics(final), cfg);
    expect(r.classification).toBe('DROP');
    expect(r.reasons[0]).toBe(reason);
  });

  it('DROP for every metric lists all four, in order', () => {
    const r = gate(metrics({ fitness: 0.1, pf: 1, consistency: 0.5, dd: 0.3 }), cfg);
    expect(r.reasons[0]).toBe('below the REVIEW level: fitness 0.1 < 0.5, profit factor 1 < 1.3, consistency 0.5 < 0.65, MaxDD 0.3 > 0.15');
  });

  it('FITNESS_DECLINE names the peak, its point and the decline', () => {
    const r = gate(metrics({ ...APPROVED_EDGE, fitness: 0.7 }, [0.6, 0.9, 0.8, 0.75, 0.7]), cfg);
    expect(r.reasons).toContain('FITNESS_DECLINE: final fitness 0.7 is 0.2 below the peak 0.9 at point 1 (limit 0.05); checkpoint 1 recommended');
    expect(r.checkpointIndex).toBe(1);
  });

  it('UNSTABLE_TRAINING names the worst drop of the last five points, its point and its size', () => {
    // Points 3..7 are the tail: 0.8 → 0.6 (−25 %) → 0.9 → 0.72 (−20 %) → 0.85; the worst drop is into point 4.
    const r = gate(metrics({ ...APPROVED_EDGE, fitness: 0.85 }, [0.5, 0.6, 0.7, 0.8, 0.6, 0.9, 0.72, 0.85]), cfg);
    expect(r.flags).toContain('UNSTABLE_TRAINING');
    expect(r.reasons).toContain('UNSTABLE_TRAINING: fitness oscillates over the last 5 points; the drop into point 4 is 25 % of the point before it (limit 10 %)');
  });

  it('a drop from 0 is reported as such; a drop within the limit is not unstable', () => {
    const fromZero = gate(metrics({ ...APPROVED_EDGE, fitness: 0.7 }, [0.3, 0, -0.2, 0.7, 0.7]), cfg);
    expect(fromZero.reasons.find((x) => x.startsWith('UNSTABLE_TRAINING'))).toContain('the drop into point 2 is from 0 of the point before it');
    const small = gate(metrics({ ...APPROVED_EDGE, fitness: 0.7 }, [0.6, 0.7, 0.64, 0.7, 0.7]), cfg); // −8.6 %, under 10 %
    expect(small.flags).not.toContain('UNSTABLE_TRAINING');
  });
});
