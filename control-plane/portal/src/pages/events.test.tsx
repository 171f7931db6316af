import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../i18n";
import { REFRESH_TOKEN_KEY } from "../api/tokens";
import type { AccountEvent } from "../api/types";
import { json, sessionServer } from "../test/fakeServer";
import { renderApp } from "../test/renderApp";
import { streamTiming } from "./events/useEventStream";

const event = (n: number, type = "api_key.created"): AccountEvent => ({
  id: `evt_${n}`,
  type,
  created_at_ms: Date.UTC(2026, 5, 1, 12, n),
  data: { key_id: `key_${n}`, name: `Key ${n}` },
});

/** An event-stream body the test writes to, in arbitrary chunks. */
function controlledStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  const encoder = new TextEncoder();
  return {
    response: () => new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } }),
    write: (text: string) => controller.enqueue(encoder.encode(text)),
    close: () => controller.close(),
  };
}

const sse = (e: AccountEvent) => `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;

const eventTypes = [
  { type: "api_key.created", description: "", example: {} },
  { type: "task.failed", description: "", example: {} },
];

const timing = { ...streamTiming };
beforeEach(async () => {
  await i18n.changeLanguage("en");
  localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
  streamTiming.firstDelayMs = 20;
});
afterEach(() => Object.assign(streamTiming, timing));

describe("Events page", () => {
  it("lists events, adds live ones on top and resumes the stream with Last-Event-ID", async () => {
    const streams = [controlledStream(), controlledStream()];
    let opened = 0;
    const server = sessionServer(1)
      .on("GET", "/developer/event-types", () => json(200, { data: eventTypes }))
      .on("GET", "/developer/events", () => json(200, { data: [event(1)], has_more: false }))
      .on("GET", "/developer/events/stream", () => streams[opened++]!.response());
    renderApp("/events", server);
    const list = await screen.findByRole("list", { name: "Events" });
    expect(within(list).getAllByRole("listitem").map((li) => li.getAttribute("aria-label"))).toEqual([
      "api_key.created evt_1",
    ]);
    expect(await screen.findByTestId("live-indicator")).toHaveTextContent("Live");
    const first = server.calls("GET", "/developer/events/stream")[0]!;
    expect(first.authorization).toMatch(/^Bearer access-/);
    expect(first.headers["last-event-id"]).toBeUndefined();

    // A heartbeat, then an event split across chunks.
    const live = sse(event(2, "task.failed"));
    streams[0]!.write(": keep-alive\n\n");
    streams[0]!.write(live.slice(0, 17));
    streams[0]!.write(live.slice(17));
    const row = await within(list).findByRole("listitem", { name: "task.failed evt_2" });
    expect(within(list).getAllByRole("listitem")[0]).toBe(row);
    expect(within(row).getByText("New")).toBeInTheDocument();

    // The JSON on demand.
    await userEvent.click(within(row).getByRole("button", { name: "Show JSON" }));
    expect(within(row).getByTestId("event-json")).toHaveTextContent('"key_id": "key_2"');

    // The connection drops: offline, then reopened after the last event seen.
    streams[0]!.close();
    await waitFor(() => expect(server.calls("GET", "/developer/events/stream")).toHaveLength(2));
    expect(server.calls("GET", "/developer/events/stream")[1]!.headers["last-event-id"]).toBe("evt_2");
    await waitFor(() => expect(screen.getByTestId("live-indicator")).toHaveTextContent("Live"));
    streams[1]!.write(sse(event(3)));
    expect(await within(list).findByRole("listitem", { name: "api_key.created evt_3" })).toBeInTheDocument();
    expect(within(list).getAllByRole("listitem").map((li) => li.getAttribute("aria-label"))).toEqual([
      "api_key.created evt_3",
      "task.failed evt_2",
      "api_key.created evt_1",
    ]);
  });

  it("shows offline while the stream cannot be opened", async () => {
    const server = sessionServer(1)
      .on("GET", "/developer/event-types", () => json(200, { data: eventTypes }))
      .on("GET", "/developer/events", () => json(200, { data: [], has_more: false }))
      .on("GET", "/developer/events/stream", () => json(503, { error: { code: "unavailable", message: "down" } }));
    streamTiming.firstDelayMs = 5_000;
    renderApp("/events", server);
    expect(await screen.findByText("No events yet.")).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId("live-indicator")).toHaveTextContent("Offline, reconnecting…"));
  });

  it("filters by type and pages with starting_after", async () => {
    const stream = controlledStream();
    const server = sessionServer(1)
      .on("GET", "/developer/event-types", () => json(200, { data: eventTypes }))
      .on("GET", "/developer/events", (req) => {
        if (req.query.type === "task.failed") return json(200, { data: [event(5, "task.failed")], has_more: false });
        if (req.query.starting_after === "evt_3") return json(200, { data: [event(2), event(1)], has_more: false });
        return json(200, { data: [event(4), event(3)], has_more: true });
      })
      .on("GET", "/developer/events/stream", () => stream.response());
    renderApp("/events", server);
    const list = await screen.findByRole("list", { name: "Events" });
    expect(within(list).getAllByRole("listitem")).toHaveLength(2);
    await userEvent.click(screen.getByRole("button", { name: "Load more" }));
    await waitFor(() => expect(within(list).getAllByRole("listitem")).toHaveLength(4));
    expect(server.calls("GET", "/developer/events")[1]?.query).toEqual({ limit: "25", starting_after: "evt_3" });
    expect(screen.queryByRole("button", { name: "Load more" })).not.toBeInTheDocument();

    await userEvent.selectOptions(await screen.findByLabelText("Event type"), "task.failed");
    await waitFor(() =>
      expect(within(screen.getByRole("list", { name: "Events" })).getAllByRole("listitem").map((li) => li.getAttribute("aria-label"))).toEqual([
        "task.failed evt_5",
      ]),
    );
    const calls = server.calls("GET", "/developer/events");
    expect(calls[calls.length - 1]?.query).toEqual({ type: "task.failed", limit: "25" });

    // A live event of another type stays out of the filtered list.
    stream.write(sse(event(6)));
    stream.write(sse(event(7, "task.failed")));
    expect(await screen.findByRole("listitem", { name: "task.failed evt_7" })).toBeInTheDocument();
    expect(screen.queryByRole("listitem", { name: "api_key.created evt_6" })).not.toBeInTheDocument();
  });
});
