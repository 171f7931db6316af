import { ApiError, errorFromResponse } from "./errors";
import { TokenStore } from "./tokens";
import type {
  AccountEvent,
  CreateWebhookRequest,
  CreatedWebhookEndpoint,
  DeliveryFilter,
  EventFilter,
  EventTypeInfo,
  Page,
  RotatedWebhookSecret,
  UpdateWebhookRequest,
  WebhookDelivery,
  WebhookDeliveryDetail,
  WebhookEndpoint,
  WebhookTestResult,
  ApiKey,
  AuthConfig,
  OpenApiDocument,
  CreateKeyRequest,
  CreatedKey,
  KeyList,
  KeyUsage,
  RegeneratedKey,
  UpdateKeyRequest,
  Profile,
  ProfileUpdate,
  RegisterRequest,
  Session,
} from "./types";

/** What the client tells the app about the session. */
export type SessionEvent =
  | { type: "signed_in"; session: Session }
  | { type: "signed_out" };

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * A request body sent as it is, with its own `Content-Type`, where a route
 * takes something other than JSON (a CSV price list). Any other body is
 * sent as JSON.
 */
export class RawBody {
  readonly text: string;
  readonly contentType: string;

  constructor(text: string, contentType: string) {
    this.text = text;
    this.contentType = contentType;
  }
}

/** Runs `fn` while holding the cross-tab refresh lock. */
export type RefreshLock = <T>(fn: () => Promise<T>) => Promise<T>;

export interface ClientOptions {
  /** Prefix of every route; default `/api/v1` on the page's own origin. */
  baseUrl?: string;
  fetch?: typeof fetch;
  tokens?: TokenStore;
  /**
   * Serialises token refreshes. The default uses the Web Locks API where the
   * browser has it, so two tabs never spend the same (rotating) refresh token
   * at once, which the server would treat as token theft.
   */
  lock?: RefreshLock;
}

const webLock: RefreshLock = (fn) => {
  const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
  return locks ? locks.request("aihub-token-refresh", fn) : fn();
};

/**
 * The typed client of the management API. Authenticated calls carry the
 * in-memory access token; a 401 triggers one refresh (shared by every call
 * waiting on it) and one retry. When the server refuses the refresh token the
 * session ends: tokens are cleared and subscribers hear `signed_out`.
 */
export class ApiClient {
  readonly tokens: TokenStore;
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly lock: RefreshLock;
  private refreshing: Promise<Session> | null = null;
  private readonly listeners = new Set<(event: SessionEvent) => void>();

  constructor(options: ClientOptions = {}) {
    this.baseUrl = options.baseUrl ?? "/api/v1";
    // Bound, so a plain `window.fetch` is not called with a foreign `this`.
    const f = options.fetch ?? globalThis.fetch;
    this.fetchImpl = (input, init) => f(input, init);
    this.tokens = options.tokens ?? new TokenStore();
    this.lock = options.lock ?? webLock;
  }

  /** Listens to sign-in and sign-out; returns the unsubscribe function. */
  subscribe(listener: (event: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Whether a refresh token is stored (a session may be restorable). */
  hasStoredSession(): boolean {
    return this.tokens.refreshToken !== null;
  }

  // ------------------------------------------------------------ public routes

  getAuthConfig(): Promise<AuthConfig> {
    return this.call("GET", "/auth/config");
  }

  /** The management API's OpenAPI document (public, no session needed). */
  getOpenApiDocument(): Promise<OpenApiDocument> {
    return this.call("GET", "/openapi.json");
  }

  register(request: RegisterRequest): Promise<{ status: string }> {
    return this.call("POST", "/developer/register", request);
  }

  verifyEmail(token: string): Promise<{ status: string }> {
    return this.call("POST", "/developer/verify-email", { token });
  }

  resendVerification(email: string): Promise<void> {
    return this.call("POST", "/developer/resend-verification", { email });
  }

  requestPasswordReset(email: string): Promise<void> {
    return this.call("POST", "/developer/reset-password", { email });
  }

  confirmPasswordReset(token: string, newPassword: string): Promise<void> {
    return this.call("POST", "/developer/reset-password/confirm", {
      token,
      new_password: newPassword,
    });
  }

  async login(email: string, password: string): Promise<Session> {
    const session = await this.call<Session>("POST", "/developer/login", { email, password });
    this.startSession(session);
    return session;
  }

  /** Revokes the session on the server (best effort) and forgets it here. */
  async logout(): Promise<void> {
    const refreshToken = this.tokens.refreshToken;
    try {
      if (refreshToken) {
        await this.call("POST", "/developer/logout", { refresh_token: refreshToken });
      }
    } catch {
      // Signing out locally must work even when the server cannot be reached.
    } finally {
      this.endSession();
    }
  }

  /**
   * Exchanges the stored refresh token for a new pair. Concurrent callers
   * share one request. Resolves to null when there is no session to restore.
   */
  async restore(): Promise<Session | null> {
    if (!this.hasStoredSession()) return null;
    return this.refresh();
  }

  refresh(): Promise<Session> {
    this.refreshing ??= this.lock(() => this.doRefresh()).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  // ------------------------------------------------------ authenticated routes

  getProfile(): Promise<Profile> {
    return this.authed("GET", "/developer/profile");
  }

  updateProfile(update: ProfileUpdate): Promise<Profile> {
    return this.authed("PATCH", "/developer/profile", update);
  }

  changePassword(currentPassword: string, newPassword: string): Promise<void> {
    return this.authed("POST", "/developer/change-password", {
      current_password: currentPassword,
      new_password: newPassword,
    });
  }

  // ------------------------------------------------------------------ API keys

  async listKeys(): Promise<ApiKey[]> {
    return (await this.listKeyPage()).data;
  }

  /** The keys with the account's own limits (the ceilings of every key's limits). */
  listKeyPage(): Promise<KeyList> {
    return this.authed("GET", "/developer/keys");
  }

  /**
   * Creates a key. `idempotencyKey` makes retries and double submits of one
   * form create one key: the server answers a repeat with the first result.
   */
  createKey(request: CreateKeyRequest, idempotencyKey?: string): Promise<CreatedKey> {
    const headers = idempotencyKey ? { "Idempotency-Key": idempotencyKey } : undefined;
    return this.authed("POST", "/developer/keys", request, headers);
  }

  updateKey(id: string, update: UpdateKeyRequest): Promise<ApiKey> {
    return this.authed("PUT", `/developer/keys/${encodeURIComponent(id)}`, update);
  }

  deleteKey(id: string): Promise<void> {
    return this.authed("DELETE", `/developer/keys/${encodeURIComponent(id)}`);
  }

  /** A new secret; the old one keeps working for `graceSeconds` (0: revoked at once). */
  regenerateKey(id: string, graceSeconds: number): Promise<RegeneratedKey> {
    return this.authed("POST", `/developer/keys/${encodeURIComponent(id)}/regenerate`, {
      grace_seconds: graceSeconds,
    });
  }

  getKeyUsage(id: string, days = 30): Promise<KeyUsage> {
    return this.authed("GET", `/developer/keys/${encodeURIComponent(id)}/usage?days=${days}`);
  }

  // ------------------------------------------------------------------ webhooks

  async listEventTypes(): Promise<EventTypeInfo[]> {
    return (await this.authed<{ data: EventTypeInfo[] }>("GET", "/developer/event-types")).data;
  }

  async listWebhooks(): Promise<WebhookEndpoint[]> {
    return (await this.authed<{ data: WebhookEndpoint[] }>("GET", "/developer/webhooks")).data;
  }

  getWebhook(id: string): Promise<WebhookEndpoint> {
    return this.authed("GET", `/developer/webhooks/${encodeURIComponent(id)}`);
  }

  /**
   * Creates an endpoint; the answer carries its signing secret. As with keys,
   * `idempotencyKey` makes a retried or doubled submit create one endpoint.
   */
  createWebhook(request: CreateWebhookRequest, idempotencyKey?: string): Promise<CreatedWebhookEndpoint> {
    const headers = idempotencyKey ? { "Idempotency-Key": idempotencyKey } : undefined;
    return this.authed("POST", "/developer/webhooks", request, headers);
  }

  updateWebhook(id: string, update: UpdateWebhookRequest): Promise<WebhookEndpoint> {
    return this.authed("PUT", `/developer/webhooks/${encodeURIComponent(id)}`, update);
  }

  deleteWebhook(id: string): Promise<void> {
    return this.authed("DELETE", `/developer/webhooks/${encodeURIComponent(id)}`);
  }

  async revealWebhookSecret(id: string): Promise<string> {
    return (await this.authed<{ secret: string }>("GET", `/developer/webhooks/${encodeURIComponent(id)}/secret`))
      .secret;
  }

  /** A new signing secret; the old one still signs for `graceSeconds` (0: at once replaced). */
  rotateWebhookSecret(id: string, graceSeconds: number): Promise<RotatedWebhookSecret> {
    return this.authed("POST", `/developer/webhooks/${encodeURIComponent(id)}/secret/rotate`, {
      grace_seconds: graceSeconds,
    });
  }

  /** Sends one event now and waits for the endpoint's answer. */
  testWebhook(id: string, eventType = "webhook.test"): Promise<WebhookTestResult> {
    return this.authed("POST", `/developer/webhooks/${encodeURIComponent(id)}/test`, { event_type: eventType });
  }

  listDeliveries(endpointId: string, filter: DeliveryFilter = {}): Promise<Page<WebhookDelivery>> {
    const query = queryString({
      status: filter.status,
      event_type: filter.event_type,
      limit: filter.limit,
      starting_after: filter.starting_after,
    });
    return this.authed("GET", `/developer/webhooks/${encodeURIComponent(endpointId)}/deliveries${query}`);
  }

  getDelivery(id: string): Promise<WebhookDeliveryDetail> {
    return this.authed("GET", `/developer/webhook-deliveries/${encodeURIComponent(id)}`);
  }

  /** Delivers an event again (to one endpoint, or every subscribed one). */
  async replayEvent(eventId: string, endpointId?: string): Promise<WebhookDelivery[]> {
    const body = endpointId ? { endpoint_id: endpointId } : {};
    return (
      (await this.authed<{ data: WebhookDelivery[] } | undefined>(
        "POST",
        `/developer/events/${encodeURIComponent(eventId)}/replay`,
        body,
      )) ?? { data: [] }
    ).data;
  }

  /** Requeues the endpoint's failed deliveries created since `sinceMs`. */
  async recoverWebhook(id: string, sinceMs: number): Promise<number> {
    const answer = await this.authed<{ requeued: number }>(
      "POST",
      `/developer/webhooks/${encodeURIComponent(id)}/recover`,
      { since_ms: sinceMs },
    );
    return answer.requeued;
  }

  listEvents(filter: EventFilter = {}): Promise<Page<AccountEvent>> {
    const query = queryString({
      type: filter.types && filter.types.length > 0 ? filter.types.join(",") : undefined,
      since_ms: filter.since_ms,
      until_ms: filter.until_ms,
      limit: filter.limit,
      starting_after: filter.starting_after,
    });
    return this.authed("GET", `/developer/events${query}`);
  }

  getEvent(id: string): Promise<AccountEvent> {
    return this.authed("GET", `/developer/events/${encodeURIComponent(id)}`);
  }

  /**
   * Opens the live event stream (Server-Sent Events). It needs the bearer
   * header, so it is a plain fetch rather than an `EventSource`; the caller
   * reads the body (see `lib/sse.ts`). `lastEventId` resumes after a drop.
   */
  async openEventStream(lastEventId: string | null, signal?: AbortSignal): Promise<Response> {
    const open = async (token: string) => {
      const headers: Record<string, string> = {
        Accept: "text/event-stream",
        Authorization: `Bearer ${token}`,
      };
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      try {
        return await this.fetchImpl(`${this.baseUrl}/developer/events/stream`, {
          method: "GET",
          headers,
          credentials: "same-origin",
          cache: "no-store",
          signal,
        });
      } catch (e) {
        if (signal?.aborted) throw e;
        throw new ApiError(0, "network_error", e instanceof Error ? e.message : String(e));
      }
    };
    let token = this.tokens.accessToken ?? (await this.refresh()).access_token;
    let res = await open(token);
    if (res.status === 401) {
      const current = this.tokens.accessToken;
      token = current && current !== token ? current : (await this.refresh()).access_token;
      res = await open(token);
      if (res.status === 401) this.endSession();
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  // ----------------------------------------------------------------- plumbing

  private async doRefresh(): Promise<Session> {
    // Read inside the lock: another tab may have rotated it meanwhile.
    const refreshToken = this.tokens.refreshToken;
    if (!refreshToken) {
      this.endSession();
      throw new ApiError(401, "unauthorized", "not signed in");
    }
    const res = await this.send("POST", "/developer/refresh", { refresh_token: refreshToken });
    if (!res.ok) {
      const error = await errorFromResponse(res);
      // The server refused the token (expired, revoked, reused, suspended):
      // the session is over. Other failures (offline, 5xx) keep it.
      if (res.status === 400 || res.status === 401 || res.status === 403) this.endSession();
      throw error;
    }
    const session = await readJson<Session>(res);
    this.startSession(session);
    return session;
  }

  private startSession(session: Session): void {
    this.tokens.set(session.access_token, session.refresh_token);
    this.emit({ type: "signed_in", session });
  }

  private endSession(): void {
    this.tokens.clear();
    this.emit({ type: "signed_out" });
  }

  private emit(event: SessionEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private async call<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body);
    if (!res.ok) throw await errorFromResponse(res);
    return readJson<T>(res);
  }

  private async authed<T>(
    method: Method,
    path: string,
    body?: unknown,
    extraHeaders?: Record<string, string>,
  ): Promise<T> {
    let token = this.tokens.accessToken ?? (await this.refresh()).access_token;
    let res = await this.send(method, path, body, token, extraHeaders);
    if (res.status === 401) {
      // Another call may already have refreshed while this one was in flight.
      const current = this.tokens.accessToken;
      token = current && current !== token ? current : (await this.refresh()).access_token;
      res = await this.send(method, path, body, token, extraHeaders);
      if (res.status === 401) this.endSession();
    }
    if (!res.ok) throw await errorFromResponse(res);
    return readJson<T>(res);
  }

  private async send(
    method: Method,
    path: string,
    body?: unknown,
    accessToken?: string,
    extraHeaders?: Record<string, string>,
  ): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json", ...extraHeaders };
    if (body !== undefined) headers["Content-Type"] = body instanceof RawBody ? body.contentType : "application/json";
    if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
    try {
      return await this.fetchImpl(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : body instanceof RawBody ? body.text : JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch (e) {
      throw new ApiError(0, "network_error", e instanceof Error ? e.message : String(e));
    }
  }
}

/** `?a=1&b=x` from the defined values, or "" when there are none. */
function queryString(values: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The body as JSON; `undefined` for the empty bodies of 202 and 204. */
async function readJson<T>(res: Response): Promise<T> {
  const text = await res.text();
  if (text.trim() === "") return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, "unexpected_response", "the server sent malformed JSON");
  }
}

/** The app's one client. */
export const api = new ApiClient();
