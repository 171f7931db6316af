import { beforeEach, describe, expect, it, vi } from "vitest";
import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../i18n";
import { FakeServer } from "../test/fakeServer";
import { renderApp } from "../test/renderApp";

// A small library of pages written for these tests (guides.test.tsx checks
// the real toc.json and pages): what the viewer does with each kind of
// Markdown, link and language.
const fixture = vi.hoisted(() => ({
  toc: {
    sections: [
      { id: "start", title: { en: "Get started", "zh-CN": "入门" }, audience: "developers", pages: ["quickstart", "missing"] },
      { id: "guides", title: { en: "Guides", "zh-CN": "指南" }, audience: "developers", pages: ["streaming"] },
      { id: "empty", title: { en: "Nothing yet", "zh-CN": "暂无" }, audience: "developers", pages: ["not-written"] },
      { id: "operators", title: { en: "Operators", "zh-CN": "运营者" }, audience: "operators", pages: ["operator-install"] },
    ],
  },
  files: {
    "../docs/guides/en/quickstart.md": [
      "# Quick start",
      "",
      "Get a key and make your **first call** in a minute.",
      "",
      "## Get a key",
      "",
      "Create one under API keys, or read [the streaming guide](streaming.md) and",
      "[how retries work](streaming.md#retries), or the [API reference](/docs/api),",
      "or [OpenAI's docs](https://platform.openai.com/docs), or [jump below](#call-the-api).",
      "The [webhooks detail](../../webhooks.md) lives in the repository, [the OpenAPI document](/api/v1/openapi.json) on the server.",
      "",
      "| model | context |",
      "| --- | --- |",
      "| `gpt-4o-mini` | 128k |",
      "",
      "## Call the API",
      "",
      "<!-- example: skip: needs a running server -->",
      "```sh",
      'curl -fsS "$AIHUB_BASE_URL/models" \\',
      '  -H "Authorization: Bearer $AIHUB_API_KEY"',
      "```",
      "",
      "### Call the API",
      "",
      "A sub-heading with the same words.",
    ].join("\n"),
    "../docs/guides/zh-CN/quickstart.md": [
      "# 快速开始",
      "",
      "一分钟内获取密钥并发出**第一个请求**。",
      "",
      "## 获取密钥",
      "",
      "阅读[流式输出指南](streaming.md)。",
    ].join("\n"),
    "../docs/guides/en/streaming.md": ["# Streaming", "", "Tokens as they are generated.", "", "## Retries", "", "Try again."].join(
      "\n",
    ),
    "../docs/guides/zh-CN/streaming.md": ["# 流式输出", "", "边生成边返回。", "", "## 重试", "", "再试一次。"].join("\n"),
    "../docs/guides/en/operator-install.md": ["# Installing AI Hub", "", "For operators: one machine.", "", "## Requirements"].join(
      "\n",
    ),
    "../docs/guides/en/orphan.md": "# Not in the contents\n\nReachable by address only.",
  } as Record<string, string>,
}));

vi.mock("./docs/guides/content", async () => {
  const { buildLibrary } = await import("./docs/guides/library");
  return { library: buildLibrary(fixture.toc, fixture.files) };
});

const location = () => screen.getByTestId("location").textContent;
const article = () => within(document.querySelector("article") as HTMLElement);

beforeEach(async () => {
  await i18n.changeLanguage("en");
});

describe("a guide page", () => {
  it("renders headings with anchors, tables and code with a copy button, and no HTML comments", async () => {
    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    renderApp("/docs/quickstart", new FakeServer());

    const title = await screen.findByRole("heading", { level: 1, name: "Quick start" });
    expect(title).toHaveAttribute("id", "quick-start");
    expect(document.title).toBe("Quick start · AI Hub");
    expect(screen.getByRole("heading", { level: 2, name: "Get a key" })).toHaveAttribute("id", "get-a-key");
    expect(screen.getByRole("heading", { level: 2, name: "Call the API" })).toHaveAttribute("id", "call-the-api");
    // Repeated words get a distinct anchor.
    expect(screen.getByRole("heading", { level: 3, name: "Call the API" })).toHaveAttribute("id", "call-the-api-1");

    const table = within(screen.getByRole("table"));
    expect(table.getByRole("columnheader", { name: "model" })).toBeInTheDocument();
    expect(table.getByRole("cell", { name: "gpt-4o-mini" })).toBeInTheDocument();

    // The runner's directive is not shown; the block is, with its language and a copy button.
    expect(document.body.textContent).not.toContain("example: skip");
    const code = document.querySelector(".docs-code") as HTMLElement;
    expect(within(code).getByText("sh")).toBeInTheDocument();
    await userEvent.click(within(code).getByRole("button", { name: "Copy code" }));
    expect(writeText).toHaveBeenCalledWith('curl -fsS "$AIHUB_BASE_URL/models" \\\n  -H "Authorization: Bearer $AIHUB_API_KEY"');
    expect(await within(code).findByRole("button", { name: "Copied" })).toBeInTheDocument();

    // The on-page contents: the ## headings, linking to their anchors.
    const toc = within(screen.getByRole("navigation", { name: "On this page" }));
    expect(toc.getAllByRole("link").map((a) => [a.textContent, a.getAttribute("href")])).toEqual([
      ["Get a key", "#get-a-key"],
      ["Call the API", "#call-the-api"],
    ]);
  });

  it("maps links: guides and /docs/api to the portal, anchors stay, other sites leave, repository files are named", async () => {
    renderApp("/docs/quickstart", new FakeServer());
    await screen.findByRole("heading", { level: 1, name: "Quick start" });
    const page = article();

    expect(page.getByRole("link", { name: "the streaming guide" })).toHaveAttribute("href", "/docs/streaming");
    expect(page.getByRole("link", { name: "how retries work" })).toHaveAttribute("href", "/docs/streaming#retries");
    expect(page.getByRole("link", { name: "API reference" })).toHaveAttribute("href", "/docs/api");
    expect(page.getByRole("link", { name: "OpenAI's docs" })).toHaveAttribute("href", "https://platform.openai.com/docs");
    expect(page.getByRole("link", { name: "jump below" })).toHaveAttribute("href", "#call-the-api");
    expect(page.getByRole("link", { name: "the OpenAPI document" })).toHaveAttribute("href", "/api/v1/openapi.json");
    expect(page.queryByRole("link", { name: "webhooks detail" })).not.toBeInTheDocument();
    expect(page.getByText("webhooks detail")).toHaveAttribute("title", "control-plane/docs/webhooks.md");

    // A guide link is a router link: the page changes in place.
    await userEvent.click(page.getByRole("link", { name: "how retries work" }));
    expect(await screen.findByRole("heading", { level: 1, name: "Streaming" })).toBeInTheDocument();
    expect(location()).toBe("/docs/streaming");
    expect(screen.getByRole("heading", { level: 2, name: "Retries" })).toHaveAttribute("id", "retries");
  });

  it("leaves the server's own paths to the browser and opens /docs/api in the app", async () => {
    renderApp("/docs/quickstart", new FakeServer());
    await screen.findByRole("heading", { level: 1, name: "Quick start" });
    const page = article();
    // The server's own paths load as pages of their own: the router leaves the click to the browser.
    const handledByRouter: boolean[] = [];
    const onClick = (e: MouseEvent) => {
      handledByRouter.push(e.defaultPrevented);
      e.preventDefault(); // jsdom cannot load pages
    };
    window.addEventListener("click", onClick);
    await userEvent.click(page.getByRole("link", { name: "the OpenAPI document" }));
    await userEvent.click(page.getByRole("link", { name: "API reference" }));
    window.removeEventListener("click", onClick);
    expect(handledByRouter).toEqual([false, true]);
    expect(await screen.findByRole("heading", { level: 1, name: "API reference" })).toBeInTheDocument();
    expect(location()).toBe("/docs/api");
  });

  it("links the previous and next pages in the contents' order", async () => {
    renderApp("/docs/quickstart", new FakeServer());
    await screen.findByRole("heading", { level: 1, name: "Quick start" });
    let pager = within(screen.getByRole("navigation", { name: "Previous and next page" }));
    expect(pager.queryByRole("link", { name: /Previous/ })).not.toBeInTheDocument();
    await userEvent.click(pager.getByRole("link", { name: "Next Streaming" }));

    expect(await screen.findByRole("heading", { level: 1, name: "Streaming" })).toBeInTheDocument();
    pager = within(screen.getByRole("navigation", { name: "Previous and next page" }));
    expect(pager.getByRole("link", { name: "Previous Quick start" })).toHaveAttribute("href", "/docs/quickstart");
    // Sections without written pages are skipped; the operators' section follows.
    expect(pager.getByRole("link", { name: "Next Installing AI Hub" })).toHaveAttribute("href", "/docs/operator-install");
  });

  it("opens a page that is not in the contents by its address", async () => {
    renderApp("/docs/orphan", new FakeServer());
    expect(await screen.findByRole("heading", { level: 1, name: "Not in the contents" })).toBeInTheDocument();
    expect(screen.queryByRole("navigation", { name: "Previous and next page" })).not.toBeInTheDocument();
  });

  it("says so for an unknown page and leads back to the overview", async () => {
    renderApp("/docs/no-such-page", new FakeServer());
    expect(await screen.findByRole("heading", { level: 1, name: "Page not found" })).toBeInTheDocument();
    expect(screen.getByText(/There is no guide called “no-such-page”/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole("link", { name: "All documentation" }));
    expect(await screen.findByRole("heading", { level: 1, name: "Documentation" })).toBeInTheDocument();
    expect(location()).toBe("/docs");
  });
});

describe("the overview", () => {
  it("lists the sections with written pages, their titles and summaries, and the API reference", async () => {
    renderApp("/docs", new FakeServer());
    expect(await screen.findByRole("heading", { level: 1, name: "Documentation" })).toBeInTheDocument();
    const main = within(document.querySelector("article") as HTMLElement);
    expect(main.getAllByRole("heading", { level: 2 }).map((h) => h.textContent)).toEqual([
      "Get started",
      "Guides",
      "Operators",
      "API reference",
    ]);
    const card = within(main.getByRole("link", { name: "Quick start" }).closest("li") as HTMLElement);
    expect(card.getByText("Get a key and make your first call in a minute.")).toBeInTheDocument();
    expect(main.getByRole("link", { name: "Streaming" })).toHaveAttribute("href", "/docs/streaming");
    expect(main.getByRole("link", { name: "API reference" })).toHaveAttribute("href", "/docs/api");
    expect(main.queryByText("Not in the contents")).not.toBeInTheDocument();
    expect(main.queryByText("English")).not.toBeInTheDocument();
  });
});

describe("languages", () => {
  it("shows the Chinese page, follows a language switch, and falls back to English with a notice", async () => {
    await i18n.changeLanguage("zh-CN");
    renderApp("/docs/quickstart", new FakeServer());
    expect(await screen.findByRole("heading", { level: 1, name: "快速开始" })).toBeInTheDocument();
    expect(screen.getByRole("heading", { level: 2, name: "获取密钥" })).toBeInTheDocument();
    expect(article().getByRole("link", { name: "流式输出指南" })).toHaveAttribute("href", "/docs/streaming");
    expect(screen.queryByText("本页仅提供英文版。")).not.toBeInTheDocument();
    const sidebar = within(screen.getByRole("navigation", { name: "文档" }));
    expect(sidebar.getByText("入门")).toBeInTheDocument();
    expect(sidebar.getByRole("link", { name: "流式输出" })).toHaveAttribute("href", "/docs/streaming");

    // Switching language updates the page at once.
    await act(async () => {
      await i18n.changeLanguage("en");
    });
    expect(await screen.findByRole("heading", { level: 1, name: "Quick start" })).toBeInTheDocument();
    await act(async () => {
      await i18n.changeLanguage("zh-CN");
    });
    expect(await screen.findByRole("heading", { level: 1, name: "快速开始" })).toBeInTheDocument();

    // An English-only page: the English text under a notice in Chinese.
    await userEvent.click(sidebar.getByRole("link", { name: "Installing AI Hub" }));
    expect(await screen.findByRole("heading", { level: 1, name: "Installing AI Hub" })).toBeInTheDocument();
    expect(article().getByRole("status")).toHaveTextContent("本页仅提供英文版。");
    expect(document.querySelector("article")).toHaveAttribute("lang", "en");
    expect(screen.getByRole("navigation", { name: "本页内容" })).toBeInTheDocument();
  });

  it("marks English-only pages in the Chinese overview", async () => {
    await i18n.changeLanguage("zh-CN");
    renderApp("/docs", new FakeServer());
    expect(await screen.findByRole("heading", { level: 1, name: "文档" })).toBeInTheDocument();
    const main = within(document.querySelector("article") as HTMLElement);
    expect(main.getByRole("heading", { level: 2, name: "运营者" })).toBeInTheDocument();
    expect(within(main.getByRole("link", { name: "快速开始" }).closest("li") as HTMLElement).queryByText("英文")).toBeNull();
    const operator = within(main.getByRole("link", { name: "Installing AI Hub" }).closest("li") as HTMLElement);
    expect(operator.getByText("英文")).toBeInTheDocument();
    await waitFor(() => expect(document.title).toBe("文档 · AI Hub"));
  });
});
