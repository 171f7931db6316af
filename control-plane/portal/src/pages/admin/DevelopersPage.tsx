import { useState } from "react";
import type { FormEvent } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { Link, useSearchParams } from "react-router";
import { DEVELOPER_STATUSES, ROLES, useAdminApi } from "../../api/admin";
import type { AdminDeveloper, DeveloperFilter, DeveloperStatus } from "../../api/admin";
import type { Role } from "../../api/types";
import { Button } from "../../components/Button";
import { SelectField, TextField } from "../../components/Field";
import { useFormat } from "../billing/shared";
import { AdminHeader, LoadState, PAGE_SIZE, Pager, Pill, adminKeys, useCursorPages } from "./shared";

const asStatus = (v: string | null): DeveloperStatus | undefined =>
  (DEVELOPER_STATUSES as readonly string[]).includes(v ?? "") ? (v as DeveloperStatus) : undefined;
const asRole = (v: string | null): Role | undefined => (ROLES.includes(v as Role) ? (v as Role) : undefined);

/** `/admin/developers`: find accounts (searched by the server), filtered and paged; the filters live in the address. */
export function DevelopersPage() {
  const { t } = useTranslation();
  const [params, setParams] = useSearchParams();
  const filter: DeveloperFilter = {
    q: params.get("q") ?? undefined,
    status: asStatus(params.get("status")),
    role: asRole(params.get("role")),
  };
  const [draft, setDraft] = useState(filter.q ?? "");
  const set = (name: string, value: string) =>
    setParams(
      (p) => {
        const next = new URLSearchParams(p);
        if (value) next.set(name, value);
        else next.delete(name);
        return next;
      },
      { replace: true },
    );
  const search = (e: FormEvent) => {
    e.preventDefault();
    set("q", draft.trim());
  };

  return (
    <div className="page">
      <AdminHeader title={t("admin.developers.title")} subtitle={t("admin.developers.subtitle")} />
      <section className="card">
        <form className="admin-filters" role="search" onSubmit={search} aria-label={t("admin.developers.filters")}>
          <div className="field-grow">
            <TextField
              label={t("admin.developers.search")}
              type="search"
              placeholder={t("admin.developers.searchPlaceholder")}
              value={draft}
              onChange={(e) => setDraft(e.target.value)}
              autoComplete="off"
            />
          </div>
          <SelectField label={t("admin.developers.status")} value={filter.status ?? ""} onChange={(e) => set("status", e.target.value)}>
            <option value="">{t("admin.any")}</option>
            {DEVELOPER_STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`admin.developerStatus.${s}`)}
              </option>
            ))}
          </SelectField>
          <SelectField label={t("admin.developers.role")} value={filter.role ?? ""} onChange={(e) => set("role", e.target.value)}>
            <option value="">{t("admin.any")}</option>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {t(`admin.roles.${r}`)}
              </option>
            ))}
          </SelectField>
          <Button type="submit">{t("admin.developers.searchButton")}</Button>
        </form>
        {/* A new filter starts again at the first page. */}
        <DeveloperList key={JSON.stringify(filter)} filter={filter} />
      </section>
    </div>
  );
}

function DeveloperList({ filter }: { filter: DeveloperFilter }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const pages = useCursorPages();
  const list = useQuery({
    queryKey: [...adminKeys.developers, "list", filter, pages.cursor],
    queryFn: () => api.listDevelopers({ ...filter, limit: PAGE_SIZE, starting_after: pages.cursor }),
    placeholderData: keepPreviousData,
  });
  const rows = list.data?.data ?? [];
  return (
    <>
      <LoadState query={list} />
      {list.data && rows.length === 0 && <p className="muted admin-empty">{t("admin.developers.empty")}</p>}
      {rows.length > 0 && (
        <div className="table-wrap" aria-busy={list.isPlaceholderData || undefined}>
          <table className="table admin-table" aria-label={t("admin.developers.title")}>
            <thead>
              <tr>
                <th scope="col">{t("admin.developers.email")}</th>
                <th scope="col">{t("admin.developers.name")}</th>
                <th scope="col">{t("admin.developers.plan")}</th>
                <th scope="col">{t("admin.developers.role")}</th>
                <th scope="col">{t("admin.developers.status")}</th>
                <th scope="col">{t("admin.developers.created")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => (
                <DeveloperRow key={d.id} developer={d} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager pages={pages} hasMore={list.data?.has_more ?? false} lastId={rows[rows.length - 1]?.id} busy={list.isFetching} />
    </>
  );
}

function DeveloperRow({ developer: d }: { developer: AdminDeveloper }) {
  const { t } = useTranslation();
  const f = useFormat();
  return (
    <tr>
      <th scope="row">
        <Link to={`/admin/developers/${encodeURIComponent(d.id)}`}>{d.email}</Link>
        <div className="small muted">
          <code>{d.id}</code>
        </div>
      </th>
      <td className="wrap">{d.full_name}</td>
      <td>
        <code>{d.plan_id}</code>
      </td>
      <td>{t(`admin.roles.${d.role}`)}</td>
      <td>
        <DeveloperStatusPill status={d.status} />
      </td>
      <td>{f.dateTime(d.created_at_ms)}</td>
    </tr>
  );
}

export function DeveloperStatusPill({ status }: { status: DeveloperStatus }) {
  const { t } = useTranslation();
  return <Pill tone={status === "active" ? "success" : "error"}>{t(`admin.developerStatus.${status}`)}</Pill>;
}
