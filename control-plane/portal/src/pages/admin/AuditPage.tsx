import { useState } from "react";
import type { FormEvent } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { Link, useSearchParams } from "react-router";
import { useAdminApi } from "../../api/admin";
import type { AuditEntry, AuditFilter } from "../../api/admin";
import { Button } from "../../components/Button";
import { TextField } from "../../components/Field";
import { ChevronIcon } from "../../components/icons";
import { useFormat } from "../billing/shared";
import { AdminHeader, JsonBlock, LoadState, PAGE_SIZE, Pager, adminKeys, useCursorPages } from "./shared";

const FILTERS = ["actor_id", "target_id", "action"] as const;
type FilterName = (typeof FILTERS)[number];

/** `/admin/audit-log`: who changed what, when and from where; filtered by actor, target and action; the filters live in the address. */
export function AuditPage() {
  const { t } = useTranslation();
  const [params, setParams] = useSearchParams();
  const filter: AuditFilter = Object.fromEntries(
    FILTERS.map((name) => [name, params.get(name) || undefined] as const),
  );
  const [draft, setDraft] = useState<Record<FilterName, string>>(() => ({
    actor_id: filter.actor_id ?? "",
    target_id: filter.target_id ?? "",
    action: filter.action ?? "",
  }));
  const apply = (e: FormEvent) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const name of FILTERS) {
      const value = draft[name].trim().replace(/\s*,\s*/g, ",");
      if (value) next.set(name, value);
    }
    setParams(next, { replace: true });
  };
  const field = (name: FilterName, label: string, placeholder: string) => (
    <TextField
      label={label}
      placeholder={placeholder}
      value={draft[name]}
      onChange={(e) => setDraft((d) => ({ ...d, [name]: e.target.value }))}
      autoComplete="off"
      spellCheck={false}
    />
  );
  return (
    <div className="page">
      <AdminHeader title={t("admin.audit.title")} subtitle={t("admin.audit.subtitle")} />
      <section className="card">
        <form className="admin-filters" role="search" onSubmit={apply} aria-label={t("admin.audit.filters")}>
          {field("actor_id", t("admin.audit.actorId"), "dev_…")}
          {field("target_id", t("admin.audit.targetId"), "dev_…, inv_…, prov_…")}
          <div className="field-grow">{field("action", t("admin.audit.actionFilter"), "developer.suspended,plan.updated")}</div>
          <Button type="submit">{t("admin.filter")}</Button>
        </form>
        <AuditList key={JSON.stringify(filter)} filter={filter} />
      </section>
    </div>
  );
}

function AuditList({ filter }: { filter: AuditFilter }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const pages = useCursorPages();
  const list = useQuery({
    queryKey: [...adminKeys.audit, filter, pages.cursor],
    queryFn: () => api.listAudit({ ...filter, limit: PAGE_SIZE, starting_after: pages.cursor }),
    placeholderData: keepPreviousData,
  });
  const rows = list.data?.data ?? [];
  return (
    <>
      <LoadState query={list} />
      {list.data && rows.length === 0 && <p className="muted admin-empty">{t("admin.audit.empty")}</p>}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table className="table admin-table" aria-label={t("admin.audit.title")}>
            <thead>
              <tr>
                <th scope="col">
                  <span className="sr-only">{t("admin.audit.details")}</span>
                </th>
                <th scope="col">{t("admin.audit.time")}</th>
                <th scope="col">{t("admin.audit.action")}</th>
                <th scope="col">{t("admin.audit.actor")}</th>
                <th scope="col">{t("admin.audit.ip")}</th>
                <th scope="col">{t("admin.audit.target")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((entry) => (
                <AuditRow key={entry.id} entry={entry} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager pages={pages} hasMore={list.data?.has_more ?? false} lastId={rows[rows.length - 1]?.id} busy={list.isFetching} />
    </>
  );
}

function AuditRow({ entry }: { entry: AuditEntry }) {
  const { t } = useTranslation();
  const f = useFormat();
  const [open, setOpen] = useState(false);
  const panelId = `audit-${entry.id}-details`;
  const target = entry.target_id;
  const targetLink = target.startsWith("dev_")
    ? `/admin/developers/${encodeURIComponent(target)}`
    : target.startsWith("inv_")
      ? `/admin/invoices/${encodeURIComponent(target)}`
      : null;
  return (
    <>
      <tr>
        <td>
          <button
            type="button"
            className="delivery-toggle"
            aria-expanded={open}
            aria-controls={panelId}
            onClick={() => setOpen((o) => !o)}
          >
            <ChevronIcon size={16} className="chevron" />
            <span className="sr-only">
              {open ? t("admin.audit.hideDetails", { action: entry.action }) : t("admin.audit.showDetails", { action: entry.action })}
            </span>
          </button>
        </td>
        <td>{f.dateTime(entry.at_ms)}</td>
        <th scope="row">
          <code>{entry.action}</code>
        </th>
        <td>
          {entry.actor.email || <code>{entry.actor.id}</code>}
        </td>
        <td>
          <code>{entry.actor.ip}</code>
        </td>
        <td>
          {targetLink ? (
            <Link to={targetLink}>
              <code>{target}</code>
            </Link>
          ) : (
            <code>{target}</code>
          )}
        </td>
      </tr>
      {open && (
        <tr id={panelId}>
          <td colSpan={6}>
            <JsonBlock value={entry.details} label={t("admin.audit.detailsOf", { action: entry.action })} />
          </td>
        </tr>
      )}
    </>
  );
}
