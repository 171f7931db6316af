import { describe, expect, it } from "vitest";
import { adminApi, priceListFormat } from "./admin";
import { ApiClient } from "./client";
import { ApiError } from "./errors";
import { TokenStore } from "./tokens";
import { FakeServer, json } from "../test/fakeServer";
import {
  deploymentForm,
  modelForm,
  planForm,
  serverProblems,
  toCreateDeployment,
  toPlanInput,
  toUpdateDeployment,
  toUpdateModel,
  validateDeploymentForm,
  validatePlanForm,
} from "../pages/admin/forms";

function signedIn(server: FakeServer) {
  const tokens = new TokenStore(localStorage);
  tokens.set("access-1", "refresh-1");
  return adminApi(new ApiClient({ fetch: server.fetch, tokens, lock: (fn) => fn() }));
}

describe("admin client", () => {
  it("sends a price list as it is, CSV as text/csv, and picks the format by file name or first line", async () => {
    const server = new FakeServer().on("POST", "/admin/price-list", () =>
      json(200, { dry_run: true, changed: [], unchanged: [], unknown: [] }),
    );
    const api = signedIn(server);
    await api.importPriceList("model,input_per_million,output_per_million\ngpt-4o,1,2\n", "csv", true);
    await api.importPriceList('[{"model":"gpt-4o","input_per_million":"1","output_per_million":"2"}]', "json", false);
    expect(server.requests.map((r) => [r.query, r.headers["content-type"], r.text])).toEqual([
      [{ dry_run: "true" }, "text/csv", "model,input_per_million,output_per_million\ngpt-4o,1,2\n"],
      [{ dry_run: "false" }, "application/json", '[{"model":"gpt-4o","input_per_million":"1","output_per_million":"2"}]'],
    ]);
    expect(priceListFormat("anything", "Prices.CSV")).toBe("csv");
    expect(priceListFormat("model,input_per_million", "prices.json")).toBe("json");
    expect(priceListFormat("\uFEFF model,input_per_million,output_per_million")).toBe("csv");
    expect(priceListFormat('{"prices": []}')).toBe("json");
  });

  it("sends filters and the cursor as query parameters, leaving out empty ones", async () => {
    const server = new FakeServer()
      .on("GET", "/admin/developers", () => json(200, { data: [], has_more: false }))
      .on("GET", "/admin/audit-log", () => json(200, { data: [], has_more: false }));
    const api = signedIn(server);
    await api.listDevelopers({ q: "ada lovelace", status: "active", role: undefined, limit: 20, starting_after: "dev_9" });
    await api.listAudit({ actor_id: "", action: "plan.updated,plan.created" });
    expect(server.requests.map((r) => [r.path, r.query, r.authorization])).toEqual([
      ["/admin/developers", { q: "ada lovelace", status: "active", limit: "20", starting_after: "dev_9" }, "Bearer access-1"],
      ["/admin/audit-log", { action: "plan.updated,plan.created" }, "Bearer access-1"],
    ]);
  });

  it("uses the documented methods and paths, ids escaped, Idempotency-Key where the API takes one", async () => {
    const server = new FakeServer()
      .on("PATCH", "/admin/deployments/dep_1", () => json(200, {}))
      .on("DELETE", "/admin/deployments/dep_1", () => json(200, {}))
      .on("PUT", "/admin/developers/dev_a%2Fb/plan", () => json(200, {}))
      .on("POST", "/admin/developers/dev_1/credit", () => json(201, {}))
      .on("POST", "/admin/invoices/inv_1/payments", () => json(201, {}))
      .on("POST", "/admin/redemption-codes", () => json(201, { codes: [] }));
    const api = signedIn(server);
    await api.updateDeployment("dep_1", { weight: 2 });
    await api.deleteDeployment("dep_1");
    await api.assignPlan("dev_a/b", "pro");
    await api.grantCredit("dev_1", { amount: "5" }, "idem-credit");
    await api.recordPayment("inv_1", undefined, "idem-pay");
    await api.createCodes({ count: 3, amount: "5.00" }, "idem-codes");
    expect(server.requests.map((r) => [r.method, r.path, r.body, r.idempotencyKey])).toEqual([
      ["PATCH", "/admin/deployments/dep_1", { weight: 2 }, null],
      ["DELETE", "/admin/deployments/dep_1", undefined, null],
      ["PUT", "/admin/developers/dev_a%2Fb/plan", { plan_id: "pro" }, null],
      ["POST", "/admin/developers/dev_1/credit", { amount: "5" }, "idem-credit"],
      ["POST", "/admin/invoices/inv_1/payments", {}, "idem-pay"],
      ["POST", "/admin/redemption-codes", { count: 3, amount: "5.00" }, "idem-codes"],
    ]);
  });

  it("keeps the field an error names", async () => {
    const server = new FakeServer().on("POST", "/admin/providers", () =>
      json(400, { error: { type: "invalid_request_error", code: "invalid_request", message: "base_url: not a URL", param: "base_url" } }),
    );
    const error = await signedIn(server)
      .createProvider({ name: "x", kind: "openai", base_url: "nope" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).param).toBe("base_url");
    expect(serverProblems(error, { base_url: "baseUrl" })).toEqual({
      baseUrl: { key: "admin.form.serverProblem", values: { detail: "not a URL" } },
    });
  });
});

describe("admin forms", () => {
  it("checks a plan as the server does and sends only what an edit changed", () => {
    const form = { ...planForm(), id: "Team", name: "", price: "1.234", includedTokens: "-1" };
    expect(Object.keys(validatePlanForm(form, true)).sort()).toEqual(["id", "includedTokens", "name", "price"]);
    const plan = {
      id: "pro",
      name: "Pro",
      price: "99.00",
      included_tokens: 1000,
      requests_per_minute: null,
      token_quota_monthly: 5000,
      overage: "invoice" as const,
      public: true,
      sort_order: 1,
      subscribers: 0,
    };
    expect(toPlanInput(planForm(plan), plan)).toEqual({});
    expect(toPlanInput({ ...planForm(plan), tokenQuotaMonthly: "0", public: false }, plan)).toEqual({
      token_quota_monthly: 0,
      public: false,
    });
  });

  it("builds deployment bodies: defaults, optional upstream prices, only changes on edit", () => {
    const form = { ...deploymentForm(), providerId: "prov_1" };
    expect(validateDeploymentForm(form, true)).toEqual({});
    expect(toCreateDeployment(form)).toEqual({ provider_id: "prov_1", weight: 1, priority: 0, timeout_ms: 60000, enabled: true });
    expect(Object.keys(validateDeploymentForm({ ...form, timeoutMs: "0", weight: "2000000" }, true)).sort()).toEqual([
      "timeoutMs",
      "weight",
    ]);
    const existing = {
      id: "dep_1",
      provider_id: "prov_1",
      provider_name: "p",
      upstream_model: "m",
      weight: 1,
      priority: 0,
      timeout_ms: 60000,
      enabled: true,
      upstream_prices: { input_per_million: "2.00", output_per_million: "8", cached_per_million: "1" },
    };
    expect(toUpdateDeployment({ ...deploymentForm(existing), upstreamPrices: { input: "2", output: "8.0", cached: "1" } }, existing)).toEqual({});
    expect(toUpdateDeployment({ ...deploymentForm(existing), priority: "-1" }, existing)).toEqual({ priority: -1 });
  });

  it("treats a model's plans as a set", () => {
    const m = {
      id: "mdl_1",
      name: "gpt-4o",
      prices: { input_per_million: "1", output_per_million: "2", cached_per_million: "1" },
      enabled: true,
      plans: ["a", "b"],
      deployments: [],
    };
    expect(toUpdateModel({ ...modelForm(m), plans: ["b", "a"] }, m)).toEqual({});
    expect(toUpdateModel({ ...modelForm(m), plans: [] }, m)).toEqual({ plans: [] });
  });
});
