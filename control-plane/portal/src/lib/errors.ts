import type { TFunction } from "i18next";
import { ApiError } from "../api/errors";

/**
 * A refusal in the reader's language: known codes are translated, an unknown
 * code shows the server's own message, anything else a generic sentence.
 */
export function errorMessage(t: TFunction, error: unknown): string {
  if (!(error instanceof ApiError)) return t("errors.generic");
  const detail = error.message;
  switch (error.code) {
    case "network_error":
      return t("errors.network_error");
    case "too_many_attempts":
      return error.retryAfterSecs
        ? t("errors.too_many_attempts", { minutes: Math.max(1, Math.ceil(error.retryAfterSecs / 60)) })
        : t("errors.too_many_attempts_later");
    case "weak_password":
      return t("errors.weak_password", { detail });
    case "invalid_request":
      return t("errors.invalid_request", { detail });
    case "invalid_credentials":
    case "account_suspended":
    case "invalid_token":
    case "signup_closed":
    case "invalid_invite":
    case "email_taken":
    case "wrong_password":
    case "unauthorized":
    case "email_not_verified":
    case "not_found":
      return t(`errors.${error.code}`);
    case "unexpected_response":
    case "internal_error":
      return t("errors.generic");
    default:
      return detail || t("errors.generic");
  }
}
