/**
 * The one timestamp parser of the whole program: bars (CSV and Alpaca), cards' golden vectors, `--end`
 * and the Action's `end` input all read ISO 8601 here, and text without a UTC offset is UTC — never the
 * machine's local time zone, so the same command gives the same window under any TZ.
 */

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digits(s: string, from: number, count: number): number {
  let v = 0;
  for (let k = 0; k < count; k++) {
    const c = s.charCodeAt(from + k) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * Parse an ISO 8601 date-time to epoch milliseconds; NaN when it is not one.
 * Accepts YYYY-MM-DD, then optionally [T| ]HH:MM[:SS[.fraction]], then optionally Z or ±HH[:MM] / ±HHMM.
 * Without an offset the time is UTC.
 */
export function parseIsoTimestamp(s: string): number {
  const n = s.length;
  if (n < 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return NaN;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1) return NaN;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!)) return NaN;
  let i = 10;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let ms = 0;
  if (i < n && (s[i] === 'T' || s[i] === 't' || s[i] === ' ')) {
    if (n < i + 6 || s.charCodeAt(i + 3) !== 58) return NaN;
    hour = digits(s, i + 1, 2);
    minute = digits(s, i + 4, 2);
    if (hour < 0 || hour > 23 || minute < 0 || minute > 59) return NaN;
    i += 6;
    if (i < n && s.charCodeAt(i) === 58) {
      second = digits(s, i + 1, 2);
      if (second < 0 || second > 59) return NaN;
      i += 3;
      if (i < n && (s.charCodeAt(i) === 46 || s.charCodeAt(i) === 44)) {
        i++;
        const start = i;
        let scale = 100;
        while (i < n) {
          const c = s.charCodeAt(i) - 48;
          if (c < 0 || c > 9) break;
          ms += c * scale;
          scale /= 10;
          i++;
        }
        if (i === start) return NaN;
        ms = Math.floor(ms);
      }
    }
  }
  let offsetMin = 0;
  if (i < n) {
    const c = s[i];
    if (c === 'Z' || c === 'z') {
      i++;
    } else if (c === '+' || c === '-') {
      const sign = c === '+' ? 1 : -1;
      const oh = digits(s, i + 1, 2);
      if (oh < 0 || oh > 23) return NaN;
      i += 3;
      let om = 0;
      if (i < n) {
        if (s.charCodeAt(i) === 58) i++;
        om = digits(s, i, 2);
        if (om < 0 || om > 59) return NaN;
        i += 2;
      }
      offsetMin = sign * (oh * 60 + om);
    } else {
      return NaN;
    }
  }
  if (i !== n) return NaN;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMin * 60_000;
}

/** parseIsoTimestamp for text that may carry surrounding spaces: epoch ms, or null when it is not ISO 8601. */
export function parseUtc(text: string): number | null {
  const ms = parseIsoTimestamp(text.trim());
  return Number.isFinite(ms) ? ms : null;
}
