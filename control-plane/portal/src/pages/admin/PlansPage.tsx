import { useState } from "react";
import type { FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { useAdminApi } from "../../api/admin";
import type { AdminPlan, OverageMode } from "../../api/admin";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { SelectField, TextField } from "../../components/Field";
import { Modal } from "../../components/Modal";
import { EditIcon, PlusIcon } from "../../components/icons";
import { useFormat } from "../billing/shared";
import { PLAN_SERVER_FIELDS, planForm, serverProblems, toPlanInput, validatePlanForm } from "./forms";
import type { FormProblems, PlanField, PlanForm } from "./forms";
import { AdminHeader, LoadState, Pill, adminErrorMessage, adminKeys } from "./shared";

const OVERAGES: OverageMode[] = ["prepaid", "invoice"];

/** `/admin/plans`: every plan (private ones too) with its subscribers; add and edit. */
export function PlansPage() {
  const { t } = useTranslation();
  const api = useAdminApi();
  const f = useFormat();
  const plans = useQuery({ queryKey: adminKeys.plans, queryFn: () => api.listPlans() });
  const [editing, setEditing] = useState<AdminPlan | "new" | null>(null);
  const limit = (n: number | null) => (n ? f.number(n) : t("admin.none"));
  return (
    <div className="page">
      <AdminHeader
        title={t("admin.plans.title")}
        subtitle={t("admin.plans.subtitle")}
        actions={
          <Button onClick={() => setEditing("new")}>
            <PlusIcon size={16} /> {t("admin.plans.add")}
          </Button>
        }
      />
      <section className="card">
        <LoadState query={plans} />
        {plans.data && plans.data.length === 0 && <p className="muted admin-empty">{t("admin.plans.empty")}</p>}
        {plans.data && plans.data.length > 0 && (
          <div className="table-wrap">
            <table className="table admin-table" aria-label={t("admin.plans.title")}>
              <thead>
                <tr>
                  <th scope="col">{t("admin.plans.name")}</th>
                  <th scope="col" className="num">{t("admin.plans.price")}</th>
                  <th scope="col" className="num">{t("admin.plans.includedTokens")}</th>
                  <th scope="col">{t("admin.plans.overage")}</th>
                  <th scope="col" className="num">{t("admin.plans.rpm")}</th>
                  <th scope="col" className="num">{t("admin.plans.quota")}</th>
                  <th scope="col">{t("admin.plans.visibility")}</th>
                  <th scope="col" className="num">{t("admin.plans.subscribers")}</th>
                  <th scope="col">
                    <span className="sr-only">{t("admin.actions")}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {plans.data.map((p) => (
                  <tr key={p.id}>
                    <th scope="row">
                      {p.name}
                      <div className="small muted">
                        <code>{p.id}</code>
                      </div>
                    </th>
                    <td className="num">{f.money(p.price)}</td>
                    <td className="num">{f.number(p.included_tokens)}</td>
                    <td>{t(`admin.plans.overageModes.${p.overage}`)}</td>
                    <td className="num">{limit(p.requests_per_minute)}</td>
                    <td className="num">{limit(p.token_quota_monthly)}</td>
                    <td>
                      <Pill tone={p.public ? "success" : "muted"}>
                        {p.public ? t("admin.plans.public") : t("admin.plans.private")}
                      </Pill>
                    </td>
                    <td className="num">{f.number(p.subscribers)}</td>
                    <td>
                      <Button
                        variant="ghost"
                        className="btn-sm"
                        onClick={() => setEditing(p)}
                        aria-label={t("admin.plans.editNamed", { name: p.name })}
                      >
                        <EditIcon size={16} /> {t("admin.edit")}
                      </Button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {editing && <PlanDialog plan={editing === "new" ? undefined : editing} onClose={() => setEditing(null)} />}
    </div>
  );
}

/** Create (no `plan`) or edit a plan; an edit sends only what changed. */
function PlanDialog({ plan, onClose }: { plan?: AdminPlan; onClose: () => void }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const queryClient = useQueryClient();
  const [form, setForm] = useState<PlanForm>(() => planForm(plan));
  const [problems, setProblems] = useState<FormProblems<PlanField>>({});
  const set = <K extends PlanField>(field: K, value: PlanForm[K]) => setForm((f) => ({ ...f, [field]: value }));
  const save = useMutation({
    mutationFn: () => (plan ? api.updatePlan(plan.id, toPlanInput(form, plan)) : api.createPlan(toPlanInput(form))),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: adminKeys.plans });
      await queryClient.invalidateQueries({ queryKey: adminKeys.setup });
      onClose();
    },
    onError: (error) => setProblems(serverProblems(error, PLAN_SERVER_FIELDS)),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (save.isPending) return;
    const next = validatePlanForm(form, !plan);
    setProblems(next);
    if (Object.keys(next).length > 0) return;
    if (plan && Object.keys(toPlanInput(form, plan)).length === 0) return onClose();
    save.mutate();
  };
  const text = (field: Exclude<PlanField, "overage" | "public">, label: string, extra: object = {}) => (
    <TextField
      label={label}
      value={form[field]}
      onChange={(e) => set(field, e.target.value)}
      problem={problems[field]}
      autoComplete="off"
      {...extra}
    />
  );
  return (
    <Modal
      title={plan ? t("admin.plans.editTitle", { name: plan.name }) : t("admin.plans.addTitle")}
      onClose={onClose}
      size="lg"
      dismissable={!save.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={save.isPending}>
            {t("common.cancel")}
          </Button>
          <Button type="submit" form="plan-form" loading={save.isPending}>
            {save.isPending ? t("common.saving") : plan ? t("common.save") : t("admin.plans.create")}
          </Button>
        </>
      }
    >
      <form id="plan-form" className="form" onSubmit={submit} noValidate>
        {save.isError && <Alert tone="error">{adminErrorMessage(t, save.error)}</Alert>}
        {plan && plan.subscribers > 0 && <Alert tone="info">{t("admin.plans.editNote", { count: plan.subscribers })}</Alert>}
        <div className="form-row">
          {!plan && text("id", t("admin.plans.id"), { hint: t("admin.plans.idHint"), spellCheck: false })}
          {text("name", t("admin.plans.name"))}
        </div>
        <div className="form-row">
          {text("price", t("admin.plans.priceLabel"), { inputMode: "decimal", placeholder: "29.00" })}
          {text("includedTokens", t("admin.plans.includedTokensLabel"), { inputMode: "numeric" })}
        </div>
        <SelectField
          label={t("admin.plans.overage")}
          value={form.overage}
          onChange={(e) => set("overage", e.target.value as OverageMode)}
          hint={t(`admin.plans.overageHints.${form.overage}`)}
          problem={problems.overage}
        >
          {OVERAGES.map((o) => (
            <option key={o} value={o}>
              {t(`admin.plans.overageModes.${o}`)}
            </option>
          ))}
        </SelectField>
        <div className="form-row">
          {text("requestsPerMinute", t("admin.plans.rpmLabel"), { inputMode: "numeric", hint: t("admin.plans.zeroNone") })}
          {text("tokenQuotaMonthly", t("admin.plans.quotaLabel"), { inputMode: "numeric", hint: t("admin.plans.zeroNone") })}
        </div>
        {text("sortOrder", t("admin.plans.sortOrder"), { inputMode: "numeric", hint: t("admin.plans.sortOrderHint") })}
        <label className="switch-row">
          <input type="checkbox" checked={form.public} onChange={(e) => set("public", e.target.checked)} />
          <span>
            <span className="choice-label">{t("admin.plans.publicLabel")}</span>
            <span className="choice-hint">{t("admin.plans.publicHint")}</span>
          </span>
        </label>
      </form>
    </Modal>
  );
}
