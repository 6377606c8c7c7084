/**
 * What the command line prints on stdout: the gating table, backtest metrics, the per-fold analysis.
 */
import type { ModelReport, Report } from '../report.js';
import { tierRank } from '../types.js';
import { FOLD_ALIGN, FOLD_HEADER, fixed, foldRow, pct, plain, stamp, textTable } from './format.js';

export function gatingTable(models: readonly ModelReport[]): string {
  const rows = [['model', 'candidate', 'fitness', 'PF', 'consistency', 'MaxDD', 'gating', 'flags', 'checkpoint']];
  for (const m of models) {
    if (!m.gating) continue;
    const f = m.gating.final;
    rows.push([
      m.id,
      m.candidate,
      plain(f.fitness),
      plain(f.profitFactor),
      pct(f.consistency, 1),
      pct(f.maxDrawdown, 1),
      m.gating.classification,
      m.flags.join(',') || '-',
      m.gating.checkpointIndex === null ? '-' : String(m.gating.checkpointIndex),
    ]);
  }
  return textTable(rows, ['l', 'l', 'r', 'r', 'r', 'r', 'l', 'l', 'r']);
}

/** Per-model problems and notes, indented under the model id. */
export function modelNotes(models: readonly ModelReport[]): string {
  const out: string[] = [];
  for (const m of models) {
    const lines = [...m.errors.map((e) => `error: ${e}`), ...m.notes.map((n) => `note: ${n}`)];
    if (m.notEvaluated) lines.unshift(`not evaluated (no decision, requested ${m.requested}): ${m.notEvaluated.reason}`);
    if (m.gating && m.gating.reasons.length && m.gating.classification !== 'APPROVED') {
      lines.unshift(...m.gating.reasons.map((r) => `gating: ${r}`));
    }
    if (lines.length) out.push(`${m.id}:\n${lines.map((l) => `  ${l}`).join('\n')}`);
  }
  return out.join('\n');
}

export function metricsBlock(title: string, w: NonNullable<ModelReport['backtest']>): string {
  const m = w.metrics;
  const rows: [string, string][] = [
    ['Period', `${stamp(w.start)} → ${stamp(w.end)} UTC (${w.bars} bars)`],
    ['Total Return', pct(m.totalReturn)],
    ['Buy & Hold Return', pct(m.buyHoldReturn)],
    ['Max Drawdown', pct(m.maxDrawdown)],
    ['Win Rate', pct(m.winRate)],
    ['Profit Factor', fixed(m.profitFactor)],
    ['Sharpe', fixed(m.sharpe)],
    ['Sortino', fixed(m.sortino)],
    ['Calmar', fixed(m.calmar)],
    ['CAGR', pct(m.cagr)],
    ['Volatility (ann.)', pct(m.volatility)],
    ['Trades', String(m.trades)],
    ['Exposure', pct(m.exposure, 1)],
    ['Final Equity', m.finalEquity.toFixed(2)],
    ['Periods per year', String(m.periodsPerYear)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`);
  const undef = Object.entries(m.undefinedReasons).map(([k, r]) => `  (${k} undefined: ${r})`);
  return [title, ...lines, ...undef].join('\n');
}

export function foldAnalysis(wf: NonNullable<ModelReport['walkForward']>): string {
  const s = wf.summary;
  const lines = ['PER-FOLD ANALYSIS'];
  if (s) {
    lines.push(
      `  Sharpe Range: ${fixed(s.sharpeMin)} to ${fixed(s.sharpeMax)}`,
      `  Sharpe Mean: ${fixed(s.sharpeMean)} (+/- ${fixed(s.sharpeStd)})`,
      `  Return Range: ${pct(s.returnMin)} to ${pct(s.returnMax)} (mean ${pct(s.returnMean)})`,
      `  Positive Folds: ${s.positiveFolds}/${s.folds}`,
      `  Rating: ${s.rating}`,
      ...s.notes.map((n) => `  note: ${n}`),
    );
  }
  const rows = [FOLD_HEADER.map((h) => (h === 'Sharpe' || h === 'PF' || h === 'MaxDD' ? h : h.toLowerCase())), ...wf.folds.map(foldRow)];
  lines.push('', textTable(rows, FOLD_ALIGN));
  return lines.join('\n');
}

/** The summary table at the end of a run: one row per model, and whether it earned the tier it was requested at. */
export function decisionsTable(report: Report): string {
  const rows = [['model', 'candidate', 'gating', 'backtest return', 'positive folds', 'Sharpe mean ± std', 'rating', 'decision', 'requested', 'verdict']];
  for (const m of report.models) {
    const s = m.walkForward?.summary;
    rows.push([
      m.id,
      m.candidate,
      m.gating?.classification ?? '—',
      pct(m.backtest?.metrics.totalReturn),
      s ? `${s.positiveFolds}/${s.folds}` : '—',
      s ? `${fixed(s.sharpeMean)} ± ${fixed(s.sharpeStd)}` : '—',
      s?.rating ?? '—',
      m.decision?.tier ?? (m.notEvaluated ? 'not evaluated' : '—'),
      m.requested,
      m.decision ? (tierRank(m.decision.tier) >= tierRank(m.requested) ? 'ok' : 'BELOW') : m.notEvaluated ? 'NO VERDICT' : '—',
    ]);
  }
  return textTable(rows, ['l', 'l', 'l', 'r', 'r', 'r', 'l', 'l', 'l', 'l']);
}

/** A model's decision line: the tier and the rule that fired, or "not evaluated" and why; then the verdict against its requested tier. */
export function decisionLine(m: ModelReport): string | null {
  if (m.decision) {
    const verdict = tierRank(m.decision.tier) >= tierRank(m.requested) ? 'earns' : 'is below';
    return `DECISION: ${m.decision.tier} — ${m.decision.reasons[0]} (${verdict} the requested ${m.requested})`;
  }
  if (m.notEvaluated) return `DECISION: not evaluated — ${m.notEvaluated.reason} (no decision; requested ${m.requested})`;
  return null;
}
