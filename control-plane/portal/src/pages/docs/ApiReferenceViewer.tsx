/**
 * The interactive reference itself: Scalar's renderer, a chunk of its own
 * (`ApiReferencePage` loads it), bundled with the portal. Nothing is fetched
 * from elsewhere: the document comes from the page, the fonts are the
 * portal's, and Scalar's online extras (telemetry, the AI agent, MCP, the
 * developer toolbar, its request proxy) are off, so "try it" calls go
 * straight to this server.
 */
import { useMemo } from "react";
import { ApiReferenceReact } from "@scalar/api-reference-react";
import type { ApiReferenceConfigurationWithMultipleSources } from "@scalar/api-reference-react";
import "@scalar/api-reference-react/style.css";
import type { Language, OpenApiDocument } from "../../api/types";

/** Scalar's options for one document given inline. */
export type ReferenceConfiguration = Partial<ApiReferenceConfigurationWithMultipleSources>;

/** The portal's fonts and brand colour inside the renderer. */
const CUSTOM_CSS = `
.scalar-app {
  --scalar-font: var(--font);
  --scalar-font-code: var(--mono);
}
.scalar-app.light-mode,
.light-mode .scalar-app {
  --scalar-color-accent: var(--brand);
}
`;

/** What the renderer is given: the document, this origin as the only server, nothing online. */
export function referenceConfiguration(
  document: OpenApiDocument,
  language: Language,
  serverDescription: string,
  origin: string = window.location.origin,
): ReferenceConfiguration {
  return {
    content: document,
    // "Try it" calls this server (the document's paths start with /api/v1).
    servers: [{ url: origin, description: serverDescription }],
    // No request proxy: calls are same-origin.
    proxyUrl: undefined,
    // The portal's own fonts instead of fonts.scalar.com.
    withDefaultFonts: false,
    customCss: CUSTOM_CSS,
    telemetry: false,
    agent: { disabled: true },
    mcp: { disabled: true },
    showDeveloperTools: "never",
    // The portal is light only.
    forceDarkModeState: "light",
    hideDarkModeToggle: true,
    documentDownloadType: "json",
    persistAuth: false,
    localization: { locale: language },
  };
}

export function ApiReferenceViewer({
  document,
  language,
  serverDescription,
}: {
  document: OpenApiDocument;
  language: Language;
  serverDescription: string;
}) {
  // A new object only when something changed: the wrapper reconfigures on every new one.
  const configuration = useMemo(
    () => referenceConfiguration(document, language, serverDescription),
    [document, language, serverDescription],
  );
  return (
    <div className="api-reference" data-testid="api-reference">
      <ApiReferenceReact configuration={configuration} />
    </div>
  );
}
