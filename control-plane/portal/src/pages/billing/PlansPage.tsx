import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { compareMoney } from "../../api/billing";
import type { Billing, Plan } from "../../api/billing";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { FullPageLoader } from "../../components/Loader";
import { Modal } from "../../components/Modal";
import { CheckIcon } from "../../components/icons";
import { useDocumentTitle } from "../../lib/useDocumentTitle";
import {
  BILLING_OVERVIEW_QUERY,
  BILLING_QUERY,
  BillingTabs,
  billingErrorMessage,
  billingQuery,
  plansQuery,
  useBillingApi,
  useFormat,
  useIdempotencyKeys,
} from "./shared";

/** What choosing `target` does, given the current plan and any pending change. */
export type PlanChange = "upgrade" | "switch" | "downgrade" | "cancelPending" | "current";

/**
 * As the server decides: a cheaper plan waits for the month's end; a dearer
 * one, or one at the same price, applies at once.
 */
export function planChange(target: Plan, current: Billing["plan"], pending: Billing["pending_plan"]): PlanChange {
  if (target.id === current.id) return pending ? "cancelPending" : "current";
  const byPrice = compareMoney(target.price, current.price);
  return byPrice > 0 ? "upgrade" : byPrice === 0 ? "switch" : "downgrade";
}

/** `/billing/plans`: the self-service plans, and changing between them. */
export function PlansPage() {
  const { t } = useTranslation();
  const api = useBillingApi();
  const f = useFormat();
  useDocumentTitle(t("billing.plans.title"));
  const plans = useQuery(plansQuery(api));
  const billing = useQuery(billingQuery(api));
  const [choosing, setChoosing] = useState<Plan | null>(null);
  const [done, setDone] = useState<{ plan: string; change: PlanChange; billing: Billing } | null>(null);

  const error = plans.error ?? billing.error;
  return (
    <div className="page">
      <div className="page-header">
        <h1 className="page-title">{t("billing.title")}</h1>
        <p className="page-subtitle">{t("billing.plans.subtitle")}</p>
      </div>
      <BillingTabs />
      {(plans.isPending || billing.isPending) && !error && <FullPageLoader />}
      {error && <Alert tone="error">{billingErrorMessage(t, error)}</Alert>}
      {done && <ChangeDone {...done} />}
      {plans.data && billing.data && (
        <>
          {billing.data.pending_plan && (
            <Alert tone="info">
              {t("billing.plan.pending", {
                plan: billing.data.pending_plan.name,
                date: f.date(billing.data.pending_plan.starts_at),
              })}
            </Alert>
          )}
          <ul className="plan-grid" aria-label={t("billing.plans.listLabel")}>
            {plans.data.map((plan) => (
              <PlanCard
                key={plan.id}
                plan={plan}
                billing={billing.data}
                onChoose={() => {
                  setDone(null);
                  setChoosing(plan);
                }}
              />
            ))}
          </ul>
          <p className="small muted">{t("billing.plans.footnote")}</p>
        </>
      )}
      {choosing && billing.data && (
        <ConfirmPlanDialog
          plan={choosing}
          billing={billing.data}
          onClose={() => setChoosing(null)}
          onDone={(result) => {
            const change = planChange(choosing, billing.data.plan, billing.data.pending_plan);
            setDone({ plan: choosing.name, change, billing: result });
            setChoosing(null);
          }}
        />
      )}
    </div>
  );
}

function PlanCard({ plan, billing, onChoose }: { plan: Plan; billing: Billing; onChoose: () => void }) {
  const { t } = useTranslation();
  const f = useFormat();
  const change = planChange(plan, billing.plan, billing.pending_plan);
  const isCurrent = plan.id === billing.plan.id;
  const isPending = billing.pending_plan?.id === plan.id;
  const titleId = `plan-${plan.id}-name`;
  return (
    <li className={`card plan-card${isCurrent ? " plan-card-current" : ""}`} aria-labelledby={titleId}>
      <div className="plan-card-head">
        <h2 className="plan-card-name" id={titleId}>
          {plan.name}
        </h2>
        {isCurrent && <span className="pill pill-success">{t("billing.plans.current")}</span>}
        {isPending && <span className="pill pill-warning">{t("billing.plans.scheduled")}</span>}
      </div>
      <p className="plan-card-price">
        <span className="plan-card-amount">{f.money(plan.price)}</span>{" "}
        <span className="muted">{t("billing.plans.perMonth")}</span>
      </p>
      <ul className="plan-card-features">
        <li>
          <CheckIcon size={16} />{" "}
          {plan.included_tokens > 0
            ? t("billing.plan.includedTokens", { tokens: f.number(plan.included_tokens) })
            : t("billing.plans.noIncluded")}
        </li>
        <li>
          <CheckIcon size={16} />{" "}
          {plan.requests_per_minute === null
            ? t("billing.plans.rpmUnlimited")
            : t("billing.plans.rpm", { rpm: f.number(plan.requests_per_minute) })}
        </li>
        <li>
          <CheckIcon size={16} />{" "}
          {plan.token_quota_monthly === null
            ? t("billing.plans.quotaUnlimited")
            : t("billing.plans.quota", { quota: f.number(plan.token_quota_monthly) })}
        </li>
        <li>
          <CheckIcon size={16} /> {t(`billing.overage.${plan.overage}`)}
        </li>
      </ul>
      <div className="plan-card-action">
        {change === "current" ? (
          <Button variant="secondary" block disabled>
            {t("billing.plans.currentButton")}
          </Button>
        ) : (
          <Button
            variant={change === "upgrade" ? "primary" : "secondary"}
            block
            onClick={onChoose}
            disabled={isPending}
            aria-label={isPending ? undefined : t(`billing.plans.actionFor.${change}`, { plan: plan.name })}
          >
            {isPending && billing.pending_plan
              ? t("billing.plans.startsOn", { date: f.date(billing.pending_plan.starts_at) })
              : t(`billing.plans.action.${change}`)}
          </Button>
        )}
      </div>
    </li>
  );
}

function ConfirmPlanDialog({
  plan,
  billing,
  onClose,
  onDone,
}: {
  plan: Plan;
  billing: Billing;
  onClose: () => void;
  onDone: (billing: Billing) => void;
}) {
  const { t } = useTranslation();
  const f = useFormat();
  const api = useBillingApi();
  const queryClient = useQueryClient();
  const keys = useIdempotencyKeys();
  const change = planChange(plan, billing.plan, billing.pending_plan);
  const submit = useMutation({
    mutationFn: () => api.changePlan(plan.id, keys.keyFor({ plan_id: plan.id })),
    onSuccess: async (result) => {
      queryClient.setQueryData(BILLING_OVERVIEW_QUERY, result);
      await queryClient.invalidateQueries({ queryKey: BILLING_QUERY });
      onDone(result);
    },
  });
  const values = {
    plan: plan.name,
    current: billing.plan.name,
    tokens: f.number(plan.included_tokens),
    date: f.date(billing.period.end),
    pending: billing.pending_plan?.name ?? "",
  };
  return (
    <Modal
      title={t(`billing.confirm.${change}.title`, values)}
      onClose={onClose}
      dismissable={!submit.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={submit.isPending}>
            {t("common.cancel")}
          </Button>
          <Button onClick={() => submit.mutate()} loading={submit.isPending} data-autofocus>
            {t(`billing.confirm.${change}.submit`, values)}
          </Button>
        </>
      }
    >
      <p data-testid="plan-change-when">{t(`billing.confirm.${change}.body`, values)}</p>
      <dl className="billing-facts">
        <div>
          <dt>{t("billing.confirm.price")}</dt>
          <dd>{t("billing.plan.priceMonthly", { price: f.money(plan.price) })}</dd>
        </div>
        <div>
          <dt>{t("billing.confirm.included")}</dt>
          <dd>{t("billing.plan.includedTokens", { tokens: f.number(plan.included_tokens) })}</dd>
        </div>
      </dl>
      {submit.isError && <Alert tone="error">{billingErrorMessage(t, submit.error)}</Alert>}
    </Modal>
  );
}

/** What happened, from the server's answer (it has the last word on when the change applies). */
function ChangeDone({ plan, change, billing }: { plan: string; change: PlanChange; billing: Billing }) {
  const { t } = useTranslation();
  const f = useFormat();
  if (change === "cancelPending" && !billing.pending_plan) {
    return <Alert tone="success">{t("billing.confirm.doneCancelled", { plan: billing.plan.name })}</Alert>;
  }
  if (billing.pending_plan) {
    return (
      <Alert tone="success">
        {t("billing.confirm.doneScheduled", { plan: billing.pending_plan.name, date: f.date(billing.pending_plan.starts_at) })}
      </Alert>
    );
  }
  return <Alert tone="success">{t("billing.confirm.doneNow", { plan: billing.plan.name || plan })}</Alert>;
}
