/**
 * The developer guides as data: the table of contents
 * (`control-plane/docs/guides/toc.json`) and the Markdown pages
 * (`control-plane/docs/guides/<lang>/<slug>.md`), with what the viewer needs
 * from each page (title, summary, the `##` headings and their anchors) and
 * how links inside a page map to the portal. Pure functions: `content.ts`
 * feeds them the files bundled at build time, tests can feed them others.
 */
import GithubSlugger from "github-slugger";
import type { Heading, Root } from "mdast";
import { toString } from "mdast-util-to-string";
import remarkGfm from "remark-gfm";
import remarkParse from "remark-parse";
import { unified } from "unified";
import { visit } from "unist-util-visit";
import type { Language } from "../../../api/types";

/** toc.json as written. */
export interface TocFile {
  sections: {
    id: string;
    title: Partial<Record<Language, string>> & { en: string };
    audience?: string;
    pages: string[];
  }[];
}

export interface DocPage {
  slug: string;
  /** The Markdown of each language the page exists in (English for operator pages only). */
  source: Partial<Record<Language, string>>;
}

export interface DocSection {
  id: string;
  title: Partial<Record<Language, string>> & { en: string };
  audience: string;
  /** Pages listed in toc.json that exist, in toc order. */
  pages: DocPage[];
}

export interface DocsLibrary {
  /** Sections with at least one existing page. */
  sections: DocSection[];
  /** Every page with a file, listed in toc.json or not, by slug. */
  pages: Map<string, DocPage>;
  /** The pages of the sections in reading order (previous/next). */
  order: string[];
}

/** The slug reserved for the API reference (`/docs/api`, its own page). */
export const API_SLUG = "api";

const PATH_RE = /(?:^|\/)([^/]+)\/([^/]+)\.md$/;

/**
 * Builds the library from toc.json and files keyed by a path ending in
 * `<lang>/<slug>.md`. Pages listed in the toc without a file are left out
 * (the set grows as pages are written), and so are empty sections.
 */
export function buildLibrary(toc: TocFile, files: Record<string, string>): DocsLibrary {
  const pages = new Map<string, DocPage>();
  for (const [path, text] of Object.entries(files)) {
    const match = PATH_RE.exec(path);
    if (!match) continue;
    const [, lang, slug] = match as unknown as [string, string, string];
    if (lang !== "en" && lang !== "zh-CN") continue;
    if (slug === API_SLUG) continue;
    const page = pages.get(slug) ?? { slug, source: {} };
    page.source[lang] = text;
    pages.set(slug, page);
  }
  const sections: DocSection[] = [];
  for (const section of toc.sections) {
    const existing = section.pages.flatMap((slug) => {
      const page = pages.get(slug);
      return page ? [page] : [];
    });
    if (existing.length === 0) continue;
    sections.push({
      id: section.id,
      title: section.title,
      audience: section.audience ?? "developers",
      pages: existing,
    });
  }
  const order = [...new Set(sections.flatMap((s) => s.pages.map((p) => p.slug)))];
  return { sections, pages, order };
}

/** The page's text in `language`, else English (`fallback` then says so). */
export function pageSource(page: DocPage, language: Language): { text: string; language: Language; fallback: boolean } {
  const own = page.source[language];
  if (own !== undefined) return { text: own, language, fallback: false };
  const en = page.source.en;
  if (en !== undefined) return { text: en, language: "en", fallback: language !== "en" };
  // A page written only in Chinese: show it rather than nothing.
  return { text: page.source["zh-CN"] ?? "", language: "zh-CN", fallback: false };
}

export function sectionTitle(section: DocSection, language: Language): string {
  return section.title[language] ?? section.title.en;
}

export interface TocEntry {
  id: string;
  text: string;
}

export interface PageInfo {
  /** The first `# ` heading (the slug if the page has none). */
  title: string;
  /** The first paragraph after the title, as plain text. */
  summary: string;
  /** The `##` headings with their anchors. */
  headings: TocEntry[];
}

const parser = unified().use(remarkParse).use(remarkGfm);
const infoCache = new Map<string, PageInfo>();
const introCache = new Map<string, Pick<PageInfo, "title" | "summary">>();

/**
 * Title and summary only, from the page's opening (up to its first `##`):
 * what the overview and the sidebar need for every page, without parsing
 * every page whole.
 */
export function pageIntro(text: string, slug: string): Pick<PageInfo, "title" | "summary"> {
  let intro = introCache.get(text);
  if (!intro) {
    const end = text.search(/^## /m);
    const { title, summary } = pageInfo(end === -1 ? text : text.slice(0, end), slug, false);
    intro = { title, summary };
    introCache.set(text, intro);
  }
  return { ...intro, title: intro.title || slug };
}

/** Title, summary and `##` headings of a page's Markdown (cached per text). */
export function pageInfo(text: string, slug: string, cache = true): PageInfo {
  const cached = cache ? infoCache.get(text) : undefined;
  if (cached) return { ...cached, title: cached.title || slug };
  const tree = parser.parse(text);
  assignHeadingIds(tree);
  let title = "";
  let summary = "";
  const headings: TocEntry[] = [];
  for (const node of tree.children) {
    if (node.type === "heading") {
      if (node.depth === 1 && !title) title = toString(node);
      if (node.depth === 2) headings.push({ id: headingId(node), text: toString(node) });
    } else if (node.type === "paragraph" && title && !summary && headings.length === 0) {
      summary = toString(node).replace(/\s+/g, " ").trim();
    }
  }
  const info = { title: title.trim(), summary, headings };
  if (cache) infoCache.set(text, info);
  return { ...info, title: title || slug };
}

/**
 * Gives every heading an id from its text, GitHub's way (`## Rate limits` →
 * `rate-limits`, repeats get `-1`, `-2`), in document order. The viewer's
 * remark plugin and `pageInfo` both use this, so the on-page table of
 * contents and the rendered headings always agree.
 */
export function assignHeadingIds(tree: Root): void {
  const slugger = new GithubSlugger();
  visit(tree, "heading", (node: Heading) => {
    const id = slugger.slug(toString(node));
    node.data = { ...node.data, hProperties: { ...node.data?.hProperties, id } };
  });
}

function headingId(node: Heading): string {
  const id = node.data?.hProperties?.id;
  return typeof id === "string" ? id : "";
}

/** remark plugin form of `assignHeadingIds`. */
export function remarkHeadingIds() {
  return (tree: Root) => assignHeadingIds(tree);
}

/** Where a link in a page leads. */
export type LinkTarget =
  | { kind: "route"; to: string } // a page of the portal (router link)
  | { kind: "anchor"; href: string } // a heading of this page
  | { kind: "external"; href: string } // another site, mail
  | { kind: "repo"; path: string }; // a file of the repository, not served by the portal

const GUIDE_LINK_RE = /^(?:\.\/)?([A-Za-z0-9_-]+)\.md(#.*)?$/;
const SCHEME_RE = /^[a-z][a-z0-9+.-]*:/i;

/**
 * Maps a link of a page written in `language`: `other.md#part` →
 * `/docs/other#part`, `/docs/api` and other absolute paths stay in the
 * portal (but `/api/…` and `/v1/…` are the server's, loaded as such), `#part` stays on the page, `https:`/`mailto:` links leave, and
 * anything else relative (`../../webhooks.md`) is a file of the repository,
 * resolved from `control-plane/docs/guides/<language>/`.
 */
export function resolveLink(href: string, language: Language): LinkTarget {
  if (SCHEME_RE.test(href) || href.startsWith("//")) return { kind: "external", href };
  if (href.startsWith("#")) return { kind: "anchor", href };
  // The server's own paths (the APIs, the OpenAPI document) are not pages of the app.
  if (/^\/(api|v1)(\/|$)/.test(href)) return { kind: "external", href };
  if (href.startsWith("/")) return { kind: "route", to: href };
  const guide = GUIDE_LINK_RE.exec(href);
  if (guide) {
    const [, slug, hash] = guide as unknown as [string, string, string | undefined];
    return { kind: "route", to: `/docs/${slug}${hash ?? ""}` };
  }
  return { kind: "repo", path: repoPath(href, language) };
}

/** `href` relative to `control-plane/docs/guides/<language>/`, as a repository path. */
function repoPath(href: string, language: Language): string {
  const parts = ["control-plane", "docs", "guides", language];
  for (const part of href.split(/[?#]/)[0]!.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/");
}
