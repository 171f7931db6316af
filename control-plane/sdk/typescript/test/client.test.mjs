// The management API client against a real AI Hub (see system.mjs).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  AIHub,
  APIConnectionError,
  AuthenticationError,
  InvalidRequestError,
  NotFoundError,
  WebhookVerificationError,
  verifyWebhook,
} from "@aihub/sdk";
import OpenAI from "openai";

import { PASSWORD, WebhookReceiver, startSystem, waitFor } from "./system.mjs";

let system;
let email;

before(async () => {
  system = await startSystem();
  email = await system.verifiedDeveloper("ts-sdk");
});

after(async () => {
  await system?.stop();
});

/** A signed-in client of the verified developer (its own session). */
async function signedIn(options = {}) {
  const client = new AIHub({ baseURL: system.baseURL, ...options });
  await client.login(email, PASSWORD);
  return client;
}

/** Adds the system's logs to a failure. */
function withLogs(fn) {
  return async (t) => {
    try {
      await fn(t);
    } catch (e) {
      e.message += `\n${system.logs()}`;
      throw e;
    }
  };
}

describe("sessions", () => {
  test("login keeps the session and profile() uses it", withLogs(async () => {
    const client = new AIHub({ baseURL: system.baseURL });
    const session = await client.login(email, PASSWORD);
    assert.equal(session.token_type, "Bearer");
    assert.equal(session.developer.email, email);
    assert.equal(client.accessToken, session.access_token);
    const profile = await client.profile();
    assert.equal(profile.email, email);
    assert.equal(profile.email_verified, true);
  }));

  test("a broken access token is refreshed once and the call repeated", withLogs(async () => {
    const first = await signedIn();
    const sessions = [];
    const client = new AIHub({
      baseURL: system.baseURL,
      accessToken: "broken-access-token",
      refreshToken: first.refreshToken,
      onSession: (s) => sessions.push(s),
    });
    // Three calls refused at once share one refresh (a refresh token works once).
    const profiles = await Promise.all([client.profile(), client.profile(), client.profile()]);
    assert.deepEqual(profiles.map((p) => p.email), [email, email, email]);
    assert.equal(sessions.length, 1);
    assert.equal(client.accessToken, sessions[0].access_token);
    assert.notEqual(client.refreshToken, first.refreshToken);
    // The old refresh token was spent by the refresh.
    const stale = new AIHub({ baseURL: system.baseURL, accessToken: "broken", refreshToken: first.refreshToken });
    await assert.rejects(stale.profile(), AuthenticationError);
  }));

  test("when the refresh token is refused too, the client signs in again", withLogs(async () => {
    const sessions = [];
    const client = new AIHub({
      baseURL: system.baseURL,
      email,
      password: PASSWORD,
      accessToken: "broken-access-token",
      refreshToken: "broken-refresh-token",
      onSession: (s) => sessions.push(s),
    });
    assert.equal((await client.profile()).email, email);
    assert.equal(sessions.length, 1);
  }));

  test("email and password alone: signs in on the first call", withLogs(async () => {
    const client = new AIHub({ baseURL: system.baseURL, email, password: PASSWORD });
    assert.equal(client.accessToken, undefined);
    assert.equal((await client.profile()).email, email);
    assert.ok(client.accessToken);
  }));

  test("a wrong password is an AuthenticationError with the API's code", withLogs(async () => {
    const client = new AIHub({ baseURL: system.baseURL });
    const error = await client.login(email, "not-the-password-1").catch((e) => e);
    assert.ok(error instanceof AuthenticationError, String(error));
    assert.equal(error.status, 401);
    assert.equal(error.code, "invalid_credentials");
  }));

  test("logout ends the session", withLogs(async () => {
    const client = await signedIn();
    const { accessToken, refreshToken } = client;
    await client.logout();
    const reused = new AIHub({ baseURL: system.baseURL, accessToken, refreshToken });
    await assert.rejects(reused.profile(), AuthenticationError);
  }));
});

describe("keys", () => {
  test("create, list, update, regenerate, usage, delete", withLogs(async () => {
    const client = await signedIn();
    const created = await client.keys.create({
      name: "ts-crud",
      allowed_models: ["gpt-4o-mini"],
      expires_in_days: 30,
      limits: { requests_per_minute: 60 },
      metadata: { team: "sdk" },
    });
    assert.match(created.secret, /^ahub_/);
    assert.deepEqual(created.allowed_models, ["gpt-4o-mini"]);
    const listed = (await client.keys.list()).data.find((k) => k.id === created.id);
    assert.equal(listed?.name, "ts-crud");
    assert.equal("secret" in listed, false);

    const updated = await client.keys.update(created.id, { name: "ts-crud (prod)", metadata: null });
    assert.equal(updated.name, "ts-crud (prod)");
    assert.deepEqual(updated.allowed_models, ["gpt-4o-mini"]);

    const regenerated = await client.keys.regenerate(created.id, { grace_seconds: 60 });
    assert.match(regenerated.secret, /^ahub_/);
    assert.notEqual(regenerated.secret, created.secret);

    const usage = await client.keys.usage(created.id, { days: 3 });
    assert.equal(usage.by_day.length, 3);
    assert.equal(usage.totals.requests, 0);

    await client.keys.delete(created.id);
    assert.equal((await client.keys.list()).data.some((k) => k.id === created.id), false);
    await assert.rejects(client.keys.delete(created.id), NotFoundError);
  }));

  test("a create whose answer was lost is retried with the same Idempotency-Key: one key", withLogs(async () => {
    const sent = [];
    let lost = false;
    const client = await signedIn({
      fetch: async (url, init) => {
        const response = await fetch(url, init);
        if (init.method === "POST" && new URL(url).pathname === "/api/v1/developer/keys") {
          sent.push(init.headers["idempotency-key"]);
          if (!lost) {
            lost = true; // the key was made, but the answer never arrives
            await response.body?.cancel();
            throw new TypeError("fetch failed: connection reset");
          }
        }
        return response;
      },
    });
    const name = `ts-idem-${Date.now()}`;
    const key = await client.keys.create({ name });
    assert.equal(sent.length, 2);
    assert.equal(sent[0], sent[1]);
    assert.match(sent[0], /^aihub-js-/);
    const same = (await client.keys.list()).data.filter((k) => k.name === name);
    assert.deepEqual(same.map((k) => k.id), [key.id]);
    await client.keys.delete(key.id);
  }));

  test("a POST without an Idempotency-Key is not repeated after a lost answer", withLogs(async () => {
    let calls = 0;
    const client = await signedIn({
      fetch: async (url, init) => {
        if (new URL(url).pathname.endsWith("/regenerate")) {
          calls++;
          throw new TypeError("fetch failed: connection reset");
        }
        return fetch(url, init);
      },
    });
    const key = await client.keys.create({ name: "ts-no-retry" });
    const error = await client.keys.regenerate(key.id).catch((e) => e);
    assert.ok(error instanceof APIConnectionError, String(error));
    assert.equal(calls, 1);
    await client.keys.delete(key.id);
  }));
});

describe("errors", () => {
  test("404 and 400 answers are error classes with code, message and request id", withLogs(async () => {
    const client = await signedIn();
    const missing = await client.keys.update("key_does_not_exist", { name: "x" }).catch((e) => e);
    assert.ok(missing instanceof NotFoundError, String(missing));
    assert.equal(missing.status, 404);
    assert.equal(missing.code, "not_found");
    assert.ok(missing.message.length > 0);
    assert.ok(missing.requestId, "the answer has an x-request-id");

    const key = await client.keys.create({ name: "ts-errors" });
    const invalid = await client.keys.usage(key.id, { days: 0 }).catch((e) => e);
    assert.ok(invalid instanceof InvalidRequestError, String(invalid));
    assert.equal(invalid.status, 400);
    assert.equal(invalid.code, "invalid_request");
    assert.match(invalid.message, /days/);
    await client.keys.delete(key.id);
  }));

  test("no answer at all is an APIConnectionError", async () => {
    const client = new AIHub({ baseURL: "http://127.0.0.1:9", accessToken: "x", maxRetries: 0 });
    await assert.rejects(client.profile(), APIConnectionError);
  });
});

describe("paging", () => {
  test("iterate() follows the cursor over many events, newest first", withLogs(async () => {
    const client = await signedIn();
    const made = [];
    for (let i = 0; i < 23; i++) made.push(await client.keys.create({ name: `ts-page-${i}` }));
    const since = made[0].created_at_ms;
    let pages = 0;
    const counting = new AIHub({
      baseURL: system.baseURL,
      accessToken: client.accessToken,
      fetch: (url, init) => {
        if (new URL(url).pathname === "/api/v1/developer/events") pages++;
        return fetch(url, init);
      },
    });
    await waitFor("23 api_key.created events", async () =>
      (await client.events.list({ type: "api_key.created", since_ms: since, limit: 100 })).data.length >= 23);

    const seen = [];
    for await (const event of counting.events.iterate({ type: ["api_key.created"], since_ms: since, pageSize: 5 })) {
      seen.push(event);
    }
    assert.equal(seen.length, 23);
    assert.deepEqual(new Set(seen.map((e) => e.data.id)), new Set(made.map((k) => k.id)));
    assert.ok(seen.every((e) => e.type === "api_key.created"));
    assert.equal(new Set(seen.map((e) => e.id)).size, 23);
    assert.equal(pages, 5); // 5 + 5 + 5 + 5 + 3
    const times = seen.map((e) => e.created_at_ms);
    assert.deepEqual(times, [...times].sort((a, b) => b - a));
    const page = await client.events.list({ type: "api_key.created", since_ms: since, limit: 5 });
    assert.deepEqual(page.data.map((e) => e.id), seen.slice(0, 5).map((e) => e.id));
    assert.equal(page.has_more, true);
    for (const key of made) await client.keys.delete(key.id);
  }));
});

describe("account, usage, billing, tasks", () => {
  test("typed reads answer in the documented shapes", withLogs(async () => {
    const client = await signedIn();
    const usage = await client.usage.summary({ group_by: "model" });
    assert.equal(usage.group_by, "model");
    assert.equal(typeof usage.totals.requests, "number");
    const csv = await client.usage.exportCsv();
    assert.match(csv, /^request_id,time,key_id,model/);
    const billing = await client.billing.summary();
    assert.ok(billing.plan && billing.balance);
    const transactions = await client.billing.transactions({ limit: 10 });
    assert.ok(Array.isArray(transactions.data));
    assert.equal(typeof transactions.has_more, "boolean");
    assert.ok(Array.isArray((await client.invoices.list()).data));
    assert.ok((await client.events.types()).some((t) => t.type === "api_key.created"));
  }));

  test("a data export task runs to completion and its file downloads", withLogs(async () => {
    const client = await signedIn();
    const task = await client.tasks.create({ type: "data_export", input: { kind: "usage" } });
    assert.match(task.id, /^task_/);
    const done = await waitFor("the export to finish", async () => {
      const t = await client.tasks.get(task.id);
      if (t.status === "failed") throw new Error(JSON.stringify(t));
      return t.status === "completed" ? t : null;
    }, 60_000);
    assert.equal(done.progress, 100);
    const listed = [];
    for await (const t of client.tasks.iterate({ pageSize: 1 })) listed.push(t.id);
    assert.ok(listed.includes(task.id));
    assert.match(await client.tasks.download(task.id), /request_id/);
  }));
});

describe("webhooks", () => {
  let receiver;
  before(async () => {
    receiver = await WebhookReceiver.start();
  });
  after(() => receiver?.close());

  test("a real delivery verifies with verifyWebhook, a tampered one does not", withLogs(async () => {
    const client = await signedIn();
    const endpoint = await client.webhooks.create({ url: receiver.url, event_types: ["webhook.test", "api_key.created"] });
    assert.match(endpoint.secret, /^whsec_/);
    assert.equal((await client.webhooks.secret(endpoint.id)).secret, endpoint.secret);

    const result = await client.webhooks.test(endpoint.id);
    const request = await receiver.waitFor("the webhook.test delivery", (r) =>
      r.headers["webhook-id"] === result.delivery.event_id);
    const event = verifyWebhook(endpoint.secret, request.headers, request.body);
    assert.equal(event.type, "webhook.test");
    assert.equal(event.id, request.headers["webhook-id"]);
    // A fetch-style Headers object works as well.
    assert.equal(verifyWebhook(endpoint.secret, new Headers(request.headers), request.body.toString()).id, event.id);

    const tampered = Buffer.from(request.body.toString().replace("webhook.test", "webhook.tess"));
    assert.throws(() => verifyWebhook(endpoint.secret, request.headers, tampered), WebhookVerificationError);
    const otherSecret = `whsec_${Buffer.from("another secret of 32 bytes......").toString("base64")}`;
    assert.throws(() => verifyWebhook(otherSecret, request.headers, request.body), WebhookVerificationError);
    const { ["webhook-signature"]: _, ...unsigned } = request.headers;
    assert.throws(() => verifyWebhook(endpoint.secret, unsigned, request.body), WebhookVerificationError);

    // An event the API emits by itself.
    const key = await client.keys.create({ name: "ts-webhook-key" });
    const created = await receiver.waitFor("the api_key.created delivery", (r) =>
      r.headers["webhook-id"] !== event.id && verifyWebhook(endpoint.secret, r.headers, r.body).data?.id === key.id);
    assert.equal(verifyWebhook(endpoint.secret, created.headers, created.body).type, "api_key.created");

    const deliveries = [];
    await waitFor("both deliveries to succeed", async () => {
      deliveries.length = 0;
      for await (const d of client.webhooks.iterateDeliveries(endpoint.id, { status: "succeeded", pageSize: 1 })) {
        deliveries.push(d);
      }
      return deliveries.length === 2;
    });
    assert.deepEqual(new Set(deliveries.map((d) => d.event_type)), new Set(["webhook.test", "api_key.created"]));
    await client.keys.delete(key.id);
    await client.webhooks.delete(endpoint.id);
    await assert.rejects(client.webhooks.get(endpoint.id), NotFoundError);
  }));
});

describe("openai()", () => {
  test("an official OpenAI client through the gateway: plain and streamed", withLogs(async () => {
    const client = await signedIn();
    const key = await client.keys.create({ name: "ts-openai" });
    await client.waitForKey(key.secret);
    const ai = client.openai(key.secret, { maxRetries: 0 });
    assert.ok(ai instanceof OpenAI);
    assert.equal(ai.baseURL, `${system.baseURL}/v1`);

    const reply = await ai.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hello from the TypeScript SDK" }],
    });
    assert.ok(reply.choices[0].message.content.length > 0);
    assert.ok(reply.usage.total_tokens > 0);

    const stream = await ai.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "Stream a story" }],
      stream: true,
    });
    let text = "";
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? "";
    }
    assert.ok(chunks > 1, `${chunks} chunks`);
    assert.ok(text.length > 0);

    const refused = await client.openai("ahub_not_a_real_key", { maxRetries: 0 }).models.list().catch((e) => e);
    assert.ok(refused instanceof OpenAI.AuthenticationError, String(refused));
    await client.keys.delete(key.id);
  }));
});
