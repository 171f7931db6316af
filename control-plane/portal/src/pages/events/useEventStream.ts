import { useEffect, useRef, useState } from "react";
import type { ApiClient } from "../../api/client";
import { ApiError } from "../../api/errors";
import type { AccountEvent } from "../../api/types";
import { SseParser, readEventStream } from "../../lib/sse";

export type StreamState = "connecting" | "live" | "offline";

/** Reconnection delays; tests shorten them. */
export const streamTiming = { firstDelayMs: 1000, maxDelayMs: 30_000 };

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Follows `GET /developer/events/stream` while mounted: each event goes to
 * `onEvent`; a dropped connection is reopened with growing delays, sending
 * `Last-Event-ID` so nothing in between is missed.
 */
export function useEventStream(client: ApiClient, onEvent: (event: AccountEvent) => void): StreamState {
  const [state, setState] = useState<StreamState>("connecting");
  const handler = useRef(onEvent);
  handler.current = onEvent;

  useEffect(() => {
    const abort = new AbortController();
    const { signal } = abort;
    let lastEventId: string | null = null;
    let serverRetryMs: number | null = null;

    void (async () => {
      let failures = 0;
      while (!signal.aborted) {
        let opened = false;
        try {
          const res = await client.openEventStream(lastEventId, signal);
          if (signal.aborted) return;
          if (!res.body) throw new ApiError(res.status, "unexpected_response", "the stream has no body");
          opened = true;
          failures = 0;
          setState("live");
          const parser = new SseParser({
            onMessage: (message) => {
              if (message.id) lastEventId = message.id;
              let event: AccountEvent;
              try {
                event = JSON.parse(message.data) as AccountEvent;
              } catch {
                return; // not an event: ignored
              }
              if (event && typeof event.id === "string") handler.current(event);
            },
            onRetry: (ms) => {
              serverRetryMs = ms;
            },
          });
          await readEventStream(res.body, parser, signal);
          if (parser.lastEventId) lastEventId = parser.lastEventId;
        } catch (error) {
          if (signal.aborted) return;
          // A refused session ends it; the app goes to sign-in and this unmounts.
          if (error instanceof ApiError && error.status === 401) return;
        }
        if (signal.aborted) return;
        setState("offline");
        if (!opened) failures += 1;
        const backoff = Math.min(streamTiming.maxDelayMs, streamTiming.firstDelayMs * 2 ** Math.max(0, failures - 1));
        await sleep(opened ? (serverRetryMs ?? streamTiming.firstDelayMs) : backoff, signal);
      }
    })();

    return () => abort.abort();
  }, [client]);

  return state;
}
