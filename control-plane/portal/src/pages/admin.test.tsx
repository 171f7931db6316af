import { beforeEach, describe, expect, it, vi } from "vitest";
import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../i18n";
import { REFRESH_TOKEN_KEY } from "../api/tokens";
import type {
  AdminDeveloper,
  AdminDeveloperDetail,
  AdminInvoice,
  AdminModel,
  AdminPlan,
  AuditEntry,
  Deployment,
  Provider,
  Setting,
  SettingKey,
  SetupChecklist,
} from "../api/admin";
import type { Profile } from "../api/types";
import { apiError, json, profile, session, sessionServer } from "../test/fakeServer";
import type { Recorded } from "../test/fakeServer";
import { renderApp } from "../test/renderApp";

const operator: Profile = { ...profile, id: "dev_op", email: "ops@example.com", full_name: "Olive Operator", role: "admin" };

/** A signed-in account (the operator unless told otherwise). */
function adminServer(who: Profile = operator) {
  return sessionServer(1)
    .on("POST", "/developer/refresh", () => json(200, session(2, who)))
    .on("GET", "/developer/profile", () => json(200, who));
}

const adminCalls = (server: { requests: Recorded[] }) => server.requests.filter((r) => r.path.startsWith("/admin/"));

const developer = (n: number, over: Partial<AdminDeveloper> = {}): AdminDeveloper => ({
  id: `dev_${n}`,
  email: `dev${n}@example.com`,
  full_name: `Developer ${n}`,
  company_name: null,
  developer_type: "individual",
  role: "developer",
  status: "active",
  email_verified: true,
  language: "en",
  plan_id: "free",
  rate_limit_per_minute: null,
  quota_tokens_per_month: null,
  created_at_ms: Date.UTC(2026, 10, 1) - n * 60_000,
  ...over,
});

const plan = (over: Partial<AdminPlan> = {}): AdminPlan => ({
  id: "free",
  name: "Free",
  price: "0.00",
  included_tokens: 1000,
  requests_per_minute: 100,
  token_quota_monthly: null,
  overage: "prepaid",
  public: true,
  sort_order: 0,
  subscribers: 12,
  ...over,
});

const PLANS = [
  plan(),
  plan({ id: "pro", name: "Pro", price: "99.00", included_tokens: 1_000_000, overage: "invoice", sort_order: 2, subscribers: 3 }),
  plan({ id: "enterprise", name: "Enterprise", price: "500.00", public: false, sort_order: 9, subscribers: 1 }),
];

const provider = (over: Partial<Provider> = {}): Provider => ({
  id: "prov_1",
  name: "openai-main",
  kind: "openai",
  base_url: "https://api.openai.com/v1",
  enabled: true,
  has_api_key: true,
  ...over,
});

const prices = { input_per_million: "2.50", output_per_million: "10", cached_per_million: "1.25" };
const deployment = (over: Partial<Deployment> = {}): Deployment => ({
  id: "dep_1",
  provider_id: "prov_1",
  provider_name: "openai-main",
  upstream_model: "gpt-4o-2024-08-06",
  weight: 1,
  priority: 0,
  timeout_ms: 60_000,
  enabled: true,
  upstream_prices: { input_per_million: "2.00", output_per_million: "8", cached_per_million: "1" },
  ...over,
});
const model = (over: Partial<AdminModel> = {}): AdminModel => ({
  id: "mdl_1",
  name: "gpt-4o",
  prices,
  enabled: true,
  plans: [],
  deployments: [deployment()],
  ...over,
});

const audit = (n: number, over: Partial<AuditEntry> = {}): AuditEntry => ({
  id: `aud_${n}`,
  at_ms: Date.UTC(2026, 10, 20, 12, n),
  actor: { id: "dev_op", email: "ops@example.com", ip: "203.0.113.9" },
  action: "billing.credit_granted",
  target_id: "dev_2",
  details: { amount: "2.50", memo: `Welcome ${n}` },
  ...over,
});

beforeEach(async () => {
  await i18n.changeLanguage("en");
  localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
});

describe("Admin navigation and setup", () => {
  it("is not offered to developers, and its pages say so without calling the operator API", async () => {
    const server = adminServer(profile);
    renderApp("/admin/developers", server);
    expect(await screen.findByText("For operators only")).toBeInTheDocument();
    const nav = within(screen.getByRole("navigation", { name: "Main navigation" }));
    expect(nav.getByRole("link", { name: /API keys/ })).toBeInTheDocument();
    for (const name of [/Setup/, /Developers/, /Providers/, /Audit log/, /Insights/, /^Settings$/]) {
      expect(nav.queryByRole("link", { name })).toBeNull();
    }
    expect(nav.queryByText("Admin")).toBeNull();
    expect(adminCalls(server)).toEqual([]);
  });

  it("tells a read-only operator that changes are refused, and not a full one", async () => {
    const support = { ...operator, id: "dev_sup", read_only: true };
    const server = adminServer(support).on("GET", "/admin/plans", () => json(200, { data: [] }));
    renderApp("/admin/plans", server);
    expect(await screen.findByText("Read-only access")).toBeInTheDocument();
    cleanup();
    renderApp("/admin/plans", adminServer().on("GET", "/admin/plans", () => json(200, { data: [] })));
    expect(await screen.findByRole("heading", { name: "Plans", level: 1 })).toBeInTheDocument();
    expect(screen.queryByText("Read-only access")).toBeNull();
  });

  it("lands an operator on the setup checklist while setup is unfinished, with each step's hint", async () => {
    const checklist: SetupChecklist = {
      done: false,
      steps: [
        { id: "provider", done: true, hint: "Add an upstream provider with aihub admin add-provider." },
        { id: "model", done: false, hint: "Publish a model served by an enabled provider." },
        { id: "plan", done: true, hint: "Offer at least one public plan." },
        { id: "email", done: false, hint: "Send mail over SMTP: [email] mode = \"smtp\"." },
        { id: "payment", done: false, hint: "Take payments with Stripe." },
      ],
    };
    const server = adminServer().on("GET", "/admin/setup", () => json(200, checklist));
    renderApp("/admin", server);
    expect(await screen.findByRole("heading", { name: "Setup", level: 1 })).toBeInTheDocument();
    expect(screen.getByText("3 steps left.")).toBeInTheDocument();
    const step = (name: string) => screen.getByRole("listitem", { name });
    expect(within(step("Publish a model")).getByText("Publish a model served by an enabled provider.")).toBeInTheDocument();
    expect(within(step("Publish a model")).getByText("To do")).toBeInTheDocument();
    expect(within(step("Publish a model")).getByRole("link", { name: /Go to models/ })).toHaveAttribute("href", "/admin/models");
    expect(within(step("Add an upstream provider")).getByText("Done")).toBeInTheDocument();
    expect(within(step("Send mail over SMTP")).getByText(/mode = "smtp"/)).toBeInTheDocument();
    expect(within(step("Send mail over SMTP")).getByRole("link", { name: /Go to email settings/ })).toHaveAttribute(
      "href",
      "/admin/settings",
    );
    expect(within(step("Add an upstream provider")).queryByRole("link")).toBeNull();

    const nav = within(screen.getByRole("navigation", { name: "Main navigation" }));
    const admin = within(nav.getByRole("list", { name: "Admin" }));
    expect(admin.getAllByRole("link").map((a) => a.getAttribute("href"))).toEqual([
      "/admin/setup",
      "/admin/developers",
      "/admin/plans",
      "/admin/providers",
      "/admin/models",
      "/admin/invoices",
      "/admin/redemption-codes",
      "/admin/audit-log",
      "/admin/health",
      "/admin/insights",
      "/admin/settings",
    ]);
    expect(admin.getByRole("link", { name: "Setup (3 steps left)" })).toBeInTheDocument();
  });

  it("goes on to the developers once setup is done", async () => {
    const server = adminServer()
      .on("GET", "/admin/setup", () => json(200, { done: true, steps: [{ id: "provider", done: true, hint: "…" }] }))
      .on("GET", "/admin/developers", () => json(200, { data: [developer(2)], has_more: false }));
    renderApp("/admin", server);
    expect(await screen.findByRole("heading", { name: "Developers", level: 1 })).toBeInTheDocument();
    expect(screen.getByTestId("location")).toHaveTextContent("/admin/developers");
    expect(await screen.findByRole("link", { name: "dev2@example.com" })).toBeInTheDocument();
  });
});

describe("Developers", () => {
  it("searches on the server, filters by status and role, and pages with starting_after", async () => {
    const server = adminServer().on("GET", "/admin/developers", (req) => {
      if (req.query.starting_after === "dev_20") return json(200, { data: [developer(21)], has_more: false });
      if (req.query.q === "grace") return json(200, { data: [developer(7, { email: "grace@example.com" })], has_more: false });
      return json(200, { data: Array.from({ length: 20 }, (_, i) => developer(i + 1)), has_more: true });
    });
    renderApp("/admin/developers", server);
    expect(await screen.findByRole("link", { name: "dev1@example.com" })).toBeInTheDocument();
    expect(server.calls("GET", "/admin/developers")[0]?.query).toEqual({ limit: "20" });

    await userEvent.click(screen.getByRole("button", { name: "Next page" }));
    expect(await screen.findByRole("link", { name: "dev21@example.com" })).toBeInTheDocument();
    expect(server.calls("GET", "/admin/developers").at(-1)?.query).toEqual({ limit: "20", starting_after: "dev_20" });
    expect(screen.getByText("Page 2")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Next page" })).toBeDisabled();
    await userEvent.click(screen.getByRole("button", { name: "Previous page" }));
    expect(await screen.findByRole("link", { name: "dev1@example.com" })).toBeInTheDocument();

    await userEvent.type(screen.getByRole("searchbox", { name: "Search" }), "grace");
    await userEvent.click(screen.getByRole("button", { name: "Search" }));
    expect(await screen.findByRole("link", { name: "grace@example.com" })).toBeInTheDocument();
    expect(server.calls("GET", "/admin/developers").at(-1)?.query).toEqual({ q: "grace", limit: "20" });
    expect(screen.getByTestId("location")).toHaveTextContent("/admin/developers?q=grace");

    await userEvent.selectOptions(screen.getByLabelText("Status"), "suspended");
    await userEvent.selectOptions(screen.getByLabelText("Role"), "admin");
    await waitFor(() =>
      expect(server.calls("GET", "/admin/developers").at(-1)?.query).toEqual({
        q: "grace",
        status: "suspended",
        role: "admin",
        limit: "20",
      }),
    );
  });

  function detailServer(detail: AdminDeveloperDetail) {
    let current = detail;
    const server = adminServer()
      .on("GET", "/admin/developers/dev_2", () => json(200, current))
      .on("GET", "/admin/plans", () => json(200, { data: PLANS }))
      .on("POST", "/admin/developers/dev_2/suspend", () => {
        current = { ...current, status: "suspended" };
        return json(200, current);
      })
      .on("POST", "/admin/developers/dev_2/activate", () => {
        current = { ...current, status: "active" };
        return json(200, current);
      });
    return server;
  }

  const detail: AdminDeveloperDetail = {
    ...developer(2, { full_name: "Grace Hopper", plan_id: "pro", rate_limit_per_minute: 600 }),
    keys: { active: 2, total: 3 },
    recent_audit: [audit(1, { action: "developer.activated" })],
  };

  it("shows an account with its plan, keys and recent audit, and suspends only after a confirmation", async () => {
    const server = detailServer(detail);
    renderApp("/admin/developers/dev_2", server);
    expect(await screen.findByRole("heading", { name: "dev2@example.com", level: 1 })).toBeInTheDocument();
    expect(await screen.findByTestId("developer-plan")).toHaveTextContent("Pro ($99.00)");
    expect(screen.getByTestId("developer-keys")).toHaveTextContent("2 active of 3");
    expect(screen.getByText("developer.activated")).toBeInTheDocument();

    // Cancelling the confirmation suspends nothing.
    await userEvent.click(screen.getByRole("button", { name: "Suspend" }));
    let dialog = await screen.findByRole("dialog", { name: "Suspend this account?" });
    expect(within(dialog).getByText(/dev2@example\.com is signed out at once/)).toBeInTheDocument();
    await userEvent.click(within(dialog).getByRole("button", { name: "Cancel" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(server.calls("POST", "/admin/developers/dev_2/suspend")).toHaveLength(0);

    await userEvent.click(screen.getByRole("button", { name: "Suspend" }));
    dialog = await screen.findByRole("dialog", { name: "Suspend this account?" });
    await userEvent.click(within(dialog).getByRole("button", { name: "Suspend account" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(server.calls("POST", "/admin/developers/dev_2/suspend")).toHaveLength(1);
    // The page asks again and offers the way back.
    const activate = await screen.findByRole("button", { name: "Activate" });
    expect(screen.queryByRole("button", { name: "Suspend" })).toBeNull();
    await userEvent.click(activate);
    await waitFor(() => expect(server.calls("POST", "/admin/developers/dev_2/activate")).toHaveLength(1));
    expect(await screen.findByRole("button", { name: "Suspend" })).toBeInTheDocument();
  });

  it("shows the server's refusal of a suspension in the dialog", async () => {
    const server = detailServer(detail).on("POST", "/admin/developers/dev_2/suspend", () =>
      apiError(409, "conflict", "operators cannot be suspended"),
    );
    renderApp("/admin/developers/dev_2", server);
    await userEvent.click(await screen.findByRole("button", { name: "Suspend" }));
    const dialog = await screen.findByRole("dialog", { name: "Suspend this account?" });
    await userEvent.click(within(dialog).getByRole("button", { name: "Suspend account" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("operators cannot be suspended");
  });

  it("grants credit with a memo and one Idempotency-Key per submission", async () => {
    const server = detailServer(detail).on("POST", "/admin/developers/dev_2/credit", () =>
      json(201, { transaction_id: "ltx_1", balance: { total: "12.50", paid: "0.00", promotional: "12.50" } }),
    );
    renderApp("/admin/developers/dev_2", server);
    await userEvent.click(await screen.findByRole("button", { name: "Grant credit" }));
    const dialog = await screen.findByRole("dialog", { name: "Grant credit" });
    await userEvent.type(within(dialog).getByLabelText("Amount (USD)"), "ten");
    await userEvent.click(within(dialog).getByRole("button", { name: "Grant" }));
    expect(await within(dialog).findByText(/Enter an amount in US dollars/)).toBeInTheDocument();
    expect(server.calls("POST", "/admin/developers/dev_2/credit")).toHaveLength(0);

    await userEvent.clear(within(dialog).getByLabelText("Amount (USD)"));
    await userEvent.type(within(dialog).getByLabelText("Amount (USD)"), "12.50");
    await userEvent.type(within(dialog).getByLabelText(/Memo/), "Welcome");
    await userEvent.click(within(dialog).getByRole("button", { name: "Grant" }));
    expect(await within(dialog).findByText("Credit granted. The balance is now $12.50.")).toBeInTheDocument();
    const [call] = server.calls("POST", "/admin/developers/dev_2/credit");
    expect(call?.body).toEqual({ amount: "12.50", memo: "Welcome" });
    expect(call?.idempotencyKey).toMatch(/\S{8,}/);
  });

  it("changes the plan with PUT …/plan, private plans included", async () => {
    const server = detailServer(detail).on("PUT", "/admin/developers/dev_2/plan", () => json(200, {}));
    renderApp("/admin/developers/dev_2", server);
    await userEvent.click(await screen.findByRole("button", { name: "Change plan" }));
    const dialog = await screen.findByRole("dialog", { name: "Change plan" });
    const select = await within(dialog).findByLabelText("Plan");
    expect(within(select).getByRole("option", { name: "Enterprise · $500.00 · Private" })).toBeInTheDocument();
    await userEvent.selectOptions(select, "enterprise");
    await userEvent.click(within(dialog).getByRole("button", { name: "Save plan" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(server.calls("PUT", "/admin/developers/dev_2/plan").map((c) => c.body)).toEqual([{ plan_id: "enterprise" }]);
  });
});

describe("Plans", () => {
  it("lists every plan and creates one, showing the checks and the server's refusal", async () => {
    let list = PLANS;
    let attempts = 0;
    const server = adminServer()
      .on("GET", "/admin/plans", () => json(200, { data: list }))
      .on("POST", "/admin/plans", (req) => {
        attempts += 1;
        if (attempts === 1) return apiError(409, "conflict", "a plan with id 'team' exists");
        const created = plan({ ...(req.body as object), subscribers: 0 } as Partial<AdminPlan>);
        list = [...list, created];
        return json(201, created);
      });
    renderApp("/admin/plans", server);
    const table = within(await screen.findByRole("table", { name: "Plans" }));
    const enterprise = within(table.getByRole("row", { name: /Enterprise/ }));
    expect(enterprise.getByText("Private")).toBeInTheDocument();
    expect(enterprise.getByText("$500.00")).toBeInTheDocument();
    expect(within(table.getByRole("row", { name: /Free/ })).getByText("12")).toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "Add plan" }));
    const dialog = within(await screen.findByRole("dialog", { name: "Add plan" }));
    await userEvent.type(dialog.getByLabelText("Plan ID"), "Team Plan");
    await userEvent.type(dialog.getByLabelText("Monthly price (USD)"), "199.999");
    await userEvent.click(dialog.getByRole("button", { name: "Create plan" }));
    expect(await dialog.findByText(/Use 1 to 40 lowercase letters/)).toBeInTheDocument();
    expect(dialog.getAllByText("This field is required.")).toHaveLength(2); // name, included tokens
    expect(dialog.getByText(/at most 2 decimals/)).toBeInTheDocument();
    expect(server.calls("POST", "/admin/plans")).toHaveLength(0);

    await userEvent.clear(dialog.getByLabelText("Plan ID"));
    await userEvent.type(dialog.getByLabelText("Plan ID"), "team");
    await userEvent.type(dialog.getByLabelText("Name"), "Team");
    await userEvent.clear(dialog.getByLabelText("Monthly price (USD)"));
    await userEvent.type(dialog.getByLabelText("Monthly price (USD)"), "199.00");
    await userEvent.type(dialog.getByLabelText("Included tokens per month"), "5000000");
    await userEvent.selectOptions(dialog.getByLabelText("Overage"), "invoice");
    await userEvent.clear(dialog.getByLabelText("Requests per minute"));
    await userEvent.type(dialog.getByLabelText("Requests per minute"), "6000");
    await userEvent.click(dialog.getByLabelText(/Public/));
    await userEvent.click(dialog.getByRole("button", { name: "Create plan" }));
    expect(await dialog.findByRole("alert")).toHaveTextContent("a plan with id 'team' exists");

    await userEvent.click(dialog.getByRole("button", { name: "Create plan" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(server.calls("POST", "/admin/plans").at(-1)?.body).toEqual({
      id: "team",
      name: "Team",
      price: "199.00",
      included_tokens: 5000000,
      overage: "invoice",
      requests_per_minute: 6000,
      token_quota_monthly: 0,
      public: false,
      sort_order: 0,
    });
    expect(await screen.findByRole("row", { name: /Team/ })).toBeInTheDocument();
  });

  it("edits with PATCH of only what changed, and shows a field the server refuses under it", async () => {
    const server = adminServer()
      .on("GET", "/admin/plans", () => json(200, { data: PLANS }))
      .on("PATCH", "/admin/plans/pro", (req) =>
        (req.body as { name?: string }).name === "Bad"
          ? json(400, { error: { type: "invalid_request_error", code: "invalid_request", message: "name: reserved word", param: "name" } })
          : json(200, { ...PLANS[1], ...(req.body as object) }),
      );
    renderApp("/admin/plans", server);
    await userEvent.click(await screen.findByRole("button", { name: "Edit Pro" }));
    const dialog = within(await screen.findByRole("dialog", { name: "Edit plan Pro" }));
    expect(dialog.queryByLabelText("Plan ID")).toBeNull();
    expect(dialog.getByText(/3 developers are on this plan/)).toBeInTheDocument();
    await userEvent.clear(dialog.getByLabelText("Name"));
    await userEvent.type(dialog.getByLabelText("Name"), "Bad");
    await userEvent.click(dialog.getByRole("button", { name: "Save changes" }));
    expect(await dialog.findByText("reserved word")).toBeInTheDocument();
    expect(dialog.getByLabelText("Name")).toHaveAttribute("aria-invalid", "true");

    await userEvent.clear(dialog.getByLabelText("Name"));
    await userEvent.type(dialog.getByLabelText("Name"), "Pro 2");
    await userEvent.clear(dialog.getByLabelText("Monthly price (USD)"));
    await userEvent.type(dialog.getByLabelText("Monthly price (USD)"), "89.00");
    await userEvent.click(dialog.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(server.calls("PATCH", "/admin/plans/pro").at(-1)?.body).toEqual({ name: "Pro 2", price: "89.00" });
  });
});

describe("Providers", () => {
  it("adds a provider with its key in a password field", async () => {
    let list: Provider[] = [];
    const server = adminServer()
      .on("GET", "/admin/providers", () => json(200, { data: list }))
      .on("POST", "/admin/providers", (req) => {
        const body = req.body as { name: string; kind: string; base_url: string };
        list = [provider({ id: "prov_2", name: body.name, kind: body.kind, base_url: body.base_url })];
        return json(201, list[0]);
      });
    renderApp("/admin/providers", server);
    expect(await screen.findByText(/No providers yet/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Add provider" }));
    const dialog = within(await screen.findByRole("dialog", { name: "Add provider" }));
    await userEvent.type(dialog.getByLabelText("Name"), "claude main");
    await userEvent.type(dialog.getByLabelText("Base URL"), "api.anthropic.com");
    await userEvent.click(dialog.getByRole("button", { name: "Create provider" }));
    expect(await dialog.findByText(/no spaces/)).toBeInTheDocument();
    expect(dialog.getByText(/Enter a full URL/)).toBeInTheDocument();

    await userEvent.clear(dialog.getByLabelText("Name"));
    await userEvent.type(dialog.getByLabelText("Name"), "claude-main");
    await userEvent.selectOptions(dialog.getByLabelText("Kind"), "anthropic");
    await userEvent.clear(dialog.getByLabelText("Base URL"));
    await userEvent.type(dialog.getByLabelText("Base URL"), "https://api.anthropic.com");
    const key = dialog.getByLabelText("API key");
    expect(key).toHaveAttribute("type", "password");
    await userEvent.type(key, "sk-ant-secret");
    await userEvent.click(dialog.getByRole("button", { name: "Create provider" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(server.calls("POST", "/admin/providers")[0]?.body).toEqual({
      name: "claude-main",
      kind: "anthropic",
      base_url: "https://api.anthropic.com",
      api_key: "sk-ant-secret",
    });
    expect(await screen.findByRole("row", { name: /claude-main/ })).toBeInTheDocument();
    expect(screen.queryByText("sk-ant-secret")).toBeNull();
  });

  it("tests the connection: the answer's status, latency and models, or the error", async () => {
    let ok = true;
    const server = adminServer()
      .on("GET", "/admin/providers", () => json(200, { data: [provider()] }))
      .on("POST", "/admin/providers/prov_1/test", () =>
        json(
          200,
          ok
            ? { ok: true, status: 200, latency_ms: 123, models: ["gpt-4o", "gpt-4o-mini"], error: null }
            : { ok: false, status: 401, latency_ms: 45, models: [], error: "upstream said: invalid api key" },
        ),
      );
    renderApp("/admin/providers", server);
    const row = within(await screen.findByRole("row", { name: /openai-main/ }));
    await userEvent.click(row.getByRole("button", { name: "Test connection" }));
    // Shown in a line under the provider's row.
    const result = await screen.findByTestId("provider-test");
    expect(result).toHaveTextContent("Connected");
    expect(result).toHaveTextContent("HTTP 200");
    expect(result).toHaveTextContent("in 123 ms");
    expect(result).toHaveTextContent("2 models: gpt-4o, gpt-4o-mini");

    ok = false;
    await userEvent.click(row.getByRole("button", { name: "Test connection" }));
    await waitFor(() => expect(screen.getByTestId("provider-test")).toHaveTextContent("Failed"));
    expect(screen.getByTestId("provider-test")).toHaveTextContent("HTTP 401");
    expect(screen.getByText("upstream said: invalid api key")).toBeInTheDocument();
  });

  it("disables, edits and rotates the key after a confirmation", async () => {
    let current = provider();
    const server = adminServer()
      .on("GET", "/admin/providers", () => json(200, { data: [current] }))
      .on("PATCH", "/admin/providers/prov_1", (req) => {
        const body = req.body as Partial<Provider> & { api_key?: string };
        if (body.name === "taken") return apiError(409, "conflict", "a provider named 'taken' exists");
        const { api_key: _key, ...rest } = body;
        current = { ...current, ...rest };
        return json(200, current);
      });
    renderApp("/admin/providers", server);
    const row = () => within(screen.getByRole("row", { name: /openai-main|azure/ }));
    await screen.findByRole("row", { name: /openai-main/ });
    await userEvent.click(row().getByRole("button", { name: "Disable" }));
    expect(await row().findByRole("button", { name: "Enable" })).toBeInTheDocument();
    expect(server.calls("PATCH", "/admin/providers/prov_1")[0]?.body).toEqual({ enabled: false });

    await userEvent.click(row().getByRole("button", { name: "Edit" }));
    let dialog = within(await screen.findByRole("dialog", { name: "Edit provider openai-main" }));
    expect(dialog.queryByLabelText("API key")).toBeNull();
    await userEvent.clear(dialog.getByLabelText("Name"));
    await userEvent.type(dialog.getByLabelText("Name"), "taken");
    await userEvent.click(dialog.getByRole("button", { name: "Save changes" }));
    expect(await dialog.findByRole("alert")).toHaveTextContent("a provider named 'taken' exists");
    await userEvent.clear(dialog.getByLabelText("Name"));
    await userEvent.type(dialog.getByLabelText("Name"), "azure");
    await userEvent.click(dialog.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(server.calls("PATCH", "/admin/providers/prov_1").at(-1)?.body).toEqual({ name: "azure" });

    await userEvent.click(await within(await screen.findByRole("row", { name: /azure/ })).findByRole("button", { name: "Rotate key" }));
    dialog = within(await screen.findByRole("dialog", { name: "Rotate the API key of azure?" }));
    const before = server.calls("PATCH", "/admin/providers/prov_1").length;
    await userEvent.click(dialog.getByRole("button", { name: "Replace key" }));
    expect(await dialog.findByText("This field is required.")).toBeInTheDocument();
    expect(server.calls("PATCH", "/admin/providers/prov_1")).toHaveLength(before);
    await userEvent.type(dialog.getByLabelText("New API key"), "sk-new");
    await userEvent.click(dialog.getByRole("button", { name: "Replace key" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(server.calls("PATCH", "/admin/providers/prov_1").at(-1)?.body).toEqual({ api_key: "sk-new" });
  });
});

describe("Models", () => {
  function modelsServer(initial: AdminModel[]) {
    let models = initial;
    const server = adminServer()
      .on("GET", "/admin/models", () => json(200, { data: models }))
      .on("GET", "/admin/plans", () => json(200, { data: PLANS }))
      .on("GET", "/admin/providers", () => json(200, { data: [provider(), provider({ id: "prov_2", name: "backup", enabled: false })] }))
      .on("POST", "/admin/models", (req) => {
        const body = req.body as Pick<AdminModel, "name" | "prices" | "enabled" | "plans">;
        const created = model({ id: "mdl_2", deployments: [], ...body });
        models = [...models, created];
        return json(201, created);
      })
      .on("POST", "/admin/models/mdl_1/deployments", (req) => {
        const body = req.body as Partial<Deployment>;
        models = models.map((m) =>
          m.id === "mdl_1"
            ? { ...m, deployments: [...m.deployments, deployment({ id: "dep_2", provider_id: "prov_2", provider_name: "backup", ...body })] }
            : m,
        );
        return json(201, models[0]);
      })
      .on("PATCH", "/admin/deployments/dep_1", (req) => {
        models = models.map((m) => ({
          ...m,
          deployments: m.deployments.map((d) => (d.id === "dep_1" ? { ...d, ...(req.body as object) } : d)),
        }));
        return json(200, models[0]);
      })
      .on("DELETE", "/admin/deployments/dep_1", () => {
        models = models.map((m) => ({ ...m, deployments: m.deployments.filter((d) => d.id !== "dep_1") }));
        return json(200, models[0]);
      });
    return server;
  }

  it("shows prices with at least cents, and small ones whole", async () => {
    const server = modelsServer([
      model({ prices: { input_per_million: "0.5", output_per_million: "10", cached_per_million: "0.000125" } }),
    ]);
    renderApp("/admin/models", server);
    const card = within(await screen.findByRole("region", { name: "gpt-4o" }));
    expect(await card.findByText("$0.50")).toBeInTheDocument();
    expect(card.getByText("$10.00")).toBeInTheDocument();
    expect(card.getByText("$0.000125")).toBeInTheDocument();
  });

  it("lists models with their deployments and creates one for chosen plans", async () => {
    const server = modelsServer([model({ plans: ["pro", "enterprise"] })]);
    renderApp("/admin/models", server);
    const card = within(await screen.findByRole("region", { name: "gpt-4o" }));
    expect(await card.findByTestId("model-plans")).toHaveTextContent("Pro, Enterprise");
    const dep = within(card.getByRole("row", { name: /gpt-4o-2024-08-06/ }));
    expect(dep.getByText("openai-main")).toBeInTheDocument();
    expect(dep.getByText("60,000 ms")).toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "Add model" }));
    const dialog = within(await screen.findByRole("dialog", { name: "Add model" }));
    await userEvent.type(dialog.getByLabelText("Name"), "claude-sonnet");
    await userEvent.type(dialog.getByLabelText("Input price"), "3");
    await userEvent.click(dialog.getByRole("button", { name: "Create model" }));
    expect(await dialog.findByText("This field is required.")).toBeInTheDocument(); // output price
    await userEvent.type(dialog.getByLabelText("Output price"), "15");
    await userEvent.click(await dialog.findByRole("checkbox", { name: /Pro/ }));
    await userEvent.click(dialog.getByRole("checkbox", { name: /Enterprise/ }));
    await userEvent.click(dialog.getByRole("button", { name: "Create model" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(server.calls("POST", "/admin/models")[0]?.body).toEqual({
      name: "claude-sonnet",
      prices: { input_per_million: "3", output_per_million: "15", cached_per_million: "3" },
      enabled: true,
      plans: ["pro", "enterprise"],
    });
    expect(await screen.findByRole("region", { name: "claude-sonnet" })).toBeInTheDocument();
  });

  it("edits a model's plans back to every plan", async () => {
    const server = modelsServer([model({ plans: ["pro"] })]).on("PATCH", "/admin/models/mdl_1", (req) =>
      json(200, model({ ...(req.body as object) })),
    );
    renderApp("/admin/models", server);
    await userEvent.click(await screen.findByRole("button", { name: "Edit gpt-4o" }));
    const dialog = within(await screen.findByRole("dialog", { name: "Edit model gpt-4o" }));
    const pro = await dialog.findByRole("checkbox", { name: /Pro/ });
    expect(pro).toBeChecked();
    await userEvent.click(pro);
    await userEvent.clear(dialog.getByLabelText("Output price"));
    await userEvent.type(dialog.getByLabelText("Output price"), "12");
    await userEvent.click(dialog.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(server.calls("PATCH", "/admin/models/mdl_1")[0]?.body).toEqual({
      prices: { input_per_million: "2.50", output_per_million: "12", cached_per_million: "1.25" },
      plans: [],
    });
  });

  it("adds, edits, disables and (after a confirmation) deletes deployments", async () => {
    const server = modelsServer([model()]);
    renderApp("/admin/models", server);
    const card = within(await screen.findByRole("region", { name: "gpt-4o" }));

    await userEvent.click(card.getByRole("button", { name: "Add deployment" }));
    let dialog = within(await screen.findByRole("dialog", { name: "Add deployment to gpt-4o" }));
    await userEvent.click(dialog.getByRole("button", { name: "Create deployment" }));
    expect(await dialog.findByText("This field is required.")).toBeInTheDocument();
    await userEvent.selectOptions(await dialog.findByLabelText("Provider"), "prov_2");
    await userEvent.type(dialog.getByLabelText(/Upstream model/), "gpt-4o-backup");
    await userEvent.clear(dialog.getByLabelText("Weight"));
    await userEvent.type(dialog.getByLabelText("Weight"), "3");
    await userEvent.clear(dialog.getByLabelText("Priority"));
    await userEvent.type(dialog.getByLabelText("Priority"), "1");
    await userEvent.clear(dialog.getByLabelText("Timeout (ms)"));
    await userEvent.type(dialog.getByLabelText("Timeout (ms)"), "30000");
    await userEvent.type(dialog.getByLabelText("Upstream input price"), "2");
    await userEvent.type(dialog.getByLabelText("Upstream output price"), "8");
    await userEvent.click(dialog.getByRole("button", { name: "Create deployment" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(server.calls("POST", "/admin/models/mdl_1/deployments")[0]?.body).toEqual({
      provider_id: "prov_2",
      upstream_model: "gpt-4o-backup",
      weight: 3,
      priority: 1,
      timeout_ms: 30000,
      enabled: true,
      upstream_prices: { input_per_million: "2", output_per_million: "8", cached_per_million: "2" },
    });
    expect(await card.findByRole("row", { name: /gpt-4o-backup/ })).toBeInTheDocument();

    const first = () => within(card.getByRole("row", { name: /gpt-4o-2024-08-06/ }));
    await userEvent.click(first().getByRole("button", { name: "Edit" }));
    dialog = within(await screen.findByRole("dialog", { name: "Edit deployment gpt-4o-2024-08-06" }));
    await userEvent.clear(dialog.getByLabelText("Weight"));
    await userEvent.type(dialog.getByLabelText("Weight"), "5");
    await userEvent.click(dialog.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(server.calls("PATCH", "/admin/deployments/dep_1")[0]?.body).toEqual({ weight: 5 });

    await userEvent.click(first().getByRole("button", { name: "Disable" }));
    await waitFor(() => expect(server.calls("PATCH", "/admin/deployments/dep_1").at(-1)?.body).toEqual({ enabled: false }));

    await userEvent.click(first().getByRole("button", { name: "Delete" }));
    dialog = within(await screen.findByRole("dialog", { name: "Delete this deployment?" }));
    expect(server.calls("DELETE", "/admin/deployments/dep_1")).toHaveLength(0);
    await userEvent.click(dialog.getByRole("button", { name: "Cancel" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(server.calls("DELETE", "/admin/deployments/dep_1")).toHaveLength(0);

    await userEvent.click(first().getByRole("button", { name: "Delete" }));
    dialog = within(await screen.findByRole("dialog", { name: "Delete this deployment?" }));
    await userEvent.click(dialog.getByRole("button", { name: "Delete deployment" }));
    await waitFor(() => expect(card.queryByRole("row", { name: /gpt-4o-2024-08-06/ })).toBeNull());
    expect(server.calls("DELETE", "/admin/deployments/dep_1")).toHaveLength(1);
  });

  describe("importing prices", () => {
    const CSV = "model,input_per_million,output_per_million,cached_per_million\ngpt-4o,3.00,10,1.50\ngpt-4o-mini,0.15,0.60,\ngpt-5,5,20,\no9,1,2,\n";
    const newPrices = { input_per_million: "3.00", output_per_million: "10", cached_per_million: "1.50" };
    const mini = model({
      id: "mdl_2",
      name: "gpt-4o-mini",
      prices: { input_per_million: "0.15", output_per_million: "0.60", cached_per_million: "0.15" },
      deployments: [],
    });

    /** The catalog gpt-4o and gpt-4o-mini; the list reprices gpt-4o and names two models the catalog lacks. */
    function priceListServer() {
      let gpt4o = model();
      return modelsServer([])
        .on("GET", "/admin/models", () => json(200, { data: [gpt4o, mini] }))
        .on("POST", "/admin/price-list", (req) => {
          const dryRun = req.query.dry_run === "true";
          const answer = {
            dry_run: dryRun,
            changed: [{ model: "gpt-4o", model_id: "mdl_1", before: gpt4o.prices, after: newPrices }],
            unchanged: ["gpt-4o-mini"],
            unknown: ["gpt-5", "o9"],
          };
          if (!dryRun) gpt4o = { ...gpt4o, prices: newPrices };
          return json(200, answer);
        });
    }

    async function openImport() {
      await userEvent.click(await screen.findByRole("button", { name: "Import prices" }));
      return within(await screen.findByRole("dialog", { name: "Import a price list" }));
    }

    const csvFile = (text = CSV) => new File([text], "prices.csv", { type: "text/csv" });

    it("previews a CSV file as a dry run and shows the difference and the unknown names", async () => {
      const server = priceListServer();
      renderApp("/admin/models", server);
      const dialog = await openImport();
      expect(dialog.getByRole("button", { name: "Apply prices" })).toBeDisabled();
      await userEvent.upload(dialog.getByLabelText("Price list file"), csvFile());
      await userEvent.click(dialog.getByRole("button", { name: "Preview" }));

      const table = within(await dialog.findByRole("table", { name: "Price changes" }));
      const calls = server.calls("POST", "/admin/price-list");
      expect(calls).toHaveLength(1);
      expect(calls[0]?.query).toEqual({ dry_run: "true" });
      expect(calls[0]?.headers["content-type"]).toBe("text/csv");
      expect(calls[0]?.text).toBe(CSV);

      const cells = within(table.getByRole("row", { name: /gpt-4o/ })).getAllByRole("cell");
      expect(cells.map((c) => c.textContent)).toEqual(["$2.50 → $3.00", "$10.00", "$1.25 → $1.50"]);
      expect(dialog.getByText("The list changes the prices of 1 model.")).toBeInTheDocument();
      expect(dialog.getByText("1 unchanged")).toBeInTheDocument();
      expect(dialog.getByText("Not in the catalog (left alone): gpt-5, o9")).toBeInTheDocument();
      expect(dialog.getByRole("button", { name: "Apply prices" })).toBeEnabled();
      // Nothing is written by a preview.
      expect(within(screen.getByRole("region", { name: "gpt-4o" })).getByText("$2.50")).toBeInTheDocument();
    });

    it("applies the previewed list with dry_run=false and refreshes the models", async () => {
      const server = priceListServer();
      renderApp("/admin/models", server);
      const card = within(await screen.findByRole("region", { name: "gpt-4o" }));
      expect(await card.findByText("$2.50")).toBeInTheDocument();
      const dialog = await openImport();
      await userEvent.upload(dialog.getByLabelText("Price list file"), csvFile());
      await userEvent.click(dialog.getByRole("button", { name: "Preview" }));
      await dialog.findByRole("table", { name: "Price changes" });
      const listed = server.calls("GET", "/admin/models").length;

      await userEvent.click(dialog.getByRole("button", { name: "Apply prices" }));
      expect(await dialog.findByText("Prices updated for 1 model.")).toBeInTheDocument();
      const calls = server.calls("POST", "/admin/price-list");
      expect(calls.map((c) => c.query.dry_run)).toEqual(["true", "false"]);
      expect(calls[1]?.headers["content-type"]).toBe("text/csv");
      expect(calls[1]?.text).toBe(CSV);
      expect(server.calls("GET", "/admin/models").length).toBeGreaterThan(listed);
      expect(await card.findByText("$3.00")).toBeInTheDocument();
      expect(card.queryByText("$2.50")).toBeNull();

      const done = dialog.getByRole("button", { name: "Done" });
      expect(done).toHaveFocus();
      await userEvent.click(done);
      await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    });

    it("shows the server's refusal naming the bad row, and offers no apply", async () => {
      const server = priceListServer().on("POST", "/admin/price-list", () =>
        apiError(400, "invalid_request", "price list row 2: input_per_million: expected a non-negative decimal of at most 9 decimals, got -1"),
      );
      renderApp("/admin/models", server);
      const dialog = await openImport();
      await userEvent.upload(dialog.getByLabelText("Price list file"), csvFile("model,input_per_million,output_per_million\ngpt-4o,-1,10\n"));
      await userEvent.click(dialog.getByRole("button", { name: "Preview" }));
      expect(await dialog.findByRole("alert")).toHaveTextContent("price list row 2: input_per_million");
      expect(dialog.queryByRole("table", { name: "Price changes" })).toBeNull();
      expect(dialog.getByRole("button", { name: "Apply prices" })).toBeDisabled();
    });

    it("asks for a list before previewing", async () => {
      const server = priceListServer();
      renderApp("/admin/models", server);
      const dialog = await openImport();
      await userEvent.click(dialog.getByRole("button", { name: "Preview" }));
      expect(await dialog.findByText("Choose a file or paste a price list.")).toBeInTheDocument();
      expect(dialog.getByLabelText("Price list file")).toHaveAccessibleDescription("Choose a file or paste a price list.");
      expect(server.calls("POST", "/admin/price-list")).toHaveLength(0);
    });

    it("makes a preview stale when the list changes: Apply is disabled until it is previewed again", async () => {
      const server = priceListServer();
      renderApp("/admin/models", server);
      const dialog = await openImport();
      await userEvent.upload(dialog.getByLabelText("Price list file"), csvFile());
      await userEvent.click(dialog.getByRole("button", { name: "Preview" }));
      await dialog.findByRole("table", { name: "Price changes" });
      expect(dialog.getByRole("button", { name: "Apply prices" })).toBeEnabled();

      // Pasting replaces the file.
      await userEvent.click(dialog.getByLabelText("Or paste the list"));
      await userEvent.paste("model,input_per_million,output_per_million\ngpt-4o,4,12\n");
      expect(dialog.getByRole("button", { name: "Apply prices" })).toBeDisabled();
      expect(dialog.getByText(/The list changed since the preview/)).toBeInTheDocument();
      expect(dialog.queryByRole("table", { name: "Price changes" })).toBeNull();
      await userEvent.click(dialog.getByRole("button", { name: "Apply prices" }));
      expect(server.calls("POST", "/admin/price-list").map((c) => c.query.dry_run)).toEqual(["true"]);

      await userEvent.click(dialog.getByRole("button", { name: "Preview" }));
      await dialog.findByRole("table", { name: "Price changes" });
      const second = server.calls("POST", "/admin/price-list")[1];
      expect(second?.headers["content-type"]).toBe("text/csv");
      expect(second?.text).toBe("model,input_per_million,output_per_million\ngpt-4o,4,12\n");
      expect(dialog.getByRole("button", { name: "Apply prices" })).toBeEnabled();
    });

    it("sends pasted JSON as JSON, and says so when nothing changes", async () => {
      const server = priceListServer().on("POST", "/admin/price-list", () =>
        json(200, { dry_run: true, changed: [], unchanged: ["gpt-4o", "gpt-4o-mini"], unknown: [] }),
      );
      renderApp("/admin/models", server);
      const dialog = await openImport();
      const list = JSON.stringify({ prices: [{ model: "gpt-4o", input_per_million: "2.50", output_per_million: "10" }] });
      await userEvent.click(dialog.getByLabelText("Or paste the list"));
      await userEvent.paste(list);
      await userEvent.click(dialog.getByRole("button", { name: "Preview" }));
      expect(await dialog.findByText("Nothing to change: the catalog already has these prices.")).toBeInTheDocument();
      const call = server.calls("POST", "/admin/price-list")[0];
      expect(call?.headers["content-type"]).toBe("application/json");
      expect(call?.body).toEqual(JSON.parse(list));
      expect(dialog.getByText("2 unchanged")).toBeInTheDocument();
      expect(dialog.queryByRole("button", { name: "Apply prices" })).toBeNull();
      expect(dialog.queryByRole("table", { name: "Price changes" })).toBeNull();
    });
  });
});

describe("Invoices", () => {
  const invoice = (over: Partial<AdminInvoice> = {}): AdminInvoice => ({
    id: "inv_1",
    number: "AIH-2026-000012",
    month: "2026-10",
    status: "open",
    subtotal: "29.40",
    credits_applied: "-0.40",
    total: "29.00",
    amount_paid: "0.00",
    amount_due: "29.00",
    created_at: Date.UTC(2026, 10, 1),
    finalized_at: Date.UTC(2026, 10, 3),
    paid_at: null,
    developer_id: "dev_2",
    developer_email: "dev2@example.com",
    lines: [
      { kind: "subscription", description: "Developer plan, 2026-10", model: null, tokens: null, amount: "29.00" },
      { kind: "overage", description: "Overage gpt-4o", model: "gpt-4o", tokens: 12000, amount: "0.40" },
    ],
    credit_notes: [],
    ...over,
  });

  it("filters by status and developer and pages with starting_after", async () => {
    const server = adminServer().on("GET", "/admin/invoices", (req) => {
      if (req.query.starting_after) return json(200, { data: [invoice({ id: "inv_9", number: "AIH-2026-000009" })], has_more: false });
      return json(200, { data: [invoice()], has_more: true });
    });
    renderApp("/admin/invoices", server);
    expect(await screen.findByRole("link", { name: "AIH-2026-000012" })).toHaveAttribute("href", "/admin/invoices/inv_1");
    await userEvent.click(screen.getByRole("button", { name: "Next page" }));
    expect(await screen.findByRole("link", { name: "AIH-2026-000009" })).toBeInTheDocument();
    expect(server.calls("GET", "/admin/invoices").at(-1)?.query).toEqual({ limit: "20", starting_after: "inv_1" });

    await userEvent.selectOptions(screen.getByLabelText("Status"), "open");
    await userEvent.type(screen.getByLabelText("Developer ID"), "dev_2");
    await userEvent.click(screen.getByRole("button", { name: "Filter" }));
    await waitFor(() =>
      expect(server.calls("GET", "/admin/invoices").at(-1)?.query).toEqual({ status: "open", developer_id: "dev_2", limit: "20" }),
    );
  });

  it("voids only after a confirmation and shows the server's 409", async () => {
    const server = adminServer()
      .on("GET", "/admin/invoices/inv_1", () => json(200, invoice()))
      .on("POST", "/admin/invoices/inv_1/void", () =>
        apiError(409, "invoice_not_voidable", "invoice inv_1 has payments; only an open invoice with nothing paid can be voided"),
      );
    renderApp("/admin/invoices/inv_1", server);
    expect(await screen.findByRole("heading", { name: "Invoice AIH-2026-000012", level: 1 })).toBeInTheDocument();
    expect(screen.getByText("Overage gpt-4o")).toBeInTheDocument();
    expect(screen.getByTestId("admin-invoice-due")).toHaveTextContent("$29.00");

    await userEvent.click(screen.getByRole("button", { name: "Void" }));
    const dialog = within(await screen.findByRole("dialog", { name: "Void this invoice?" }));
    expect(server.calls("POST", "/admin/invoices/inv_1/void")).toHaveLength(0);
    await userEvent.click(dialog.getByRole("button", { name: "Void invoice" }));
    expect(await dialog.findByRole("alert")).toHaveTextContent(
      "invoice inv_1 has payments; only an open invoice with nothing paid can be voided",
    );
    expect(server.calls("POST", "/admin/invoices/inv_1/void")).toHaveLength(1);
  });

  it("records a payment with an Idempotency-Key, and writes off after a confirmation", async () => {
    let current = invoice();
    const server = adminServer()
      .on("GET", "/admin/invoices/inv_1", () => json(200, current))
      .on("POST", "/admin/invoices/inv_1/payments", () => {
        current = { ...current, amount_paid: "10.00", amount_due: "19.00" };
        return json(201, { payment_id: "pay_1", invoice: current });
      })
      .on("POST", "/admin/invoices/inv_1/uncollectible", () => {
        current = { ...current, status: "uncollectible", amount_due: "0.00" };
        return json(200, current);
      });
    renderApp("/admin/invoices/inv_1", server);
    await userEvent.click(await screen.findByRole("button", { name: "Record payment" }));
    let dialog = within(await screen.findByRole("dialog", { name: "Record a payment" }));
    expect(dialog.getByText("Empty: everything due ($29.00).")).toBeInTheDocument();
    await userEvent.type(dialog.getByLabelText(/Amount/), "10.00");
    await userEvent.click(dialog.getByRole("button", { name: "Save payment" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    const [payment] = server.calls("POST", "/admin/invoices/inv_1/payments");
    expect(payment?.body).toEqual({ amount: "10.00" });
    expect(payment?.idempotencyKey).toMatch(/\S{8,}/);
    await waitFor(() => expect(screen.getByTestId("admin-invoice-due")).toHaveTextContent("$19.00"));

    await userEvent.click(screen.getByRole("button", { name: "Mark uncollectible" }));
    dialog = within(await screen.findByRole("dialog", { name: "Mark this invoice uncollectible?" }));
    await userEvent.click(dialog.getByRole("button", { name: "Write off" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(server.calls("POST", "/admin/invoices/inv_1/uncollectible")).toHaveLength(1);
    expect(await screen.findByText("Uncollectible")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Void" })).toBeNull();
  });

  it("issues a credit note with an Idempotency-Key and shows it afterwards", async () => {
    let current = invoice();
    const server = adminServer()
      .on("GET", "/admin/invoices/inv_1", () => json(200, current))
      .on("POST", "/admin/invoices/inv_1/credit-notes", (req) => {
        const body = req.body as { amount: string; reason: string };
        const note = {
          id: "crn_1",
          invoice_id: "inv_1",
          amount: body.amount,
          applied_to: "invoice" as const,
          reason: body.reason,
          created_at: Date.UTC(2026, 10, 5),
          created_by: "dev_op",
        };
        current = { ...current, amount_due: "27.00", amount_credited: "2.00", credit_notes: [note] };
        return json(201, { credit_note: note, invoice: current });
      });
    renderApp("/admin/invoices/inv_1", server);
    expect(await screen.findByRole("heading", { name: "Invoice AIH-2026-000012", level: 1 })).toBeInTheDocument();
    expect(screen.queryByRole("region", { name: "Credit notes" })).toBeNull();
    expect(screen.queryByTestId("admin-invoice-credited")).toBeNull();

    await userEvent.click(screen.getByRole("button", { name: "Issue credit note" }));
    const dialog = within(await screen.findByRole("dialog", { name: "Issue a credit note" }));
    expect(dialog.getByText("Lowers what is due, at most $29.00.")).toBeInTheDocument();
    await userEvent.type(dialog.getByLabelText("Amount (USD)"), "2.00");
    await userEvent.type(dialog.getByLabelText(/Reason/), "Outage on the 3rd");
    await userEvent.click(dialog.getByRole("button", { name: "Issue credit note" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());

    const calls = server.calls("POST", "/admin/invoices/inv_1/credit-notes");
    expect(calls).toHaveLength(1);
    expect(calls[0]?.body).toEqual({ amount: "2.00", reason: "Outage on the 3rd" });
    expect(calls[0]?.idempotencyKey).toMatch(/\S{8,}/);

    const notes = within(await screen.findByRole("region", { name: "Credit notes" }));
    const row = notes.getByRole("row", { name: /Outage on the 3rd/ });
    expect(row).toHaveTextContent("$2.00");
    expect(row).toHaveTextContent("Lowered what was due");
    expect(screen.getByTestId("admin-invoice-credited")).toHaveTextContent("$2.00");
    expect(screen.getByTestId("admin-invoice-due")).toHaveTextContent("$27.00");
  });

  it("shows the server's 400 in the credit-note dialog of a paid invoice", async () => {
    const server = adminServer()
      .on("GET", "/admin/invoices/inv_1", () =>
        json(200, invoice({ status: "paid", amount_paid: "29.00", amount_due: "0.00", amount_credited: "5.00" })),
      )
      .on("POST", "/admin/invoices/inv_1/credit-notes", () =>
        apiError(400, "invalid_request", "amount: at most 24.00 can still be credited"),
      );
    renderApp("/admin/invoices/inv_1", server);
    expect(await screen.findByTestId("admin-invoice-credited")).toHaveTextContent("$5.00");
    expect(screen.queryByRole("button", { name: "Record payment" })).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: "Issue credit note" }));
    const dialog = within(await screen.findByRole("dialog", { name: "Issue a credit note" }));
    expect(dialog.getByText("Credited to the developer's balance, at most $24.00.")).toBeInTheDocument();
    await userEvent.type(dialog.getByLabelText("Amount (USD)"), "30");
    await userEvent.type(dialog.getByLabelText(/Reason/), "Goodwill");
    await userEvent.click(dialog.getByRole("button", { name: "Issue credit note" }));
    expect(await dialog.findByRole("alert")).toHaveTextContent("amount: at most 24.00 can still be credited");
    expect(server.calls("POST", "/admin/invoices/inv_1/credit-notes")).toHaveLength(1);
    expect(screen.getByRole("dialog", { name: "Issue a credit note" })).toBeInTheDocument();
  });

  it("catches a missing reason and a zero amount before sending a credit note", async () => {
    const server = adminServer().on("GET", "/admin/invoices/inv_1", () => json(200, invoice()));
    renderApp("/admin/invoices/inv_1", server);
    await userEvent.click(await screen.findByRole("button", { name: "Issue credit note" }));
    const dialog = within(await screen.findByRole("dialog", { name: "Issue a credit note" }));
    await userEvent.type(dialog.getByLabelText("Amount (USD)"), "0");
    await userEvent.click(dialog.getByRole("button", { name: "Issue credit note" }));
    expect(await dialog.findByText("This field is required.")).toBeInTheDocument();
    expect(dialog.getByLabelText(/Reason/)).toHaveAttribute("aria-invalid", "true");
    expect(dialog.getByLabelText("Amount (USD)")).toHaveAttribute("aria-invalid", "true");
    expect(server.calls("POST", "/admin/invoices/inv_1/credit-notes")).toHaveLength(0);
  });

  it("offers no credit note on a void invoice", async () => {
    const server = adminServer().on("GET", "/admin/invoices/inv_1", () =>
      json(200, invoice({ status: "void", amount_due: "0.00" })),
    );
    renderApp("/admin/invoices/inv_1", server);
    expect(await screen.findByRole("heading", { name: "Invoice AIH-2026-000012", level: 1 })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Issue credit note" })).toBeNull();
  });
});

describe("Redemption codes", () => {
  it("pages the batches and shows a new batch's codes once, with a copy button", async () => {
    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    const batch = (n: number) => ({
      batch_id: `cbt_${n}`,
      amount: "5.00",
      count: 100,
      redeemed: n,
      expires_at: null,
      created_at: Date.UTC(2026, 10, 1, n),
      created_by: "dev_op",
    });
    const server = adminServer()
      .on("GET", "/admin/redemption-codes", (req) =>
        req.query.starting_after === "cbt_1"
          ? json(200, { data: [batch(2)], has_more: false })
          : json(200, { data: [batch(1)], has_more: true }),
      )
      .on("POST", "/admin/redemption-codes", () =>
        json(201, { batch_id: "cbt_3", amount: "5.00", expires_at: null, codes: ["AIHUB-AAAA-BBBB-CCCC", "AIHUB-DDDD-EEEE-FFFF"] }),
      );
    renderApp("/admin/redemption-codes", server);
    expect(await screen.findByText("cbt_1")).toBeInTheDocument();
    expect(screen.getByText("1 of 100")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Next page" }));
    expect(await screen.findByText("cbt_2")).toBeInTheDocument();
    expect(server.calls("GET", "/admin/redemption-codes").at(-1)?.query).toEqual({ limit: "20", starting_after: "cbt_1" });

    await userEvent.click(screen.getByRole("button", { name: "Create codes" }));
    let dialog = within(await screen.findByRole("dialog", { name: "Create redemption codes" }));
    await userEvent.clear(dialog.getByLabelText("Number of codes"));
    await userEvent.type(dialog.getByLabelText("Number of codes"), "2");
    await userEvent.type(dialog.getByLabelText("Amount per code (USD)"), "5.00");
    await userEvent.type(dialog.getByLabelText(/Expires in days/), "4000");
    await userEvent.click(dialog.getByRole("button", { name: "Create" }));
    expect(await dialog.findByText("Enter a whole number from 1 to 3650.")).toBeInTheDocument();
    await userEvent.clear(dialog.getByLabelText(/Expires in days/));
    await userEvent.type(dialog.getByLabelText(/Expires in days/), "90");
    await userEvent.click(dialog.getByRole("button", { name: "Create" }));

    dialog = within(await screen.findByRole("dialog", { name: "Save these codes" }));
    expect(dialog.getByTestId("created-codes")).toHaveTextContent("AIHUB-AAAA-BBBB-CCCC AIHUB-DDDD-EEEE-FFFF");
    const [call] = server.calls("POST", "/admin/redemption-codes");
    expect(call?.body).toEqual({ count: 2, amount: "5.00", expires_in_days: 90 });
    expect(call?.idempotencyKey).toMatch(/\S{8,}/);
    await userEvent.click(dialog.getByRole("button", { name: "Copy codes" }));
    await waitFor(() => expect(writeText).toHaveBeenCalledWith("AIHUB-AAAA-BBBB-CCCC\nAIHUB-DDDD-EEEE-FFFF"));
    await userEvent.click(dialog.getByRole("button", { name: "Done" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(screen.queryByText(/AIHUB-AAAA/)).toBeNull();
  });
});

describe("Audit log", () => {
  it("filters by actor, target and action, pages, and expands an entry's details", async () => {
    const server = adminServer().on("GET", "/admin/audit-log", (req) =>
      req.query.starting_after
        ? json(200, { data: [audit(1, { action: "plan.updated", details: { before: { price: "29.00" } } })], has_more: false })
        : json(200, { data: [audit(2)], has_more: true }),
    );
    renderApp("/admin/audit-log?target_id=dev_2", server);
    const row = within(await screen.findByRole("row", { name: /billing\.credit_granted/ }));
    expect(server.calls("GET", "/admin/audit-log")[0]?.query).toEqual({ target_id: "dev_2", limit: "20" });
    expect(screen.getByLabelText("Target ID")).toHaveValue("dev_2");
    expect(row.getByText("ops@example.com")).toBeInTheDocument();
    expect(row.getByText("203.0.113.9")).toBeInTheDocument();

    const toggle = row.getByRole("button", { name: "Show details of billing.credit_granted" });
    expect(toggle).toHaveAttribute("aria-expanded", "false");
    await userEvent.click(toggle);
    expect(toggle).toHaveAttribute("aria-expanded", "true");
    expect(screen.getByLabelText("Details of billing.credit_granted")).toHaveTextContent('"memo": "Welcome 2"');

    await userEvent.click(screen.getByRole("button", { name: "Next page" }));
    expect(await screen.findByRole("row", { name: /plan\.updated/ })).toBeInTheDocument();
    expect(server.calls("GET", "/admin/audit-log").at(-1)?.query).toEqual({ target_id: "dev_2", limit: "20", starting_after: "aud_2" });

    await userEvent.type(screen.getByLabelText("Actor ID"), "dev_op");
    await userEvent.type(screen.getByLabelText("Actions"), "plan.updated, developer.suspended");
    await userEvent.click(screen.getByRole("button", { name: "Filter" }));
    await waitFor(() =>
      expect(server.calls("GET", "/admin/audit-log").at(-1)?.query).toEqual({
        actor_id: "dev_op",
        target_id: "dev_2",
        action: "plan.updated,developer.suspended",
        limit: "20",
      }),
    );
  });

  it("shows the server's refusal of a bad filter", async () => {
    const server = adminServer().on("GET", "/admin/audit-log", () =>
      apiError(400, "invalid_request", "actor_id: expected an account id"),
    );
    renderApp("/admin/audit-log", server);
    expect(await screen.findByRole("alert")).toHaveTextContent("Please check the form: actor_id: expected an account id");
  });
});

describe("Health", () => {
  it("shows each deployment's error rate, latency and ejection", async () => {
    const server = adminServer().on("GET", "/admin/health", () =>
      json(200, {
        data: [
          {
            deployment_id: "dep_1",
            model: "gpt-4o",
            provider_name: "openai-main",
            requests: 1200,
            errors: 30,
            error_rate: 0.025,
            upstream_model: "gpt-4o-2024-08-06",
            latency_ms: 640,
            consecutive_failures: 0,
            ejected: false,
            ejected_until: null,
            gateways: 2,
            reported_at: Date.UTC(2026, 10, 20, 12),
          },
          {
            deployment_id: "dep_2",
            model: "gpt-4o",
            provider_name: "backup",
            requests: 40,
            errors: 40,
            error_rate: 1,
            upstream_model: "gpt-4o",
            latency_ms: null,
            consecutive_failures: 40,
            ejected: true,
            ejected_until: Date.UTC(2026, 10, 20, 11),
            gateways: 1,
            reported_at: Date.UTC(2026, 10, 20, 12),
          },
        ],
      }),
    );
    renderApp("/admin/health", server);
    const first = within(await screen.findByRole("row", { name: /dep_1/ }));
    expect(first.getByText("2.5%")).toBeInTheDocument();
    expect(first.getByText("640 ms")).toBeInTheDocument();
    expect(first.getByText("Healthy")).toBeInTheDocument();
    const second = within(screen.getByRole("row", { name: /dep_2/ }));
    expect(second.getByText("100%")).toBeInTheDocument();
    // Its ejection is over: it waits for a good recovery probe.
    expect(second.getByText("Awaiting a good probe")).toBeInTheDocument();
    expect(second.getByText("—")).toBeInTheDocument();
  });
});

describe("Settings", () => {
  const setting = (key: SettingKey, value: unknown, over: Partial<Setting> = {}): Setting =>
    ({ key, value, secret: false, set: true, overridden: false, configured: value, ...over }) as Setting;
  const secret = (key: SettingKey, over: Partial<Setting> = {}): Setting =>
    ({ key, value: null, secret: true, set: false, overridden: false, configured: false, ...over }) as Setting;

  const initial = (): Setting[] => [
    setting("accounts.signup", "invite_only", { overridden: true, configured: "open" }),
    setting("accounts.invite_codes", ["alpha", "beta"]),
    setting("accounts.require_email_verification_for_keys", true),
    setting("email.mode", "smtp", { overridden: true, configured: "log" }),
    setting("email.smtp_host", "smtp.old.example"),
    setting("email.smtp_port", 587),
    setting("email.smtp_tls", "starttls"),
    setting("email.smtp_user", "mailer"),
    secret("email.smtp_password", { set: true, overridden: true, configured: false }),
    setting("email.from", "AI Hub <noreply@example.com>"),
    setting("payments.provider", "stripe", { overridden: true, configured: "none" }),
    secret("payments.stripe_secret_key", { set: true, overridden: true, configured: true }),
    secret("payments.stripe_webhook_secret"),
    setting("payments.min_top_up", "5.00"),
    setting("payments.max_top_up", "500.00"),
    setting("analytics.raw_retention_months", 13, { overridden: true, configured: 0 }),
  ];

  /** A server that stores PATCHes like the real one (`null`: back to the configured value), unless `refuse` answers. */
  function settingsServer(refuse?: (body: Record<string, unknown>) => Response | undefined) {
    let list = initial();
    return adminServer()
      .on("GET", "/admin/setup", () => json(200, { done: false, steps: [{ id: "email", done: false, hint: "Send mail." }] }))
      .on("GET", "/admin/settings", () => json(200, { data: list }))
      .on("PATCH", "/admin/settings", (req) => {
        const body = req.body as Record<string, unknown>;
        const refused = refuse?.(body);
        if (refused) return refused;
        list = list.map((s) => {
          if (!(s.key in body)) return s;
          const value = body[s.key];
          if (value === null) {
            return s.secret ? { ...s, set: s.configured === true, overridden: false } : { ...s, value: s.configured, overridden: false };
          }
          return s.secret ? { ...s, set: true, overridden: true } : { ...s, value, overridden: true };
        }) as Setting[];
        return json(200, { data: list });
      });
  }

  const section = async (name: string) => within(await screen.findByRole("region", { name }));
  const patches = (server: ReturnType<typeof settingsServer>) => server.calls("PATCH", "/admin/settings");

  it("is linked from the Admin navigation and shows each value, what the console changed and whether secrets are set", async () => {
    const server = settingsServer();
    renderApp("/admin/settings", server);
    expect(await screen.findByRole("heading", { name: "Settings", level: 1 })).toBeInTheDocument();
    const nav = within(screen.getByRole("navigation", { name: "Main navigation" }));
    expect(within(nav.getByRole("list", { name: "Admin" })).getByRole("link", { name: "Settings" })).toHaveAttribute(
      "href",
      "/admin/settings",
    );

    const signup = await section("Sign-up");
    expect(signup.getByLabelText("Who may sign up")).toHaveValue("invite_only");
    expect(signup.getByLabelText("Invite codes")).toHaveValue("alpha\nbeta");
    expect(signup.getByRole("checkbox", { name: /Require a verified email address/ })).toBeChecked();
    expect(signup.getAllByText("Changed in the console")).toHaveLength(1);
    expect(signup.getByRole("button", { name: "Use configured value for Who may sign up" })).toHaveAttribute(
      "title",
      "Configured value: Open to anyone",
    );

    const email = await section("Email");
    expect(email.getByLabelText("SMTP host")).toHaveValue("smtp.old.example");
    expect(email.getByLabelText("SMTP port")).toHaveValue(587);
    expect(email.getByLabelText("Transport security")).toHaveValue("starttls");
    const password = email.getByLabelText("SMTP password");
    expect(password).toHaveAttribute("type", "password");
    expect(password).toHaveValue("");
    expect(email.getByText("Set")).toBeInTheDocument();
    expect(email.getAllByText("Changed in the console")).toHaveLength(2); // mode, password
    expect(email.getByRole("button", { name: "Use configured value for Delivery" })).toHaveAttribute(
      "title",
      "Configured value: Write to the development outbox",
    );
    // The configuration has no SMTP password: going back to it is a removal.
    expect(email.queryByRole("button", { name: "Use configured value for SMTP password" })).toBeNull();
    expect(email.getByRole("button", { name: "Remove SMTP password" })).toHaveAttribute("title", "The configuration has none.");
    expect(email.queryByRole("button", { name: /Use configured value for SMTP host/ })).toBeNull();

    const payments = await section("Payments");
    expect(payments.getByLabelText("Payment provider")).toHaveValue("stripe");
    expect(payments.getByRole("button", { name: "Use configured value for Stripe secret key" })).toHaveAttribute(
      "title",
      "The configuration has one.",
    );
    expect(payments.getByText("Not set")).toBeInTheDocument(); // the webhook secret
    expect(payments.getByLabelText("Smallest top-up (USD)")).toHaveValue("5.00");

    const retention = await section("Data retention");
    expect(retention.getByLabelText("Keep raw usage rows (months)")).toHaveValue(13);
    expect(retention.getByText("Changed in the console")).toBeInTheDocument();
    expect(retention.getByRole("button", { name: /Use configured value/ })).toHaveAttribute("title", "Configured value: 0");
    expect(patches(server)).toEqual([]);
  });

  it("saves a section with only the keys that changed: a new host and a typed password, not the untouched secrets", async () => {
    const server = settingsServer();
    renderApp("/admin/settings", server);
    const email = await section("Email");
    const host = await email.findByLabelText("SMTP host");
    await userEvent.clear(host);
    await userEvent.type(host, "smtp.new.example");
    await userEvent.type(email.getByLabelText("SMTP password"), "hunter2-secret");
    // Typed back to what was loaded: not a change.
    await userEvent.clear(email.getByLabelText("SMTP user"));
    await userEvent.type(email.getByLabelText("SMTP user"), "mailer");
    const setupReads = server.calls("GET", "/admin/setup").length;
    const settingsReads = server.calls("GET", "/admin/settings").length;
    await userEvent.click(email.getByRole("button", { name: "Save email settings" }));

    expect(await email.findByText("Saved. The change applies at once.")).toBeInTheDocument();
    expect(patches(server).map((r) => r.body)).toEqual([
      { "email.smtp_host": "smtp.new.example", "email.smtp_password": "hunter2-secret" },
    ]);
    expect(email.getByLabelText("SMTP host")).toHaveValue("smtp.new.example");
    expect(email.getByLabelText("SMTP password")).toHaveValue("");
    expect(screen.queryByDisplayValue("hunter2-secret")).toBeNull();
    // The checklist's mail step follows the settings.
    await waitFor(() => expect(server.calls("GET", "/admin/setup").length).toBeGreaterThan(setupReads));
    expect(server.calls("GET", "/admin/settings").length).toBeGreaterThan(settingsReads);
    expect(email.getAllByText("Changed in the console")).toHaveLength(3); // mode, host, password

    // Another section with nothing changed sends nothing, a secret typed then cleared included.
    const payments = await section("Payments");
    await userEvent.type(payments.getByLabelText("Stripe webhook signing secret"), "whsec_x");
    await userEvent.clear(payments.getByLabelText("Stripe webhook signing secret"));
    await userEvent.click(payments.getByRole("button", { name: "Save payment settings" }));
    expect(await payments.findByText(/Nothing to save/)).toBeInTheDocument();
    expect(patches(server)).toHaveLength(1);
  });

  it("sends sign-up's codes one per line and the checkbox as a boolean", async () => {
    const server = settingsServer();
    renderApp("/admin/settings", server);
    const signup = await section("Sign-up");
    const codes = await signup.findByLabelText("Invite codes");
    await userEvent.type(codes, "\n  gamma \n\n");
    await userEvent.click(signup.getByRole("checkbox", { name: /Require a verified email address/ }));
    await userEvent.click(signup.getByRole("button", { name: "Save sign-up settings" }));
    expect(await signup.findByText("Saved. The change applies at once.")).toBeInTheDocument();
    expect(patches(server)[0]?.body).toEqual({
      "accounts.invite_codes": ["alpha", "beta", "gamma"],
      "accounts.require_email_verification_for_keys": false,
    });
  });

  it("goes back to the configured value with {key: null}, and removes a secret only after a confirmation", async () => {
    const server = settingsServer();
    renderApp("/admin/settings", server);
    const email = await section("Email");
    await userEvent.click(await email.findByRole("button", { name: "Use configured value for Delivery" }));
    await waitFor(() => expect(email.getByLabelText("Delivery")).toHaveValue("log"));
    expect(patches(server).map((r) => r.body)).toEqual([{ "email.mode": null }]);
    expect(email.queryByRole("button", { name: "Use configured value for Delivery" })).toBeNull();

    await userEvent.click(email.getByRole("button", { name: "Remove SMTP password" }));
    let dialog = within(await screen.findByRole("dialog", { name: "Remove SMTP password?" }));
    await userEvent.click(dialog.getByRole("button", { name: "Cancel" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(patches(server)).toHaveLength(1);

    await userEvent.click(email.getByRole("button", { name: "Remove SMTP password" }));
    dialog = within(await screen.findByRole("dialog", { name: "Remove SMTP password?" }));
    await userEvent.click(dialog.getByRole("button", { name: "Remove" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(patches(server).at(-1)?.body).toEqual({ "email.smtp_password": null });
    expect(await email.findByText("Not set")).toBeInTheDocument();
    expect(email.queryByRole("button", { name: "Remove SMTP password" })).toBeNull();
  });

  it("shows the server's refusal in the section that failed, under the key it names", async () => {
    const message = 'email.smtp_host: expected the SMTP server\'s name when email.mode = "smtp"';
    const server = settingsServer((body) =>
      body["email.smtp_host"] === ""
        ? json(400, { error: { type: "invalid_request_error", code: "invalid_request", message } })
        : undefined,
    );
    renderApp("/admin/settings", server);
    const email = await section("Email");
    await userEvent.clear(await email.findByLabelText("SMTP host"));
    await userEvent.click(email.getByRole("button", { name: "Save email settings" }));
    expect(await email.findByRole("alert")).toHaveTextContent(message);
    expect(email.getByLabelText("SMTP host")).toHaveAttribute("aria-invalid", "true");
    expect(email.getByText('expected the SMTP server\'s name when email.mode = "smtp"')).toBeInTheDocument();
    expect(patches(server).map((r) => r.body)).toEqual([{ "email.smtp_host": "" }]);
    expect((await section("Sign-up")).queryByRole("alert")).toBeNull();
    // The edit is kept, to be fixed.
    expect(email.getByLabelText("SMTP host")).toHaveValue("");
  });

  it("catches a bad port, months and amounts before sending, and sends numbers as numbers", async () => {
    const server = settingsServer();
    renderApp("/admin/settings", server);
    const email = await section("Email");
    const port = await email.findByLabelText("SMTP port");
    await userEvent.clear(port);
    await userEvent.type(port, "70000");
    await userEvent.click(email.getByRole("button", { name: "Save email settings" }));
    expect(await email.findByText("Enter a whole number from 1 to 65535.")).toBeInTheDocument();
    expect(port).toHaveAttribute("aria-invalid", "true");

    const retention = await section("Data retention");
    const months = retention.getByLabelText("Keep raw usage rows (months)");
    await userEvent.clear(months);
    await userEvent.type(months, "-1");
    await userEvent.click(retention.getByRole("button", { name: "Save retention" }));
    expect(await retention.findByText("Enter a whole number of months: 0 or more.")).toBeInTheDocument();

    const payments = await section("Payments");
    await userEvent.clear(payments.getByLabelText("Largest top-up (USD)"));
    await userEvent.type(payments.getByLabelText("Largest top-up (USD)"), "99.999");
    await userEvent.click(payments.getByRole("button", { name: "Save payment settings" }));
    expect(await payments.findByText(/at most 2 decimals/)).toBeInTheDocument();
    expect(patches(server)).toEqual([]);

    await userEvent.clear(port);
    await userEvent.type(port, "2525");
    await userEvent.click(email.getByRole("button", { name: "Save email settings" }));
    expect(await email.findByText("Saved. The change applies at once.")).toBeInTheDocument();
    expect(patches(server)[0]?.body).toEqual({ "email.smtp_port": 2525 });

    await userEvent.clear(months);
    await userEvent.type(months, "0");
    await userEvent.click(retention.getByRole("button", { name: "Save retention" }));
    expect(await retention.findByText("Saved. The change applies at once.")).toBeInTheDocument();
    expect(patches(server)[1]?.body).toEqual({ "analytics.raw_retention_months": 0 });
  });
});

describe("Admin in Chinese", () => {
  it("reads in Chinese", async () => {
    await i18n.changeLanguage("zh-CN");
    const server = adminServer()
      .on("GET", "/admin/setup", () => json(200, { done: false, steps: [{ id: "plan", done: false, hint: "Offer a plan." }] }))
      .on("GET", "/admin/providers", () => json(200, { data: [provider()] }));
    renderApp("/admin/providers", server);
    expect(await screen.findByRole("heading", { name: "提供商", level: 1 })).toBeInTheDocument();
    expect(await screen.findByRole("button", { name: "测试连接" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "添加提供商" })).toBeInTheDocument();
    const nav = within(screen.getByRole("navigation", { name: "主导航" }));
    expect(nav.getByRole("list", { name: "管理" })).toBeInTheDocument();
    expect(await nav.findByRole("link", { name: "初始设置 （还剩 1 步）" })).toBeInTheDocument();
    expect(nav.getByRole("link", { name: "设置" })).toHaveAttribute("href", "/admin/settings");
  });
});
