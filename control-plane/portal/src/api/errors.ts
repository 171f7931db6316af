import type { ErrorBody } from "./types";

/**
 * An answer the API refused, or a request that never got an answer.
 * `code` is the server's stable snake_case code; the client adds
 * `network_error` (no answer) and `unexpected_response` (an answer that is
 * not the documented shape).
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** Seconds to wait, from a 429's `retry-after` header. */
  readonly retryAfterSecs: number | null;
  /** The request field the server blamed (`param`), when it named one. */
  readonly param: string | null;

  constructor(
    status: number,
    code: string,
    message: string,
    retryAfterSecs: number | null = null,
    param: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfterSecs = retryAfterSecs;
    this.param = param;
  }
}

function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== "object" || value === null || !("error" in value)) return false;
  const error = (value as { error: unknown }).error;
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as { code?: unknown }).code === "string" &&
    typeof (error as { message?: unknown }).message === "string"
  );
}

/** Reads `retry-after` as seconds (delta-seconds or an HTTP date). */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null || value.trim() === "") return null;
  const secs = Number(value);
  if (Number.isFinite(secs)) return Math.max(0, Math.ceil(secs));
  const at = Date.parse(value);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** Turns a non-2xx response into an [`ApiError`], whatever its body. */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON (a proxy's HTML page, an empty body): fall through.
  }
  if (isErrorBody(body)) {
    const param = typeof body.error.param === "string" && body.error.param !== "" ? body.error.param : null;
    return new ApiError(res.status, body.error.code, body.error.message, retryAfter, param);
  }
  return new ApiError(res.status, "unexpected_response", `HTTP ${res.status}`, retryAfter);
}
