/**
 * A stand-in for the management API in unit tests: routes by method and
 * path, records every request, and answers with the documented shapes.
 * (Browser tests run against the real `aihub` binary instead.)
 */
import type { Profile, Session } from "../api/types";

export interface Recorded {
  method: string;
  path: string;
  /** The query string's parameters (`?status=failed` → `{ status: "failed" }`). */
  query: Record<string, string>;
  /** The body parsed as JSON; as it came when it is not JSON (a CSV price list). */
  body: unknown;
  /** The body as it came, or null without one. */
  text: string | null;
  authorization: string | null;
  idempotencyKey: string | null;
  /** Every request header, names in lower case. */
  headers: Record<string, string>;
}

type Handler = (req: Recorded) => Response | Promise<Response>;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

export function apiError(status: number, code: string, message = code, headers: Record<string, string> = {}) {
  return json(status, { error: { code, message } }, headers);
}

export const profile: Profile = {
  id: "dev_1",
  email: "ada@example.com",
  full_name: "Ada Lovelace",
  company_name: "Analytical Engines",
  developer_type: "enterprise",
  role: "developer",
  email_verified: true,
  language: "en",
  created_at_ms: Date.UTC(2026, 0, 15),
  api_rate_limit: 600,
  api_quota_limit: null,
};

export function session(n: number, developer: Profile = profile): Session {
  return {
    access_token: `access-${n}`,
    token_type: "Bearer",
    expires_in: 900,
    refresh_token: `refresh-${n}`,
    developer,
  };
}

export class FakeServer {
  readonly requests: Recorded[] = [];
  private readonly routes = new Map<string, Handler>();

  on(method: string, path: string, handler: Handler): this {
    this.routes.set(`${method} ${path}`, handler);
    return this;
  }

  calls(method: string, path: string): Recorded[] {
    return this.requests.filter((r) => r.method === method && r.path === path);
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input), "http://portal.test");
    const headers = new Headers(init?.headers);
    const text = typeof init?.body === "string" ? init.body : null;
    const req: Recorded = {
      method: init?.method ?? "GET",
      path: url.pathname.replace(/^\/api\/v1/, ""),
      query: Object.fromEntries(url.searchParams),
      body: text ? parseBody(text, headers.get("content-type")) : undefined,
      text,
      authorization: headers.get("authorization"),
      idempotencyKey: headers.get("idempotency-key"),
      headers: Object.fromEntries(headers),
    };
    this.requests.push(req);
    const handler = this.routes.get(`${req.method} ${req.path}`);
    if (!handler) return apiError(404, "not_found", `no route for ${req.method} ${req.path}`);
    return handler(req);
  };
}

/** JSON bodies parsed; any other kind of body (or JSON that is not) as it came. */
function parseBody(text: string, contentType: string | null): unknown {
  if (contentType !== null && !contentType.includes("json")) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * A server that behaves like the real one for sessions: access tokens are
 * valid until `expire()` is called, refresh tokens rotate and are single-use.
 */
export function sessionServer(start = 1): FakeServer & { expire(): void } {
  let n = start;
  let validAccess = new Set<string>();
  const validRefresh = new Set<string>([`refresh-${start}`]);
  const server = new FakeServer() as FakeServer & { expire(): void };
  server.expire = () => {
    validAccess = new Set();
  };
  server
    .on("POST", "/developer/login", () => {
      n += 1;
      validAccess.add(`access-${n}`);
      validRefresh.add(`refresh-${n}`);
      return json(200, session(n));
    })
    .on("POST", "/developer/refresh", (req) => {
      const token = (req.body as { refresh_token: string }).refresh_token;
      if (!validRefresh.has(token)) return apiError(401, "invalid_token");
      validRefresh.delete(token);
      n += 1;
      validAccess.add(`access-${n}`);
      validRefresh.add(`refresh-${n}`);
      return json(200, session(n));
    })
    .on("GET", "/developer/profile", (req) => {
      const token = req.authorization?.replace(/^Bearer /, "") ?? "";
      return validAccess.has(token) ? json(200, profile) : apiError(401, "unauthorized");
    })
    .on("POST", "/developer/logout", () => new Response(null, { status: 204 }));
  return server;
}
