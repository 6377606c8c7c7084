/**
 * report.html: one self-contained page — inline CSS and SVG, no scripts, no fonts, no network — that
 * a reviewer can open from the report artifact on a laptop or a phone, in light or dark mode.
 *
 * Per model: the decision and its reasons, the key backtest numbers, the backtest's equity against
 * buy & hold with its drawdown underneath, the fold returns and Sharpe ratios as bars, each fold's
 * equity against buy & hold, the fold table, and the model's errors, notes and data-quality notes.
 * Above them: the conclusion, the summary table and the gating table. Every string that comes from an
 * archive, a card or the data goes through `esc`. The charts' markup and its data-* attributes are
 * described in ./svg.ts; the curves themselves in ../charts.ts.
 */
import { outcomeLabel, type CurveSeries, type ModelReport, type Report, type WindowReport } from '../report.js';
import { esc } from './escape.js';
import { evidenceRows } from './evidence.js';
import { FOLD_HEADER, fixed, foldRow, pct, plain, stamp } from './format.js';
import { barPlot, compactNumber, percentTick, svg, timePlot, type Box } from './svg.js';
import { missedNextTier, thresholds, type Thresholds } from './verdict.js';
import { trackHtml } from './track-html.js';

export { esc };

/** A table of text cells; columns listed in `wrap` may wrap (the others stay on one line). */
function table(head: string[], rows: string[][], cls = '', wrap: number[] = []): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c, i) => `<td${wrap.includes(i) ? ' class="flags"' : ''}>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  return `<div class="scroll"><table${cls ? ` class="${cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

/** A badge for a tier or a class; the class name is chosen from a fixed list, never from the archive. */
function badge(text: string | null | undefined): string {
  const known = ['LIVE', 'PAPER', 'RETRAIN', 'DROP', 'APPROVED', 'REVIEW', 'success', 'failure', 'GOOD', 'MARGINAL', 'POOR'];
  const cls = text && known.includes(text) ? ` b-${text}` : '';
  return `<span class="badge${cls}">${esc(text ?? 'not evaluated')}</span>`;
}

const signed = (v: number | null | undefined, digits = 2): string => (v === null || v === undefined ? '—' : `${v > 0 ? '+' : ''}${pct(v, digits)}`);

// The wide chart is drawn at about 1.3× on a desktop and 0.4× on a phone, where its text is made larger (CSS).
const WIDE = { width: 880, height: 350, equity: { x: 76, y: 12, w: 794, h: 200 } as Box, drawdown: { x: 76, y: 252, w: 794, h: 68 } as Box, xTicks: 6 };
const SMALL = { width: 360, height: 232, equity: { x: 48, y: 6, w: 304, h: 132 } as Box, drawdown: { x: 48, y: 150, w: 304, h: 54 } as Box, xTicks: 3 };

/** Value ranges shared by several panels (a model's folds), so equal moves look equal: equity and drawdown. */
interface SharedDomains {
  equity: [number, number];
  drawdown: [number, number];
}

/** The ranges that hold every fold's equity, buy & hold and drawdown (the drawdown plotted below zero). */
function sharedDomains(curves: readonly CurveSeries[]): SharedDomains | undefined {
  const eq = curves.flatMap((c) => [...c.equity, ...c.buyHold]).filter(Number.isFinite);
  const dd = curves.flatMap((c) => c.drawdown).filter(Number.isFinite);
  if (eq.length === 0) return undefined;
  return { equity: [Math.min(...eq), Math.max(...eq)], drawdown: [-Math.max(0, ...dd), 0] };
}

/** Equity against buy & hold (and the starting capital), the drawdown below: one SVG. */
function curvePanel(c: CurveSeries, layout: typeof WIDE, chart: string, data: Record<string, string>, label: string, cls: string, shared?: SharedDomains): string {
  const times = c.time.map((t) => Date.parse(t));
  const capital = c.equity[0] ?? 0;
  const top = timePlot({
    box: layout.equity,
    times,
    series: [
      { key: 'buyHold', cls: 's-bh', values: c.buyHold },
      { key: 'equity', cls: 's-eq', values: c.equity },
    ],
    yFormat: compactNumber,
    reference: { value: capital, cls: 'base' },
    ...(shared ? { domain: shared.equity } : {}),
    xTicks: layout.xTicks,
    yTicks: 4,
    xAxis: 'grid',
  });
  const bottom = timePlot({
    box: layout.drawdown,
    times,
    series: [{ key: 'drawdown', cls: 's-dd', values: c.drawdown }],
    sign: -1,
    area: 'dd-area',
    include: [0],
    ...(shared ? { domain: shared.drawdown } : {}),
    yFormat: percentTick,
    xTicks: layout.xTicks,
    yTicks: 2,
    xAxis: 'labels',
  });
  return svg({ width: layout.width, height: layout.height, chart, data: { ...data, times: c.time.join(' ') }, cls, label }, `${top}\n${bottom}`);
}

const LEGEND =
  '<p class="legend"><span class="key k-eq"></span>policy equity <span class="key k-bh"></span>buy &amp; hold ' +
  '<span class="key k-base"></span>starting capital <span class="key k-dd"></span>drawdown</p>';

function kpis(m: ModelReport): string {
  const b = m.backtest;
  if (!b) return '';
  const x = b.metrics;
  const items: [string, string, string][] = [
    ['Return', signed(x.totalReturn), x.totalReturn === null ? '' : x.totalReturn > 0 ? 'pos' : x.totalReturn < 0 ? 'neg' : ''],
    ['Buy & hold', signed(x.buyHoldReturn), ''],
    ['Max drawdown', pct(x.maxDrawdown), ''],
    ['Sharpe', fixed(x.sharpe), ''],
    ['Sortino', fixed(x.sortino), ''],
    ['Calmar', fixed(x.calmar), ''],
    ['Win rate', pct(x.winRate, 1), ''],
    ['Profit factor', fixed(x.profitFactor), ''],
    ['Trades', String(x.trades), ''],
    ['Exposure', pct(x.exposure, 1), ''],
  ];
  const undef = Object.entries(x.undefinedReasons).map(([k, r]) => `<li>${esc(k)} undefined: ${esc(r)}</li>`);
  return (
    `<dl class="kpis">${items.map(([k, v, c]) => `<div><dt>${esc(k)}</dt><dd${c ? ` class="${c}"` : ''}>${esc(v)}</dd></div>`).join('')}</dl>` +
    (undef.length ? `<ul class="fine">${undef.join('')}</ul>` : '')
  );
}

function backtestHtml(m: ModelReport, informational: boolean): string {
  const b = m.backtest;
  if (!b) return '';
  const parts = [
    `<h3>Backtest <small>${esc(stamp(b.start))} → ${esc(stamp(b.end))} UTC · ${b.bars} bars${informational ? ' · informational: the walk-forward folds decide' : ''}</small></h3>`,
    kpis(m),
  ];
  const c = m.charts?.backtest;
  if (c && c.time.length > 1) {
    const label = `${m.id} backtest: equity ${signed(b.metrics.totalReturn)} against buy and hold ${signed(b.metrics.buyHoldReturn)}, max drawdown ${pct(b.metrics.maxDrawdown)}`;
    parts.push(
      `<figure class="panel">${curvePanel(c, WIDE, 'backtest', { model: m.id }, label, 'wide')}` +
        `<figcaption>${LEGEND}${c.points > c.time.length ? `<p class="fine">${c.time.length} of ${c.points} points drawn (min/max per bucket; every peak, trough and the deepest drawdown kept)</p>` : ''}</figcaption></figure>`,
    );
  }
  parts.push(tradesHtml(b, 'Backtest trades'));
  return parts.filter(Boolean).join('\n');
}

/** The trades listed in the page per window; report.json lists up to MAX_REPORT_TRADES, --trades-out all. */
export const HTML_TRADES = 50;

/** A window's trades, collapsed: entry and exit, prices, size, result. */
function tradesHtml(w: WindowReport, what: string): string {
  const trades = w.trades ?? [];
  const total = trades.length + (w.tradesOmitted ?? 0);
  if (total === 0) return '';
  const rows = trades
    .slice(0, HTML_TRADES)
    .map((t) => [
      t.direction,
      stamp(t.entry),
      `${stamp(t.exit)}${t.closedAtEnd ? ' (open at the end)' : ''}`,
      plain(t.entryPrice),
      plain(t.exitPrice),
      plain(t.quantity),
      fixed(t.pnl),
      fixed(t.fees),
      pct(t.return),
    ]);
  const more = total > rows.length ? `<p class="fine">the first ${rows.length} of ${total} trades; report.json lists ${trades.length}, --trades-out writes every one</p>` : '';
  return (
    `<details class="trades"><summary>${esc(what)}: ${total} trade${total === 1 ? '' : 's'}</summary>` +
    table(['Side', 'Entry (UTC)', 'Exit (UTC)', 'Entry price', 'Exit price', 'Quantity', 'P&L', 'Fees', 'Return'], rows, 'num') +
    `${more}</details>`
  );
}

function foldCharts(m: ModelReport): string {
  const wf = m.walkForward;
  if (!wf || wf.folds.length === 0) return '';
  const indices = wf.folds.map((f) => f.index);
  const box: Box = { x: 48, y: 10, w: 304, h: 140 };
  const returns = svg(
    { width: 360, height: 180, chart: 'fold-returns', data: { model: m.id }, label: `${m.id}: return of each fold after costs`, cls: 'bars' },
    barPlot({
      box,
      labels: wf.folds.map((f) => String(f.index)),
      indices,
      values: wf.folds.map((f) => f.metrics.totalReturn),
      format: (v) => signed(v, 1),
      yFormat: percentTick,
      yTicks: 4,
      cls: (v) => (v > 0 ? 'pos' : 'neg'),
    }),
  );
  const sharpe = svg(
    { width: 360, height: 180, chart: 'fold-sharpe', data: { model: m.id }, label: `${m.id}: annualised Sharpe ratio of each fold`, cls: 'bars' },
    barPlot({
      box,
      labels: wf.folds.map((f) => String(f.index)),
      indices,
      values: wf.folds.map((f) => f.metrics.sharpe),
      format: (v) => v.toFixed(2),
      yFormat: (v, step) => compactNumber(v, step),
      yTicks: 4,
      cls: (v) => (v > 0 ? 'pos' : 'neg'),
    }),
  );
  const out = [
    '<div class="grid2">',
    `<figure class="panel">${returns}<figcaption>Return per fold, after fees and slippage</figcaption></figure>`,
    `<figure class="panel">${sharpe}<figcaption>Sharpe ratio per fold (annualised)</figcaption></figure>`,
    '</div>',
  ];
  const curves = m.charts?.folds ?? [];
  if (curves.length) {
    // One scale for all of a model's folds: a 3.5 % drawdown looks smaller than a 21 % one.
    const shared = sharedDomains(curves);
    out.push('<p class="fine">Each fold: equity against buy &amp; hold and its drawdown, all folds on the same scales.</p>', '<div class="grid3">');
    for (const c of curves) {
      const f = wf.folds.find((x) => x.index === c.index);
      const label = `${m.id} fold ${c.index}: equity against buy and hold`;
      out.push(
        `<figure class="panel">${curvePanel(c, SMALL, 'fold', { model: m.id, fold: String(c.index) }, label, 'small', shared)}` +
          `<figcaption><b>Fold ${c.index}</b>${f ? ` · ${esc(stamp(f.start).slice(0, 10))} → ${esc(stamp(f.end).slice(0, 10))} · <span class="${(f.metrics.totalReturn ?? 0) > 0 ? 'pos' : 'neg'}">${esc(signed(f.metrics.totalReturn))}</span> (buy &amp; hold ${esc(signed(f.metrics.buyHoldReturn))}), MaxDD ${esc(pct(f.metrics.maxDrawdown))}` : ''}</figcaption></figure>`,
      );
    }
    out.push('</div>', LEGEND);
  }
  return out.join('\n');
}

function walkForwardHtml(m: ModelReport): string {
  const wf = m.walkForward;
  if (!wf) return '';
  const s = wf.summary;
  const parts = [`<h3>Walk-forward <small>${wf.days} days, ${wf.folds.length} folds</small></h3>`];
  if (s) {
    parts.push(
      `<p>${s.positiveFolds}/${s.folds} positive folds · Sharpe ${esc(fixed(s.sharpeMin))} to ${esc(fixed(s.sharpeMax))} ` +
        `(mean ${esc(fixed(s.sharpeMean))} ± ${esc(fixed(s.sharpeStd))}) · rating ${badge(s.rating)}</p>`,
    );
    if (s.notes.length) parts.push(`<ul class="fine">${s.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  }
  parts.push(foldCharts(m));
  if (wf.folds.length) parts.push(table(FOLD_HEADER, wf.folds.map(foldRow), 'num'));
  for (const f of wf.folds) parts.push(tradesHtml(f, `Fold ${f.index} trades`));
  return parts.filter(Boolean).join('\n');
}

/** The statistics of docs/evidence.md; `table` escapes every cell. */
function evidenceHtml(m: ModelReport): string {
  if (!m.evidence) return '';
  return [
    '<h4>Evidence</h4>',
    table(
      ['Statistic', 'Value', 'Reading'],
      evidenceRows(m.evidence, (t) => t),
      'evidence',
      [2],
    ),
  ].join('\n');
}

function notesHtml(m: ModelReport): string {
  const parts: string[] = [];
  if (m.errors.length) parts.push(`<ul class="errors">${m.errors.map((e) => `<li>${esc(e)}</li>`).join('')}</ul>`);
  if (m.dataQuality.length) {
    parts.push('<h4>Data quality</h4>', `<ul class="notes">${m.dataQuality.map((q) => `<li><span class="tag">${esc(q.kind)}</span> ${esc(q.message)}</li>`).join('')}</ul>`);
  }
  const gatingReasons = m.gating && m.gating.classification !== 'APPROVED' ? m.gating.reasons : [];
  const notes = [...gatingReasons.map((r) => `gating: ${r}`), ...m.notes];
  if (notes.length) parts.push('<h4>Notes</h4>', `<ul class="notes">${notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  return parts.join('\n');
}

function anchor(id: string): string {
  return `m-${id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

function modelHtml(m: ModelReport, t: Thresholds, informational: boolean): string {
  const tier = m.decision?.tier ?? null;
  const parts = [
    `<section class="model" id="${esc(anchor(m.id))}">`,
    // `policy-gate backtest` reads no training summary and decides nothing: no tier to show there.
    // The decision comes first, so it is on screen on a phone whatever the id's length.
    m.gating || m.decision || m.notEvaluated
      ? `<h2><span class="decision">${badge(tier)}</span> <span class="id">${esc(m.id)}</span> <small>${esc(m.candidate)}</small> <small class="req">requested ${esc(m.requested)}</small></h2>`
      : `<h2><span class="id">${esc(m.id)}</span></h2>`,
  ];
  if (m.flags.length) parts.push(`<p class="flags">${m.flags.map((f) => `<code>${esc(f)}</code>`).join(' ')}</p>`);
  if (m.decision) {
    const miss = missedNextTier(m, t);
    parts.push(`<ul class="reasons">${m.decision.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}${miss ? `<li class="miss">${esc(miss)}</li>` : ''}</ul>`);
  } else if (m.notEvaluated) {
    parts.push(`<ul class="reasons"><li>not evaluated, so no decision (requested ${esc(m.requested)}): ${esc(m.notEvaluated.reason)}</li></ul>`);
  }
  // Under validate the walk-forward decides: it comes first, the plain backtest after it, marked informational.
  parts.push(trackHtml(m), walkForwardHtml(m), backtestHtml(m, informational), evidenceHtml(m), notesHtml(m), '</section>');
  return parts.filter(Boolean).join('\n');
}

function summaryHtml(report: Report): string {
  if (report.models.length === 0) return '';
  const rows = report.models.map((m) => {
    const s = m.walkForward?.summary;
    return (
      `<tr><td class="id"><a href="#${esc(anchor(m.id))}">${esc(m.id)}</a></td><td class="decision">${badge(m.decision?.tier)}</td><td>${esc(m.requested)}</td>` +
      `<td>${m.gating ? badge(m.gating.classification) : '—'}</td><td>${s ? `${s.positiveFolds}/${s.folds}` : '—'}</td>` +
      `<td>${s ? `${esc(fixed(s.sharpeMean))} ± ${esc(fixed(s.sharpeStd))}` : '—'}</td><td>${esc(signed(m.backtest?.metrics.totalReturn))}</td><td>${esc(m.candidate)}</td></tr>`
    );
  });
  // The decision sits next to the model, so it is on screen on a phone before anything else.
  const head = ['Model', 'Decision', 'Requested', 'Gating', 'Positive folds', 'Sharpe mean ± std', 'Backtest (informational)', 'Candidate'];
  return `<div class="scroll"><table class="summary"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table></div>`;
}

function gatingHtml(report: Report): string {
  const gated = report.models.filter((m) => m.gating);
  if (gated.length === 0) return '';
  return (
    '<h2>Gating</h2>\n' +
    table(
      ['Model', 'Fitness', 'PF', 'Consistency', 'Training MaxDD (proxy)', 'Backtest MaxDD', 'Class', 'Flags', 'Checkpoint'],
      gated.map((m) => {
        const g = m.gating!;
        return [
          m.id,
          plain(g.final.fitness),
          plain(g.final.profitFactor),
          pct(g.final.consistency, 1),
          pct(g.final.maxDrawdown, 1),
          pct(m.backtest?.metrics.maxDrawdown),
          g.classification,
          m.flags.join(' ') || '—',
          g.checkpointIndex === null ? '—' : String(g.checkpointIndex),
        ];
      }),
      'gating num',
      [7],
    )
  );
}

const CSS = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--panel:#f6f8fa;--grid:#e4e8ec;
--eq:#0969da;--bh:#8c959f;--base:#9a6700;--dd:#cf222e;--dd-fill:rgba(207,34,46,.16);--pos:#1a7f37;--neg:#cf222e;
--live:#1a7f37;--paper:#9a6700;--retrain:#bc4c00;--drop:#cf222e}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--panel:#151b23;--grid:#262c36;
--eq:#4493f8;--bh:#9198a1;--base:#d29922;--dd:#f85149;--dd-fill:rgba(248,81,73,.22);--pos:#3fb950;--neg:#f85149;
--live:#3fb950;--paper:#d29922;--retrain:#db6d28;--drop:#f85149}}
*{box-sizing:border-box}
.fill-mark.pos{fill:var(--pos)}.fill-mark.neg{fill:var(--neg)}.fill-mark.hollow{fill:none;stroke-width:1.2}.fill-mark.hollow.pos{stroke:var(--pos)}.fill-mark.hollow.neg{stroke:var(--neg)}
body{margin:0 auto;max-width:72rem;padding:1rem;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
h1{font-size:1.5rem;margin:.2rem 0 .5rem}h2{font-size:1.2rem;margin:1.6rem 0 .5rem}h3{font-size:1.05rem;margin:1.2rem 0 .4rem}h4{font-size:.95rem;margin:.8rem 0 .3rem}
small,.fine,.meta{color:var(--muted)}.fine{font-size:.85rem}
a{color:var(--eq)}
p,li,h1,h2,h3,h4,figcaption,footer{overflow-wrap:anywhere}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.5rem 0}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:.9rem;white-space:nowrap}
th,td{border-bottom:1px solid var(--line);padding:.3rem .6rem;text-align:right}th{color:var(--muted);font-weight:600;white-space:normal;vertical-align:bottom}
th:first-child,td:first-child{text-align:left}table.summary td:nth-child(-n+4),table.summary th:nth-child(-n+4){text-align:left}
table.evidence td:nth-child(1){white-space:normal;min-width:9rem}
table.gating td:nth-child(7),table.gating th:nth-child(7),table.gating th:nth-child(8){text-align:left}
td.id{white-space:normal;overflow-wrap:anywhere;min-width:7rem}
h2 .id{overflow-wrap:anywhere}.reasons li.miss{color:var(--muted)}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-size:.8rem;font-weight:600;border:1px solid var(--line);vertical-align:middle}
.b-LIVE,.b-success,.b-APPROVED,.b-GOOD{color:var(--live);border-color:var(--live)}
.b-PAPER,.b-REVIEW,.b-MARGINAL{color:var(--paper);border-color:var(--paper)}
.b-RETRAIN{color:var(--retrain);border-color:var(--retrain)}
.b-DROP,.b-failure,.b-POOR{color:var(--drop);border-color:var(--drop)}
section.model{border-top:2px solid var(--line);margin-top:1.5rem}
.reasons li:first-child{font-weight:600}
.errors{color:var(--neg)}
.tag{font-size:.75rem;border:1px solid var(--line);border-radius:.3rem;padding:0 .3rem;color:var(--muted)}
code{font-size:.8rem;background:var(--panel);border-radius:.3rem;padding:.05rem .3rem}
.pos{color:var(--pos)}.neg{color:var(--neg)}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(7.5rem,1fr));gap:.4rem;margin:.5rem 0}
.kpis div{background:var(--panel);border-radius:.4rem;padding:.35rem .6rem}
.kpis dt{font-size:.75rem;color:var(--muted)}.kpis dd{margin:0;font-size:1.05rem;font-weight:600;font-variant-numeric:tabular-nums}
figure.panel{margin:.6rem 0;background:var(--panel);border-radius:.5rem;padding:.5rem}
figcaption{font-size:.85rem;color:var(--muted);padding:.2rem .3rem}
figcaption p{margin:.1rem 0}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(17rem,1fr));gap:.6rem}
.grid3{display:grid;grid-template-columns:repeat(auto-fill,minmax(20rem,1fr));gap:.6rem;margin-top:.6rem}
.grid2 figure.panel,.grid3 figure.panel{margin:0}
svg.chart{display:block;width:100%;height:auto;overflow:visible}
.chart text{fill:var(--muted);font-size:11px;font-family:system-ui,-apple-system,"Segoe UI",sans-serif}
.chart.wide text{font-size:12px}
.chart .grid{stroke:var(--grid);stroke-width:1}
.chart .zero{stroke:var(--muted);stroke-width:1}
.chart .frame{fill:none;stroke:var(--line)}
.chart .base{stroke:var(--base);stroke-width:1;stroke-dasharray:4 3}
.chart polyline{fill:none;stroke-linejoin:round;stroke-linecap:round;vector-effect:non-scaling-stroke}
.chart .s-eq{stroke:var(--eq);stroke-width:2}
.chart .s-bh{stroke:var(--bh);stroke-width:1.5;stroke-dasharray:5 3}
.chart .s-dd{stroke:var(--dd);stroke-width:1.2}
.chart .dd-area{fill:var(--dd-fill);stroke:none}
.chart .bar.pos{fill:var(--pos)}.chart .bar.neg{fill:var(--neg)}
.chart text.val{fill:var(--fg);font-weight:600}
.legend{margin:.2rem 0}.key{display:inline-block;width:1.4rem;height:0;vertical-align:middle;margin:0 .3rem 0 .6rem;border-top:2px solid}
.key:first-child{margin-left:0}.k-eq{border-color:var(--eq)}.k-bh{border-top:2px dashed var(--bh)}.k-base{border-top:1px dashed var(--base)}
.k-dd{border-top:8px solid var(--dd-fill);height:0}
footer{margin-top:2rem;color:var(--muted);font-size:.8rem;word-break:break-all}
td.flags{white-space:normal;text-align:left;min-width:9rem;overflow-wrap:anywhere}
@media (max-width:40rem){body{padding:.6rem;font-size:14px}table{font-size:.8rem}th,td{padding:.25rem .4rem}.chart.wide text{font-size:26px}.chart text{font-size:12px}h1{font-size:1.3rem}}
`;

export function renderHtml(report: Report): string {
  const metaBits = [
    report.archive ? `archive ${esc(report.archive.path)}` : null,
    report.data?.range ? `bars ${esc(stamp(report.data.range.start))} → ${esc(stamp(report.data.range.end))} UTC (${esc(report.data.source)})` : null,
    report.runtime?.executionProvider ? `onnxruntime ${esc(report.runtime.onnxruntime ?? '')} ${esc(report.runtime.executionProvider)}` : null,
  ].filter(Boolean);
  const runErrors = [...report.errors, ...report.infraErrors];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>policy-gate report — ${esc(outcomeLabel(report))}</title>
<style>${CSS}</style></head><body>
<header>
<h1>policy-gate ${esc(report.command)} ${badge(outcomeLabel(report))}</h1>
${metaBits.length ? `<p class="meta">${metaBits.join(' · ')}</p>` : ''}
${report.conclusionReasons.length ? `<ul>${report.conclusionReasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>` : ''}
${runErrors.length ? `<ul class="errors">${runErrors.map((e) => `<li>${esc(e)}</li>`).join('')}</ul>` : ''}
</header>
${summaryHtml(report)}
${gatingHtml(report)}
${report.models.map((m) => modelHtml(m, thresholds(report), report.command === 'validate')).join('\n')}
${report.archive?.unreferenced.length ? `<p class="fine">Model files no summary entry names (not evaluated): ${report.archive.unreferenced.map((u) => `<code>${esc(u)}</code>`).join(' ')}</p>` : ''}
<footer>policy-gate ${esc(report.tool.version)} · generated ${esc(report.generatedAt)} · config sha256 ${esc(report.config.sha256)}${report.archive ? ` · archive sha256 ${esc(report.archive.sha256)}` : ''}</footer>
</body></html>
`;
}
