/**
 * The operator forms' state, checks and request bodies: plans, providers,
 * models and deployments. The checks mirror the server's rules
 * (`billing/plans.rs`, `catalog/`) so a mistake is shown before the round
 * trip; the server stays the authority and a 400 naming a field is shown
 * under that field (`serverProblems`).
 */
import { ApiError } from "../../api/errors";
import type {
  AdminModel,
  AdminPlan,
  CreateDeploymentRequest,
  CreateProviderRequest,
  Deployment,
  DeploymentInput,
  ModelInput,
  OverageMode,
  PlanInput,
  Prices,
  Provider,
  ProviderKind,
  UpdateProviderRequest,
} from "../../api/admin";
import type { Problem } from "../../lib/validation";

export type FormProblems<F extends string> = Partial<Record<F, Problem>>;

const required: Problem = { key: "validation.required" };

/** A whole number in `[min, max]`; empty is fine unless `needed`. */
export function checkWhole(value: string, min: number, max: number, needed = true): Problem | null {
  const text = value.trim();
  if (text === "") return needed ? required : null;
  const n = Number(text);
  if (!/^-?\d+$/.test(text) || n < min || n > max) return { key: "admin.form.wholeNumber", values: { min, max } };
  return null;
}

/** A non-negative decimal amount with at most `decimals` decimals. */
export function checkMoney(value: string, decimals: number, needed = true): Problem | null {
  const text = value.trim();
  if (text === "") return needed ? required : null;
  if (!new RegExp(`^\\d+(\\.\\d{1,${decimals}})?$`).test(text)) return { key: "admin.form.money", values: { decimals } };
  return null;
}

export function checkText(value: string, max: number, needed = true): Problem | null {
  const text = value.trim();
  if (text === "") return needed ? required : null;
  if ([...text].length > max) return { key: "validation.tooLong", values: { max } };
  return null;
}

/** A provider's or model's name as the catalog takes it: 1 to 128 of letters, digits and `. _ - / :`. */
export const CATALOG_NAME = /^[A-Za-z0-9._\-/:]{1,128}$/;

export function checkCatalogName(value: string, needed = true): Problem | null {
  const text = value.trim();
  if (text === "") return needed ? required : null;
  return CATALOG_NAME.test(text) ? null : { key: "admin.form.catalogName" };
}

export function checkUrl(value: string): Problem | null {
  const text = value.trim();
  if (text === "") return required;
  try {
    const url = new URL(text);
    if (url.protocol === "https:" || url.protocol === "http:") return null;
  } catch {
    // falls through
  }
  return { key: "admin.form.url" };
}

function collect<F extends string>(entries: [F, Problem | null][]): FormProblems<F> {
  const out: FormProblems<F> = {};
  for (const [field, problem] of entries) if (problem) out[field] = problem;
  return out;
}

const int = (value: string) => Number(value.trim());
const money = (value: string) => value.trim();

/**
 * The field a 400 names, by the error's `param` or the `field:` its message
 * starts with, mapped to the form's field; null when it names none of them.
 */
export function serverProblems<F extends string>(error: unknown, fields: Record<string, F>): FormProblems<F> {
  if (!(error instanceof ApiError) || error.status !== 400) return {};
  const colon = error.message.indexOf(":");
  const candidates = [error.param, colon > 0 ? error.message.slice(0, colon) : null];
  for (const candidate of candidates) {
    if (!candidate) continue;
    const name = candidate.trim().toLowerCase().replace(/\s+/g, "_");
    const field = fields[name];
    if (field) {
      const detail = colon > 0 ? error.message.slice(colon + 1).trim() || error.message : error.message;
      const problems: FormProblems<F> = {};
      problems[field] = { key: "admin.form.serverProblem", values: { detail } };
      return problems;
    }
  }
  return {};
}

/** The fields of `next` whose value differs from `before` (what a PATCH sends). */
function changed<T extends object>(before: T, next: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(next) as (keyof T)[]) {
    if (JSON.stringify(before[key]) !== JSON.stringify(next[key])) out[key] = next[key];
  }
  return out;
}

// ----------------------------------------------------------------------- plans

export const PLAN_ID = /^[a-z0-9][a-z0-9_-]{0,39}$/;
export const PLAN_NAME_MAX = 80;
const BIG = Number.MAX_SAFE_INTEGER;

export interface PlanForm {
  id: string;
  name: string;
  price: string;
  includedTokens: string;
  overage: OverageMode;
  requestsPerMinute: string;
  tokenQuotaMonthly: string;
  public: boolean;
  sortOrder: string;
}
export type PlanField = keyof PlanForm;

export function planForm(plan?: AdminPlan): PlanForm {
  return {
    id: plan?.id ?? "",
    name: plan?.name ?? "",
    price: plan?.price ?? "",
    includedTokens: plan ? String(plan.included_tokens) : "",
    overage: plan?.overage ?? "prepaid",
    requestsPerMinute: String(plan?.requests_per_minute ?? 0),
    tokenQuotaMonthly: String(plan?.token_quota_monthly ?? 0),
    public: plan?.public ?? true,
    sortOrder: String(plan?.sort_order ?? 0),
  };
}

export function validatePlanForm(form: PlanForm, creating: boolean): FormProblems<PlanField> {
  const id = form.id.trim();
  return collect<PlanField>([
    ["id", creating ? (id === "" ? required : PLAN_ID.test(id) ? null : { key: "admin.form.planId" }) : null],
    ["name", checkText(form.name, PLAN_NAME_MAX)],
    ["price", checkMoney(form.price, 2)],
    ["includedTokens", checkWhole(form.includedTokens, 0, BIG)],
    ["requestsPerMinute", checkWhole(form.requestsPerMinute, 0, BIG)],
    ["tokenQuotaMonthly", checkWhole(form.tokenQuotaMonthly, 0, BIG)],
    ["sortOrder", checkWhole(form.sortOrder, -BIG, BIG)],
  ]);
}

function planBody(form: PlanForm): PlanInput {
  return {
    name: form.name.trim(),
    price: money(form.price),
    included_tokens: int(form.includedTokens),
    overage: form.overage,
    requests_per_minute: int(form.requestsPerMinute),
    token_quota_monthly: int(form.tokenQuotaMonthly),
    public: form.public,
    sort_order: int(form.sortOrder),
  };
}

/** The create body (every field), or the PATCH body (only what changed) when editing `before`. */
export function toPlanInput(form: PlanForm, before?: AdminPlan): PlanInput {
  if (!before) return { id: form.id.trim(), ...planBody(form) };
  return changed(planBody(planForm(before)), planBody(form));
}

export const PLAN_SERVER_FIELDS: Record<string, PlanField> = {
  id: "id",
  name: "name",
  price: "price",
  included_tokens: "includedTokens",
  overage: "overage",
  requests_per_minute: "requestsPerMinute",
  token_quota_monthly: "tokenQuotaMonthly",
  sort_order: "sortOrder",
};

// ------------------------------------------------------------------- providers

export interface ProviderForm {
  name: string;
  kind: ProviderKind;
  baseUrl: string;
  apiKey: string;
}
export type ProviderField = keyof ProviderForm;

export function providerForm(provider?: Provider): ProviderForm {
  return {
    name: provider?.name ?? "",
    kind: provider?.kind === "anthropic" ? "anthropic" : "openai",
    baseUrl: provider?.base_url ?? "",
    apiKey: "",
  };
}

export function validateProviderForm(form: ProviderForm): FormProblems<ProviderField> {
  return collect<ProviderField>([
    ["name", checkCatalogName(form.name)],
    ["baseUrl", checkUrl(form.baseUrl)],
  ]);
}

export function toCreateProvider(form: ProviderForm): CreateProviderRequest {
  const body: CreateProviderRequest = { name: form.name.trim(), kind: form.kind, base_url: form.baseUrl.trim() };
  if (form.apiKey.trim() !== "") body.api_key = form.apiKey.trim();
  return body;
}

/** Name and address as edited (the key has its own dialog). */
export function toUpdateProvider(form: ProviderForm, before: Provider): UpdateProviderRequest {
  return changed({ name: before.name, base_url: before.base_url }, { name: form.name.trim(), base_url: form.baseUrl.trim() });
}

export const PROVIDER_SERVER_FIELDS: Record<string, ProviderField> = {
  name: "name",
  kind: "kind",
  base_url: "baseUrl",
  url: "baseUrl",
  api_key: "apiKey",
};

// ---------------------------------------------------------------------- prices

export interface PriceForm {
  input: string;
  output: string;
  cached: string;
}

export const PRICE_DECIMALS = 9;

export function priceForm(prices?: Prices): PriceForm {
  return {
    input: prices?.input_per_million ?? "",
    output: prices?.output_per_million ?? "",
    cached: prices?.cached_per_million ?? "",
  };
}

/** Input and output required (unless all three are empty and `optional`); cached empty = the input price. */
export function checkPrices(form: PriceForm, optional: boolean): FormProblems<keyof PriceForm> {
  const blank = form.input.trim() === "" && form.output.trim() === "" && form.cached.trim() === "";
  if (optional && blank) return {};
  return collect<keyof PriceForm>([
    ["input", checkMoney(form.input, PRICE_DECIMALS)],
    ["output", checkMoney(form.output, PRICE_DECIMALS)],
    ["cached", checkMoney(form.cached, PRICE_DECIMALS, false)],
  ]);
}

export function toPrices(form: PriceForm): Prices | undefined {
  if (form.input.trim() === "" && form.output.trim() === "" && form.cached.trim() === "") return undefined;
  return {
    input_per_million: money(form.input),
    output_per_million: money(form.output),
    cached_per_million: form.cached.trim() === "" ? money(form.input) : money(form.cached),
  };
}

/** Two price lists equal as amounts ("2.5" = "2.50"). */
function samePrices(a: Prices | undefined, b: Prices | undefined): boolean {
  if (!a || !b) return a === b;
  const same = (x: string, y: string) => Number(x) === Number(y) && x.trim() !== "" && y.trim() !== "";
  return (
    same(a.input_per_million, b.input_per_million) &&
    same(a.output_per_million, b.output_per_million) &&
    same(a.cached_per_million, b.cached_per_million)
  );
}

// ---------------------------------------------------------------------- models

export interface ModelForm {
  name: string;
  prices: PriceForm;
  enabled: boolean;
  /** Empty: every plan. */
  plans: string[];
}
export type ModelField = "name" | "input" | "output" | "cached";

export function modelForm(model?: AdminModel): ModelForm {
  return {
    name: model?.name ?? "",
    prices: priceForm(model?.prices),
    enabled: model?.enabled ?? true,
    plans: model?.plans ?? [],
  };
}

export function validateModelForm(form: ModelForm): FormProblems<ModelField> {
  return { ...collect<ModelField>([["name", checkCatalogName(form.name)]]), ...checkPrices(form.prices, false) };
}

export function toCreateModel(form: ModelForm): ModelInput & { name: string } {
  return { name: form.name.trim(), prices: toPrices(form.prices), enabled: form.enabled, plans: form.plans };
}

export function toUpdateModel(form: ModelForm, before: AdminModel): ModelInput {
  const body: ModelInput = {};
  if (form.name.trim() !== before.name) body.name = form.name.trim();
  const prices = toPrices(form.prices);
  if (!samePrices(prices, before.prices)) body.prices = prices;
  if (form.enabled !== before.enabled) body.enabled = form.enabled;
  if ([...form.plans].sort().join("\n") !== [...before.plans].sort().join("\n")) body.plans = form.plans;
  return body;
}

export const MODEL_SERVER_FIELDS: Record<string, ModelField> = {
  name: "name",
  input_price_per_million: "input",
  input_per_million: "input",
  output_price_per_million: "output",
  output_per_million: "output",
  cached_price_per_million: "cached",
  cached_per_million: "cached",
};

// ----------------------------------------------------------------- deployments

export const MAX_WEIGHT = 1_000_000;
export const MAX_TIMEOUT_MS = 3_600_000;
export const PRIORITY_LIMIT = 2_147_483_647;

export interface DeploymentForm {
  providerId: string;
  upstreamModel: string;
  weight: string;
  priority: string;
  timeoutMs: string;
  enabled: boolean;
  upstreamPrices: PriceForm;
}
export type DeploymentField =
  | "providerId"
  | "upstreamModel"
  | "weight"
  | "priority"
  | "timeoutMs"
  | "input"
  | "output"
  | "cached";

export function deploymentForm(deployment?: Deployment): DeploymentForm {
  return {
    providerId: deployment?.provider_id ?? "",
    upstreamModel: deployment?.upstream_model ?? "",
    weight: String(deployment?.weight ?? 1),
    priority: String(deployment?.priority ?? 0),
    timeoutMs: String(deployment?.timeout_ms ?? 60_000),
    enabled: deployment?.enabled ?? true,
    upstreamPrices: priceForm(deployment?.upstream_prices),
  };
}

export function validateDeploymentForm(form: DeploymentForm, creating: boolean): FormProblems<DeploymentField> {
  return {
    ...collect<DeploymentField>([
      ["providerId", creating && form.providerId === "" ? required : null],
      ["upstreamModel", checkCatalogName(form.upstreamModel, !creating)],
      ["weight", checkWhole(form.weight, 0, MAX_WEIGHT)],
      ["priority", checkWhole(form.priority, -PRIORITY_LIMIT, PRIORITY_LIMIT)],
      ["timeoutMs", checkWhole(form.timeoutMs, 1, MAX_TIMEOUT_MS)],
    ]),
    ...checkPrices(form.upstreamPrices, true),
  };
}

function deploymentBody(form: DeploymentForm): DeploymentInput {
  const body: DeploymentInput = {
    weight: int(form.weight),
    priority: int(form.priority),
    timeout_ms: int(form.timeoutMs),
    enabled: form.enabled,
  };
  if (form.upstreamModel.trim() !== "") body.upstream_model = form.upstreamModel.trim();
  const prices = toPrices(form.upstreamPrices);
  if (prices) body.upstream_prices = prices;
  return body;
}

export function toCreateDeployment(form: DeploymentForm): CreateDeploymentRequest {
  return { provider_id: form.providerId, ...deploymentBody(form) };
}

export function toUpdateDeployment(form: DeploymentForm, before: Deployment): DeploymentInput {
  const next = deploymentBody(form);
  const body: DeploymentInput = {};
  if (next.upstream_model !== undefined && next.upstream_model !== before.upstream_model)
    body.upstream_model = next.upstream_model;
  if (next.weight !== before.weight) body.weight = next.weight;
  if (next.priority !== before.priority) body.priority = next.priority;
  if (next.timeout_ms !== before.timeout_ms) body.timeout_ms = next.timeout_ms;
  if (next.enabled !== before.enabled) body.enabled = next.enabled;
  if (next.upstream_prices && !samePrices(next.upstream_prices, before.upstream_prices))
    body.upstream_prices = next.upstream_prices;
  return body;
}

export const DEPLOYMENT_SERVER_FIELDS: Record<string, DeploymentField> = {
  provider: "providerId",
  provider_id: "providerId",
  upstream_model: "upstreamModel",
  weight: "weight",
  priority: "priority",
  timeout_ms: "timeoutMs",
  input_price_per_million: "input",
  output_price_per_million: "output",
  cached_price_per_million: "cached",
};
