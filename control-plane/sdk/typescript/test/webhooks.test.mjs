// verifyWebhook / signWebhook without a server: the Standard Webhooks scheme
// as control-plane/docs/webhooks.md describes it, checked against an HMAC made
// here with node:crypto.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";

import { WebhookVerificationError, signWebhook, verifyWebhook } from "@aihub/sdk";

const key = Buffer.from("0123456789abcdef0123456789abcdef");
const secret = `whsec_${key.toString("base64")}`;
const body = JSON.stringify({ id: "evt_1", type: "webhook.test", created_at_ms: 1, data: { note: "héllo" } });

test("signWebhook signs '{id}.{timestamp}.{body}' with the decoded secret", () => {
  const now = Math.floor(Date.now() / 1000);
  const headers = signWebhook(secret, { id: "evt_1", timestamp: now, body });
  const mac = createHmac("sha256", key).update(`evt_1.${now}.${body}`).digest("base64");
  assert.deepEqual(headers, { "webhook-id": "evt_1", "webhook-timestamp": String(now), "webhook-signature": `v1,${mac}` });
});

test("verifyWebhook returns the event for a good signature, in any header case and body type", () => {
  const headers = signWebhook(secret, { id: "evt_1", body });
  assert.equal(verifyWebhook(secret, headers, body).type, "webhook.test");
  const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
  assert.equal(verifyWebhook(secret, upper, Buffer.from(body)).id, "evt_1");
  assert.equal(verifyWebhook(secret, new Headers(headers), new TextEncoder().encode(body)).data.note, "héllo");
});

test("during a rotation either of two signatures may match", () => {
  const other = `whsec_${Buffer.from("another key, thirty-two bytes!!!").toString("base64")}`;
  const headers = signWebhook(other, { id: "evt_1", body });
  const mine = signWebhook(secret, { id: "evt_1", body, timestamp: Number(headers["webhook-timestamp"]) });
  headers["webhook-signature"] = `${headers["webhook-signature"]} ${mine["webhook-signature"]}`;
  assert.equal(verifyWebhook(secret, headers, body).id, "evt_1");
  assert.equal(verifyWebhook(other, headers, body).id, "evt_1");
});

test("tampering, a wrong secret, missing headers and stale timestamps are refused", () => {
  const headers = signWebhook(secret, { id: "evt_1", body });
  const refuse = (h, b, s = secret) => assert.throws(() => verifyWebhook(s, h, b), WebhookVerificationError);
  refuse(headers, body.replace("héllo", "hello"));
  refuse({ ...headers, "webhook-id": "evt_2" }, body);
  refuse(headers, body, `whsec_${Buffer.from("x".repeat(32)).toString("base64")}`);
  refuse({ "webhook-id": "evt_1", "webhook-timestamp": headers["webhook-timestamp"] }, body);
  const old = Math.floor(Date.now() / 1000) - 301;
  refuse(signWebhook(secret, { id: "evt_1", body, timestamp: old }), body);
  const future = Math.floor(Date.now() / 1000) + 301;
  refuse(signWebhook(secret, { id: "evt_1", body, timestamp: future }), body);
  refuse(signWebhook(secret, { id: "evt_1", body: "[1, 2]" }), "[1, 2]");
});
