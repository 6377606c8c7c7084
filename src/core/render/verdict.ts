/**
 * What a reader needs next to a decision: the rule that fired (the decision's first reason) and what
 * the model missed for the next tier up (SPEC section 7), computed from the walk-forward summary, the
 * gating class, the flags and the decision thresholds the run used (report.config.decision). Pure.
 */
import type { ModelReport, Report } from '../report.js';
import type { Tier } from '../types.js';

export interface Thresholds {
  live: { minPositiveShare: number; maxSharpeStd: number };
  paper: { minPositiveShare: number; maxSharpeStd: number };
}

const DEFAULTS: Thresholds = { live: { minPositiveShare: 0.8, maxSharpeStd: 1 }, paper: { minPositiveShare: 0.6, maxSharpeStd: 2 } };

/** The decision thresholds recorded in the report's config (the defaults of SPEC section 7 when absent). */
export function thresholds(report: Pick<Report, 'config'>): Thresholds {
  const d = report.config['decision'] as Partial<Thresholds> | undefined;
  const pick = (t: Partial<Thresholds['live']> | undefined, def: Thresholds['live']): Thresholds['live'] => ({
    minPositiveShare: typeof t?.minPositiveShare === 'number' ? t.minPositiveShare : def.minPositiveShare,
    maxSharpeStd: typeof t?.maxSharpeStd === 'number' ? t.maxSharpeStd : def.maxSharpeStd,
  });
  return { live: pick(d?.live, DEFAULTS.live), paper: pick(d?.paper, DEFAULTS.paper) };
}

const pct = (v: number): string => `${Number((v * 100).toFixed(1))} %`;
const num = (v: number): string => String(Number(v.toFixed(3)));

const NEXT: Record<Tier, Tier | null> = { DROP: 'RETRAIN', RETRAIN: 'PAPER', PAPER: 'LIVE', LIVE: null };

/**
 * "not LIVE: 3/5 positive (60 %) < 80 %, gating REVIEW" — why the model is not one tier higher; null for
 * LIVE (the top) and for a model without a decision. Mirrors the rules of src/core/decide.ts.
 */
export function missedNextTier(m: ModelReport, t: Thresholds): string | null {
  const d = m.decision;
  if (!d) return null;
  const next = NEXT[d.tier];
  if (next === null) return null;
  const first = d.reasons[0] ?? '';
  // An evidence rule lowered the tier: that rule is what it missed.
  if (/^evidence rule /.test(first)) return `not ${next}: ${first}`;
  if (d.rule.startsWith('rule 1')) return `not ${next}: rule 1 drops it whatever the walk-forward shows`;
  const s = m.walkForward?.summary;
  if (!s || d.rule === 'not evaluated') return `not ${next}: there is no walk-forward result to decide on`;
  const share = s.folds > 0 ? s.positiveFolds / s.folds : 0;
  const folds = `${s.positiveFolds}/${s.folds} positive (${pct(share)})`;
  const std = s.sharpeStd;
  const missed: string[] = [];
  if (d.tier === 'DROP') {
    return `not ${next}: no fold made money (best ${s.returnMax === null ? 'undefined' : pct(s.returnMax)})`;
  }
  const want = next === 'LIVE' ? t.live : t.paper;
  if (share < want.minPositiveShare) missed.push(`${folds} < ${pct(want.minPositiveShare)}`);
  if (std === null) missed.push('Sharpe std undefined');
  else if (next === 'LIVE' ? !(std < want.maxSharpeStd) : !(std <= want.maxSharpeStd)) {
    missed.push(`Sharpe std ${num(std)} ${next === 'LIVE' ? '≥' : '>'} ${num(want.maxSharpeStd)}`);
  }
  if (next === 'LIVE') {
    if (m.gating && m.gating.classification !== 'APPROVED') missed.push(`gating ${m.gating.classification} (LIVE needs APPROVED)`);
    if (m.flags.includes('IN_SAMPLE_OVERLAP')) missed.push('IN_SAMPLE_OVERLAP (the window overlaps training)');
  }
  return `not ${next}: ${missed.length ? missed.join(', ') : 'see the reasons'}`;
}

/** The decision, its rule and what it missed for the next tier, on one line (no "DECISION:" prefix). */
export function decisionSentence(m: ModelReport, t: Thresholds): string | null {
  const d = m.decision;
  if (!d) return m.notEvaluated ? `not evaluated — no decision (requested ${m.requested})` : null;
  const miss = missedNextTier(m, t);
  return `${d.tier} (${d.reasons[0] ?? d.rule})${miss ? ` — ${miss}` : ''}`;
}
