import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { useAuth } from "../../auth/AuthProvider";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { FullPageLoader } from "../../components/Loader";
import { EditIcon, KeyIcon, RefreshIcon, SendIcon, TrashIcon } from "../../components/icons";
import { errorMessage } from "../../lib/errors";
import { useDocumentTitle } from "../../lib/useDocumentTitle";
import { DeliveryLog } from "./DeliveryLog";
import { EndpointDialogs, useBackToList, useToggleEnabled } from "./dialogs";
import type { EndpointDialog } from "./dialogs";
import { eventTypesSummary } from "./endpointForm";
import { EndpointStatusPill, useDateTime, webhookQuery } from "./shared";

/** One endpoint: its settings, secret, test, and delivery log. */
export function WebhookDetailPage() {
  const { t } = useTranslation();
  const { client } = useAuth();
  const { id = "" } = useParams();
  const endpoint = useQuery(webhookQuery(client, id));
  const [open, setOpen] = useState<EndpointDialog>(null);
  const toggle = useToggleEnabled();
  const back = useBackToList();
  const dateTime = useDateTime();
  useDocumentTitle(endpoint.data?.url ?? t("webhooks.title"));

  if (endpoint.isPending) return <FullPageLoader />;
  if (endpoint.isError) {
    return (
      <div className="page">
        <p>
          <Link to="/webhooks">← {t("webhooks.back")}</Link>
        </p>
        <Alert tone="error">{errorMessage(t, endpoint.error)}</Alert>
      </div>
    );
  }
  const e = endpoint.data;
  return (
    <div className="page">
      <p className="back-link">
        <Link to="/webhooks">← {t("webhooks.back")}</Link>
      </p>
      <div className="page-header">
        <div className="key-title">
          <h1 className="page-title endpoint-url">{e.url}</h1>
          <EndpointStatusPill endpoint={e} />
        </div>
        {e.description && <p className="page-subtitle">{e.description}</p>}
      </div>

      {!e.enabled && e.disabled_reason && (
        <Alert tone={e.disabled_reason === "manual" ? "info" : "warning"}>
          {t(`webhooks.disabledReason.${e.disabled_reason}`)}
        </Alert>
      )}
      {e.enabled && e.failing_since_ms !== null && (
        <Alert tone="warning">{t("webhooks.failingSince", { time: dateTime(e.failing_since_ms) })}</Alert>
      )}
      {toggle.isError && <Alert tone="error">{errorMessage(t, toggle.error)}</Alert>}

      <section className="card endpoint-card">
        <dl className="key-facts endpoint-facts">
          <div>
            <dt>{t("webhooks.events")}</dt>
            <dd title={e.event_types.join("\n")}>{eventTypesSummary(e.event_types, t)}</dd>
          </div>
          <div>
            <dt>{t("webhooks.retries")}</dt>
            <dd>{e.max_retries}</dd>
          </div>
          <div>
            <dt>{t("webhooks.secret")}</dt>
            <dd>
              <code className="key-prefix">{e.secret_hint}</code>
            </dd>
          </div>
          <div>
            <dt>{t("webhooks.created")}</dt>
            <dd>{dateTime(e.created_at_ms)}</dd>
          </div>
        </dl>
        {e.previous_secret_expires_at_ms !== null && e.previous_secret_expires_at_ms > Date.now() && (
          <p className="muted small">{t("webhooks.previousSecret", { time: dateTime(e.previous_secret_expires_at_ms) })}</p>
        )}
        <div className="key-actions endpoint-actions" role="group" aria-label={t("webhooks.actionsFor", { url: e.url })}>
          <Button variant="ghost" className="btn-sm" onClick={() => setOpen({ kind: "test", endpoint: e })}>
            <SendIcon size={16} /> {t("webhooks.test")}
          </Button>
          <Button variant="ghost" className="btn-sm" onClick={() => setOpen({ kind: "edit", endpoint: e })}>
            <EditIcon size={16} /> {t("webhooks.edit")}
          </Button>
          <Button variant="ghost" className="btn-sm" onClick={() => setOpen({ kind: "reveal", endpoint: e })}>
            <KeyIcon size={16} /> {t("webhooks.reveal")}
          </Button>
          <Button variant="ghost" className="btn-sm" onClick={() => setOpen({ kind: "rotate", endpoint: e })}>
            <RefreshIcon size={16} /> {t("webhooks.rotate")}
          </Button>
          <Button variant="ghost" className="btn-sm" onClick={() => setOpen({ kind: "recover", endpoint: e })}>
            <RefreshIcon size={16} /> {t("webhooks.recover")}
          </Button>
          <Button variant="ghost" className="btn-sm" onClick={() => toggle.mutate(e)} loading={toggle.isPending}>
            {e.enabled ? t("webhooks.disable") : t("webhooks.enable")}
          </Button>
          <Button
            variant="ghost"
            className="btn-sm btn-ghost-danger"
            onClick={() => setOpen({ kind: "delete", endpoint: e })}
          >
            <TrashIcon size={16} /> {t("webhooks.delete")}
          </Button>
        </div>
      </section>

      <DeliveryLog endpoint={e} />

      <EndpointDialogs open={open} setOpen={setOpen} afterDelete={back} />
    </div>
  );
}
