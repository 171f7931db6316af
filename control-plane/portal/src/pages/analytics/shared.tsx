/**
 * What the Analytics page, the dashboard's summary and the operator's
 * Insights page share: the period in the address, the period picker, the
 * change arrows, stat cards, number formats and the empty state.
 */
import { useMemo, useState } from "react";
import type { ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { useSearchParams } from "react-router";
import type { PeriodParams } from "../../api/analytics";
import { Alert } from "../../components/Alert";
import { TextField } from "../../components/Field";
import { ChartIcon } from "../../components/icons";
import { ANALYTICS_PRESETS, MAX_DAYS, browserTimeZone, checkRange, parsePreset, presetRange } from "./period";
import type { AnalyticsPreset, DayRange } from "./period";

// ------------------------------------------------------------------ period

export interface PeriodState {
  preset: AnalyticsPreset;
  /** The days asked for (the preset's, or the custom ones). */
  range: DayRange;
  tz: string;
  /** What the routes get (`from`, `to`, `tz`). */
  params: Required<PeriodParams>;
  /** False while the custom days are not a valid period (no query then). */
  valid: boolean;
}

/**
 * The period of the page, kept in the address (`?range=7d`, or
 * `?range=custom&from=…&to=…`) so a view can be shared or reloaded; the
 * presets are relative to today in the browser's time zone.
 */
export function usePeriod(): PeriodState & {
  setPreset: (preset: AnalyticsPreset) => void;
  setCustom: (range: DayRange) => void;
  searchParams: URLSearchParams;
  setSearchParam: (name: string, value: string) => void;
} {
  const [params, setParams] = useSearchParams();
  const tz = useMemo(() => browserTimeZone(), []);
  const preset = parsePreset(params.get("range"));
  const range: DayRange =
    preset === "custom"
      ? { from: params.get("from") ?? "", to: params.get("to") ?? "" }
      : presetRange(preset, tz);
  const valid = checkRange(range) === null;
  const update = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null) next.delete(k);
      else next.set(k, v);
    }
    setParams(next, { replace: true });
  };
  return {
    preset,
    range,
    tz,
    valid,
    params: { from: range.from, to: range.to, tz },
    searchParams: params,
    setSearchParam: (name, value) => update({ [name]: value }),
    setPreset: (p) => {
      if (p === "custom") update({ range: "custom", from: range.from, to: range.to });
      else update({ range: p, from: null, to: null });
    },
    setCustom: (r) => update({ range: "custom", from: r.from, to: r.to }),
  };
}

/** The presets, and the from–to fields for a custom period. */
export function PeriodPicker({ period }: { period: ReturnType<typeof usePeriod> }) {
  const { t } = useTranslation();
  const [draft, setDraft] = useState<DayRange | null>(null);
  const shown = period.preset === "custom" ? (draft ?? period.range) : period.range;
  const problem = period.preset === "custom" ? checkRange(shown) : null;
  const change = (range: DayRange) => {
    setDraft(range);
    if (checkRange(range) === null) period.setCustom(range);
  };
  return (
    <section className="card analytics-filters" aria-label={t("analytics.period.label")}>
      <div className="analytics-presets" role="group" aria-label={t("analytics.period.label")}>
        {ANALYTICS_PRESETS.map((p) => (
          <button
            key={p}
            type="button"
            className={`btn btn-sm ${period.preset === p ? "btn-primary" : "btn-secondary"}`}
            aria-pressed={period.preset === p}
            onClick={() => {
              setDraft(null);
              period.setPreset(p);
            }}
          >
            {t(`analytics.period.presets.${p}`)}
          </button>
        ))}
      </div>
      {period.preset === "custom" && (
        <div className="analytics-custom">
          <TextField
            label={t("analytics.period.from")}
            type="date"
            value={shown.from}
            max={shown.to || undefined}
            onChange={(e) => change({ ...shown, from: e.target.value })}
            problem={problem === "fromInvalid" ? { key: "validation.required" } : undefined}
          />
          <TextField
            label={t("analytics.period.to")}
            type="date"
            value={shown.to}
            min={shown.from || undefined}
            onChange={(e) => change({ ...shown, to: e.target.value })}
            problem={problem === "toInvalid" ? { key: "validation.required" } : undefined}
          />
        </div>
      )}
      {(problem === "toBeforeFrom" || problem === "tooLong") && (
        <Alert tone="error">{t(`analytics.period.problems.${problem}`, { days: MAX_DAYS })}</Alert>
      )}
      <p className="small muted" data-testid="period-note">
        {t("analytics.period.note", { from: shown.from, to: shown.to, tz: period.tz })}
      </p>
    </section>
  );
}

// ----------------------------------------------------------------- formats

/** Numbers, percentages, milliseconds and money in the reader's language. */
export function useAnalyticsFormat() {
  const { t, i18n } = useTranslation();
  const language = i18n.language;
  return useMemo(() => {
    const number = new Intl.NumberFormat(language);
    const compact = new Intl.NumberFormat(language, { notation: "compact", maximumFractionDigits: 1 });
    const percent = new Intl.NumberFormat(language, { style: "percent", maximumFractionDigits: 1 });
    const rate = new Intl.NumberFormat(language, { style: "percent", maximumFractionDigits: 2 });
    const signedPercent = new Intl.NumberFormat(language, {
      style: "percent",
      maximumFractionDigits: 1,
      signDisplay: "exceptZero",
    });
    const points = new Intl.NumberFormat(language, { maximumFractionDigits: 2, signDisplay: "exceptZero" });
    const MONEY = /^(-?)(\d+)(?:\.(\d+))?$/;
    return {
      number: (n: number) => number.format(n),
      compact: (n: number) => compact.format(n),
      /** A share or rate: `0.882` → "88.2%". */
      percent: (n: number | null | undefined) => (n === null || n === undefined ? "—" : percent.format(n)),
      /** An error rate, two decimals: `0.0079` → "0.79%". */
      rate: (n: number | null | undefined) => (n === null || n === undefined ? "—" : rate.format(n)),
      /** A relative change: `0.25` → "+25%". */
      change: (n: number) => signedPercent.format(n),
      /** A difference of rates in percentage points: `-0.0012` → "−0.12 pp". */
      points: (n: number) => t("analytics.change.points", { value: points.format(n * 100) }),
      ms: (n: number | null | undefined) =>
        n === null || n === undefined ? "—" : t("analytics.ms", { ms: number.format(Math.round(n)) }),
      /** Money exactly as the server sent it: "$1,234.500000". */
      money: (value: string | null | undefined) => {
        if (value === null || value === undefined) return "—";
        const m = MONEY.exec(value.trim());
        if (!m) return value;
        const [, sign, whole, fraction] = m;
        const grouped = new Intl.NumberFormat(language, { useGrouping: true }).format(BigInt(whole!));
        return `${sign}$${grouped}${fraction !== undefined ? `.${fraction}` : ""}`;
      },
      /** Money for a glance: cents, or two significant digits below a cent ("$1.25", "$0.0042"). */
      moneyShort: (value: number) => {
        const small = value !== 0 && Math.abs(value) < 0.01;
        const options: Intl.NumberFormatOptions = small
          ? { maximumSignificantDigits: 2 }
          : { minimumFractionDigits: 2, maximumFractionDigits: 2 };
        return `$${new Intl.NumberFormat(language, options).format(value)}`;
      },
    };
  }, [language, t]);
}

export type AnalyticsFormat = ReturnType<typeof useAnalyticsFormat>;

// ----------------------------------------------------------------- changes

/** Whether a rise is good news (requests), bad news (errors, latency, the developer's cost) or neither. */
export type Polarity = "up-good" | "up-bad" | "neutral";

/**
 * A change against the previous period: an arrow, the value and a colour
 * ("—" when there is no previous value to compare with).
 */
export function Change({
  value,
  kind = "relative",
  polarity = "up-good",
}: {
  value: number | null | undefined;
  kind?: "relative" | "points";
  polarity?: Polarity;
}) {
  const { t } = useTranslation();
  const f = useAnalyticsFormat();
  if (value === null || value === undefined || !Number.isFinite(value)) {
    return (
      <span className="change change-none" data-testid="change" aria-label={t("analytics.change.none")}>
        —
      </span>
    );
  }
  const direction = value > 0 ? "up" : value < 0 ? "down" : "flat";
  const text = kind === "points" ? f.points(value) : f.change(value);
  const tone =
    direction === "flat" || polarity === "neutral"
      ? "neutral"
      : (direction === "up") === (polarity === "up-good")
        ? "good"
        : "bad";
  const arrow = direction === "up" ? "↑" : direction === "down" ? "↓" : "→";
  return (
    <span
      className={`change change-${direction} change-${tone}`}
      data-testid="change"
      data-direction={direction}
      data-tone={tone}
      title={t(`analytics.change.${direction}`, { value: text })}
    >
      <span aria-hidden="true">{arrow}</span> {text}
      <span className="sr-only"> {t("analytics.change.vsPrevious")}</span>
    </span>
  );
}

/** One figure of an overview: label, value, change and a detail line. */
export function StatCard({
  label,
  value,
  change,
  detail,
  testId,
}: {
  label: string;
  value: ReactNode;
  change?: ReactNode;
  detail?: ReactNode;
  testId?: string;
}) {
  return (
    <div className="stat-card">
      <dt>{label}</dt>
      <dd>
        <span
          className={`stat-value${typeof value === "string" && value.length > 9 ? " stat-value-long" : ""}`}
          data-testid={testId}
        >
          {value}
        </span>
        {change && <span className="stat-change">{change}</span>}
        {detail && <span className="stats-detail">{detail}</span>}
      </dd>
    </div>
  );
}

/** A section's "nothing here" note. */
export function EmptyState({ children }: { children: ReactNode }) {
  return (
    <div className="empty analytics-empty">
      <span className="empty-icon">
        <ChartIcon size={24} />
      </span>
      <p className="muted">{children}</p>
    </div>
  );
}

/** A period's `YYYY-MM-DD` days as "Nov 19, 2026 – Nov 25, 2026". */
export function useDayFormat() {
  const { i18n } = useTranslation();
  return useMemo(() => {
    const date = new Intl.DateTimeFormat(i18n.language, { dateStyle: "medium", timeZone: "UTC" });
    return (day: string) => {
      const ms = Date.parse(`${day}T00:00:00Z`);
      return Number.isNaN(ms) ? day : date.format(new Date(ms));
    };
  }, [i18n.language]);
}

/** Colours of chart series (readable on white, distinct for the colour-blind as far as 8 go). */
export const SERIES_COLORS = [
  "#4f46e5",
  "#0ea5e9",
  "#f59e0b",
  "#10b981",
  "#ef4444",
  "#8b5cf6",
  "#ec4899",
  "#64748b",
];
