/** The webhook endpoint form's state, checks and request bodies (no React here). */
import type { TFunction } from "i18next";
import type { CreateWebhookRequest, UpdateWebhookRequest, WebhookEndpoint } from "../../api/types";
import type { Problem } from "../../lib/validation";

export const ALL_EVENTS = "*";
export const MAX_RETRIES_LIMIT = 7;
export const DEFAULT_MAX_RETRIES = 3;
export const DESCRIPTION_MAX = 500;

/** "All events" or the checked types. */
export interface EventTypeSelection {
  all: boolean;
  types: string[];
}

export interface EndpointFormState {
  url: string;
  description: string;
  events: EventTypeSelection;
  maxRetries: string;
  enabled: boolean;
}

export type EndpointProblems = Partial<Record<"url" | "events" | "maxRetries" | "description", Problem>>;

export function selectionOf(eventTypes: string[]): EventTypeSelection {
  return eventTypes.includes(ALL_EVENTS) || eventTypes.length === 0
    ? { all: true, types: [] }
    : { all: false, types: [...eventTypes] };
}

/** What the API takes as `event_types`: `["*"]` for every event. */
export function eventTypesPayload(selection: EventTypeSelection): string[] {
  if (selection.all) return [ALL_EVENTS];
  return [...new Set(selection.types)];
}

export function formFromEndpoint(endpoint?: WebhookEndpoint): EndpointFormState {
  if (!endpoint) {
    return { url: "", description: "", events: { all: true, types: [] }, maxRetries: String(DEFAULT_MAX_RETRIES), enabled: true };
  }
  return {
    url: endpoint.url,
    description: endpoint.description,
    events: selectionOf(endpoint.event_types),
    maxRetries: String(endpoint.max_retries),
    enabled: endpoint.enabled,
  };
}

export function validateEndpointForm(form: EndpointFormState): EndpointProblems {
  const problems: EndpointProblems = {};
  const url = form.url.trim();
  if (url === "") problems.url = { key: "validation.required" };
  else {
    let parsed: URL | null = null;
    try {
      parsed = new URL(url);
    } catch {
      parsed = null;
    }
    if (!parsed || (parsed.protocol !== "https:" && parsed.protocol !== "http:") || !parsed.hostname) {
      problems.url = { key: "webhooks.form.urlInvalid" };
    }
  }
  if (form.description.length > DESCRIPTION_MAX) {
    problems.description = { key: "webhooks.form.descriptionTooLong", values: { max: DESCRIPTION_MAX } };
  }
  if (!form.events.all && form.events.types.length === 0) problems.events = { key: "webhooks.form.eventsRequired" };
  const retries = form.maxRetries.trim();
  if (!/^\d+$/.test(retries) || Number(retries) > MAX_RETRIES_LIMIT) {
    problems.maxRetries = { key: "webhooks.form.retriesInvalid", values: { max: MAX_RETRIES_LIMIT } };
  }
  return problems;
}

export function toCreateWebhookRequest(form: EndpointFormState): CreateWebhookRequest {
  const request: CreateWebhookRequest = {
    url: form.url.trim(),
    event_types: eventTypesPayload(form.events),
    max_retries: Number(form.maxRetries.trim()),
  };
  const description = form.description.trim();
  if (description) request.description = description;
  return request;
}

/** Every editable field, as PUT replaces what it is given. */
export function toUpdateWebhookRequest(form: EndpointFormState, endpoint: WebhookEndpoint): UpdateWebhookRequest {
  const update: UpdateWebhookRequest = {
    url: form.url.trim(),
    description: form.description.trim(),
    event_types: eventTypesPayload(form.events),
    max_retries: Number(form.maxRetries.trim()),
  };
  if (form.enabled !== endpoint.enabled) update.enabled = form.enabled;
  return update;
}

/** "All events", "api_key.created, task.failed" or "5 event types". */
export function eventTypesSummary(eventTypes: string[], t: TFunction): string {
  if (eventTypes.includes(ALL_EVENTS) || eventTypes.length === 0) return t("webhooks.allEvents");
  if (eventTypes.length <= 2) return eventTypes.join(", ");
  return t("webhooks.eventTypesCount", { count: eventTypes.length });
}

export type EndpointStatus = "active" | "failing" | "disabled" | "gone" | "disabledFailing";

export function endpointStatus(endpoint: WebhookEndpoint): EndpointStatus {
  if (!endpoint.enabled) {
    if (endpoint.disabled_reason === "gone") return "gone";
    if (endpoint.disabled_reason === "failing") return "disabledFailing";
    return "disabled";
  }
  return endpoint.failing_since_ms !== null ? "failing" : "active";
}
