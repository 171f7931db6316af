import { useTranslation } from "react-i18next";
import { moneyValue, useAnalyticsCosts } from "../../api/analytics";
import type { AnalyticsCosts, CostSuggestion } from "../../api/analytics";
import { DonutChart, HorizontalBarChart } from "./lazyCharts";
import { QueryState } from "./QueryState";
import { EmptyState, useAnalyticsFormat } from "./shared";
import type { AnalyticsFormat, usePeriod } from "./shared";

/** A figure's class: long ones (many decimals) in a smaller size. */
const statClass = (money: string) => `stat-value${money.length > 8 ? " stat-value-long" : ""}`;

/** Where the money went: by model and by key, the month-end projection and suggestions. */
export function CostsSection({ period }: { period: ReturnType<typeof usePeriod> }) {
  const { t } = useTranslation();
  const costs = useAnalyticsCosts(period.params);
  return (
    <section className="card" aria-labelledby="analytics-costs-title">
      <h2 id="analytics-costs-title" className="card-title">
        {t("analytics.costs.title")}
      </h2>
      <QueryState query={costs} />
      {costs.data && <CostsView costs={costs.data} stale={costs.isPlaceholderData} />}
    </section>
  );
}

function CostsView({ costs, stale }: { costs: AnalyticsCosts; stale: boolean }) {
  const { t } = useTranslation();
  const f = useAnalyticsFormat();
  const { projection } = costs;
  const hasUsage = costs.by_model.some((m) => m.requests > 0) || costs.by_key.some((k) => k.requests > 0);
  return (
    <div className={`analytics-costs${stale ? " analytics-stale" : ""}`} aria-busy={stale || undefined}>
      <dl className="stat-grid">
        <div className="stat-card">
          <dt>{t("analytics.costs.total")}</dt>
          <dd>
            <span className={statClass(costs.total_cost)} data-testid="costs-total">
              {f.money(costs.total_cost)}
            </span>
          </dd>
        </div>
        <div className="stat-card">
          <dt>{t("analytics.costs.monthToDate", { month: projection.month })}</dt>
          <dd>
            <span className={statClass(projection.month_to_date_cost)} data-testid="costs-month-to-date">
              {f.money(projection.month_to_date_cost)}
            </span>
            <span className="stats-detail">
              {t("analytics.costs.daysElapsed", {
                elapsed: f.number(projection.days_elapsed),
                days: f.number(projection.days_in_month),
              })}
            </span>
          </dd>
        </div>
        <div className="stat-card">
          <dt>{t("analytics.costs.projected")}</dt>
          <dd>
            <span className={statClass(projection.projected_month_end_cost)} data-testid="costs-projected">
              {f.money(projection.projected_month_end_cost)}
            </span>
            <span className="stats-detail">{t("analytics.costs.projectionNote")}</span>
          </dd>
        </div>
      </dl>

      {!hasUsage ? (
        <EmptyState>{t("analytics.empty")}</EmptyState>
      ) : (
        <>
          <div className="analytics-split">
            <div>
              <h3 className="analytics-subtitle">{t("analytics.costs.byModel")}</h3>
              <HorizontalBarChart
                rows={costs.by_model.map((m) => ({ name: m.model, value: moneyValue(m.cost) }))}
                format={f.moneyShort}
                label={t("analytics.costs.byModelChart")}
              />
            </div>
            <div>
              <h3 className="analytics-subtitle">{t("analytics.costs.byKey")}</h3>
              <DonutChart
                rows={costs.by_key.map((k) => ({ name: k.name || k.key_id, value: moneyValue(k.cost) }))}
                format={f.moneyShort}
                label={t("analytics.costs.byKeyChart")}
              />
            </div>
          </div>
          <div className="table-wrap">
            <table className="table" aria-label={t("analytics.costs.byModel")} data-testid="costs-by-model">
              <thead>
                <tr>
                  <th scope="col">{t("analytics.columns.model")}</th>
                  <th scope="col" className="num">{t("analytics.metrics.requests")}</th>
                  <th scope="col" className="num">{t("analytics.columns.promptTokens")}</th>
                  <th scope="col" className="num">{t("analytics.columns.completionTokens")}</th>
                  <th scope="col" className="num">{t("analytics.metrics.cost")}</th>
                  <th scope="col" className="num">{t("analytics.columns.per1k")}</th>
                  <th scope="col" className="num">{t("analytics.columns.share")}</th>
                </tr>
              </thead>
              <tbody>
                {costs.by_model.map((m) => (
                  <tr key={m.model}>
                    <th scope="row">
                      <code>{m.model}</code>
                    </th>
                    <td className="num">{f.number(m.requests)}</td>
                    <td className="num">{f.number(m.prompt_tokens)}</td>
                    <td className="num">{f.number(m.completion_tokens)}</td>
                    <td className="num">{f.money(m.cost)}</td>
                    <td className="num">{f.money(m.cost_per_1k_tokens)}</td>
                    <td className="num">{f.percent(m.share)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="table-wrap">
            <table className="table" aria-label={t("analytics.costs.byKey")} data-testid="costs-by-key">
              <thead>
                <tr>
                  <th scope="col">{t("analytics.columns.key")}</th>
                  <th scope="col" className="num">{t("analytics.metrics.requests")}</th>
                  <th scope="col" className="num">{t("analytics.metrics.tokens")}</th>
                  <th scope="col" className="num">{t("analytics.metrics.cost")}</th>
                  <th scope="col" className="num">{t("analytics.columns.share")}</th>
                </tr>
              </thead>
              <tbody>
                {costs.by_key.map((k) => (
                  <tr key={k.key_id}>
                    <th scope="row">
                      {k.name && k.name !== k.key_id ? (
                        <>
                          {k.name} <code className="muted small">{k.key_id}</code>
                        </>
                      ) : (
                        <code>{k.key_id}</code>
                      )}
                    </th>
                    <td className="num">{f.number(k.requests)}</td>
                    <td className="num">{f.number(k.tokens)}</td>
                    <td className="num">{f.money(k.cost)}</td>
                    <td className="num">{f.percent(k.share)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}

      <div>
        <h3 className="analytics-subtitle">{t("analytics.costs.suggestions")}</h3>
        {costs.suggestions.length === 0 ? (
          <p className="muted small">{t("analytics.costs.noSuggestions")}</p>
        ) : (
          <ul className="analytics-suggestions">
            {costs.suggestions.map((s, i) => (
              <li key={`${s.kind}-${i}`} data-testid="suggestion">
                <Suggestion suggestion={s} f={f} />
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}

/** A suggestion in the reader's language (the server's English message for a kind this portal does not know). */
function Suggestion({ suggestion: s, f }: { suggestion: CostSuggestion; f: AnalyticsFormat }) {
  const { t } = useTranslation();
  const savings = s.estimated_savings ? f.money(s.estimated_savings) : null;
  let text = s.message;
  if (s.kind === "cheaper_model" && s.model && s.alternative) {
    text = t("analytics.costs.cheaperModel", { model: s.model, alternative: s.alternative });
  } else if (s.kind === "upgrade_plan" && s.plan) {
    text = t("analytics.costs.upgradePlan", { plan: s.plan });
  }
  return (
    <>
      <span>{text}</span>
      {savings && <span className="analytics-savings">{t("analytics.costs.savings", { amount: savings })}</span>}
    </>
  );
}
