/**
 * report.md: the summary table, the gating table and one collapsed section per model (its decision,
 * what it missed for the next tier, the walk-forward with signed fold bars, the fold table, the
 * informational backtest, the evidence and the notes). Strings that come from an archive are escaped:
 * they never become markdown or HTML.
 */
import { md, WORD_JOINER } from './escape.js';
import { trackMarkdown } from './track.js';
import { markdownTable } from 'markdown-table';
import { outcomeLabel, type ModelReport, type Report } from '../report.js';
import { tierRank } from '../types.js';
import { FOLD_ALIGN, FOLD_HEADER, fixed, foldRow, pct, plain, stamp } from './format.js';
import { evidenceMarkdown } from './evidence.js';
import { foldReturnsBlock } from './foldbars.js';
import { missedNextTier, thresholds } from './verdict.js';

export { md, WORD_JOINER };

const ICON: Record<string, string> = { LIVE: '🟢', PAPER: '🟡', RETRAIN: '🟠', DROP: '🔴' };

/**
 * HTML text for a `<summary>` line, where backslash escapes are not read: &, <, >, quotes as entities,
 * and the characters Markdown would read as a link, an image, emphasis, code or a table cell ([ ] ( ) !
 * * ` ~ | \) as numeric entities, so the text shows as typed whether or not the line is read as
 * Markdown; no line ends.
 */
export function htmlText(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    .replace(/[[\]()!*`~|\\]/g, (c) => `&#${c.charCodeAt(0)};`)
    .replace(/\r\n|\r|\n/g, ' ')
    .replace(/@(?=[\p{L}\p{N}])/gu, `@${WORD_JOINER}`);
}

function decisionCell(m: ModelReport): string {
  if (!m.decision) return m.notEvaluated ? '⚪ **not evaluated**' : '—';
  return `${ICON[m.decision.tier] ?? ''} **${m.decision.tier}**`;
}

/** The short name of the rule that fired ("rule 2: consistent losses"), as plain text. */
function ruleName(m: ModelReport): string {
  if (!m.decision) return '—';
  const first = m.decision.reasons[0] ?? '';
  return /^evidence rule /.test(first) ? first.split(':')[0]! : m.decision.rule;
}

/** The first table of report.md: every model's decision, the rule that fired and its walk-forward, one row each. */
export function summaryTable(report: Report): string {
  const days = backtestDays(report);
  const rows = [['Model', 'Decision', 'Rule', 'Requested', 'Gating', 'Positive folds', 'Sharpe mean ± std', 'Rating', `Backtest ${days ? `${days} d ` : ''}(info)`, 'Candidate']];
  for (const m of report.models) {
    const s = m.walkForward?.summary;
    rows.push([
      md(m.id),
      decisionCell(m),
      md(ruleName(m)),
      m.decision ? (tierRank(m.decision.tier) >= tierRank(m.requested) ? m.requested : `${m.requested} ❌`) : m.requested,
      m.gating?.classification ?? '—',
      s ? `${s.positiveFolds}/${s.folds}` : '—',
      s ? `${fixed(s.sharpeMean)} ± ${fixed(s.sharpeStd)}` : '—',
      s?.rating ?? '—',
      pct(m.backtest?.metrics.totalReturn),
      md(m.candidate),
    ]);
  }
  return markdownTable(rows, { align: ['l', 'l', 'l', 'l', 'l', 'r', 'r', 'l', 'r', 'l'] });
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

function backtestDays(report: Pick<Report, 'config'>): number | null {
  const b = report.config['backtest'] as { days?: unknown } | undefined;
  return typeof b?.days === 'number' ? b.days : null;
}

/** The backtest in one sentence; under `validate` it is informational (the walk-forward decides). */
function backtestLine(m: ModelReport, informational: boolean, full: boolean): string {
  const b = m.backtest!;
  const x = b.metrics;
  if (!full) {
    return `Backtest${informational ? ' (informational)' : ''}, ${b.bars} bars: return ${pct(x.totalReturn)} (buy & hold ${pct(x.buyHoldReturn)}), MaxDD ${pct(x.maxDrawdown)}, Sharpe ${fixed(x.sharpe)}, ${x.trades} trades.`;
  }
  const head = informational ? 'Backtest (informational — the decision comes from the walk-forward)' : 'Backtest';
  const core = `${head} ${stamp(b.start)} → ${stamp(b.end)} UTC (${b.bars} bars): return **${pct(x.totalReturn)}** (buy & hold ${pct(x.buyHoldReturn)}), MaxDD ${pct(x.maxDrawdown)}, Sharpe ${fixed(x.sharpe)}`;
  return `${core}, Sortino ${fixed(x.sortino)}, Calmar ${fixed(x.calmar)}, win rate ${pct(x.winRate, 1)}, PF ${fixed(x.profitFactor)}, ${x.trades} trades, exposure ${pct(x.exposure, 1)}.`;
}

/** How much of each model a rendering shows: `full` (report.md) or `compact` (fits 50 models in a PR comment). */
export type Detail = 'full' | 'compact';

/** The `<summary>` line of a model's collapsed section: icon, id, decision and rule. */
export function modelSummaryLine(m: ModelReport): string {
  const d = m.decision;
  const what = d ? `${ICON[d.tier] ?? ''} <b>${htmlText(m.id)}</b> — ${d.tier} · ${htmlText(ruleName(m))}` : `⚪ <b>${htmlText(m.id)}</b> — not evaluated`;
  return `<details><summary>${what.trim()}</summary>`;
}

const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function modelSection(m: ModelReport, report: Pick<Report, 'config' | 'command'>, detail: Detail = 'full'): string {
  const full = detail === 'full';
  const out: string[] = [modelSummaryLine(m), ''];
  const t = thresholds(report);
  if (m.decision) {
    const reasons = full ? m.decision.reasons : m.decision.reasons.slice(0, 1).map((r) => clip(r, 240));
    out.push(...reasons.map((r, i) => `- ${i === 0 ? '**' : ''}${md(r)}${i === 0 ? '**' : ''}`));
    const miss = missedNextTier(m, t);
    if (miss) out.push(`- ${md(miss)}`);
    out.push('');
  } else if (m.notEvaluated) {
    out.push(`- **not evaluated, so no decision** (requested ${m.requested}): ${md(full ? m.notEvaluated.reason : clip(m.notEvaluated.reason, 300))}`, '');
  }
  const tracked = trackMarkdown(m);
  if (tracked) out.push(tracked, '');
  if (m.walkForward?.folds.length) {
    const s = m.walkForward.summary;
    if (s && full) {
      out.push(
        `Walk-forward over ${m.walkForward.days} days: ${s.positiveFolds}/${s.folds} positive folds, Sharpe ${fixed(s.sharpeMin)} to ${fixed(s.sharpeMax)} ` +
          `(mean ${fixed(s.sharpeMean)} ± ${fixed(s.sharpeStd)}), rating **${s.rating}**.`,
        '',
      );
    }
    const bars = foldReturnsBlock(m, full ? 20 : 10);
    if (bars) out.push(full ? 'Return per fold after costs (losses left of the axis, gains right):' : `Walk-forward, ${m.walkForward.days} days:`, '', bars, '');
    if (full) out.push(foldTable(m), '');
  }
  if (m.backtest) out.push(backtestLine(m, report.command === 'validate', full), '');
  const actions = full ? actionTable(m) : null;
  if (actions) out.push(actions, '');
  if (full && m.evidence)
    out.push(
      evidenceMarkdown(m.evidence, md, (rows, align) => markdownTable(rows, { align })),
      '',
    );
  const errors = m.errors.map((e) => `⚠️ ${md(full ? e : clip(e, 300))}`);
  const extra = full ? [...m.notes.map((n) => md(n)), ...m.dataQuality.map((q) => `data: ${md(q.message)}`)] : [];
  if (errors.length + extra.length) out.push(...[...errors, ...extra].map((e) => `- ${e}`), '');
  out.push('</details>');
  return out.join('\n');
}

export interface MarkdownOptions {
  /** Markdown saying where report.html (the charts) is: a relative link in report.md, the artifact in the Action. */
  htmlLink?: string | null;
  /** `full` (default) or `compact`: per-model sections without fold tables, evidence and notes. */
  detail?: Detail;
  /**
   * What the footer names instead of the generation time (the Action names its workflow run, so a
   * re-run with the same verdict renders the same text and the sticky comment is not edited).
   */
  stamp?: string;
}

/**
 * report.md: the heading and the conclusion's reasons, the summary table (every model's decision and the
 * rule that fired), the link to report.html, the gating table, then one collapsed `<details>` section per
 * model — so a reader sees every decision first, and 50 models stay readable.
 */
export function renderMarkdown(report: Report, options: MarkdownOptions = {}): string {
  const detail = options.detail ?? 'full';
  const outcome = outcomeLabel(report);
  const head = outcome === 'no decision' ? 'ℹ️ policy-gate backtest: no decision' : outcome === 'success' ? '✅ policy-gate: success' : '❌ policy-gate: failure';
  const out: string[] = [`## ${head}`, ''];
  const reasons = report.conclusionReasons;
  // Many models short of their tier: the first few here, all of them marked ❌ in the summary table.
  const listed = reasons.length > 10 ? reasons.slice(0, 5) : reasons;
  if (listed.length) out.push(...listed.map((r) => `- ${md(r)}`));
  if (listed.length < reasons.length) out.push(`- … and ${reasons.length - listed.length} more (❌ in the summary table's Requested column)`);
  if (listed.length) out.push('');
  if (report.command !== 'gate' && report.models.length) out.push(summaryTable(report), '');
  if (options.htmlLink && report.models.some((m) => m.charts)) {
    out.push(`📈 Equity curves, drawdowns and fold charts: ${options.htmlLink}`, '');
  }
  if (detail === 'compact') {
    out.push("<sub>Each model's section is shortened to fit GitHub's size limit: its fold table, evidence and notes are in report.md and report.html.</sub>", '');
  }
  const gated = report.models.filter((m) => m.gating).length;
  if (gated) {
    const table = gatingMarkdown(report);
    // A few models: the table is shown; many: it is folded away under the summary.
    out.push('### Gating', '', ...(gated > 10 ? [`<details><summary>Gating of ${gated} models</summary>`, '', table, '', '</details>'] : [table]), '');
  }
  const shown = report.models.filter((m) => report.command !== 'gate' || m.errors.length > 0);
  if (shown.length) {
    out.push('### Models', '');
    for (const m of shown) out.push(modelSection(m, report, detail), '');
  }
  if (report.errors.length) out.push('### Errors', '', ...report.errors.map((e) => `- ${md(e)}`), '');
  const rt = report.runtime;
  out.push(
    `<sub>policy-gate ${report.tool.version} · ${options.stamp ?? report.generatedAt} · config sha256 ${report.config.sha256.slice(0, 12)}` +
      (report.archive ? ` · archive sha256 ${report.archive.sha256.slice(0, 12)}` : '') +
      (rt?.executionProvider ? ` · onnxruntime ${rt.onnxruntime ?? ''} ${rt.executionProvider}` : '') +
      '</sub>',
    '',
  );
  return out.join('\n');
}

/** The model ids (HTML-unescaped) whose collapsed sections `markdown` holds, in order. */
export function modelSectionsIn(markdown: string): string[] {
  const out: string[] = [];
  for (const m of markdown.matchAll(/^<details><summary>[^<\n]*<b>([^<\n]*)<\/b>/gm)) {
    out.push(m[1]!.replace(/&#(\d+);/g, (_x, n: string) => String.fromCharCode(Number(n))).replace(/&(amp|lt|gt|quot);/g, (_x, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"' })[e]!));
  }
  return out;
}
