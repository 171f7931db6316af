import { describe, expect, it } from "vitest";
import { ApiClient } from "./client";
import type { RefreshLock, SessionEvent } from "./client";
import { ApiError, errorFromResponse, parseRetryAfter } from "./errors";
import { REFRESH_TOKEN_KEY, TokenStore } from "./tokens";
import { FakeServer, apiError, json, profile, sessionServer } from "../test/fakeServer";

function clientFor(server: FakeServer) {
  const client = new ApiClient({ fetch: server.fetch, tokens: new TokenStore(localStorage) });
  const events: SessionEvent["type"][] = [];
  client.subscribe((e) => events.push(e.type));
  return { client, events };
}

describe("sessions", () => {
  it("keeps the access token in memory and the refresh token in storage", async () => {
    const server = sessionServer();
    const { client, events } = clientFor(server);
    const s = await client.login("ada@example.com", "correct horse battery");
    expect(s.developer.email).toBe("ada@example.com");
    expect(client.tokens.accessToken).toBe("access-2");
    expect(localStorage.getItem(REFRESH_TOKEN_KEY)).toBe("refresh-2");
    expect(JSON.stringify(localStorage)).not.toContain("access-2");
    expect(events).toEqual(["signed_in"]);
    expect(server.calls("POST", "/developer/login")[0]?.body).toEqual({
      email: "ada@example.com",
      password: "correct horse battery",
    });
  });

  it("refreshes once on a 401, stores the rotated token and retries", async () => {
    const server = sessionServer();
    const { client } = clientFor(server);
    await client.login("ada@example.com", "pw");
    server.expire();

    await expect(client.getProfile()).resolves.toEqual(profile);

    const profileCalls = server.calls("GET", "/developer/profile");
    expect(profileCalls.map((c) => c.authorization)).toEqual(["Bearer access-2", "Bearer access-3"]);
    expect(server.calls("POST", "/developer/refresh").map((c) => c.body)).toEqual([
      { refresh_token: "refresh-2" },
    ]);
    // The new refresh token replaced the spent one.
    expect(localStorage.getItem(REFRESH_TOKEN_KEY)).toBe("refresh-3");
    expect(client.tokens.accessToken).toBe("access-3");
  });

  it("shares one refresh between concurrent calls", async () => {
    const server = sessionServer();
    const { client } = clientFor(server);
    await client.login("ada@example.com", "pw");
    server.expire();

    const results = await Promise.all([client.getProfile(), client.getProfile(), client.getProfile()]);
    expect(results).toHaveLength(3);
    // A second refresh would spend a rotated-out token and end the session.
    expect(server.calls("POST", "/developer/refresh")).toHaveLength(1);
    expect(localStorage.getItem(REFRESH_TOKEN_KEY)).toBe("refresh-3");
  });

  it("restores a stored session after a reload", async () => {
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
    const server = sessionServer(1);
    const { client, events } = clientFor(server);
    const restored = await client.restore();
    expect(restored?.access_token).toBe("access-2");
    expect(localStorage.getItem(REFRESH_TOKEN_KEY)).toBe("refresh-2");
    expect(events).toEqual(["signed_in"]);
  });

  it("restores nothing, without a request, when no token is stored", async () => {
    const server = sessionServer();
    const { client } = clientFor(server);
    await expect(client.restore()).resolves.toBeNull();
    expect(server.requests).toHaveLength(0);
  });

  it("ends the session when the server refuses the refresh token", async () => {
    localStorage.setItem(REFRESH_TOKEN_KEY, "stolen-and-reused");
    const server = sessionServer();
    const { client, events } = clientFor(server);

    const error = await client.getProfile().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe("invalid_token");
    expect(localStorage.getItem(REFRESH_TOKEN_KEY)).toBeNull();
    expect(client.tokens.accessToken).toBeNull();
    expect(events).toEqual(["signed_out"]);
    expect(server.calls("GET", "/developer/profile")).toHaveLength(0);
  });

  it("retries only once: a second 401 ends the session", async () => {
    const server = sessionServer();
    server.on("GET", "/developer/profile", () => apiError(401, "unauthorized"));
    const { client, events } = clientFor(server);
    await client.login("ada@example.com", "pw");

    await expect(client.getProfile()).rejects.toMatchObject({ status: 401, code: "unauthorized" });
    expect(server.calls("GET", "/developer/profile")).toHaveLength(2);
    expect(server.calls("POST", "/developer/refresh")).toHaveLength(1);
    expect(localStorage.getItem(REFRESH_TOKEN_KEY)).toBeNull();
    expect(events).toEqual(["signed_in", "signed_in", "signed_out"]);
  });

  it("keeps the session when a refresh fails for lack of a network", async () => {
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
    const client = new ApiClient({
      fetch: () => Promise.reject(new TypeError("Failed to fetch")),
      tokens: new TokenStore(localStorage),
    });
    await expect(client.restore()).rejects.toMatchObject({ code: "network_error", status: 0 });
    expect(localStorage.getItem(REFRESH_TOKEN_KEY)).toBe("refresh-1");
  });

  it("logs out on the server with the refresh token and forgets both tokens", async () => {
    const server = sessionServer();
    const { client, events } = clientFor(server);
    await client.login("ada@example.com", "pw");
    await client.logout();
    expect(server.calls("POST", "/developer/logout").map((c) => c.body)).toEqual([
      { refresh_token: "refresh-2" },
    ]);
    expect(localStorage.getItem(REFRESH_TOKEN_KEY)).toBeNull();
    expect(client.tokens.accessToken).toBeNull();
    expect(events).toEqual(["signed_in", "signed_out"]);
  });

  it("logs out locally even when the server cannot be reached", async () => {
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-9");
    const client = new ApiClient({
      fetch: () => Promise.reject(new TypeError("offline")),
      tokens: new TokenStore(localStorage),
    });
    await client.logout();
    expect(localStorage.getItem(REFRESH_TOKEN_KEY)).toBeNull();
  });

  it("serialises refreshes through the cross-tab lock", async () => {
    const server = sessionServer();
    let held = 0;
    const lock: RefreshLock = (fn) => {
      held += 1;
      return fn();
    };
    const client = new ApiClient({ fetch: server.fetch, tokens: new TokenStore(localStorage), lock });
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
    await client.restore();
    expect(held).toBe(1);
  });
});

describe("requests", () => {
  it("sends JSON and reads empty 202/204 bodies", async () => {
    const server = new FakeServer()
      .on("POST", "/developer/register", () => json(202, { status: "verification_sent" }))
      .on("POST", "/developer/reset-password", () => new Response(null, { status: 202 }));
    const client = new ApiClient({ fetch: server.fetch, tokens: new TokenStore(localStorage) });
    await expect(
      client.register({
        email: "a@b.co",
        password: "long enough password",
        full_name: "A",
        developer_type: "individual",
        language: "zh-CN",
      }),
    ).resolves.toEqual({ status: "verification_sent" });
    await expect(client.requestPasswordReset("a@b.co")).resolves.toBeUndefined();
    expect(server.requests[0]?.body).toMatchObject({ language: "zh-CN", developer_type: "individual" });
  });

  it("does not attach tokens to public routes", async () => {
    const server = sessionServer().on("POST", "/developer/verify-email", () => json(200, { status: "verified" }));
    const { client } = clientFor(server);
    await client.login("ada@example.com", "pw");
    await client.verifyEmail("tok");
    expect(server.calls("POST", "/developer/verify-email")[0]?.authorization).toBeNull();
  });
});

describe("errors", () => {
  it("parses the management API's error shape", async () => {
    const e = await errorFromResponse(apiError(400, "weak_password", "too short"));
    expect(e).toMatchObject({ status: 400, code: "weak_password", message: "too short", retryAfterSecs: null });
  });

  it("reads retry-after from a 429", async () => {
    const e = await errorFromResponse(apiError(429, "too_many_attempts", "slow down", { "retry-after": "120" }));
    expect(e.code).toBe("too_many_attempts");
    expect(e.retryAfterSecs).toBe(120);
  });

  it("survives bodies that are not the documented shape", async () => {
    const html = await errorFromResponse(new Response("<h1>Bad gateway</h1>", { status: 502 }));
    expect(html).toMatchObject({ status: 502, code: "unexpected_response" });
    const other = await errorFromResponse(json(500, { detail: "x" }));
    expect(other.code).toBe("unexpected_response");
  });

  it("understands both forms of retry-after", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("30", now)).toBe(30);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:01:00 GMT", now)).toBe(60);
    expect(parseRetryAfter(null, now)).toBeNull();
    expect(parseRetryAfter("soon", now)).toBeNull();
  });

  it("turns a failed fetch into network_error", async () => {
    const client = new ApiClient({ fetch: () => Promise.reject(new TypeError("offline")) });
    await expect(client.getAuthConfig()).rejects.toMatchObject({ code: "network_error" });
  });
});
