import { useTranslation } from "react-i18next";
import { useAnalyticsOverview } from "../../api/analytics";
import type { AnalyticsOverview } from "../../api/analytics";
import { useDocumentTitle } from "../../lib/useDocumentTitle";
import { CostsSection } from "./CostsSection";
import { PerformanceSection } from "./PerformanceSection";
import { QueryState } from "./QueryState";
import { TrendsSection } from "./TrendsSection";
import { Change, PeriodPicker, StatCard, useAnalyticsFormat, useDayFormat, usePeriod } from "./shared";
import "../../styles/analytics.css";

/**
 * `/analytics`: where the developer's requests, money and latency go over a
 * period of days in the browser's time zone: the overview against the
 * previous period, trends, costs (with a month-end projection and
 * suggestions) and performance. The period and the chart's choices live in
 * the address.
 */
export function AnalyticsPage() {
  const { t } = useTranslation();
  useDocumentTitle(t("analytics.title"));
  const period = usePeriod();
  const overview = useAnalyticsOverview(period.params, { enabled: period.valid });

  return (
    <div className="page analytics-page">
      <div className="page-header">
        <h1 className="page-title">{t("analytics.title")}</h1>
        <p className="page-subtitle">{t("analytics.subtitle")}</p>
      </div>
      <PeriodPicker period={period} />
      {period.valid && (
        <>
          <section className="card" aria-labelledby="analytics-overview-title">
            <h2 id="analytics-overview-title" className="card-title">
              {t("analytics.overview.title")}
            </h2>
            <QueryState query={overview} />
            {overview.data && <OverviewCards overview={overview.data} stale={overview.isPlaceholderData} />}
          </section>
          <TrendsSection period={period} />
          <CostsSection period={period} />
          <PerformanceSection period={period} />
        </>
      )}
    </div>
  );
}

/** The period's totals, each with its change against the previous period. */
export function OverviewCards({ overview, stale = false }: { overview: AnalyticsOverview; stale?: boolean }) {
  const { t } = useTranslation();
  const f = useAnalyticsFormat();
  const day = useDayFormat();
  const { current: c, change } = overview;
  return (
    <div className={stale ? "analytics-stale" : undefined} aria-busy={stale || undefined}>
      <p className="small muted analytics-compare">
        {t("analytics.overview.compared", {
          from: day(overview.previous_period.from),
          to: day(overview.previous_period.to),
        })}
      </p>
      <dl className="stat-grid">
        <StatCard
          label={t("analytics.metrics.requests")}
          testId="overview-requests"
          value={f.number(c.requests)}
          change={<Change value={change.requests} />}
        />
        <StatCard
          label={t("analytics.metrics.tokens")}
          testId="overview-tokens"
          value={f.number(c.tokens)}
          change={<Change value={change.tokens} />}
          detail={t("analytics.overview.tokensDetail", {
            prompt: f.number(c.prompt_tokens),
            completion: f.number(c.completion_tokens),
          })}
        />
        <StatCard
          label={t("analytics.metrics.cost")}
          testId="overview-cost"
          value={f.money(c.cost)}
          change={<Change value={change.cost} polarity="up-bad" />}
        />
        <StatCard
          label={t("analytics.metrics.errorRate")}
          testId="overview-error-rate"
          value={f.rate(c.requests > 0 ? c.error_rate : null)}
          change={<Change value={change.error_rate} kind="points" polarity="up-bad" />}
          detail={t("analytics.overview.errorsDetail", { errors: f.number(c.errors) })}
        />
        <StatCard
          label={t("analytics.metrics.latency")}
          testId="overview-latency"
          value={f.ms(c.requests > 0 ? c.avg_latency_ms : null)}
          change={<Change value={change.avg_latency_ms} polarity="up-bad" />}
          detail={t("analytics.overview.p95Detail", { value: f.ms(c.p95_latency_ms) })}
        />
        <StatCard
          label={t("analytics.metrics.ttft")}
          testId="overview-ttft"
          value={f.ms(c.avg_ttft_ms)}
          detail={t("analytics.overview.ttftDetail")}
        />
      </dl>
    </div>
  );
}
