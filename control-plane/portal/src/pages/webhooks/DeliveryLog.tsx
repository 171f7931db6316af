import { useId, useState } from "react";
import { useTranslation } from "react-i18next";
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useAuth } from "../../auth/AuthProvider";
import type { DeliveryStatus, WebhookDelivery, WebhookEndpoint } from "../../api/types";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { Spinner } from "../../components/Loader";
import { ChevronIcon, RefreshIcon } from "../../components/icons";
import { errorMessage } from "../../lib/errors";
import { AttemptResult, DeliveryStatusPill, WEBHOOKS_QUERY, eventTypesQuery, useDateTime } from "./shared";

export const DELIVERY_PAGE_SIZE = 20;
const STATUSES: DeliveryStatus[] = ["pending", "succeeded", "failed"];

/** An endpoint's deliveries, newest first, filtered and paged with `starting_after`. */
export function DeliveryLog({ endpoint }: { endpoint: WebhookEndpoint }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const id = useId();
  const [status, setStatus] = useState<DeliveryStatus | "">("");
  const [eventType, setEventType] = useState("");
  const types = useQuery(eventTypesQuery(client));
  const deliveries = useInfiniteQuery({
    queryKey: [...WEBHOOKS_QUERY, "deliveries", endpoint.id, status, eventType],
    queryFn: ({ pageParam }) =>
      client.listDeliveries(endpoint.id, {
        status: status || undefined,
        event_type: eventType || undefined,
        limit: DELIVERY_PAGE_SIZE,
        starting_after: pageParam,
      }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => (last.has_more ? last.data[last.data.length - 1]?.id : undefined),
  });
  const rows = deliveries.data?.pages.flatMap((p) => p.data) ?? [];
  const typeOptions = [...new Set([...(types.data ?? []).map((e) => e.type), ...(eventType ? [eventType] : [])])];

  return (
    <section className="card delivery-log" aria-labelledby={`${id}-title`}>
      <div className="delivery-log-header">
        <h2 className="card-title" id={`${id}-title`}>
          {t("webhooks.deliveries.title")}
        </h2>
        <div className="filters" role="group" aria-label={t("webhooks.deliveries.filtersLabel")}>
          <label className="filter">
            <span className="field-label">{t("webhooks.deliveries.status")}</span>
            <select
              className="input select"
              value={status}
              onChange={(e) => setStatus(e.target.value as DeliveryStatus | "")}
            >
              <option value="">{t("webhooks.deliveries.anyStatus")}</option>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {t(`webhooks.deliveries.statusLabel.${s}`)}
                </option>
              ))}
            </select>
          </label>
          <label className="filter">
            <span className="field-label">{t("webhooks.deliveries.eventType")}</span>
            <select className="input select" value={eventType} onChange={(e) => setEventType(e.target.value)}>
              <option value="">{t("webhooks.deliveries.anyEventType")}</option>
              {typeOptions.map((type) => (
                <option key={type} value={type}>
                  {type}
                </option>
              ))}
            </select>
          </label>
        </div>
      </div>
      {deliveries.isPending && (
        <div className="center-pad">
          <Spinner label={t("common.loading")} />
        </div>
      )}
      {deliveries.isError && <Alert tone="error">{errorMessage(t, deliveries.error)}</Alert>}
      {deliveries.isSuccess && rows.length === 0 && <p className="muted empty-note">{t("webhooks.deliveries.empty")}</p>}
      {rows.length > 0 && (
        <ul className="delivery-list">
          {rows.map((delivery) => (
            <DeliveryRow key={delivery.id} delivery={delivery} endpoint={endpoint} />
          ))}
        </ul>
      )}
      {deliveries.isFetchNextPageError && <Alert tone="error">{errorMessage(t, deliveries.error)}</Alert>}
      {deliveries.hasNextPage && (
        <div className="load-more">
          <Button
            variant="secondary"
            onClick={() => void deliveries.fetchNextPage()}
            loading={deliveries.isFetchingNextPage}
          >
            {deliveries.isFetchingNextPage ? t("webhooks.deliveries.loadingMore") : t("webhooks.deliveries.loadMore")}
          </Button>
        </div>
      )}
    </section>
  );
}

function DeliveryRow({ delivery, endpoint }: { delivery: WebhookDelivery; endpoint: WebhookEndpoint }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const queryClient = useQueryClient();
  const dateTime = useDateTime();
  const [expanded, setExpanded] = useState(false);
  const panelId = `delivery-${delivery.id}-attempts`;
  const replay = useMutation({
    mutationFn: () => client.replayEvent(delivery.event_id, endpoint.id),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: [...WEBHOOKS_QUERY, "deliveries", endpoint.id] }),
  });
  return (
    <li className="delivery" aria-label={`${delivery.event_type} ${delivery.id}`}>
      <div className="delivery-summary">
        <button
          type="button"
          className="delivery-toggle"
          aria-expanded={expanded}
          aria-controls={panelId}
          onClick={() => setExpanded((e) => !e)}
        >
          <ChevronIcon size={16} className="chevron" />
          <span className="sr-only">{expanded ? t("webhooks.deliveries.hideAttempts") : t("webhooks.deliveries.showAttempts")}</span>
        </button>
        <DeliveryStatusPill status={delivery.status} />
        <code className="delivery-type">{delivery.event_type}</code>
        <span className="muted small delivery-time">{dateTime(delivery.created_at_ms)}</span>
        <span className="small delivery-meta">
          {t("webhooks.deliveries.attemptsCount", { count: delivery.attempts })}
          {delivery.last_status_code !== null && <> · HTTP {delivery.last_status_code}</>}
        </span>
        <Button
          variant="ghost"
          className="btn-sm delivery-replay"
          onClick={() => replay.mutate()}
          loading={replay.isPending}
        >
          <RefreshIcon size={14} /> {replay.isPending ? t("webhooks.deliveries.replaying") : t("webhooks.deliveries.replay")}
        </Button>
      </div>
      {(delivery.last_error || (delivery.status === "pending" && delivery.next_attempt_at_ms)) && (
        <p className="small delivery-detail">
          {delivery.last_error && <code className="delivery-error">{delivery.last_error}</code>}
          {delivery.status === "pending" && delivery.next_attempt_at_ms && (
            <span className="muted"> {t("webhooks.deliveries.nextAttempt", { time: dateTime(delivery.next_attempt_at_ms) })}</span>
          )}
        </p>
      )}
      {replay.isSuccess && <p className="small delivery-note" role="status">{t("webhooks.deliveries.replayed")}</p>}
      {replay.isError && <Alert tone="error">{errorMessage(t, replay.error)}</Alert>}
      {expanded && (
        <div id={panelId} className="delivery-attempts">
          <p className="muted small">
            {t("webhooks.deliveries.event")}: <code>{delivery.event_id}</code> · <code>{delivery.id}</code>
          </p>
          <Attempts deliveryId={delivery.id} />
        </div>
      )}
    </li>
  );
}

function Attempts({ deliveryId }: { deliveryId: string }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const dateTime = useDateTime();
  const detail = useQuery({
    queryKey: [...WEBHOOKS_QUERY, "delivery", deliveryId],
    queryFn: () => client.getDelivery(deliveryId),
  });
  if (detail.isPending) return <Spinner label={t("common.loading")} />;
  if (detail.isError) return <Alert tone="error">{errorMessage(t, detail.error)}</Alert>;
  if (detail.data.attempts.length === 0) return <p className="muted small">{t("webhooks.deliveries.noAttempts")}</p>;
  return (
    <ol className="attempt-list">
      {detail.data.attempts.map((attempt) => (
        <li key={attempt.id}>
          <p className="small attempt-time">
            {t("webhooks.deliveries.attemptedAt")}: {dateTime(attempt.attempted_at_ms)}
          </p>
          <AttemptResult attempt={attempt} />
        </li>
      ))}
    </ol>
  );
}
