/**
 * The developer guides (`/docs`, `/docs/:slug`): a chunk of its own (with
 * the Markdown renderer and the bundled pages), loaded on the first visit.
 */
import { useEffect, useRef } from "react";
import type { ReactNode } from "react";
import { Link, NavLink, useLocation, useParams } from "react-router";
import { useTranslation } from "react-i18next";
import type { Language } from "../../../api/types";
import { Alert } from "../../../components/Alert";
import { useDocumentTitle } from "../../../lib/useDocumentTitle";
import { library as bundled } from "./content";
import { GuideMarkdown } from "./GuideMarkdown";
import { pageInfo, pageIntro, pageSource, sectionTitle } from "./library";
import type { DocPage, DocsLibrary } from "./library";
import "../../../styles/guides.css";

function useLanguage(): Language {
  const { i18n } = useTranslation();
  return i18n.resolvedLanguage === "zh-CN" ? "zh-CN" : "en";
}

/** A page's title and summary in `language` (English when it has no such version). */
function describe(page: DocPage, language: Language) {
  const source = pageSource(page, language);
  return { ...pageIntro(source.text, page.slug), fallback: source.fallback };
}

/** `/docs`: every section and its pages, with their summaries. */
export function DocsHomePage({ library = bundled }: { library?: DocsLibrary }) {
  const { t } = useTranslation();
  const language = useLanguage();
  useDocumentTitle(t("guides.title"));
  return (
    <DocsFrame library={library} language={language}>
      <article className="docs-article">
        <h1 className="page-title">{t("guides.title")}</h1>
        <p className="page-subtitle">{t("guides.subtitle")}</p>
        {library.sections.map((section) => (
          <section key={section.id} className="docs-home-section" aria-labelledby={`docs-section-${section.id}`}>
            <h2 id={`docs-section-${section.id}`}>{sectionTitle(section, language)}</h2>
            <ul className="docs-home-list">
              {section.pages.map((page) => {
                const info = describe(page, language);
                return (
                  <li key={page.slug} className="card docs-home-card">
                    <h3>
                      <Link to={`/docs/${page.slug}`}>{info.title}</Link>
                    </h3>
                    {info.summary && <p className="muted small">{info.summary}</p>}
                    {info.fallback && <span className="badge">{t("guides.englishBadge")}</span>}
                  </li>
                );
              })}
            </ul>
          </section>
        ))}
        <section className="docs-home-section" aria-labelledby="docs-section-api">
          <h2 id="docs-section-api">{t("nav.apiReference")}</h2>
          <ul className="docs-home-list">
            <li className="card docs-home-card">
              <h3>
                <Link to="/docs/api">{t("apiDocs.title")}</Link>
              </h3>
              <p className="muted small">{t("apiDocs.subtitle")}</p>
            </li>
          </ul>
        </section>
      </article>
    </DocsFrame>
  );
}

/** `/docs/:slug`: one guide, with the on-page contents and previous/next links. */
export function DocsGuidePage({ library = bundled }: { library?: DocsLibrary }) {
  const { t } = useTranslation();
  const language = useLanguage();
  const { slug = "" } = useParams();
  const page = library.pages.get(slug);
  const source = page ? pageSource(page, language) : null;
  const info = page && source ? pageInfo(source.text, slug) : null;
  useDocumentTitle(info ? info.title : t("guides.notFound.title"));
  useScrollOnNavigation(slug, source?.text);

  if (!page || !source || !info) {
    return (
      <DocsFrame library={library} language={language}>
        <article className="docs-article">
          <h1 className="page-title">{t("guides.notFound.title")}</h1>
          <p className="page-subtitle">{t("guides.notFound.body", { slug })}</p>
          <p>
            <Link className="btn btn-primary" to="/docs">
              {t("guides.notFound.back")}
            </Link>
          </p>
        </article>
      </DocsFrame>
    );
  }

  const at = library.order.indexOf(slug);
  const previous = at > 0 ? library.pages.get(library.order[at - 1]!) : undefined;
  const next = at >= 0 ? library.pages.get(library.order[at + 1] ?? "") : undefined;

  return (
    <DocsFrame
      library={library}
      language={language}
      aside={
        info.headings.length > 0 && (
          <nav className="docs-toc" aria-labelledby="docs-toc-title">
            <p id="docs-toc-title" className="docs-nav-heading">
              {t("guides.onThisPage")}
            </p>
            <ul>
              {info.headings.map((h) => (
                <li key={h.id}>
                  <a href={`#${h.id}`}>{h.text}</a>
                </li>
              ))}
            </ul>
          </nav>
        )
      }
    >
      <article className="docs-article" lang={source.language}>
        {source.fallback && (
          <div lang={language}>
            <Alert tone="info">{t("guides.englishOnly")}</Alert>
          </div>
        )}
        <GuideMarkdown text={source.text} language={source.language} />
        {(previous || next) && (
          <nav className="docs-pager" aria-label={t("guides.pager")} lang={language}>
            {previous ? <PagerLink page={previous} language={language} rel="prev" /> : <span />}
            {next && <PagerLink page={next} language={language} rel="next" />}
          </nav>
        )}
      </article>
    </DocsFrame>
  );
}

function PagerLink({ page, language, rel }: { page: DocPage; language: Language; rel: "prev" | "next" }) {
  const { t } = useTranslation();
  const { title } = describe(page, language);
  return (
    <Link to={`/docs/${page.slug}`} rel={rel} className={`card docs-pager-link docs-pager-${rel}`}>
      <span className="muted small">{rel === "prev" ? t("guides.previous") : t("guides.next")}</span>{" "}
      <span className="docs-pager-title">{title}</span>
    </Link>
  );
}

/** The sections and their pages beside the content (above it on phones). */
function DocsFrame({
  library,
  language,
  aside,
  children,
}: {
  library: DocsLibrary;
  language: Language;
  aside?: ReactNode;
  children: ReactNode;
}) {
  const { t } = useTranslation();
  return (
    <div className={`docs-frame${aside ? " docs-frame-toc" : ""}`}>
      <nav className="docs-sidebar" aria-label={t("guides.sidebar")}>
        <ul>
          <li>
            <NavLink to="/docs" end>
              {t("guides.overview")}
            </NavLink>
          </li>
        </ul>
        {library.sections.map((section) => (
          <div key={section.id}>
            <p className="docs-nav-heading">{sectionTitle(section, language)}</p>
            <ul>
              {section.pages.map((page) => (
                <li key={page.slug}>
                  <NavLink to={`/docs/${page.slug}`}>{describe(page, language).title}</NavLink>
                </li>
              ))}
            </ul>
          </div>
        ))}
        <p className="docs-nav-heading">{t("guides.reference")}</p>
        <ul>
          <li>
            <NavLink to="/docs/api">{t("nav.apiReference")}</NavLink>
          </li>
        </ul>
      </nav>
      <div className="docs-content">{children}</div>
      {aside && <div className="docs-aside">{aside}</div>}
    </div>
  );
}

/**
 * A new page starts at its top, or at the heading its address names
 * (`/docs/streaming#retries`), once the page is on screen.
 */
function useScrollOnNavigation(slug: string, text: string | undefined) {
  const { hash } = useLocation();
  const last = useRef<string | null>(null);
  useEffect(() => {
    const key = `${slug}${hash}`;
    if (text === undefined || last.current === key) return;
    last.current = key;
    const id = hash ? decodeURIComponent(hash.slice(1)) : "";
    const target = id ? document.getElementById(id) : null;
    if (target) target.scrollIntoView?.({ block: "start" });
    else document.querySelector(".docs-frame")?.scrollIntoView?.({ block: "start" });
  }, [slug, hash, text]);
}
