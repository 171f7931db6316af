import { useCallback, useId, useState } from "react";
import { useTranslation } from "react-i18next";
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useAuth } from "../../auth/AuthProvider";
import type { AccountEvent } from "../../api/types";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { Spinner } from "../../components/Loader";
import { ChevronIcon } from "../../components/icons";
import { errorMessage } from "../../lib/errors";
import { useDocumentTitle } from "../../lib/useDocumentTitle";
import { CopyButton } from "../keys/shared";
import { eventTypeDescription } from "../webhooks/eventTypes";
import { eventTypesQuery, useDateTime } from "../webhooks/shared";
import { useEventStream } from "./useEventStream";
import type { StreamState } from "./useEventStream";

export const EVENTS_QUERY = ["events"] as const;
export const EVENT_PAGE_SIZE = 25;
/** Live events kept in memory at most (older ones are in the paged list). */
const LIVE_MAX = 500;

/** Everything that happened in the account, newest first, live. */
export function EventsPage() {
  const { t } = useTranslation();
  const { client } = useAuth();
  const id = useId();
  useDocumentTitle(t("events.title"));
  const [type, setType] = useState("");
  const [live, setLive] = useState<AccountEvent[]>([]);
  const types = useQuery(eventTypesQuery(client));
  const onEvent = useCallback((event: AccountEvent) => {
    setLive((current) =>
      current.some((e) => e.id === event.id) ? current : [event, ...current].slice(0, LIVE_MAX),
    );
  }, []);
  const stream = useEventStream(client, onEvent);
  const events = useInfiniteQuery({
    queryKey: [...EVENTS_QUERY, type],
    queryFn: ({ pageParam }) =>
      client.listEvents({ types: type ? [type] : [], limit: EVENT_PAGE_SIZE, starting_after: pageParam }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => (last.has_more ? last.data[last.data.length - 1]?.id : undefined),
  });
  const listed = events.data?.pages.flatMap((p) => p.data) ?? [];
  const seen = new Set(listed.map((e) => e.id));
  // Live events matching the filter that the list does not have yet, on top.
  const fresh = live.filter((e) => !seen.has(e.id) && (!type || e.type === type));
  const rows = [...fresh, ...listed];
  const freshIds = new Set(fresh.map((e) => e.id));
  const typeOptions = [...new Set([...(types.data ?? []).map((e) => e.type), ...(type ? [type] : [])])];

  return (
    <div className="page">
      <div className="page-header page-header-row">
        <div>
          <h1 className="page-title">{t("events.title")}</h1>
          <p className="page-subtitle">{t("events.subtitle")}</p>
        </div>
        <LiveIndicator state={stream} />
      </div>

      <section className="card delivery-log" aria-labelledby={`${id}-title`}>
        <div className="delivery-log-header">
          <h2 className="sr-only" id={`${id}-title`}>
            {t("events.listLabel")}
          </h2>
          <div className="filters">
            <label className="filter">
              <span className="field-label">{t("events.typeFilter")}</span>
              <select className="input select" value={type} onChange={(e) => setType(e.target.value)}>
                <option value="">{t("events.allTypes")}</option>
                {typeOptions.map((option) => (
                  <option
                    key={option}
                    value={option}
                    title={
                      eventTypeDescription(t, option, types.data?.find((e) => e.type === option)?.description) ||
                      undefined
                    }
                  >
                    {option}
                  </option>
                ))}
              </select>
            </label>
          </div>
        </div>
        {events.isPending && (
          <div className="center-pad">
            <Spinner label={t("common.loading")} />
          </div>
        )}
        {events.isError && <Alert tone="error">{errorMessage(t, events.error)}</Alert>}
        {events.isSuccess && rows.length === 0 && (
          <p className="muted empty-note">{type ? t("events.emptyFiltered") : t("events.empty")}</p>
        )}
        {rows.length > 0 && (
          <ul className="delivery-list event-list" aria-label={t("events.listLabel")}>
            {rows.map((event) => (
              <EventRow key={event.id} event={event} isNew={freshIds.has(event.id)} />
            ))}
          </ul>
        )}
        {events.isFetchNextPageError && <Alert tone="error">{errorMessage(t, events.error)}</Alert>}
        {events.hasNextPage && (
          <div className="load-more">
            <Button variant="secondary" onClick={() => void events.fetchNextPage()} loading={events.isFetchingNextPage}>
              {events.isFetchingNextPage ? t("events.loadingMore") : t("events.loadMore")}
            </Button>
          </div>
        )}
      </section>
    </div>
  );
}

function LiveIndicator({ state }: { state: StreamState }) {
  const { t } = useTranslation();
  const label = state === "live" ? t("events.live") : state === "connecting" ? t("events.connecting") : t("events.offline");
  return (
    <span className={`live-indicator live-${state}`} role="status" data-testid="live-indicator">
      <span className="live-dot" aria-hidden="true" />
      {label}
    </span>
  );
}

function EventRow({ event, isNew }: { event: AccountEvent; isNew: boolean }) {
  const { t } = useTranslation();
  const dateTime = useDateTime();
  const [expanded, setExpanded] = useState(false);
  const panelId = `event-${event.id}-json`;
  const json = JSON.stringify(event, null, 2);
  return (
    <li className={`delivery event${isNew ? " event-new" : ""}`} aria-label={`${event.type} ${event.id}`}>
      <div className="delivery-summary">
        <button
          type="button"
          className="delivery-toggle"
          aria-expanded={expanded}
          aria-controls={panelId}
          onClick={() => setExpanded((e) => !e)}
        >
          <ChevronIcon size={16} className="chevron" />
          <span className="sr-only">{expanded ? t("events.hideJson") : t("events.showJson")}</span>
        </button>
        <code className="delivery-type">{event.type}</code>
        {isNew && <span className="pill pill-success">{t("events.isNew")}</span>}
        <span className="muted small delivery-time">{dateTime(event.created_at_ms)}</span>
        <code className="muted small delivery-meta">{event.id}</code>
      </div>
      {expanded && (
        <div id={panelId} className="delivery-attempts">
          <pre className="json-block" tabIndex={0} data-testid="event-json">
            {json}
          </pre>
          <div>
            <CopyButton text={json} label={t("events.copyJson")} />
          </div>
        </div>
      )}
    </li>
  );
}
