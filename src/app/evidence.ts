/**
 * Gathers a model's evidence (docs/evidence.md) right after its walk-forward: the pooled statistics
 * (core/evidence.ts), the walk-forward re-run at stressed costs, and the look-ahead audit. The
 * champion/challenger comparison needs the deployment configs and a second model, so the pipeline
 * adds it afterwards (champion.ts).
 */
import type { Config } from '../config/schema.js';
import { computeEvidence, type CostStress, type Evidence } from '../core/evidence.js';
import { ratingThresholdsOf, summarizeFolds, type FoldSummary, type RatingThresholds } from '../core/folds.js';
import { auditLookahead, sampleBars, type ObservationSource } from '../core/lookahead.js';
import { FLAT_STATE } from '../core/observation.js';
import type { ModelReport } from '../core/report.js';
import type { BacktestResult, CostModel } from '../core/simulate.js';
import { mulberry32 } from '../core/stats/bootstrap.js';
import type { BarSeries } from '../core/types.js';

export interface EvidenceContext {
  report: ModelReport;
  config: Config;
  bars: BarSeries;
  /** The builder the simulations used. */
  builder: ObservationSource;
  /** Makes a builder of the same kind on other bars (the truncated series of the look-ahead audit). */
  makeBuilder: (bars: BarSeries) => ObservationSource | Promise<ObservationSource>;
  foldWindows: readonly { index: number; start: number; end: number }[];
  foldResults: readonly BacktestResult[];
  summary: FoldSummary;
  /** The folds re-run at evidence.cost_stress.multiplier × fees and slippage (alongside the normal run); null when switched off. */
  stressed: { costs: CostModel; results: readonly BacktestResult[] } | null;
  periodsPerYear: number;
  /**
   * The observations the simulations' own builder built at auditBars(…) (bar-major, at FLAT_STATE), when
   * the evaluation ran where the model runs; the audit then reads them instead of building them here.
   */
  observed?: { taus: readonly number[]; rows: Float32Array } | null;
}

/** The decision bars the look-ahead audit samples: seeded, among the walk-forward's decisions; none when it is off. */
export function auditBars(config: Config, foldWindows: readonly { start: number; end: number }[], firstValidIndex: number): number[] {
  const { samples, seed } = config.evidence.lookaheadAudit;
  if (samples <= 0 || foldWindows.length === 0) return [];
  const from = Math.max(firstValidIndex, Math.min(...foldWindows.map((w) => w.start)) - 1);
  const to = Math.max(...foldWindows.map((w) => w.end)) - 1;
  return sampleBars(from, to, samples, mulberry32(seed));
}

/**
 * The observations of `builder`'s series at `observed.taus`, read from rows built elsewhere (the
 * onnxruntime process's builder, on the same bars); any other bar or state is built by `builder`.
 */
function observedSource(builder: ObservationSource, observed: { taus: readonly number[]; rows: Float32Array }): ObservationSource {
  const size = builder.size;
  return {
    size,
    firstValidIndex: builder.firstValidIndex,
    build(tau, state, out, offset = 0) {
      const k = observed.taus.indexOf(tau);
      if (k < 0 || state !== FLAT_STATE) return builder.build(tau, state, out, offset);
      out.set(observed.rows.subarray(k * size, (k + 1) * size), offset);
      return out;
    },
    ...(builder.locate ? { locate: (i: number) => builder.locate!(i) } : {}),
  };
}

/** N for the deflated Sharpe ratio: configured, else the length of the model's training history. */
export function dsrTrials(report: ModelReport, config: Config): { n: number; source: string } {
  if (config.evidence.dsrTrials !== null) return { n: config.evidence.dsrTrials, source: 'evidence.dsr_trials' };
  const points = report.gating?.points ?? 0;
  if (points >= 1) {
    return {
      n: points,
      source: `the ${points} validation point${points === 1 ? '' : 's'} (checkpoints) of the training history, any of which could have been the one promoted`,
    };
  }
  return { n: 1, source: 'no training history: one trial' };
}

export function ratingThresholds(config: Config): RatingThresholds {
  return ratingThresholdsOf(config.decision);
}

export async function collectEvidence(ctx: EvidenceContext): Promise<Evidence> {
  const { config, report } = ctx;
  const ev = config.evidence;
  const evidence = computeEvidence({
    foldEquity: ctx.foldResults.map((r) => r.curve.equity),
    summary: ctx.summary,
    periodsPerYear: ctx.periodsPerYear,
    trials: dsrTrials(report, config),
    config: ev,
  });

  // Cost stress: the same folds at multiplier × fees and slippage.
  if (ctx.stressed && ev.costStress.multiplier !== null) {
    const stressed = ctx.stressed.results;
    const costStress: CostStress = {
      multiplier: ev.costStress.multiplier,
      feeBps: ctx.stressed.costs.feeBps,
      slippageBps: ctx.stressed.costs.slippageBps,
      folds: stressed.map((r, i) => ({ index: ctx.foldWindows[i]!.index, totalReturn: r.metrics.totalReturn, sharpe: r.metrics.sharpe, trades: r.metrics.trades })),
      summary: summarizeFolds(
        stressed.map((r) => r.metrics),
        ctx.foldWindows.length,
        ratingThresholds(config),
      ),
      decisionUnderStress: null,
      holds: null,
    };
    evidence.costStress = costStress;
  } else {
    evidence.undefinedReasons['costStress'] = 'switched off (evidence.cost_stress.multiplier is null)';
  }

  // Look-ahead audit at seeded decision bars of the walk-forward.
  const samples = ev.lookaheadAudit.samples;
  if (samples > 0 && ctx.foldWindows.length > 0) {
    const taus = auditBars(config, ctx.foldWindows, ctx.builder.firstValidIndex);
    const observed = ctx.observed;
    const full = observed && observed.rows.length === observed.taus.length * ctx.builder.size ? observedSource(ctx.builder, observed) : ctx.builder;
    const audit = await auditLookahead(ctx.bars, full, ctx.makeBuilder, taus, { samples, seed: ev.lookaheadAudit.seed, state: FLAT_STATE });
    evidence.lookahead = audit;
    if (audit.mismatches > 0) {
      report.flags.push('LOOKAHEAD');
      report.errors.push(
        `LOOKAHEAD: ${audit.mismatches} of ${audit.checked} sampled observations change when the bars after their decision bar are removed — ` +
          `${audit.details[0]}; a feature reads the future, so the backtest is worthless`,
      );
    }
    if (audit.historyDependent > 0) {
      report.notes.push(
        `history dependence: ${audit.historyDependent} of ${audit.checked} sampled observations change when the bars before their warm-up are removed — ` +
          `${audit.historyDetails[0]}; a feature reads more history than its declared span, so live observations (built from a shorter history) can differ from these`,
      );
    }
  } else {
    evidence.undefinedReasons['lookahead'] = samples > 0 ? 'no walk-forward folds to sample' : 'switched off (evidence.lookahead_audit.samples is 0)';
  }
  evidence.undefinedReasons['champion'] = 'not compared: only validate looks for a deployed champion';
  return evidence;
}
