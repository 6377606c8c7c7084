/**
 * Inline SVG charts for report.html: pure functions from numbers to markup, no scripts, no fonts, no
 * network. Colours come from CSS classes (the page's stylesheet sets them for light and dark mode);
 * the SVGs scale with their viewBox.
 *
 * Every plotted series carries its data, so a reader (or a test) can check a chart against report.json
 * without reverse-engineering pixels:
 * - a line: `<polyline data-series="…" data-values="v v …" points="x,y …">`, the values exactly as in
 *   report.json (`String(number)` round-trips), one pixel point per value; the point times are the
 *   enclosing `<svg data-times="ISO ISO …">` (shared by the series of a chart);
 * - a bar: `<rect data-index="k" data-value="v">`, or `<text data-index="k" data-value="null">` for
 *   an undefined value (drawn as "n/a", never as a zero bar).
 */
import { esc } from './escape.js';

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Linear map from [d0, d1] onto [r0, r1]; a degenerate domain maps to the middle of the range. */
export function scale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  if (!(d1 !== d0)) return () => (r0 + r1) / 2;
  const k = (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

/** "Nice" tick values covering [lo, hi]: steps of 1, 2, 2.5 or 5 × 10^k, about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 4): { ticks: number[]; step: number; lo: number; hi: number } {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) * 0.01 || 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step + 1e-9) * step;
  const last = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first; v <= last + step * 1e-6; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return { ticks, step, lo: first, hi: last };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const TIME_STEPS = [HOUR, 2 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 61 * DAY, 91 * DAY, 182 * DAY, 365 * DAY];

/** Tick times at UTC boundaries (hours, days, weeks…) inside [t0, t1], at most about `count`. */
export function timeTicks(t0: number, t1: number, count: number): { ticks: number[]; step: number } {
  const span = Math.max(1, t1 - t0);
  const step = TIME_STEPS.find((s) => span / s <= count) ?? TIME_STEPS[TIME_STEPS.length - 1]!;
  const ticks: number[] = [];
  // Weekly and longer steps start at a Monday (1970-01-05 was one); shorter ones at UTC midnight/hours.
  const origin = step >= 7 * DAY ? 4 * DAY : 0;
  for (let t = Math.ceil((t0 - origin) / step) * step + origin; t <= t1; t += step) ticks.push(t);
  return { ticks, step };
}

export function timeLabel(t: number, step: number): string {
  const d = new Date(t);
  if (step < DAY) return `${String(d.getUTCHours()).padStart(2, '0')}:00`;
  if (step >= 182 * DAY) return `${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`;
}

/** The decimals that write every multiple of `step` exactly (2.5 → 1, 0.25 → 2, 20 → 0), at most 4. */
export function stepDecimals(step: number): number {
  for (let d = 0; d < 4; d++) {
    const scaled = step * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-6 * Math.max(1, scaled)) return d;
  }
  return 4;
}

/** `v` with `decimals`, a minus sign (−) for negatives and no "−0". */
function signedFixed(v: number, decimals: number): string {
  const text = v.toFixed(decimals);
  return (/^-0(\.0+)?$/.test(text) ? text.slice(1) : text).replace('-', '−');
}

/** 102500 → "102.5k", 1250000 → "1.25M": as many decimals as the tick step needs. */
export function compactNumber(v: number, step: number): string {
  const abs = Math.abs(v);
  const [div, unit] = abs >= 1e6 || step >= 1e6 ? [1e6, 'M'] : abs >= 1e4 || step >= 1e3 ? [1e3, 'k'] : [1, ''];
  return `${signedFixed(v / div, stepDecimals(step / div))}${unit}`;
}

/** A fraction as a percentage with as many decimals as the tick step needs. */
export function percentTick(v: number, step: number): string {
  return `${signedFixed(v * 100, Math.min(3, stepDecimals(step * 100)))}%`;
}

const r1 = (v: number): string => String(Math.round(v * 10) / 10);

export interface LineSeries {
  /** data-series: which curve this is (e.g. "equity", "buyHold", "drawdown"). */
  key: string;
  cls: string;
  values: readonly number[];
}

export interface TimePlot {
  box: Box;
  /** Epoch ms per point, shared by the series (the caller writes them into the SVG's data-times). */
  times: readonly number[];
  series: LineSeries[];
  /** Plotted value = sign · data value (the drawdown is drawn below zero, its data stays positive). */
  sign?: 1 | -1;
  yFormat: (v: number, step: number) => string;
  /** Horizontal reference line (e.g. the starting capital) and its class. */
  reference?: { value: number; cls: string };
  /** Fill the area between the first series and zero (the drawdown). */
  area?: string;
  /** Domain forced to include these values. */
  include?: number[];
  /** Domain (plotted values) shared with other plots, e.g. a model's folds: it is widened to it. */
  domain?: [number, number];
  xTicks: number;
  yTicks: number;
  /** Vertical grid lines at the time ticks, with their labels under the plot or without. */
  xAxis: 'labels' | 'grid';
}

/** One plot of time series inside an SVG: grid, y labels, optional x labels, polylines. */
export function timePlot(p: TimePlot): string {
  const sign = p.sign ?? 1;
  const { box } = p;
  const plotted = p.series.map((s) => s.values.map((v) => sign * v));
  let lo = Infinity;
  let hi = -Infinity;
  for (const vs of plotted) for (const v of vs) if (Number.isFinite(v)) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  for (const v of [...(p.include ?? []), ...(p.domain ?? []), ...(p.reference ? [sign * p.reference.value] : [])]) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  const yt = niceTicks(lo, hi, p.yTicks);
  const t0 = p.times[0] ?? 0;
  const t1 = p.times[p.times.length - 1] ?? t0 + 1;
  const x = scale(t0, t1, box.x, box.x + box.w);
  const y = scale(yt.lo, yt.hi, box.y + box.h, box.y);
  const out: string[] = [];
  for (const t of yt.ticks) {
    const yy = r1(y(t));
    out.push(`<line class="grid" x1="${box.x}" x2="${box.x + box.w}" y1="${yy}" y2="${yy}"/>`);
    out.push(`<text class="tick" x="${box.x - 4}" y="${yy}" text-anchor="end" dominant-baseline="middle">${esc(p.yFormat(sign * t, yt.step))}</text>`);
  }
  const xt = timeTicks(t0, t1, p.xTicks);
  for (const t of xt.ticks) {
    const xx = r1(x(t));
    out.push(`<line class="grid" x1="${xx}" x2="${xx}" y1="${box.y}" y2="${box.y + box.h}"/>`);
    if (p.xAxis === 'labels') {
      // A label at either end of the axis is aligned inwards, clear of the y labels.
      const edge = box.w * 0.05;
      const anchor = x(t) - box.x < edge ? 'start' : box.x + box.w - x(t) < edge ? 'end' : 'middle';
      out.push(`<text class="tick" x="${xx}" y="${box.y + box.h + 4}" text-anchor="${anchor}" dominant-baseline="hanging">${esc(timeLabel(t, xt.step))}</text>`);
    }
  }
  if (p.reference) {
    const yy = r1(y(sign * p.reference.value));
    out.push(`<line class="${esc(p.reference.cls)}" x1="${box.x}" x2="${box.x + box.w}" y1="${yy}" y2="${yy}"/>`);
  }
  p.series.forEach((s, i) => {
    const pts = plotted[i]!.map((v, k) => `${r1(x(p.times[k]!))},${r1(y(v))}`);
    if (i === 0 && p.area && pts.length > 0) {
      const zero = r1(y(0));
      const first = r1(x(p.times[0]!));
      const last = r1(x(p.times[pts.length - 1]!));
      out.push(`<path class="${esc(p.area)}" d="M${first},${zero} L${pts.join(' L')} L${last},${zero} Z"/>`);
    }
    out.push(`<polyline class="${esc(s.cls)}" data-series="${esc(s.key)}" data-values="${esc(s.values.map((v) => String(v)).join(' '))}" points="${pts.join(' ')}"/>`);
  });
  out.push(`<rect class="frame" x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}"/>`);
  return out.join('\n');
}

export interface SvgOptions {
  width: number;
  height: number;
  /** data-chart: what the chart shows. */
  chart: string;
  /** Extra data-* attributes (already trusted names; values are escaped). */
  data?: Record<string, string>;
  cls?: string;
  label: string;
}

export function svg(o: SvgOptions, body: string): string {
  const data = Object.entries(o.data ?? {})
    .map(([k, v]) => ` data-${k}="${esc(v)}"`)
    .join('');
  return (
    `<svg class="chart${o.cls ? ` ${esc(o.cls)}` : ''}" viewBox="0 0 ${o.width} ${o.height}" role="img" aria-label="${esc(o.label)}" ` +
    `data-chart="${esc(o.chart)}"${data} xmlns="http://www.w3.org/2000/svg">\n<title>${esc(o.label)}</title>\n${body}\n</svg>`
  );
}

export interface BarPlot {
  box: Box;
  /** Category labels under the bars (e.g. fold numbers). */
  labels: readonly string[];
  /** data-index per bar (e.g. the fold number). */
  indices: readonly number[];
  values: readonly (number | null)[];
  format: (v: number) => string;
  yFormat: (v: number, step: number) => string;
  yTicks: number;
  /** Colour bars by sign (pos / neg classes) — for returns and Sharpe ratios. */
  cls: (v: number) => string;
}

/** Bars from zero, one per value; a null value is "n/a", not a bar. */
export function barPlot(p: BarPlot): string {
  const { box } = p;
  const defined = p.values.filter((v): v is number => v !== null && Number.isFinite(v));
  // Head room for the value labels above (and below) the bars.
  const lo = Math.min(0, ...defined) * 1.2;
  const hi = Math.max(0, ...defined) * 1.2;
  const yt = niceTicks(lo, hi === lo ? lo + 1 : hi, p.yTicks);
  const y = scale(yt.lo, yt.hi, box.y + box.h, box.y);
  const out: string[] = [];
  for (const t of yt.ticks) {
    const yy = r1(y(t));
    out.push(`<line class="${t === 0 ? 'zero' : 'grid'}" x1="${box.x}" x2="${box.x + box.w}" y1="${yy}" y2="${yy}"/>`);
    out.push(`<text class="tick" x="${box.x - 4}" y="${yy}" text-anchor="end" dominant-baseline="middle">${esc(p.yFormat(t, yt.step))}</text>`);
  }
  const n = Math.max(1, p.values.length);
  const slot = box.w / n;
  const bw = Math.min(48, slot * 0.6);
  const zero = y(0);
  p.values.forEach((v, k) => {
    const cx = box.x + slot * (k + 0.5);
    const idx = p.indices[k] ?? k + 1;
    if (v === null || !Number.isFinite(v)) {
      out.push(`<text class="na" data-index="${idx}" data-value="null" x="${r1(cx)}" y="${r1(zero - 4)}" text-anchor="middle">n/a</text>`);
    } else {
      const top = Math.min(y(v), zero);
      const h = Math.abs(y(v) - zero);
      out.push(
        `<rect class="bar ${esc(p.cls(v))}" data-index="${idx}" data-value="${String(v)}" x="${r1(cx - bw / 2)}" y="${r1(top)}" width="${r1(bw)}" height="${r1(Math.max(h, 0.5))}"><title>${esc(p.labels[k] ?? '')}: ${esc(p.format(v))}</title></rect>`,
      );
      const above = v >= 0;
      out.push(`<text class="val" x="${r1(cx)}" y="${r1(above ? top - 3 : top + h + 3)}" text-anchor="middle" dominant-baseline="${above ? 'auto' : 'hanging'}">${esc(p.format(v))}</text>`);
    }
    out.push(`<text class="tick" x="${r1(cx)}" y="${box.y + box.h + 4}" text-anchor="middle" dominant-baseline="hanging">${esc(p.labels[k] ?? '')}</text>`);
  });
  return out.join('\n');
}
