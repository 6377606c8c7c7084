/**
 * Judging a deployed model on its own record (docs/promotion.md#tracking-the-accounts-own-record-policy-gate-track): the reconciliation of its
 * account fills with its backtest (./reconcile.ts), the bootstrap interval of the backtest's return over
 * the same bars, and the decision of its re-run walk-forward on the latest data.
 *
 * Verdicts:
 * - `no_record`: nothing to judge (no keys, an empty account, no fill attributed in the record's
 *   window). Never a pass, never a demotion.
 * - `demote`: the record diverges from the backtest — once `min_trades` orders are on record, the mean
 *   realised cost per fill is above `max_shortfall_ratio` × (slippage_bps + fee_bps), or the account's
 *   return is below the bootstrap interval of the backtest's return. The reasons carry the numbers.
 * - `eligible_live` (PAPER models only): every rule holds — `min_days` and `min_trades` on record, the
 *   cost within `max_shortfall_ratio` × the assumption, (missed + extra) / decisions ≤
 *   `max_unmatched_share`, the account's return inside the interval (when `return_inside_interval`),
 *   and the walk-forward on the latest data decides LIVE (which needs gating APPROVED).
 * - `hold`: otherwise; the reasons list each rule that is not met.
 * A missed or extra decision is an operational fault (the runner, a manual trade), not the model's: it
 * blocks eligibility but does not demote.
 */
import type { TrackRules } from './config.js';
import type { Reconciliation } from './reconcile.js';
import { bootstrapSharpeAndReturn, type Interval } from './stats/bootstrap.js';
import type { Tier } from './types.js';

export type TrackVerdict = 'eligible_live' | 'hold' | 'demote' | 'no_record';

export interface TrackCheck {
  rule: 'min_days' | 'min_trades' | 'max_shortfall_ratio' | 'max_unmatched_share' | 'return_inside_interval' | 'walk_forward';
  /** null: could not be judged (the reason is in `text`). */
  pass: boolean | null;
  text: string;
}

export interface TrackJudgement {
  verdict: TrackVerdict;
  reasons: string[];
  checks: TrackCheck[];
}

/** report.json `models[].track` (`policy-gate track`). */
export interface TrackSection {
  account: 'paper' | 'live';
  promotedAt: string | null;
  /** How the account's fills were attributed to the model (null: they were not). */
  attribution: { by: 'symbol' | 'client_order_id_prefix' | null; value: string | null };
  /** Position held at the record's start (opened before promoted_at); null when there is no record. */
  startPosition: number | null;
  capital: number;
  interval: ReturnInterval | null;
  reconciliation: Reconciliation | null;
  judgement: TrackJudgement;
  notes: string[];
}

export interface ReturnInterval {
  interval: Interval | null;
  confidence: number;
  samples: number;
  seed: number;
  reason: string | null;
}

const pct = (x: number): string => `${(x * 100).toFixed(2)} %`;

/** The percentile interval of the backtest's total return over stationary-bootstrap resamples of its bar returns. */
export function backtestReturnInterval(equity: readonly number[], opts: { samples: number; seed: number; blockLength: number | null; confidence: number; periodsPerYear: number }): ReturnInterval {
  const r = new Float64Array(Math.max(0, equity.length - 1));
  for (let k = 1; k < equity.length; k++) r[k - 1] = equity[k]! / equity[k - 1]! - 1;
  const boot = bootstrapSharpeAndReturn(r, { samples: opts.samples, blockLength: opts.blockLength, confidence: opts.confidence, periodsPerYear: opts.periodsPerYear, seed: opts.seed });
  return {
    interval: boot.totalReturn,
    confidence: opts.confidence,
    samples: opts.samples,
    seed: opts.seed,
    reason: boot.totalReturn === null ? (boot.undefinedReasons['totalReturn'] ?? 'undefined') : null,
  };
}

/** The judgement of a model that has no record: said plainly, never a pass, never a demotion. */
export function noRecordJudgement(why: string): TrackJudgement {
  return { verdict: 'no_record', reasons: [`no record yet: ${why}`], checks: [] };
}

export function judgeTrack(
  rec: Reconciliation | null,
  noRecord: string | null,
  ctx: { tier: 'PAPER' | 'LIVE'; rules: TrackRules; interval: ReturnInterval | null; walkForwardTier: Tier | null; walkForwardWhy: string | null },
): TrackJudgement {
  if (rec === null || rec.record.status === 'none') {
    return noRecordJudgement(noRecord ?? (rec && rec.record.status === 'none' ? rec.record.reason : 'no record'));
  }
  const r = ctx.rules;
  const checks: TrackCheck[] = [];
  const days = rec.period.days;
  checks.push({ rule: 'min_days', pass: days >= r.minDays, text: `${days.toFixed(1)} days on record ${days >= r.minDays ? '≥' : '<'} ${r.minDays}` });
  const trades = rec.trades.accountOrders;
  checks.push({ rule: 'min_trades', pass: trades >= r.minTrades, text: `${trades} orders on record ${trades >= r.minTrades ? '≥' : '<'} ${r.minTrades}` });
  const ratio = rec.shortfall.ratio;
  const mean = rec.shortfall.costBps.mean;
  checks.push(
    ratio === null
      ? { rule: 'max_shortfall_ratio', pass: null, text: `realised cost not measured (${rec.undefinedReasons['shortfall'] ?? rec.undefinedReasons['shortfall.ratio'] ?? 'undefined'})` }
      : {
          rule: 'max_shortfall_ratio',
          pass: ratio <= r.maxShortfallRatio,
          text: `mean realised cost ${mean!.toFixed(1)} bps = ${ratio.toFixed(2)} × the assumed ${rec.shortfall.assumedCostBps} bps ${ratio <= r.maxShortfallRatio ? '≤' : '>'} ${r.maxShortfallRatio} ×`,
        },
  );
  const share = rec.decisions.unmatchedShare;
  checks.push(
    share === null
      ? { rule: 'max_unmatched_share', pass: null, text: 'no decisions on either side' }
      : {
          rule: 'max_unmatched_share',
          pass: share <= r.maxUnmatchedShare,
          text: `${rec.decisions.missed} missed + ${rec.decisions.extra} extra of ${rec.decisions.items.length} decisions = ${pct(share)} ${share <= r.maxUnmatchedShare ? '≤' : '>'} ${pct(r.maxUnmatchedShare)}`,
        },
  );
  const acct = rec.sleeve.totalReturn;
  let below = false;
  if (r.returnInsideInterval) {
    const iv = ctx.interval?.interval ?? null;
    if (iv === null || acct === null) {
      checks.push({ rule: 'return_inside_interval', pass: null, text: `the backtest's return interval is undefined (${ctx.interval?.reason ?? 'no backtest'})` });
    } else {
      const inside = acct >= iv[0] && acct <= iv[1];
      below = acct < iv[0];
      checks.push({
        rule: 'return_inside_interval',
        pass: inside,
        text: `account return ${pct(acct)} ${inside ? 'inside' : below ? 'below' : 'above'} the backtest's ${Math.round(ctx.interval!.confidence * 100)} % bootstrap interval [${pct(iv[0])}, ${pct(iv[1])}]`,
      });
    }
  }
  checks.push(
    ctx.walkForwardTier === null
      ? { rule: 'walk_forward', pass: null, text: `walk-forward on the latest data not judged (${ctx.walkForwardWhy ?? 'not evaluated'})` }
      : { rule: 'walk_forward', pass: ctx.walkForwardTier === 'LIVE', text: `walk-forward on the latest data decides ${ctx.walkForwardTier}${ctx.walkForwardWhy ? ` (${ctx.walkForwardWhy})` : ''}` },
  );

  const enough = trades >= r.minTrades;
  const costDiverges = ratio !== null && ratio > r.maxShortfallRatio;
  if (enough && (costDiverges || below)) {
    const why = checks.filter((c) => (c.rule === 'max_shortfall_ratio' && costDiverges) || (c.rule === 'return_inside_interval' && below)).map((c) => c.text);
    return { verdict: 'demote', reasons: [`the record diverges from the backtest: ${why.join('; ')}`], checks };
  }
  const failing = checks.filter((c) => c.pass !== true);
  if (ctx.tier === 'PAPER' && failing.length === 0) {
    return { verdict: 'eligible_live', reasons: [`eligible for LIVE: ${checks.map((c) => c.text).join('; ')}`], checks };
  }
  return {
    verdict: 'hold',
    reasons: ctx.tier === 'LIVE' ? ['the record holds: no divergence beyond the rules'] : [`stays on PAPER: ${failing.map((c) => c.text).join('; ')}`],
    checks,
  };
}
