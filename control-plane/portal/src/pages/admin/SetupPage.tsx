import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { Link, Navigate } from "react-router";
import { setupQuery, useAdminApi } from "../../api/admin";
import type { SetupStep } from "../../api/admin";
import { Alert } from "../../components/Alert";
import { FullPageLoader } from "../../components/Loader";
import { CheckCircleIcon, ChevronIcon } from "../../components/icons";
import { AdminHeader, LoadState, Pill } from "./shared";

/** Where each step is done in the console. */
const STEP_LINKS = {
  provider: "/admin/providers",
  model: "/admin/models",
  plan: "/admin/plans",
  email: "/admin/settings",
  payment: "/admin/settings",
} as const;
const KNOWN_STEPS = ["provider", "model", "plan", "email", "payment"] as const;
type KnownStep = (typeof KNOWN_STEPS)[number];
const isKnown = (id: string): id is KnownStep => (KNOWN_STEPS as readonly string[]).includes(id);

/** `/admin`: the checklist while setup is unfinished, then the developers. */
export function AdminHomePage() {
  const api = useAdminApi();
  const setup = useQuery(setupQuery(api));
  if (setup.isPending) return <FullPageLoader />;
  if (setup.data?.done) return <Navigate to="/admin/developers" replace />;
  return <SetupPage />;
}

/** `/admin/setup`: what is left before the platform can sell a model. */
export function SetupPage() {
  const { t } = useTranslation();
  const api = useAdminApi();
  const setup = useQuery(setupQuery(api));
  const steps = setup.data?.steps ?? [];
  const left = steps.filter((s) => !s.done).length;
  return (
    <div className="page">
      <AdminHeader title={t("admin.setup.title")} subtitle={t("admin.setup.subtitle")} />
      <LoadState query={setup} />
      {setup.data?.done && <Alert tone="success" title={t("admin.setup.doneTitle")}>{t("admin.setup.doneBody")}</Alert>}
      {setup.data && !setup.data.done && (
        <p className="muted" role="status">
          {t("admin.setup.left", { count: left })}
        </p>
      )}
      {steps.length > 0 && (
        <section className="card" aria-label={t("admin.setup.listLabel")}>
          <ol className="setup-list">
            {steps.map((step) => (
              <StepRow key={step.id} step={step} />
            ))}
          </ol>
        </section>
      )}
    </div>
  );
}

function StepRow({ step }: { step: SetupStep }) {
  const { t } = useTranslation();
  const id = step.id;
  const title = isKnown(id) ? t(`admin.setup.steps.${id}`) : id;
  const titleId = `setup-step-${step.id}`;
  return (
    <li className={`setup-step${step.done ? " setup-step-done" : ""}`} aria-labelledby={titleId}>
      <CheckCircleIcon className="setup-step-icon" size={20} />
      <div>
        <h2 className="setup-step-title" id={titleId}>
          {title}
        </h2>
        <p className="setup-step-hint small muted">{step.hint}</p>
      </div>
      <div className="admin-row-actions">
        <Pill tone={step.done ? "success" : "warning"}>{step.done ? t("admin.setup.done") : t("admin.setup.todo")}</Pill>
        {isKnown(id) && !step.done && (
          <Link className="btn btn-secondary btn-sm" to={STEP_LINKS[id]}>
            {t(`admin.setup.go.${id}`)} <ChevronIcon size={14} />
          </Link>
        )}
      </div>
    </li>
  );
}
