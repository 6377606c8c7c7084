/**
 * report.md: the summary table, the gating table and each model's backtest and fold table.
 * Strings that come from an archive are escaped: they never become markdown or HTML.
 */
import { markdownTable } from 'markdown-table';
import { outcomeLabel, type ModelReport, type Report } from '../report.js';
import { FOLD_ALIGN, FOLD_HEADER, fixed, foldRow, pct, plain, stamp } from './format.js';
import { evidenceMarkdown } from './evidence.js';
import { foldReturnsMermaid } from './mermaid.js';

/**
 * Escape text for a markdown table cell or paragraph. Every line ending CommonMark knows — LF, CRLF
 * and a lone CR — becomes a space: a CR alone would end a table row mid-cell (docs/threat-model.md).
 *
 * Mentions stay inert: GitHub links `@name` and `@org/team` (and notifies them) wherever an `@` that
 * follows no word character is followed by a letter or digit — a backslash escape does not stop it,
 * because GitHub finds mentions in the rendered text. A word joiner (U+2060, invisible, no width)
 * after such an `@` breaks the pattern, so a model id or an error quoting `@org/admins` pings nobody.
 */
export function md(text: string): string {
  return text
    .replace(/[\\`*_{}[\]()#+!|<>~]/g, (c) => `\\${c}`)
    .replace(/\r\n|\r|\n/g, ' ')
    .replace(/@(?=[\p{L}\p{N}])/gu, `@${WORD_JOINER}`);
}

/** Inserted after an `@` so that GitHub does not read a mention (see `md`). */
export const WORD_JOINER = '\u2060';

const ICON: Record<string, string> = { LIVE: '🟢', PAPER: '🟡', RETRAIN: '🟠', DROP: '🔴' };

function decisionCell(m: ModelReport): string {
  if (!m.decision) return m.notEvaluated ? '⚪ **not evaluated**' : '—';
  return `${ICON[m.decision.tier] ?? ''} **${m.decision.tier}**`;
}

export function summaryTable(report: Report): string {
  const rows = [['Model', 'Candidate', 'Gating', 'Backtest return', 'Positive folds', 'Sharpe mean ± std', 'Rating', 'Decision', 'Requested']];
  for (const m of report.models) {
    const s = m.walkForward?.summary;
    rows.push([
      md(m.id),
      md(m.candidate),
      m.gating?.classification ?? '—',
      pct(m.backtest?.metrics.totalReturn),
      s ? `${s.positiveFolds}/${s.folds}` : '—',
      s ? `${fixed(s.sharpeMean)} ± ${fixed(s.sharpeStd)}` : '—',
      s?.rating ?? '—',
      decisionCell(m),
      m.requested,
    ]);
  }
  return markdownTable(rows, { align: ['l', 'l', 'l', 'r', 'r', 'r', 'l', 'l', 'l'] });
}

export function gatingMarkdown(report: Report): string {
  const rows = [['Model', 'Fitness', 'PF', 'Consistency', 'Training MaxDD (proxy)', 'Backtest MaxDD', 'Class', 'Flags', 'Checkpoint']];
  for (const m of report.models) {
    if (!m.gating) continue;
    const f = m.gating.final;
    rows.push([
      md(m.id),
      plain(f.fitness),
      plain(f.profitFactor),
      pct(f.consistency, 1),
      pct(f.maxDrawdown, 1),
      pct(m.backtest?.metrics.maxDrawdown),
      m.gating.classification,
      m.flags.map((x) => `\`${x}\``).join(' ') || '—',
      m.gating.checkpointIndex === null ? '—' : String(m.gating.checkpointIndex),
    ]);
  }
  return markdownTable(rows, { align: ['l', 'r', 'r', 'r', 'r', 'r', 'l', 'l', 'r'] });
}

export function foldTable(m: ModelReport): string {
  const rows = [FOLD_HEADER, ...(m.walkForward?.folds ?? []).map(foldRow)];
  return markdownTable(rows, { align: FOLD_ALIGN });
}

/**
 * The actions a discrete policy took in the backtest and each fold (taken = after min_confidence), and
 * how many decisions min_confidence turned into HOLD. Null when no window recorded actions.
 */
export function actionTable(m: ModelReport): string | null {
  const windows: [string, NonNullable<ModelReport['backtest']>][] = [];
  if (m.backtest) windows.push(['backtest', m.backtest]);
  for (const f of m.walkForward?.folds ?? []) windows.push([`fold ${f.index}`, f]);
  const withActions = windows.filter(([, w]) => w.actions !== undefined);
  if (withActions.length === 0) return null;
  const meanings: string[] = [];
  for (const [, w] of withActions) for (const k of Object.keys(w.actions!.taken)) if (!meanings.includes(k)) meanings.push(k);
  const rows = [['Actions taken', 'decisions', ...meanings, 'HOLD by min_confidence']];
  for (const [name, w] of withActions) {
    const a = w.actions!;
    rows.push([name, String(a.decisions), ...meanings.map((k) => String(a.taken[k] ?? 0)), String(a.heldByMinConfidence)]);
  }
  return markdownTable(rows, { align: ['l', ...rows[0]!.slice(1).map(() => 'r' as const)] });
}

function backtestLine(m: ModelReport): string {
  const b = m.backtest!;
  const x = b.metrics;
  return (
    `Backtest ${stamp(b.start)} → ${stamp(b.end)} UTC (${b.bars} bars): return **${pct(x.totalReturn)}** ` +
    `(buy & hold ${pct(x.buyHoldReturn)}), MaxDD ${pct(x.maxDrawdown)}, Sharpe ${fixed(x.sharpe)}, Sortino ${fixed(x.sortino)}, ` +
    `Calmar ${fixed(x.calmar)}, win rate ${pct(x.winRate, 1)}, PF ${fixed(x.profitFactor)}, ${x.trades} trades, exposure ${pct(x.exposure, 1)}.`
  );
}

export function modelSection(m: ModelReport): string {
  const out: string[] = [`### ${md(m.id)} — ${m.decision ? `${ICON[m.decision.tier] ?? ''} ${m.decision.tier}` : 'not evaluated'}`];
  if (m.decision) out.push('', ...m.decision.reasons.map((r) => `- ${md(r)}`));
  else if (m.notEvaluated) out.push('', `- not evaluated, so no decision (requested ${m.requested}): ${md(m.notEvaluated.reason)}`);
  if (m.backtest) out.push('', backtestLine(m));
  if (m.walkForward?.folds.length) {
    const s = m.walkForward.summary;
    if (s) {
      out.push(
        '',
        `Walk-forward over ${m.walkForward.days} days: ${s.positiveFolds}/${s.folds} positive folds, Sharpe ${fixed(s.sharpeMin)} to ${fixed(s.sharpeMax)} ` +
          `(mean ${fixed(s.sharpeMean)} ± ${fixed(s.sharpeStd)}), rating **${s.rating}**.`,
      );
    }
    out.push('', foldTable(m));
    const chart = foldReturnsMermaid(m);
    if (chart) out.push('', chart);
  }
  const actions = actionTable(m);
  if (actions) out.push('', actions);
  if (m.evidence) out.push('', evidenceMarkdown(m.evidence, md, (rows, align) => markdownTable(rows, { align })));
  const extra = [
    ...m.errors.map((e) => `⚠️ ${md(e)}`),
    ...m.notes.map((n) => md(n)),
    ...m.dataQuality.map((q) => `data: ${md(q.message)}`),
  ];
  if (extra.length) out.push('', ...extra.map((e) => `- ${e}`));
  return out.join('\n');
}

export interface MarkdownOptions {
  /** Markdown saying where report.html (the charts) is: a relative link in report.md, the artifact in the Action. */
  htmlLink?: string | null;
}

export function renderMarkdown(report: Report, options: MarkdownOptions = {}): string {
  const outcome = outcomeLabel(report);
  const head = outcome === 'no decision' ? 'ℹ️ policy-gate backtest: no decision' : outcome === 'success' ? '✅ policy-gate: success' : '❌ policy-gate: failure';
  const out: string[] = [`## ${head}`, ''];
  if (report.conclusionReasons.length) out.push(...report.conclusionReasons.map((r) => `- ${md(r)}`), '');
  if (report.command !== 'gate') out.push(summaryTable(report), '');
  if (options.htmlLink && report.models.some((m) => m.charts)) {
    out.push(`📈 Equity curves, drawdowns and fold charts: ${options.htmlLink}`, '');
  }
  if (report.models.some((m) => m.gating)) out.push('### Gating', '', gatingMarkdown(report), '');
  for (const m of report.models) {
    if (report.command === 'gate' && m.errors.length === 0) continue;
    out.push(modelSection(m), '');
  }
  if (report.errors.length) out.push('### Errors', '', ...report.errors.map((e) => `- ${md(e)}`), '');
  const rt = report.runtime;
  out.push(
    `<sub>policy-gate ${report.tool.version} · ${report.generatedAt} · config sha256 ${report.config.sha256.slice(0, 12)}` +
      (report.archive ? ` · archive sha256 ${report.archive.sha256.slice(0, 12)}` : '') +
      (rt?.executionProvider ? ` · onnxruntime ${rt.onnxruntime ?? ''} ${rt.executionProvider}` : '') +
      '</sub>',
    '',
  );
  return out.join('\n');
}
