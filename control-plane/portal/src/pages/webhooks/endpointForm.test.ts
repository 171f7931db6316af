import { describe, expect, it } from "vitest";
import type { WebhookEndpoint } from "../../api/types";
import {
  endpointStatus,
  eventTypesPayload,
  formFromEndpoint,
  selectionOf,
  toCreateWebhookRequest,
  toUpdateWebhookRequest,
  validateEndpointForm,
} from "./endpointForm";

const endpoint: WebhookEndpoint = {
  id: "we_1",
  url: "https://example.com/hook",
  description: "",
  event_types: ["*"],
  enabled: true,
  disabled_reason: null,
  max_retries: 3,
  secret_hint: "whsec_AbCd…",
  previous_secret_expires_at_ms: null,
  failing_since_ms: null,
  created_at_ms: 1,
  updated_at_ms: 1,
};

describe("event type picker payload", () => {
  it("sends all events as [\"*\"], whatever was checked before", () => {
    expect(eventTypesPayload({ all: true, types: [] })).toEqual(["*"]);
    expect(eventTypesPayload({ all: true, types: ["api_key.created"] })).toEqual(["*"]);
  });

  it("sends the checked types once each", () => {
    expect(eventTypesPayload({ all: false, types: ["task.failed", "api_key.created", "task.failed"] })).toEqual([
      "task.failed",
      "api_key.created",
    ]);
  });

  it("reads an endpoint's types back", () => {
    expect(selectionOf(["*"])).toEqual({ all: true, types: [] });
    expect(selectionOf(["task.failed"])).toEqual({ all: false, types: ["task.failed"] });
  });
});

describe("endpoint form", () => {
  it("checks URL, event types and retries", () => {
    const form = formFromEndpoint();
    expect(validateEndpointForm(form).url?.key).toBe("validation.required");
    expect(validateEndpointForm({ ...form, url: "example.com" }).url?.key).toBe("webhooks.form.urlInvalid");
    expect(validateEndpointForm({ ...form, url: "ftp://example.com" }).url?.key).toBe("webhooks.form.urlInvalid");
    const ok = { ...form, url: "https://example.com/hook" };
    expect(validateEndpointForm(ok)).toEqual({});
    expect(validateEndpointForm({ ...ok, events: { all: false, types: [] } }).events?.key).toBe(
      "webhooks.form.eventsRequired",
    );
    expect(validateEndpointForm({ ...ok, maxRetries: "8" }).maxRetries?.key).toBe("webhooks.form.retriesInvalid");
    expect(validateEndpointForm({ ...ok, maxRetries: "1.5" }).maxRetries?.key).toBe("webhooks.form.retriesInvalid");
    expect(validateEndpointForm({ ...ok, maxRetries: "0" })).toEqual({});
  });

  it("builds the create and update bodies", () => {
    const form = { ...formFromEndpoint(), url: " https://example.com/hook ", maxRetries: "5" };
    expect(toCreateWebhookRequest(form)).toEqual({
      url: "https://example.com/hook",
      event_types: ["*"],
      max_retries: 5,
    });
    expect(toCreateWebhookRequest({ ...form, description: " Billing ", events: { all: false, types: ["a.b"] } })).toEqual({
      url: "https://example.com/hook",
      description: "Billing",
      event_types: ["a.b"],
      max_retries: 5,
    });
    const edit = formFromEndpoint(endpoint);
    expect(toUpdateWebhookRequest({ ...edit, enabled: false }, endpoint)).toEqual({
      url: "https://example.com/hook",
      description: "",
      event_types: ["*"],
      max_retries: 3,
      enabled: false,
    });
  });

  it("names the endpoint's status", () => {
    expect(endpointStatus(endpoint)).toBe("active");
    expect(endpointStatus({ ...endpoint, failing_since_ms: 5 })).toBe("failing");
    expect(endpointStatus({ ...endpoint, enabled: false, disabled_reason: "manual" })).toBe("disabled");
    expect(endpointStatus({ ...endpoint, enabled: false, disabled_reason: "gone" })).toBe("gone");
    expect(endpointStatus({ ...endpoint, enabled: false, disabled_reason: "failing" })).toBe("disabledFailing");
  });
});
