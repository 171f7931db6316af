/**
 * The billing and usage routes of the management API
 * (`control-plane/docs/billing-api.md`): plans, the billing overview,
 * credit (top-ups, codes, the ledger's history), invoices and usage.
 *
 * Money is a decimal string in US dollars exactly as the server sends it
 * (`"29.00"`, `"0.000150"`, `"-1.25"`); it is never turned into a float here.
 * Times are unix milliseconds; months `YYYY-MM` and dates `YYYY-MM-DD`, UTC.
 */
import type { ApiClient } from "./client";
import { errorFromResponse } from "./errors";

// ------------------------------------------------------------------ wire types

/** A decimal string in US dollars. */
export type Money = string;

/** `prepaid`: beyond the included tokens, usage is paid from credit; `invoice`: billed monthly. */
export type OverageMode = "prepaid" | "invoice";

/** `GET /developer/plans`: one self-service plan. `null` limits mean none. */
export interface Plan {
  id: string;
  name: string;
  price: Money;
  included_tokens: number;
  requests_per_minute: number | null;
  token_quota_monthly: number | null;
  overage: OverageMode;
  current: boolean;
}

/** `GET /developer/billing`. */
export interface Billing {
  plan: { id: string; name: string; price: Money; included_tokens: number; overage: OverageMode };
  pending_plan: { id: string; name: string; starts_at: number } | null;
  period: { month: string; start: number; end: number };
  allowance: { included_tokens: number; used_tokens: number; remaining_tokens: number };
  balance: Balance;
  month_usage: { requests: number; tokens: number; cost: Money; charged: Money };
  upcoming_invoice: { subscription: Money; overage: Money; credits_applied: Money; total: Money };
  payments: { enabled: boolean; min_top_up: Money; max_top_up: Money };
  /**
   * Prices the operator agreed with this developer (Enterprise terms); they
   * replace the catalog's prices for this developer's requests. Usually empty.
   * Optional because a server from before the field omits it: read it with
   * `customPrices()`, which treats a missing field as empty. `getBilling` and
   * `changePlan` always fill it in.
   */
  custom_prices?: CustomPrice[];
}

/** One agreed price: US dollars per million tokens, decimal strings as the server sends them. */
export interface CustomPrice {
  model: string;
  input_per_million: Money;
  output_per_million: Money;
  cached_per_million: Money;
}

/** The developer's agreed prices; a missing (or malformed) field is an empty list. */
export function customPrices(billing: Pick<Billing, "custom_prices">): CustomPrice[] {
  return Array.isArray(billing.custom_prices) ? billing.custom_prices : [];
}

/** A billing overview with `custom_prices` always present. */
const withCustomPrices = (billing: Billing): Billing => ({ ...billing, custom_prices: customPrices(billing) });

export interface Balance {
  total: Money;
  paid: Money;
  promotional: Money;
}

/** `POST /developer/billing/top-ups` → 201. */
export interface TopUp {
  id: string;
  status: string;
  amount: Money;
  checkout_url: string;
}

/** `POST /developer/billing/redeem` → 200. */
export interface Redemption {
  amount: Money;
  balance: Balance;
}

export const TRANSACTION_KINDS = [
  "top_up",
  "grant",
  "redemption",
  "usage_charge",
  "subscription_fee",
  "refund",
  "adjustment",
  "payment",
] as const;
export type TransactionKind = (typeof TRANSACTION_KINDS)[number];

/** One entry of the account's ledger history; `amount` is the change of the spendable balance. */
export interface Transaction {
  id: string;
  kind: TransactionKind | string;
  amount: Money;
  memo: string;
  created_at: number;
}

export interface TransactionPage {
  data: Transaction[];
  has_more: boolean;
}

export const INVOICE_STATUSES = ["draft", "open", "paid", "void", "uncollectible"] as const;
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number];

/** An invoice as listed. `number` is null while it is a draft. */
export interface InvoiceSummary {
  id: string;
  number: string | null;
  month: string;
  status: InvoiceStatus;
  subtotal: Money;
  credits_applied: Money;
  total: Money;
  /** Paid so far (the server sends it though the contract does not list it). */
  amount_paid?: Money;
  amount_due: Money;
  /** Lowered or refunded to the balance by credit notes (absent from older servers). */
  amount_credited?: Money;
  created_at: number;
  finalized_at: number | null;
  paid_at: number | null;
}

export interface InvoiceLine {
  kind: "subscription" | "overage" | "credits_applied" | string;
  description: string;
  model: string | null;
  tokens: number | null;
  amount: Money;
}

/** `GET /developer/invoices/{id}`. */
export interface Invoice extends InvoiceSummary {
  lines: InvoiceLine[];
}

/** `POST /developer/invoices/{id}/pay` → 201. */
export interface InvoicePayment {
  id: string;
  checkout_url: string;
}

export const USAGE_GROUPS = ["model", "key", "day"] as const;
export type UsageGroupBy = (typeof USAGE_GROUPS)[number];

export interface UsageFilter {
  /** UTC date, inclusive (`YYYY-MM-DD`); absent: the start of this month. */
  from?: string;
  /** UTC date, inclusive; absent: today. */
  to?: string;
  group_by?: UsageGroupBy;
  key_id?: string;
  model?: string;
}

export interface UsageNumbers {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  tokens: number;
  cost: Money;
  errors: number;
  avg_latency_ms: number;
}

/** `GET /developer/usage`. */
export interface UsageReport {
  period: { from: string; to: string };
  totals: UsageNumbers;
  group_by: UsageGroupBy;
  breakdown: (UsageNumbers & { group: string })[];
}

// ---------------------------------------------------------------------- client

/**
 * The parts of `ApiClient` that billing needs beyond its public methods: the
 * authenticated JSON call (bearer token, one refresh and retry on 401) and the
 * raw request for the text answers (the invoice's HTML, the usage CSV).
 * They are private to the client; reaching them from here keeps the billing
 * routes in one file until the client offers a public way.
 */
interface ClientInternals {
  authed<T>(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    extraHeaders?: Record<string, string>,
  ): Promise<T>;
  send(
    method: "GET",
    path: string,
    body: undefined,
    accessToken: string,
    extraHeaders?: Record<string, string>,
  ): Promise<Response>;
  endSession(): void;
}

const idempotency = (key?: string) => (key ? { "Idempotency-Key": key } : undefined);

function queryString(values: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The billing and usage routes, for one `ApiClient` (its session, its refreshes). */
export class BillingApi {
  private readonly client: ApiClient;

  constructor(client: ApiClient) {
    this.client = client;
  }

  private get internals(): ClientInternals {
    return this.client as unknown as ClientInternals;
  }

  async listPlans(): Promise<Plan[]> {
    return (await this.internals.authed<{ data: Plan[] }>("GET", "/developer/plans")).data;
  }

  async getBilling(): Promise<Billing> {
    return withCustomPrices(await this.internals.authed<Billing>("GET", "/developer/billing"));
  }

  /** Upgrades at once, or schedules a downgrade for the month's end; the current plan cancels a pending change. */
  async changePlan(planId: string, idempotencyKey?: string): Promise<Billing> {
    return withCustomPrices(
      await this.internals.authed<Billing>(
        "POST",
        "/developer/billing/plan",
        { plan_id: planId },
        idempotency(idempotencyKey),
      ),
    );
  }

  /** Starts a payment; the browser then goes to `checkout_url`. */
  createTopUp(amount: Money, idempotencyKey?: string): Promise<TopUp> {
    return this.internals.authed("POST", "/developer/billing/top-ups", { amount }, idempotency(idempotencyKey));
  }

  redeemCode(code: string, idempotencyKey?: string): Promise<Redemption> {
    return this.internals.authed("POST", "/developer/billing/redeem", { code }, idempotency(idempotencyKey));
  }

  listTransactions(page: { limit?: number; before?: string } = {}): Promise<TransactionPage> {
    return this.internals.authed(
      "GET",
      `/developer/billing/transactions${queryString({ limit: page.limit, before: page.before })}`,
    );
  }

  async listInvoices(): Promise<InvoiceSummary[]> {
    return (await this.internals.authed<{ data: InvoiceSummary[] }>("GET", "/developer/invoices")).data;
  }

  getInvoice(id: string): Promise<Invoice> {
    return this.internals.authed("GET", `/developer/invoices/${encodeURIComponent(id)}`);
  }

  /** The print-ready invoice (`text/html`). */
  async invoiceHtml(id: string): Promise<string> {
    const res = await this.download(`/developer/invoices/${encodeURIComponent(id)}/html`, "text/html");
    return res.text();
  }

  payInvoice(id: string, idempotencyKey?: string): Promise<InvoicePayment> {
    return this.internals.authed(
      "POST",
      `/developer/invoices/${encodeURIComponent(id)}/pay`,
      undefined,
      idempotency(idempotencyKey),
    );
  }

  getUsage(filter: UsageFilter = {}): Promise<UsageReport> {
    return this.internals.authed("GET", `/developer/usage${queryString({ ...filter })}`);
  }

  /** One CSV row per request of the period. */
  async exportUsage(filter: Pick<UsageFilter, "from" | "to">): Promise<Blob> {
    const res = await this.download(`/developer/usage/export${queryString({ ...filter })}`, "text/csv");
    return res.blob();
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

const apis = new WeakMap<ApiClient, BillingApi>();

/** The one `BillingApi` of a client. */
export function billingApi(client: ApiClient): BillingApi {
  let api = apis.get(client);
  if (!api) {
    api = new BillingApi(client);
    apis.set(client, api);
  }
  return api;
}

// ----------------------------------------------------------------------- money

const MONEY = /^(-?)(\d+)(?:\.(\d+))?$/;

/** A money string as a whole number of nano-dollars (exact); null when it is not one. */
export function moneyToNanos(value: string): bigint | null {
  const m = MONEY.exec(value.trim());
  if (!m) return null;
  const [, sign, whole, fraction = ""] = m;
  if (fraction.length > 9) return null;
  const nanos = BigInt(whole!) * 1_000_000_000n + BigInt(fraction.padEnd(9, "0"));
  return sign ? -nanos : nanos;
}

/** Compares two money strings exactly: negative, zero or positive. */
export function compareMoney(a: string, b: string): number {
  const x = moneyToNanos(a) ?? 0n;
  const y = moneyToNanos(b) ?? 0n;
  return x < y ? -1 : x > y ? 1 : 0;
}
