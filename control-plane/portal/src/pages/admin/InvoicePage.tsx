import { useState } from "react";
import type { FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { Link, useParams } from "react-router";
import { useAdminApi } from "../../api/admin";
import type { AdminInvoice, CreditNote } from "../../api/admin";
import { compareMoney, moneyToNanos } from "../../api/billing";
import type { Money } from "../../api/billing";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { TextAreaField, TextField } from "../../components/Field";
import { Modal } from "../../components/Modal";
import type { Problem } from "../../lib/validation";
import { InvoiceStatusPill, useFormat, useIdempotencyKeys } from "../billing/shared";
import { checkMoney, checkText } from "./forms";
import { adminErrorMessage, AdminHeader, adminKeys, ConfirmDialog, FormFooter, LoadState } from "./shared";

type Dialog = "payment" | "credit" | "void" | "uncollectible" | null;

/** `/admin/invoices/:id`: one invoice with its lines and credit notes; record a payment, issue a credit note, void it or write it off. */
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
      {inv && (inv.credit_notes ?? []).length > 0 && <CreditNotes notes={inv.credit_notes} />}
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
      {(open_ || invoice.status === "paid") && (
        <Button variant="secondary" onClick={() => setOpen("credit")}>
          {t("admin.invoices.issueCredit")}
        </Button>
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
      {open === "credit" && <CreditNoteDialog invoice={invoice} onClose={() => setOpen(null)} />}
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
              {invoice.amount_credited !== undefined &&
                compareMoney(invoice.amount_credited, "0") > 0 &&
                total(t("billing.invoice.amountCredited"), invoice.amount_credited, "admin-invoice-credited")}
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
      footer={<FormFooter form="record-payment-form" pending={record.isPending} onCancel={onClose} label={t("admin.invoices.paymentDialog.submit")} pendingLabel={t("common.saving")} />}
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

function CreditNotes({ notes }: { notes: CreditNote[] }) {
  const { t } = useTranslation();
  const f = useFormat();
  return (
    <section className="card" aria-labelledby="admin-invoice-credit-notes">
      <h2 id="admin-invoice-credit-notes" className="card-title">
        {t("admin.invoices.creditNotes.title")}
      </h2>
      <div className="table-wrap">
        <table className="table admin-table">
          <thead>
            <tr>
              <th scope="col">{t("admin.invoices.creditNotes.date")}</th>
              <th scope="col" className="num">{t("admin.invoices.creditNotes.amount")}</th>
              <th scope="col">{t("admin.invoices.creditNotes.appliedTo")}</th>
              <th scope="col">{t("admin.invoices.creditNotes.reason")}</th>
            </tr>
          </thead>
          <tbody>
            {notes.map((note) => (
              <tr key={note.id}>
                <td>{f.dateTime(note.created_at)}</td>
                <td className="num">{f.money(note.amount)}</td>
                <td>
                  {note.applied_to === "balance"
                    ? t("admin.invoices.creditNotes.balance")
                    : t("admin.invoices.creditNotes.invoice")}
                </td>
                <td className="wrap">{note.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** `a − b` as a money string, exact; `a` unchanged when either is not a money string. */
function subtractMoney(a: Money, b: Money): Money {
  const x = moneyToNanos(a);
  const y = moneyToNanos(b);
  if (x === null || y === null) return a;
  const d = x - y;
  const abs = d < 0n ? -d : d;
  const whole = abs / 1_000_000_000n;
  const fraction = (abs % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "").padEnd(2, "0");
  return `${d < 0n ? "-" : ""}${whole}.${fraction}`;
}

/**
 * A credit note: on an open invoice it lowers what is due (at most
 * `amount_due`), on a paid one it credits the developer's paid balance (at
 * most `total − amount_credited`). One Idempotency-Key per body; the server
 * checks the limits and its 400 or 409 is shown here.
 */
function CreditNoteDialog({ invoice, onClose }: { invoice: AdminInvoice; onClose: () => void }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const queryClient = useQueryClient();
  const f = useFormat();
  const keys = useIdempotencyKeys();
  const [amount, setAmount] = useState("");
  const [reason, setReason] = useState("");
  const [problems, setProblems] = useState<{ amount?: Problem; reason?: Problem }>({});
  const issue = useMutation({
    mutationFn: (body: { amount: Money; reason: string }) =>
      api.issueCreditNote(invoice.id, body.amount, body.reason, keys.keyFor({ invoice: invoice.id, ...body })),
    onSuccess: async () => {
      keys.reset();
      await queryClient.invalidateQueries({ queryKey: adminKeys.invoices });
      await queryClient.invalidateQueries({ queryKey: adminKeys.audit });
      onClose();
    },
  });
  const max =
    invoice.status === "paid" ? subtractMoney(invoice.total, invoice.amount_credited ?? "0") : invoice.amount_due;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (issue.isPending) return;
    const value = amount.trim();
    const amountProblem =
      checkMoney(value, 2) ?? (compareMoney(value, "0") > 0 ? null : { key: "admin.form.money", values: { decimals: 2 } });
    const next = { amount: amountProblem ?? undefined, reason: checkText(reason, 500) ?? undefined };
    setProblems(next);
    if (!next.amount && !next.reason) issue.mutate({ amount: value, reason: reason.trim() });
  };
  return (
    <Modal
      title={t("admin.invoices.creditDialog.title")}
      onClose={onClose}
      dismissable={!issue.isPending}
      footer={<FormFooter form="credit-note-form" pending={issue.isPending} onCancel={onClose} label={t("admin.invoices.creditDialog.submit")} pendingLabel={t("common.saving")} />}
    >
      <form id="credit-note-form" className="form" onSubmit={submit} noValidate>
        {issue.isError && <Alert tone="error">{adminErrorMessage(t, issue.error)}</Alert>}
        <TextField
          label={t("admin.invoices.creditDialog.amount")}
          hint={t(invoice.status === "paid" ? "admin.invoices.creditDialog.hintPaid" : "admin.invoices.creditDialog.hintOpen", {
            amount: f.money(max),
          })}
          inputMode="decimal"
          value={amount}
          onChange={(e) => setAmount(e.target.value)}
          problem={problems.amount}
          autoComplete="off"
        />
        <TextAreaField
          label={t("admin.invoices.creditDialog.reason")}
          hint={t("admin.invoices.creditDialog.reasonHint")}
          rows={3}
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          problem={problems.reason}
        />
      </form>
    </Modal>
  );
}
