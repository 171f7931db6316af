import { useTranslation } from "react-i18next";
import type { ApiClient } from "../../api/client";
import type { DeliveryAttempt, DeliveryStatus, WebhookEndpoint } from "../../api/types";
import { endpointStatus } from "./endpointForm";
import type { EndpointStatus } from "./endpointForm";

export const WEBHOOKS_QUERY = ["webhooks"] as const;
export const EVENT_TYPES_QUERY = ["event-types"] as const;

export const webhookQuery = (client: ApiClient, id: string) => ({
  queryKey: [...WEBHOOKS_QUERY, "endpoint", id],
  queryFn: () => client.getWebhook(id),
});

/** The catalogue of event types changes only with a release: fetched once per visit. */
export const eventTypesQuery = (client: ApiClient) => ({
  queryKey: EVENT_TYPES_QUERY,
  queryFn: () => client.listEventTypes(),
  staleTime: 10 * 60_000,
});

const STATUS_TONE: Record<EndpointStatus, string> = {
  active: "pill-success",
  failing: "pill-warning",
  disabled: "pill-muted",
  gone: "pill-error",
  disabledFailing: "pill-error",
};

export function EndpointStatusPill({ endpoint }: { endpoint: WebhookEndpoint }) {
  const { t } = useTranslation();
  const status = endpointStatus(endpoint);
  return <span className={`pill ${STATUS_TONE[status]}`}>{t(`webhooks.status.${status}`)}</span>;
}

const DELIVERY_TONE: Record<DeliveryStatus, string> = {
  pending: "pill-warning",
  succeeded: "pill-success",
  failed: "pill-error",
};

export function DeliveryStatusPill({ status }: { status: DeliveryStatus }) {
  const { t } = useTranslation();
  return <span className={`pill ${DELIVERY_TONE[status]}`}>{t(`webhooks.deliveries.statusLabel.${status}`)}</span>;
}

/** Date and time in the reader's language. */
export function useDateTime() {
  const { i18n } = useTranslation();
  const format = new Intl.DateTimeFormat(i18n.language, { dateStyle: "medium", timeStyle: "medium" });
  return (ms: number) => format.format(new Date(ms));
}

/** One HTTP attempt: status code (or why there was none), time taken, error, the answer's first KiB. */
export function AttemptResult({ attempt }: { attempt: DeliveryAttempt }) {
  const { t, i18n } = useTranslation();
  const ok = attempt.status_code !== null && attempt.status_code >= 200 && attempt.status_code < 300 && !attempt.error;
  return (
    <div className="attempt" data-testid="attempt-result">
      <dl className="attempt-facts">
        <div>
          <dt>{t("webhooks.testDialog.statusCode")}</dt>
          <dd>
            {attempt.status_code === null ? (
              <span className="pill pill-error">{t("webhooks.testDialog.noStatus")}</span>
            ) : (
              <span className={`pill ${ok ? "pill-success" : "pill-error"}`}>{attempt.status_code}</span>
            )}
          </dd>
        </div>
        <div>
          <dt>{t("webhooks.testDialog.duration")}</dt>
          <dd>{t("webhooks.testDialog.durationValue", { ms: new Intl.NumberFormat(i18n.language).format(attempt.duration_ms) })}</dd>
        </div>
      </dl>
      {attempt.error && (
        <p className="attempt-error">
          <span className="field-label">{t("webhooks.testDialog.error")}: </span>
          <code>{attempt.error}</code>
        </p>
      )}
      <div className="field">
        <span className="field-label">{t("webhooks.testDialog.responseBody")}</span>
        {attempt.response_body ? (
          <pre className="json-block response-body" tabIndex={0}>
            {attempt.response_body}
          </pre>
        ) : (
          <p className="muted small">{t("webhooks.testDialog.emptyBody")}</p>
        )}
      </div>
    </div>
  );
}
