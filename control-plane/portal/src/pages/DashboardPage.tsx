import { Link } from "react-router";
import { useTranslation } from "react-i18next";
import { useQuery } from "@tanstack/react-query";
import { useAuth, useProfile } from "../auth/AuthProvider";
import { Alert } from "../components/Alert";
import { FullPageLoader } from "../components/Loader";
import { BookIcon, CardIcon, ChartIcon, CheckCircleIcon, KeyIcon, SparkIcon } from "../components/icons";
import { errorMessage } from "../lib/errors";
import { ResendButton } from "./ResendButton";
import { useDocumentTitle } from "../lib/useDocumentTitle";

export function DashboardPage() {
  const { t, i18n } = useTranslation();
  const { client } = useAuth();
  const profile = useProfile();
  useDocumentTitle(t("nav.dashboard"));
  const config = useQuery({ queryKey: ["auth-config"], queryFn: () => client.getAuthConfig(), staleTime: 60_000 });

  if (profile.isPending) return <FullPageLoader />;
  if (profile.isError) return <Alert tone="error">{errorMessage(t, profile.error)}</Alert>;
  const me = profile.data;
  const since = new Intl.DateTimeFormat(i18n.language, { dateStyle: "long" }).format(new Date(me.created_at_ms));
  const number = new Intl.NumberFormat(i18n.language);
  const firstName = me.full_name.trim().split(/\s+/)[0] || me.email;

  const next = [
    { key: "keys", icon: KeyIcon },
    { key: "usage", icon: ChartIcon },
    { key: "billing", icon: CardIcon },
    { key: "docs", icon: BookIcon },
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
                  : t("dashboard.unlimited")}
              </dd>
            </div>
          </dl>
        </section>

        <section className="card card-plan" aria-labelledby="plan-title">
          <div className="card-header">
            <h2 id="plan-title" className="card-title">
              {t("dashboard.planTitle")}
            </h2>
            <span className="badge">{t("common.comingSoon")}</span>
          </div>
          <div className="plan">
            <SparkIcon size={22} className="plan-icon" />
            <div>
              <p className="plan-name">{t("dashboard.planName")}</p>
              <p className="muted">{t("dashboard.planBody")}</p>
            </div>
          </div>
          <ul className="plan-features">
            {(["subscription", "payg", "invoices"] as const).map((key) => (
              <li key={key}>
                <CheckCircleIcon size={16} /> {t(`dashboard.planFeatures.${key}`)}
              </li>
            ))}
          </ul>
        </section>
      </div>

      <h2 className="section-title">{t("dashboard.nextTitle")}</h2>
      <ul className="grid grid-4 next-list">
        {next.map(({ key, icon: Icon }) =>
          key === "keys" ? (
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
                <Link to="/keys" className="next-link">
                  {t(`dashboard.next.${key}.title`)}
                </Link>
              </h3>
              <p className="muted small">{t(`dashboard.next.${key}.body`)}</p>
            </li>
          ) : (
            <li key={key} className="card next-card" aria-disabled="true">
              <div className="next-card-top">
                <span className="next-icon">
                  <Icon size={20} />
                </span>
                <span className="badge">{t("common.comingSoon")}</span>
              </div>
              <h3 className="next-title">{t(`dashboard.next.${key}.title`)}</h3>
              <p className="muted small">{t(`dashboard.next.${key}.body`)}</p>
            </li>
          ),
        )}
      </ul>
    </div>
  );
}
