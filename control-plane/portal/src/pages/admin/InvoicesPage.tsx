import { useState } from "react";
import type { FormEvent } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { Link, useSearchParams } from "react-router";
import { useAdminApi } from "../../api/admin";
import type { InvoiceFilter } from "../../api/admin";
import { INVOICE_STATUSES } from "../../api/billing";
import type { InvoiceStatus } from "../../api/billing";
import { Button } from "../../components/Button";
import { SelectField, TextField } from "../../components/Field";
import { InvoiceStatusPill, useFormat } from "../billing/shared";
import { AdminHeader, LoadState, PAGE_SIZE, Pager, adminKeys, useCursorPages } from "./shared";

const asStatus = (v: string | null): InvoiceStatus | undefined =>
  (INVOICE_STATUSES as readonly string[]).includes(v ?? "") ? (v as InvoiceStatus) : undefined;

/** `/admin/invoices`: every developer's invoices, newest first, by status or developer; the filters live in the address. */
export function AdminInvoicesPage() {
  const { t } = useTranslation();
  const [params, setParams] = useSearchParams();
  const filter: InvoiceFilter = {
    status: asStatus(params.get("status")),
    developer_id: params.get("developer_id") ?? undefined,
  };
  const [developer, setDeveloper] = useState(filter.developer_id ?? "");
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
  const apply = (e: FormEvent) => {
    e.preventDefault();
    set("developer_id", developer.trim());
  };
  return (
    <div className="page">
      <AdminHeader title={t("admin.invoices.title")} subtitle={t("admin.invoices.subtitle")} />
      <section className="card">
        <form className="admin-filters" role="search" onSubmit={apply} aria-label={t("admin.invoices.filters")}>
          <SelectField label={t("billing.invoices.status")} value={filter.status ?? ""} onChange={(e) => set("status", e.target.value)}>
            <option value="">{t("admin.any")}</option>
            {INVOICE_STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`billing.invoiceStatus.${s}`)}
              </option>
            ))}
          </SelectField>
          <div className="field-grow">
            <TextField
              label={t("admin.invoices.developerId")}
              placeholder="dev_…"
              value={developer}
              onChange={(e) => setDeveloper(e.target.value)}
              autoComplete="off"
              spellCheck={false}
            />
          </div>
          <Button type="submit">{t("admin.filter")}</Button>
        </form>
        <InvoiceList key={JSON.stringify(filter)} filter={filter} />
      </section>
    </div>
  );
}

function InvoiceList({ filter }: { filter: InvoiceFilter }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const f = useFormat();
  const pages = useCursorPages();
  const list = useQuery({
    queryKey: [...adminKeys.invoices, "list", filter, pages.cursor],
    queryFn: () => api.listInvoices({ ...filter, limit: PAGE_SIZE, starting_after: pages.cursor }),
    placeholderData: keepPreviousData,
  });
  const rows = list.data?.data ?? [];
  return (
    <>
      <LoadState query={list} />
      {list.data && rows.length === 0 && <p className="muted admin-empty">{t("admin.invoices.empty")}</p>}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table className="table admin-table" aria-label={t("admin.invoices.title")}>
            <thead>
              <tr>
                <th scope="col">{t("billing.invoices.number")}</th>
                <th scope="col">{t("admin.invoices.developer")}</th>
                <th scope="col">{t("billing.invoices.month")}</th>
                <th scope="col">{t("billing.invoices.status")}</th>
                <th scope="col" className="num">{t("billing.invoices.total")}</th>
                <th scope="col" className="num">{t("billing.invoices.amountDue")}</th>
                <th scope="col">{t("billing.invoices.created")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((inv) => (
                <tr key={inv.id}>
                  <th scope="row">
                    <Link to={`/admin/invoices/${encodeURIComponent(inv.id)}`} title={inv.id}>
                      {inv.number ?? t("billing.invoices.draftName")}
                    </Link>
                  </th>
                  <td>
                    <Link to={`/admin/developers/${encodeURIComponent(inv.developer_id)}`}>{inv.developer_email}</Link>
                  </td>
                  <td>{inv.month}</td>
                  <td>
                    <InvoiceStatusPill status={inv.status} />
                  </td>
                  <td className="num">{f.money(inv.total)}</td>
                  <td className="num">{f.money(inv.amount_due)}</td>
                  <td>{f.date(inv.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager pages={pages} hasMore={list.data?.has_more ?? false} lastId={rows[rows.length - 1]?.id} busy={list.isFetching} />
    </>
  );
}
