import { Component, Suspense, lazy, useEffect } from "react";
import type { ReactNode } from "react";
import { useQuery } from "@tanstack/react-query";
import type { TFunction } from "i18next";
import { useTranslation } from "react-i18next";
import type { ApiClient } from "../../api/client";
import { ApiError } from "../../api/errors";
import type { OpenApiDocument } from "../../api/types";
import { useAuth } from "../../auth/AuthProvider";
import { Alert } from "../../components/Alert";
import { Spinner } from "../../components/Loader";
import { useDocumentTitle } from "../../lib/useDocumentTitle";
import "../../styles/docs.css";

/** Where the server publishes the document (same origin, public). */
export const OPENAPI_URL = "/api/v1/openapi.json";

// The renderer is a chunk of its own: fetched on the first visit to this
// page, alongside the document, and never part of the main bundle.
const loadViewer = () => import("./ApiReferenceViewer");
const ApiReferenceViewer = lazy(async () => ({ default: (await loadViewer()).ApiReferenceViewer }));

/** The document only changes with the server's version: read it once per visit to the app. */
export const openApiQuery = (client: ApiClient) => ({
  queryKey: ["openapi"] as const,
  queryFn: async (): Promise<OpenApiDocument> => {
    const doc = await client.getOpenApiDocument();
    if (!doc || typeof doc !== "object" || typeof doc.openapi !== "string" || typeof doc.info !== "object") {
      throw new ApiError(200, "unexpected_response", "the answer is not an OpenAPI document");
    }
    return doc;
  },
  staleTime: Infinity,
  refetchOnWindowFocus: false,
});

/**
 * `/docs/api`: the management API's reference, rendered from the OpenAPI
 * document the server serves. Public: signed-out readers see it in the
 * public docs shell, signed-in developers inside the app.
 */
export function ApiReferencePage() {
  const { t, i18n } = useTranslation();
  useDocumentTitle(t("apiDocs.title"));
  const { client } = useAuth();
  const doc = useQuery(openApiQuery(client));

  // Start on the renderer while the document is on its way.
  useEffect(() => {
    loadViewer().catch(() => {
      // The lazy component below reports the failure.
    });
  }, []);

  return (
    <div className="page page-wide api-docs-page">
      <div className="page-header">
        <h1 className="page-title">{t("apiDocs.title")}</h1>
        <p className="page-subtitle">{t("apiDocs.subtitle")}</p>
        <p className="small">
          <a href={OPENAPI_URL} target="_blank" rel="noreferrer">
            {t("apiDocs.rawDocument")}
          </a>
        </p>
      </div>
      {doc.isPending ? (
        <Loading />
      ) : doc.isError ? (
        <LoadError message={docsErrorMessage(t, doc.error)} onRetry={() => void doc.refetch()} retrying={doc.isFetching} />
      ) : (
        <ViewerBoundary
          // A chunk that failed once stays failed for React.lazy (and is often
          // gone after an upgrade): trying again means loading the page anew.
          fallback={<LoadError message={t("apiDocs.errors.viewer")} onRetry={() => window.location.reload()} />}
        >
          <Suspense fallback={<Loading />}>
            <ApiReferenceViewer
              document={doc.data}
              language={i18n.resolvedLanguage === "zh-CN" ? "zh-CN" : "en"}
              serverDescription={t("apiDocs.server")}
            />
          </Suspense>
        </ViewerBoundary>
      )}
    </div>
  );
}

function Loading() {
  const { t } = useTranslation();
  return (
    <p className="center-pad">
      <Spinner label={t("apiDocs.loading")} />
    </p>
  );
}

function LoadError({ message, onRetry, retrying = false }: { message: string; onRetry: () => void; retrying?: boolean }) {
  const { t } = useTranslation();
  return (
    <Alert
      tone="error"
      title={t("apiDocs.errors.title")}
      action={
        <button type="button" className="btn btn-secondary" onClick={onRetry} disabled={retrying}>
          {t("apiDocs.retry")}
        </button>
      }
    >
      {message}
    </Alert>
  );
}

/** Why the document could not be shown, in the reader's language. */
export function docsErrorMessage(t: TFunction, error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === "network_error") return t("errors.network_error");
    if (error.code === "unexpected_response") return t("apiDocs.errors.invalid");
    if (error.status === 404) return t("apiDocs.errors.unavailable");
    if (error.status > 0) return t("apiDocs.errors.status", { status: error.status });
  }
  return t("errors.generic");
}

/** Shows the error instead of a blank page when the renderer's chunk cannot be loaded or fails. */
class ViewerBoundary extends Component<{ fallback: ReactNode; children: ReactNode }, { failed: boolean }> {
  state = { failed: false };

  static getDerivedStateFromError(): { failed: boolean } {
    return { failed: true };
  }

  render() {
    return this.state.failed ? this.props.fallback : this.props.children;
  }
}
