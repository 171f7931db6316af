import { Link, Outlet } from "react-router";
import { useTranslation } from "react-i18next";
import { LanguageSwitcher } from "./LanguageSwitcher";
import { Logo } from "./Logo";
import { useDocumentTitle } from "../lib/useDocumentTitle";

/** Sign-in, sign-up and the emailed-link pages: one calm card in the middle. */
export function AuthLayout() {
  const { t } = useTranslation();
  return (
    <div className="auth">
      <header className="auth-header">
        <Link to="/" className="auth-brand" aria-label={t("brand.name")}>
          <Logo />
        </Link>
        <LanguageSwitcher />
      </header>
      <main className="auth-main">
        <Outlet />
      </main>
      <footer className="auth-footer">{t("brand.tagline")}</footer>
    </div>
  );
}

/** The card every auth page sits in. */
export function AuthCard({
  title,
  subtitle,
  icon,
  children,
  footer,
}: {
  title: string;
  subtitle?: React.ReactNode;
  icon?: React.ReactNode;
  children?: React.ReactNode;
  footer?: React.ReactNode;
}) {
  useDocumentTitle(title);
  return (
    <section className="auth-card" aria-labelledby="auth-title">
      {icon && <div className="auth-card-icon">{icon}</div>}
      <h1 id="auth-title" className="auth-title">
        {title}
      </h1>
      {subtitle && <p className="auth-subtitle">{subtitle}</p>}
      {children}
      {footer && <div className="auth-card-footer">{footer}</div>}
    </section>
  );
}
