import type { TFunction } from "i18next";
import { useTranslation } from "react-i18next";
import { ApiError } from "../../api/errors";
import { Alert } from "../../components/Alert";
import { Spinner } from "../../components/Loader";
import { errorMessage } from "../../lib/errors";

/** The analytics routes' refusals in the reader's language, then the app's usual messages. */
export function analyticsErrorMessage(t: TFunction, error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 404) return t("analytics.errors.unavailable");
    if (error.status === 403) return t("analytics.errors.forbidden");
    if (error.code === "invalid_request") return t("analytics.errors.invalid", { detail: error.message });
  }
  return errorMessage(t, error);
}

/** A section's loading spinner or error; nothing once there is data. */
export function QueryState({
  query,
}: {
  query: { isPending: boolean; isError: boolean; error: unknown; data?: unknown };
}) {
  const { t } = useTranslation();
  if (query.isError && query.data === undefined) {
    return <Alert tone="error">{analyticsErrorMessage(t, query.error)}</Alert>;
  }
  if (query.isPending) {
    return (
      <p className="center-pad">
        <Spinner label={t("common.loading")} />
      </p>
    );
  }
  return null;
}
