import { useState } from "react";
import type { FormEvent, ReactNode } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { Link, useParams } from "react-router";
import { useAdminApi } from "../../api/admin";
import type { AdminDeveloperDetail, AuditEntry } from "../../api/admin";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { SelectField, TextField } from "../../components/Field";
import { Modal } from "../../components/Modal";
import { useFormat, useIdempotencyKeys } from "../billing/shared";
import { checkMoney, checkText } from "./forms";
import type { FormProblems } from "./forms";
import { DeveloperStatusPill } from "./DevelopersPage";
import { AdminHeader, ConfirmDialog, LoadState, adminErrorMessage, adminKeys } from "./shared";

type Dialog = "suspend" | "credit" | "plan" | null;

/** `/admin/developers/:id`: one account, its plan and keys, what was done to it lately, and support's actions. */
export function DeveloperPage() {
  const { t } = useTranslation();
  const { id = "" } = useParams();
  const api = useAdminApi();
  const developer = useQuery({ queryKey: adminKeys.developer(id), queryFn: () => api.getDeveloper(id) });
  const d = developer.data;
  return (
    <div className="page">
      <AdminHeader
        title={d?.email ?? t("admin.developers.detailTitle")}
        subtitle={d ? <code>{d.id}</code> : undefined}
        back={<Link to="/admin/developers">← {t("admin.developers.back")}</Link>}
        actions={d && <DeveloperActions developer={d} />}
      />
      <LoadState query={developer} />
      {d && (
        <>
          <DeveloperFacts developer={d} />
          <RecentAudit developerId={d.id} entries={d.recent_audit} />
        </>
      )}
    </div>
  );
}

function DeveloperActions({ developer: d }: { developer: AdminDeveloperDetail }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState<Dialog>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: adminKeys.developers });
  const suspend = useMutation({
    mutationFn: () => api.suspendDeveloper(d.id),
    onSuccess: async () => {
      await refresh();
      setOpen(null);
    },
  });
  const activate = useMutation({ mutationFn: () => api.activateDeveloper(d.id), onSuccess: refresh });
  const close = () => {
    suspend.reset();
    setOpen(null);
  };
  return (
    <>
      {d.status === "active" && d.role !== "admin" && (
        <Button variant="danger" onClick={() => setOpen("suspend")}>
          {t("admin.developers.suspend")}
        </Button>
      )}
      {d.status === "suspended" && (
        <Button variant="secondary" onClick={() => activate.mutate()} loading={activate.isPending}>
          {t("admin.developers.activate")}
        </Button>
      )}
      <Button variant="secondary" onClick={() => setOpen("credit")}>
        {t("admin.developers.grantCredit")}
      </Button>
      <Button variant="secondary" onClick={() => setOpen("plan")}>
        {t("admin.developers.changePlan")}
      </Button>
      {activate.isError && <Alert tone="error">{adminErrorMessage(t, activate.error)}</Alert>}
      {open === "suspend" && (
        <ConfirmDialog
          title={t("admin.developers.suspendDialog.title")}
          body={t("admin.developers.suspendDialog.body", { email: d.email })}
          confirmLabel={t("admin.developers.suspendDialog.submit")}
          pendingLabel={t("admin.developers.suspendDialog.submitting")}
          pending={suspend.isPending}
          error={suspend.error}
          onConfirm={() => suspend.mutate()}
          onClose={close}
        />
      )}
      {open === "credit" && <GrantCreditDialog developer={d} onClose={() => setOpen(null)} />}
      {open === "plan" && <ChangePlanDialog developer={d} onClose={() => setOpen(null)} />}
    </>
  );
}

function DeveloperFacts({ developer: d }: { developer: AdminDeveloperDetail }) {
  const { t } = useTranslation();
  const f = useFormat();
  const api = useAdminApi();
  const plans = useQuery({ queryKey: adminKeys.plans, queryFn: () => api.listPlans(), staleTime: 60_000 });
  const plan = plans.data?.find((p) => p.id === d.plan_id);
  const limit = (n: number | null) => (n ? f.number(n) : t("admin.none"));
  const rows: [string, ReactNode][] = [
    [t("admin.developers.name"), d.full_name || "—"],
    [t("admin.developers.company"), d.company_name ?? "—"],
    [t("admin.developers.type"), t(`register.${d.developer_type}`)],
    [t("admin.developers.role"), t(`admin.roles.${d.role}`)],
    [t("admin.developers.status"), <DeveloperStatusPill key="s" status={d.status} />],
    [t("admin.developers.verified"), d.email_verified ? t("admin.yes") : t("admin.no")],
    [t("admin.developers.language"), t(`common.languages.${d.language}`)],
    [
      t("admin.developers.plan"),
      <span key="p" data-testid="developer-plan">
        {plan ? `${plan.name} (${f.money(plan.price)})` : d.plan_id}
      </span>,
    ],
    [
      t("admin.developers.keys"),
      <span key="k" data-testid="developer-keys">
        {t("admin.developers.keysCount", { active: d.keys.active, total: d.keys.total })}
      </span>,
    ],
    [t("admin.developers.rateLimit"), limit(d.rate_limit_per_minute)],
    [t("admin.developers.quota"), limit(d.quota_tokens_per_month)],
    [t("admin.developers.created"), f.dateTime(d.created_at_ms)],
  ];
  return (
    <section className="card" aria-labelledby="developer-account-title">
      <h2 id="developer-account-title" className="card-title">
        {t("admin.developers.account")}
      </h2>
      <dl className="facts">
        {rows.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

function RecentAudit({ developerId, entries }: { developerId: string; entries: AuditEntry[] }) {
  const { t } = useTranslation();
  const f = useFormat();
  return (
    <section className="card" aria-labelledby="developer-audit-title">
      <h2 id="developer-audit-title" className="card-title">
        {t("admin.developers.recentAudit")}
      </h2>
      {entries.length === 0 ? (
        <p className="muted admin-empty">{t("admin.audit.empty")}</p>
      ) : (
        <div className="table-wrap">
          <table className="table admin-table">
            <thead>
              <tr>
                <th scope="col">{t("admin.audit.time")}</th>
                <th scope="col">{t("admin.audit.action")}</th>
                <th scope="col">{t("admin.audit.actor")}</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.id}>
                  <td>{f.dateTime(e.at_ms)}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td>{e.actor.email || e.actor.id}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p className="small">
        <Link to={`/admin/audit-log?target_id=${encodeURIComponent(developerId)}`}>
          {t("admin.developers.allAudit")}
        </Link>
      </p>
    </section>
  );
}

/** Promotional credit, up to nine decimals, with an optional memo; one Idempotency-Key per body. */
function GrantCreditDialog({ developer, onClose }: { developer: AdminDeveloperDetail; onClose: () => void }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const queryClient = useQueryClient();
  const f = useFormat();
  const keys = useIdempotencyKeys();
  const [amount, setAmount] = useState("");
  const [memo, setMemo] = useState("");
  const [problems, setProblems] = useState<FormProblems<"amount" | "memo">>({});
  const grant = useMutation({
    mutationFn: (body: { amount: string; memo?: string }) => api.grantCredit(developer.id, body, keys.keyFor(body)),
    onSuccess: async () => {
      keys.reset();
      await queryClient.invalidateQueries({ queryKey: adminKeys.developer(developer.id) });
      await queryClient.invalidateQueries({ queryKey: adminKeys.audit });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (grant.isPending) return;
    const next: FormProblems<"amount" | "memo"> = {};
    const a = checkMoney(amount, 9);
    if (a) next.amount = a;
    else if (Number(amount) === 0) next.amount = { key: "admin.form.money", values: { decimals: 9 } };
    const m = checkText(memo, 500, false);
    if (m) next.memo = m;
    setProblems(next);
    if (Object.keys(next).length > 0) return;
    grant.mutate(memo.trim() ? { amount: amount.trim(), memo: memo.trim() } : { amount: amount.trim() });
  };
  return (
    <Modal
      title={t("admin.developers.creditDialog.title")}
      description={t("admin.developers.creditDialog.body", { email: developer.email })}
      onClose={onClose}
      dismissable={!grant.isPending}
      footer={
        grant.isSuccess ? (
          <Button onClick={onClose}>{t("admin.done")}</Button>
        ) : (
          <>
            <Button variant="secondary" onClick={onClose} disabled={grant.isPending}>
              {t("common.cancel")}
            </Button>
            <Button type="submit" form="grant-credit-form" loading={grant.isPending}>
              {grant.isPending ? t("admin.developers.creditDialog.submitting") : t("admin.developers.creditDialog.submit")}
            </Button>
          </>
        )
      }
    >
      {grant.isSuccess ? (
        <Alert tone="success">
          {t("admin.developers.creditDialog.done", { balance: f.money(grant.data.balance.total) })}
        </Alert>
      ) : (
        <form id="grant-credit-form" className="form" onSubmit={submit} noValidate>
          {grant.isError && <Alert tone="error">{adminErrorMessage(t, grant.error)}</Alert>}
          <TextField
            label={t("admin.developers.creditDialog.amount")}
            inputMode="decimal"
            placeholder="10.00"
            value={amount}
            onChange={(e) => setAmount(e.target.value)}
            problem={problems.amount}
            autoComplete="off"
          />
          <TextField
            label={t("admin.developers.creditDialog.memo")}
            optional
            value={memo}
            onChange={(e) => setMemo(e.target.value)}
            problem={problems.memo}
            autoComplete="off"
          />
        </form>
      )}
    </Modal>
  );
}

/** Puts the developer on any plan (private ones too), at once. */
function ChangePlanDialog({ developer, onClose }: { developer: AdminDeveloperDetail; onClose: () => void }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const queryClient = useQueryClient();
  const f = useFormat();
  const plans = useQuery({ queryKey: adminKeys.plans, queryFn: () => api.listPlans(), staleTime: 60_000 });
  const [planId, setPlanId] = useState(developer.plan_id);
  const assign = useMutation({
    mutationFn: () => api.assignPlan(developer.id, planId),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: adminKeys.developers });
      await queryClient.invalidateQueries({ queryKey: adminKeys.plans });
      onClose();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!assign.isPending) assign.mutate();
  };
  return (
    <Modal
      title={t("admin.developers.planDialog.title")}
      description={t("admin.developers.planDialog.body", { email: developer.email })}
      onClose={onClose}
      dismissable={!assign.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={assign.isPending}>
            {t("common.cancel")}
          </Button>
          <Button
            type="submit"
            form="change-plan-form"
            loading={assign.isPending}
            disabled={!plans.data || planId === developer.plan_id}
          >
            {assign.isPending ? t("common.saving") : t("admin.developers.planDialog.submit")}
          </Button>
        </>
      }
    >
      <form id="change-plan-form" className="form" onSubmit={submit} noValidate>
        {assign.isError && <Alert tone="error">{adminErrorMessage(t, assign.error)}</Alert>}
        <LoadState query={plans} />
        {plans.data && (
          <SelectField label={t("admin.developers.planDialog.plan")} value={planId} onChange={(e) => setPlanId(e.target.value)}>
            {plans.data.map((p) => (
              <option key={p.id} value={p.id}>
                {`${p.name} · ${f.money(p.price)}${p.public ? "" : ` · ${t("admin.plans.private")}`}`}
              </option>
            ))}
          </SelectField>
        )}
      </form>
    </Modal>
  );
}
