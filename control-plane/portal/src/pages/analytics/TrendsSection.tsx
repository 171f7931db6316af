import { useTranslation } from "react-i18next";
import { TREND_GROUPS, moneyValue, useAnalyticsTrends } from "../../api/analytics";
import type { AnalyticsTrends, TrendGroupBy, TrendInterval, TrendPoint } from "../../api/analytics";
import { SelectField } from "../../components/Field";
import { LineSeriesChart } from "./lazyCharts";
import { MAX_HOURLY_DAYS, periodDays } from "./period";
import { QueryState } from "./QueryState";
import { EmptyState, useAnalyticsFormat } from "./shared";
import type { AnalyticsFormat, usePeriod } from "./shared";

export const TREND_METRICS = ["requests", "tokens", "cost", "errors", "latency"] as const;
export type TrendMetric = (typeof TREND_METRICS)[number];

/** At most this many lines in the chart (the series come by cost, largest first). */
const MAX_SERIES = 8;

const pick = <T extends string>(value: string | null, allowed: readonly T[], fallback: T): T =>
  (allowed as readonly string[]).includes(value ?? "") ? (value as T) : fallback;

/** A point's value of `metric` (latency: null where nothing happened, a gap in the line). */
export function metricValue(point: TrendPoint | undefined, metric: TrendMetric): number | null {
  if (!point) return 0;
  switch (metric) {
    case "requests":
      return point.requests;
    case "tokens":
      return point.tokens;
    case "cost":
      return moneyValue(point.cost);
    case "errors":
      return point.errors;
    case "latency":
      return point.requests > 0 ? point.avg_latency_ms : null;
  }
}

export function formatMetric(f: AnalyticsFormat, metric: TrendMetric, value: number | null): string {
  if (value === null) return "—";
  switch (metric) {
    case "cost":
      return f.moneyShort(value);
    case "latency":
      return f.ms(value);
    case "tokens":
      return f.compact(value);
    default:
      return f.number(value);
  }
}

/** A bucket's label, shortened for the axis: `2026-11-19` → `11-19`, `2026-11-19 13:00` → `11-19 13:00`. */
const shortLabel = (label: string) => (/^\d{4}-/.test(label) ? label.slice(5) : label);

/** Requests, tokens, cost, errors or latency over time, per hour or day, for everything or per model, key or endpoint. */
export function TrendsSection({ period }: { period: ReturnType<typeof usePeriod> }) {
  const { t } = useTranslation();
  const search = period.searchParams;
  const hourly = periodDays(period.range) <= MAX_HOURLY_DAYS;
  // A day or two reads best by the hour; longer periods by the day.
  const days = periodDays(period.range);
  const interval: TrendInterval = hourly
    ? pick(search.get("interval"), ["day", "hour"] as const, days <= 2 ? "hour" : "day")
    : "day";
  const groupBy = pick<TrendGroupBy>(search.get("group_by"), TREND_GROUPS, "none");
  const metric = pick<TrendMetric>(search.get("metric"), TREND_METRICS, "requests");
  const trends = useAnalyticsTrends({ ...period.params, interval, group_by: groupBy });

  return (
    <section className="card" aria-labelledby="analytics-trends-title">
      <h2 id="analytics-trends-title" className="card-title">
        {t("analytics.trends.title")}
      </h2>
      <div className="analytics-controls">
        <SelectField
          label={t("analytics.trends.metric")}
          value={metric}
          onChange={(e) => period.setSearchParam("metric", e.target.value)}
        >
          {TREND_METRICS.map((m) => (
            <option key={m} value={m}>
              {t(`analytics.trends.metrics.${m}`)}
            </option>
          ))}
        </SelectField>
        <SelectField
          label={t("analytics.trends.interval")}
          value={interval}
          onChange={(e) => period.setSearchParam("interval", e.target.value)}
          hint={hourly ? undefined : t("analytics.trends.hourlyLimit", { days: MAX_HOURLY_DAYS })}
        >
          <option value="day">{t("analytics.trends.intervals.day")}</option>
          <option value="hour" disabled={!hourly}>
            {t("analytics.trends.intervals.hour")}
          </option>
        </SelectField>
        <SelectField
          label={t("analytics.trends.groupBy")}
          value={groupBy}
          onChange={(e) => period.setSearchParam("group_by", e.target.value)}
        >
          {TREND_GROUPS.map((g) => (
            <option key={g} value={g}>
              {t(`analytics.trends.groups.${g}`)}
            </option>
          ))}
        </SelectField>
      </div>
      <QueryState query={trends} />
      {trends.data && <TrendsView trends={trends.data} metric={metric} stale={trends.isPlaceholderData} />}
    </section>
  );
}

function TrendsView({ trends, metric, stale }: { trends: AnalyticsTrends; metric: TrendMetric; stale: boolean }) {
  const { t } = useTranslation();
  const f = useAnalyticsFormat();
  const total = trends.series.reduce((sum, s) => sum + s.points.reduce((n, p) => n + p.requests, 0), 0);
  if (total === 0) return <EmptyState>{t("analytics.empty")}</EmptyState>;

  const shown = trends.series.slice(0, MAX_SERIES);
  const name = (s: (typeof shown)[number]) => (trends.group_by === "none" ? t("analytics.trends.all") : s.name || s.group);
  const series = shown.map((s, i) => ({ key: `s${i}`, name: name(s) }));
  const data = trends.buckets.map((bucket, b) => {
    const datum: Record<string, string | number> = { label: shortLabel(bucket.label) };
    shown.forEach((s, i) => {
      const value = metricValue(s.points[b], metric);
      if (value !== null) datum[`s${i}`] = value;
    });
    return datum;
  });
  const metricName = t(`analytics.trends.metrics.${metric}`);

  return (
    <div className={stale ? "analytics-stale" : undefined} aria-busy={stale || undefined}>
      <LineSeriesChart
        data={data}
        xKey="label"
        series={series}
        format={(v) => formatMetric(f, metric, v)}
        label={t("analytics.trends.chartLabel", { metric: metricName })}
        integer={metric === "requests" || metric === "tokens" || metric === "errors"}
      />
      {trends.series.length > MAX_SERIES && (
        <p className="small muted">{t("analytics.trends.topOnly", { shown: MAX_SERIES })}</p>
      )}
      <details className="analytics-data">
        <summary>{t("analytics.trends.showData")}</summary>
        <div className="table-wrap">
          <table className="table" data-testid="trends-table">
            <thead>
              <tr>
                <th scope="col">{t(`analytics.trends.intervals.${trends.interval}`)}</th>
                {series.map((s) => (
                  <th key={s.key} scope="col" className="num">
                    {s.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {trends.buckets.map((bucket, b) => (
                <tr key={bucket.t}>
                  <th scope="row">{bucket.label}</th>
                  {shown.map((s, i) => (
                    <td key={i} className="num">
                      {metric === "cost"
                        ? f.money(s.points[b]?.cost ?? "0")
                        : formatMetric(f, metric, metricValue(s.points[b], metric))}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}
