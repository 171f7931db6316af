import { useTranslation } from "react-i18next";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import type { InvoiceSummary } from "../../api/billing";
import { Alert } from "../../components/Alert";
import { FullPageLoader } from "../../components/Loader";
import { useDocumentTitle } from "../../lib/useDocumentTitle";
import { BillingTabs, INVOICES_QUERY, InvoiceStatusPill, billingErrorMessage, useBillingApi, useFormat } from "./shared";

/** An invoice's name: its number once finalised, else "Draft". */
export function useInvoiceName() {
  const { t } = useTranslation();
  return (invoice: Pick<InvoiceSummary, "number">) => invoice.number ?? t("billing.invoices.draftName");
}

/** `/billing/invoices`: the account's invoices, newest first. */
export function InvoicesPage() {
  const { t } = useTranslation();
  const api = useBillingApi();
  const f = useFormat();
  const name = useInvoiceName();
  useDocumentTitle(t("billing.invoices.title"));
  const invoices = useQuery({ queryKey: [...INVOICES_QUERY, "list"], queryFn: () => api.listInvoices() });

  return (
    <div className="page">
      <div className="page-header">
        <h1 className="page-title">{t("billing.title")}</h1>
        <p className="page-subtitle">{t("billing.invoices.subtitle")}</p>
      </div>
      <BillingTabs />
      {invoices.isPending && <FullPageLoader />}
      {invoices.isError && <Alert tone="error">{billingErrorMessage(t, invoices.error)}</Alert>}
      {invoices.data && invoices.data.length === 0 && (
        <section className="card empty">
          <h2 className="empty-title">{t("billing.invoices.emptyTitle")}</h2>
          <p className="muted">{t("billing.invoices.emptyBody")}</p>
        </section>
      )}
      {invoices.data && invoices.data.length > 0 && (
        <section className="card" aria-labelledby="invoices-title">
          <h2 id="invoices-title" className="card-title">
            {t("billing.invoices.title")}
          </h2>
          <div className="table-wrap">
            <table className="table billing-table">
              <thead>
                <tr>
                  <th scope="col">{t("billing.invoices.number")}</th>
                  <th scope="col">{t("billing.invoices.month")}</th>
                  <th scope="col">{t("billing.invoices.status")}</th>
                  <th scope="col" className="num">
                    {t("billing.invoices.total")}
                  </th>
                  <th scope="col" className="num">
                    {t("billing.invoices.amountDue")}
                  </th>
                  <th scope="col">{t("billing.invoices.created")}</th>
                </tr>
              </thead>
              <tbody>
                {invoices.data.map((invoice) => (
                  <tr key={invoice.id}>
                    <th scope="row">
                      <Link to={`/billing/invoices/${encodeURIComponent(invoice.id)}`}>{name(invoice)}</Link>
                    </th>
                    <td>{f.month(invoice.month)}</td>
                    <td>
                      <InvoiceStatusPill status={invoice.status} />
                    </td>
                    <td className="num">{f.money(invoice.total)}</td>
                    <td className="num">{f.money(invoice.amount_due)}</td>
                    <td>{f.dateTime(invoice.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </div>
  );
}
