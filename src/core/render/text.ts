/**
 * What the command line prints on stdout: the gating table, backtest metrics, the per-fold analysis,
 * each model's decision with its rule and what it missed for the next tier, the DECISIONS table —
 * every line within TERMINAL_WIDTH display columns (tables cut long cells with "…", prose wraps).
 */
import type { ModelReport, Report } from '../report.js';
import { tierRank } from '../types.js';
import { FOLD_ALIGN, FOLD_HEADER, fixed, foldRow, pct, plain, stamp } from './format.js';
import { decisionSentence, type Thresholds } from './verdict.js';
import { fitTable, wrapLine, type FitColumn } from './width.js';

/** The widest line the terminal output has (display columns). */
export const TERMINAL_WIDTH = 100;

const cols = (align: ('l' | 'r')[], mins: Record<number, number> = {}): FitColumn[] => align.map((a, i) => (mins[i] !== undefined ? { align: a, min: mins[i] } : { align: a }));

/** The gating table: long ids and candidates are cut with "…", a long flag list wraps within its column. */
export function gatingTable(models: readonly ModelReport[]): string {
  const rows = [['model', 'candidate', 'fitness', 'PF', 'consist.', 'MaxDD', 'gating', 'flags', 'ckpt']];
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
  const c = cols(['l', 'l', 'r', 'r', 'r', 'r', 'l', 'l', 'r'], { 0: 12, 1: 8, 7: 16 });
  c[7] = { ...c[7]!, wrap: true }; // a long flag list continues on the next lines, nothing cut
  return fitTable(rows, c, TERMINAL_WIDTH);
}

/** One model's gating reasons (when not APPROVED), errors and notes, one per line; empty when none. */
export function noteLines(m: ModelReport): string[] {
  const lines = [...m.errors.map((e) => `error: ${e}`), ...m.notes.map((n) => `note: ${n}`)];
  if (m.notEvaluated) lines.unshift(`not evaluated (no decision, requested ${m.requested}): ${m.notEvaluated.reason}`);
  if (m.gating?.reasons.length && m.gating.classification !== 'APPROVED') {
    lines.unshift(...m.gating.reasons.map((r) => `gating: ${r}`));
  }
  return lines;
}

/** Per-model problems and notes, indented under the model id. */
export function modelNotes(models: readonly ModelReport[]): string {
  const out: string[] = [];
  for (const m of models) {
    const lines = noteLines(m);
    if (lines.length) out.push(`${m.id}:\n${lines.map((l) => `  ${l}`).join('\n')}`);
  }
  return out.join('\n');
}

/**
 * "DECISION: PAPER (rule 4: …) — not LIVE: …": the decision, the rule that fired and what the model
 * missed for the next tier, wrapped to the terminal's width; then its notes, right under it.
 */
export function decisionBlock(m: ModelReport, t: Thresholds): string {
  const out: string[] = [];
  const sentence = decisionSentence(m, t);
  if (sentence) out.push(...wrapLine(`DECISION: ${sentence}`, TERMINAL_WIDTH, 10));
  const notes = noteLines(m);
  if (notes.length) out.push(...notes.flatMap((n) => wrapLine(`  ${n}`, TERMINAL_WIDTH, 4)));
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
  lines.push(
    '',
    fitTable(
      rows,
      FOLD_ALIGN.map((align, i) => (i === 1 ? { align, min: 12 } : { align })),
      TERMINAL_WIDTH,
    ),
  );
  return lines.join('\n');
}

/**
 * The summary table at the end of a run: one row per model, and whether it earned the tier it was
 * requested at. The backtest column is the plain backtest's return: informational, it does not decide.
 */
export function decisionsTable(report: Report): string {
  const rows = [['model', 'gating', 'backtest', 'folds +', 'Sharpe μ ± σ', 'rating', 'decision', 'requested', 'verdict']];
  for (const m of report.models) {
    const s = m.walkForward?.summary;
    rows.push([
      m.id,
      m.gating?.classification ?? '—',
      pct(m.backtest?.metrics.totalReturn),
      s ? `${s.positiveFolds}/${s.folds}` : '—',
      s ? `${fixed(s.sharpeMean)} ± ${fixed(s.sharpeStd)}` : '—',
      s?.rating ?? '—',
      m.decision?.tier ?? (m.notEvaluated ? 'not evaluated' : '—'),
      m.requested,
      m.decision ? (tierRank(m.decision.tier) >= tierRank(m.requested) ? 'ok' : 'BELOW') : m.notEvaluated ? 'none' : '—',
    ]);
  }
  const table = fitTable(rows, cols(['l', 'l', 'r', 'r', 'r', 'l', 'l', 'l', 'l'], { 0: 12 }), TERMINAL_WIDTH);
  return `${table}\n(backtest: the plain backtest's return, informational; the walk-forward folds decide)`;
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
