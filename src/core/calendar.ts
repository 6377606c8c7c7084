/**
 * The US-equity trading calendar (pure: no clock, no I/O): NYSE trading days, early closes and the
 * regular session in New York time. src/core/gaps.ts uses it so that, for `us_equity`, a gap is
 * reported only where a bar was due — by every bars source alike (CSV files and Alpaca).
 *
 * New York time comes from Intl (the tz database, DST included), never from a fixed offset.
 * Holidays follow NYSE's rules (1998 on) plus its special closures; a closure announced after this
 * was written shows up as a gap note (a note, not an error).
 */

const DAY = 86_400_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;

// ------------------------------------------------------------------ New York time

const nyFormat = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/New_York',
  hourCycle: 'h23',
  year: 'numeric',
  month: 'numeric',
  day: 'numeric',
  hour: 'numeric',
  minute: 'numeric',
  second: 'numeric',
});

const offsetCache = new Map<number, number>();

/** New York's offset from UTC at an instant, in ms (−4 h or −5 h). DST changes on the hour, so it is cached per UTC hour. */
export function nyOffsetMs(utcMs: number): number {
  const hour = Math.floor(utcMs / HOUR);
  let off = offsetCache.get(hour);
  if (off === undefined) {
    const at = hour * HOUR;
    const parts: Record<string, number> = {};
    for (const p of nyFormat.formatToParts(new Date(at))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
    off = Date.UTC(parts['year']!, parts['month']! - 1, parts['day']!, parts['hour']!, parts['minute']!, parts['second']!) - at;
    if (offsetCache.size > 200_000) offsetCache.clear();
    offsetCache.set(hour, off);
  }
  return off;
}

/** The New York calendar day of an instant, as days since 1970-01-01. */
export function nyDay(utcMs: number): number {
  return Math.floor((utcMs + nyOffsetMs(utcMs)) / DAY);
}

/** The UTC instant of a New York wall-clock time on a New York day (no DST ambiguity at the times used here). */
export function nyTimeToUtc(day: number, hour: number, minute = 0): number {
  const local = day * DAY + hour * HOUR + minute * MINUTE;
  const first = local - nyOffsetMs(local);
  const off = nyOffsetMs(first);
  return local - off;
}

/** YYYY-MM-DD of a day number. */
export function dayIso(day: number): string {
  return new Date(day * DAY).toISOString().slice(0, 10);
}

function dayOf(year: number, month: number, date: number): number {
  return Date.UTC(year, month - 1, date) / DAY;
}

/** 0 = Sunday … 6 = Saturday. */
function weekday(day: number): number {
  return (((day + 4) % 7) + 7) % 7;
}

function nthWeekday(year: number, month: number, dow: number, n: number): number {
  const first = dayOf(year, month, 1);
  return first + ((dow - weekday(first) + 7) % 7) + (n - 1) * 7;
}

function lastWeekday(year: number, month: number, dow: number): number {
  const last = dayOf(year, month + 1, 1) - 1;
  return last - ((weekday(last) - dow + 7) % 7);
}

function easterSunday(year: number): number {
  // Anonymous Gregorian algorithm (Meeus/Jones/Butcher)
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const date = ((h + l - 7 * m + 114) % 31) + 1;
  return dayOf(year, month, date);
}

/** A fixed-date holiday moved off the weekend: Saturday → Friday, Sunday → Monday. */
function observed(day: number): number {
  const w = weekday(day);
  return w === 6 ? day - 1 : w === 0 ? day + 1 : day;
}

/** Unscheduled full-day NYSE closures (national days of mourning, weather, 9/11). */
const SPECIAL_CLOSURES = ['2001-09-11', '2001-09-12', '2001-09-13', '2001-09-14', '2004-06-11', '2007-01-02', '2012-10-29', '2012-10-30', '2018-12-05', '2025-01-09'].map(
  (s) => Date.parse(`${s}T00:00:00Z`) / DAY,
);

const holidayCache = new Map<number, { closed: Set<number>; early: Set<number> }>();

function yearCalendar(year: number): { closed: Set<number>; early: Set<number> } {
  let cal = holidayCache.get(year);
  if (cal) return cal;
  const closed = new Set<number>();
  // New Year's Day: a Saturday New Year is not observed on the Friday before (NYSE rule 7.2)
  const ny = dayOf(year, 1, 1);
  if (weekday(ny) !== 6) closed.add(observed(ny));
  if (year >= 1998) closed.add(nthWeekday(year, 1, 1, 3)); // Martin Luther King Jr. Day
  closed.add(nthWeekday(year, 2, 1, 3)); // Washington's Birthday
  closed.add(easterSunday(year) - 2); // Good Friday
  closed.add(lastWeekday(year, 5, 1)); // Memorial Day
  if (year >= 2022) closed.add(observed(dayOf(year, 6, 19))); // Juneteenth
  closed.add(observed(dayOf(year, 7, 4))); // Independence Day
  closed.add(nthWeekday(year, 9, 1, 1)); // Labor Day
  const thanksgiving = nthWeekday(year, 11, 4, 4);
  closed.add(thanksgiving);
  closed.add(observed(dayOf(year, 12, 25))); // Christmas
  for (const d of SPECIAL_CLOSURES) if (dayIso(d).startsWith(`${year}-`)) closed.add(d);

  // Early closes (13:00): July 3, the day after Thanksgiving and Christmas Eve, when they are trading days.
  const early = new Set<number>();
  for (const d of [dayOf(year, 7, 3), thanksgiving + 1, dayOf(year, 12, 24)]) {
    const w = weekday(d);
    if (w !== 0 && w !== 6 && !closed.has(d)) early.add(d);
  }
  cal = { closed, early };
  holidayCache.set(year, cal);
  return cal;
}

function yearOfDay(day: number): number {
  return new Date(day * DAY).getUTCFullYear();
}

/** True for a New York day on which NYSE trades. */
export function isTradingDay(day: number): boolean {
  const w = weekday(day);
  if (w === 0 || w === 6) return false;
  return !yearCalendar(yearOfDay(day)).closed.has(day);
}

/** The regular session of a trading day as [open, close) in UTC ms; null on a weekend or holiday. */
export function regularSession(day: number): { open: number; close: number } | null {
  if (!isTradingDay(day)) return null;
  const early = yearCalendar(yearOfDay(day)).early.has(day);
  return { open: nyTimeToUtc(day, 9, 30), close: nyTimeToUtc(day, early ? 13 : 16) };
}

// ------------------------------------------------------------------ gap notes
