import { useState } from "react";
import { useTranslation } from "react-i18next";
import { keepPreviousData, useMutation, useQuery } from "@tanstack/react-query";
import { useSearchParams } from "react-router";
import { useAuth } from "../../auth/AuthProvider";
import { USAGE_GROUPS } from "../../api/billing";
import type { UsageGroupBy, UsageReport } from "../../api/billing";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { SelectField, TextField } from "../../components/Field";
import { Spinner } from "../../components/Loader";
import { ChartIcon } from "../../components/icons";
import { useDocumentTitle } from "../../lib/useDocumentTitle";
import { billingErrorMessage, saveBlob, useBillingApi, useFormat } from "../billing/shared";
import { MAX_PERIOD_DAYS, PRESETS, checkPeriod, dateMs, matchPreset, parseGroupBy, presetPeriod } from "./period";
import type { Period, Preset } from "./period";

/**
 * `/usage`: requests, tokens and cost over a period (UTC dates), grouped by
 * model, key or day, and the period's requests as CSV. The period and the
 * grouping live in the address (`?from=…&to=…&group_by=…`), so a view can be
 * shared or reloaded.
 */
export function UsagePage() {
  const { t } = useTranslation();
  const api = useBillingApi();
  const [params, setParams] = useSearchParams();
  useDocumentTitle(t("usage.title"));

  const fallback = presetPeriod("thisMonth");
  const applied: Period = { from: params.get("from") ?? fallback.from, to: params.get("to") ?? fallback.to };
  const groupBy = parseGroupBy(params.get("group_by"));
  const [draft, setDraft] = useState<Period>(applied);
  const problem = checkPeriod(draft);

  const apply = (period: Period, group: UsageGroupBy = groupBy) => {
    setDraft(period);
    if (checkPeriod(period)) return;
    setParams({ from: period.from, to: period.to, group_by: group }, { replace: true });
  };

  const appliedOk = checkPeriod(applied) === null;
  const report = useQuery({
    queryKey: ["usage", applied.from, applied.to, groupBy],
    queryFn: () => api.getUsage({ from: applied.from, to: applied.to, group_by: groupBy }),
    enabled: appliedOk,
    placeholderData: keepPreviousData,
  });
  const exporter = useMutation({
    mutationFn: async () => {
      const blob = await api.exportUsage({ from: applied.from, to: applied.to });
      saveBlob(blob, `aihub-usage-${applied.from}-to-${applied.to}.csv`);
    },
  });
  const preset = matchPreset(draft);

  return (
    <div className="page">
      <div className="page-header page-header-row">
        <div>
          <h1 className="page-title">{t("usage.title")}</h1>
          <p className="page-subtitle">{t("usage.subtitle")}</p>
        </div>
        <Button
          variant="secondary"
          onClick={() => exporter.mutate()}
          loading={exporter.isPending}
          disabled={!appliedOk}
        >
          {exporter.isPending ? t("usage.exporting") : t("usage.export")}
        </Button>
      </div>

      <section className="card usage-filters" aria-label={t("usage.filters")}>
        <div className="usage-presets" role="group" aria-label={t("usage.presetsLabel")}>
          {PRESETS.map((p: Preset) => (
            <button
              key={p}
              type="button"
              className={`btn btn-sm ${preset === p ? "btn-primary" : "btn-secondary"}`}
              aria-pressed={preset === p}
              onClick={() => apply(presetPeriod(p))}
            >
              {t(`usage.presets.${p}`)}
            </button>
          ))}
        </div>
        <div className="usage-filter-fields">
          <TextField
            label={t("usage.from")}
            type="date"
            value={draft.from}
            max={draft.to || undefined}
            onChange={(e) => apply({ ...draft, from: e.target.value })}
            problem={problem === "fromInvalid" ? { key: "validation.required" } : undefined}
          />
          <TextField
            label={t("usage.to")}
            type="date"
            value={draft.to}
            min={draft.from || undefined}
            onChange={(e) => apply({ ...draft, to: e.target.value })}
            problem={problem === "toInvalid" ? { key: "validation.required" } : undefined}
          />
          <SelectField
            label={t("usage.groupBy")}
            value={groupBy}
            onChange={(e) => apply(draft, parseGroupBy(e.target.value))}
          >
            {USAGE_GROUPS.map((g) => (
              <option key={g} value={g}>
                {t(`usage.group.${g}`)}
              </option>
            ))}
          </SelectField>
        </div>
        {(problem === "toBeforeFrom" || problem === "tooLong") && (
          <Alert tone="error">{t(`usage.problems.${problem}`, { days: MAX_PERIOD_DAYS })}</Alert>
        )}
        <p className="small muted">{t("usage.utcNote")}</p>
      </section>

      {exporter.isError && <Alert tone="error">{billingErrorMessage(t, exporter.error)}</Alert>}
      {report.isError && <Alert tone="error">{billingErrorMessage(t, report.error)}</Alert>}
      {report.isPending && appliedOk && (
        <p className="center-pad">
          <Spinner label={t("common.loading")} />
        </p>
      )}
      {report.data && <Report report={report.data} stale={report.isPlaceholderData} />}
    </div>
  );
}

function Report({ report, stale }: { report: UsageReport; stale: boolean }) {
  const { t } = useTranslation();
  const f = useFormat();
  const { client } = useAuth();
  // Keys are named in the breakdown by key (the API gives their ids).
  const keys = useQuery({
    queryKey: ["usage", "key-names"],
    queryFn: () => client.listKeys(),
    enabled: report.group_by === "key",
    staleTime: 60_000,
  });
  const keyName = (id: string) => keys.data?.find((k) => k.id === id)?.name;
  const latency = (ms: number) => t("usage.latencyValue", { ms: f.number(Math.round(ms)) });
  const totals = report.totals;
  const label = (group: string) => {
    if (report.group_by === "day") {
      const ms = dateMs(group);
      return Number.isNaN(ms) ? group : f.date(ms);
    }
    if (report.group_by === "key") {
      const name = keyName(group);
      return name ? (
        <>
          {name} <code className="muted small">{group}</code>
        </>
      ) : (
        <code>{group}</code>
      );
    }
    return <code>{group}</code>;
  };

  return (
    <div className={stale ? "usage-report usage-report-stale" : "usage-report"} aria-busy={stale || undefined}>
      <section aria-labelledby="usage-totals-title">
        <h2 id="usage-totals-title" className="sr-only">
          {t("usage.totals")}
        </h2>
        <p className="small muted">
          {t("usage.period", { from: f.date(dateMs(report.period.from)), to: f.date(dateMs(report.period.to)) })}
        </p>
        <dl className="stats usage-stats">
          <div>
            <dt>{t("usage.requests")}</dt>
            <dd data-testid="usage-requests">{f.number(totals.requests)}</dd>
          </div>
          <div>
            <dt>{t("usage.tokens")}</dt>
            <dd data-testid="usage-tokens">
              {f.number(totals.tokens)}
              <span className="stats-detail">
                {t("usage.tokensDetail", {
                  prompt: f.number(totals.prompt_tokens),
                  completion: f.number(totals.completion_tokens),
                })}
              </span>
            </dd>
          </div>
          <div>
            <dt>{t("usage.cost")}</dt>
            <dd data-testid="usage-cost">{f.money(totals.cost)}</dd>
          </div>
          <div>
            <dt>{t("usage.errors")}</dt>
            <dd>{f.number(totals.errors)}</dd>
          </div>
          <div>
            <dt>{t("usage.latency")}</dt>
            <dd>{totals.requests > 0 ? latency(totals.avg_latency_ms) : "—"}</dd>
          </div>
        </dl>
      </section>

      <section className="card" aria-labelledby="usage-breakdown-title">
        <h2 id="usage-breakdown-title" className="card-title">
          {t(`usage.breakdownBy.${report.group_by}`)}
        </h2>
        {report.breakdown.length === 0 ? (
          <div className="empty usage-empty">
            <span className="empty-icon">
              <ChartIcon size={24} />
            </span>
            <p className="muted">{t("usage.empty")}</p>
          </div>
        ) : (
          <div className="table-wrap">
            <table className="table usage-table">
              <thead>
                <tr>
                  <th scope="col">{t(`usage.group.${report.group_by}`)}</th>
                  <th scope="col" className="num">
                    {t("usage.requests")}
                  </th>
                  <th scope="col" className="num">
                    {t("usage.promptTokens")}
                  </th>
                  <th scope="col" className="num">
                    {t("usage.completionTokens")}
                  </th>
                  <th scope="col" className="num">
                    {t("usage.tokens")}
                  </th>
                  <th scope="col" className="num">
                    {t("usage.cost")}
                  </th>
                  <th scope="col" className="num">
                    {t("usage.errors")}
                  </th>
                  <th scope="col" className="num">
                    {t("usage.latency")}
                  </th>
                </tr>
              </thead>
              <tbody>
                {report.breakdown.map((row) => (
                  <tr key={row.group}>
                    <th scope="row">{label(row.group)}</th>
                    <td className="num">{f.number(row.requests)}</td>
                    <td className="num">{f.number(row.prompt_tokens)}</td>
                    <td className="num">{f.number(row.completion_tokens)}</td>
                    <td className="num">{f.number(row.tokens)}</td>
                    <td className="num">{f.money(row.cost)}</td>
                    <td className="num">{f.number(row.errors)}</td>
                    <td className="num">{row.requests > 0 ? latency(row.avg_latency_ms) : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}
