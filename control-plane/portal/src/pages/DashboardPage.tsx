import { useId } from "react";
import { Link } from "react-router";
import { useTranslation } from "react-i18next";
import { useQuery } from "@tanstack/react-query";
import type { Billing } from "../api/billing";
import { useAuth, useProfile } from "../auth/AuthProvider";
import { Alert } from "../components/Alert";
import { FullPageLoader, Spinner } from "../components/Loader";
import { BookIcon, CardIcon, ChartIcon, KeyIcon, SparkIcon } from "../components/icons";
import { errorMessage } from "../lib/errors";
import { ResendButton } from "./ResendButton";
import { useDocumentTitle } from "../lib/useDocumentTitle";
import { billingQuery, useBillingApi, useFormat } from "./billing/shared";
import { DashboardSummary } from "./analytics/DashboardSummary";

export function DashboardPage() {
  const { t, i18n } = useTranslation();
  const { client } = useAuth();
  const profile = useProfile();
  useDocumentTitle(t("nav.dashboard"));
  const config = useQuery({ queryKey: ["auth-config"], queryFn: () => client.getAuthConfig(), staleTime: 60_000 });
  // The billing overview's query (the same cache entry as /billing): a plan change there shows here at once.
  const billing = useQuery(billingQuery(useBillingApi()));

  if (profile.isPending) return <FullPageLoader />;
  if (profile.isError) return <Alert tone="error">{errorMessage(t, profile.error)}</Alert>;
  const me = profile.data;
  const since = new Intl.DateTimeFormat(i18n.language, { dateStyle: "long" }).format(new Date(me.created_at_ms));
  const number = new Intl.NumberFormat(i18n.language);
  const firstName = me.full_name.trim().split(/\s+/)[0] || me.email;

  // Each card links to its page.
  const next = [
    { key: "keys", icon: KeyIcon, to: "/keys" },
    { key: "usage", icon: ChartIcon, to: "/usage" },
    { key: "billing", icon: CardIcon, to: "/billing" },
    { key: "docs", icon: BookIcon, to: "/docs" },
  ] as const;

  return (
    <div className="page">
      <div className="page-header">
        <h1 className="page-title">{t("dashboard.greeting", { name: firstName })}</h1>
        <p className="page-subtitle">{t("dashboard.subtitle")}</p>
      </div>

      {!me.email_verified && (
        <Alert
          tone="warning"
          title={t("dashboard.verifyTitle")}
          action={<ResendButton email={me.email} />}
        >
          {config.data?.email_verification_required === false
            ? t("dashboard.verifyBodyOptional", { email: me.email })
            : t("dashboard.verifyBody", { email: me.email })}
        </Alert>
      )}

      <div className="grid grid-2">
        <section className="card" aria-labelledby="account-title">
          <div className="card-header">
            <h2 id="account-title" className="card-title">
              {t("dashboard.accountTitle")}
            </h2>
            <Link to="/profile" className="link-small">
              {t("dashboard.editProfile")}
            </Link>
          </div>
          <dl className="facts">
            <div>
              <dt>{t("dashboard.email")}</dt>
              <dd>
                <span className="break">{me.email}</span>{" "}
                <span className={`pill ${me.email_verified ? "pill-success" : "pill-warning"}`}>
                  {me.email_verified ? t("dashboard.emailVerified") : t("dashboard.emailUnverified")}
                </span>
              </dd>
            </div>
            <div>
              <dt>{t("dashboard.type")}</dt>
              <dd>
                {me.developer_type === "enterprise" ? t("register.enterprise") : t("register.individual")}
                {me.company_name ? ` · ${me.company_name}` : ""}
              </dd>
            </div>
            <div>
              <dt>{t("dashboard.role")}</dt>
              <dd>{t(`dashboard.roles.${me.role}`)}</dd>
            </div>
            <div>
              <dt>{t("dashboard.memberSince")}</dt>
              <dd>{since}</dd>
            </div>
            <div>
              <dt>{t("dashboard.rateLimit")}</dt>
              <dd>
                {me.api_rate_limit
                  ? t("dashboard.rateLimitValue", { rate: number.format(me.api_rate_limit) })
                  : t("dashboard.unlimited")}
              </dd>
            </div>
            <div>
              <dt>{t("dashboard.quota")}</dt>
              <dd>
                {me.api_quota_limit
                  ? t("dashboard.quotaValue", { quota: number.format(me.api_quota_limit) })
                  : t("dashboard.quotaNone")}
              </dd>
            </div>
          </dl>
        </section>

        <section className="card card-plan" aria-labelledby="plan-title">
          <div className="card-header">
            <h2 id="plan-title" className="card-title">
              {t("dashboard.planTitle")}
            </h2>
            <Link to="/billing" className="link-small">
              {t("dashboard.manageBilling")}
            </Link>
          </div>
          {billing.isPending && (
            <p className="center-pad">
              <Spinner label={t("common.loading")} />
            </p>
          )}
          {/* The app's usual messages: the billing section's own (e.g. its "invoice not found") don't fit here. */}
          {billing.isError && <Alert tone="error">{errorMessage(t, billing.error)}</Alert>}
          {billing.data && <PlanSummary billing={billing.data} />}
        </section>
      </div>

      <DashboardSummary />

      <h2 className="section-title">{t("dashboard.nextTitle")}</h2>
      <ul className="grid grid-4 next-list">
        {next.map(({ key, icon: Icon, to }) => (
          <li key={key} className="card next-card next-card-live">
            <div className="next-card-top">
              <span className="next-icon">
                <Icon size={20} />
              </span>
              <span className="next-arrow" aria-hidden="true">
                →
              </span>
            </div>
            <h3 className="next-title">
              <Link to={to} className="next-link">
                {t(`dashboard.next.${key}.title`)}
              </Link>
            </h3>
            <p className="muted small">{t(`dashboard.next.${key}.body`)}</p>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** The plan card's content: the plan and its price, the month's included tokens, the credit, a pending change. */
function PlanSummary({ billing }: { billing: Billing }) {
  const { t } = useTranslation();
  const f = useFormat();
  const id = useId();
  const { plan, pending_plan: pending, balance } = billing;
  const { included_tokens: included, used_tokens: used } = billing.allowance;
  const percent = included > 0 ? Math.min(100, Math.round((used / included) * 100)) : 0;
  const tone = percent >= 100 ? " progress-full" : percent >= 80 ? " progress-high" : "";
  const usedText = t("dashboard.tokensUsed", { used: f.number(used), included: f.number(included) });
  return (
    <>
      <div className="plan">
        <SparkIcon size={22} className="plan-icon" />
        <div>
          <p className="plan-name" data-testid="dashboard-plan">
            {plan.name}
          </p>
          <p className="muted">{t("dashboard.planPrice", { price: f.money(plan.price) })}</p>
        </div>
      </div>
      <div className="plan-features">
        {included > 0 ? (
          <div>
            <p className="billing-allowance-text" id={`${id}-tokens`}>
              {usedText}
            </p>
            <div
              className={`progress${tone}`}
              role="progressbar"
              aria-label={t("dashboard.includedTokens")}
              aria-describedby={`${id}-tokens`}
              aria-valuemin={0}
              aria-valuemax={included}
              aria-valuenow={Math.min(used, included)}
              aria-valuetext={usedText}
            >
              <span className="progress-bar" style={{ width: `${percent}%` }} />
            </div>
          </div>
        ) : (
          <p className="billing-allowance-text">{t("dashboard.noIncludedTokens", { used: f.number(used) })}</p>
        )}
        <dl className="billing-facts">
          <div>
            <dt>{t("dashboard.balance")}</dt>
            <dd data-testid="dashboard-balance">{f.money(balance.total)}</dd>
          </div>
        </dl>
        {pending && (
          <Alert tone="info">{t("dashboard.pendingPlan", { plan: pending.name, date: f.date(pending.starts_at) })}</Alert>
        )}
        <div className="billing-actions">
          <Link className="btn btn-secondary" to="/billing/plans">
            {t("dashboard.changePlan")}
          </Link>
        </div>
      </div>
    </>
  );
}
