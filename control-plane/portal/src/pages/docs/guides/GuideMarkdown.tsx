import type { ReactNode } from "react";
import Markdown from "react-markdown";
import type { Components } from "react-markdown";
import remarkGfm from "remark-gfm";
import type { Element, ElementContent } from "hast";
import { Link } from "react-router";
import { useTranslation } from "react-i18next";
import type { Language } from "../../../api/types";
import { CopyButton } from "../../keys/shared";
import { remarkHeadingIds, resolveLink } from "./library";

/**
 * One guide's Markdown: GitHub's flavour (tables, task lists, strikethrough),
 * headings with ids for anchors, code blocks with a copy button, links mapped
 * to the portal (`other.md` → `/docs/other`). Raw HTML in the Markdown
 * (the examples runner's `<!-- example: … -->` comments) is not rendered.
 */
export function GuideMarkdown({ text, language }: { text: string; language: Language }) {
  const components: Components = {
    a: ({ href, children }) => <GuideLink href={href ?? ""} language={language}>{children}</GuideLink>,
    pre: ({ node, children }) => <CodeBlock node={node}>{children}</CodeBlock>,
    table: ({ children }) => (
      <div className="docs-table">
        <table>{children}</table>
      </div>
    ),
  };
  return (
    <div className="docs-prose">
      <Markdown remarkPlugins={[remarkGfm, remarkHeadingIds]} skipHtml components={components}>
        {text}
      </Markdown>
    </div>
  );
}

function GuideLink({ href, language, children }: { href: string; language: Language; children: ReactNode }) {
  const target = resolveLink(href, language);
  switch (target.kind) {
    case "route":
      return <Link to={target.to}>{children}</Link>;
    case "anchor":
      return <a href={target.href}>{children}</a>;
    case "external":
      return (
        <a href={target.href} rel="noreferrer">
          {children}
        </a>
      );
    case "repo":
      // A file of the repository: not served here, so named rather than linked.
      return (
        <span className="docs-repo-ref" title={target.path}>
          {children}
        </span>
      );
  }
}

function CodeBlock({ node, children }: { node: Element | undefined; children: ReactNode }) {
  const { t } = useTranslation();
  const code = node?.children.find((c): c is Element => c.type === "element" && c.tagName === "code");
  const text = (code ? textOf(code) : node ? textOf(node) : "").replace(/\n$/, "");
  const language = languageOf(code);
  return (
    <div className="docs-code">
      <div className="docs-code-bar">
        <span className="docs-code-lang">{language}</span>
        <CopyButton text={text} label={t("guides.copyCode")} />
      </div>
      <pre>{children}</pre>
    </div>
  );
}

function textOf(node: ElementContent | Element): string {
  if (node.type === "text") return node.value;
  if (node.type === "element") return node.children.map(textOf).join("");
  return "";
}

/** `language-python` → `python`. */
function languageOf(code: Element | undefined): string {
  const classes = code?.properties?.className;
  const list = Array.isArray(classes) ? classes : [];
  const found = list.map(String).find((c) => c.startsWith("language-"));
  return found ? found.slice("language-".length) : "";
}
