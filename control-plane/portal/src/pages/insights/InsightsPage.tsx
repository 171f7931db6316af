import { useTranslation } from "react-i18next";
import {
  REVENUE_GROUPS,
  moneyValue,
  useAdminDevelopers,
  useAdminMargin,
  useAdminModels,
  useAdminOverview,
  useAdminProviders,
  useAdminRevenue,
} from "../../api/analytics";
import type { AdminOverview, RevenueGroupBy } from "../../api/analytics";
import { useProfile } from "../../auth/AuthProvider";
import { Alert } from "../../components/Alert";
import { SelectField } from "../../components/Field";
import { FullPageLoader } from "../../components/Loader";
import { useDocumentTitle } from "../../lib/useDocumentTitle";
import { DonutChart, LineSeriesChart, StackedBarChart } from "../analytics/lazyCharts";
import { QueryState } from "../analytics/QueryState";
import { Change, EmptyState, PeriodPicker, StatCard, useAnalyticsFormat, useDayFormat, usePeriod } from "../analytics/shared";
import { ReportCard } from "./ReportCard";
import "../../styles/analytics.css";

/**
 * `/admin/insights`: how the business is doing, for operators (accounts
 * whose role is admin): revenue, usage value and margin against the previous
 * period, revenue by day, plan or model, margin per model, the top
 * developers, the model mix, the providers' errors and latency, and the
 * monthly report as CSV or printable HTML.
 */
export function InsightsPage() {
  const { t } = useTranslation();
  useDocumentTitle(t("insights.title"));
  const profile = useProfile();
  if (profile.isPending) return <FullPageLoader />;
  if (profile.data?.role !== "admin") {
    return (
      <div className="page">
        <div className="page-header">
          <h1 className="page-title">{t("insights.title")}</h1>
        </div>
        <Alert tone="warning" title={t("insights.forbiddenTitle")}>
          {t("insights.forbiddenBody")}
        </Alert>
      </div>
    );
  }
  return <Insights />;
}

function Insights() {
  const { t } = useTranslation();
  const period = usePeriod();
  return (
    <div className="page analytics-page">
      <div className="page-header">
        <h1 className="page-title">{t("insights.title")}</h1>
        <p className="page-subtitle">{t("insights.subtitle")}</p>
      </div>
      <PeriodPicker period={period} />
      {period.valid && (
        <>
          <OverviewSection period={period} />
          <RevenueSection period={period} />
          <MarginSection period={period} />
          <DevelopersSection period={period} />
          <ModelsSection period={period} />
          <ProvidersSection period={period} />
        </>
      )}
      <ReportCard tz={period.tz} />
    </div>
  );
}

type Period = ReturnType<typeof usePeriod>;

function OverviewSection({ period }: { period: Period }) {
  const { t } = useTranslation();
  const overview = useAdminOverview(period.params);
  return (
    <section className="card" aria-labelledby="insights-overview-title">
      <h2 id="insights-overview-title" className="card-title">
        {t("insights.overview.title")}
      </h2>
      <QueryState query={overview} />
      {overview.data && <AdminOverviewCards overview={overview.data} stale={overview.isPlaceholderData} />}
    </section>
  );
}

function AdminOverviewCards({ overview, stale }: { overview: AdminOverview; stale: boolean }) {
  const { t } = useTranslation();
  const f = useAnalyticsFormat();
  const day = useDayFormat();
  const { current: c, change } = overview;
  return (
    <div className={stale ? "analytics-stale" : undefined} aria-busy={stale || undefined}>
      {overview.previous_period && (
        <p className="small muted analytics-compare">
          {t("analytics.overview.compared", {
            from: day(overview.previous_period.from),
            to: day(overview.previous_period.to),
          })}
        </p>
      )}
      <dl className="stat-grid">
        <StatCard
          label={t("insights.metrics.revenue")}
          testId="insights-revenue"
          value={f.money(c.revenue)}
          change={<Change value={change.revenue} />}
        />
        <StatCard
          label={t("insights.metrics.usageValue")}
          testId="insights-usage-value"
          value={f.money(c.usage_value)}
          change={<Change value={change.usage_value} />}
        />
        <StatCard
          label={t("insights.metrics.margin")}
          testId="insights-margin"
          value={f.money(c.margin)}
          change={<Change value={change.margin} />}
          detail={
            c.upstream_cost !== undefined
              ? t("insights.overview.upstreamDetail", { cost: f.money(c.upstream_cost) })
              : undefined
          }
        />
        <StatCard
          label={t("analytics.metrics.requests")}
          testId="insights-requests"
          value={f.number(c.requests)}
          change={<Change value={change.requests} />}
        />
        <StatCard
          label={t("analytics.metrics.tokens")}
          testId="insights-tokens"
          value={f.number(c.tokens)}
          change={<Change value={change.tokens} />}
        />
        <StatCard
          label={t("insights.metrics.activeDevelopers")}
          testId="insights-active"
          value={f.number(c.active_developers)}
          change={<Change value={change.active_developers} />}
        />
        <StatCard
          label={t("insights.metrics.newDevelopers")}
          testId="insights-new"
          value={f.number(c.new_developers)}
          change={<Change value={change.new_developers} />}
        />
      </dl>
    </div>
  );
}

function RevenueSection({ period }: { period: Period }) {
  const { t } = useTranslation();
  const f = useAnalyticsFormat();
  const value = period.searchParams.get("revenue_by");
  const groupBy: RevenueGroupBy = (REVENUE_GROUPS as readonly string[]).includes(value ?? "")
    ? (value as RevenueGroupBy)
    : "day";
  const revenue = useAdminRevenue({ ...period.params, group_by: groupBy });
  const rows = revenue.data?.rows ?? [];
  const label = (group: string) => (groupBy === "day" && /^\d{4}-/.test(group) ? group.slice(5) : group);
  return (
    <section className="card" aria-labelledby="insights-revenue-title">
      <div className="card-header">
        <h2 id="insights-revenue-title" className="card-title">
          {t("insights.revenue.title")}
        </h2>
      </div>
      <div className="analytics-controls">
        <SelectField
          label={t("insights.revenue.groupBy")}
          value={groupBy}
          onChange={(e) => period.setSearchParam("revenue_by", e.target.value)}
        >
          {REVENUE_GROUPS.map((g) => (
            <option key={g} value={g}>
              {t(`insights.revenue.groups.${g}`)}
            </option>
          ))}
        </SelectField>
      </div>
      <QueryState query={revenue} />
      {revenue.data &&
        (rows.length === 0 ? (
          <EmptyState>{t("insights.empty")}</EmptyState>
        ) : (
          <div className={revenue.isPlaceholderData ? "analytics-stale" : undefined}>
            <StackedBarChart
              data={rows.map((r) => ({
                label: label(r.group),
                usage: moneyValue(r.usage_revenue),
                subscription: moneyValue(r.subscription_revenue),
              }))}
              xKey="label"
              series={[
                { key: "usage", name: t("insights.revenue.usage") },
                { key: "subscription", name: t("insights.revenue.subscription") },
              ]}
              format={f.moneyShort}
              label={t("insights.revenue.chart")}
            />
            <div className="table-wrap">
              <table className="table" aria-label={t("insights.revenue.title")} data-testid="revenue-table">
                <thead>
                  <tr>
                    <th scope="col">{t(`insights.revenue.groups.${groupBy}`)}</th>
                    <th scope="col" className="num">{t("insights.revenue.usage")}</th>
                    <th scope="col" className="num">{t("insights.revenue.subscription")}</th>
                    <th scope="col" className="num">{t("insights.metrics.revenue")}</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((r) => (
                    <tr key={r.group}>
                      <th scope="row">{r.group}</th>
                      <td className="num">{f.money(r.usage_revenue)}</td>
                      <td className="num">{f.money(r.subscription_revenue)}</td>
                      <td className="num">{f.money(r.revenue)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </div>
        ))}
    </section>
  );
}

function MarginSection({ period }: { period: Period }) {
  const { t } = useTranslation();
  const f = useAnalyticsFormat();
  const margin = useAdminMargin(period.params);
  const rows = margin.data?.rows ?? [];
  return (
    <section className="card" aria-labelledby="insights-margin-title">
      <h2 id="insights-margin-title" className="card-title">
        {t("insights.margin.title")}
      </h2>
      <QueryState query={margin} />
      {margin.data &&
        (rows.length === 0 ? (
          <EmptyState>{t("insights.empty")}</EmptyState>
        ) : (
          <>
            <div className="table-wrap">
              <table className="table" aria-label={t("insights.margin.title")} data-testid="margin-table">
                <thead>
                  <tr>
                    <th scope="col">{t("analytics.columns.model")}</th>
                    <th scope="col" className="num">{t("analytics.metrics.requests")}</th>
                    <th scope="col" className="num">{t("analytics.columns.promptTokens")}</th>
                    <th scope="col" className="num">{t("analytics.columns.completionTokens")}</th>
                    <th scope="col" className="num">{t("insights.metrics.usageValue")}</th>
                    <th scope="col" className="num">{t("insights.margin.upstreamCost")}</th>
                    <th scope="col" className="num">{t("insights.metrics.margin")}</th>
                    <th scope="col" className="num">{t("insights.margin.rate")}</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((r) => (
                    <tr key={r.model}>
                      <th scope="row">
                        <code>{r.model}</code>
                      </th>
                      <td className="num">{f.number(r.requests)}</td>
                      <td className="num">{f.number(r.prompt_tokens)}</td>
                      <td className="num">{f.number(r.completion_tokens)}</td>
                      <td className="num">{f.money(r.usage_value)}</td>
                      <td className="num">{f.money(r.upstream_cost)}</td>
                      <td className={`num${moneyValue(r.margin) < 0 ? " negative" : ""}`}>{f.money(r.margin)}</td>
                      <td className="num">{f.percent(r.margin_rate)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <p className="small muted">{t("insights.margin.note")}</p>
          </>
        ))}
    </section>
  );
}

function DevelopersSection({ period }: { period: Period }) {
  const { t } = useTranslation();
  const f = useAnalyticsFormat();
  const developers = useAdminDevelopers({ ...period.params, limit: 10 });
  const data = developers.data;
  return (
    <section className="card" aria-labelledby="insights-developers-title">
      <h2 id="insights-developers-title" className="card-title">
        {t("insights.developers.title")}
      </h2>
      <QueryState query={developers} />
      {data && (
        <>
          <p className="small muted" data-testid="developers-counts">
            {t("insights.developers.counts", { active: f.number(data.active), new: f.number(data.new) })}
          </p>
          {data.days.length > 1 && data.days.some((d) => d.active > 0 || d.new > 0) && (
            <LineSeriesChart
              data={data.days.map((d) => ({ label: d.day.slice(5), active: d.active, new: d.new }))}
              xKey="label"
              series={[
                { key: "active", name: t("insights.metrics.activeDevelopers") },
                { key: "new", name: t("insights.metrics.newDevelopers") },
              ]}
              format={f.number}
              label={t("insights.developers.chart")}
              height={200}
              integer
            />
          )}
          {data.top.length === 0 ? (
            <EmptyState>{t("insights.empty")}</EmptyState>
          ) : (
            <div className="table-wrap">
              <table className="table" aria-label={t("insights.developers.top")} data-testid="top-developers">
                <thead>
                  <tr>
                    <th scope="col">{t("insights.developers.developer")}</th>
                    <th scope="col">{t("insights.developers.plan")}</th>
                    <th scope="col" className="num">{t("analytics.metrics.requests")}</th>
                    <th scope="col" className="num">{t("analytics.metrics.tokens")}</th>
                    <th scope="col" className="num">{t("analytics.metrics.cost")}</th>
                  </tr>
                </thead>
                <tbody>
                  {data.top.map((d) => (
                    <tr key={d.developer_id}>
                      <th scope="row">
                        <span className="insights-dev-name">{d.name || d.email}</span>
                        <span className="muted small"> {d.email}</span>
                      </th>
                      <td>{d.plan ?? "—"}</td>
                      <td className="num">{f.number(d.requests)}</td>
                      <td className="num">{f.number(d.tokens)}</td>
                      <td className="num">{f.money(d.cost)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}

function ModelsSection({ period }: { period: Period }) {
  const { t } = useTranslation();
  const f = useAnalyticsFormat();
  const models = useAdminModels(period.params);
  const rows = models.data?.rows ?? [];
  return (
    <section className="card" aria-labelledby="insights-models-title">
      <h2 id="insights-models-title" className="card-title">
        {t("insights.models.title")}
      </h2>
      <QueryState query={models} />
      {models.data &&
        (rows.length === 0 ? (
          <EmptyState>{t("insights.empty")}</EmptyState>
        ) : (
          <div className="analytics-split">
            <DonutChart
              rows={rows.map((r) => ({ name: r.model, value: r.requests }))}
              format={f.number}
              label={t("insights.models.chart")}
            />
            <div className="table-wrap analytics-table-top">
              <table className="table" aria-label={t("insights.models.title")} data-testid="model-mix">
                <thead>
                  <tr>
                    <th scope="col">{t("analytics.columns.model")}</th>
                    <th scope="col" className="num">{t("analytics.metrics.requests")}</th>
                    <th scope="col" className="num">{t("analytics.metrics.tokens")}</th>
                    <th scope="col" className="num">{t("analytics.metrics.cost")}</th>
                    <th scope="col" className="num">{t("analytics.columns.share")}</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((r) => (
                    <tr key={r.model}>
                      <th scope="row">
                        <code>{r.model}</code>
                      </th>
                      <td className="num">{f.number(r.requests)}</td>
                      <td className="num">{f.number(r.tokens)}</td>
                      <td className="num">{f.money(r.cost)}</td>
                      <td className="num">{f.percent(r.share)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </div>
        ))}
    </section>
  );
}

function ProvidersSection({ period }: { period: Period }) {
  const { t } = useTranslation();
  const f = useAnalyticsFormat();
  const providers = useAdminProviders(period.params);
  const rows = providers.data?.rows ?? [];
  return (
    <section className="card" aria-labelledby="insights-providers-title">
      <h2 id="insights-providers-title" className="card-title">
        {t("insights.providers.title")}
      </h2>
      <QueryState query={providers} />
      {providers.data &&
        (rows.length === 0 ? (
          <EmptyState>{t("insights.empty")}</EmptyState>
        ) : (
          <div className="table-wrap">
            <table className="table" aria-label={t("insights.providers.title")} data-testid="providers-table">
              <thead>
                <tr>
                  <th scope="col">{t("insights.providers.provider")}</th>
                  <th scope="col" className="num">{t("analytics.metrics.requests")}</th>
                  <th scope="col" className="num">{t("analytics.columns.errors")}</th>
                  <th scope="col" className="num">{t("analytics.metrics.errorRate")}</th>
                  <th scope="col" className="num">{t("analytics.performance.fallbacks")}</th>
                  <th scope="col" className="num">p50</th>
                  <th scope="col" className="num">p95</th>
                  <th scope="col" className="num">p99</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.provider_id}>
                    <th scope="row">{r.provider}</th>
                    <td className="num">{f.number(r.requests)}</td>
                    <td className="num">{f.number(r.errors)}</td>
                    <td className="num">{f.rate(r.error_rate)}</td>
                    <td className="num">{f.number(r.fallbacks)}</td>
                    <td className="num">{f.ms(r.p50_ms)}</td>
                    <td className="num">{f.ms(r.p95_ms)}</td>
                    <td className="num">{f.ms(r.p99_ms)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
    </section>
  );
}
