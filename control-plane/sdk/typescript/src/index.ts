/**
 * `@aihub/sdk`: a typed client of AI Hub's management API, webhook signature
 * verification, and an official OpenAI client configured for AI Hub.
 */
import { AIHub } from "./client.js";

export { AIHub, openaiClient, paginate } from "./client.js";
export type { AIHubOptions, IterateOptions, Page, QueryParams, RequestOptions } from "./client.js";
export { Analytics, Billing, Events, Files, Invoices, Keys, Tasks, Usage, Webhooks } from "./client.js";
export {
  AIHubError,
  APIConnectionError,
  APIError,
  AuthenticationError,
  ConflictError,
  InternalServerError,
  InvalidRequestError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  WebhookVerificationError,
} from "./errors.js";
export { signWebhook, verifyWebhook } from "./webhooks.js";
export type { SignWebhookOptions, WebhookBody, WebhookHeaders } from "./webhooks.js";
export type * from "./types.js";
export { VERSION } from "./version.js";
export default AIHub;
