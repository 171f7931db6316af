import { beforeEach, describe, expect, it } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n, { LANGUAGE_KEY } from "../i18n";
import { REFRESH_TOKEN_KEY } from "../api/tokens";
import { FakeServer, apiError, json, profile, sessionServer } from "../test/fakeServer";
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

  it("saves profile changes", async () => {
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
    const server = sessionServer(1).on("PATCH", "/developer/profile", (req) =>
      json(200, { ...profile, ...(req.body as object) }),
    );
    renderApp("/profile", server);
    const name = await screen.findByLabelText("Full name");
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
