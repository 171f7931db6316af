/**
 * The key form's state and its conversion to and from the API: one place for
 * the create and the edit dialog. Pure functions, so they are unit-tested
 * without rendering anything.
 *
 * Checks here are only the obvious ones (a number where a number belongs);
 * the server is the authority on everything else (account ceilings, CIDR
 * syntax, metadata sizes) and its 400 message is shown as is.
 */
import { ENDPOINT_SCOPES } from "../../api/types";
import type {
  ApiKey,
  CreateKeyRequest,
  EndpointScope,
  KeyLimits,
  KeyMetadata,
  UpdateKeyRequest,
} from "../../api/types";
import type { Problem } from "../../lib/validation";

export const NAME_MAX = 100;

/** Limits that are whole numbers (requests, tokens). */
export const COUNT_LIMITS = [
  "requests_per_minute",
  "tokens_per_minute",
  "token_quota_total",
  "token_quota_monthly",
] as const;
/** Limits that are USD amounts, sent as decimal strings. */
export const MONEY_LIMITS = ["budget_total", "budget_monthly"] as const;
export type LimitName = (typeof COUNT_LIMITS)[number] | (typeof MONEY_LIMITS)[number];

export interface KeyFormState {
  name: string;
  modelScope: "all" | "some";
  models: string[];
  /** The checked endpoint families; all of them is sent as null (every endpoint, also future ones). */
  endpoints: EndpointScope[];
  /** Each limit as typed; "" = no limit of the key's own. */
  limits: Record<LimitName, string>;
  /** One CIDR or IP per line. */
  ipAllowlist: string;
  /** One `key=value` per line. */
  metadata: string;
  /** Days until expiry ("30", "90", "365") or "never"; creation only. */
  expiry: string;
  enabled: boolean;
}

export type FormField = "name" | "models" | "endpoints" | LimitName | "ipAllowlist" | "metadata";
export type FormProblems = Partial<Record<FormField, Problem>>;

const EMPTY_LIMITS: KeyLimits = {
  requests_per_minute: null,
  tokens_per_minute: null,
  token_quota_total: null,
  token_quota_monthly: null,
  budget_total: null,
  budget_monthly: null,
};

/** The form for a new key (no `key`) or filled from an existing one. */
export function formFromKey(key?: ApiKey): KeyFormState {
  const limits = { ...EMPTY_LIMITS, ...(key?.limits ?? {}) };
  return {
    name: key?.name ?? "",
    modelScope: key?.allowed_models ? "some" : "all",
    models: key?.allowed_models ?? [],
    endpoints: key?.allowed_endpoints ?? [...ENDPOINT_SCOPES],
    limits: {
      requests_per_minute: countText(limits.requests_per_minute),
      tokens_per_minute: countText(limits.tokens_per_minute),
      token_quota_total: countText(limits.token_quota_total),
      token_quota_monthly: countText(limits.token_quota_monthly),
      budget_total: limits.budget_total ?? "",
      budget_monthly: limits.budget_monthly ?? "",
    },
    ipAllowlist: (key?.ip_allowlist ?? []).join("\n"),
    metadata: formatMetadata(key?.metadata ?? null),
    expiry: "365",
    enabled: key?.enabled ?? true,
  };
}

const countText = (n: number | null | undefined) => (n === null || n === undefined ? "" : String(n));

// ------------------------------------------------------------------ parsing

/** A whole number ≥ 1; spaces, commas and underscores as thousands separators are fine. */
export function parseCount(text: string): number | null | "invalid" {
  const clean = text.replace(/[\s,_]/g, "");
  if (clean === "") return null;
  if (!/^\d+$/.test(clean)) return "invalid";
  const n = Number(clean);
  if (!Number.isSafeInteger(n) || n < 1) return "invalid";
  return n;
}

/** A USD amount as a decimal string ("5", "12.50", "$0.25"), at most 9 decimals. */
export function parseMoney(text: string): string | null | "invalid" {
  const clean = text.trim().replace(/^\$\s*/, "").replace(/,/g, "");
  if (clean === "") return null;
  if (!/^\d+(\.\d{1,9})?$/.test(clean)) return "invalid";
  if (!/[1-9]/.test(clean)) return "invalid"; // a budget of zero would refuse every request
  return clean;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Whether `entry` looks like an IPv4/IPv6 address, optionally with a prefix length. */
export function looksLikeCidr(entry: string): boolean {
  const [addr = "", prefix, ...rest] = entry.split("/");
  if (rest.length > 0) return false;
  if (prefix !== undefined && !/^\d{1,3}$/.test(prefix)) return false;
  const v4 = IPV4.exec(addr);
  if (v4) return v4.slice(1).every((o) => Number(o) <= 255) && (prefix === undefined || Number(prefix) <= 32);
  if (!addr.includes(":") || !/^[0-9a-f:.]+$/i.test(addr)) return false;
  return prefix === undefined || Number(prefix) <= 128;
}

/** The allow-list, one entry per line (commas and spaces separate too); `bad` is the first malformed entry. */
export function parseIpAllowlist(text: string): { list: string[] | null; bad?: string } {
  const entries = text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = entries.find((e) => !looksLikeCidr(e));
  if (bad !== undefined) return { list: null, bad };
  const list = [...new Set(entries)];
  return { list: list.length ? list : null };
}

/**
 * `key=value` lines (split at the first `=`; blank lines ignored). `bad` is
 * the first line without a key or `=`, `duplicate` the first repeated key.
 */
export function parseMetadata(text: string): { metadata: KeyMetadata | null; bad?: string; duplicate?: string } {
  const metadata: KeyMetadata = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") continue;
    const eq = line.indexOf("=");
    const key = eq < 0 ? "" : line.slice(0, eq).trim();
    if (key === "") return { metadata: null, bad: line };
    if (Object.hasOwn(metadata, key)) return { metadata: null, duplicate: key };
    metadata[key] = line.slice(eq + 1).trim();
  }
  return { metadata: Object.keys(metadata).length ? metadata : null };
}

export function formatMetadata(metadata: KeyMetadata | null): string {
  return Object.entries(metadata ?? {})
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join("\n");
}

// ------------------------------------------------------------- validation

/** The form's obvious mistakes, by field (empty when it may be sent). */
export function validateForm(state: KeyFormState): FormProblems {
  const problems: FormProblems = {};
  const name = state.name.trim();
  if (!name) problems.name = { key: "validation.required" };
  else if (name.length > NAME_MAX) problems.name = { key: "validation.tooLong", values: { max: NAME_MAX } };
  if (state.modelScope === "some" && state.models.length === 0) problems.models = { key: "keys.form.modelsRequired" };
  if (state.endpoints.length === 0) problems.endpoints = { key: "keys.form.endpointsRequired" };
  for (const field of COUNT_LIMITS) {
    if (parseCount(state.limits[field]) === "invalid") problems[field] = { key: "keys.form.wholeNumber" };
  }
  for (const field of MONEY_LIMITS) {
    if (parseMoney(state.limits[field]) === "invalid") problems[field] = { key: "keys.form.amount" };
  }
  const ips = parseIpAllowlist(state.ipAllowlist);
  if (ips.bad !== undefined) problems.ipAllowlist = { key: "keys.form.ipInvalid", values: { entry: ips.bad } };
  const meta = parseMetadata(state.metadata);
  if (meta.bad !== undefined) problems.metadata = { key: "keys.form.metadataInvalid", values: { line: meta.bad } };
  else if (meta.duplicate !== undefined)
    problems.metadata = { key: "keys.form.metadataDuplicate", values: { key: meta.duplicate } };
  return problems;
}

// ------------------------------------------------------------ to the API

/** The limits object of a valid form (call `validateForm` first). */
export function limitsFromForm(state: KeyFormState): KeyLimits {
  const count = (f: (typeof COUNT_LIMITS)[number]) => {
    const n = parseCount(state.limits[f]);
    return n === "invalid" ? null : n;
  };
  const money = (f: (typeof MONEY_LIMITS)[number]) => {
    const m = parseMoney(state.limits[f]);
    return m === "invalid" ? null : m;
  };
  return {
    requests_per_minute: count("requests_per_minute"),
    tokens_per_minute: count("tokens_per_minute"),
    token_quota_total: count("token_quota_total"),
    token_quota_monthly: count("token_quota_monthly"),
    budget_total: money("budget_total"),
    budget_monthly: money("budget_monthly"),
  };
}

/** Every endpoint checked is null: the key may call every family, also ones added later. */
export function endpointsFromForm(state: KeyFormState): EndpointScope[] | null {
  if (ENDPOINT_SCOPES.every((e) => state.endpoints.includes(e))) return null;
  return ENDPOINT_SCOPES.filter((e) => state.endpoints.includes(e));
}

const hasLimit = (limits: KeyLimits) => Object.values(limits).some((v) => v !== null);

/** The creation request: the restrictions only when the form sets any. */
export function toCreateRequest(state: KeyFormState): CreateKeyRequest {
  const request: CreateKeyRequest = {
    name: state.name.trim(),
    allowed_models: state.modelScope === "all" ? null : state.models,
    expires_in_days: state.expiry === "never" ? null : Number(state.expiry),
  };
  const endpoints = endpointsFromForm(state);
  if (endpoints) request.allowed_endpoints = endpoints;
  const limits = limitsFromForm(state);
  if (hasLimit(limits)) request.limits = limits;
  const ips = parseIpAllowlist(state.ipAllowlist).list;
  if (ips) request.ip_allowlist = ips;
  const metadata = parseMetadata(state.metadata).metadata;
  if (metadata) request.metadata = metadata;
  return request;
}

/**
 * The update of `original`: name, enabled and models always (as before), the
 * restrictions only when they changed, so an untouched field is never
 * re-validated against, say, an account limit lowered since. A restriction
 * emptied in the form is sent as null (cleared); `limits` goes as a whole.
 */
export function toUpdateRequest(state: KeyFormState, original: ApiKey): UpdateKeyRequest {
  const update: UpdateKeyRequest = {
    name: state.name.trim(),
    enabled: state.enabled,
    allowed_models: state.modelScope === "all" ? null : state.models,
  };
  const endpoints = endpointsFromForm(state);
  if (!same(endpoints, original.allowed_endpoints ?? null)) update.allowed_endpoints = endpoints;
  const limits = limitsFromForm(state);
  if (!sameLimits(limits, { ...EMPTY_LIMITS, ...(original.limits ?? {}) })) update.limits = limits;
  const ips = parseIpAllowlist(state.ipAllowlist).list;
  if (!same(ips, original.ip_allowlist ?? null)) update.ip_allowlist = ips;
  const metadata = parseMetadata(state.metadata).metadata;
  const before = original.metadata && Object.keys(original.metadata).length ? original.metadata : null;
  if (!sameMetadata(metadata, before)) update.metadata = metadata;
  return update;
}

function same(a: string[] | null, b: string[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameLimits(a: KeyLimits, b: KeyLimits): boolean {
  return (Object.keys(EMPTY_LIMITS) as (keyof KeyLimits)[]).every((k) => {
    const x = a[k];
    const y = b[k];
    if (x === null || y === null) return x === y;
    // "5" and "5.00" are the same budget.
    return typeof x === "string" ? Number(x) === Number(y) : x === y;
  });
}

function sameMetadata(a: KeyMetadata | null, b: KeyMetadata | null): boolean {
  if (a === null || b === null) return a === b;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

// --------------------------------------------------------- server errors

/** The API field paths a 400 message may start with, and the form field each belongs to. */
const SERVER_FIELDS: [RegExp, FormField][] = [
  [/^name\b/, "name"],
  [/^allowed_models\b/, "models"],
  [/^allowed_endpoints\b/, "endpoints"],
  [/^limits\.requests_per_minute\b/, "requests_per_minute"],
  [/^limits\.tokens_per_minute\b/, "tokens_per_minute"],
  [/^limits\.token_quota_total\b/, "token_quota_total"],
  [/^limits\.token_quota_monthly\b/, "token_quota_monthly"],
  [/^limits\.budget_total\b/, "budget_total"],
  [/^limits\.budget_monthly\b/, "budget_monthly"],
  [/^ip_allowlist\b/, "ipAllowlist"],
  [/^metadata\b/, "metadata"],
];

/**
 * The form field a server message such as
 * `limits.requests_per_minute: at most 100 (your account's limit)` is about,
 * and the message without its field path; null when it names no field.
 */
export function fieldOfServerMessage(message: string): { field: FormField; detail: string } | null {
  const text = message.trim();
  for (const [pattern, field] of SERVER_FIELDS) {
    if (pattern.test(text)) {
      const colon = text.indexOf(":");
      return { field, detail: colon >= 0 ? text.slice(colon + 1).trim() || text : text };
    }
  }
  return null;
}
