/**
 * Charts that github.com draws natively in a PR comment, a check run and a job summary: Mermaid
 * `xychart-beta` blocks (Mermaid ≥ 10.6; `xychart-beta` is the keyword every Mermaid version with XY
 * charts accepts, `xychart` alone only ≥ 11). We emit a small subset of its grammar
 * (mermaid-js/mermaid, packages/mermaid/src/diagrams/xychart/parser/xychart.jison):
 *
 *   xychart-beta
 *       title "<text without quotes>"
 *       x-axis "<text>" ["<label>", "<label>", …]
 *       y-axis "<text>" <number> --> <number>
 *       bar [<number>, <number>, …]
 *       line [<number>, <number>, …]
 *
 * where a number matches the grammar's NUMBER_WITH_DECIMAL, `[+-]?(\d+(\.\d+)?|\.\d+)` — no exponent,
 * so numbers are written with toFixed. Nothing from an archive ever enters a block: titles are fixed
 * text, the x labels are fold numbers, and the values are numbers we computed. Text goes through
 * `mermaidText`, which keeps letters, digits, spaces and `.,:%()+-_` and drops everything else (quotes,
 * brackets, backticks, semicolons and newlines would end a string or a statement; `%%` starts a comment).
 *
 * Mermaid draws a vertical bar from the bottom of the plot, not from zero, so a negative return would
 * look like a short positive bar; each chart therefore also draws a flat line at 0 %, and a fold lost
 * money exactly when its bar ends below that line (said in the caption under the chart).
 */
import type { ModelReport } from '../report.js';

export interface XyChart {
  title: string;
  xAxis: { title: string; labels: string[] };
  yAxis: { title: string; min: number; max: number };
  bars: number[][];
  lines: number[][];
}

/** Text that is safe inside a quoted Mermaid xychart string; never empty (the lexer needs a character). */
export function mermaidText(text: string): string {
  const safe = text
    .replace(/%%+/g, '%')
    .replace(/[^A-Za-z0-9 .,:%()+\-_]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return safe || '-';
}

/** A number as the grammar reads it: fixed decimals, no exponent, no "-0". */
export function mermaidNumber(v: number, decimals = 2): string {
  if (!Number.isFinite(v)) throw new Error(`mermaidNumber: ${v} is not a finite number`);
  const text = v.toFixed(decimals);
  return /^-0(\.0+)?$/.test(text) ? text.slice(1) : text;
}

export function renderXyChart(c: XyChart): string {
  const list = (vs: number[]): string => `[${vs.map((v) => mermaidNumber(v)).join(', ')}]`;
  return [
    '```mermaid',
    'xychart-beta',
    `    title "${mermaidText(c.title)}"`,
    `    x-axis "${mermaidText(c.xAxis.title)}" [${c.xAxis.labels.map((l) => `"${mermaidText(l)}"`).join(', ')}]`,
    `    y-axis "${mermaidText(c.yAxis.title)}" ${mermaidNumber(c.yAxis.min)} --> ${mermaidNumber(c.yAxis.max)}`,
    ...c.bars.map((b) => `    bar ${list(b)}`),
    ...c.lines.map((l) => `    line ${list(l)}`),
    '```',
  ].join('\n');
}

/**
 * A y range that holds every value and 0 with a margin of a tenth of the span on the sides that have
 * data (Mermaid draws its own ticks inside it). The floor stays at 0 when no value is negative, so the
 * bars' lengths are then true; the top always has room, so the zero line is visible. Ends are rounded
 * outwards to whole units (1, 0.1 or 0.01, by the span).
 */
export function axisRange(values: number[]): { min: number; max: number } {
  let lo = Math.min(0, ...values);
  let hi = Math.max(0, ...values);
  if (hi - lo < 0.01) hi = lo + 1; // all (about) zero: a unit range
  const span = hi - lo;
  const pad = span * 0.1;
  const unit = span >= 5 ? 1 : span >= 0.5 ? 0.1 : 0.01;
  const decimals = unit === 1 ? 0 : unit === 0.1 ? 1 : 2;
  lo = lo < 0 ? Math.floor((lo - pad) / unit) * unit : lo;
  hi = Math.ceil((hi + pad) / unit) * unit;
  return { min: Number(lo.toFixed(decimals)), max: Number(hi.toFixed(decimals)) };
}

/**
 * The fold-return chart of one model (percent, 2 decimals), or null when it has no folds or a fold's
 * return is undefined (a chart cannot show "n/a"; the fold table beside it does).
 */
export function foldReturnsChart(m: ModelReport): XyChart | null {
  const folds = m.walkForward?.folds ?? [];
  if (folds.length === 0) return null;
  const returns = folds.map((f) => f.metrics.totalReturn);
  if (returns.some((r) => r === null || !Number.isFinite(r))) return null;
  const values = (returns as number[]).map((r) => Number((r * 100).toFixed(2)));
  return {
    title: 'Return per fold after costs (%)',
    xAxis: { title: 'Fold', labels: folds.map((f) => `F${f.index}`) },
    yAxis: { title: 'Return (%)', ...axisRange(values) },
    bars: [values],
    lines: [values.map(() => 0)],
  };
}

/** The fenced block and its caption, or null (see foldReturnsChart). */
export function foldReturnsMermaid(m: ModelReport): string | null {
  const chart = foldReturnsChart(m);
  if (!chart) return null;
  return `${renderXyChart(chart)}\n\n<sub>Bars: each fold's return after costs, in %. Bars rise from the axis floor; the flat line is 0 %, and a bar that ends below it is a losing fold.</sub>`;
}
