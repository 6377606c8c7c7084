/**
 * The reconciliation in report.html: the verdict, each rule with its numbers, and one chart — the
 * account's sleeve and the backtest's equity bar for bar, the account's orders marked along the top edge
 * (buys and sells; an extra order hollow) and the backtest's decisions along the bottom (a missed one
 * hollow). Pure.
 */
import type { ModelReport } from '../report.js';
import { esc } from './escape.js';
import { compactNumber, scale, svg, timePlot, type Box } from './svg.js';
import { trackLines } from './track.js';

const WIDTH = 720;
const BOX: Box = { x: 64, y: 14, w: 640, h: 200 };

export function trackHtml(m: ModelReport): string {
  const t = m.track;
  if (!t) return '';
  const parts = [`<h3>Record on the ${esc(t.account)} account since ${esc(t.promotedAt ?? 'unknown')}</h3>`];
  parts.push(
    `<ul class="reasons">${trackLines(t)
      .map((l) => `<li>${esc(l)}</li>`)
      .join('')}</ul>`,
  );
  const r = t.reconciliation;
  if (r === null || r.sleeve.timestamps.length < 2) return parts.join('\n');
  const times = r.sleeve.timestamps;
  const plot = timePlot({
    box: BOX,
    times,
    series: [
      { key: 'backtest', cls: 's-bh', values: r.backtest.equity },
      { key: 'account', cls: 's-eq', values: r.sleeve.equity },
    ],
    yFormat: compactNumber,
    reference: { value: r.sleeve.equity[0]!, cls: 'base' },
    xTicks: 6,
    yTicks: 4,
    xAxis: 'labels',
  });
  const x = scale(times[0]!, times[times.length - 1]!, BOX.x, BOX.x + BOX.w);
  const marks: string[] = [];
  const mark = (iso: string, side: 'buy' | 'sell', top: boolean, hollow: boolean, kind: string): void => {
    const xx = Math.round(x(Date.parse(iso)) * 10) / 10;
    const y0 = top ? BOX.y : BOX.y + BOX.h;
    const tip = top ? y0 + 7 : y0 - 7;
    const cls = `${side === 'buy' ? 'pos' : 'neg'}${hollow ? ' hollow' : ''}`;
    marks.push(`<path class="fill-mark ${cls}" data-kind="${esc(kind)}" data-time="${esc(iso)}" d="M${xx - 4},${y0} L${xx + 4},${y0} L${xx},${tip} Z"/>`);
  };
  for (const i of r.decisions.items) {
    if (i.account) mark(i.account.time, i.account.side, true, i.kind === 'extra', `account-${i.kind}`);
    if (i.backtest) mark(i.backtest.time, i.backtest.side, false, i.kind === 'missed', `backtest-${i.kind}`);
  }
  parts.push(
    svg({ width: WIDTH, height: 240, chart: 'reconciliation', data: { model: m.id }, label: `${m.id}: the account's equity and the backtest's, orders marked` }, `${plot}\n${marks.join('\n')}`),
    '<p class="legend"><span class="key k-eq"></span>account <span class="key k-bh"></span>backtest · ▼ account orders (top), ▲ backtest decisions (bottom); hollow: extra or missed</p>',
  );
  return parts.join('\n');
}
