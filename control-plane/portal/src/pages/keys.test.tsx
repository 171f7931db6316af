import { beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../i18n";
import { REFRESH_TOKEN_KEY } from "../api/tokens";
import type { ApiKey } from "../api/types";
import { apiError, json, profile, sessionServer } from "../test/fakeServer";
import { renderApp } from "../test/renderApp";

const key: ApiKey = {
  id: "key_1",
  name: "Production backend",
  display_prefix: "ahub_AbCd…wxYz",
  enabled: true,
  created_at_ms: Date.UTC(2026, 5, 1),
  expires_at_ms: null,
  last_used_at_ms: null,
  allowed_models: null,
  allowed_endpoints: null,
  limits: {
    requests_per_minute: null,
    tokens_per_minute: null,
    token_quota_total: null,
    token_quota_monthly: null,
    budget_total: null,
    budget_monthly: null,
  },
  ip_allowlist: null,
  metadata: {},
};

const usage = (requests: number[]) => () =>
  json(200, {
    key_id: "key_1",
    days: 30,
    totals: {
      requests: requests.reduce((a, b) => a + b, 0),
      prompt_tokens: 100,
      completion_tokens: 50,
      cost_nanos: 2_500_000,
      errors: 1,
    },
    by_day: requests.map((n, i) => ({
      date: `2026-06-${String(i + 1).padStart(2, "0")}`,
      requests: n,
      tokens: n * 10,
      cost_nanos: n * 1000,
      errors: 0,
    })),
    last_used_at_ms: null,
  });

beforeEach(async () => {
  await i18n.changeLanguage("en");
  localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
});

describe("API keys page", () => {
  it("shows the empty state with a create button", async () => {
    const server = sessionServer(1).on("GET", "/developer/keys", () => json(200, { data: [] }));
    renderApp("/keys", server);
    expect(await screen.findByRole("heading", { name: "No API keys yet" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Create key" })).toBeEnabled();
  });

  it("lists keys with status, prefix and a usage sparkline", async () => {
    const disabled = { ...key, id: "key_2", name: "Old", enabled: false };
    const server = sessionServer(1)
      .on("GET", "/developer/keys", () => json(200, { data: [key, disabled] }))
      .on("GET", "/developer/keys/key_1/usage", usage([0, 2, 5]))
      .on("GET", "/developer/keys/key_2/usage", usage([]));
    renderApp("/keys", server);
    const row = (await screen.findByRole("heading", { name: "Production backend" })).closest("li")!;
    expect(within(row).getByText("Active")).toBeInTheDocument();
    expect(within(row).getByText("ahub_AbCd…wxYz")).toBeInTheDocument();
    expect(within(row).getByText("All models")).toBeInTheDocument();
    expect(await within(row).findByRole("img", { name: "7 requests in the last 30 days" })).toBeInTheDocument();
    const old = screen.getByRole("heading", { name: "Old" }).closest("li")!;
    expect(within(old).getByText("Disabled")).toBeInTheDocument();

    // Per-key stats.
    await userEvent.click(within(row).getByRole("button", { name: "Usage" }));
    const dialog = await screen.findByRole("dialog", { name: "Usage of “Production backend”" });
    expect(await within(dialog).findByText("2026-06-03")).toBeInTheDocument();
    expect(within(dialog).getByText("$0.0025")).toBeInTheDocument();
    await userEvent.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
  });

  it("creates a key once, with an idempotency key, and shows the secret once", async () => {
    let list: ApiKey[] = [];
    const server = sessionServer(1)
      .on("GET", "/developer/keys", () => json(200, { data: list }))
      .on("GET", "/developer/keys/key_1/usage", usage([]))
      .on("POST", "/developer/keys", () => {
        list = [key];
        return json(201, { ...key, secret: "ahub_the_secret_value" });
      });
    renderApp("/keys", server);
    await userEvent.click(await screen.findByRole("button", { name: "Create key" }));
    const dialog = await screen.findByRole("dialog", { name: "Create API key" });
    expect(within(dialog).getByLabelText("Name")).toHaveFocus();
    await userEvent.click(within(dialog).getByRole("button", { name: "Create key" }));
    expect(await within(dialog).findByText("This field is required.")).toBeInTheDocument();
    await userEvent.type(within(dialog).getByLabelText("Name"), "Production backend");
    await userEvent.click(within(dialog).getByLabelText(/Only these models/));
    await userEvent.type(within(dialog).getByLabelText("Allowed models"), "gpt-4o-mini,claude-3{Enter}");
    expect(within(dialog).getByRole("button", { name: "Remove claude-3" })).toBeInTheDocument();
    await userEvent.selectOptions(within(dialog).getByLabelText("Expiry"), "never");
    await userEvent.click(within(dialog).getByRole("button", { name: "Create key" }));

    const secret = await screen.findByRole("dialog", { name: "Save your new key" });
    expect(within(secret).getByTestId("secret")).toHaveTextContent("ahub_the_secret_value");
    expect(within(secret).getByTestId("snippet")).toHaveTextContent(`base_url="${window.location.origin}/v1"`);
    await userEvent.click(within(secret).getByRole("tab", { name: "Node.js" }));
    expect(within(secret).getByTestId("snippet")).toHaveTextContent("baseURL:");

    const calls = server.calls("POST", "/developer/keys");
    expect(calls).toHaveLength(1);
    expect(calls[0]?.idempotencyKey).toMatch(/\S{8,}/);
    expect(calls[0]?.body).toEqual({
      name: "Production backend",
      allowed_models: ["gpt-4o-mini", "claude-3"],
      expires_in_days: null,
    });

    await userEvent.click(within(secret).getByRole("button", { name: "I've saved it" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(await screen.findByRole("heading", { name: "Production backend" })).toBeInTheDocument();
    expect(screen.queryByText("ahub_the_secret_value")).not.toBeInTheDocument();
  });

  it("explains to an unverified developer that keys need a verified email", async () => {
    const unverified = { ...profile, email_verified: false };
    const server = sessionServer(1)
      .on("POST", "/developer/refresh", () =>
        json(200, {
          access_token: "a",
          token_type: "Bearer",
          expires_in: 900,
          refresh_token: "r",
          developer: unverified,
        }),
      )
      .on("GET", "/developer/profile", () => json(200, unverified))
      .on("GET", "/developer/keys", () => json(200, { data: [] }))
      .on("POST", "/developer/keys", () => apiError(403, "email_not_verified"));
    renderApp("/keys", server);
    expect(await screen.findByText("Verify your email to create keys")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Resend email" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Create key" })).toBeDisabled();
  });
});

describe("API keys page actions", () => {
  it("disables a key, regenerates it with a grace period and deletes it after confirming", async () => {
    let current: ApiKey | null = { ...key };
    const server = sessionServer(1)
      .on("GET", "/developer/keys", () => json(200, { data: current ? [current] : [] }))
      .on("GET", "/developer/keys/key_1/usage", usage([1]))
      .on("PUT", "/developer/keys/key_1", (req) => {
        current = { ...key, ...(req.body as object) };
        return json(200, current);
      })
      .on("POST", "/developer/keys/key_1/regenerate", () =>
        json(200, { ...current, secret: "ahub_rotated", grace_expires_at_ms: Date.UTC(2026, 5, 2, 12) }),
      )
      .on("DELETE", "/developer/keys/key_1", () => {
        current = null;
        return new Response(null, { status: 204 });
      });
    renderApp("/keys", server);
    const row = (await screen.findByRole("heading", { name: "Production backend" })).closest("li")!;

    await userEvent.click(within(row).getByRole("button", { name: "Edit" }));
    let dialog = await screen.findByRole("dialog", { name: "Edit API key" });
    await userEvent.click(within(dialog).getByLabelText(/^Enabled/));
    await userEvent.click(within(dialog).getByRole("button", { name: "Save changes" }));
    expect(await within(row).findByText("Disabled")).toBeInTheDocument();
    expect(server.calls("PUT", "/developer/keys/key_1")[0]?.body).toEqual({
      name: "Production backend",
      enabled: false,
      allowed_models: null,
    });

    await userEvent.click(within(row).getByRole("button", { name: "Regenerate" }));
    dialog = await screen.findByRole("dialog", { name: "Regenerate “Production backend”" });
    await userEvent.click(within(dialog).getByLabelText("In 24 hours"));
    await userEvent.click(within(dialog).getByRole("button", { name: "Regenerate" }));
    dialog = await screen.findByRole("dialog", { name: "Save your new secret" });
    expect(within(dialog).getByTestId("secret")).toHaveTextContent("ahub_rotated");
    expect(within(dialog).getByText(/The old secret keeps working until/)).toBeInTheDocument();
    expect(server.calls("POST", "/developer/keys/key_1/regenerate")[0]?.body).toEqual({ grace_seconds: 86400 });
    await userEvent.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());

    await userEvent.click(within(row).getByRole("button", { name: "Delete" }));
    dialog = await screen.findByRole("dialog", { name: "Delete “Production backend”?" });
    expect(within(dialog).getByRole("button", { name: "Cancel" })).toHaveFocus();
    expect(server.calls("DELETE", "/developer/keys/key_1")).toHaveLength(0);
    await userEvent.click(within(dialog).getByRole("button", { name: "Delete key" }));
    expect(await screen.findByRole("heading", { name: "No API keys yet" })).toBeInTheDocument();
    expect(server.calls("DELETE", "/developer/keys/key_1")).toHaveLength(1);
  });
});

describe("API keys scopes and limits", () => {
  it("creates a key with scopes, a rate limit and an IP range, shows the server's refusal by the field, and lists it", async () => {
    let list: ApiKey[] = [];
    const server = sessionServer(1)
      .on("GET", "/developer/keys", () =>
        json(200, { data: list, account_limits: { requests_per_minute: 100, token_quota_monthly: 1000 } }),
      )
      .on("GET", "/developer/keys/key_1/usage", usage([]))
      .on("POST", "/developer/keys", (req) => {
        const body = req.body as { limits?: { requests_per_minute: number | null } };
        if ((body.limits?.requests_per_minute ?? 0) > 100) {
          return apiError(
            400,
            "invalid_request",
            "limits.requests_per_minute: at most 100 (your account's limit), got 500",
          );
        }
        list = [{ ...key, ...(req.body as object), metadata: { team: "search" } } as ApiKey];
        return json(201, { ...list[0], secret: "ahub_s" });
      });
    renderApp("/keys", server);
    await userEvent.click(await screen.findByRole("button", { name: "Create key" }));
    const dialog = await screen.findByRole("dialog", { name: "Create API key" });
    await userEvent.type(within(dialog).getByLabelText("Name"), "Search");
    // The account's ceiling is a hint, not a client-side rule.
    expect(within(dialog).getByText("Your account allows up to 100 requests/min.")).toBeInTheDocument();
    for (const name of ["Completions", "Batches", "Files"]) {
      await userEvent.click(within(dialog).getByRole("checkbox", { name }));
    }
    await userEvent.type(within(dialog).getByLabelText("Requests per minute"), "500");
    await userEvent.type(within(dialog).getByLabelText("Spend budget per month (USD)"), "5");
    await userEvent.type(within(dialog).getByLabelText(/^IP allow-list/), "203.0.113.0/24");
    await userEvent.type(within(dialog).getByLabelText(/^Metadata/), "team=search");
    await userEvent.click(within(dialog).getByRole("button", { name: "Create key" }));

    expect(await within(dialog).findByRole("alert")).toHaveTextContent(
      "limits.requests_per_minute: at most 100 (your account's limit)",
    );
    const rpm = within(dialog).getByLabelText("Requests per minute");
    expect(rpm).toHaveAccessibleDescription("at most 100 (your account's limit), got 500");

    await userEvent.clear(rpm);
    await userEvent.type(rpm, "60");
    await userEvent.click(within(dialog).getByRole("button", { name: "Create key" }));
    await screen.findByRole("dialog", { name: "Save your new key" });
    const calls = server.calls("POST", "/developer/keys");
    expect(calls).toHaveLength(2);
    // The retry of one form reuses its idempotency key.
    expect(calls[1]?.idempotencyKey).toBe(calls[0]?.idempotencyKey);
    expect(calls[1]?.body).toEqual({
      name: "Search",
      allowed_models: null,
      expires_in_days: 365,
      allowed_endpoints: ["chat", "embeddings"],
      limits: {
        requests_per_minute: 60,
        tokens_per_minute: null,
        token_quota_total: null,
        token_quota_monthly: null,
        budget_total: null,
        budget_monthly: "5",
      },
      ip_allowlist: ["203.0.113.0/24"],
      metadata: { team: "search" },
    });
    await userEvent.click(screen.getByRole("button", { name: "I've saved it" }));
    const row = (await screen.findByRole("heading", { name: "Search" })).closest("li")!;
    expect(
      within(row).getByText("chat, embeddings · 60 req/min · $5.00/month · 1 IP range", { exact: false }),
    ).toBeInTheDocument();
    expect(within(row).getByText("team=search")).toBeInTheDocument();
  });

  it("edits a key's limit in the same form and clears its IP allow-list", async () => {
    let current: ApiKey = {
      ...key,
      allowed_endpoints: ["chat"],
      limits: { ...key.limits, requests_per_minute: 60 },
      ip_allowlist: ["203.0.113.0/24", "2001:db8::/32"],
    };
    const server = sessionServer(1)
      .on("GET", "/developer/keys", () => json(200, { data: [current] }))
      .on("GET", "/developer/keys/key_1/usage", usage([]))
      .on("PUT", "/developer/keys/key_1", (req) => {
        current = { ...current, ...(req.body as object) };
        return json(200, current);
      });
    renderApp("/keys", server);
    const row = (await screen.findByRole("heading", { name: "Production backend" })).closest("li")!;
    expect(within(row).getByText("chat · 60 req/min · 2 IP ranges", { exact: false })).toBeInTheDocument();
    await userEvent.click(within(row).getByRole("button", { name: "Edit" }));
    const dialog = await screen.findByRole("dialog", { name: "Edit API key" });
    // The profile's ceiling when the list carries none.
    expect(within(dialog).getByText("Your account allows up to 600 requests/min.")).toBeInTheDocument();
    const rpm = within(dialog).getByLabelText("Requests per minute");
    expect(rpm).toHaveValue("60");
    await userEvent.clear(rpm);
    await userEvent.type(rpm, "30");
    await userEvent.clear(within(dialog).getByLabelText(/^IP allow-list/));
    await userEvent.click(within(dialog).getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(server.calls("PUT", "/developer/keys/key_1")[0]?.body).toEqual({
      name: "Production backend",
      enabled: true,
      allowed_models: null,
      limits: { ...key.limits, requests_per_minute: 30 },
      ip_allowlist: null,
    });
    expect(await within(row).findByText("chat · 30 req/min", { exact: false })).toBeInTheDocument();
  });

  it("checks obvious mistakes before asking the server", async () => {
    const server = sessionServer(1)
      .on("GET", "/developer/keys", () => json(200, { data: [] }));
    renderApp("/keys", server);
    await userEvent.click(await screen.findByRole("button", { name: "Create key" }));
    const dialog = await screen.findByRole("dialog", { name: "Create API key" });
    await userEvent.type(within(dialog).getByLabelText("Name"), "x");
    await userEvent.type(within(dialog).getByLabelText("Tokens per minute"), "1.5");
    await userEvent.type(within(dialog).getByLabelText(/^IP allow-list/), "localhost");
    await userEvent.click(within(dialog).getByRole("button", { name: "Create key" }));
    expect(
      await within(dialog).findByText("Enter a whole number of at least 1, or leave it empty."),
    ).toBeInTheDocument();
    expect(within(dialog).getByText("“localhost” is not an IP address or CIDR range.")).toBeInTheDocument();
    expect(server.calls("POST", "/developer/keys")).toHaveLength(0);
  });
});
