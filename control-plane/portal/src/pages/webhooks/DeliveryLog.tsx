import { useCallback, useEffect, useId, useState, useSyncExternalStore } from "react";
import { useTranslation } from "react-i18next";
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useAuth } from "../../auth/AuthProvider";
import type { DeliveryStatus, WebhookDelivery, WebhookDeliveryDetail, WebhookEndpoint } from "../../api/types";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { Spinner } from "../../components/Loader";
import { ChevronIcon, RefreshIcon } from "../../components/icons";
import { errorMessage } from "../../lib/errors";
import { eventTypeDescription } from "./eventTypes";
import { AttemptResult, DeliveryStatusPill, WEBHOOKS_QUERY, eventTypesQuery, useDateTime } from "./shared";

export const DELIVERY_PAGE_SIZE = 20;
/** How often the log asks again while a delivery is still pending. */
export const DELIVERY_POLL_MS = 2_000;
/**
 * A pending delivery's `next_attempt_at_ms` can lie up to a minute ahead
 * while it is being sent right now: only a time further ahead than this is
 * shown as "next attempt", anything sooner as "sending…".
 */
export const NEXT_ATTEMPT_MARGIN_MS = 5_000;

const deliveryQueryKey = (deliveryId: string) => [...WEBHOOKS_QUERY, "delivery", deliveryId];
const STATUSES: DeliveryStatus[] = ["pending", "succeeded", "failed"];

/** An endpoint's deliveries, newest first, filtered and paged with `starting_after`. */
export function DeliveryLog({ endpoint }: { endpoint: WebhookEndpoint }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const id = useId();
  const [status, setStatus] = useState<DeliveryStatus | "">("");
  const [eventType, setEventType] = useState("");
  // Which rows show their attempts: kept here so a refresh that moves rows between pages keeps them open.
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(() => new Set());
  const queryClient = useQueryClient();
  const types = useQuery(eventTypesQuery(client));
  const toggle = useCallback(
    (deliveryId: string) =>
      setExpanded((current) => {
        const next = new Set(current);
        if (!next.delete(deliveryId)) next.add(deliveryId);
        return next;
      }),
    [],
  );
  // Open rows whose detail says pending, as a stable string so a change re-renders (and re-times) the log.
  const pendingDetails = useSyncExternalStore(
    useCallback((onChange: () => void) => queryClient.getQueryCache().subscribe(onChange), [queryClient]),
    () =>
      [...expanded]
        .filter((deliveryId) => queryClient.getQueryData<WebhookDeliveryDetail>(deliveryQueryKey(deliveryId))?.status === "pending")
        .sort()
        .join(" "),
  );
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
    // While anything listed (or an open row's detail) is pending, ask again: a refetch of an
    // infinite query refreshes every page loaded so far, so "Load more" pages stay consistent.
    refetchInterval: (query) => {
      const openPending = new Set(pendingDetails.split(" ").filter(Boolean));
      const pending = (query.state.data?.pages ?? []).some((page) =>
        page.data.some((d) => d.status === "pending" || openPending.has(d.id)),
      );
      return pending ? DELIVERY_POLL_MS : false;
    },
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
                <option
                  key={type}
                  value={type}
                  title={eventTypeDescription(t, type, types.data?.find((e) => e.type === type)?.description) || undefined}
                >
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
            <DeliveryRow
              key={delivery.id}
              delivery={delivery}
              endpoint={endpoint}
              expanded={expanded.has(delivery.id)}
              onToggle={toggle}
            />
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

/** The current time, ticking every second while `active` (and only then). */
function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

function DeliveryRow({
  delivery,
  endpoint,
  expanded,
  onToggle,
}: {
  delivery: WebhookDelivery;
  endpoint: WebhookEndpoint;
  expanded: boolean;
  onToggle: (deliveryId: string) => void;
}) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const queryClient = useQueryClient();
  const dateTime = useDateTime();
  const pending = delivery.status === "pending";
  const now = useNow(pending);
  // The retry time is only worth showing when it is clearly ahead; otherwise it is being sent now.
  const nextAttemptAt =
    pending && delivery.next_attempt_at_ms !== null && delivery.next_attempt_at_ms - now > NEXT_ATTEMPT_MARGIN_MS
      ? delivery.next_attempt_at_ms
      : null;
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
          onClick={() => onToggle(delivery.id)}
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
      {(delivery.last_error || pending) && (
        <p className="small delivery-detail">
          {delivery.last_error && <code className="delivery-error">{delivery.last_error}</code>}
          {pending && (
            <span className="muted delivery-next">
              {" "}
              {nextAttemptAt !== null
                ? t("webhooks.deliveries.nextAttempt", { time: dateTime(nextAttemptAt) })
                : t("webhooks.deliveries.sending")}
            </span>
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
          <Attempts delivery={delivery} />
        </div>
      )}
    </li>
  );
}

/** The attempts of an open row; asked again while the delivery is pending and whenever the row changes. */
function Attempts({ delivery }: { delivery: WebhookDelivery }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const queryClient = useQueryClient();
  const dateTime = useDateTime();
  const listedPending = delivery.status === "pending";
  const detail = useQuery({
    queryKey: deliveryQueryKey(delivery.id),
    queryFn: () => client.getDelivery(delivery.id),
    refetchInterval: (query) =>
      listedPending || query.state.data?.status === "pending" ? DELIVERY_POLL_MS : false,
  });
  // The list saw a new attempt or a final status: the detail follows without waiting for its timer.
  const stale =
    detail.data !== undefined &&
    (detail.data.status !== delivery.status || detail.data.attempts.length < delivery.attempts);
  useEffect(() => {
    if (stale) void queryClient.invalidateQueries({ queryKey: deliveryQueryKey(delivery.id), exact: true });
  }, [stale, delivery.status, delivery.attempts, delivery.id, queryClient]);
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
