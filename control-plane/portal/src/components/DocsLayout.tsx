import { Link, Outlet, useLocation } from "react-router";
import { useTranslation } from "react-i18next";
import { useAuth } from "../auth/AuthProvider";
import { AppLayout } from "./AppLayout";
import { LanguageSwitcher } from "./LanguageSwitcher";
import { FullPageLoader } from "./Loader";
import { Logo } from "./Logo";

/**
 * The public docs (`/docs/…`): inside the app's shell for a signed-in
 * developer, under a plain header (language, sign in) for everyone else.
 */
export function DocsLayout() {
  const { status } = useAuth();
  if (status === "loading") return <FullPageLoader />;
  if (status === "authenticated") return <AppLayout />;
  return <PublicDocsLayout />;
}

function PublicDocsLayout() {
  const { t } = useTranslation();
  const location = useLocation();
  return (
    <div className="app docs-public">
      <a className="skip-link" href="#main">
        {t("nav.skip")}
      </a>
      <header className="app-header">
        <Link to="/" className="app-header-brand" aria-label={t("brand.name")}>
          <Logo />
        </Link>
        <div className="app-header-actions">
          <LanguageSwitcher />
          <Link className="btn btn-secondary" to={`/login?next=${encodeURIComponent(location.pathname)}`}>
            {t("login.submit")}
          </Link>
        </div>
      </header>
      <main id="main" className="app-main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
