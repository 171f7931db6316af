import { useMemo } from "react";
import { Link } from "react-router";
import { useTranslation } from "react-i18next";
import { useAnalyticsOverview } from "../../api/analytics";
import { Spinner } from "../../components/Loader";
import { browserTimeZone, presetRange } from "./period";
import { analyticsErrorMessage } from "./QueryState";
import { Change, StatCard, useAnalyticsFormat } from "./shared";
import "../../styles/analytics.css";

/**
 * The dashboard's "last 7 days": requests, tokens, cost and error rate with
 * their change, from the same route (and cache entry) as the Analytics
 * page's default view, and a link to it. If analytics cannot be loaded, it
 * says so quietly and the rest of the dashboard works.
 */
export function DashboardSummary() {
  const { t } = useTranslation();
  const f = useAnalyticsFormat();
  const params = useMemo(() => {
    const tz = browserTimeZone();
    return { ...presetRange("7d", tz), tz };
  }, []);
  const overview = useAnalyticsOverview(params);
  const data = overview.data;
  return (
    <section className="card analytics-summary" aria-labelledby="summary-title">
      <div className="card-header">
        <h2 id="summary-title" className="card-title">
          {t("analytics.summary.title")}
        </h2>
        <Link to="/analytics" className="link-small">
          {t("analytics.summary.link")}
        </Link>
      </div>
      {overview.isPending && (
        <p className="center-pad">
          <Spinner label={t("common.loading")} />
        </p>
      )}
      {overview.isError && !data && <p className="muted small">{analyticsErrorMessage(t, overview.error)}</p>}
      {data && (
        <dl className="stat-grid stat-grid-compact">
          <StatCard
            label={t("analytics.metrics.requests")}
            testId="summary-requests"
            value={f.number(data.current.requests)}
            change={<Change value={data.change.requests} />}
          />
          <StatCard
            label={t("analytics.metrics.tokens")}
            testId="summary-tokens"
            value={f.number(data.current.tokens)}
            change={<Change value={data.change.tokens} />}
          />
          <StatCard
            label={t("analytics.metrics.cost")}
            testId="summary-cost"
            value={f.money(data.current.cost)}
            change={<Change value={data.change.cost} polarity="up-bad" />}
          />
          <StatCard
            label={t("analytics.metrics.errorRate")}
            testId="summary-error-rate"
            value={f.rate(data.current.requests > 0 ? data.current.error_rate : null)}
            change={<Change value={data.change.error_rate} kind="points" polarity="up-bad" />}
          />
        </dl>
      )}
    </section>
  );
}
