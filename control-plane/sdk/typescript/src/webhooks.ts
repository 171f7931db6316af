/**
 * Verifying AI Hub's webhook deliveries (Standard Webhooks, with the
 * `standardwebhooks` package).
 *
 * Each delivery carries `webhook-id` (the event id, the same on every retry),
 * `webhook-timestamp` (unix seconds of the attempt) and `webhook-signature`:
 * space-separated `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`
 * entries, one per active secret (two during a secret rotation). The HMAC key
 * is the endpoint secret's bytes after `whsec_`, base64-decoded.
 */
import { Webhook, WebhookVerificationError as LibraryVerificationError } from "standardwebhooks";

import { WebhookVerificationError } from "./errors.js";
import type { Event } from "./types.js";

/** A request's headers: a fetch `Headers`, Node's `req.headers`, or a plain object (names in any case). */
export type WebhookHeaders =
  | Headers
  | Record<string, string | readonly string[] | undefined>
  | Iterable<readonly [string, string]>;

/** A raw request body: the bytes as received (re-serialised JSON has other bytes). */
export type WebhookBody = string | Uint8Array | ArrayBuffer;

function headerRecord(headers: WebhookHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (name: string, value: string | readonly string[] | undefined) => {
    if (value === undefined) return;
    out[name.toLowerCase()] = typeof value === "string" ? value : value.join(" ");
  };
  if (typeof Headers !== "undefined" && headers instanceof Headers) {
    headers.forEach((value, name) => put(name, value));
  } else if (Symbol.iterator in headers && typeof (headers as Iterable<unknown>)[Symbol.iterator] === "function") {
    for (const [name, value] of headers as Iterable<readonly [string, string]>) put(name, value);
  } else {
    for (const [name, value] of Object.entries(headers as Record<string, string | readonly string[] | undefined>)) {
      put(name, value);
    }
  }
  return out;
}

function bodyBuffer(body: WebhookBody): Buffer {
  if (typeof body === "string") return Buffer.from(body, "utf8");
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

function verifier(secret: string): Webhook {
  try {
    return new Webhook(secret);
  } catch (e) {
    throw new TypeError("the webhook secret is not 'whsec_' followed by base64", { cause: e });
  }
}

/**
 * Checks a delivery and returns its event (the parsed JSON body).
 *
 * `secret` is the endpoint's `whsec_…` secret; `headers` the request's headers;
 * `body` the **raw** request body. Signatures are compared in constant time;
 * a `webhook-timestamp` more than five minutes away from now is refused
 * (replays). Throws {@link WebhookVerificationError} on any failure.
 */
export function verifyWebhook<T = Event>(secret: string, headers: WebhookHeaders, body: WebhookBody): T {
  const wh = verifier(secret);
  let event: unknown;
  try {
    event = wh.verify(bodyBuffer(body), headerRecord(headers));
  } catch (e) {
    if (e instanceof LibraryVerificationError) throw new WebhookVerificationError(e.message, { cause: e });
    throw new WebhookVerificationError("the body is not JSON", { cause: e });
  }
  if (event === null || typeof event !== "object" || Array.isArray(event)) {
    throw new WebhookVerificationError("the body is not a JSON object");
  }
  return event as T;
}

/** What {@link signWebhook} signs. */
export interface SignWebhookOptions {
  /** The `webhook-id` (an event id, `evt_…`). */
  id: string;
  /** When: a `Date` or unix seconds (default: now). */
  timestamp?: Date | number;
  /** The raw body. */
  body: WebhookBody;
}

/**
 * The three headers AI Hub would send with this body, signed with `secret`
 * (one `v1,…` signature). For tests of your own receiver.
 */
export function signWebhook(
  secret: string,
  { id, timestamp = new Date(), body }: SignWebhookOptions,
): { "webhook-id": string; "webhook-timestamp": string; "webhook-signature": string } {
  const when = typeof timestamp === "number" ? new Date(timestamp * 1000) : timestamp;
  return {
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(when.getTime() / 1000)),
    "webhook-signature": verifier(secret).sign(id, when, bodyBuffer(body)),
  };
}
