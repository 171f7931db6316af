import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { useAuth } from "../../auth/AuthProvider";
import type { WebhookEndpoint } from "../../api/types";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { FullPageLoader } from "../../components/Loader";
import { ChartIcon, EditIcon, PlusIcon, SendIcon, TrashIcon, WebhookIcon } from "../../components/icons";
import { errorMessage } from "../../lib/errors";
import { useDocumentTitle } from "../../lib/useDocumentTitle";
import { EndpointDialogs, useToggleEnabled } from "./dialogs";
import type { EndpointDialog } from "./dialogs";
import { eventTypesSummary } from "./endpointForm";
import { EndpointStatusPill, WEBHOOKS_QUERY, useDateTime } from "./shared";

/** The developer's webhook endpoints: list, add, edit, test, enable/disable, delete. */
export function WebhooksPage() {
  const { t } = useTranslation();
  const { client } = useAuth();
  useDocumentTitle(t("webhooks.title"));
  const list = useQuery({ queryKey: [...WEBHOOKS_QUERY, "list"], queryFn: () => client.listWebhooks() });
  const [open, setOpen] = useState<EndpointDialog>(null);

  if (list.isPending) return <FullPageLoader />;
  const endpoints = list.data;

  return (
    <div className="page">
      <div className="page-header page-header-row">
        <div>
          <h1 className="page-title">{t("webhooks.title")}</h1>
          <p className="page-subtitle">{t("webhooks.subtitle")}</p>
        </div>
        {endpoints && endpoints.length > 0 && (
          <Button onClick={() => setOpen({ kind: "create" })}>
            <PlusIcon size={16} /> {t("webhooks.create")}
          </Button>
        )}
      </div>

      {list.isError && <Alert tone="error">{errorMessage(t, list.error)}</Alert>}

      {endpoints && endpoints.length === 0 && (
        <section className="card empty">
          <span className="empty-icon">
            <WebhookIcon size={24} />
          </span>
          <h2 className="empty-title">{t("webhooks.emptyTitle")}</h2>
          <p className="muted">{t("webhooks.emptyBody")}</p>
          <Button onClick={() => setOpen({ kind: "create" })}>
            <PlusIcon size={16} /> {t("webhooks.create")}
          </Button>
        </section>
      )}

      {endpoints && endpoints.length > 0 && (
        <section className="card key-list-card" aria-label={t("webhooks.listLabel")}>
          <ul className="key-list">
            {endpoints.map((endpoint) => (
              <EndpointRow key={endpoint.id} endpoint={endpoint} open={setOpen} />
            ))}
          </ul>
        </section>
      )}

      <EndpointDialogs open={open} setOpen={setOpen} />
    </div>
  );
}

function EndpointRow({ endpoint, open }: { endpoint: WebhookEndpoint; open: (o: EndpointDialog) => void }) {
  const { t } = useTranslation();
  const dateTime = useDateTime();
  const toggle = useToggleEnabled();
  const titleId = `webhook-${endpoint.id}-url`;
  return (
    <li className={`key-row endpoint-row${endpoint.enabled ? "" : " key-row-disabled"}`} aria-labelledby={titleId}>
      <div className="key-main">
        <div className="key-title">
          <h3 className="key-name endpoint-url" id={titleId}>
            <Link to={`/webhooks/${encodeURIComponent(endpoint.id)}`}>{endpoint.url}</Link>
          </h3>
          <EndpointStatusPill endpoint={endpoint} />
        </div>
        {endpoint.description && <p className="muted small endpoint-description">{endpoint.description}</p>}
        {!endpoint.enabled && endpoint.disabled_reason && (
          <p className="small endpoint-reason">{t(`webhooks.disabledReason.${endpoint.disabled_reason}`)}</p>
        )}
        {endpoint.enabled && endpoint.failing_since_ms !== null && (
          <p className="small endpoint-reason">{t("webhooks.failingSince", { time: dateTime(endpoint.failing_since_ms) })}</p>
        )}
      </div>
      <dl className="key-facts endpoint-facts">
        <div>
          <dt>{t("webhooks.events")}</dt>
          <dd title={endpoint.event_types.join("\n")}>{eventTypesSummary(endpoint.event_types, t)}</dd>
        </div>
        <div>
          <dt>{t("webhooks.retries")}</dt>
          <dd>{endpoint.max_retries}</dd>
        </div>
        <div>
          <dt>{t("webhooks.secret")}</dt>
          <dd>
            <code className="key-prefix">{endpoint.secret_hint}</code>
          </dd>
        </div>
      </dl>
      <div className="key-actions" role="group" aria-label={t("webhooks.actionsFor", { url: endpoint.url })}>
        <Link className="btn btn-ghost btn-sm" to={`/webhooks/${encodeURIComponent(endpoint.id)}`}>
          <ChartIcon size={16} /> {t("webhooks.details")}
        </Link>
        <button type="button" className="btn btn-ghost btn-sm" onClick={() => open({ kind: "test", endpoint })}>
          <SendIcon size={16} /> {t("webhooks.test")}
        </button>
        <button type="button" className="btn btn-ghost btn-sm" onClick={() => open({ kind: "edit", endpoint })}>
          <EditIcon size={16} /> {t("webhooks.edit")}
        </button>
        <button
          type="button"
          className="btn btn-ghost btn-sm btn-ghost-danger"
          onClick={() => open({ kind: "delete", endpoint })}
        >
          <TrashIcon size={16} /> {t("webhooks.delete")}
        </button>
        <button
          type="button"
          className="btn btn-ghost btn-sm"
          onClick={() => toggle.mutate(endpoint)}
          disabled={toggle.isPending}
        >
          {endpoint.enabled ? t("webhooks.disable") : t("webhooks.enable")}
        </button>
      </div>
      {toggle.isError && (
        <div className="endpoint-row-error">
          <Alert tone="error">{errorMessage(t, toggle.error)}</Alert>
        </div>
      )}
    </li>
  );
}
