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

/** The signed-in developer's own account. */
export interface Profile {
  id: string;
  email: string;
  full_name: string;
  company_name: string | null;
  developer_type: DeveloperType;
  role: Role;
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

/** The management API's one error body. */
export interface ErrorBody {
  error: { code: string; message: string };
}
