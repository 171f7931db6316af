import { beforeEach, describe, expect, it, vi } from "vitest";
import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../i18n";
import { REFRESH_TOKEN_KEY } from "../api/tokens";
import type { OpenApiDocument } from "../api/types";
import { FakeServer, apiError, json, sessionServer } from "../test/fakeServer";
import { renderApp } from "../test/renderApp";
import type { ReferenceConfiguration } from "./docs/ApiReferenceViewer";

// Scalar's renderer is a Vue app that needs a real browser: a stand-in
// records what the page gives it and shows the document's title and summaries.
const renderer = vi.hoisted(() => ({ configurations: [] as unknown[], fail: false }));
vi.mock("@scalar/api-reference-react", () => ({
  ApiReferenceReact: ({ configuration }: { configuration: ReferenceConfiguration }) => {
    if (renderer.fail) throw new Error("the renderer broke");
    renderer.configurations.push(configuration);
    const doc = configuration.content as OpenApiDocument;
    const summaries = Object.values(doc.paths ?? {}).flatMap((item) =>
      Object.values(item as Record<string, { summary?: string }>).map((op) => op.summary ?? ""),
    );
    return (
      <div data-testid="scalar">
        <h2>{doc.info.title}</h2>
        <ul>
          {summaries.map((s) => (
            <li key={s}>{s}</li>
          ))}
        </ul>
      </div>
    );
  },
}));

const lastConfiguration = () => renderer.configurations.at(-1) as ReferenceConfiguration;
const location = () => screen.getByTestId("location").textContent;

const document: OpenApiDocument = {
  openapi: "3.1.0",
  info: { title: "AI Hub management API", version: "0.1.0", description: "Accounts, API keys, usage." },
  paths: {
    "/api/v1/developer/keys": {
      get: { tags: ["keys"], summary: "List your API keys", responses: { "200": { description: "The keys" } } },
    },
  },
  components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
};

/** A server that publishes the document (or answers `answer`). */
function docsServer(answer: () => Response | Promise<Response> = () => json(200, document), server = new FakeServer()) {
  return server.on("GET", "/openapi.json", answer);
}

beforeEach(async () => {
  renderer.configurations = [];
  renderer.fail = false;
  await i18n.changeLanguage("en");
});

describe("API reference page", () => {
  it("is public: loads the document for a signed-out reader and hands it to the renderer", async () => {
    let answer: (res: Response) => void = () => {};
    const server = docsServer(() => new Promise<Response>((resolve) => (answer = resolve)));
    renderApp("/docs/api", server);

    expect(await screen.findByRole("heading", { name: "API reference", level: 1 })).toBeInTheDocument();
    expect(screen.getByRole("status", { name: "Loading the API reference…" })).toBeInTheDocument();
    expect(screen.queryByTestId("scalar")).not.toBeInTheDocument();
    // No sign-in needed, and a way to sign in that comes back here.
    expect(location()).toBe("/docs/api");
    expect(screen.getByRole("link", { name: "Sign in" })).toHaveAttribute("href", "/login?next=%2Fdocs%2Fapi");
    expect(screen.getByRole("link", { name: "OpenAPI document (JSON)" })).toHaveAttribute("href", "/api/v1/openapi.json");

    await act(async () => answer(json(200, document)));
    const reference = within(await screen.findByTestId("scalar"));
    expect(reference.getByRole("heading", { name: "AI Hub management API" })).toBeInTheDocument();
    expect(reference.getByText("List your API keys")).toBeInTheDocument();
    expect(screen.queryByRole("status", { name: "Loading the API reference…" })).not.toBeInTheDocument();

    // One unauthenticated request for the document.
    const calls = server.calls("GET", "/openapi.json");
    expect(calls).toHaveLength(1);
    expect(calls[0]?.authorization).toBeNull();

    // The renderer gets the document itself, this origin as the server, and nothing online.
    const config = lastConfiguration();
    expect(config.content).toEqual(document);
    expect(config.servers).toEqual([{ url: window.location.origin, description: "This AI Hub server" }]);
    expect(config.proxyUrl).toBeUndefined();
    expect(config.withDefaultFonts).toBe(false);
    expect(config.telemetry).toBe(false);
    expect(config.agent).toEqual({ disabled: true });
    expect(config.mcp).toEqual({ disabled: true });
    expect(config.showDeveloperTools).toBe("never");
    expect(config.localization).toEqual({ locale: "en" });
  });

  it("is in the signed-in navigation and opens inside the app", async () => {
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
    renderApp("/", docsServer(undefined, sessionServer()));
    expect(await screen.findByRole("heading", { name: "Welcome, Ada" })).toBeInTheDocument();
    const nav = within(screen.getByRole("navigation", { name: "Main navigation" }));
    await userEvent.click(nav.getByRole("link", { name: "API reference" }));

    expect(location()).toBe("/docs/api");
    expect(await screen.findByRole("heading", { name: "API reference", level: 1 })).toBeInTheDocument();
    expect(await screen.findByTestId("scalar")).toHaveTextContent("AI Hub management API");
    // The app's shell, with the entry marked as the current page.
    const shell = within(screen.getByRole("navigation", { name: "Main navigation" }));
    expect(shell.getByRole("link", { name: "API reference" })).toHaveAttribute("aria-current", "page");
    expect(screen.getByRole("button", { name: "Account menu" })).toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "Sign in" })).not.toBeInTheDocument();
  });

  it("says when the server fails, and tries again", async () => {
    let fail = true;
    const server = docsServer(() => (fail ? apiError(500, "internal_error") : json(200, document)));
    renderApp("/docs/api", server);

    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("The API reference could not be loaded");
    expect(alert).toHaveTextContent("The server answered with an error (HTTP 500). Try again in a moment.");
    expect(screen.queryByTestId("scalar")).not.toBeInTheDocument();

    fail = false;
    await userEvent.click(within(alert).getByRole("button", { name: "Try again" }));
    expect(await screen.findByTestId("scalar")).toHaveTextContent("List your API keys");
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
    expect(server.calls("GET", "/openapi.json")).toHaveLength(2);
  });

  it.each([
    ["a server without the document", () => apiError(404, "not_found"), "This server does not publish an API description."],
    [
      "an answer that is not JSON",
      () => new Response("<!doctype html><p>portal</p>", { headers: { "content-type": "text/html" } }),
      "The server's answer is not an OpenAPI document.",
    ],
    ["JSON that is not OpenAPI", () => json(200, { hello: "world" }), "The server's answer is not an OpenAPI document."],
    [
      "no connection",
      () => Promise.reject(new TypeError("Failed to fetch")),
      "Can't reach the server. Check your connection and try again.",
    ],
  ])("explains %s", async (_, answer, message) => {
    renderApp("/docs/api", docsServer(answer));
    expect(await screen.findByRole("alert")).toHaveTextContent(message);
    expect(renderer.configurations).toHaveLength(0);
  });

  it("says so when the renderer itself fails, instead of a blank page", async () => {
    renderer.fail = true;
    vi.spyOn(console, "error").mockImplementation(() => {});
    renderApp("/docs/api", docsServer());
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("The reference viewer could not be loaded. Check your connection and try again.");
    expect(within(alert).getByRole("button", { name: "Try again" })).toBeInTheDocument();
    vi.mocked(console.error).mockRestore();
  });

  it("speaks Chinese, and so does the renderer", async () => {
    await i18n.changeLanguage("zh-CN");
    let answer: (res: Response) => void = () => {};
    renderApp("/docs/api", docsServer(() => new Promise<Response>((resolve) => (answer = resolve))));
    expect(await screen.findByRole("heading", { name: "API 参考", level: 1 })).toBeInTheDocument();
    expect(screen.getByRole("status", { name: "正在加载 API 参考…" })).toBeInTheDocument();
    await act(async () => answer(json(200, document)));
    await screen.findByTestId("scalar");
    expect(lastConfiguration().localization).toEqual({ locale: "zh-CN" });
    expect(lastConfiguration().servers).toEqual([{ url: window.location.origin, description: "本 AI Hub 服务器" }]);

    await act(() => i18n.changeLanguage("en"));
    await waitFor(() => expect(lastConfiguration().localization).toEqual({ locale: "en" }));
    expect(screen.getByRole("heading", { name: "API reference", level: 1 })).toBeInTheDocument();
  });

  it("shows Chinese errors too", async () => {
    await i18n.changeLanguage("zh-CN");
    renderApp("/docs/api", docsServer(() => apiError(503, "unavailable")));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("无法加载 API 参考");
    expect(alert).toHaveTextContent("服务器返回错误（HTTP 503），请稍后重试。");
    expect(within(alert).getByRole("button", { name: "重试" })).toBeInTheDocument();
  });
});
