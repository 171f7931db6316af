import { useMemo, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { useMutation, useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { compareMoney } from "../../api/billing";
import type { Invoice } from "../../api/billing";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { FullPageLoader } from "../../components/Loader";
import { Modal } from "../../components/Modal";
import { CardIcon } from "../../components/icons";
import { useDocumentTitle } from "../../lib/useDocumentTitle";
import { useInvoiceName } from "./InvoicesPage";
import { applyStyles, splitStyles } from "./invoiceDocument";
import {
  INVOICES_QUERY,
  InvoiceStatusPill,
  billingErrorMessage,
  navigation,
  saveBlob,
  useBillingApi,
  useFormat,
  useIdempotencyKeys,
} from "./shared";

/** `/billing/invoices/:id`: one invoice's lines and totals; print it, or pay it while it is open. */
export function InvoicePage() {
  const { t } = useTranslation();
  const api = useBillingApi();
  const name = useInvoiceName();
  const { id = "" } = useParams();
  const invoice = useQuery({ queryKey: [...INVOICES_QUERY, "invoice", id], queryFn: () => api.getInvoice(id) });
  useDocumentTitle(invoice.data ? t("billing.invoice.title", { name: name(invoice.data) }) : t("billing.invoices.title"));

  if (invoice.isPending) return <FullPageLoader />;
  return (
    <div className="page">
      <p className="back-link">
        <Link to="/billing/invoices">← {t("billing.invoice.back")}</Link>
      </p>
      {invoice.isError ? (
        <Alert tone="error">{billingErrorMessage(t, invoice.error)}</Alert>
      ) : (
        <InvoiceView invoice={invoice.data} />
      )}
    </div>
  );
}

function InvoiceView({ invoice }: { invoice: Invoice }) {
  const { t } = useTranslation();
  const f = useFormat();
  const api = useBillingApi();
  const name = useInvoiceName();
  const keys = useIdempotencyKeys();
  const [printing, setPrinting] = useState<string | null>(null);
  const html = useMutation({
    mutationFn: () => api.invoiceHtml(invoice.id),
    onSuccess: (text) => setPrinting(text),
  });
  const pay = useMutation({
    mutationFn: () => api.payInvoice(invoice.id, keys.keyFor({ invoice: invoice.id })),
    onSuccess: (answer) => navigation.assign(answer.checkout_url),
  });
  const payable = invoice.status === "open" && compareMoney(invoice.amount_due, "0") > 0;

  return (
    <>
      <div className="page-header page-header-row">
        <div>
          <div className="key-title">
            <h1 className="page-title">{t("billing.invoice.title", { name: name(invoice) })}</h1>
            <InvoiceStatusPill status={invoice.status} />
          </div>
          <p className="page-subtitle">{t("billing.invoice.subtitle", { month: f.month(invoice.month) })}</p>
        </div>
        <div className="billing-actions" role="group" aria-label={t("billing.actions")}>
          <Button variant="secondary" onClick={() => html.mutate()} loading={html.isPending}>
            {t("billing.invoice.print")}
          </Button>
          {payable && (
            <Button onClick={() => pay.mutate()} loading={pay.isPending || pay.isSuccess}>
              <CardIcon size={16} /> {t("billing.invoice.pay", { amount: f.money(invoice.amount_due) })}
            </Button>
          )}
        </div>
      </div>
      {html.isError && <Alert tone="error">{billingErrorMessage(t, html.error)}</Alert>}
      {pay.isError && <Alert tone="error">{billingErrorMessage(t, pay.error)}</Alert>}
      {pay.isSuccess && <Alert tone="info">{t("billing.credit.redirecting")}</Alert>}

      <section className="card" aria-labelledby="invoice-facts-title">
        <h2 id="invoice-facts-title" className="sr-only">
          {t("billing.invoice.details")}
        </h2>
        <dl className="billing-facts billing-facts-row">
          <div>
            <dt>{t("billing.invoices.month")}</dt>
            <dd>{f.month(invoice.month)}</dd>
          </div>
          <div>
            <dt>{t("billing.invoices.created")}</dt>
            <dd>{f.dateTime(invoice.created_at)}</dd>
          </div>
          <div>
            <dt>{t("billing.invoice.finalized")}</dt>
            <dd>{invoice.finalized_at === null ? "—" : f.dateTime(invoice.finalized_at)}</dd>
          </div>
          <div>
            <dt>{t("billing.invoice.paid")}</dt>
            <dd>{invoice.paid_at === null ? "—" : f.dateTime(invoice.paid_at)}</dd>
          </div>
        </dl>
      </section>

      <section className="card" aria-labelledby="invoice-lines-title">
        <h2 id="invoice-lines-title" className="card-title">
          {t("billing.invoice.lines")}
        </h2>
        {invoice.lines.length === 0 ? (
          <p className="muted">{t("billing.invoice.noLines")}</p>
        ) : (
          <div className="table-wrap">
            <table className="table billing-table">
              <thead>
                <tr>
                  <th scope="col">{t("billing.invoice.description")}</th>
                  <th scope="col">{t("billing.invoice.model")}</th>
                  <th scope="col" className="num">
                    {t("billing.invoice.tokens")}
                  </th>
                  <th scope="col" className="num">
                    {t("billing.invoice.amount")}
                  </th>
                </tr>
              </thead>
              <tbody>
                {invoice.lines.map((line, i) => (
                  <tr key={i}>
                    <td className="billing-memo">{line.description}</td>
                    <td>{line.model ? <code>{line.model}</code> : "—"}</td>
                    <td className="num">{line.tokens === null ? "—" : f.number(line.tokens)}</td>
                    <td className="num">{f.money(line.amount)}</td>
                  </tr>
                ))}
              </tbody>
              <tfoot>
                <tr>
                  <th scope="row" colSpan={3}>
                    {t("billing.invoice.subtotal")}
                  </th>
                  <td className="num">{f.money(invoice.subtotal)}</td>
                </tr>
                <tr>
                  <th scope="row" colSpan={3}>
                    {t("billing.invoice.creditsApplied")}
                  </th>
                  <td className="num">{f.money(invoice.credits_applied)}</td>
                </tr>
                <tr className="billing-total-row">
                  <th scope="row" colSpan={3}>
                    {t("billing.invoice.total")}
                  </th>
                  <td className="num" data-testid="invoice-total">
                    {f.money(invoice.total)}
                  </td>
                </tr>
                {invoice.amount_paid !== undefined && compareMoney(invoice.amount_paid, "0") !== 0 && (
                  <tr>
                    <th scope="row" colSpan={3}>
                      {t("billing.invoice.amountPaid")}
                    </th>
                    <td className="num">{f.money(invoice.amount_paid)}</td>
                  </tr>
                )}
                {invoice.amount_credited !== undefined && compareMoney(invoice.amount_credited, "0") > 0 && (
                  <tr>
                    <th scope="row" colSpan={3}>
                      {t("billing.invoice.amountCredited")}
                    </th>
                    <td className="num" data-testid="invoice-credited">
                      {f.money(invoice.amount_credited)}
                    </td>
                  </tr>
                )}
                <tr>
                  <th scope="row" colSpan={3}>
                    {t("billing.invoices.amountDue")}
                  </th>
                  <td className="num">{f.money(invoice.amount_due)}</td>
                </tr>
              </tfoot>
            </table>
          </div>
        )}
      </section>

      {printing !== null && (
        <PrintDialog
          html={printing}
          title={t("billing.invoice.title", { name: name(invoice) })}
          filename={`${invoice.number ?? `invoice-${invoice.month}`}.html`}
          onClose={() => setPrinting(null)}
        />
      )}
    </>
  );
}

/** The print-ready invoice in a sandboxed frame, with print and download. */
function PrintDialog({
  html,
  title,
  filename,
  onClose,
}: {
  html: string;
  title: string;
  filename: string;
  onClose: () => void;
}) {
  const { t } = useTranslation();
  const frame = useRef<HTMLIFrameElement>(null);
  const split = useMemo(() => splitStyles(html), [html]);
  return (
    <Modal
      title={title}
      onClose={onClose}
      size="lg"
      footer={
        <>
          <Button
            variant="secondary"
            onClick={() => saveBlob(new Blob([html], { type: "text/html;charset=utf-8" }), filename)}
          >
            {t("billing.invoice.download")}
          </Button>
          <Button onClick={() => frame.current?.contentWindow?.print()} data-autofocus>
            {t("billing.invoice.printNow")}
          </Button>
        </>
      }
    >
      <iframe
        ref={frame}
        className="invoice-frame"
        title={t("billing.invoice.preview")}
        sandbox="allow-same-origin allow-modals"
        srcDoc={split.html}
        onLoad={(e) => applyStyles(e.currentTarget, split.css)}
      />
    </Modal>
  );
}
