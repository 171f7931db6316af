/** The errors this SDK throws. Every one of them is an {@link AIHubError}. */

/** The base class of every error this SDK throws on purpose. */
export class AIHubError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The request never got an answer (refused connection, DNS failure, timeout, ...). */
export class APIConnectionError extends AIHubError {}

/**
 * A non-2xx answer of the API. `status` is the HTTP status; `code` and
 * `message` come from the body `{"error": {"code", "message"}}` (`code` is
 * `null` when the body has another shape, and `message` is then its text).
 */
export class APIError extends AIHubError {
  readonly status: number;
  readonly code: string | null;
  /** The body, parsed when it was JSON, else its text. */
  readonly body: unknown;
  readonly headers: Headers;

  constructor(status: number, code: string | null, message: string, body: unknown, headers: Headers) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
    this.headers = headers;
  }

  /** The `x-request-id` of the answer, when there is one (quote it when you report a problem). */
  get requestId(): string | null {
    return this.headers.get("x-request-id");
  }

  override toString(): string {
    return `${this.name}: ${this.status} ${this.code ?? "error"}: ${this.message}`;
  }
}

/** 400 or 422: the request was refused as invalid (`invalid_request`, `weak_password`, ...). */
export class InvalidRequestError extends APIError {}

/** 401: missing, invalid or expired credentials (`invalid_credentials`, `unauthorized`, `invalid_token`). */
export class AuthenticationError extends APIError {}

/** 403: signed in, but not allowed (`email_not_verified`, `account_suspended`, ...). */
export class PermissionDeniedError extends APIError {}

/** 404: no such object, or not yours (`not_found`). */
export class NotFoundError extends APIError {}

/** 409: e.g. `idempotency_conflict`, or a disabled webhook endpoint. */
export class ConflictError extends APIError {}

/** 429: too many requests or attempts; see {@link RateLimitError.retryAfter}. */
export class RateLimitError extends APIError {
  /** Seconds to wait, from the `retry-after` header, when given. */
  get retryAfter(): number | null {
    const raw = this.headers.get("retry-after");
    if (raw === null) return null;
    const seconds = Number(raw);
    return Number.isFinite(seconds) ? seconds : null;
  }
}

/** 5xx: the server failed. */
export class InternalServerError extends APIError {}

/** A webhook delivery failed verification (missing header, bad signature, stale timestamp, not JSON). */
export class WebhookVerificationError extends AIHubError {}

const BY_STATUS: Record<number, typeof APIError> = {
  400: InvalidRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  422: InvalidRequestError,
  429: RateLimitError,
};

/** The error for a non-2xx answer (reads its body). */
export async function errorFromResponse(response: Response): Promise<APIError> {
  const text = await response.text().catch(() => "");
  let body: unknown = text;
  let code: string | null = null;
  let message = text || response.statusText || `HTTP ${response.status}`;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  if (body && typeof body === "object" && "error" in body) {
    const error = (body as { error: unknown }).error;
    if (error && typeof error === "object") {
      const e = error as { code?: unknown; message?: unknown };
      if (typeof e.code === "string") code = e.code;
      if (typeof e.message === "string") message = e.message;
    }
  }
  const Class = BY_STATUS[response.status] ?? (response.status >= 500 ? InternalServerError : APIError);
  return new Class(response.status, code, message, body, response.headers);
}
