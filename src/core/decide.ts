/**
 * The deployment decision (SPEC section 7) and the run's conclusion. Every threshold comes from the
 * config; every decision says which rule fired.
 */
import type { DecisionConfig } from './config.js';
import { rateWalkForward, ratingThresholdsOf } from './folds.js';
import type { FoldSummary, ModelReport, Report } from './report.js';
import { tierRank, type Decision, type GatingResult, type ModelFlag } from './types.js';

const pct = (v: number): string => `${Number((v * 100).toFixed(1))} %`;
const num = (v: number | null): string => (v === null ? 'undefined' : String(Number(v.toFixed(3))));

export interface DecisionInput {
  /**
   * The gating result, or null when there is no training summary to gate (`policy-gate backtest
   * --walk-forward K`): rule 1 then judges the model's own flags only, and rule 3 cannot fire, because
   * LIVE needs APPROVED gating — such a model is at most PAPER.
   */
  gating: GatingResult | null;
  flags: readonly ModelFlag[];
  /** The walk-forward summary, or null when the model was not evaluated. */
  folds: FoldSummary | null;
  /** Why the model could not be evaluated, if it could not. */
  notEvaluated?: string | null;
}

/**
 * The decision of SPEC section 7, or null when the model was not evaluated (no walk-forward summary):
 * what could not be judged gets no tier — it is reported as "not evaluated" with its reason, never as
 * DROP, and the run's conclusion fails (`conclude`). Rule 1 still decides a model without folds whose
 * gating or golden vectors already rule it out. A model without observation parity is then capped at
 * decision.no_observation_parity_cap.
 */
export function decide(input: DecisionInput, cfg: DecisionConfig): Decision | null {
  const decision = decideUncapped(input, cfg);
  if (decision === null || !input.flags.includes('NO_OBSERVATION_PARITY') || decision.tier === 'DROP') return decision;
  const cap = cfg.noObservationParityCap ?? 'PAPER';
  const why = 'NO_OBSERVATION_PARITY: no { "at", "obs" } golden vector was checked, so the observation builder was never compared with the training code';
  if (tierRank(decision.tier) <= tierRank(cap)) {
    return { ...decision, reasons: [...decision.reasons, `${why} (decision.no_observation_parity_cap ${cap} does not lower ${decision.tier})`] };
  }
  return {
    tier: cap,
    rule: `${decision.rule}, capped at ${cap}: no observation parity`,
    reasons: [`${why}; capped at ${cap} (decision.no_observation_parity_cap), the walk-forward alone earned ${decision.tier}`, ...decision.reasons],
  };
}

function decideUncapped(input: DecisionInput, cfg: DecisionConfig): Decision | null {
  const { gating, flags, folds } = input;
  const hard = (['METRIC_INVALID', 'OBSERVATION_MISMATCH', 'INFERENCE_MISMATCH', 'LOOKAHEAD'] as const).filter((f) => flags.includes(f));
  if (gating?.classification === 'DROP' || hard.length > 0) {
    const why = hard.length > 0 ? hard.join(', ') : 'gating classified the model DROP';
    return { tier: 'DROP', rule: 'rule 1: gating DROP or invalid evidence', reasons: [`rule 1: ${why}`, ...(gating?.reasons ?? [])] };
  }
  if ((input.notEvaluated ?? null) !== null || folds === null) return null;

  const share = folds.folds > 0 ? folds.positiveFolds / folds.folds : 0;
  const facts = `${folds.positiveFolds}/${folds.folds} positive folds (${pct(share)}), Sharpe std ${num(folds.sharpeStd)}`;
  const negatives = folds.returnMax !== null && folds.returnMax < 0;
  if (negatives) {
    return {
      tier: 'DROP',
      rule: 'rule 2: consistent losses',
      reasons: [`rule 2: every fold lost money (best fold return ${pct(folds.returnMax!)}); investigate the training data`, facts],
    };
  }

  const std = folds.sharpeStd;
  const live = cfg.live;
  const paper = cfg.paper;
  // The same rating the report shows beside the decision (folds.ts): GOOD passes LIVE's walk-forward
  // test, GOOD or MARGINAL PAPER's.
  const rating = rateWalkForward(share, std, ratingThresholdsOf(cfg));
  const liveWalkForward = rating === 'GOOD';
  if (liveWalkForward && gating?.classification === 'APPROVED' && !flags.includes('IN_SAMPLE_OVERLAP')) {
    return {
      tier: 'LIVE',
      rule: 'rule 3: consistent walk-forward and APPROVED gating',
      reasons: [`rule 3: positive share ${pct(share)} ≥ ${pct(live.minPositiveShare)}, Sharpe std ${num(std)} < ${live.maxSharpeStd}, gating APPROVED, out of sample`, facts],
    };
  }
  if (rating !== 'POOR') {
    const caps: string[] = [];
    if (liveWalkForward && gating === null) caps.push('no training summary, so no gating: LIVE needs APPROVED gating, so the model is at most PAPER');
    else if (liveWalkForward && gating!.classification !== 'APPROVED') caps.push(`gating ${gating!.classification} caps the model at PAPER`);
    if (liveWalkForward && flags.includes('IN_SAMPLE_OVERLAP')) caps.push('IN_SAMPLE_OVERLAP: the window overlaps training data, so not LIVE');
    return {
      tier: 'PAPER',
      rule: 'rule 4: moderately consistent walk-forward',
      reasons: [`rule 4: positive share ${pct(share)} ≥ ${pct(paper.minPositiveShare)}, Sharpe std ${num(std)} ≤ ${paper.maxSharpeStd}`, ...caps, facts],
    };
  }
  const missing: string[] = [];
  if (share < paper.minPositiveShare) missing.push(`positive share ${pct(share)} < ${pct(paper.minPositiveShare)}`);
  if (std === null) missing.push('Sharpe std is undefined (fewer than 2 folds with a defined Sharpe)');
  else if (std > paper.maxSharpeStd) missing.push(`Sharpe std ${num(std)} > ${paper.maxSharpeStd}`);
  return { tier: 'RETRAIN', rule: 'rule 5: inconsistent walk-forward', reasons: [`rule 5: ${missing.join(', ')}`, facts] };
}

/**
 * The run's conclusion: failure when any requested model's decision is below its requested tier, or
 * when a requested model was not evaluated. A model requested at DROP (nothing asked of it, e.g. one a
 * pull request retires) fails nothing, decided or not.
 */
export function conclude(models: readonly ModelReport[]): { conclusion: 'success' | 'failure'; reasons: string[] } {
  const reasons: string[] = [];
  for (const m of models) {
    if (!m.decision) {
      if (m.requested === 'DROP') continue;
      reasons.push(`${m.id}: not evaluated (requested ${m.requested})${m.notEvaluated ? `: ${m.notEvaluated.reason}` : ''}`);
    } else if (tierRank(m.decision.tier) < tierRank(m.requested)) {
      reasons.push(`${m.id}: ${m.decision.tier} is below the requested ${m.requested}`);
    }
  }
  return { conclusion: reasons.length > 0 ? 'failure' : 'success', reasons };
}

/**
 * Sets a run's conclusion from its models' decisions (`conclude`) and its run-level problems: a run
 * error or an infrastructure error (an unreachable data provider, a missing ONNX Runtime) fails the run
 * whatever the models earned.
 */
export function concludeReport(report: Pick<Report, 'models' | 'errors' | 'infraErrors' | 'conclusion' | 'conclusionReasons'>): void {
  const c = conclude(report.models);
  report.conclusion = report.errors.length > 0 || report.infraErrors.length > 0 ? 'failure' : c.conclusion;
  report.conclusionReasons = [...report.errors.map((e) => `run error: ${e}`), ...report.infraErrors.map((e) => `infrastructure error: ${e}`), ...c.reasons];
}
