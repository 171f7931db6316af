import { useEffect, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, NavLink, Outlet, useLocation } from "react-router";
import { useTranslation } from "react-i18next";
import { adminApi, setupQuery } from "../api/admin";
import { useAuth, useProfile } from "../auth/AuthProvider";
import { AccountMenu } from "./AccountMenu";
import { LanguageSwitcher } from "./LanguageSwitcher";
import { Logo } from "./Logo";
import {
  BookIcon,
  CardIcon,
  ChartIcon,
  ChecklistIcon,
  CloseIcon,
  CodeIcon,
  CubeIcon,
  HeartPulseIcon,
  InsightsIcon,
  HomeIcon,
  KeyIcon,
  LayersIcon,
  MenuIcon,
  PulseIcon,
  ReceiptIcon,
  ScrollIcon,
  ServerIcon,
  SlidersIcon,
  SparkIcon,
  TicketIcon,
  TrendIcon,
  UserIcon,
  UsersIcon,
  WebhookIcon,
} from "./icons";

/**
 * The signed-in shell: header (menu button on phones, language, account),
 * sidebar navigation (a drawer on phones) and the page.
 */
export function AppLayout() {
  const { t } = useTranslation();
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  // Operators (role admin) also see the business pages.
  const isOperator = useProfile().data?.role === "admin";

  // A navigation closes the drawer.
  useEffect(() => setMenuOpen(false), [location.pathname]);

  useEffect(() => {
    if (!menuOpen) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") setMenuOpen(false);
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [menuOpen]);

  // "Docs" is the guides; the API reference (also under /docs) has its own entry.
  const inGuides = location.pathname.startsWith("/docs") && !location.pathname.startsWith("/docs/api");

  return (
    <div className={`app${menuOpen ? " app-menu-open" : ""}`}>
      <a className="skip-link" href="#main">
        {t("nav.skip")}
      </a>
      <header className="app-header">
        <button
          type="button"
          className="icon-button menu-toggle"
          aria-label={menuOpen ? t("nav.closeMenu") : t("nav.openMenu")}
          aria-expanded={menuOpen}
          aria-controls="sidebar"
          onClick={() => setMenuOpen((o) => !o)}
        >
          {menuOpen ? <CloseIcon size={20} /> : <MenuIcon size={20} />}
        </button>
        <NavLink to="/" className="app-header-brand" aria-label={t("brand.name")}>
          <Logo />
        </NavLink>
        <div className="app-header-actions">
          <LanguageSwitcher />
          <AccountMenu />
        </div>
      </header>
      <div className="app-body">
        <nav id="sidebar" className="sidebar" aria-label={t("nav.main")}>
          <ul className="nav-list">
            <li>
              <NavLink to="/" end className="nav-item">
                <HomeIcon /> {t("nav.dashboard")}
              </NavLink>
            </li>
            <li>
              <NavLink to="/keys" className="nav-item">
                <KeyIcon /> {t("nav.apiKeys")}
              </NavLink>
            </li>
            <li>
              <NavLink to="/webhooks" className="nav-item">
                <WebhookIcon /> {t("nav.webhooks")}
              </NavLink>
            </li>
            <li>
              <NavLink to="/events" className="nav-item">
                <PulseIcon /> {t("nav.events")}
              </NavLink>
            </li>
            <li>
              <NavLink to="/usage" className="nav-item">
                <ChartIcon /> {t("nav.usage")}
              </NavLink>
            </li>
            <li>
              <NavLink to="/analytics" className="nav-item">
                <TrendIcon /> {t("nav.analytics")}
              </NavLink>
            </li>
            <li>
              <NavLink to="/tasks" className="nav-item">
                <SparkIcon /> {t("tasks.nav")}
              </NavLink>
            </li>
            <li>
              <NavLink to="/billing" className="nav-item">
                <CardIcon /> {t("nav.billing")}
              </NavLink>
            </li>
            <li>
              <NavLink to="/docs/api" className="nav-item">
                <CodeIcon /> {t("nav.apiReference")}
              </NavLink>
            </li>
            <li>
              <Link
                to="/docs"
                className={`nav-item${inGuides ? " active" : ""}`}
                aria-current={inGuides ? "page" : undefined}
              >
                <BookIcon /> {t("nav.docs")}
              </Link>
            </li>
          </ul>
          {isOperator && <AdminNav />}
          <p className="nav-heading">{t("nav.account")}</p>
          <ul className="nav-list">
            <li>
              <NavLink to="/profile" className="nav-item">
                <UserIcon /> {t("nav.profile")}
              </NavLink>
            </li>
          </ul>
        </nav>
        <div className="sidebar-scrim" onClick={() => setMenuOpen(false)} aria-hidden="true" />
        <main id="main" className="app-main" tabIndex={-1}>
          <Outlet />
        </main>
      </div>
    </div>
  );
}

const ADMIN_LINKS = [
  { to: "/admin/setup", key: "setup", icon: ChecklistIcon },
  { to: "/admin/developers", key: "developers", icon: UsersIcon },
  { to: "/admin/plans", key: "plans", icon: LayersIcon },
  { to: "/admin/providers", key: "providers", icon: ServerIcon },
  { to: "/admin/models", key: "models", icon: CubeIcon },
  { to: "/admin/invoices", key: "invoices", icon: ReceiptIcon },
  { to: "/admin/redemption-codes", key: "codes", icon: TicketIcon },
  { to: "/admin/audit-log", key: "audit", icon: ScrollIcon },
  { to: "/admin/health", key: "health", icon: HeartPulseIcon },
] as const;

/** The operators' group: the admin pages, Setup with the number of steps left while setup is unfinished. */
function AdminNav() {
  const { t } = useTranslation();
  const setup = useQuery(setupQuery(adminApi(useAuth().client)));
  const left = setup.data && !setup.data.done ? setup.data.steps.filter((s) => !s.done).length : 0;
  return (
    <>
      <p className="nav-heading" id="nav-admin-heading">
        {t("nav.admin.heading")}
      </p>
      <ul className="nav-list" aria-labelledby="nav-admin-heading">
        {ADMIN_LINKS.map(({ to, key, icon: Icon }) => (
          <li key={key}>
            <NavLink to={to} className="nav-item">
              <Icon /> {t(`nav.admin.${key}`)}
              {key === "setup" && left > 0 && (
                <>
                  <span className="badge" aria-hidden="true">
                    {left}
                  </span>{" "}
                  <span className="sr-only">{t("nav.admin.stepsLeft", { count: left })}</span>
                </>
              )}
            </NavLink>
          </li>
        ))}
        <li>
          <NavLink to="/admin/insights" className="nav-item">
            <InsightsIcon /> {t("nav.insights")}
          </NavLink>
        </li>
        <li>
          <NavLink to="/admin/settings" className="nav-item">
            <SlidersIcon /> {t("nav.admin.settings")}
          </NavLink>
        </li>
      </ul>
    </>
  );
}
