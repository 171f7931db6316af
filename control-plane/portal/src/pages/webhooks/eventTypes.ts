/** Short, translated descriptions of the event types the API knows (no React here). */
import type { TFunction } from "i18next";

/** The catalogue key of each known event type's description. */
const DESCRIPTION_KEYS = {
  "api_key.created": "webhooks.eventTypes.apiKeyCreated",
  "api_key.updated": "webhooks.eventTypes.apiKeyUpdated",
  "api_key.regenerated": "webhooks.eventTypes.apiKeyRegenerated",
  "api_key.deleted": "webhooks.eventTypes.apiKeyDeleted",
  "api.usage_alert": "webhooks.eventTypes.apiUsageAlert",
  "api.error": "webhooks.eventTypes.apiError",
  "billing.payment": "webhooks.eventTypes.billingPayment",
  "invoice.finalized": "webhooks.eventTypes.invoiceFinalized",
  "task.completed": "webhooks.eventTypes.taskCompleted",
  "task.failed": "webhooks.eventTypes.taskFailed",
  "task.progress": "webhooks.eventTypes.taskProgress",
  "batch.completed": "webhooks.eventTypes.batchCompleted",
  "batch.progress": "webhooks.eventTypes.batchProgress",
  "webhook.test": "webhooks.eventTypes.webhookTest",
  "webhook.endpoint_disabled": "webhooks.eventTypes.webhookEndpointDisabled",
} as const;

export type KnownEventType = keyof typeof DESCRIPTION_KEYS;
export const KNOWN_EVENT_TYPES = Object.keys(DESCRIPTION_KEYS) as KnownEventType[];

const isKnown = (type: string): type is KnownEventType => Object.hasOwn(DESCRIPTION_KEYS, type);

/** The API's (English) description as plain text: code spans lose their backticks, whitespace is tidied. */
export function plainDescription(text: string): string {
  return text.replace(/`/g, "").replace(/\s+/g, " ").trim();
}

/**
 * What an event type means, in the reader's language for the types the
 * portal knows, else the API's own text (`fallback`) without markup.
 */
export function eventTypeDescription(t: TFunction, type: string, fallback = ""): string {
  return isKnown(type) ? t(DESCRIPTION_KEYS[type]) : plainDescription(fallback);
}
