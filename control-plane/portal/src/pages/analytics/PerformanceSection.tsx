import { useTranslation } from "react-i18next";
import { useAnalyticsPerformance } from "../../api/analytics";
import type { AnalyticsPerformance } from "../../api/analytics";
import { QueryState } from "./QueryState";
import { EmptyState, StatCard, useAnalyticsFormat } from "./shared";
import type { usePeriod } from "./shared";

const STATUS_TONE: Record<string, string> = {
  "2xx": "status-ok",
  "4xx": "status-client",
  "429": "status-limited",
  "5xx": "status-server",
};

/** Latency and time to first token percentiles, answers by status class, per model, fallbacks. */
export function PerformanceSection({ period }: { period: ReturnType<typeof usePeriod> }) {
  const { t } = useTranslation();
  const performance = useAnalyticsPerformance(period.params);
  return (
    <section className="card" aria-labelledby="analytics-performance-title">
      <h2 id="analytics-performance-title" className="card-title">
        {t("analytics.performance.title")}
      </h2>
      <QueryState query={performance} />
      {performance.data && <PerformanceView perf={performance.data} stale={performance.isPlaceholderData} />}
    </section>
  );
}

function PerformanceView({ perf, stale }: { perf: AnalyticsPerformance; stale: boolean }) {
  const { t } = useTranslation();
  const f = useAnalyticsFormat();
  if (perf.requests === 0) return <EmptyState>{t("analytics.empty")}</EmptyState>;
  const statusTotal = perf.status.reduce((n, s) => n + s.count, 0);
  return (
    <div className={`analytics-performance${stale ? " analytics-stale" : ""}`} aria-busy={stale || undefined}>
      <dl className="stat-grid">
        <StatCard
          label={t("analytics.performance.latency")}
          testId="perf-latency-p50"
          value={f.ms(perf.latency_ms.p50)}
          detail={t("analytics.performance.percentiles", {
            p95: f.ms(perf.latency_ms.p95),
            p99: f.ms(perf.latency_ms.p99),
          })}
        />
        <StatCard
          label={t("analytics.performance.ttft")}
          testId="perf-ttft-p50"
          value={f.ms(perf.ttft_ms.p50)}
          detail={t("analytics.performance.percentiles", {
            p95: f.ms(perf.ttft_ms.p95),
            p99: f.ms(perf.ttft_ms.p99),
          })}
        />
        <StatCard
          label={t("analytics.metrics.errorRate")}
          testId="perf-error-rate"
          value={f.rate(perf.error_rate)}
          detail={t("analytics.overview.errorsDetail", { errors: f.number(perf.errors) })}
        />
        <StatCard
          label={t("analytics.performance.fallbacks")}
          testId="perf-fallbacks"
          value={f.number(perf.fallbacks)}
          detail={t("analytics.performance.fallbackRate", { rate: f.rate(perf.fallback_rate) })}
        />
      </dl>
      <p className="small muted" data-testid="percentile-note">
        {t("analytics.performance.percentileNote", { error: f.percent(perf.percentile_error) })}
      </p>

      <div>
        <h3 className="analytics-subtitle">{t("analytics.performance.status")}</h3>
        <ul className="status-list">
          {perf.status.map((s) => {
            const share = statusTotal > 0 ? s.count / statusTotal : 0;
            return (
              <li key={s.class} className={STATUS_TONE[s.class] ?? "status-other"}>
                <span className="status-name">{t(`analytics.performance.classes.${s.class}`, s.class)}</span>
                <span className="status-bar" aria-hidden="true">
                  <span style={{ width: `${Math.max(share > 0 ? 1 : 0, share * 100)}%` }} />
                </span>
                <span className="status-count">
                  {f.number(s.count)} <span className="muted">({f.percent(share)})</span>
                </span>
              </li>
            );
          })}
        </ul>
      </div>

      <div className="table-wrap">
        <table className="table" aria-label={t("analytics.performance.byModel")} data-testid="perf-by-model">
          <thead>
            <tr>
              <th scope="col">{t("analytics.columns.model")}</th>
              <th scope="col" className="num">{t("analytics.metrics.requests")}</th>
              <th scope="col" className="num">{t("analytics.columns.errors")}</th>
              <th scope="col" className="num">{t("analytics.metrics.errorRate")}</th>
              <th scope="col" className="num">p50</th>
              <th scope="col" className="num">p95</th>
              <th scope="col" className="num">p99</th>
              <th scope="col" className="num">{t("analytics.columns.ttftP95")}</th>
              <th scope="col" className="num">{t("analytics.performance.fallbacks")}</th>
            </tr>
          </thead>
          <tbody>
            {perf.by_model.map((m) => (
              <tr key={m.model}>
                <th scope="row">
                  <code>{m.model}</code>
                </th>
                <td className="num">{f.number(m.requests)}</td>
                <td className="num">{f.number(m.errors)}</td>
                <td className="num">{f.rate(m.error_rate)}</td>
                <td className="num">{f.ms(m.p50_ms)}</td>
                <td className="num">{f.ms(m.p95_ms)}</td>
                <td className="num">{f.ms(m.p99_ms)}</td>
                <td className="num">{f.ms(m.ttft_p95_ms)}</td>
                <td className="num">{f.number(m.fallbacks)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
