import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { useAdminApi } from "../../api/admin";
import { useFormat } from "../billing/shared";
import { AdminHeader, LoadState, Pill, adminKeys } from "./shared";

/** How often the table asks again: gateways report about this often. */
export const HEALTH_REFRESH_MS = 15_000;

/** `/admin/health`: each deployment's errors, latency and ejection as the gateways see them. */
export function HealthPage() {
  const { t, i18n } = useTranslation();
  const api = useAdminApi();
  const f = useFormat();
  const health = useQuery({ queryKey: adminKeys.health, queryFn: () => api.listHealth(), refetchInterval: HEALTH_REFRESH_MS });
  const percent = new Intl.NumberFormat(i18n.language, { style: "percent", maximumFractionDigits: 1 });
  const rows = health.data ?? [];
  return (
    <div className="page">
      <AdminHeader title={t("admin.health.title")} subtitle={t("admin.health.subtitle")} />
      <section className="card">
        <LoadState query={health} />
        {health.data && rows.length === 0 && <p className="muted admin-empty">{t("admin.health.empty")}</p>}
        {rows.length > 0 && (
          <div className="table-wrap">
            <table className="table admin-table" aria-label={t("admin.health.title")}>
              <thead>
                <tr>
                  <th scope="col">{t("admin.health.model")}</th>
                  <th scope="col">{t("admin.health.provider")}</th>
                  <th scope="col" className="num">{t("admin.health.requests")}</th>
                  <th scope="col" className="num">{t("admin.health.errors")}</th>
                  <th scope="col" className="num">{t("admin.health.errorRate")}</th>
                  <th scope="col" className="num">{t("admin.health.latency")}</th>
                  <th scope="col">{t("admin.health.state")}</th>
                  <th scope="col" className="num">{t("admin.health.gateways")}</th>
                  <th scope="col">{t("admin.health.reported")}</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.deployment_id}>
                    <th scope="row">
                      <code>{r.model ?? "—"}</code>
                      <div className="small muted">
                        <code>{r.deployment_id}</code>
                      </div>
                    </th>
                    <td>{r.provider_name ?? "—"}</td>
                    <td className="num">{f.number(r.requests)}</td>
                    <td className="num">{f.number(r.errors)}</td>
                    <td className="num">{percent.format(r.error_rate)}</td>
                    <td className="num">{r.latency_ms === null ? "—" : t("admin.models.ms", { ms: f.number(r.latency_ms) })}</td>
                    <td>
                      {r.ejected ? (
                        <Pill tone="error">
                          {r.ejected_until === null
                            ? t("admin.health.ejected")
                            : r.ejected_until <= r.reported_at
                              ? t("admin.health.probing")
                              : t("admin.health.ejectedUntil", { time: f.dateTime(r.ejected_until) })}
                        </Pill>
                      ) : (
                        <Pill tone="success">{t("admin.health.healthy")}</Pill>
                      )}
                    </td>
                    <td className="num">{f.number(r.gateways)}</td>
                    <td>{f.dateTime(r.reported_at)}</td>
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
