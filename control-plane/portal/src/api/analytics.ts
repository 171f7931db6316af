/**
 * The analytics routes of the management API (`control-plane/docs/analytics-api.md`):
 * the developer's own figures (`/developer/analytics/…`: overview, trends,
 * costs, performance) and the operator's (`/admin/analytics/…`: overview,
 * revenue, margin, developers, models, providers and the monthly report).
 *
 * Every route takes a period: `from` and `to` (inclusive `YYYY-MM-DD` days in
 * `tz`) and `tz` (an IANA zone). Money stays the server's decimal strings in
 * US dollars (`"0.004150"`); times are unix milliseconds.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useAuth } from "../auth/AuthProvider";
import type { ApiClient } from "./client";
import { errorFromResponse } from "./errors";

// ------------------------------------------------------------------ wire types

/** A decimal string in US dollars. */
export type Money = string;

/** What every route takes. Absent: the server's defaults (the 7 days to today, UTC). */
export interface PeriodParams {
  from?: string;
  to?: string;
  tz?: string;
}

/** The period the server answered for (echoed by every route). */
export interface AnswerPeriod {
  from: string;
  to: string;
  tz: string;
  start_ms: number;
  end_ms: number;
}

export interface OverviewFigures {
  requests: number;
  errors: number;
  error_rate: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  tokens: number;
  cost: Money;
  avg_latency_ms: number | null;
  p95_latency_ms: number | null;
  avg_ttft_ms: number | null;
}

/** Relative changes (`0.25` = +25 %), except `error_rate` (a difference of rates); null when the previous value is 0. */
export interface OverviewChange {
  requests: number | null;
  tokens: number | null;
  cost: number | null;
  error_rate: number | null;
  avg_latency_ms: number | null;
  p95_latency_ms: number | null;
}

/** `GET /developer/analytics/overview`. */
export interface AnalyticsOverview {
  period: AnswerPeriod;
  previous_period: { from: string; to: string };
  current: OverviewFigures;
  previous: OverviewFigures;
  change: OverviewChange;
}

export const TREND_INTERVALS = ["day", "hour"] as const;
export type TrendInterval = (typeof TREND_INTERVALS)[number];
export const TREND_GROUPS = ["none", "model", "key", "endpoint"] as const;
export type TrendGroupBy = (typeof TREND_GROUPS)[number];

export interface TrendPoint {
  t: number;
  requests: number;
  errors: number;
  tokens: number;
  cost: Money;
  avg_latency_ms: number | null;
}

export interface TrendSeries {
  group: string;
  name: string;
  points: TrendPoint[];
}

/** `GET /developer/analytics/trends`. */
export interface AnalyticsTrends {
  period: AnswerPeriod;
  interval: TrendInterval;
  group_by: TrendGroupBy;
  buckets: { t: number; label: string }[];
  series: TrendSeries[];
}

export interface CostByModel {
  model: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  tokens: number;
  cost: Money;
  cost_per_1k_tokens: Money | null;
  share: number;
}

export interface CostByKey {
  key_id: string;
  name: string;
  requests: number;
  tokens: number;
  cost: Money;
  share: number;
}

export interface CostProjection {
  month: string;
  month_to_date_cost: Money;
  projected_month_end_cost: Money;
  days_elapsed: number;
  days_in_month: number;
}

export interface CostSuggestion {
  kind: "cheaper_model" | "upgrade_plan" | string;
  model?: string;
  alternative?: string;
  plan?: string;
  estimated_savings?: Money;
  message: string;
}

/** `GET /developer/analytics/costs`. */
export interface AnalyticsCosts {
  period: AnswerPeriod;
  total_cost: Money;
  by_model: CostByModel[];
  by_key: CostByKey[];
  projection: CostProjection;
  suggestions: CostSuggestion[];
}

export interface Percentiles {
  avg: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface ModelPerformance {
  model: string;
  requests: number;
  errors: number;
  error_rate: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  ttft_p95_ms: number | null;
  fallbacks: number;
}

/** `GET /developer/analytics/performance`. */
export interface AnalyticsPerformance {
  period: AnswerPeriod;
  latency_ms: Percentiles;
  ttft_ms: Percentiles;
  requests: number;
  errors: number;
  error_rate: number;
  fallbacks: number;
  fallback_rate: number;
  status: { class: string; count: number }[];
  by_model: ModelPerformance[];
  percentile_error: number;
}

// ------------------------------------------------------------------ operator

export interface AdminFigures {
  revenue: Money;
  usage_value: Money;
  requests: number;
  tokens: number;
  active_developers: number;
  new_developers: number;
  margin: Money;
  /** The deployments' upstream prices times the tokens (margin = usage value − upstream cost). */
  upstream_cost?: Money;
}

export type AdminChange = { [K in Exclude<keyof AdminFigures, "upstream_cost">]?: number | null };

/** `GET /admin/analytics/overview`. */
export interface AdminOverview {
  period: AnswerPeriod;
  previous_period?: { from: string; to: string };
  current: AdminFigures;
  previous: AdminFigures;
  change: AdminChange;
}

export const REVENUE_GROUPS = ["day", "plan", "model"] as const;
export type RevenueGroupBy = (typeof REVENUE_GROUPS)[number];

export interface RevenueRow {
  group: string;
  usage_revenue: Money;
  subscription_revenue: Money;
  revenue: Money;
}

/** `GET /admin/analytics/revenue`. */
export interface AdminRevenue {
  period: AnswerPeriod;
  group_by?: RevenueGroupBy;
  total?: Money;
  rows: RevenueRow[];
}

export interface MarginRow {
  model: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  usage_value: Money;
  upstream_cost: Money;
  margin: Money;
  margin_rate: number | null;
}

/** `GET /admin/analytics/margin`. */
export interface AdminMargin {
  period: AnswerPeriod;
  rows: MarginRow[];
}

export interface TopDeveloper {
  developer_id: string;
  email: string;
  name: string;
  plan: string | null;
  requests: number;
  tokens: number;
  cost: Money;
}

/** `GET /admin/analytics/developers`. */
export interface AdminDevelopers {
  period: AnswerPeriod;
  active: number;
  new: number;
  days: { day: string; active: number; new: number }[];
  top: TopDeveloper[];
}

export interface ModelMixRow {
  model: string;
  requests: number;
  tokens: number;
  cost: Money;
  share: number;
}

/** `GET /admin/analytics/models`. */
export interface AdminModels {
  period: AnswerPeriod;
  rows: ModelMixRow[];
}

export interface ProviderRow {
  provider_id: string;
  provider: string;
  requests: number;
  errors: number;
  error_rate: number;
  fallbacks: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
}

/** `GET /admin/analytics/providers`. */
export interface AdminProviders {
  period: AnswerPeriod;
  rows: ProviderRow[];
}

export type ReportFormat = "csv" | "html";

// ---------------------------------------------------------------------- client

/**
 * The parts of `ApiClient` that these routes need beyond its public methods
 * (as `billing.ts` does): the authenticated JSON call and the raw request for
 * the report's CSV and HTML.
 */
interface ClientInternals {
  authed<T>(method: "GET", path: string): Promise<T>;
  send(
    method: "GET",
    path: string,
    body: undefined,
    accessToken: string,
    extraHeaders?: Record<string, string>,
  ): Promise<Response>;
  endSession(): void;
}

/** `?a=1&b=x` from the defined, non-empty values, or "". */
export function queryString(values: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

const period = (p: PeriodParams) => ({ from: p.from, to: p.to, tz: p.tz });

/** The analytics routes, for one `ApiClient` (its session, its refreshes). */
export class AnalyticsApi {
  private readonly client: ApiClient;

  constructor(client: ApiClient) {
    this.client = client;
  }

  private get internals(): ClientInternals {
    return this.client as unknown as ClientInternals;
  }

  private get<T>(path: string, values: Record<string, string | number | undefined>): Promise<T> {
    return this.internals.authed<T>("GET", `${path}${queryString(values)}`);
  }

  // ---------------------------------------------------------------- developer

  overview(p: PeriodParams = {}): Promise<AnalyticsOverview> {
    return this.get("/developer/analytics/overview", period(p));
  }

  trends(p: PeriodParams & { interval?: TrendInterval; group_by?: TrendGroupBy } = {}): Promise<AnalyticsTrends> {
    return this.get("/developer/analytics/trends", { ...period(p), interval: p.interval, group_by: p.group_by });
  }

  costs(p: PeriodParams = {}): Promise<AnalyticsCosts> {
    return this.get("/developer/analytics/costs", period(p));
  }

  performance(p: PeriodParams = {}): Promise<AnalyticsPerformance> {
    return this.get("/developer/analytics/performance", period(p));
  }

  // ----------------------------------------------------------------- operator

  adminOverview(p: PeriodParams = {}): Promise<AdminOverview> {
    return this.get("/admin/analytics/overview", period(p));
  }

  adminRevenue(p: PeriodParams & { group_by?: RevenueGroupBy } = {}): Promise<AdminRevenue> {
    return this.get("/admin/analytics/revenue", { ...period(p), group_by: p.group_by });
  }

  adminMargin(p: PeriodParams = {}): Promise<AdminMargin> {
    return this.get("/admin/analytics/margin", period(p));
  }

  adminDevelopers(p: PeriodParams & { limit?: number } = {}): Promise<AdminDevelopers> {
    return this.get("/admin/analytics/developers", { ...period(p), limit: p.limit });
  }

  adminModels(p: PeriodParams = {}): Promise<AdminModels> {
    return this.get("/admin/analytics/models", period(p));
  }

  adminProviders(p: PeriodParams = {}): Promise<AdminProviders> {
    return this.get("/admin/analytics/providers", period(p));
  }

  /** The business report of a month (`YYYY-MM`) as CSV. */
  async reportCsv(month: string): Promise<Blob> {
    const res = await this.download(`/admin/analytics/report${queryString({ month, format: "csv" })}`, "text/csv");
    return res.blob();
  }

  /** The printable business report of a month (`text/html`). */
  async reportHtml(month: string): Promise<string> {
    const res = await this.download(`/admin/analytics/report${queryString({ month, format: "html" })}`, "text/html");
    return res.text();
  }

  /** A GET of a non-JSON answer with the bearer token: one refresh and retry on 401, as every call. */
  private async download(path: string, accept: string): Promise<Response> {
    const internals = this.internals;
    const get = (token: string) => internals.send("GET", path, undefined, token, { Accept: accept });
    let token = this.client.tokens.accessToken ?? (await this.client.refresh()).access_token;
    let res = await get(token);
    if (res.status === 401) {
      const current = this.client.tokens.accessToken;
      token = current && current !== token ? current : (await this.client.refresh()).access_token;
      res = await get(token);
      if (res.status === 401) internals.endSession();
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }
}

const apis = new WeakMap<ApiClient, AnalyticsApi>();

/** The one `AnalyticsApi` of a client. */
export function analyticsApi(client: ApiClient): AnalyticsApi {
  let api = apis.get(client);
  if (!api) {
    api = new AnalyticsApi(client);
    apis.set(client, api);
  }
  return api;
}

// ----------------------------------------------------------------------- hooks

export const ANALYTICS_QUERY = ["analytics"] as const;

/** The analytics routes of the signed-in session's client. */
export function useAnalyticsApi(): AnalyticsApi {
  return analyticsApi(useAuth().client);
}

interface HookOptions {
  enabled?: boolean;
}

const STALE_MS = 30_000;

/** The query of one route: keyed by its name and parameters, the previous answer shown while the next loads. */
function useRoute<T>(name: string, params: object, fetcher: (api: AnalyticsApi) => Promise<T>, options: HookOptions) {
  const api = useAnalyticsApi();
  return useQuery({
    queryKey: [...ANALYTICS_QUERY, name, params],
    queryFn: () => fetcher(api),
    enabled: options.enabled ?? true,
    placeholderData: keepPreviousData,
    staleTime: STALE_MS,
  });
}

export function useAnalyticsOverview(p: PeriodParams, options: HookOptions = {}) {
  return useRoute("overview", p, (api) => api.overview(p), options);
}

export function useAnalyticsTrends(
  p: PeriodParams & { interval: TrendInterval; group_by: TrendGroupBy },
  options: HookOptions = {},
) {
  return useRoute("trends", p, (api) => api.trends(p), options);
}

export function useAnalyticsCosts(p: PeriodParams, options: HookOptions = {}) {
  return useRoute("costs", p, (api) => api.costs(p), options);
}

export function useAnalyticsPerformance(p: PeriodParams, options: HookOptions = {}) {
  return useRoute("performance", p, (api) => api.performance(p), options);
}

export function useAdminOverview(p: PeriodParams, options: HookOptions = {}) {
  return useRoute("admin-overview", p, (api) => api.adminOverview(p), options);
}

export function useAdminRevenue(p: PeriodParams & { group_by: RevenueGroupBy }, options: HookOptions = {}) {
  return useRoute("admin-revenue", p, (api) => api.adminRevenue(p), options);
}

export function useAdminMargin(p: PeriodParams, options: HookOptions = {}) {
  return useRoute("admin-margin", p, (api) => api.adminMargin(p), options);
}

export function useAdminDevelopers(p: PeriodParams & { limit?: number }, options: HookOptions = {}) {
  return useRoute("admin-developers", p, (api) => api.adminDevelopers(p), options);
}

export function useAdminModels(p: PeriodParams, options: HookOptions = {}) {
  return useRoute("admin-models", p, (api) => api.adminModels(p), options);
}

export function useAdminProviders(p: PeriodParams, options: HookOptions = {}) {
  return useRoute("admin-providers", p, (api) => api.adminProviders(p), options);
}

// ----------------------------------------------------------------------- money

/** A money string as a number, for charts only (figures on screen keep the string). */
export function moneyValue(value: Money | null | undefined): number {
  const n = Number.parseFloat(value ?? "");
  return Number.isFinite(n) ? n : 0;
}
