/**
 * What `policy-gate track`'s verdicts change in the deployment configs (docs/promotion.md#tracking-the-accounts-own-record-policy-gate-track):
 *
 * - `eligible_live` (a PAPER model): its entry moves from the paper config to the live config, with
 *   `tier: LIVE`, `promoted_at` now (its LIVE record starts there) and `reasons` the verdict's line; the
 *   model file, card and every other key stay as they are.
 * - `demote`: LIVE → PAPER (its entry moves back, `promoted_at` now), PAPER → out of both configs, the
 *   reason quoting the numbers.
 * - `hold` and `no_record`: nothing changes.
 *
 * Pure; the same shape as planPromotion's plan, so the configs are written, diffed and proposed the same way.
 */
import { cloneDoc, type DeployConfigs, type DeployTier, type PromotionPlan } from './promotion.js';
import type { Report } from './report.js';

const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

export function planTrack(configs: DeployConfigs, report: Report, opts: { now: Date; runUrl: string | null; reportSha256: string }): PromotionPlan {
  const next: DeployConfigs = { paper: cloneDoc(configs.paper), live: cloneDoc(configs.live) };
  const plan: PromotionPlan = { paper: next.paper, live: next.live, changes: [], unchanged: [], skipped: [] };
  const now = opts.now.toISOString();
  for (const m of report.models) {
    const from: DeployTier | null = m.id in next.live.models ? 'LIVE' : m.id in next.paper.models ? 'PAPER' : null;
    const j = m.track?.judgement;
    if (!j || from === null) {
      plan.skipped.push({ id: m.id, why: !j ? 'not tracked' : 'not in a deployment config' });
      continue;
    }
    const reason = oneLine(j.reasons[0] ?? j.verdict);
    const evidence = { reasons: reason, report_sha256: opts.reportSha256, run_url: opts.runUrl };
    if (j.verdict === 'eligible_live' && from === 'PAPER') {
      next.live.models[m.id] = { ...next.paper.models[m.id]!, tier: 'LIVE', promoted_at: now, ...evidence };
      delete next.paper.models[m.id];
      plan.changes.push({ id: m.id, kind: 'promoted', from, to: 'LIVE', decision: 'LIVE', summary: `${m.id}: PAPER → LIVE (${reason})` });
    } else if (j.verdict === 'demote' && from === 'LIVE') {
      next.paper.models[m.id] = { ...next.live.models[m.id]!, tier: 'PAPER', promoted_at: now, ...evidence };
      delete next.live.models[m.id];
      plan.changes.push({ id: m.id, kind: 'demoted', from, to: 'PAPER', decision: 'PAPER', summary: `${m.id}: LIVE → PAPER (${reason})` });
    } else if (j.verdict === 'demote') {
      delete next.paper.models[m.id];
      plan.changes.push({ id: m.id, kind: 'removed', from, to: null, decision: 'RETRAIN', summary: `${m.id}: PAPER → out (${reason})` });
    } else {
      plan.unchanged.push({ id: m.id, tier: from, decision: from });
    }
  }
  return plan;
}
