import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../i18n";
import { REFRESH_TOKEN_KEY } from "../api/tokens";
import type { DeliveryAttempt, WebhookDelivery, WebhookEndpoint } from "../api/types";
import { apiError, json, sessionServer } from "../test/fakeServer";
import { renderApp } from "../test/renderApp";

const endpoint: WebhookEndpoint = {
  id: "we_1",
  url: "https://example.com/hooks/aihub",
  description: "Billing service",
  event_types: ["*"],
  enabled: true,
  disabled_reason: null,
  max_retries: 3,
  secret_hint: "whsec_AbCd…",
  previous_secret_expires_at_ms: null,
  failing_since_ms: null,
  created_at_ms: Date.UTC(2026, 5, 1),
  updated_at_ms: Date.UTC(2026, 5, 1),
};

const eventTypes = [
  { type: "api_key.created", description: "A key was created.", example: {} },
  { type: "task.failed", description: "A task failed.", example: {} },
  { type: "webhook.test", description: "A test event.", example: {} },
];

const delivery = (n: number, over: Partial<WebhookDelivery> = {}): WebhookDelivery => ({
  id: `wd_${n}`,
  endpoint_id: "we_1",
  event_id: `evt_${n}`,
  event_type: "api_key.created",
  status: "succeeded",
  attempts: 1,
  next_attempt_at_ms: null,
  last_status_code: 200,
  last_error: null,
  created_at_ms: Date.UTC(2026, 5, 1, 12, n),
  finished_at_ms: Date.UTC(2026, 5, 1, 12, n),
  ...over,
});

const attempt = (over: Partial<DeliveryAttempt> = {}): DeliveryAttempt => ({
  id: "wa_1",
  attempted_at_ms: Date.UTC(2026, 5, 1, 12),
  duration_ms: 123,
  status_code: 500,
  error: null,
  response_body: '{"oops":"database down"}',
  ...over,
});

beforeEach(async () => {
  await i18n.changeLanguage("en");
  localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
});

describe("Webhooks page", () => {
  it("creates an endpoint for chosen events and shows its secret once", async () => {
    let list: WebhookEndpoint[] = [];
    const created = { ...endpoint, description: "", event_types: ["api_key.created"] };
    const server = sessionServer(1)
      .on("GET", "/developer/webhooks", () => json(200, { data: list }))
      .on("GET", "/developer/event-types", () => json(200, { data: eventTypes }))
      .on("POST", "/developer/webhooks", () => {
        list = [created];
        return json(201, { ...created, secret: "whsec_the_secret_value" });
      });
    renderApp("/webhooks", server);
    expect(await screen.findByRole("heading", { name: "No webhook endpoints yet" })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Add endpoint" }));
    const dialog = await screen.findByRole("dialog", { name: "Add webhook endpoint" });
    expect(within(dialog).getByLabelText("Endpoint URL")).toHaveFocus();

    await userEvent.type(within(dialog).getByLabelText("Endpoint URL"), "example.com");
    await userEvent.click(within(dialog).getByLabelText(/Selected events/));
    await userEvent.click(within(dialog).getByRole("button", { name: "Add endpoint" }));
    expect(await within(dialog).findByText("Enter a full URL starting with https:// or http://.")).toBeInTheDocument();
    expect(within(dialog).getByText("Choose at least one event type.")).toBeInTheDocument();
    expect(server.calls("POST", "/developer/webhooks")).toHaveLength(0);

    await userEvent.clear(within(dialog).getByLabelText("Endpoint URL"));
    await userEvent.type(within(dialog).getByLabelText("Endpoint URL"), "https://example.com/hooks/aihub");
    await userEvent.click(await within(dialog).findByRole("checkbox", { name: /api_key\.created/ }));
    await userEvent.click(within(dialog).getByRole("button", { name: "Add endpoint" }));

    const secret = await screen.findByRole("dialog", { name: "Save your signing secret" });
    expect(within(secret).getByTestId("webhook-secret")).toHaveTextContent("whsec_the_secret_value");
    expect(within(secret).getByRole("button", { name: "Copy secret" })).toBeInTheDocument();
    expect(server.calls("POST", "/developer/webhooks")[0]?.idempotencyKey).toMatch(/\S{8,}/);
    expect(server.calls("POST", "/developer/webhooks").map((c) => c.body)).toEqual([
      { url: "https://example.com/hooks/aihub", event_types: ["api_key.created"], max_retries: 3 },
    ]);

    await userEvent.click(within(secret).getByRole("button", { name: "Done" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    const row = (await screen.findByRole("link", { name: "https://example.com/hooks/aihub" })).closest("li")!;
    expect(within(row).getByText("Active")).toBeInTheDocument();
    expect(within(row).getByText("api_key.created")).toBeInTheDocument();
    expect(screen.queryByText("whsec_the_secret_value")).not.toBeInTheDocument();
  });

  it("sends all events as [\"*\"] by default", async () => {
    const server = sessionServer(1)
      .on("GET", "/developer/webhooks", () => json(200, { data: [] }))
      .on("GET", "/developer/event-types", () => json(200, { data: eventTypes }))
      .on("POST", "/developer/webhooks", () => json(201, { ...endpoint, secret: "whsec_x" }));
    renderApp("/webhooks", server);
    await userEvent.click(await screen.findByRole("button", { name: "Add endpoint" }));
    const dialog = await screen.findByRole("dialog", { name: "Add webhook endpoint" });
    await userEvent.type(within(dialog).getByLabelText("Endpoint URL"), "https://example.com/hooks/aihub");
    await userEvent.type(within(dialog).getByLabelText(/Description/), "Billing service");
    await userEvent.clear(within(dialog).getByLabelText("Max retries"));
    await userEvent.type(within(dialog).getByLabelText("Max retries"), "5");
    await userEvent.click(within(dialog).getByRole("button", { name: "Add endpoint" }));
    await screen.findByRole("dialog", { name: "Save your signing secret" });
    expect(server.calls("POST", "/developer/webhooks")[0]?.body).toEqual({
      url: "https://example.com/hooks/aihub",
      description: "Billing service",
      event_types: ["*"],
      max_retries: 5,
    });
  });

  it("lists endpoints with why they are disabled or failing", async () => {
    const gone = { ...endpoint, id: "we_2", url: "https://gone.example/hook", enabled: false, disabled_reason: "gone" as const };
    const failing = {
      ...endpoint,
      id: "we_3",
      url: "https://flaky.example/hook",
      event_types: ["a.b", "c.d", "e.f"],
      failing_since_ms: Date.UTC(2026, 5, 2),
    };
    const server = sessionServer(1).on("GET", "/developer/webhooks", () => json(200, { data: [endpoint, gone, failing] }));
    renderApp("/webhooks", server);
    const goneRow = (await screen.findByRole("link", { name: "https://gone.example/hook" })).closest("li")!;
    expect(within(goneRow).getByText("Disabled: gone")).toBeInTheDocument();
    expect(within(goneRow).getByText("Disabled because the endpoint answered 410 Gone.")).toBeInTheDocument();
    expect(within(goneRow).getByRole("button", { name: "Enable" })).toBeInTheDocument();
    const flaky = screen.getByRole("link", { name: "https://flaky.example/hook" }).closest("li")!;
    expect(within(flaky).getByText("Failing")).toBeInTheDocument();
    expect(within(flaky).getByText(/^Failing since/)).toBeInTheDocument();
    expect(within(flaky).getByText("3 event types")).toBeInTheDocument();
    const first = screen.getByRole("link", { name: endpoint.url }).closest("li")!;
    expect(within(first).getByText("All events")).toBeInTheDocument();
  });

  it("sends a test event and shows the endpoint's answer", async () => {
    let answer = {
      delivery: delivery(9, { status: "failed", last_status_code: 500, event_type: "webhook.test" }),
      attempt: attempt(),
    };
    const server = sessionServer(1)
      .on("GET", "/developer/webhooks", () => json(200, { data: [endpoint] }))
      .on("GET", "/developer/event-types", () => json(200, { data: eventTypes }))
      .on("POST", "/developer/webhooks/we_1/test", () => json(200, answer));
    renderApp("/webhooks", server);
    const row = (await screen.findByRole("link", { name: endpoint.url })).closest("li")!;
    await userEvent.click(within(row).getByRole("button", { name: "Send test" }));
    const dialog = await screen.findByRole("dialog", { name: "Send a test event" });
    expect(within(dialog).getByLabelText("Event type")).toHaveValue("webhook.test");
    await userEvent.click(within(dialog).getByRole("button", { name: "Send test" }));

    const result = await within(dialog).findByTestId("attempt-result");
    expect(within(dialog).getByText("Delivery failed")).toBeInTheDocument();
    expect(within(result).getByText("500")).toBeInTheDocument();
    expect(within(result).getByText("123 ms")).toBeInTheDocument();
    expect(within(result).getByText('{"oops":"database down"}')).toBeInTheDocument();
    expect(server.calls("POST", "/developer/webhooks/we_1/test")[0]?.body).toEqual({ event_type: "webhook.test" });

    // No answer at all: the error instead of a status code.
    answer = {
      delivery: delivery(10, { status: "failed", last_status_code: null, last_error: "connection refused" }),
      attempt: attempt({ status_code: null, error: "connection refused", response_body: "", duration_ms: 4 }),
    };
    await userEvent.selectOptions(within(dialog).getByLabelText("Event type"), "task.failed");
    await userEvent.click(within(dialog).getByRole("button", { name: "Send again" }));
    expect(await within(dialog).findByText("connection refused")).toBeInTheDocument();
    expect(within(dialog).getByText("No answer")).toBeInTheDocument();
    expect(within(dialog).getByText("4 ms")).toBeInTheDocument();
    expect(within(dialog).getByText("The response body was empty.")).toBeInTheDocument();
    expect(server.calls("POST", "/developer/webhooks/we_1/test")[1]?.body).toEqual({ event_type: "task.failed" });
  });

  it("disables, rotates the secret with a grace period, and deletes after confirming", async () => {
    let current: WebhookEndpoint | null = { ...endpoint };
    const server = sessionServer(1)
      .on("GET", "/developer/webhooks", () => json(200, { data: current ? [current] : [] }))
      .on("PUT", "/developer/webhooks/we_1", (req) => {
        current = { ...endpoint, ...(req.body as object), disabled_reason: "manual" };
        return json(200, current);
      })
      .on("GET", "/developer/webhooks/we_1", () => (current ? json(200, current) : apiError(404, "not_found")))
      .on("GET", "/developer/event-types", () => json(200, { data: eventTypes }))
      .on("GET", "/developer/webhooks/we_1/deliveries", () => json(200, { data: [], has_more: false }))
      .on("GET", "/developer/webhooks/we_1/secret", () => json(200, { secret: "whsec_revealed" }))
      .on("POST", "/developer/webhooks/we_1/secret/rotate", () =>
        json(200, { secret: "whsec_rotated", previous_secret_expires_at_ms: Date.now() + 3_600_000 }),
      )
      .on("DELETE", "/developer/webhooks/we_1", () => {
        current = null;
        return new Response(null, { status: 204 });
      });
    renderApp("/webhooks", server);
    const row = (await screen.findByRole("link", { name: endpoint.url })).closest("li")!;
    await userEvent.click(within(row).getByRole("button", { name: "Disable" }));
    expect(await within(row).findByText("Disabled")).toBeInTheDocument();
    expect(server.calls("PUT", "/developer/webhooks/we_1")[0]?.body).toEqual({ enabled: false });

    // The endpoint's own page.
    await userEvent.click(within(row).getByRole("link", { name: endpoint.url }));
    expect(await screen.findByRole("heading", { level: 1, name: endpoint.url })).toBeInTheDocument();
    expect(screen.getByTestId("location")).toHaveTextContent("/webhooks/we_1");

    await userEvent.click(screen.getByRole("button", { name: "Reveal secret" }));
    let dialog = await screen.findByRole("dialog", { name: "Signing secret" });
    expect(await within(dialog).findByTestId("webhook-secret")).toHaveTextContent("whsec_revealed");
    await userEvent.click(within(dialog).getByRole("button", { name: "Done" }));

    await userEvent.click(screen.getByRole("button", { name: "Rotate secret" }));
    dialog = await screen.findByRole("dialog", { name: "Rotate the signing secret" });
    await userEvent.click(within(dialog).getByLabelText("For 1 hour"));
    await userEvent.click(within(dialog).getByRole("button", { name: "Rotate secret" }));
    dialog = await screen.findByRole("dialog", { name: "New signing secret" });
    expect(within(dialog).getByTestId("webhook-secret")).toHaveTextContent("whsec_rotated");
    expect(within(dialog).getByText(/deliveries also carry a signature made with the old secret/)).toBeInTheDocument();
    expect(server.calls("POST", "/developer/webhooks/we_1/secret/rotate")[0]?.body).toEqual({ grace_seconds: 3600 });
    await userEvent.click(within(dialog).getByRole("button", { name: "Done" }));

    await userEvent.click(screen.getByRole("button", { name: "Delete" }));
    dialog = await screen.findByRole("dialog", { name: "Delete this endpoint?" });
    expect(within(dialog).getByRole("button", { name: "Cancel" })).toHaveFocus();
    expect(server.calls("DELETE", "/developer/webhooks/we_1")).toHaveLength(0);
    await userEvent.click(within(dialog).getByRole("button", { name: "Delete endpoint" }));
    await waitFor(() => expect(screen.getByTestId("location")).toHaveTextContent(/^\/webhooks$/));
    expect(await screen.findByRole("heading", { name: "No webhook endpoints yet" })).toBeInTheDocument();
    expect(server.calls("DELETE", "/developer/webhooks/we_1")).toHaveLength(1);
  });
});

describe("Endpoint delivery log", () => {
  it("pages with starting_after, filters, expands attempts and replays", async () => {
    const server = sessionServer(1)
      .on("GET", "/developer/webhooks/we_1", () => json(200, endpoint))
      .on("GET", "/developer/event-types", () => json(200, { data: eventTypes }))
      .on("GET", "/developer/webhooks/we_1/deliveries", (req) => {
        if (req.query.status === "failed") {
          return json(200, { data: [delivery(2, { status: "failed", last_status_code: 500, last_error: "HTTP 500" })], has_more: false });
        }
        if (req.query.starting_after === "wd_2") return json(200, { data: [delivery(1)], has_more: false });
        return json(200, { data: [delivery(3), delivery(2, { status: "failed", last_status_code: 500 })], has_more: true });
      })
      .on("GET", "/developer/webhook-deliveries/wd_3", () =>
        json(200, { ...delivery(3), attempts: [attempt({ status_code: 200, response_body: "ok" })] }),
      )
      .on("POST", "/developer/events/evt_3/replay", () => json(202, { data: [delivery(4, { status: "pending" })] }));
    renderApp("/webhooks/we_1", server);
    const log = (await screen.findByRole("heading", { name: "Delivery log" })).closest("section")!;
    const items = async () => within(log).findAllByRole("listitem");
    expect((await items()).map((li) => li.getAttribute("aria-label"))).toEqual([
      "api_key.created wd_3",
      "api_key.created wd_2",
    ]);
    expect(server.calls("GET", "/developer/webhooks/we_1/deliveries")[0]?.query).toEqual({ limit: "20" });

    await userEvent.click(within(log).getByRole("button", { name: "Load more" }));
    await waitFor(async () => expect(await items()).toHaveLength(3));
    expect(server.calls("GET", "/developer/webhooks/we_1/deliveries")[1]?.query).toEqual({
      limit: "20",
      starting_after: "wd_2",
    });
    expect(within(log).queryByRole("button", { name: "Load more" })).not.toBeInTheDocument();

    // Attempts of one delivery.
    const first = within(log).getByRole("listitem", { name: "api_key.created wd_3" });
    await userEvent.click(within(first).getByRole("button", { name: "Show attempts" }));
    expect(await within(first).findByText("ok")).toBeInTheDocument();
    expect(within(first).getByRole("button", { name: "Hide attempts" })).toHaveAttribute("aria-expanded", "true");

    // Replay its event to this endpoint.
    await userEvent.click(within(first).getByRole("button", { name: "Replay" }));
    expect(await within(first).findByText("The event was queued for this endpoint again.")).toBeInTheDocument();
    expect(server.calls("POST", "/developer/events/evt_3/replay")[0]?.body).toEqual({ endpoint_id: "we_1" });

    // Only failed ones.
    await userEvent.selectOptions(within(log).getByLabelText("Status"), "failed");
    await waitFor(async () => expect(await items()).toHaveLength(1));
    expect(within(log).getByText("HTTP 500")).toBeInTheDocument();
    const calls = server.calls("GET", "/developer/webhooks/we_1/deliveries");
    expect(calls[calls.length - 1]?.query).toEqual({ status: "failed", limit: "20" });
  });

  it("recovers failed deliveries since a time", async () => {
    const server = sessionServer(1)
      .on("GET", "/developer/webhooks/we_1", () => json(200, { ...endpoint, failing_since_ms: Date.UTC(2026, 5, 1, 8) }))
      .on("GET", "/developer/event-types", () => json(200, { data: eventTypes }))
      .on("GET", "/developer/webhooks/we_1/deliveries", () => json(200, { data: [], has_more: false }))
      .on("POST", "/developer/webhooks/we_1/recover", () => json(200, { requeued: 7 }));
    renderApp("/webhooks/we_1", server);
    expect(await screen.findByText("No deliveries match these filters.")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Recover failed" }));
    const dialog = await screen.findByRole("dialog", { name: "Recover failed deliveries" });
    await userEvent.click(within(dialog).getByRole("button", { name: "Recover" }));
    expect(await within(dialog).findByText("7 deliveries were queued again.")).toBeInTheDocument();
    const sinceMs = (server.calls("POST", "/developer/webhooks/we_1/recover")[0]?.body as { since_ms: number }).since_ms;
    // The form works in minutes of the local clock: the failing-since time, to the minute.
    expect(Math.abs(sinceMs - Date.UTC(2026, 5, 1, 8))).toBeLessThan(60_000);
  });
});

describe("Delivery log while deliveries are pending", () => {
  const NOW = Date.UTC(2026, 5, 1, 12, 30);
  beforeEach(() => {
    vi.useFakeTimers({ shouldAdvanceTime: true, toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    vi.setSystemTime(NOW);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("polls every 2 s until nothing is pending, refreshing loaded pages and keeping rows open", async () => {
    const user = userEvent.setup({ advanceTimers: vi.advanceTimersByTime });
    let sent = false;
    const third = () =>
      sent
        ? delivery(3, { attempts: 2, last_status_code: 200, last_error: null })
        : delivery(3, {
            status: "pending",
            attempts: 1,
            last_status_code: 500,
            last_error: "HTTP 500",
            next_attempt_at_ms: NOW + 30_000,
            finished_at_ms: null,
          });
    const server = sessionServer(1)
      .on("GET", "/developer/webhooks/we_1", () => json(200, endpoint))
      .on("GET", "/developer/event-types", () => json(200, { data: eventTypes }))
      .on("GET", "/developer/webhooks/we_1/deliveries", (req) =>
        req.query.starting_after === "wd_2"
          ? json(200, { data: [delivery(1)], has_more: false })
          : json(200, { data: [third(), delivery(2)], has_more: true }),
      )
      .on("GET", "/developer/webhook-deliveries/wd_3", () =>
        json(200, {
          ...third(),
          attempts: sent
            ? [attempt({ response_body: "first try" }), attempt({ id: "wa_2", status_code: 200, response_body: "second try" })]
            : [attempt({ response_body: "first try" })],
        }),
      );
    renderApp("/webhooks/we_1", server);
    const log = (await screen.findByRole("heading", { name: "Delivery log" })).closest("section")!;
    const row = await within(log).findByRole("listitem", { name: "api_key.created wd_3" });
    expect(within(row).getByText("Pending")).toBeInTheDocument();
    expect(within(row).getByText(/^Next attempt/)).toBeInTheDocument();

    await user.click(within(log).getByRole("button", { name: "Load more" }));
    await waitFor(() => expect(within(log).getAllByRole("listitem")).toHaveLength(3));
    await user.click(within(row).getByRole("button", { name: "Show attempts" }));
    expect(await within(row).findByText("first try")).toBeInTheDocument();

    // The endpoint answers the retry; nobody touches the page.
    sent = true;
    const listCalls = () => server.calls("GET", "/developer/webhooks/we_1/deliveries").length;
    const before = listCalls();
    await vi.advanceTimersByTimeAsync(2_000);
    const updated = await within(log).findByRole("listitem", { name: "api_key.created wd_3" });
    await waitFor(() => expect(within(updated).getByText("Succeeded")).toBeInTheDocument());
    expect(within(updated).getByText(/^2 attempts/)).toBeInTheDocument();
    expect(within(updated).queryByText(/^Next attempt|Sending/)).not.toBeInTheDocument();
    // Still open, with the new attempt.
    expect(within(updated).getByRole("button", { name: "Hide attempts" })).toHaveAttribute("aria-expanded", "true");
    expect(await within(updated).findByText("second try")).toBeInTheDocument();
    // Both loaded pages were asked again: "Load more" rows stay.
    const polled = server.calls("GET", "/developer/webhooks/we_1/deliveries").slice(before);
    expect(polled.map((c) => c.query.starting_after ?? null)).toEqual([null, "wd_2"]);
    expect(within(log).getAllByRole("listitem", { name: /wd_/ }).map((li) => li.getAttribute("aria-label"))).toEqual([
      "api_key.created wd_3",
      "api_key.created wd_2",
      "api_key.created wd_1",
    ]);

    // Nothing pending any more: no more polling.
    const settled = listCalls();
    const detailCalls = server.calls("GET", "/developer/webhook-deliveries/wd_3").length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(listCalls()).toBe(settled);
    expect(server.calls("GET", "/developer/webhook-deliveries/wd_3")).toHaveLength(detailCalls);
  });

  it("shows \"sending…\" instead of a next attempt that is due now, in both languages", async () => {
    const server = sessionServer(1)
      .on("GET", "/developer/webhooks/we_1", () => json(200, endpoint))
      .on("GET", "/developer/event-types", () => json(200, { data: eventTypes }))
      .on("GET", "/developer/webhooks/we_1/deliveries", () =>
        json(200, {
          data: [
            delivery(6, { status: "pending", next_attempt_at_ms: NOW + 3_000, finished_at_ms: null }),
            delivery(5, { status: "pending", next_attempt_at_ms: NOW + 60_000, finished_at_ms: null }),
          ],
          has_more: false,
        }),
      );
    renderApp("/webhooks/we_1", server);
    const log = (await screen.findByRole("heading", { name: "Delivery log" })).closest("section")!;
    const soon = await within(log).findByRole("listitem", { name: "api_key.created wd_6" });
    const later = within(log).getByRole("listitem", { name: "api_key.created wd_5" });
    expect(within(soon).getByText("Sending…")).toBeInTheDocument();
    expect(within(soon).queryByText(/^Next attempt/)).not.toBeInTheDocument();
    expect(within(later).getByText(/^Next attempt/)).toBeInTheDocument();

    // Once the retry time is close, it is "sending…" too.
    await vi.advanceTimersByTimeAsync(56_000);
    await waitFor(() => expect(within(later).getByText("Sending…")).toBeInTheDocument());

    await i18n.changeLanguage("zh-CN");
    expect(await within(soon).findByText("正在发送…")).toBeInTheDocument();
  });
});

describe("Event type descriptions", () => {
  it("are translated in the picker, and unknown types keep the API's text without backticks", async () => {
    await i18n.changeLanguage("zh-CN");
    const server = sessionServer(1)
      .on("GET", "/developer/webhooks", () => json(200, { data: [] }))
      .on("GET", "/developer/event-types", () =>
        json(200, {
          data: [
            { type: "api_key.updated", description: "An API key was `changed`.", example: {} },
            { type: "webhook.endpoint_disabled", description: "An endpoint was disabled: `gone` or `failing`.", example: {} },
            { type: "custom.thing", description: "Something `changed` in\n  the account.", example: {} },
          ],
        }),
      );
    renderApp("/webhooks", server);
    await userEvent.click(await screen.findByRole("button", { name: "添加端点" }));
    const dialog = await screen.findByRole("dialog");
    await userEvent.click(within(dialog).getAllByRole("radio")[1]!);
    const updated = (await within(dialog).findByRole("checkbox", { name: /api_key\.updated/ })).closest("label")!;
    expect(within(updated).getByText("API 密钥被修改：名称、状态、限额或权限范围。")).toBeInTheDocument();
    const disabled = within(dialog).getByRole("checkbox", { name: /webhook\.endpoint_disabled/ }).closest("label")!;
    expect(within(disabled).getByText("端点因返回 410 Gone 或持续失败而被自动停用。")).toBeInTheDocument();
    const custom = within(dialog).getByRole("checkbox", { name: /custom\.thing/ }).closest("label")!;
    expect(within(custom).getByText("Something changed in the account.")).toBeInTheDocument();
    expect(within(dialog).queryByText(/`/)).not.toBeInTheDocument();
  });

  it("has a translation for every known type in both languages", async () => {
    const { KNOWN_EVENT_TYPES, eventTypeDescription } = await import("./webhooks/eventTypes");
    expect(KNOWN_EVENT_TYPES).toHaveLength(15);
    for (const language of ["en", "zh-CN"]) {
      const t = i18n.getFixedT(language);
      for (const type of KNOWN_EVENT_TYPES) {
        const text = eventTypeDescription(t, type, "fallback");
        expect(text, `${language} ${type}`).not.toBe("fallback");
        expect(text).not.toMatch(/webhooks\.eventTypes|`/);
      }
    }
    expect(eventTypeDescription(i18n.getFixedT("zh-CN"), "task.failed")).toBe("异步任务失败。");
  });
});

describe("Webhooks in Chinese", () => {
  it("shows the page, its status and actions translated", async () => {
    await i18n.changeLanguage("zh-CN");
    const server = sessionServer(1).on("GET", "/developer/webhooks", () =>
      json(200, { data: [{ ...endpoint, enabled: false, disabled_reason: "failing" }] }),
    );
    renderApp("/webhooks", server);
    expect(await screen.findByRole("heading", { level: 1, name: "Webhook" })).toBeInTheDocument();
    const row = screen.getByRole("link", { name: endpoint.url }).closest("li")!;
    expect(within(row).getByText("已停用：持续失败")).toBeInTheDocument();
    expect(within(row).getByRole("button", { name: /发送测试/ })).toBeInTheDocument();
    expect(screen.getByRole("link", { name: /事件/ })).toHaveAttribute("href", "/events");
  });
});
