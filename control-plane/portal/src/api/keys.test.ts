import { describe, expect, it } from "vitest";
import { ApiClient } from "./client";
import { ApiError } from "./errors";
import { TokenStore } from "./tokens";
import type { ApiKey } from "./types";
import { FakeServer, apiError, json } from "../test/fakeServer";

const key: ApiKey = {
  id: "key_1",
  name: "Production",
  display_prefix: "ahub_AbCd…wxYz",
  enabled: true,
  created_at_ms: Date.UTC(2026, 5, 1),
  expires_at_ms: null,
  last_used_at_ms: null,
  allowed_models: null,
  allowed_endpoints: null,
  limits: {
    requests_per_minute: null,
    tokens_per_minute: null,
    token_quota_total: null,
    token_quota_monthly: null,
    budget_total: null,
    budget_monthly: null,
  },
  ip_allowlist: null,
  metadata: {},
};

function signedIn(server: FakeServer) {
  const tokens = new TokenStore(localStorage);
  tokens.set("access-1", "refresh-1");
  return new ApiClient({ fetch: server.fetch, tokens, lock: (fn) => fn() });
}

describe("keys client", () => {
  it("lists the keys from the data envelope", async () => {
    const server = new FakeServer().on("GET", "/developer/keys", () => json(200, { data: [key] }));
    await expect(signedIn(server).listKeys()).resolves.toEqual([key]);
    expect(server.requests[0]?.authorization).toBe("Bearer access-1");
  });

  it("creates with the Idempotency-Key header and the body as given", async () => {
    const server = new FakeServer().on("POST", "/developer/keys", () =>
      json(201, { ...key, secret: "ahub_secret" }),
    );
    const client = signedIn(server);
    const created = await client.createKey(
      { name: "Production", allowed_models: ["gpt-4o-mini"], expires_in_days: null },
      "idem-1",
    );
    expect(created.secret).toBe("ahub_secret");
    const call = server.calls("POST", "/developer/keys")[0];
    expect(call?.idempotencyKey).toBe("idem-1");
    expect(call?.body).toEqual({ name: "Production", allowed_models: ["gpt-4o-mini"], expires_in_days: null });
  });

  it("reports an unverified account's refusal with its code", async () => {
    const server = new FakeServer().on("POST", "/developer/keys", () =>
      apiError(403, "email_not_verified", "verify first"),
    );
    const error = await signedIn(server).createKey({ name: "x" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe("email_not_verified");
  });

  it("updates with PUT, deletes, regenerates with a grace period and reads usage", async () => {
    const server = new FakeServer()
      .on("PUT", "/developer/keys/key_1", (req) => json(200, { ...key, ...(req.body as object) }))
      .on("DELETE", "/developer/keys/key_1", () => new Response(null, { status: 204 }))
      .on("POST", "/developer/keys/key_1/regenerate", () =>
        json(200, { ...key, secret: "ahub_new", grace_expires_at_ms: 123 }),
      )
      .on("GET", "/developer/keys/key_1/usage", () =>
        json(200, {
          key_id: "key_1",
          days: 30,
          totals: { requests: 3, prompt_tokens: 10, completion_tokens: 20, cost_nanos: 1500, errors: 0 },
          by_day: [{ date: "2026-06-01", requests: 3, tokens: 30, cost_nanos: 1500, errors: 0 }],
          last_used_at_ms: 5,
        }),
      );
    const client = signedIn(server);
    await expect(client.updateKey("key_1", { enabled: false })).resolves.toMatchObject({ enabled: false });
    await expect(client.deleteKey("key_1")).resolves.toBeUndefined();
    await expect(client.regenerateKey("key_1", 3600)).resolves.toMatchObject({ secret: "ahub_new" });
    expect(server.calls("POST", "/developer/keys/key_1/regenerate")[0]?.body).toEqual({ grace_seconds: 3600 });
    const usage = await client.getKeyUsage("key_1");
    expect(usage.totals.requests).toBe(3);
    expect(server.requests.map((r) => r.method)).toEqual(["PUT", "DELETE", "POST", "GET"]);
  });
});
