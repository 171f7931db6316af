import { beforeEach, describe, expect, it } from "vitest";
import { act, screen, waitFor } from "@testing-library/react";
import i18n from "../i18n";
import { REFRESH_TOKEN_KEY } from "../api/tokens";
import { safeNext } from "./guards";
import { FakeServer, json, sessionServer } from "../test/fakeServer";
import { renderApp } from "../test/renderApp";

const location = () => screen.getByTestId("location").textContent;

beforeEach(async () => {
  await i18n.changeLanguage("en");
});

describe("route guards", () => {
  it("send a signed-out visitor to sign-in and remember where they were going", async () => {
    renderApp("/profile", new FakeServer());
    await waitFor(() => expect(location()).toBe("/login?next=%2Fprofile"));
    expect(await screen.findByRole("heading", { name: "Sign in to AI Hub" })).toBeInTheDocument();
  });

  it("restore a stored session and show the protected page", async () => {
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
    renderApp("/profile", sessionServer(1));
    expect(await screen.findByRole("heading", { name: "Profile" })).toBeInTheDocument();
    expect(location()).toBe("/profile");
  });

  it("send a signed-in developer away from sign-in to where they were going", async () => {
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
    renderApp("/login?next=%2Fprofile", sessionServer(1));
    await waitFor(() => expect(location()).toBe("/profile"));
  });

  it("let emailed links open whether signed in or not", async () => {
    const server = new FakeServer().on("POST", "/developer/verify-email", () => json(200, { status: "verified" }));
    renderApp("/verify-email?token=abc", server);
    expect(await screen.findByRole("heading", { name: "Email verified" })).toBeInTheDocument();
    expect(location()).toBe("/verify-email?token=abc");
  });

  it("sign this tab out when another tab signs out", async () => {
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
    const { client } = renderApp("/profile", sessionServer(1));
    expect(await screen.findByRole("heading", { name: "Profile" })).toBeInTheDocument();
    // The other tab removed the shared refresh token.
    localStorage.removeItem(REFRESH_TOKEN_KEY);
    act(() => {
      window.dispatchEvent(new StorageEvent("storage", { key: REFRESH_TOKEN_KEY, newValue: null }));
    });
    await waitFor(() => expect(location()).toBe("/login?next=%2Fprofile"));
    expect(client.tokens.accessToken).toBeNull();
  });

  it("follow only same-site paths after sign-in", () => {
    expect(safeNext("/profile?tab=1")).toBe("/profile?tab=1");
    expect(safeNext(null)).toBe("/");
    expect(safeNext("https://evil.example/")).toBe("/");
    expect(safeNext("//evil.example/")).toBe("/");
    expect(safeNext("/\\evil.example")).toBe("/");
  });
});
