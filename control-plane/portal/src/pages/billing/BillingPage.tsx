import { useId, useState } from "react";
import { useTranslation } from "react-i18next";
import { useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router";
import { customPrices } from "../../api/billing";
import type { Billing } from "../../api/billing";
import { Alert } from "../../components/Alert";
import { FullPageLoader } from "../../components/Loader";
import { CardIcon, PlusIcon, SparkIcon } from "../../components/icons";
import { useDocumentTitle } from "../../lib/useDocumentTitle";
import { BillingTabs, billingErrorMessage, billingQuery, useBillingApi, useFormat } from "./shared";

/** `/billing`: plan, allowance, balance, this month's usage and the upcoming invoice. */
export function BillingPage() {
  const { t } = useTranslation();
  const api = useBillingApi();
  useDocumentTitle(t("billing.title"));
  // Checkout returns here with `?checkout=success` or `?checkout=cancelled`.
  const [params] = useSearchParams();
  const checkout = params.get("checkout");
  const [returnedAt] = useState(() => Date.now());
  const billing = useQuery({
    ...billingQuery(api),
    // The credit lands when the provider's webhook arrives: look again for a little while.
    refetchInterval: checkout === "success" && Date.now() - returnedAt < 15_000 ? 1_000 : false,
  });

  return (
    <div className="page">
      <div className="page-header">
        <h1 className="page-title">{t("billing.title")}</h1>
        <p className="page-subtitle">{t("billing.subtitle")}</p>
      </div>
      <BillingTabs />
      {checkout === "success" && <Alert tone="success">{t("billing.checkout.success")}</Alert>}
      {checkout === "cancelled" && <Alert tone="info">{t("billing.checkout.cancelled")}</Alert>}
      {billing.isPending && <FullPageLoader />}
      {billing.isError && <Alert tone="error">{billingErrorMessage(t, billing.error)}</Alert>}
      {billing.data && <Overview billing={billing.data} />}
    </div>
  );
}

function Overview({ billing }: { billing: Billing }) {
  const { t } = useTranslation();
  const f = useFormat();
  const { plan, pending_plan: pending, balance, month_usage: usage, upcoming_invoice: invoice } = billing;
  return (
    <>
      <div className="billing-actions" role="group" aria-label={t("billing.actions")}>
        <Link className="btn btn-primary" to="/billing/plans">
          <SparkIcon size={16} /> {t("billing.changePlan")}
        </Link>
        <Link className="btn btn-secondary" to="/billing/credit#top-up">
          <PlusIcon size={16} /> {t("billing.topUp")}
        </Link>
        <Link className="btn btn-secondary" to="/billing/credit#redeem">
          <CardIcon size={16} /> {t("billing.redeem")}
        </Link>
      </div>

      <div className="grid billing-grid">
        <section className="card card-plan" aria-labelledby="billing-plan-title">
          <div className="card-header">
            <h2 id="billing-plan-title" className="card-title">
              {t("billing.plan.title")}
            </h2>
            <Link to="/billing/plans" className="link-small">
              {t("billing.plan.compare")}
            </Link>
          </div>
          <p className="billing-plan-name" data-testid="current-plan">
            {plan.name}
          </p>
          <p className="muted">
            {t("billing.plan.priceMonthly", { price: f.money(plan.price) })} ·{" "}
            {t("billing.plan.includedTokens", { tokens: f.number(plan.included_tokens) })}
          </p>
          <p className="small muted">{t(`billing.overage.${plan.overage}`)}</p>
          {pending && (
            <Alert tone="info">
              {t("billing.plan.pending", { plan: pending.name, date: f.date(pending.starts_at) })}
            </Alert>
          )}
        </section>

        <Allowance billing={billing} />

        <section className="card" aria-labelledby="billing-balance-title">
          <div className="card-header">
            <h2 id="billing-balance-title" className="card-title">
              {t("billing.balance.title")}
            </h2>
            <Link to="/billing/credit" className="link-small">
              {t("billing.balance.history")}
            </Link>
          </div>
          <p className="billing-amount" data-testid="balance-total">
            {f.money(balance.total)}
          </p>
          <dl className="billing-facts">
            <div>
              <dt>{t("billing.balance.paid")}</dt>
              <dd>{f.money(balance.paid)}</dd>
            </div>
            <div>
              <dt>{t("billing.balance.promotional")}</dt>
              <dd>{f.money(balance.promotional)}</dd>
            </div>
          </dl>
        </section>

        <section className="card" aria-labelledby="billing-usage-title">
          <div className="card-header">
            <h2 id="billing-usage-title" className="card-title">
              {t("billing.month.title", { month: f.month(billing.period.month) })}
            </h2>
            <Link to="/usage" className="link-small">
              {t("billing.month.details")}
            </Link>
          </div>
          <dl className="billing-facts">
            <div>
              <dt>{t("billing.month.requests")}</dt>
              <dd>{f.number(usage.requests)}</dd>
            </div>
            <div>
              <dt>{t("billing.month.tokens")}</dt>
              <dd>{f.number(usage.tokens)}</dd>
            </div>
            <div>
              <dt>{t("billing.month.cost")}</dt>
              <dd>{f.money(usage.cost)}</dd>
            </div>
            <div>
              <dt>{t("billing.month.charged")}</dt>
              <dd>{f.money(usage.charged)}</dd>
            </div>
          </dl>
        </section>

        <section className="card" aria-labelledby="billing-invoice-title">
          <div className="card-header">
            <h2 id="billing-invoice-title" className="card-title">
              {t("billing.upcoming.title")}
            </h2>
            <Link to="/billing/invoices" className="link-small">
              {t("billing.upcoming.all")}
            </Link>
          </div>
          <dl className="billing-facts">
            <div>
              <dt>{t("billing.upcoming.subscription")}</dt>
              <dd>{f.money(invoice.subscription)}</dd>
            </div>
            <div>
              <dt>{t("billing.upcoming.overage")}</dt>
              <dd>{f.money(invoice.overage)}</dd>
            </div>
            <div>
              <dt>{t("billing.upcoming.credits")}</dt>
              <dd>{f.money(invoice.credits_applied)}</dd>
            </div>
            <div className="billing-facts-total">
              <dt>{t("billing.upcoming.total")}</dt>
              <dd data-testid="upcoming-total">{f.money(invoice.total)}</dd>
            </div>
          </dl>
          <p className="small muted">{t("billing.upcoming.note", { date: f.date(billing.period.end) })}</p>
        </section>

        <CustomPrices billing={billing} />
      </div>
      {!billing.payments.enabled && <Alert tone="info">{t("billing.credit.disabled")}</Alert>}
    </>
  );
}

/** The prices agreed with the operator, when there are any: they replace the catalog's for this developer. */
function CustomPrices({ billing }: { billing: Billing }) {
  const { t } = useTranslation();
  const f = useFormat();
  const id = useId();
  const prices = customPrices(billing);
  if (prices.length === 0) return null;
  return (
    <section className="card billing-custom-prices" aria-labelledby={`${id}-title`}>
      <div className="card-header">
        <h2 id={`${id}-title`} className="card-title">
          {t("billing.customPrices.title")}
        </h2>
      </div>
      <p className="small muted" id={`${id}-note`}>
        {t("billing.customPrices.note")}
      </p>
      <div className="table-wrap">
        <table className="table billing-table" aria-labelledby={`${id}-title`} aria-describedby={`${id}-note`}>
          <thead>
            <tr>
              <th scope="col">{t("billing.customPrices.model")}</th>
              <th scope="col" className="num">
                {t("billing.customPrices.input")}
              </th>
              <th scope="col" className="num">
                {t("billing.customPrices.output")}
              </th>
              <th scope="col" className="num">
                {t("billing.customPrices.cached")}
              </th>
            </tr>
          </thead>
          <tbody>
            {prices.map((price) => (
              <tr key={price.model}>
                <th scope="row">{price.model}</th>
                <td className="num">{f.money(price.input_per_million)}</td>
                <td className="num">{f.money(price.output_per_million)}</td>
                <td className="num">{f.money(price.cached_per_million)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** Included tokens: a bar of what is used, and what is left. */
function Allowance({ billing }: { billing: Billing }) {
  const { t } = useTranslation();
  const f = useFormat();
  const id = useId();
  const { included_tokens: included, used_tokens: used, remaining_tokens: remaining } = billing.allowance;
  const percent = included > 0 ? Math.min(100, Math.round((used / included) * 100)) : 0;
  const tone = percent >= 100 ? " progress-full" : percent >= 80 ? " progress-high" : "";
  return (
    <section className="card" aria-labelledby={`${id}-title`}>
      <div className="card-header">
        <h2 id={`${id}-title`} className="card-title">
          {t("billing.allowance.title")}
        </h2>
      </div>
      <p className="small muted billing-period">
        {t("billing.allowance.period", {
          from: f.date(billing.period.start),
          to: f.date(billing.period.end - 1),
        })}
      </p>
      {included > 0 ? (
        <>
          <p className="billing-allowance-text" id={`${id}-text`}>
            {t("billing.allowance.used", { used: f.number(used), included: f.number(included) })}
          </p>
          <div
            className={`progress${tone}`}
            role="progressbar"
            aria-labelledby={`${id}-title`}
            aria-describedby={`${id}-text`}
            aria-valuemin={0}
            aria-valuemax={included}
            aria-valuenow={Math.min(used, included)}
            aria-valuetext={t("billing.allowance.used", { used: f.number(used), included: f.number(included) })}
          >
            <span className="progress-bar" style={{ width: `${percent}%` }} />
          </div>
          <p className="small muted">
            {remaining > 0
              ? t("billing.allowance.remaining", { remaining: f.number(remaining) })
              : t(`billing.allowance.exhausted.${billing.plan.overage}`)}
          </p>
        </>
      ) : (
        <p className="muted">
          {t("billing.allowance.none", { used: f.number(used) })} {t(`billing.overage.${billing.plan.overage}`)}
        </p>
      )}
    </section>
  );
}
