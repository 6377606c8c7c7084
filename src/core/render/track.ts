/**
 * The reconciliation of `policy-gate track` as text (terminal) and markdown (report.md, check run,
 * comment): one block per model. Pure.
 */
import type { ModelReport } from '../report.js';
import type { TrackSection } from '../track.js';
import { md } from './escape.js';

const pct = (x: number | null): string => (x === null ? 'n/a' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)} %`);
const bps = (x: number | null): string => (x === null ? 'n/a' : `${x.toFixed(1)} bps`);
const num = (x: number | null, d = 2): string => (x === null ? 'n/a' : x.toFixed(d));

const VERDICT: Record<TrackSection['judgement']['verdict'], string> = {
  eligible_live: 'ELIGIBLE FOR LIVE',
  hold: 'HOLD',
  demote: 'DEMOTE',
  no_record: 'NO RECORD',
};

/** The lines of one model's reconciliation (no heading). */
export function trackLines(t: TrackSection): string[] {
  const out: string[] = [];
  const r = t.reconciliation;
  out.push(`verdict: ${VERDICT[t.judgement.verdict]} — ${t.judgement.reasons.join('; ')}`);
  if (r === null) return [...out, ...t.notes.map((n) => `note: ${n}`)];
  const by = t.attribution.by === 'symbol' ? `by symbol ${t.attribution.value}` : `by client_order_id prefix "${t.attribution.value}"`;
  out.push(
    `record: ${r.period.start} → ${r.period.end}, ${r.period.days.toFixed(1)} days, ${r.period.bars} bars; ${r.trades.accountOrders} orders (${r.trades.accountFills} fills) attributed ${by}; start position ${t.startPosition}`,
  );
  const lagCounts = Object.entries(r.decisions.lag.counts)
    .sort((a, b) => Number(a[0]) - Number(b[0]))
    .map(([lag, n]) => `${lag} bar${Math.abs(Number(lag)) === 1 ? '' : 's'}: ${n}`)
    .join(', ');
  out.push(
    `decisions: ${r.decisions.matched} matched, ${r.decisions.missed} missed, ${r.decisions.extra} extra of ${r.decisions.items.length}` +
      ` (${r.decisions.unmatchedShare === null ? 'n/a' : `${(r.decisions.unmatchedShare * 100).toFixed(2)} %`} unmatched); lag mean ${num(r.decisions.lag.mean)} bars${lagCounts ? ` (${lagCounts})` : ''}`,
  );
  const s = r.shortfall;
  out.push(
    `shortfall vs the backtest's fill price: mean ${bps(s.shortfallBps.mean)}, median ${bps(s.shortfallBps.median)}, p95 ${bps(s.shortfallBps.p95)} over ${s.shortfallBps.n} fills (positive = worse)`,
  );
  out.push(
    `realised cost (vs the unslipped open, fees included): mean ${bps(s.costBps.mean)}, median ${bps(s.costBps.median)}, p95 ${bps(s.costBps.p95)}; assumed ${s.assumedCostBps} bps (slippage + fee); ratio ${num(s.ratio)}`,
  );
  const iv = t.interval?.interval ?? null;
  out.push(
    `return: account ${pct(r.sleeve.totalReturn)}, backtest ${pct(r.backtest.totalReturn)}, difference ${pct(r.comparison.returnDifference)}; ` +
      `tracking error ${r.comparison.trackingError === null ? 'n/a' : `${(r.comparison.trackingError * 100).toFixed(2)} % a year`}; correlation ${num(r.comparison.correlation, 3)}; fees ${r.sleeve.fees.toFixed(2)}`,
  );
  out.push(`backtest ${Math.round((t.interval?.confidence ?? 0) * 100)} % bootstrap interval of the return: ${iv ? `[${pct(iv[0])}, ${pct(iv[1])}]` : `n/a (${t.interval?.reason ?? 'undefined'})`}`);
  for (const c of t.judgement.checks) out.push(`  ${c.pass === true ? 'ok  ' : c.pass === false ? 'FAIL' : 'n/a '} ${c.rule}: ${c.text}`);
  for (const [k, v] of Object.entries(r.undefinedReasons)) out.push(`  (${k} undefined: ${v})`);
  for (const n of t.notes) out.push(`note: ${n}`);
  return out;
}

/** The terminal block of every tracked model. */
export function trackText(models: readonly ModelReport[]): string {
  const parts: string[] = [];
  for (const m of models) {
    if (!m.track) continue;
    parts.push(`=== ${m.id} (${m.requested}, ${m.track.account} account, since ${m.track.promotedAt ?? 'unknown'}) ===`, ...trackLines(m.track), '');
  }
  return parts.join('\n');
}

/** The markdown section of one model (for report.md). */
export function trackMarkdown(m: ModelReport): string | null {
  const t = m.track;
  if (!t) return null;
  const r = t.reconciliation;
  const lines = [`#### Record on the ${t.account} account since ${md(t.promotedAt ?? 'unknown')}`, '', `**${VERDICT[t.judgement.verdict]}** — ${md(t.judgement.reasons.join('; '))}`, ''];
  if (r !== null) {
    lines.push(
      '| days | orders | matched | missed | extra | lag (mean bars) | shortfall mean / median / p95 (bps) | cost mean (bps) vs assumed | account return | backtest return | tracking error | correlation |',
      '|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|',
      `| ${r.period.days.toFixed(1)} | ${r.trades.accountOrders} | ${r.decisions.matched} | ${r.decisions.missed} | ${r.decisions.extra} | ${num(r.decisions.lag.mean)} | ` +
        `${num(r.shortfall.shortfallBps.mean, 1)} / ${num(r.shortfall.shortfallBps.median, 1)} / ${num(r.shortfall.shortfallBps.p95, 1)} | ${num(r.shortfall.costBps.mean, 1)} vs ${r.shortfall.assumedCostBps} | ` +
        `${pct(r.sleeve.totalReturn)} | ${pct(r.backtest.totalReturn)} | ${r.comparison.trackingError === null ? 'n/a' : `${(r.comparison.trackingError * 100).toFixed(2)} %`} | ${num(r.comparison.correlation, 3)} |`,
      '',
    );
    for (const c of t.judgement.checks) lines.push(`- ${c.pass === true ? '✅' : c.pass === false ? '❌' : '➖'} \`${c.rule}\`: ${md(c.text)}`);
    lines.push('');
  }
  for (const n of t.notes) lines.push(`- note: ${md(n)}`);
  return lines.join('\n').trimEnd();
}
