/**
 * Maintenance windows: weekly time ranges, read in the target's own IANA time zone (with Intl,
 * so daylight-saving changes follow the zone's rules). A range whose end is not after its start
 * runs over midnight into the next day. No windows means the target accepts updates any time.
 */
import { InvalidInputError } from '../errors.js';

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface MaintenanceWindow {
  /** The days the range starts on. */
  days: Weekday[];
  /** Local wall-clock start and end, HH:MM (24 h). */
  start: string;
  end: string;
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;
const WEEK_MINUTES = 7 * 24 * 60;
export const MAX_WINDOWS = 28;

export function validateTimeZone(field: string, zone: string): string {
  try {
    // Throws a RangeError for a zone Intl does not know.
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    throw new InvalidInputError(field, `"${zone}" is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)`);
  }
}

export function validateWindows(field: string, windows: readonly { days: readonly string[]; start: string; end: string }[]): MaintenanceWindow[] {
  if (windows.length > MAX_WINDOWS) throw new InvalidInputError(field, `at most ${MAX_WINDOWS} maintenance windows per target`);
  return windows.map((w, i) => {
    if (w.days.length === 0) throw new InvalidInputError(`${field}[${i}].days`, 'name at least one day (mon … sun)');
    for (const d of w.days) if (!WEEKDAYS.includes(d as Weekday)) throw new InvalidInputError(`${field}[${i}].days`, `"${d}" is not a day: use mon, tue, wed, thu, fri, sat, sun`);
    for (const [name, value] of [['start', w.start], ['end', w.end]] as const) {
      if (!HHMM.test(value)) throw new InvalidInputError(`${field}[${i}].${name}`, `"${value}" is not a time HH:MM (00:00 … 23:59)`);
    }
    if (w.start === w.end) throw new InvalidInputError(`${field}[${i}]`, 'start and end are equal: a window must have a length');
    return { days: [...new Set(w.days)] as Weekday[], start: w.start, end: w.end };
  });
}

const formatters = new Map<string, Intl.DateTimeFormat>();
/** Minute of the local week (Monday 00:00 = 0) at `at` in `zone`. */
function localMinuteOfWeek(at: Date, zone: string): number {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(zone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(at).map((p) => [p.type, p.value]));
  const day = WEEKDAYS.indexOf(String(parts.weekday).toLowerCase().slice(0, 3) as Weekday);
  return day * 1440 + Number(parts.hour) * 60 + Number(parts.minute);
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Each window occurrence as [start, end) minutes of the week (end may pass the week's end). */
function ranges(windows: readonly MaintenanceWindow[]): [number, number][] {
  const out: [number, number][] = [];
  for (const w of windows) {
    const s = minutes(w.start);
    let e = minutes(w.end);
    if (e <= s) e += 1440;
    for (const d of w.days) out.push([WEEKDAYS.indexOf(d) * 1440 + s, WEEKDAYS.indexOf(d) * 1440 + e]);
  }
  return out;
}

export function isWindowOpen(windows: readonly MaintenanceWindow[] | null | undefined, zone: string, at: Date): boolean {
  if (!windows || windows.length === 0) return true;
  const m = localMinuteOfWeek(at, zone);
  return ranges(windows).some(([s, e]) => (m >= s && m < e) || (m + WEEK_MINUTES >= s && m + WEEK_MINUTES < e));
}

/**
 * When the next window opens (now, when one is open). Found in local minutes of the week, then
 * checked against the zone itself: across a daylight-saving change it moves by the shift.
 */
export function nextWindowOpening(windows: readonly MaintenanceWindow[] | null | undefined, zone: string, at: Date): Date {
  if (isWindowOpen(windows, zone, at)) return at;
  const m = localMinuteOfWeek(at, zone);
  let best = Infinity;
  for (const [s] of ranges(windows!)) best = Math.min(best, (s - m + WEEK_MINUTES) % WEEK_MINUTES);
  const base = new Date(Math.floor(at.getTime() / 60_000) * 60_000);
  for (const shift of [0, -60, 60, -30, 30, 120]) {
    const candidate = new Date(base.getTime() + (best + shift) * 60_000);
    if (candidate > at && isWindowOpen(windows, zone, candidate)) {
      // The earliest open minute at or before the candidate (a shift may overshoot the opening).
      let t = candidate;
      while (isWindowOpen(windows, zone, new Date(t.getTime() - 60_000)) && t.getTime() - 60_000 > at.getTime()) t = new Date(t.getTime() - 60_000);
      return t;
    }
  }
  return new Date(base.getTime() + best * 60_000);
}
