import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { act, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../i18n";
import { REFRESH_TOKEN_KEY } from "../api/tokens";
import { FakeServer, sessionServer } from "../test/fakeServer";
import { renderApp } from "../test/renderApp";

// The real guides (control-plane/docs/guides), read here straight from the
// files, so these tests break when the portal's mapping of toc.json and the
// pages breaks (or a page does not start with its `# Title`).
const guidesDir = `${resolve(__dirname, "../../../docs/guides")}/`;

interface Section {
  id: string;
  title: { en: string; "zh-CN"?: string };
  pages: string[];
}
const toc = JSON.parse(readFileSync(`${guidesDir}toc.json`, "utf8")) as { sections: Section[] };
type Lang = "en" | "zh-CN";
const read = (lang: Lang, slug: string): string | null => {
  const path = `${guidesDir}${lang}/${slug}.md`;
  return existsSync(path) ? readFileSync(path, "utf8") : null;
};
const exists = (slug: string) => read("en", slug) !== null || read("zh-CN", slug) !== null;
const written = toc.sections.flatMap((s) => s.pages).filter(exists);
const sections = toc.sections.filter((s) => s.pages.some(exists));

/** The `# Title` on a page's first line. */
function title(text: string): string {
  const first = text.split("\n", 1)[0] ?? "";
  expect(first, "a guide starts with `# Title` on line 1").toMatch(/^# \S/);
  return first.slice(2).trim();
}

/** The paragraph after the title, roughly as text (emphasis, code and link marks dropped). */
function summary(text: string): string {
  const lines = text.split("\n").slice(1);
  const start = lines.findIndex((l) => l.trim() !== "");
  const end = lines.findIndex((l, i) => i > start && l.trim() === "");
  return lines
    .slice(start, end === -1 ? undefined : end)
    .join(" ")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/\*\*|`/g, "")
    .replace(/\s+/g, " ")
    .trim();
}

/** The `##` headings outside code blocks. */
function sectionHeadings(text: string): string[] {
  let fenced = false;
  const found: string[] = [];
  for (const line of text.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    else if (!fenced && line.startsWith("## ")) found.push(line.slice(3).trim());
  }
  return found;
}

const location = () => screen.getByTestId("location").textContent;

beforeEach(async () => {
  await i18n.changeLanguage("en");
});

describe("the documentation (real pages)", () => {
  it("has pages to show", () => {
    expect(written.length).toBeGreaterThan(0);
    expect(written).not.toContain("api"); // reserved for the API reference
  });

  it("lists toc.json's sections and every written page with its title and summary, signed out", async () => {
    renderApp("/docs", new FakeServer());
    expect(await screen.findByRole("heading", { level: 1, name: "Documentation" })).toBeInTheDocument();
    expect(location()).toBe("/docs");
    expect(screen.getByRole("link", { name: "Sign in" })).toHaveAttribute("href", "/login?next=%2Fdocs");

    const main = within(document.querySelector("article") as HTMLElement);
    expect(main.getAllByRole("heading", { level: 2 }).map((h) => h.textContent)).toEqual([
      ...sections.map((s) => s.title.en),
      "API reference",
    ]);
    const sidebar = within(screen.getByRole("navigation", { name: "Documentation" }));
    for (const slug of written) {
      const text = read("en", slug) ?? read("zh-CN", slug)!;
      const link = main.getByRole("link", { name: title(text) });
      expect(link).toHaveAttribute("href", `/docs/${slug}`);
      expect(link.closest("li")!.textContent).toContain(summary(text).slice(0, 30));
      expect(sidebar.getByRole("link", { name: title(text) })).toHaveAttribute("href", `/docs/${slug}`);
    }
  });

  it.each(["en", "zh-CN"] as const)("opens every written page from the sidebar, in %s", async (lang) => {
    await i18n.changeLanguage(lang);
    renderApp("/docs", new FakeServer());
    const sidebarName = lang === "en" ? "Documentation" : "文档";
    await screen.findByRole("heading", { level: 1, name: sidebarName });
    for (const slug of written) {
      const own = read(lang, slug);
      const text = own ?? read("en", slug)!;
      const sidebar = within(screen.getByRole("navigation", { name: sidebarName }));
      await userEvent.click(sidebar.getByRole("link", { name: title(text) }));
      expect(await screen.findByRole("heading", { level: 1, name: title(text) })).toBeInTheDocument();
      expect(location()).toBe(`/docs/${slug}`);
      const article = within(document.querySelector("article") as HTMLElement);
      // Chinese readers are told when a page is only in English.
      if (own === null) expect(article.getByRole("status")).toHaveTextContent("本页仅提供英文版。");
      else expect(article.queryByText("本页仅提供英文版。")).not.toBeInTheDocument();
      // Every ## heading is on the page and in "On this page", linked by its anchor.
      const headings = sectionHeadings(text);
      expect(article.getAllByRole("heading", { level: 2 })).toHaveLength(headings.length);
      if (headings.length > 0) {
        const toc = within(screen.getByRole("navigation", { name: lang === "en" ? "On this page" : "本页内容" }));
        const links = toc.getAllByRole("link");
        expect(links).toHaveLength(headings.length);
        for (const link of links) {
          const id = link.getAttribute("href")!.slice(1);
          expect(document.getElementById(id)?.tagName).toBe("H2");
        }
      }
    }
  });
});

describe("the navigation", () => {
  it("has a working Docs entry, no longer marked Soon", async () => {
    localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
    renderApp("/", sessionServer());
    expect(await screen.findByRole("heading", { name: "Welcome, Ada" })).toBeInTheDocument();
    const nav = within(screen.getByRole("navigation", { name: "Main navigation" }));
    expect(nav.queryByText("Soon")).not.toBeInTheDocument();
    await userEvent.click(nav.getByRole("link", { name: "Docs" }));

    expect(await screen.findByRole("heading", { level: 1, name: "Documentation" })).toBeInTheDocument();
    expect(location()).toBe("/docs");
    // Inside the app's shell, Docs is the current entry (and API reference is not).
    const shell = within(screen.getByRole("navigation", { name: "Main navigation" }));
    expect(shell.getByRole("link", { name: "Docs" })).toHaveAttribute("aria-current", "page");
    expect(shell.getByRole("link", { name: "API reference" })).not.toHaveAttribute("aria-current");
    expect(screen.queryByRole("link", { name: "Sign in" })).not.toBeInTheDocument();

    // A guide keeps Docs current; in Chinese the entry follows the language.
    const first = written[0]!;
    await userEvent.click(
      within(screen.getByRole("navigation", { name: "Documentation" })).getByRole("link", {
        name: title(read("en", first) ?? read("zh-CN", first)!),
      }),
    );
    expect(await screen.findByTestId("location")).toHaveTextContent(`/docs/${first}`);
    expect(shell.getByRole("link", { name: "Docs" })).toHaveAttribute("aria-current", "page");
    await act(async () => {
      await i18n.changeLanguage("zh-CN");
    });
    expect(shell.getByRole("link", { name: "文档" })).toHaveAttribute("href", "/docs");
  });
});
