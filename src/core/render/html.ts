/**
 * report.html: one self-contained page (no scripts, no network) with the same content as report.md.
 */
import type { ModelReport, Report } from '../report.js';
import { FOLD_HEADER, fixed, foldRow, pct, plain, stamp } from './format.js';

export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function table(head: string[], rows: string[][]): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function modelHtml(m: ModelReport): string {
  const parts = [`<section><h2>${esc(m.id)} <small>${esc(m.candidate)}</small> — ${esc(m.decision?.tier ?? 'not evaluated')}</h2>`];
  if (m.decision) parts.push(`<ul>${m.decision.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>`);
  if (m.backtest) {
    const x = m.backtest.metrics;
    parts.push(
      `<h3>Backtest ${esc(stamp(m.backtest.start))} → ${esc(stamp(m.backtest.end))} UTC, ${m.backtest.bars} bars</h3>`,
      table(
        ['Return', 'Buy & hold', 'MaxDD', 'Sharpe', 'Sortino', 'Calmar', 'Win rate', 'PF', 'Trades', 'Exposure'],
        [[pct(x.totalReturn), pct(x.buyHoldReturn), pct(x.maxDrawdown), fixed(x.sharpe), fixed(x.sortino), fixed(x.calmar), pct(x.winRate, 1), fixed(x.profitFactor), String(x.trades), pct(x.exposure, 1)]],
      ),
    );
  }
  if (m.walkForward?.folds.length) {
    parts.push(
      '<h3>Walk-forward folds</h3>',
      table(FOLD_HEADER, m.walkForward.folds.map(foldRow)),
    );
  }
  const extra = [...m.errors, ...m.notes, ...m.dataQuality.map((q) => q.message)];
  if (extra.length) parts.push(`<ul class="notes">${extra.map((e) => `<li>${esc(e)}</li>`).join('')}</ul>`);
  parts.push('</section>');
  return parts.join('\n');
}

export function renderHtml(report: Report): string {
  const gating = table(
    ['Model', 'Fitness', 'PF', 'Consistency', 'Training MaxDD', 'Class', 'Flags'],
    report.models.flatMap((m) => (m.gating ? [{ m, g: m.gating }] : [])).map(({ m, g }) => [
      m.id,
      plain(g.final.fitness),
      plain(g.final.profitFactor),
      pct(g.final.consistency, 1),
      pct(g.final.maxDrawdown, 1),
      g.classification,
      m.flags.join(' '),
    ]),
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>policy-gate report — ${esc(report.conclusion)}</title>
<style>
:root{color-scheme:light dark;font-family:system-ui,sans-serif}
body{max-width:70rem;margin:1rem auto;padding:0 1rem;line-height:1.4}
table{border-collapse:collapse;margin:.5rem 0;font-variant-numeric:tabular-nums;display:block;overflow-x:auto}
th,td{border:1px solid #8886;padding:.2rem .5rem;text-align:right}th:first-child,td:first-child{text-align:left}
.success{color:#1a7f37}.failure{color:#cf222e}
</style></head><body>
<h1>policy-gate: <span class="${esc(report.conclusion)}">${esc(report.conclusion)}</span></h1>
<ul>${report.conclusionReasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>
<h2>Gating</h2>
${gating}
${report.models.map(modelHtml).join('\n')}
<footer><small>policy-gate ${esc(report.tool.version)} · ${esc(report.generatedAt)} · config sha256 ${esc(report.config.sha256)}</small></footer>
</body></html>
`;
}
