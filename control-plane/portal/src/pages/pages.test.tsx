import { beforeEach, describe, expect, it } from "vitest";
import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n, { LANGUAGE_KEY } from "../i18n";
import { REFRESH_TOKEN_KEY } from "../api/tokens";
import type { Billing } from "../api/billing";
import type { Profile } from "../api/types";
import { FakeServer, apiError, json, profile, session, sessionServer } from "../test/fakeServer";
import { renderApp } from "../test/renderApp";

const location = () => screen.getByTestId("location").textContent;
const config = { signup: "open", email_verification_required: true, languages: ["en", "zh-CN"] };

beforeEach(async () => {
  await i18n.changeLanguage("en");
});

describe("sign-in", () => {
  it("checks the form before asking the server", async () => {
    const server = new FakeServer();
    renderApp("/login", server);
    await userEvent.click(await screen.findByRole("button", { name: "Sign in" }));
    expect(await screen.findAllByText("This field is required.")).toHaveLength(2);
    await userEvent.type(screen.getByLabelText("Email"), "not-an-email");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByText("Enter a valid email address.")).toBeInTheDocument();
    expect(server.requests).toHaveLength(0);
  });

  it("says when the credentials are wrong, without saying which", async () => {
    const server = new FakeServer().on("POST", "/developer/login", () => apiError(401, "invalid_credentials"));
    renderApp("/login", server);
    await userEvent.type(await screen.findByLabelText("Email"), "ada@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "wrong password");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("The email or password is incorrect.");
  });

  it("tells a throttled developer how long to wait", async () => {
    const server = new FakeServer().on("POST", "/developer/login", () =>
      apiError(429, "too_many_attempts", "slow down", { "retry-after": "300" }),
    );
    renderApp("/login", server);
    await userEvent.type(await screen.findByLabelText("Email"), "ada@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "whatever");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Try again in 5 min.");
  });

  it("signs in and lands on the dashboard", async () => {
    renderApp("/login", sessionServer());
    await userEvent.type(await screen.findByLabelText("Email"), "ada@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "correct horse battery");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("heading", { name: "Welcome, Ada" })).toBeInTheDocument();
    expect(location()).toBe("/");
  });
});

describe("sign-up", () => {
  it("registers with the interface language and shows the check-your-inbox step", async () => {
    const server = new FakeServer()
      .on("GET", "/auth/config", () => json(200, config))
      .on("POST", "/developer/register", () => json(202, { status: "verification_sent" }));
    renderApp("/register", server);
    await userEvent.click(await screen.findByLabelText(/Business/));
    await userEvent.type(screen.getByLabelText("Full name"), "Grace Hopper");
    await userEvent.type(screen.getByLabelText("Email"), "grace@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "a long enough password");
    await userEvent.click(screen.getByRole("button", { name: "Create account" }));
    expect(await screen.findByText("Enter your company's name for a business account.")).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Company"), "Navy");
    await userEvent.click(screen.getByRole("button", { name: "Create account" }));

    expect(await screen.findByRole("heading", { name: "Check your inbox" })).toBeInTheDocument();
    expect(screen.getByText(/grace@example.com/)).toBeInTheDocument();
    expect(server.calls("POST", "/developer/register")[0]?.body).toEqual({
      email: "grace@example.com",
      password: "a long enough password",
      full_name: "Grace Hopper",
      company_name: "Navy",
      developer_type: "enterprise",
      language: "en",
    });
  });

  it("asks for the invite code when sign-up is invite-only, and is shut when closed", async () => {
    const server = new FakeServer().on("GET", "/auth/config", () => json(200, { ...config, signup: "invite_only" }));
    renderApp("/register", server);
    expect(await screen.findByLabelText("Invite code")).toBeInTheDocument();

    const closed = new FakeServer().on("GET", "/auth/config", () => json(200, { ...config, signup: "closed" }));
    renderApp("/register", closed);
    expect(await screen.findByText(/Sign-up is closed/)).toBeInTheDocument();
  });
});

describe("emailed links", () => {
  it("verifies the token exactly once", async () => {
    const server = new FakeServer().on("POST", "/developer/verify-email", () => json(200, { status: "verified" }));
    renderApp("/verify-email?token=tok-123", server);
    expect(await screen.findByRole("heading", { name: "Email verified" })).toBeInTheDocument();
    expect(server.calls("POST", "/developer/verify-email").map((c) => c.body)).toEqual([{ token: "tok-123" }]);
  });

  it("offers a new link when the token is spent", async () => {
    const server = new FakeServer()
      .on("POST", "/developer/verify-email", () => apiError(400, "invalid_token"))
      .on("POST", "/developer/resend-verification", () => new Response(null, { status: 202 }));
    renderApp("/verify-email?token=old", server);
    expect(await screen.findByRole("heading", { name: "This link no longer works" })).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Email"), "ada@example.com");
    await userEvent.click(screen.getByRole("button", { name: "Send a new link" }));
    expect(await screen.findByText(/a new link is on its way/)).toBeInTheDocument();
  });

  it("resets a password with the token from the link", async () => {
    const server = new FakeServer().on("POST", "/developer/reset-password/confirm", () => json(200, {}));
    renderApp("/reset-password?token=r-1", server);
    await userEvent.type(await screen.findByLabelText("New password"), "a brand new password");
    await userEvent.type(screen.getByLabelText("Confirm new password"), "a brand new passwort");
    await userEvent.click(screen.getByRole("button", { name: "Set new password" }));
    expect(await screen.findByText("The passwords don't match.")).toBeInTheDocument();
    expect(server.requests).toHaveLength(0);
    await userEvent.clear(screen.getByLabelText("Confirm new password"));
    await userEvent.type(screen.getByLabelText("Confirm new password"), "a brand new password");
    await userEvent.click(screen.getByRole("button", { name: "Set new password" }));
    expect(await screen.findByRole("heading", { name: "Password changed" })).toBeInTheDocument();
    expect(server.requests[0]?.body).toEqual({ token: "r-1", new_password: "a brand new password" });
  });
});

describe("signed in", () => {
  it("warns about an unverified address and resends the mail", async () => {
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
    const server = sessionServer(1)
      .on("GET", "/auth/config", () => json(200, config))
      .on("POST", "/developer/refresh", () =>
        json(200, {
          access_token: "a",
          token_type: "Bearer",
          expires_in: 900,
          refresh_token: "r",
          developer: { ...profile, email_verified: false },
        }),
      )
      .on("POST", "/developer/resend-verification", () => new Response(null, { status: 202 }));
    renderApp("/", server);
    expect(await screen.findByText("Verify your email address")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Resend email" }));
    expect(await screen.findByText("Sent. Check your inbox.")).toBeInTheDocument();
    expect(server.calls("POST", "/developer/resend-verification")[0]?.body).toEqual({ email: profile.email });
  });

  it("switches the language at once and remembers it", async () => {
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
    renderApp("/", sessionServer(1));
    expect(await screen.findByRole("heading", { name: "Welcome, Ada" })).toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText("Language"), "zh-CN");
    expect(await screen.findByRole("heading", { name: "欢迎，Ada" })).toBeInTheDocument();
    expect(localStorage.getItem(LANGUAGE_KEY)).toBe("zh-CN");
    expect(document.documentElement.lang).toBe("zh-CN");
  });

  it("signs out through the account menu and lands on sign-in", async () => {
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
    const server = sessionServer(1);
    renderApp("/", server);
    await userEvent.click(await screen.findByRole("button", { name: "Account menu" }));
    await userEvent.click(screen.getByRole("menuitem", { name: "Sign out" }));
    await waitFor(() => expect(location()).toBe("/login"));
    expect(server.calls("POST", "/developer/logout")).toHaveLength(1);
    expect(localStorage.getItem(REFRESH_TOKEN_KEY)).toBeNull();
    // Signing out on purpose is not an expired session.
    expect(screen.queryByText(/Your session ended/)).not.toBeInTheDocument();
  });

  it("keeps what is being typed when the account changes elsewhere but its details do not", async () => {
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
    const { queryClient } = renderApp("/profile", sessionServer(1));
    const name = await screen.findByLabelText("Full name");
    await waitFor(() => expect(name).toHaveValue("Ada Lovelace"));
    await userEvent.clear(name);
    await userEvent.type(name, "Ada K");
    // A token refresh (or a change made in another tab) stores a new copy
    // of the account: here a new email, the same editable details.
    const current = queryClient.getQueryData<object>(["profile"]);
    act(() => {
      queryClient.setQueryData(["profile"], { ...current, email: "ada@new.example.com" });
    });
    await waitFor(() => expect(screen.getByLabelText("Email")).toHaveValue("ada@new.example.com"));
    expect(name).toHaveValue("Ada K");
  });

  it("saves profile changes", async () => {
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
    const server = sessionServer(1).on("PATCH", "/developer/profile", (req) =>
      json(200, { ...profile, ...(req.body as object) }),
    );
    renderApp("/profile", server);
    const name = await screen.findByLabelText("Full name");
    // The form is filled from the loaded profile: edit it only after that,
    // or the load can land between clearing and typing.
    await waitFor(() => expect(name).toHaveValue("Ada Lovelace"));
    await userEvent.clear(name);
    await userEvent.type(name, "Ada King");
    await userEvent.selectOptions(screen.getByLabelText("Email language"), "zh-CN");
    await userEvent.click(screen.getByRole("button", { name: "Save changes" }));
    expect(await screen.findByText("Saved.")).toBeInTheDocument();
    expect(server.calls("PATCH", "/developer/profile")[0]?.body).toEqual({
      full_name: "Ada King",
      company_name: "Analytical Engines",
      developer_type: "enterprise",
      language: "zh-CN",
    });
  });
});

describe("dashboard", () => {
  const billing = (over: Partial<Billing> = {}): Billing => ({
    plan: { id: "free", name: "Free", price: "0.00", included_tokens: 1000, overage: "prepaid" },
    pending_plan: null,
    period: { month: "2026-11", start: Date.UTC(2026, 10, 1), end: Date.UTC(2026, 11, 1) },
    allowance: { included_tokens: 1000, used_tokens: 812, remaining_tokens: 188 },
    balance: { total: "12.50", paid: "10.00", promotional: "2.50" },
    month_usage: { requests: 41, tokens: 812, cost: "0.004120", charged: "0.00" },
    upcoming_invoice: { subscription: "0.00", overage: "0.00", credits_applied: "0.00", total: "0.00" },
    payments: { enabled: true, min_top_up: "5.00", max_top_up: "10000.00" },
    ...over,
  });

  /** A signed-in session on the dashboard, with this profile and this answer to the billing overview. */
  function dashboard(answer: () => Response | Promise<Response>, developer: Profile = profile) {
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
    const server = sessionServer(1)
      .on("POST", "/developer/refresh", () => json(200, session(2, developer)))
      .on("GET", "/developer/profile", () => json(200, developer))
      .on("GET", "/developer/billing", answer);
    renderApp("/", server);
    return server;
  }

  const planCard = (name = "Plan") => screen.getByRole("region", { name });
  const nextSteps = () => within(screen.getByRole("heading", { name: "What's next" }).nextElementSibling as HTMLElement);
  const accountFact = (label: string) => screen.getByText(label, { selector: "dt" }).nextElementSibling;

  it("shows the plan, its price, the month's included tokens and the credit, with links to billing", async () => {
    const server = dashboard(() => json(200, billing()));
    expect(await screen.findByTestId("dashboard-plan")).toHaveTextContent("Free");
    const card = planCard();
    expect(within(card).getByText("$0.00 / month")).toBeInTheDocument();
    expect(within(card).getByText("812 of 1,000 tokens this month")).toBeInTheDocument();
    const bar = within(card).getByRole("progressbar", { name: "Included tokens" });
    expect(bar).toHaveAttribute("aria-valuenow", "812");
    expect(bar).toHaveAttribute("aria-valuemax", "1000");
    expect(bar.className).toContain("progress-high");
    expect(within(card).getByTestId("dashboard-balance")).toHaveTextContent("$12.50");
    expect(within(card).getByRole("link", { name: "Manage billing" })).toHaveAttribute("href", "/billing");
    expect(within(card).getByRole("link", { name: "Change plan" })).toHaveAttribute("href", "/billing/plans");
    // The preview's placeholder is gone.
    expect(screen.queryByText(/Plans arrive soon/)).not.toBeInTheDocument();
    expect(screen.queryByText("Free preview")).not.toBeInTheDocument();
    expect(server.calls("GET", "/developer/billing")).toHaveLength(1);
  });

  it("shows a pending plan change, and a plan without included tokens", async () => {
    dashboard(() =>
      json(
        200,
        billing({
          plan: { id: "payg", name: "Pay as you go", price: "0.00", included_tokens: 0, overage: "prepaid" },
          allowance: { included_tokens: 0, used_tokens: 1234, remaining_tokens: 0 },
          pending_plan: { id: "free", name: "Free", starts_at: Date.UTC(2026, 11, 1) },
          balance: { total: "1000.00", paid: "1000.00", promotional: "0.00" },
        }),
      ),
    );
    expect(await screen.findByTestId("dashboard-plan")).toHaveTextContent("Pay as you go");
    const card = planCard();
    expect(within(card).getByText("No included tokens: 1,234 tokens used this month")).toBeInTheDocument();
    expect(within(card).queryByRole("progressbar")).not.toBeInTheDocument();
    expect(within(card).getByText("Changes to Free on Dec 1, 2026.")).toBeInTheDocument();
    expect(within(card).getByTestId("dashboard-balance")).toHaveTextContent("$1,000.00");
  });

  it("says when billing can't be loaded, and the rest of the page still works", async () => {
    dashboard(() => apiError(500, "internal_error", "boom"));
    expect(await screen.findByRole("heading", { name: "Welcome, Ada" })).toBeInTheDocument();
    expect(await within(planCard()).findByRole("alert")).toHaveTextContent("Something went wrong. Please try again.");
    expect(screen.queryByTestId("dashboard-plan")).not.toBeInTheDocument();
    // The way to billing stays open.
    expect(within(planCard()).getByRole("link", { name: "Manage billing" })).toHaveAttribute("href", "/billing");
    // The account card and the next steps are unaffected.
    expect(accountFact("Email")).toHaveTextContent(profile.email);
    expect(accountFact("Rate limit")).toHaveTextContent("600 requests / min");
    expect(nextSteps().getByRole("link", { name: "API keys" })).toHaveAttribute("href", "/keys");
    expect(nextSteps().getByRole("link", { name: "Billing" })).toHaveAttribute("href", "/billing");
  });

  it("waits for billing with a spinner inside the plan card", async () => {
    let answer: (res: Response) => void = () => {};
    dashboard(() => new Promise<Response>((resolve) => (answer = resolve)));
    expect(await screen.findByRole("heading", { name: "Welcome, Ada" })).toBeInTheDocument();
    expect(within(planCard()).getByRole("status", { name: "Loading…" })).toBeInTheDocument();
    answer(json(200, billing()));
    expect(await screen.findByTestId("dashboard-plan")).toHaveTextContent("Free");
    expect(within(planCard()).queryByRole("status", { name: "Loading…" })).not.toBeInTheDocument();
  });

  it("links every next-step card to its page, the docs included", async () => {
    dashboard(() => json(200, billing()));
    await screen.findByTestId("dashboard-plan");
    const next = nextSteps();
    expect(next.getByRole("link", { name: "API keys" })).toHaveAttribute("href", "/keys");
    expect(next.getByRole("link", { name: "Usage" })).toHaveAttribute("href", "/usage");
    expect(next.getByRole("link", { name: "Billing" })).toHaveAttribute("href", "/billing");
    expect(next.getByRole("link", { name: "Docs" })).toHaveAttribute("href", "/docs");
    expect(next.queryByText("Coming soon")).not.toBeInTheDocument();
  });

  it("shows the account's monthly token cap, or None without one", async () => {
    dashboard(() => json(200, billing()), { ...profile, api_quota_limit: 0 });
    await screen.findByTestId("dashboard-plan");
    expect(accountFact("Monthly token cap")).toHaveTextContent(/^None$/);
    expect(screen.queryByText("Included tokens", { selector: "dt" })).not.toBeInTheDocument();
  });

  it("shows a set monthly token cap, in Chinese too", async () => {
    dashboard(() => json(200, billing()), { ...profile, api_quota_limit: 50_000_000 });
    await screen.findByTestId("dashboard-plan");
    expect(accountFact("Monthly token cap")).toHaveTextContent("50,000,000 tokens");
    await i18n.changeLanguage("zh-CN");
    expect(await screen.findByText("每月 Token 上限", { selector: "dt" })).toBeInTheDocument();
    expect(within(planCard("套餐")).getByText("本月已用 812 / 1,000 个 Token")).toBeInTheDocument();
    expect(within(planCard("套餐")).getByRole("link", { name: "管理账单" })).toHaveAttribute("href", "/billing");
  });

  it("says 无 in Chinese when there is no cap", async () => {
    await i18n.changeLanguage("zh-CN");
    dashboard(() => json(200, billing()), { ...profile, api_quota_limit: null });
    await screen.findByTestId("dashboard-plan");
    expect(screen.getByText("每月 Token 上限", { selector: "dt" }).nextElementSibling).toHaveTextContent(/^无$/);
  });
});
