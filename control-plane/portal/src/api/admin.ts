/**
 * The operator routes of the management API (`/api/v1/admin/…`,
 * `control-plane/docs/admin-api.md` and "Operator routes" in
 * `billing-api.md`): the setup checklist, developers, plans, providers,
 * models and their deployments, invoices, redemption codes, the audit log,
 * the upstreams' health and the settings changed in the console. Every
 * route needs an operator's token.
 *
 * Money and prices stay the server's decimal strings (`"2.50"`); times are
 * unix milliseconds. Lists that page take `limit` and `starting_after` (the
 * last id of the page before) and answer `has_more`.
 */
import { useAuth } from "../auth/AuthProvider";
import type { Balance, Billing, InvoiceLine, InvoiceStatus, InvoiceSummary, Money, OverageMode } from "./billing";
import { RawBody } from "./client";
import type { ApiClient } from "./client";
import type { DeveloperType, Language, Page, Role } from "./types";

export type { Money, OverageMode };

// ------------------------------------------------------------------ wire types

/** One step of `GET /admin/setup`. */
export interface SetupStep {
  id: "provider" | "model" | "plan" | "email" | "payment" | string;
  done: boolean;
  /** What to do, in the server's words (English). */
  hint: string;
}

export interface SetupChecklist {
  done: boolean;
  steps: SetupStep[];
}

export const DEVELOPER_STATUSES = ["active", "suspended"] as const;
export type DeveloperStatus = (typeof DEVELOPER_STATUSES)[number];
export const ROLES: readonly Role[] = ["developer", "admin"];

/** DEVELOPER: an account as support sees it. */
export interface AdminDeveloper {
  id: string;
  email: string;
  full_name: string;
  company_name: string | null;
  developer_type: DeveloperType;
  role: Role;
  status: DeveloperStatus;
  email_verified: boolean;
  language: Language;
  plan_id: string;
  /** null or 0: no account limit. */
  rate_limit_per_minute: number | null;
  quota_tokens_per_month: number | null;
  created_at_ms: number;
}

/** One entry of the audit log. */
export interface AuditEntry {
  id: string;
  at_ms: number;
  /** Who: an account (`dev_…`), or `cli` from `local`. The email is "" when the actor has none. */
  actor: { id: string; email: string; ip: string };
  action: string;
  target_id: string;
  details: unknown;
}

/** `GET /admin/developers/{id}`. */
export interface AdminDeveloperDetail extends AdminDeveloper {
  keys: { active: number; total: number };
  recent_audit: AuditEntry[];
}

export interface DeveloperFilter {
  q?: string;
  status?: DeveloperStatus;
  role?: Role;
  limit?: number;
  starting_after?: string;
}

/** PLAN, as operators see it: private plans too. `null` limits mean none. */
export interface AdminPlan {
  id: string;
  name: string;
  price: Money;
  included_tokens: number;
  requests_per_minute: number | null;
  token_quota_monthly: number | null;
  overage: OverageMode;
  public: boolean;
  sort_order: number;
  subscribers: number;
}

/** `POST /admin/plans`; `PATCH` takes any of these but `id`. Limits: 0 = none. */
export interface PlanInput {
  id?: string;
  name?: string;
  price?: Money;
  included_tokens?: number;
  overage?: OverageMode;
  requests_per_minute?: number;
  token_quota_monthly?: number;
  public?: boolean;
  sort_order?: number;
}

export const PROVIDER_KINDS = ["openai", "anthropic"] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

/** PROVIDER. The upstream key is never sent back, only whether there is one. */
export interface Provider {
  id: string;
  name: string;
  kind: ProviderKind | string;
  base_url: string;
  enabled: boolean;
  has_api_key: boolean;
}

export interface CreateProviderRequest {
  name: string;
  kind: ProviderKind;
  base_url: string;
  api_key?: string;
}

/** `api_key` rotates the upstream key ("" removes it). */
export interface UpdateProviderRequest {
  name?: string;
  base_url?: string;
  enabled?: boolean;
  api_key?: string;
}

/** `POST /admin/providers/{id}/test`: the provider's `GET /models` with its stored key. */
export interface ProviderTest {
  ok: boolean;
  status: number | null;
  latency_ms: number;
  models: string[];
  error: string | null;
}

/** US dollars per million tokens. */
export interface Prices {
  input_per_million: Money;
  output_per_million: Money;
  cached_per_million: Money;
}

export interface Deployment {
  id: string;
  provider_id: string;
  provider_name: string;
  upstream_model: string;
  weight: number;
  priority: number;
  timeout_ms: number;
  enabled: boolean;
  upstream_prices: Prices;
}

/** MODEL. `plans` empty: offered to every plan. Deployments in routing order. */
export interface AdminModel {
  id: string;
  name: string;
  prices: Prices;
  enabled: boolean;
  plans: string[];
  deployments: Deployment[];
}

export interface ModelInput {
  name?: string;
  prices?: Prices;
  enabled?: boolean;
  plans?: string[];
}

export interface DeploymentInput {
  upstream_model?: string;
  weight?: number;
  priority?: number;
  timeout_ms?: number;
  enabled?: boolean;
  upstream_prices?: Prices;
}

export interface CreateDeploymentRequest extends DeploymentInput {
  provider_id: string;
}

/** One model a price list reprices: its prices now and after the import. */
export interface PriceChange {
  model: string;
  model_id: string;
  before: Prices;
  after: Prices;
}

/** `POST /admin/price-list`: what the list changes (a dry run) or changed. */
export interface PriceListImport {
  dry_run: boolean;
  changed: PriceChange[];
  /** Listed models whose prices are already those. */
  unchanged: string[];
  /** Listed names no model has; left alone. */
  unknown: string[];
}

export type PriceListFormat = "csv" | "json";

/**
 * How a price list is sent: CSV for a file named `*.csv`, or for text (pasted,
 * or a file named neither `*.csv` nor `*.json`) whose first line starts with
 * `model,`; JSON otherwise.
 */
export function priceListFormat(text: string, fileName?: string): PriceListFormat {
  if (fileName !== undefined && /\.csv$/i.test(fileName)) return "csv";
  if (fileName !== undefined && /\.json$/i.test(fileName)) return "json";
  return text.replace(/^\uFEFF/, "").trimStart().startsWith("model,") ? "csv" : "json";
}

/** An invoice as the operator lists it: whose it is, too. */
export interface AdminInvoiceSummary extends InvoiceSummary {
  developer_id: string;
  developer_email: string;
}

export interface AdminInvoice extends AdminInvoiceSummary {
  lines: InvoiceLine[];
  credit_notes: CreditNote[];
}

/**
 * A credit note: on an open invoice it lowers what is due (`applied_to:
 * "invoice"`), on a paid one it credits the developer's paid balance
 * (`"balance"`).
 */
export interface CreditNote {
  id: string;
  invoice_id: string;
  amount: Money;
  applied_to: "invoice" | "balance";
  reason: string;
  created_at: number;
  created_by: string | null;
}

/** `POST /admin/invoices/{id}/credit-notes` → 201. */
export interface IssuedCreditNote {
  credit_note: CreditNote;
  invoice: InvoiceSummary;
}

export interface InvoiceFilter {
  developer_id?: string;
  status?: InvoiceStatus;
  limit?: number;
  starting_after?: string;
}

/** `POST /admin/invoices/{id}/payments` → 201. */
export interface RecordedPayment {
  payment_id: string;
  invoice: InvoiceSummary;
}

/** `POST /admin/developers/{id}/credit` → 201. */
export interface CreditGrant {
  transaction_id: string;
  balance: Balance;
}

/** One batch of redemption codes as listed (the codes themselves only when created). */
export interface CodeBatch {
  batch_id: string;
  amount: Money;
  count: number;
  redeemed: number;
  expires_at: number | null;
  created_at: number;
  created_by: string;
}

export interface CreateCodesRequest {
  count: number;
  amount: Money;
  expires_in_days?: number;
}

/** `POST /admin/redemption-codes` → 201. A replay has no codes and a `note`. */
export interface CreatedCodes {
  batch_id: string;
  amount: Money;
  expires_at: number | null;
  codes: string[];
  note?: string;
}

export interface AuditFilter {
  actor_id?: string;
  target_id?: string;
  /** Comma-separated actions. */
  action?: string;
  since_ms?: number;
  until_ms?: number;
  limit?: number;
  starting_after?: string;
}

/** One deployment's health as the gateways report it. */
export interface DeploymentHealth {
  deployment_id: string;
  /** null when the deployment was deleted since. */
  model: string | null;
  provider_name: string | null;
  upstream_model: string | null;
  /** Attempts in the last minute or so, all gateways together. */
  requests: number;
  errors: number;
  /** 0..1 */
  error_rate: number;
  /** Mean time to the response headers of good attempts. */
  latency_ms: number | null;
  consecutive_failures: number;
  /** Out of rotation at some gateway (ejected, or waiting for a good recovery probe). */
  ejected: boolean;
  ejected_until: number | null;
  gateways: number;
  reported_at: number;
}

/** Who may create an account (`accounts.signup`). */
export const SIGNUP_MODES = ["open", "invite_only", "closed"] as const;
export type SignupMode = (typeof SIGNUP_MODES)[number];
/** How mail leaves (`email.mode`): over SMTP, or to the development outbox. */
export const EMAIL_MODES = ["smtp", "log"] as const;
export type EmailMode = (typeof EMAIL_MODES)[number];
export const SMTP_TLS_MODES = ["none", "starttls", "tls"] as const;
export type SmtpTls = (typeof SMTP_TLS_MODES)[number];
export const PAYMENT_PROVIDERS = ["none", "stripe"] as const;
export type PaymentProvider = (typeof PAYMENT_PROVIDERS)[number];

/**
 * Each console setting's value (`GET /admin/settings`). Secrets are written
 * only: they come back as `null`, with `set` saying whether one is there.
 */
export interface SettingValues {
  "accounts.signup": SignupMode;
  "accounts.invite_codes": string[];
  "accounts.require_email_verification_for_keys": boolean;
  "email.mode": EmailMode;
  "email.smtp_host": string;
  "email.smtp_port": number;
  "email.smtp_tls": SmtpTls;
  "email.smtp_user": string;
  "email.smtp_password": string;
  "email.from": string;
  "payments.provider": PaymentProvider;
  "payments.stripe_secret_key": string;
  "payments.stripe_webhook_secret": string;
  /** US dollars, a decimal string. */
  "payments.min_top_up": Money;
  "payments.max_top_up": Money;
  /** Webhook endpoints may be private, loopback or link-local addresses. */
  "webhooks.allow_private_networks": boolean;
  /** 0: raw usage rows are kept forever. */
  "analytics.raw_retention_months": number;
}
export type SettingKey = keyof SettingValues;

/** One setting as listed: its value now and the configured value under it. */
export interface Setting<K extends SettingKey = SettingKey> {
  key: K;
  /** `null` for secrets. */
  value: SettingValues[K] | null;
  secret: boolean;
  /** A secret has a value (always true for the others). */
  set: boolean;
  /** Changed in the console, over the configuration. */
  overridden: boolean;
  /** The configuration file's (or environment's) value; for secrets, whether one is configured. */
  configured: SettingValues[K] | boolean | null;
}

/**
 * `PATCH /admin/settings`: only the keys to change; `null` goes back to the
 * configured value. The result must be a valid configuration or nothing is
 * stored (a 400 naming the key).
 */
export type SettingsChange = { [K in SettingKey]?: SettingValues[K] | null };

// ---------------------------------------------------------------------- client

/** The client's authenticated JSON call (private to it; see `billing.ts`). */
interface ClientInternals {
  authed<T>(
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    body?: unknown,
    extraHeaders?: Record<string, string>,
  ): Promise<T>;
}

const idempotency = (key?: string) => (key ? { "Idempotency-Key": key } : undefined);
const seg = encodeURIComponent;

function queryString(values: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The operator routes, for one `ApiClient` (its session, its refreshes). */
export class AdminApi {
  private readonly client: ApiClient;

  constructor(client: ApiClient) {
    this.client = client;
  }

  private call<T>(
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<T> {
    return (this.client as unknown as ClientInternals).authed<T>(method, `/admin${path}`, body, headers);
  }

  private async list<T>(path: string): Promise<T[]> {
    return (await this.call<{ data: T[] }>("GET", path)).data;
  }

  getSetup(): Promise<SetupChecklist> {
    return this.call("GET", "/setup");
  }

  // ---------------------------------------------------------------- developers

  listDevelopers(filter: DeveloperFilter = {}): Promise<Page<AdminDeveloper>> {
    return this.call("GET", `/developers${queryString({ ...filter })}`);
  }

  getDeveloper(id: string): Promise<AdminDeveloperDetail> {
    return this.call("GET", `/developers/${seg(id)}`);
  }

  suspendDeveloper(id: string): Promise<AdminDeveloper> {
    return this.call("POST", `/developers/${seg(id)}/suspend`);
  }

  activateDeveloper(id: string): Promise<AdminDeveloper> {
    return this.call("POST", `/developers/${seg(id)}/activate`);
  }

  /** Promotional credit; one `idempotencyKey` per request body grants it once. */
  grantCredit(id: string, body: { amount: Money; memo?: string }, idempotencyKey?: string): Promise<CreditGrant> {
    return this.call("POST", `/developers/${seg(id)}/credit`, body, idempotency(idempotencyKey));
  }

  /** Puts the developer on a plan at once (private plans too). */
  assignPlan(id: string, planId: string): Promise<Billing> {
    return this.call("PUT", `/developers/${seg(id)}/plan`, { plan_id: planId });
  }

  // --------------------------------------------------------------------- plans

  listPlans(): Promise<AdminPlan[]> {
    return this.list("/plans");
  }

  createPlan(input: PlanInput): Promise<AdminPlan> {
    return this.call("POST", "/plans", input);
  }

  updatePlan(id: string, input: PlanInput): Promise<AdminPlan> {
    return this.call("PATCH", `/plans/${seg(id)}`, input);
  }

  // ----------------------------------------------------------------- providers

  listProviders(): Promise<Provider[]> {
    return this.list("/providers");
  }

  createProvider(input: CreateProviderRequest): Promise<Provider> {
    return this.call("POST", "/providers", input);
  }

  updateProvider(id: string, input: UpdateProviderRequest): Promise<Provider> {
    return this.call("PATCH", `/providers/${seg(id)}`, input);
  }

  testProvider(id: string): Promise<ProviderTest> {
    return this.call("POST", `/providers/${seg(id)}/test`);
  }

  // -------------------------------------------------------- models, deployments

  listModels(): Promise<AdminModel[]> {
    return this.list("/models");
  }

  createModel(input: ModelInput & { name: string }): Promise<AdminModel> {
    return this.call("POST", "/models", input);
  }

  updateModel(id: string, input: ModelInput): Promise<AdminModel> {
    return this.call("PATCH", `/models/${seg(id)}`, input);
  }

  /** Answers the model with its new deployment. */
  addDeployment(modelId: string, input: CreateDeploymentRequest): Promise<AdminModel> {
    return this.call("POST", `/models/${seg(modelId)}/deployments`, input);
  }

  updateDeployment(id: string, input: DeploymentInput): Promise<AdminModel> {
    return this.call("PATCH", `/deployments/${seg(id)}`, input);
  }

  /** Answers the deployment's model, without it. */
  deleteDeployment(id: string): Promise<AdminModel> {
    return this.call("DELETE", `/deployments/${seg(id)}`);
  }

  /**
   * Compares a price list (the file's text) with the catalog; `dryRun` false
   * applies it, all rows or none. A bad row is a 400 naming it.
   */
  importPriceList(text: string, format: PriceListFormat, dryRun: boolean): Promise<PriceListImport> {
    const contentType = format === "csv" ? "text/csv" : "application/json";
    return this.call("POST", `/price-list?dry_run=${dryRun}`, new RawBody(text, contentType));
  }

  // ------------------------------------------------------------------ invoices

  listInvoices(filter: InvoiceFilter = {}): Promise<Page<AdminInvoiceSummary>> {
    return this.call("GET", `/invoices${queryString({ ...filter })}`);
  }

  getInvoice(id: string): Promise<AdminInvoice> {
    return this.call("GET", `/invoices/${seg(id)}`);
  }

  /** A payment received outside Stripe; no amount: everything due. */
  recordPayment(id: string, amount: Money | undefined, idempotencyKey?: string): Promise<RecordedPayment> {
    return this.call(
      "POST",
      `/invoices/${seg(id)}/payments`,
      amount === undefined ? {} : { amount },
      idempotency(idempotencyKey),
    );
  }

  /** A credit note on an open or paid invoice; one `idempotencyKey` per request body issues it once. */
  issueCreditNote(id: string, amount: Money, reason: string, idempotencyKey?: string): Promise<IssuedCreditNote> {
    return this.call("POST", `/invoices/${seg(id)}/credit-notes`, { amount, reason }, idempotency(idempotencyKey));
  }

  voidInvoice(id: string): Promise<InvoiceSummary> {
    return this.call("POST", `/invoices/${seg(id)}/void`);
  }

  markUncollectible(id: string): Promise<InvoiceSummary> {
    return this.call("POST", `/invoices/${seg(id)}/uncollectible`);
  }

  // ----------------------------------------------------------- redemption codes

  listCodeBatches(page: { limit?: number; starting_after?: string } = {}): Promise<Page<CodeBatch>> {
    return this.call("GET", `/redemption-codes${queryString({ ...page })}`);
  }

  createCodes(input: CreateCodesRequest, idempotencyKey?: string): Promise<CreatedCodes> {
    return this.call("POST", "/redemption-codes", input, idempotency(idempotencyKey));
  }

  // -------------------------------------------------------------- audit, health

  listAudit(filter: AuditFilter = {}): Promise<Page<AuditEntry>> {
    return this.call("GET", `/audit-log${queryString({ ...filter })}`);
  }

  listHealth(): Promise<DeploymentHealth[]> {
    return this.list("/health");
  }

  // ------------------------------------------------------------------ settings

  listSettings(): Promise<Setting[]> {
    return this.list("/settings");
  }

  /** Answers every setting, as `listSettings`, once the change is stored. */
  async updateSettings(change: SettingsChange): Promise<Setting[]> {
    return (await this.call<{ data: Setting[] }>("PATCH", "/settings", change)).data;
  }
}

const apis = new WeakMap<ApiClient, AdminApi>();

/** The one `AdminApi` of a client. */
export function adminApi(client: ApiClient): AdminApi {
  let api = apis.get(client);
  if (!api) {
    api = new AdminApi(client);
    apis.set(client, api);
  }
  return api;
}

// ----------------------------------------------------------------- query keys

/** Every operator query starts with this key; a mutation invalidates the lists it changes. */
export const ADMIN_QUERY = ["admin"] as const;
export const adminKeys = {
  setup: [...ADMIN_QUERY, "setup"] as const,
  developers: [...ADMIN_QUERY, "developers"] as const,
  developer: (id: string) => [...ADMIN_QUERY, "developers", "one", id] as const,
  plans: [...ADMIN_QUERY, "plans"] as const,
  providers: [...ADMIN_QUERY, "providers"] as const,
  models: [...ADMIN_QUERY, "models"] as const,
  invoices: [...ADMIN_QUERY, "invoices"] as const,
  invoice: (id: string) => [...ADMIN_QUERY, "invoices", "one", id] as const,
  codes: [...ADMIN_QUERY, "codes"] as const,
  audit: [...ADMIN_QUERY, "audit"] as const,
  health: [...ADMIN_QUERY, "health"] as const,
  settings: [...ADMIN_QUERY, "settings"] as const,
};

/** The setup checklist (the admin landing page and the navigation's count of steps left). */
export const setupQuery = (api: AdminApi) => ({
  queryKey: adminKeys.setup,
  queryFn: () => api.getSetup(),
  staleTime: 30_000,
});

/** The console's settings (the settings page). */
export const settingsQuery = (api: AdminApi) => ({
  queryKey: adminKeys.settings,
  queryFn: () => api.listSettings(),
});

/** The operator routes of the signed-in session's client. */
export function useAdminApi(): AdminApi {
  return adminApi(useAuth().client);
}
