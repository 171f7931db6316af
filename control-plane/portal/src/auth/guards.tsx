import { Navigate, Outlet, useLocation, useSearchParams } from "react-router";
import { useTranslation } from "react-i18next";
import { useAuth, useProfile } from "./AuthProvider";
import { Alert } from "../components/Alert";
import { FullPageLoader } from "../components/Loader";

/** Only same-site paths are followed after sign-in (no open redirects). */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  return next;
}

/** Pages for signed-in developers: others go to sign-in and come back after. */
export function RequireAuth() {
  const { status } = useAuth();
  const location = useLocation();
  if (status === "loading") return <FullPageLoader />;
  if (status === "anonymous") {
    const next = location.pathname + location.search;
    const to = next === "/" ? "/login" : `/login?next=${encodeURIComponent(next)}`;
    return <Navigate to={to} replace />;
  }
  return <Outlet />;
}

/** Sign-in and sign-up: a signed-in developer goes straight on. */
export function GuestOnly() {
  const { status } = useAuth();
  const [params] = useSearchParams();
  if (status === "loading") return <FullPageLoader />;
  if (status === "authenticated") return <Navigate to={safeNext(params.get("next"))} replace />;
  return <Outlet />;
}

/**
 * The operators' pages (`/admin/…`, accounts whose role is admin): anyone
 * else sees why, and no operator route is called. The server refuses them
 * anyway (403); this keeps developers from a page of errors.
 */
export function RequireOperator() {
  const { t } = useTranslation();
  const profile = useProfile();
  if (profile.isPending) return <FullPageLoader />;
  if (profile.data?.role !== "admin") {
    return (
      <div className="page">
        <div className="page-header">
          <h1 className="page-title">{t("admin.title")}</h1>
        </div>
        <Alert tone="warning" title={t("admin.forbiddenTitle")}>
          {t("admin.forbiddenBody")}
        </Alert>
      </div>
    );
  }
  return <Outlet />;
}
