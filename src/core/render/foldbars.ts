/**
 * Each fold's return as a signed bar, in text: losses to the left of the zero axis, gains to the
 * right, bar lengths proportional to |return| on one scale. Used by report.md, the PR comment, the check
 * run and the job summary, inside a fenced `text` block, so it reads the same wherever Markdown is shown
 * (github.com, the mobile app, a mail notification) — docs/reports.md says why this replaced a Mermaid
 * bar chart (Mermaid draws bars up from the axis floor, so with losing folds the tallest bar was the
 * smallest loss). Nothing from an archive enters the block: labels are fold numbers, values computed.
 *
 *     Fold    Return   loss │ gain
 *     F1     -14.13 %  ████│
 *     F2      +3.10 %      │█
 */
import type { ModelReport } from '../report.js';

export const BAR = '█';
/** Drawn for a non-zero value too small for one full cell, on its side of the axis. */
export const THIN_LOSS = '▕';
export const THIN_GAIN = '▏';
export const AXIS = '│';

export interface SignedBar {
  label: string;
  /** The value in percent, or null (undefined metric: "n/a", no bar). */
  value: number | null;
}

/** Cells of a bar for `v` when `max` (> 0) takes `width` cells. */
export function cells(v: number, max: number, width: number): number {
  return Math.round((Math.abs(v) / max) * width);
}

function signedPercent(v: number): string {
  const t = v.toFixed(2);
  if (/^-?0\.00$/.test(t)) return '0.00 %';
  return `${v > 0 ? '+' : ''}${t} %`;
}

/**
 * The lines of a signed bar chart (header first). `width`: cells for the largest |value|. The left
 * side is as wide as the largest loss needs and the right side as the largest gain needs.
 */
export function signedBars(rows: SignedBar[], width: number): string[] {
  const defined = rows.map((r) => r.value).filter((v): v is number => v !== null && Number.isFinite(v));
  const max = Math.max(0, ...defined.map((v) => Math.abs(v)));
  const len = (v: number): number => (max === 0 || v === 0 ? 0 : Math.max(1, cells(v, max, width)));
  const left = Math.max(0, ...defined.filter((v) => v < 0).map(len));
  const right = Math.max(0, ...defined.filter((v) => v > 0).map(len));
  const texts = rows.map((r) => (r.value === null || !Number.isFinite(r.value) ? 'n/a' : signedPercent(r.value)));
  const lw = Math.max(4, ...rows.map((r) => r.label.length));
  const vw = Math.max(6, ...texts.map((t) => t.length));
  const leftHead = left >= 4 ? 'loss'.padStart(left) : ' '.repeat(left);
  const out = [`${'Fold'.padEnd(lw)}  ${'Return'.padStart(vw)}  ${leftHead}${AXIS}${right >= 4 ? 'gain' : ''}`.trimEnd()];
  rows.forEach((r, i) => {
    const v = r.value;
    let l = '';
    let g = '';
    if (v !== null && Number.isFinite(v) && v !== 0) {
      const n = cells(v, max, width);
      const bar = n === 0 ? (v < 0 ? THIN_LOSS : THIN_GAIN) : BAR.repeat(n);
      if (v < 0) l = bar;
      else g = bar;
    }
    out.push(`${r.label.padEnd(lw)}  ${texts[i]!.padStart(vw)}  ${l.padStart(left)}${AXIS}${g}`.trimEnd());
  });
  return out;
}

/** The fenced block of one model's fold returns (percent), or null when it has no folds. */
export function foldReturnsBlock(m: ModelReport, width = 20): string | null {
  const folds = m.walkForward?.folds ?? [];
  if (folds.length === 0) return null;
  const rows = folds.map((f) => ({
    label: `F${f.index}`,
    value: f.metrics.totalReturn === null || !Number.isFinite(f.metrics.totalReturn) ? null : f.metrics.totalReturn * 100,
  }));
  return ['```text', ...signedBars(rows, width), '```'].join('\n');
}
