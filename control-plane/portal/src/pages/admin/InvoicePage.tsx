import { useState } from "react";
import type { FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { Link, useParams } from "react-router";
import { useAdminApi } from "../../api/admin";
import type { AdminInvoice } from "../../api/admin";
import { compareMoney } from "../../api/billing";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { TextField } from "../../components/Field";
import { Modal } from "../../components/Modal";
import type { Problem } from "../../lib/validation";
import { InvoiceStatusPill, useFormat, useIdempotencyKeys } from "../billing/shared";
import { checkMoney } from "./forms";
import { AdminHeader, ConfirmDialog, LoadState, adminErrorMessage, adminKeys } from "./shared";

type Dialog = "payment" | "void" | "uncollectible" | null;

/** `/admin/invoices/:id`: one invoice with its lines; record a payment, void it or write it off. */
export function AdminInvoicePage() {
  const { t } = useTranslation();
  const { id = "" } = useParams();
  const api = useAdminApi();
  const invoice = useQuery({ queryKey: adminKeys.invoice(id), queryFn: () => api.getInvoice(id) });
  const inv = invoice.data;
  const name = inv ? (inv.number ?? t("billing.invoices.draftName")) : "";
  return (
    <div className="page">
      <AdminHeader
        title={inv ? t("billing.invoice.title", { name }) : t("admin.invoices.title")}
        subtitle={
          inv && (
            <>
              <InvoiceStatusPill status={inv.status} />{" "}
              <Link to={`/admin/developers/${encodeURIComponent(inv.developer_id)}`}>{inv.developer_email}</Link> ·{" "}
              {inv.month}
            </>
          )
        }
        back={<Link to="/admin/invoices">← {t("billing.invoice.back")}</Link>}
        actions={inv && <InvoiceActions invoice={inv} />}
      />
      <LoadState query={invoice} />
      {inv && <InvoiceLines invoice={inv} />}
    </div>
  );
}

function InvoiceActions({ invoice }: { invoice: AdminInvoice }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState<Dialog>(null);
  const done = async () => {
    await queryClient.invalidateQueries({ queryKey: adminKeys.invoices });
    await queryClient.invalidateQueries({ queryKey: adminKeys.audit });
    setOpen(null);
  };
  const voidIt = useMutation({ mutationFn: () => api.voidInvoice(invoice.id), onSuccess: done });
  const writeOff = useMutation({ mutationFn: () => api.markUncollectible(invoice.id), onSuccess: done });
  const close = () => {
    voidIt.reset();
    writeOff.reset();
    setOpen(null);
  };
  const open_ = invoice.status === "open";
  const due = compareMoney(invoice.amount_due, "0") > 0;
  // The server has the last word (a 409 says why); the buttons only hide what can never apply.
  return (
    <>
      {open_ && due && (
        <Button onClick={() => setOpen("payment")}>{t("admin.invoices.recordPayment")}</Button>
      )}
      {(open_ || invoice.status === "draft") && (
        <Button variant="secondary" onClick={() => setOpen("void")}>
          {t("admin.invoices.void")}
        </Button>
      )}
      {open_ && (
        <Button variant="secondary" onClick={() => setOpen("uncollectible")}>
          {t("admin.invoices.uncollectible")}
        </Button>
      )}
      {open === "payment" && <RecordPaymentDialog invoice={invoice} onClose={() => setOpen(null)} />}
      {open === "void" && (
        <ConfirmDialog
          title={t("admin.invoices.voidDialog.title")}
          body={t("admin.invoices.voidDialog.body")}
          confirmLabel={t("admin.invoices.voidDialog.submit")}
          pendingLabel={t("admin.invoices.voidDialog.submitting")}
          pending={voidIt.isPending}
          error={voidIt.error}
          onConfirm={() => voidIt.mutate()}
          onClose={close}
        />
      )}
      {open === "uncollectible" && (
        <ConfirmDialog
          title={t("admin.invoices.uncollectibleDialog.title")}
          body={t("admin.invoices.uncollectibleDialog.body")}
          confirmLabel={t("admin.invoices.uncollectibleDialog.submit")}
          pendingLabel={t("admin.invoices.uncollectibleDialog.submitting")}
          pending={writeOff.isPending}
          error={writeOff.error}
          onConfirm={() => writeOff.mutate()}
          onClose={close}
        />
      )}
    </>
  );
}

function InvoiceLines({ invoice }: { invoice: AdminInvoice }) {
  const { t } = useTranslation();
  const f = useFormat();
  const total = (label: string, amount: string, testId?: string) => (
    <tr>
      <th scope="row" colSpan={3}>
        {label}
      </th>
      <td className="num" data-testid={testId}>
        {f.money(amount)}
      </td>
    </tr>
  );
  return (
    <section className="card" aria-labelledby="admin-invoice-lines">
      <h2 id="admin-invoice-lines" className="card-title">
        {t("billing.invoice.lines")}
      </h2>
      {invoice.lines.length === 0 ? (
        <p className="muted">{t("billing.invoice.noLines")}</p>
      ) : (
        <div className="table-wrap">
          <table className="table admin-table">
            <thead>
              <tr>
                <th scope="col">{t("billing.invoice.description")}</th>
                <th scope="col">{t("billing.invoice.model")}</th>
                <th scope="col" className="num">{t("billing.invoice.tokens")}</th>
                <th scope="col" className="num">{t("billing.invoice.amount")}</th>
              </tr>
            </thead>
            <tbody>
              {invoice.lines.map((line, i) => (
                <tr key={i}>
                  <td className="wrap">{line.description}</td>
                  <td>{line.model ? <code>{line.model}</code> : "—"}</td>
                  <td className="num">{line.tokens === null ? "—" : f.number(line.tokens)}</td>
                  <td className="num">{f.money(line.amount)}</td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              {total(t("billing.invoice.subtotal"), invoice.subtotal)}
              {total(t("billing.invoice.creditsApplied"), invoice.credits_applied)}
              {total(t("billing.invoice.total"), invoice.total, "admin-invoice-total")}
              {invoice.amount_paid !== undefined && total(t("billing.invoice.amountPaid"), invoice.amount_paid)}
              {total(t("billing.invoices.amountDue"), invoice.amount_due, "admin-invoice-due")}
            </tfoot>
          </table>
        </div>
      )}
    </section>
  );
}

/** A payment received outside Stripe: an amount (empty: all that is due), one Idempotency-Key per body. */
function RecordPaymentDialog({ invoice, onClose }: { invoice: AdminInvoice; onClose: () => void }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const queryClient = useQueryClient();
  const f = useFormat();
  const keys = useIdempotencyKeys();
  const [amount, setAmount] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const record = useMutation({
    mutationFn: (value: string | undefined) =>
      api.recordPayment(invoice.id, value, keys.keyFor({ invoice: invoice.id, amount: value ?? null })),
    onSuccess: async () => {
      keys.reset();
      await queryClient.invalidateQueries({ queryKey: adminKeys.invoices });
      await queryClient.invalidateQueries({ queryKey: adminKeys.audit });
      onClose();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (record.isPending) return;
    const p = checkMoney(amount, 2, false);
    setProblem(p);
    if (!p) record.mutate(amount.trim() === "" ? undefined : amount.trim());
  };
  return (
    <Modal
      title={t("admin.invoices.paymentDialog.title")}
      description={t("admin.invoices.paymentDialog.body")}
      onClose={onClose}
      dismissable={!record.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={record.isPending}>
            {t("common.cancel")}
          </Button>
          <Button type="submit" form="record-payment-form" loading={record.isPending}>
            {record.isPending ? t("common.saving") : t("admin.invoices.paymentDialog.submit")}
          </Button>
        </>
      }
    >
      <form id="record-payment-form" className="form" onSubmit={submit} noValidate>
        {record.isError && <Alert tone="error">{adminErrorMessage(t, record.error)}</Alert>}
        <TextField
          label={t("admin.invoices.paymentDialog.amount")}
          hint={t("admin.invoices.paymentDialog.amountHint", { amount: f.money(invoice.amount_due) })}
          optional
          inputMode="decimal"
          placeholder={invoice.amount_due}
          value={amount}
          onChange={(e) => setAmount(e.target.value)}
          problem={problem ?? undefined}
          autoComplete="off"
        />
      </form>
    </Modal>
  );
}
