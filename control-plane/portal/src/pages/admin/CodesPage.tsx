import { useId, useState } from "react";
import type { FormEvent } from "react";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { useAdminApi } from "../../api/admin";
import type { CreateCodesRequest, CreatedCodes } from "../../api/admin";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { TextField } from "../../components/Field";
import { Modal } from "../../components/Modal";
import { PlusIcon } from "../../components/icons";
import { useFormat, useIdempotencyKeys } from "../billing/shared";
import { CopyButton } from "../keys/shared";
import { checkMoney, checkWhole } from "./forms";
import type { FormProblems } from "./forms";
import { adminErrorMessage, AdminHeader, adminKeys, FormFooter, LoadState, PAGE_SIZE, Pager, useCursorPages } from "./shared";

export const MAX_CODES = 10_000;
export const MAX_EXPIRY_DAYS = 3_650;

/** `/admin/redemption-codes`: batches of credit codes, newest first; a new batch's codes are shown once. */
export function CodesPage() {
  const { t } = useTranslation();
  const api = useAdminApi();
  const f = useFormat();
  const pages = useCursorPages();
  const [creating, setCreating] = useState(false);
  const list = useQuery({
    queryKey: [...adminKeys.codes, pages.cursor],
    queryFn: () => api.listCodeBatches({ limit: PAGE_SIZE, starting_after: pages.cursor }),
    placeholderData: keepPreviousData,
  });
  const rows = list.data?.data ?? [];
  return (
    <div className="page">
      <AdminHeader
        title={t("admin.codes.title")}
        subtitle={t("admin.codes.subtitle")}
        actions={
          <Button onClick={() => setCreating(true)}>
            <PlusIcon size={16} /> {t("admin.codes.create")}
          </Button>
        }
      />
      <section className="card">
        <LoadState query={list} />
        {list.data && rows.length === 0 && <p className="muted admin-empty">{t("admin.codes.empty")}</p>}
        {rows.length > 0 && (
          <div className="table-wrap">
            <table className="table admin-table" aria-label={t("admin.codes.batches")}>
              <thead>
                <tr>
                  <th scope="col">{t("admin.codes.batch")}</th>
                  <th scope="col" className="num">{t("admin.codes.amount")}</th>
                  <th scope="col" className="num">{t("admin.codes.redeemed")}</th>
                  <th scope="col">{t("admin.codes.expires")}</th>
                  <th scope="col">{t("admin.codes.created")}</th>
                  <th scope="col">{t("admin.codes.createdBy")}</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((b) => (
                  <tr key={b.batch_id}>
                    <th scope="row">
                      <code>{b.batch_id}</code>
                    </th>
                    <td className="num">{f.money(b.amount)}</td>
                    <td className="num">{t("admin.codes.redeemedOf", { redeemed: f.number(b.redeemed), total: f.number(b.count) })}</td>
                    <td>{b.expires_at === null ? t("admin.codes.never") : f.dateTime(b.expires_at)}</td>
                    <td>{f.dateTime(b.created_at)}</td>
                    <td>
                      <code>{b.created_by}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Pager pages={pages} hasMore={list.data?.has_more ?? false} lastId={rows[rows.length - 1]?.batch_id} busy={list.isFetching} />
      </section>
      {creating && <CreateCodesDialog onClose={() => setCreating(false)} />}
    </div>
  );
}

type CodesField = "count" | "amount" | "expiresInDays";

/** The batch form, then the codes (once: the server never shows them again). */
function CreateCodesDialog({ onClose }: { onClose: () => void }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const queryClient = useQueryClient();
  const keys = useIdempotencyKeys();
  const [form, setForm] = useState({ count: "1", amount: "", expiresInDays: "" });
  const [problems, setProblems] = useState<FormProblems<CodesField>>({});
  const create = useMutation({
    mutationFn: (body: CreateCodesRequest) => api.createCodes(body, keys.keyFor(body)),
    onSuccess: async () => {
      keys.reset();
      await queryClient.invalidateQueries({ queryKey: adminKeys.codes });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (create.isPending) return;
    const next: FormProblems<CodesField> = {};
    const count = checkWhole(form.count, 1, MAX_CODES);
    if (count) next.count = count;
    const amount = checkMoney(form.amount, 2) ?? (Number(form.amount) === 0 ? { key: "admin.form.money" as const, values: { decimals: 2 } } : null);
    if (amount) next.amount = amount;
    const days = checkWhole(form.expiresInDays, 1, MAX_EXPIRY_DAYS, false);
    if (days) next.expiresInDays = days;
    setProblems(next);
    if (Object.keys(next).length > 0) return;
    const body: CreateCodesRequest = { count: Number(form.count.trim()), amount: form.amount.trim() };
    if (form.expiresInDays.trim() !== "") body.expires_in_days = Number(form.expiresInDays.trim());
    create.mutate(body);
  };
  if (create.data) return <CreatedCodesDialog created={create.data} onClose={onClose} />;
  return (
    <Modal
      title={t("admin.codes.dialogTitle")}
      description={t("admin.codes.dialogBody")}
      onClose={onClose}
      dismissable={!create.isPending}
      footer={<FormFooter form="codes-form" pending={create.isPending} onCancel={onClose} label={t("admin.codes.submit")} pendingLabel={t("admin.codes.creating")} />}
    >
      <form id="codes-form" className="form" onSubmit={submit} noValidate>
        {create.isError && <Alert tone="error">{adminErrorMessage(t, create.error)}</Alert>}
        <TextField
          label={t("admin.codes.count")}
          hint={t("admin.codes.countHint", { max: MAX_CODES })}
          inputMode="numeric"
          value={form.count}
          onChange={(e) => setForm((f) => ({ ...f, count: e.target.value }))}
          problem={problems.count}
          autoComplete="off"
        />
        <TextField
          label={t("admin.codes.amountLabel")}
          inputMode="decimal"
          placeholder="5.00"
          value={form.amount}
          onChange={(e) => setForm((f) => ({ ...f, amount: e.target.value }))}
          problem={problems.amount}
          autoComplete="off"
        />
        <TextField
          label={t("admin.codes.expiresInDays")}
          hint={t("admin.codes.expiresHint", { max: MAX_EXPIRY_DAYS })}
          optional
          inputMode="numeric"
          value={form.expiresInDays}
          onChange={(e) => setForm((f) => ({ ...f, expiresInDays: e.target.value }))}
          problem={problems.expiresInDays}
          autoComplete="off"
        />
      </form>
    </Modal>
  );
}

function CreatedCodesDialog({ created, onClose }: { created: CreatedCodes; onClose: () => void }) {
  const { t } = useTranslation();
  const f = useFormat();
  const id = useId();
  const text = created.codes.join("\n");
  return (
    <Modal
      title={t("admin.codes.createdTitle")}
      description={t("admin.codes.createdBody", { count: created.codes.length, amount: f.money(created.amount) })}
      onClose={onClose}
      closeOnBackdrop={false}
      footer={
        <Button onClick={onClose} data-autofocus>
          {t("admin.done")}
        </Button>
      }
    >
      {created.codes.length === 0 ? (
        <Alert tone="warning">{created.note ?? t("admin.codes.replayed")}</Alert>
      ) : (
        <div className="field">
          <span className="field-label" id={`${id}-codes`}>
            {t("admin.codes.codes")} · <code>{created.batch_id}</code>
          </span>
          <pre className="json-block codes-block" tabIndex={0} aria-labelledby={`${id}-codes`} data-testid="created-codes">
            {text}
          </pre>
          <CopyButton text={text} label={t("admin.codes.copy")} />
        </div>
      )}
    </Modal>
  );
}
