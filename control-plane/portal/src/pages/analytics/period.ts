/**
 * Analytics periods: days (`YYYY-MM-DD`, both included) in the reader's own
 * time zone (the browser's IANA zone, sent to the server as `tz`), the
 * presets, and the server's limits.
 */

export type AnalyticsPreset = "today" | "7d" | "30d" | "mtd" | "custom";
export const ANALYTICS_PRESETS: readonly AnalyticsPreset[] = ["today", "7d", "30d", "mtd", "custom"];

/** The longest period the analytics routes accept, in days. */
export const MAX_DAYS = 366;
/** Hourly buckets only for periods of at most this many days. */
export const MAX_HOURLY_DAYS = 7;

export interface DayRange {
  from: string;
  to: string;
}

const DAY_MS = 86_400_000;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The browser's IANA time zone (`Asia/Shanghai`), or UTC when it has none. */
export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** `YYYY-MM-DD` of a moment in `tz`. */
export function dayIn(ms: number, tz: string): string {
  try {
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: tz,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    }).formatToParts(new Date(ms));
    const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
    return `${get("year")}-${get("month")}-${get("day")}`;
  } catch {
    return new Date(ms).toISOString().slice(0, 10);
  }
}

/** Midnight UTC of a `YYYY-MM-DD` day (for calendar arithmetic); NaN when it is not a real day. */
export function dayMs(day: string): number {
  if (!DATE.test(day)) return Number.NaN;
  const ms = Date.parse(`${day}T00:00:00Z`);
  return Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== day ? Number.NaN : ms;
}

/** `day` moved by `days` calendar days. */
export function addDays(day: string, days: number): string {
  return new Date(dayMs(day) + days * DAY_MS).toISOString().slice(0, 10);
}

/** Days in a period, both ends included (NaN when a day is not one). */
export function periodDays(range: DayRange): number {
  return Math.round((dayMs(range.to) - dayMs(range.from)) / DAY_MS) + 1;
}

/** The preset's days as of `now` in `tz` (`custom` keeps `custom`'s days). */
export function presetRange(preset: Exclude<AnalyticsPreset, "custom">, tz: string, now: number = Date.now()): DayRange {
  const today = dayIn(now, tz);
  switch (preset) {
    case "today":
      return { from: today, to: today };
    case "7d":
      return { from: addDays(today, -6), to: today };
    case "30d":
      return { from: addDays(today, -29), to: today };
    case "mtd":
      return { from: `${today.slice(0, 8)}01`, to: today };
  }
}

export type RangeProblem = "fromInvalid" | "toInvalid" | "toBeforeFrom" | "tooLong";

/** What is wrong with a period, mirroring the server's 400s. */
export function checkRange(range: DayRange): RangeProblem | null {
  const from = dayMs(range.from);
  const to = dayMs(range.to);
  if (Number.isNaN(from)) return "fromInvalid";
  if (Number.isNaN(to)) return "toInvalid";
  if (to < from) return "toBeforeFrom";
  if (periodDays(range) > MAX_DAYS) return "tooLong";
  return null;
}

export function parsePreset(value: string | null): AnalyticsPreset {
  return (ANALYTICS_PRESETS as readonly string[]).includes(value ?? "") ? (value as AnalyticsPreset) : "7d";
}

/** `YYYY-MM` of the month before the one `now` falls in, in `tz` (the last whole month, for reports). */
export function previousMonth(tz: string, now: number = Date.now()): string {
  const today = dayIn(now, tz);
  const [y, m] = today.split("-").map(Number) as [number, number];
  const d = new Date(Date.UTC(y, m - 2, 1));
  return d.toISOString().slice(0, 7);
}

/** `YYYY-MM` of `now` in `tz`. */
export function currentMonth(tz: string, now: number = Date.now()): string {
  return dayIn(now, tz).slice(0, 7);
}
