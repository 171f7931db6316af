import OpenAI, { type ClientOptions as OpenAIOptions } from "openai";

import { APIConnectionError, AuthenticationError, errorFromResponse } from "./errors.js";
import type * as T from "./types.js";
import { VERSION } from "./version.js";

const API = "/api/v1";
const RETRY_STATUSES = new Set([502, 503, 504]);

/** How to build an {@link AIHub} client. */
export interface AIHubOptions {
  /**
   * The deployment's address, e.g. `https://aihub.example.com`: the gateway,
   * which answers the OpenAI-compatible API (`/v1/...`) itself and forwards
   * the management API (`/api/...`) to the control plane.
   */
  baseURL: string;
  /** With `password`: the client signs in by itself on its first call, and again when its session ends. */
  email?: string;
  password?: string;
  /** Tokens kept from an earlier session (see `onSession`). */
  accessToken?: string;
  refreshToken?: string;
  /** Called with every new session (sign-in or refresh; the refresh token changes each time). */
  onSession?: (session: T.Session) => void | Promise<void>;
  /** Milliseconds to wait for an answer (default 30 000). */
  timeoutMs?: number;
  /** Retries of safe requests after a connection failure or a 502/503/504 (default 2). */
  maxRetries?: number;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
}

/** Query parameters: `undefined` and `null` values are left out. */
export type QueryParams = Record<string, string | number | boolean | null | undefined>;

/** One request through {@link AIHub.request}. */
export interface RequestOptions {
  /** The JSON body (or a `FormData`, sent as multipart). */
  body?: unknown;
  query?: QueryParams;
  headers?: Record<string, string>;
  /** Send the access token and renew it once on a 401 (default true). */
  authenticated?: boolean;
  /** What to return: the parsed JSON (default), the text, or the `Response` itself (body unread). */
  as?: "json" | "text" | "response";
}

/** A page of a list: `data`, newest first, and whether older items follow. */
export interface Page<Item> {
  data: Item[];
  has_more: boolean;
}

/** Options of the `iterate…` helpers: the page size and where to start. */
export interface IterateOptions {
  /** Items per request (default 100, the API's maximum). */
  pageSize?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function newIdempotencyKey(): string {
  return `aihub-js-${globalThis.crypto.randomUUID()}`;
}

function withoutUndefined<O extends object>(fields: O): Partial<O> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<O>;
}

/** Follows the cursor of a list, yielding its items one by one. */
export async function* paginate<Item, Cursor>(
  fetchPage: (cursor: Cursor | undefined) => Promise<Page<Item>>,
  cursorOf: (item: Item) => Cursor,
  start?: Cursor,
): AsyncGenerator<Item, void, undefined> {
  let cursor = start;
  for (;;) {
    const page = await fetchPage(cursor);
    yield* page.data;
    const last = page.data.at(-1);
    if (!page.has_more || last === undefined) return;
    cursor = cursorOf(last);
  }
}

/**
 * An official `OpenAI` client for the AI Hub at `baseURL` (the deployment's
 * address; `/v1` is appended unless already there), with an AI Hub API key.
 */
export function openaiClient(baseURL: string, apiKey: string, options: OpenAIOptions = {}): OpenAI {
  let root = baseURL.replace(/\/+$/, "");
  if (!root.endsWith("/v1")) root += "/v1";
  return new OpenAI({ ...options, baseURL: root, apiKey });
}

/**
 * A client of AI Hub's management API (`/api/v1/developer/...`).
 *
 * Sign in with {@link AIHub.login} (or give `email` and `password`, or tokens
 * from an earlier session). When a call is refused with 401 the client
 * refreshes the session once and repeats the call; if the refresh token is
 * refused too and it knows the password, it signs in again.
 */
export class AIHub {
  readonly baseURL: string;
  readonly keys: Keys;
  readonly usage: Usage;
  readonly analytics: Analytics;
  readonly billing: Billing;
  readonly invoices: Invoices;
  readonly webhooks: Webhooks;
  readonly events: Events;
  readonly tasks: Tasks;
  readonly files: Files;
  /** The developer of the last sign-in or refresh. */
  developer: T.Profile | null = null;

  #email: string | undefined;
  #password: string | undefined;
  #accessToken: string | undefined;
  #refreshToken: string | undefined;
  #renewing: Promise<boolean> | null = null;
  readonly #onSession: AIHubOptions["onSession"];
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof fetch;

  constructor(options: AIHubOptions) {
    if (!options?.baseURL) throw new TypeError("AIHub needs a baseURL, e.g. https://aihub.example.com");
    this.baseURL = options.baseURL.replace(/\/+$/, "");
    this.#email = options.email;
    this.#password = options.password;
    this.#accessToken = options.accessToken;
    this.#refreshToken = options.refreshToken;
    this.#onSession = options.onSession;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#maxRetries = Math.max(0, options.maxRetries ?? 2);
    this.#headers = { "user-agent": `aihub-js/${VERSION}`, accept: "application/json", ...options.headers };
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.keys = new Keys(this);
    this.usage = new Usage(this);
    this.analytics = new Analytics(this);
    this.billing = new Billing(this);
    this.invoices = new Invoices(this);
    this.webhooks = new Webhooks(this);
    this.events = new Events(this);
    this.tasks = new Tasks(this);
    this.files = new Files(this);
  }

  /** The current access token (changes on every refresh). */
  get accessToken(): string | undefined {
    return this.#accessToken;
  }

  /** The current refresh token (changes on every refresh). */
  get refreshToken(): string | undefined {
    return this.#refreshToken;
  }

  // -- plumbing ---------------------------------------------------------------

  /** One HTTP exchange, retried when repeating it is safe (reads, PUTs, requests with an Idempotency-Key). */
  async #send(method: string, path: string, options: RequestOptions, token: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { ...this.#headers, ...options.headers };
    if (token) headers.authorization = `Bearer ${token}`;
    let body: BodyInit | undefined;
    if (options.body instanceof FormData) {
      body = options.body;
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] = "application/json";
    }
    const url = new URL(this.baseURL + path);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    const safe =
      method === "GET" || method === "HEAD" || method === "PUT" ||
      Object.keys(headers).some((h) => h.toLowerCase() === "idempotency-key");
    for (let attempt = 0; ; attempt++) {
      const canRetry = safe && attempt < this.#maxRetries;
      let response: Response;
      try {
        response = await this.#fetch(url, {
          method,
          headers,
          body,
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
      } catch (e) {
        if (canRetry) {
          await sleep(Math.min(250 * 2 ** (attempt + 1), 4000));
          continue;
        }
        throw new APIConnectionError(`${method} ${path}: ${(e as Error).message}`, { cause: e });
      }
      if (RETRY_STATUSES.has(response.status) && canRetry) {
        await response.body?.cancel();
        await sleep(Math.min(250 * 2 ** (attempt + 1), 4000));
        continue;
      }
      return response;
    }
  }

  /**
   * Calls any route (`path` from the host, e.g. `/api/v1/developer/usage`),
   * with the same authentication, retries and errors as the typed methods.
   * Throws an {@link APIError} subclass on a non-2xx answer. Returns the parsed
   * JSON (`undefined` for an empty answer), or see `as`.
   */
  async request<R = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<R> {
    method = method.toUpperCase();
    let response: Response;
    if (options.authenticated === false) {
      response = await this.#send(method, path, options, undefined);
    } else {
      const token = await this.#currentToken();
      response = await this.#send(method, path, options, token);
      if (response.status === 401 && (await this.#reauthenticate(token))) {
        await response.body?.cancel();
        response = await this.#send(method, path, options, this.#accessToken);
      }
    }
    if (!response.ok) throw await errorFromResponse(response);
    if (options.as === "response") return response as R;
    const text = await response.text();
    if (options.as === "text") return text as R;
    return (text ? JSON.parse(text) : undefined) as R;
  }

  #canLogin(): boolean {
    return this.#email !== undefined && this.#password !== undefined;
  }

  async #currentToken(): Promise<string | undefined> {
    if (this.#accessToken === undefined && (this.#refreshToken !== undefined || this.#canLogin())) {
      await this.#reauthenticate(undefined);
    }
    return this.#accessToken;
  }

  /** After a 401: a fresh access token if one can be had; true when the call is worth repeating. */
  #reauthenticate(refused: string | undefined): Promise<boolean> {
    if (this.#accessToken !== undefined && this.#accessToken !== refused) return Promise.resolve(true);
    // Calls refused at the same time share one renewal (a refresh token works once).
    this.#renewing ??= (async () => {
      try {
        if (this.#refreshToken !== undefined) {
          try {
            await this.refresh();
            return true;
          } catch (e) {
            if (!(e instanceof AuthenticationError)) throw e;
          }
        }
        if (this.#canLogin()) {
          await this.login();
          return true;
        }
        return false;
      } finally {
        this.#renewing = null;
      }
    })();
    return this.#renewing;
  }

  async #takeSession(session: T.Session): Promise<T.Session> {
    this.#accessToken = session.access_token;
    this.#refreshToken = session.refresh_token;
    this.developer = session.developer;
    await this.#onSession?.(session);
    return session;
  }

  // -- sessions ---------------------------------------------------------------

  /**
   * `POST /api/v1/developer/login`: opens a session and keeps its tokens.
   * Without arguments, uses the credentials the client was given. A wrong
   * password: {@link AuthenticationError} (`invalid_credentials`).
   */
  async login(email?: string, password?: string): Promise<T.Session> {
    if (email !== undefined) this.#email = email;
    if (password !== undefined) this.#password = password;
    if (!this.#canLogin()) throw new TypeError("login needs an email and a password");
    const session = await this.request<T.Session>("POST", `${API}/developer/login`, {
      body: { email: this.#email, password: this.#password },
      authenticated: false,
    });
    return this.#takeSession(session);
  }

  /** `POST /api/v1/developer/refresh`: new access and refresh tokens (done for you on a 401). */
  async refresh(): Promise<T.Session> {
    if (this.#refreshToken === undefined) throw new TypeError("no refresh token: log in first");
    const session = await this.request<T.Session>("POST", `${API}/developer/refresh`, {
      body: { refresh_token: this.#refreshToken },
      authenticated: false,
    });
    return this.#takeSession(session);
  }

  /** `POST /api/v1/developer/logout`: ends the session (its tokens stop working) and forgets it. */
  async logout(): Promise<void> {
    const refreshToken = this.#refreshToken;
    this.#accessToken = undefined;
    this.#refreshToken = undefined;
    this.#password = undefined;
    this.developer = null;
    if (refreshToken !== undefined) {
      await this.request("POST", `${API}/developer/logout`, {
        body: { refresh_token: refreshToken },
        authenticated: false,
      });
    }
  }

  /** `POST /api/v1/developer/register` → `{status: "verification_sent"}`. */
  register(body: T.Register): Promise<{ status: string }> {
    return this.request("POST", `${API}/developer/register`, { body, authenticated: false });
  }

  /** `POST /api/v1/developer/verify-email` with the token of the mailed link. */
  verifyEmail(token: string): Promise<{ status: string }> {
    return this.request("POST", `${API}/developer/verify-email`, { body: { token }, authenticated: false });
  }

  /** `POST /api/v1/developer/resend-verification` (202 whatever the address). */
  resendVerification(email: string): Promise<{ status: string }> {
    return this.request("POST", `${API}/developer/resend-verification`, {
      body: { email },
      authenticated: false,
    });
  }

  // -- account ----------------------------------------------------------------

  /** `GET /api/v1/developer/profile`. */
  profile(): Promise<T.Profile> {
    return this.request("GET", `${API}/developer/profile`);
  }

  /** `PATCH /api/v1/developer/profile`: changes the fields given. */
  updateProfile(body: T.UpdateProfile): Promise<T.Profile> {
    return this.request("PATCH", `${API}/developer/profile`, { body });
  }

  /** `POST /api/v1/developer/change-password`. */
  changePassword(body: T.ChangePassword): Promise<unknown> {
    return this.request("POST", `${API}/developer/change-password`, { body });
  }

  // -- the OpenAI-compatible API ---------------------------------------------------

  /**
   * An official `OpenAI` client for this deployment's OpenAI-compatible API
   * (`baseURL + "/v1"`) with an AI Hub API key (`ahub_…`). `options` go to
   * `new OpenAI(...)` (`timeout`, `maxRetries`, ...).
   */
  openai(apiKey: string, options: OpenAIOptions = {}): OpenAI {
    return openaiClient(this.baseURL, apiKey, options);
  }

  /**
   * Waits until the gateway accepts a new (or regenerated) key: keys reach
   * the gateways within about a second. Polls `GET /v1/models` with it.
   */
  async waitForKey(apiKey: string, { timeoutMs = 10_000 }: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await this.#send("GET", "/v1/models", { headers: { authorization: `Bearer ${apiKey}` } }, undefined);
      if (response.ok) {
        await response.body?.cancel();
        return;
      }
      if (response.status !== 401) throw await errorFromResponse(response);
      await response.body?.cancel();
      if (Date.now() >= deadline) throw new Error("timed out: the gateway does not accept the key yet");
      await sleep(100);
    }
  }
}

abstract class Resource {
  protected readonly client: AIHub;
  constructor(client: AIHub) {
    this.client = client;
  }
}

/** Your API keys: `/api/v1/developer/keys`. */
export class Keys extends Resource {
  /** All keys, newest first, without secrets (not paged), and the account's limits. */
  list(): Promise<T.KeyList> {
    return this.client.request("GET", `${API}/developer/keys`);
  }

  /**
   * A new key, with its `secret` (shown this once). `expires_in_days`: absent =
   * the deployment's default lifetime, `null` = never. Sent with an
   * `Idempotency-Key` (yours or a random one), so a retry after a lost answer
   * returns the same key. Needs a verified email address.
   */
  create(body: T.CreateKey, { idempotencyKey }: { idempotencyKey?: string } = {}): Promise<T.KeyWithSecret> {
    return this.client.request("POST", `${API}/developer/keys`, {
      body,
      headers: { "idempotency-key": idempotencyKey ?? newIdempotencyKey() },
    });
  }

  /** Changes the fields given; `null` clears one; `limits` replaces every limit. */
  update(id: string, body: T.UpdateKey): Promise<T.Key> {
    return this.client.request("PUT", `${API}/developer/keys/${encodeURIComponent(id)}`, { body });
  }

  /** A new secret; the old one keeps working for `grace_seconds` (default 0). */
  regenerate(id: string, { grace_seconds = 0 }: { grace_seconds?: number } = {}): Promise<T.KeyWithSecret> {
    return this.client.request("POST", `${API}/developer/keys/${encodeURIComponent(id)}/regenerate`, {
      body: { grace_seconds },
    });
  }

  /** Deletes the key; gateways refuse it within a second. */
  async delete(id: string): Promise<void> {
    await this.client.request("DELETE", `${API}/developer/keys/${encodeURIComponent(id)}`);
  }

  /** Totals and every UTC day of the last `days` (1 to 366, default 30). */
  usage(id: string, { days }: { days?: number } = {}): Promise<T.KeyUsage> {
    return this.client.request("GET", `${API}/developer/keys/${encodeURIComponent(id)}/usage`, { query: { days } });
  }
}

/** Usage totals: `/api/v1/developer/usage`. */
export class Usage extends Resource {
  /** Totals of a period (default: this month) and a breakdown by `model` (default), `key` or `day`. */
  summary(query: T.UsageQuery = {}): Promise<T.UsageSummary> {
    return this.client.request("GET", `${API}/developer/usage`, { query });
  }

  /** The period's requests as CSV, one line per request, oldest first. */
  exportCsv(query: T.UsageQuery = {}): Promise<string> {
    return this.client.request("GET", `${API}/developer/usage/export`, { query, as: "text", headers: { accept: "text/csv" } });
  }
}

/** The portal's analytics: `/api/v1/developer/analytics/*`. */
export class Analytics extends Resource {
  overview(query: T.AnalyticsQuery = {}): Promise<T.AnalyticsOverview> {
    return this.client.request("GET", `${API}/developer/analytics/overview`, { query });
  }
  costs(query: T.AnalyticsQuery = {}): Promise<T.AnalyticsCosts> {
    return this.client.request("GET", `${API}/developer/analytics/costs`, { query });
  }
  performance(query: T.AnalyticsQuery = {}): Promise<T.AnalyticsPerformance> {
    return this.client.request("GET", `${API}/developer/analytics/performance`, { query });
  }
  trends(query: T.TrendsQuery = {}): Promise<T.AnalyticsTrends> {
    return this.client.request("GET", `${API}/developer/analytics/trends`, { query });
  }
}

/** Plan, balance and credit: `/api/v1/developer/billing*`. */
export class Billing extends Resource {
  /** Plan, period, allowance, balance, this month's usage, the upcoming invoice. */
  summary(): Promise<T.BillingOverview> {
    return this.client.request("GET", `${API}/developer/billing`);
  }

  /** The plans you can choose. */
  plans(): Promise<T.PlanOfferList> {
    return this.client.request("GET", `${API}/developer/plans`);
  }

  /** One page of credit transactions (`limit` 1 to 200, default 50; `before` = the last id of the previous page). */
  transactions(query: { limit?: number; before?: string } = {}): Promise<T.CreditTransactionList> {
    return this.client.request("GET", `${API}/developer/billing/transactions`, { query });
  }

  /** Every credit transaction, newest first, page after page. */
  iterateTransactions({ pageSize = 200, before }: IterateOptions & { before?: string } = {}): AsyncGenerator<T.CreditTransaction, void, undefined> {
    return paginate((cursor) => this.transactions({ limit: pageSize, before: cursor }), (t) => t.id, before);
  }

  /** Changes the plan (an upgrade now, a downgrade at the end of the period). */
  changePlan(body: T.ChangePlan, { idempotencyKey }: { idempotencyKey?: string } = {}): Promise<T.PlanChange> {
    return this.client.request("POST", `${API}/developer/billing/plan`, {
      body,
      headers: { "idempotency-key": idempotencyKey ?? newIdempotencyKey() },
    });
  }

  /** Redeems a credit code. */
  redeem(code: string, { idempotencyKey }: { idempotencyKey?: string } = {}): Promise<T.CodeRedeemed> {
    return this.client.request("POST", `${API}/developer/billing/redeem`, {
      body: { code },
      headers: { "idempotency-key": idempotencyKey ?? newIdempotencyKey() },
    });
  }

  /** Starts a card top-up: the checkout page to send the developer to. */
  topUp(body: T.CreateTopUp, { idempotencyKey }: { idempotencyKey?: string } = {}): Promise<T.CheckoutSession> {
    return this.client.request("POST", `${API}/developer/billing/top-ups`, {
      body,
      headers: { "idempotency-key": idempotencyKey ?? newIdempotencyKey() },
    });
  }
}

/** Monthly invoices: `/api/v1/developer/invoices*`. */
export class Invoices extends Resource {
  /** Every invoice, newest month first (not paged). */
  list(): Promise<T.InvoiceList> {
    return this.client.request("GET", `${API}/developer/invoices`);
  }
  /** One invoice with its lines. */
  get(id: string): Promise<T.InvoiceWithLines> {
    return this.client.request("GET", `${API}/developer/invoices/${encodeURIComponent(id)}`);
  }
  /** The printable invoice (HTML). */
  html(id: string): Promise<string> {
    return this.client.request("GET", `${API}/developer/invoices/${encodeURIComponent(id)}/html`, {
      as: "text",
      headers: { accept: "text/html" },
    });
  }
}

/** Webhook endpoints and their deliveries: `/api/v1/developer/webhooks*`. */
export class Webhooks extends Resource {
  /** Every endpoint, newest first (not paged). */
  list(): Promise<T.WebhookEndpointList> {
    return this.client.request("GET", `${API}/developer/webhooks`);
  }

  /**
   * A new endpoint with its signing `secret` (`whsec_…`). `event_types`
   * defaults to `["*"]`. Sent with an `Idempotency-Key` (yours or a random one).
   */
  create(body: T.CreateWebhook, { idempotencyKey }: { idempotencyKey?: string } = {}): Promise<T.WebhookEndpointWithSecret> {
    return this.client.request("POST", `${API}/developer/webhooks`, {
      body,
      headers: { "idempotency-key": idempotencyKey ?? newIdempotencyKey() },
    });
  }

  get(id: string): Promise<T.WebhookEndpoint> {
    return this.client.request("GET", `${API}/developer/webhooks/${encodeURIComponent(id)}`);
  }

  /** Changes the fields given. */
  update(id: string, body: T.UpdateWebhook): Promise<T.WebhookEndpoint> {
    return this.client.request("PUT", `${API}/developer/webhooks/${encodeURIComponent(id)}`, { body });
  }

  /** Deletes the endpoint; its pending deliveries fail. */
  async delete(id: string): Promise<void> {
    await this.client.request("DELETE", `${API}/developer/webhooks/${encodeURIComponent(id)}`);
  }

  /** The endpoint's signing secret: `{secret: "whsec_…"}`. */
  secret(id: string): Promise<T.WebhookSecret> {
    return this.client.request("GET", `${API}/developer/webhooks/${encodeURIComponent(id)}/secret`);
  }

  /** A new secret; the previous one also signs for `grace_seconds` (server default when absent). */
  rotateSecret(id: string, { grace_seconds }: { grace_seconds?: number } = {}): Promise<T.RotatedWebhookSecret> {
    return this.client.request("POST", `${API}/developer/webhooks/${encodeURIComponent(id)}/secret/rotate`, {
      body: withoutUndefined({ grace_seconds }),
    });
  }

  /**
   * Sends an event (default `webhook.test`) to this endpoint now; answers with
   * the delivery and the attempt. A disabled endpoint: {@link ConflictError}.
   */
  test(id: string, { event_type }: { event_type?: string } = {}): Promise<T.WebhookTestResult> {
    return this.client.request("POST", `${API}/developer/webhooks/${encodeURIComponent(id)}/test`, {
      body: withoutUndefined({ event_type }),
    });
  }

  /** One page of the endpoint's deliveries, newest first (`limit` 1 to 100, default 20). */
  deliveries(id: string, query: T.DeliveriesQuery = {}): Promise<T.WebhookDeliveryList> {
    return this.client.request("GET", `${API}/developer/webhooks/${encodeURIComponent(id)}/deliveries`, { query });
  }

  /** Every delivery of the endpoint, newest first, page after page. */
  iterateDeliveries(
    id: string,
    { pageSize = 100, starting_after, ...filters }: IterateOptions & Omit<T.DeliveriesQuery, "limit"> = {},
  ): AsyncGenerator<T.WebhookDelivery, void, undefined> {
    return paginate(
      (cursor) => this.deliveries(id, { ...filters, limit: pageSize, starting_after: cursor }),
      (d) => d.id,
      starting_after ?? undefined,
    );
  }

  /** One delivery with its attempts (oldest first). */
  delivery(deliveryId: string): Promise<T.WebhookDeliveryWithAttempts> {
    return this.client.request("GET", `${API}/developer/webhook-deliveries/${encodeURIComponent(deliveryId)}`);
  }

  /** Sends again the endpoint's failed deliveries since `since_ms`. */
  recover(id: string, since_ms: number): Promise<T.RecoveredDeliveries> {
    return this.client.request("POST", `${API}/developer/webhooks/${encodeURIComponent(id)}/recover`, {
      body: { since_ms },
    });
  }
}

/** Your events: `/api/v1/developer/events*`. */
export class Events extends Resource {
  /** The catalog of event types. */
  async types(): Promise<T.EventType[]> {
    const answer = await this.client.request<{ data: T.EventType[] }>("GET", `${API}/developer/event-types`);
    return answer.data;
  }

  /** One page, newest first (`limit` 1 to 100, default 20; `type`: one type or several). */
  list({ type, ...query }: T.EventsQuery = {}): Promise<T.EventList> {
    const types = typeof type === "string" || type == null ? type : type.join(",");
    return this.client.request("GET", `${API}/developer/events`, { query: { ...query, type: types } });
  }

  /** Every matching event, newest first, page after page: `for await (const e of client.events.iterate())`. */
  iterate(
    { pageSize = 100, starting_after, ...filters }: IterateOptions & Omit<T.EventsQuery, "limit"> = {},
  ): AsyncGenerator<T.Event, void, undefined> {
    return paginate(
      (cursor) => this.list({ ...filters, limit: pageSize, starting_after: cursor }),
      (e) => e.id,
      starting_after ?? undefined,
    );
  }

  get(id: string): Promise<T.Event> {
    return this.client.request("GET", `${API}/developer/events/${encodeURIComponent(id)}`);
  }

  /** New deliveries of the event: to one endpoint, or to every enabled subscribed one. */
  replay(id: string, { endpoint_id }: { endpoint_id?: string } = {}): Promise<T.ReplayedDeliveries> {
    return this.client.request("POST", `${API}/developer/events/${encodeURIComponent(id)}/replay`, {
      body: withoutUndefined({ endpoint_id }),
    });
  }
}

/** Tasks (batch generate/process, data exports): `/api/v1/developer/tasks*`. */
export class Tasks extends Resource {
  /** One page, newest first (`limit` 1 to 100, default 20; `before` = the last id of the previous page). */
  list(query: T.TasksQuery = {}): Promise<T.TaskList> {
    return this.client.request("GET", `${API}/developer/tasks`, { query });
  }

  /** Every task (of a `status`, if given), newest first, page after page. */
  iterate({ pageSize = 100, before, ...filters }: IterateOptions & Omit<T.TasksQuery, "limit"> = {}): AsyncGenerator<T.Task, void, undefined> {
    return paginate((cursor) => this.list({ ...filters, limit: pageSize, before: cursor }), (t) => t.id, before);
  }

  /** Starts a task. Sent with an `Idempotency-Key` (yours or a random one). */
  create(body: T.CreateTask, { idempotencyKey }: { idempotencyKey?: string } = {}): Promise<T.Task> {
    return this.client.request("POST", `${API}/developer/tasks`, {
      body,
      headers: { "idempotency-key": idempotencyKey ?? newIdempotencyKey() },
    });
  }

  get(id: string): Promise<T.Task> {
    return this.client.request("GET", `${API}/developer/tasks/${encodeURIComponent(id)}`);
  }

  cancel(id: string): Promise<T.Task> {
    return this.client.request("POST", `${API}/developer/tasks/${encodeURIComponent(id)}/cancel`);
  }

  /** One page of a task's results (`after` = the last `index` seen; `limit` 1 to 500, default 50). */
  results(id: string, query: T.TaskResultsQuery = {}): Promise<T.TaskResults> {
    return this.client.request("GET", `${API}/developer/tasks/${encodeURIComponent(id)}/results`, { query });
  }

  /** Every result of a task, in item order, page after page. */
  iterateResults(id: string, { pageSize = 500 }: IterateOptions = {}): AsyncGenerator<T.TaskResult, void, undefined> {
    return paginate<T.TaskResult, number>((after) => this.results(id, { after, limit: pageSize }), (r) => r.index);
  }

  /** The result file (JSONL or CSV) as text. */
  download(id: string): Promise<string> {
    return this.client.request("GET", `${API}/developer/tasks/${encodeURIComponent(id)}/results/download`, {
      as: "text",
      headers: { accept: "*/*" },
    });
  }
}

/** Input files of tasks: `/api/v1/developer/files`. (Batch files: `client.openai(key).files`.) */
export class Files extends Resource {
  /** Uploads a JSONL or CSV file for a `batch_process` task. */
  upload(content: Blob | string | Uint8Array, { filename = "input.jsonl" }: { filename?: string } = {}): Promise<T.UploadedFile> {
    const form = new FormData();
    const blob = content instanceof Blob ? content : new Blob([content as BlobPart]);
    form.set("file", blob, filename);
    return this.client.request("POST", `${API}/developer/files`, { body: form });
  }

  /** A file's content as text. */
  content(id: string): Promise<string> {
    return this.client.request("GET", `${API}/developer/files/${encodeURIComponent(id)}/content`, {
      as: "text",
      headers: { accept: "*/*" },
    });
  }
}
