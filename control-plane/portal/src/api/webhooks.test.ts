import { describe, expect, it } from "vitest";
import { ApiClient } from "./client";
import { ApiError } from "./errors";
import { TokenStore } from "./tokens";
import { FakeServer, apiError, json, session } from "../test/fakeServer";

function signedIn(server: FakeServer) {
  const tokens = new TokenStore(localStorage);
  tokens.set("access-1", "refresh-1");
  return new ApiClient({ fetch: server.fetch, tokens, lock: (fn) => fn() });
}

describe("webhooks client", () => {
  it("sends filters as query parameters and leaves out empty ones", async () => {
    const server = new FakeServer()
      .on("GET", "/developer/webhooks/we_1/deliveries", () => json(200, { data: [], has_more: false }))
      .on("GET", "/developer/events", () => json(200, { data: [], has_more: false }));
    const client = signedIn(server);
    await client.listDeliveries("we_1", { status: "failed", event_type: "task.failed", limit: 20, starting_after: "wd_9" });
    await client.listDeliveries("we_1");
    await client.listEvents({ types: ["a.b", "c.d"], since_ms: 5, limit: 10 });
    await client.listEvents({ types: [] });
    expect(server.requests.map((r) => r.query)).toEqual([
      { status: "failed", event_type: "task.failed", limit: "20", starting_after: "wd_9" },
      {},
      { type: "a.b,c.d", since_ms: "5", limit: "10" },
      {},
    ]);
  });

  it("replays, recovers and rotates with the documented bodies", async () => {
    const server = new FakeServer()
      .on("POST", "/developer/events/evt_1/replay", () => json(202, { data: [] }))
      .on("POST", "/developer/webhooks/we_1/recover", () => json(200, { requeued: 4 }))
      .on("POST", "/developer/webhooks/we_1/secret/rotate", () =>
        json(200, { secret: "whsec_n", previous_secret_expires_at_ms: null }),
      );
    const client = signedIn(server);
    await expect(client.replayEvent("evt_1", "we_1")).resolves.toEqual([]);
    await expect(client.recoverWebhook("we_1", 1234)).resolves.toBe(4);
    await client.rotateWebhookSecret("we_1", 0);
    expect(server.requests.map((r) => r.body)).toEqual([{ endpoint_id: "we_1" }, { since_ms: 1234 }, { grace_seconds: 0 }]);
  });

  it("opens the event stream with the bearer token and Last-Event-ID, refreshing once on 401", async () => {
    let first = true;
    const server = new FakeServer()
      .on("GET", "/developer/events/stream", (req) => {
        if (first) {
          first = false;
          return apiError(401, "unauthorized");
        }
        expect(req.authorization).toBe("Bearer access-2");
        return new Response("data: {}\n\n", { headers: { "content-type": "text/event-stream" } });
      })
      .on("POST", "/developer/refresh", () => json(200, session(2)));
    const res = await signedIn(server).openEventStream("evt_7");
    expect(await res.text()).toBe("data: {}\n\n");
    const calls = server.calls("GET", "/developer/events/stream");
    expect(calls.map((c) => c.headers["last-event-id"])).toEqual(["evt_7", "evt_7"]);
    expect(calls[0]?.headers.accept).toBe("text/event-stream");
  });

  it("turns a refused stream into an ApiError", async () => {
    const server = new FakeServer().on("GET", "/developer/events/stream", () => apiError(503, "unavailable", "later"));
    const error = await signedIn(server).openEventStream(null).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(503);
  });
});
