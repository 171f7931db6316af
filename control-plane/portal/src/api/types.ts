/** Wire types of the management API (`/api/v1`), exactly as the server sends them. */

export type Language = "en" | "zh-CN";
export type DeveloperType = "individual" | "enterprise";
export type Role = "developer" | "admin";
export type SignupPolicy = "open" | "invite_only" | "closed";

/** `GET /api/v1/auth/config`: what the sign-up and sign-in pages may offer. */
export interface AuthConfig {
  signup: SignupPolicy;
  email_verification_required: boolean;
  languages: Language[];
}

/**
 * `GET /api/v1/openapi.json`: the management API's OpenAPI 3.1 document,
 * public. Only what the portal reads is typed; the reference page hands the
 * whole document to its renderer.
 */
export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string };
  paths?: Record<string, unknown>;
  [field: string]: unknown;
}

/** The signed-in developer's own account. */
export interface Profile {
  id: string;
  email: string;
  full_name: string;
  company_name: string | null;
  developer_type: DeveloperType;
  role: Role;
  /** An operator who can look but not change anything (support staff). */
  read_only?: boolean;
  email_verified: boolean;
  language: Language;
  created_at_ms: number;
  api_rate_limit: number | null;
  api_quota_limit: number | null;
}

/** Answer of login and refresh. */
export interface Session {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token: string;
  developer: Profile;
}

export interface RegisterRequest {
  email: string;
  password: string;
  full_name: string;
  company_name?: string;
  developer_type: DeveloperType;
  language?: Language;
  invite_code?: string;
}

export interface ProfileUpdate {
  full_name?: string;
  company_name?: string;
  developer_type?: DeveloperType;
  language?: Language;
}

/** A developer's API key as listed (never with its secret). */
export interface ApiKey {
  id: string;
  name: string;
  /** The key's first characters, safe to show (`ahub_AbCd…`). */
  display_prefix: string;
  enabled: boolean;
  created_at_ms: number;
  expires_at_ms: number | null;
  last_used_at_ms: number | null;
  /** null: every model. */
  allowed_models: string[] | null;
  /** null: every endpoint family. */
  allowed_endpoints: EndpointScope[] | null;
  /** The key's own limits; each null = only the account's limits apply. */
  limits: KeyLimits;
  /** Client addresses allowed to use the key (CIDRs or single IPs); null = any. */
  ip_allowlist: string[] | null;
  /** Free-form labels (`team=search`). */
  metadata: KeyMetadata | null;
}

/** Endpoint families a key can be scoped to, in documentation order. */
export const ENDPOINT_SCOPES = ["chat", "completions", "embeddings", "batches", "files"] as const;
export type EndpointScope = (typeof ENDPOINT_SCOPES)[number];

export type KeyMetadata = Record<string, string>;

/** A key's limits. Budgets are decimal strings in USD ("12.5"). */
export interface KeyLimits {
  requests_per_minute: number | null;
  tokens_per_minute: number | null;
  token_quota_total: number | null;
  token_quota_monthly: number | null;
  budget_total: string | null;
  budget_monthly: string | null;
}

/** The account's own ceilings, which a key's limits cannot exceed (null: none). */
export interface AccountLimits {
  requests_per_minute: number | null;
  token_quota_monthly: number | null;
}

/** `GET /developer/keys`. */
export interface KeyList {
  data: ApiKey[];
  account_limits?: AccountLimits;
}

/** Answer of creation: the key and its secret, shown once. */
export interface CreatedKey extends ApiKey {
  secret: string;
}

/** Answer of regeneration: the new secret and until when the old one works. */
export interface RegeneratedKey extends ApiKey {
  secret: string;
  grace_expires_at_ms: number | null;
}

export interface CreateKeyRequest {
  name: string;
  allowed_models?: string[] | null;
  /** null: never expires. */
  expires_in_days?: number | null;
  allowed_endpoints?: EndpointScope[] | null;
  limits?: KeyLimits;
  ip_allowlist?: string[] | null;
  metadata?: KeyMetadata | null;
}

export interface UpdateKeyRequest {
  name?: string;
  enabled?: boolean;
  allowed_models?: string[] | null;
  expires_at_ms?: number | null;
  /** Absent: unchanged; null: cleared. */
  allowed_endpoints?: EndpointScope[] | null;
  /** Replaces every limit (a null inside clears that one). */
  limits?: KeyLimits | null;
  ip_allowlist?: string[] | null;
  metadata?: KeyMetadata | null;
}

/** `GET /developer/keys/{id}/usage`: totals and one row per day (cost in nano-USD). */
export interface KeyUsage {
  key_id: string;
  days: number;
  totals: {
    requests: number;
    prompt_tokens: number;
    completion_tokens: number;
    cost_nanos: number;
    errors: number;
  };
  by_day: { date: string; requests: number; tokens: number; cost_nanos: number; errors: number }[];
  last_used_at_ms: number | null;
}

// ------------------------------------------------------------------ webhooks

/** `GET /developer/event-types`: one kind of event a webhook can receive. */
export interface EventTypeInfo {
  type: string;
  description: string;
  example: unknown;
}

/** Why an endpoint is disabled: by its owner, a 410 Gone answer, or repeated failures. */
export type DisabledReason = "manual" | "gone" | "failing";

/** A webhook endpoint as listed (its secret only as a hint). */
export interface WebhookEndpoint {
  id: string;
  url: string;
  description: string;
  /** `["*"]`: every event type. */
  event_types: string[];
  enabled: boolean;
  disabled_reason: DisabledReason | null;
  max_retries: number;
  secret_hint: string;
  /** Until when the secret before the last rotation still signs deliveries. */
  previous_secret_expires_at_ms: number | null;
  failing_since_ms: number | null;
  created_at_ms: number;
  updated_at_ms: number;
}

/** Answer of creation: the endpoint and its signing secret. */
export interface CreatedWebhookEndpoint extends WebhookEndpoint {
  secret: string;
}

export interface CreateWebhookRequest {
  url: string;
  description?: string;
  event_types?: string[];
  max_retries?: number;
}

export interface UpdateWebhookRequest {
  url?: string;
  description?: string;
  event_types?: string[];
  max_retries?: number;
  enabled?: boolean;
}

export interface RotatedWebhookSecret {
  secret: string;
  previous_secret_expires_at_ms: number | null;
}

export type DeliveryStatus = "pending" | "succeeded" | "failed";

/** One event's delivery to one endpoint. */
export interface WebhookDelivery {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at_ms: number | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at_ms: number;
  finished_at_ms: number | null;
}

/** One HTTP attempt of a delivery. */
export interface DeliveryAttempt {
  id: string;
  attempted_at_ms: number;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  /** The first KiB of the endpoint's answer. */
  response_body: string;
}

/** `GET /developer/webhook-deliveries/{id}`. */
export interface WebhookDeliveryDetail extends Omit<WebhookDelivery, "attempts"> {
  attempts: DeliveryAttempt[];
}

/** `POST /developer/webhooks/{id}/test`. */
export interface WebhookTestResult {
  delivery: WebhookDelivery;
  attempt: DeliveryAttempt;
}

export interface DeliveryFilter {
  status?: DeliveryStatus;
  event_type?: string;
  limit?: number;
  starting_after?: string;
}

/** Something that happened in the account. */
export interface AccountEvent {
  id: string;
  type: string;
  created_at_ms: number;
  data: unknown;
}

export interface EventFilter {
  /** Any of these types (empty: all). */
  types?: string[];
  since_ms?: number;
  until_ms?: number;
  limit?: number;
  starting_after?: string;
}

/** A page of a newest-first list. */
export interface Page<T> {
  data: T[];
  has_more: boolean;
}

/** The management API's one error body. */
export interface ErrorBody {
  error: { code: string; message: string; type?: string; param?: string | null };
}
