/** Usage periods: UTC dates (`YYYY-MM-DD`, inclusive), the presets, and the server's limits. */
import { USAGE_GROUPS } from "../../api/billing";
import type { UsageGroupBy } from "../../api/billing";

/** The longest period the usage routes accept. */
export const MAX_PERIOD_DAYS = 366;

export type Preset = "thisMonth" | "lastMonth" | "last7Days";
export const PRESETS: readonly Preset[] = ["thisMonth", "lastMonth", "last7Days"];

export interface Period {
  from: string;
  to: string;
}

const DAY_MS = 86_400_000;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** `YYYY-MM-DD` of a moment, in UTC. */
export function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Midnight UTC of a `YYYY-MM-DD` date; NaN when it is not a real date. */
export function dateMs(date: string): number {
  if (!DATE.test(date)) return Number.NaN;
  const ms = Date.parse(`${date}T00:00:00Z`);
  return Number.isNaN(ms) || utcDate(ms) !== date ? Number.NaN : ms;
}

/** The preset's dates as of `now` (this month so far; all of last month; the last 7 days with today). */
export function presetPeriod(preset: Preset, now: number = Date.now()): Period {
  const today = new Date(now);
  const y = today.getUTCFullYear();
  const m = today.getUTCMonth();
  switch (preset) {
    case "thisMonth":
      return { from: utcDate(Date.UTC(y, m, 1)), to: utcDate(now) };
    case "lastMonth":
      return { from: utcDate(Date.UTC(y, m - 1, 1)), to: utcDate(Date.UTC(y, m, 1) - DAY_MS) };
    case "last7Days":
      return { from: utcDate(now - 6 * DAY_MS), to: utcDate(now) };
  }
}

/** Which preset a period is, if any. */
export function matchPreset(period: Period, now: number = Date.now()): Preset | null {
  return PRESETS.find((p) => {
    const q = presetPeriod(p, now);
    return q.from === period.from && q.to === period.to;
  }) ?? null;
}

export type PeriodProblem = "fromInvalid" | "toInvalid" | "toBeforeFrom" | "tooLong";

/** What is wrong with a period, mirroring the server's 400s. */
export function checkPeriod(period: Period): PeriodProblem | null {
  const from = dateMs(period.from);
  const to = dateMs(period.to);
  if (Number.isNaN(from)) return "fromInvalid";
  if (Number.isNaN(to)) return "toInvalid";
  if (to < from) return "toBeforeFrom";
  // As the server counts: `to - from` in days, at most 366.
  if ((to - from) / DAY_MS > MAX_PERIOD_DAYS) return "tooLong";
  return null;
}

export function parseGroupBy(value: string | null): UsageGroupBy {
  return (USAGE_GROUPS as readonly string[]).includes(value ?? "") ? (value as UsageGroupBy) : "model";
}
