/**
 * Data-quality gap notes for a bar series, the same for every bars source (CSV files and Alpaca), so a
 * series gives the same notes whichever source read it:
 *
 * - `crypto` (24/7): every missing bar is a gap.
 * - `us_equity`: stock bars exist only when there were trades — none overnight, at weekends or on
 *   market holidays — and intraday bars include extended hours (04:00–20:00 New York time), where a
 *   missing bar is normal. So a gap is reported only where a bar was due (src/core/calendar.ts):
 *     - intraday timeframes: a bar slot that overlaps the REGULAR session (09:30–16:00 New York time,
 *       13:00 on early-close days) of an NYSE trading day, between two bars of the series;
 *     - 1Day: an NYSE trading day between two daily bars.
 *   Overnight, weekend, holiday and extended-hours absences are never gaps.
 *
 * At most MAX_GAP_NOTES gaps are listed one by one; the rest are summed up in one more note. Bars
 * closer than half a step give one `info` note ("is this really <timeframe> data?").
 */
import { isTradingDay, nyDay, nyTimeToUtc, regularSession } from './calendar.js';
import { timeframeMs, type AssetClass, type BarSeries, type DataQualityNote } from './types.js';

const DAY = 86_400_000;

/** At most this many gap notes one by one; the rest are summed up in one more note. */
export const MAX_GAP_NOTES = 50;

/** ISO 8601 UTC with a `Z`, without milliseconds when they are 0: `2024-01-01T00:00:00Z`. */
export function formatTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

interface Gap {
  /** Start time of the first and the last missing bar (a trading day's New York midnight for 1Day us_equity). */
  from: number;
  to: number;
  count: number;
}

/** The gap notes of `bars` for its asset class (see the file comment). */
export function barGapNotes(bars: BarSeries, assetClass: AssetClass): DataQualityNote[] {
  return assetClass === 'us_equity' ? equityGapNotes(bars) : gapNotes(bars);
}

/** Gap notes for a 24/7 market (crypto): every missing bar is a gap. */
export function gapNotes(bars: BarSeries): DataQualityNote[] {
  const step = timeframeMs(bars.timeframe);
  const t = bars.time;
  const gaps: Gap[] = [];
  for (let k = 1; k < t.length; k++) {
    const missing = Math.round((t[k]! - t[k - 1]!) / step) - 1;
    if (missing >= 1) gaps.push({ from: t[k - 1]! + step, to: t[k]! - step, count: missing });
  }
  return notesFor(bars, gaps, 'bar', '');
}

/** Gap notes for US-equity bars: gaps only where a bar was due (see the file comment). */
export function equityGapNotes(bars: BarSeries): DataQualityNote[] {
  const step = timeframeMs(bars.timeframe);
  const t = bars.time;
  const gaps: Gap[] = [];
  for (let k = 1; k < t.length; k++) {
    const prev = t[k - 1]!;
    const next = t[k]!;
    if (next - prev <= step) continue;
    const d0 = nyDay(prev);
    const d1 = nyDay(next);
    if (step >= DAY) {
      let count = 0;
      let first = 0;
      let last = 0;
      for (let d = d0 + 1; d < d1; d++) {
        if (!isTradingDay(d)) continue;
        if (count === 0) first = d;
        last = d;
        count++;
      }
      if (count > 0) gaps.push({ from: nyTimeToUtc(first, 0), to: nyTimeToUtc(last, 0), count });
      continue;
    }
    let count = 0;
    let from = 0;
    let to = 0;
    for (let d = d0; d <= d1; d++) {
      const s = regularSession(d);
      if (!s) continue;
      // slots prev + j*step (j >= 1) that start before `next` and overlap [open, close)
      const jMin = Math.max(1, Math.floor((s.open - step - prev) / step) + 1);
      const jMax = Math.ceil((Math.min(s.close, next) - prev) / step) - 1;
      if (jMax < jMin) continue;
      if (count === 0) from = prev + jMin * step;
      to = prev + jMax * step;
      count += jMax - jMin + 1;
    }
    if (count > 0) gaps.push({ from, to, count });
  }
  return step >= DAY ? notesFor(bars, gaps, 'trading day', '') : notesFor(bars, gaps, 'bar', ' in regular trading hours');
}

function notesFor(bars: BarSeries, gaps: readonly Gap[], unit: string, where: string): DataQualityNote[] {
  const step = timeframeMs(bars.timeframe);
  const label = `${bars.symbol} ${bars.timeframe}`;
  const notes: DataQualityNote[] = [];
  for (const g of gaps.slice(0, MAX_GAP_NOTES)) {
    notes.push({
      kind: 'gap',
      message:
        g.count === 1
          ? `${label}: 1 missing ${unit}${where} at ${formatTimestamp(g.from)}`
          : `${label}: ${g.count} missing ${unit}s${where} from ${formatTimestamp(g.from)} to ${formatTimestamp(g.to)}`,
      at: formatTimestamp(g.from),
      count: g.count,
    });
  }
  if (gaps.length > MAX_GAP_NOTES) {
    const rest = gaps.slice(MAX_GAP_NOTES);
    const missing = rest.reduce((a, g) => a + g.count, 0);
    notes.push({
      kind: 'gap',
      message: `${label}: ${rest.length} more gaps (${missing} missing ${unit}s) after ${formatTimestamp(rest[0]!.from)}, not listed one by one`,
      at: formatTimestamp(rest[0]!.from),
      count: missing,
    });
  }
  let close = 0;
  for (let k = 1; k < bars.time.length; k++) if (bars.time[k]! - bars.time[k - 1]! < step / 2) close++;
  if (close > 0) {
    notes.push({
      kind: 'info',
      message: `${label}: ${close} bar${close === 1 ? '' : 's'} start less than half a timeframe step after the previous bar: is this really ${bars.timeframe} data?`,
      count: close,
    });
  }
  return notes;
}
