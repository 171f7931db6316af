import { useRef } from "react";
import { useTranslation } from "react-i18next";
import type { TFunction } from "i18next";
import { NavLink } from "react-router";
import { useAuth } from "../../auth/AuthProvider";
import { billingApi } from "../../api/billing";
import type { BillingApi, InvoiceStatus, Money } from "../../api/billing";
import { ApiError } from "../../api/errors";
import { errorMessage } from "../../lib/errors";

export const BILLING_QUERY = ["billing"] as const;
export const BILLING_OVERVIEW_QUERY = [...BILLING_QUERY, "overview"] as const;
export const PLANS_QUERY = [...BILLING_QUERY, "plans"] as const;
export const TRANSACTIONS_QUERY = [...BILLING_QUERY, "transactions"] as const;
export const INVOICES_QUERY = [...BILLING_QUERY, "invoices"] as const;

/** The billing routes of the signed-in session's client. */
export function useBillingApi(): BillingApi {
  return billingApi(useAuth().client);
}

export const billingQuery = (api: BillingApi) => ({
  queryKey: BILLING_OVERVIEW_QUERY,
  queryFn: () => api.getBilling(),
});

export const plansQuery = (api: BillingApi) => ({
  queryKey: PLANS_QUERY,
  queryFn: () => api.listPlans(),
  staleTime: 60_000,
});

const MONEY = /^(-?)(\d+)(?:\.(\d+))?$/;

/**
 * A money string as the API gave it, with the dollar sign and the integer
 * part grouped in the reader's language: "12.50" → "$12.50",
 * "0.004120" → "$0.004120", "-1.25" → "-$1.25", "10000.00" → "$10,000.00".
 * No digit is added or dropped; anything else is shown as it came.
 */
export function formatMoney(value: Money, language: string): string {
  const m = MONEY.exec(value.trim());
  if (!m) return value;
  const [, sign, whole, fraction] = m;
  const grouped = new Intl.NumberFormat(language, { useGrouping: true }).format(BigInt(whole!));
  return `${sign}$${grouped}${fraction !== undefined ? `.${fraction}` : ""}`;
}

/** Money, token counts and dates in the reader's language. */
export function useFormat() {
  const { i18n } = useTranslation();
  const language = i18n.language;
  const number = new Intl.NumberFormat(language);
  const date = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeZone: "UTC" });
  const dateTime = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" });
  return {
    money: (value: Money) => formatMoney(value, language),
    number: (value: number) => number.format(value),
    /** A day of the billing calendar (UTC), e.g. a period's end. */
    date: (ms: number) => date.format(new Date(ms)),
    /** A moment, on the reader's clock. */
    dateTime: (ms: number) => dateTime.format(new Date(ms)),
    /** `2026-11` as "November 2026". */
    month: (month: string) => {
      const [y, m] = month.split("-").map(Number);
      if (!y || !m) return month;
      return new Intl.DateTimeFormat(language, { year: "numeric", month: "long", timeZone: "UTC" }).format(
        new Date(Date.UTC(y, m - 1, 1)),
      );
    },
  };
}

/**
 * The billing routes' refusals in the reader's language (codes of
 * `billing-api.md`), then the app's usual messages.
 */
export function billingErrorMessage(t: TFunction, error: unknown): string {
  if (error instanceof ApiError) {
    switch (error.code) {
      case "code_not_found":
      case "code_redeemed":
      case "code_expired":
      case "payments_disabled":
      case "idempotency_conflict":
        return t(`billing.errors.${error.code}`);
      case "not_found":
        return t("billing.errors.not_found");
      default:
        if (error.status === 409) return error.message || t("errors.generic");
    }
  }
  return errorMessage(t, error);
}

const INVOICE_TONE: Record<InvoiceStatus, string> = {
  draft: "pill-muted",
  open: "pill-warning",
  paid: "pill-success",
  void: "pill-muted",
  uncollectible: "pill-error",
};

export function InvoiceStatusPill({ status }: { status: InvoiceStatus }) {
  const { t } = useTranslation();
  return (
    <span className={`pill ${INVOICE_TONE[status] ?? "pill-muted"}`}>{t(`billing.invoiceStatus.${status}`, status)}</span>
  );
}

/** The billing section's own tabs: overview, plans, credit, invoices. */
export function BillingTabs() {
  const { t } = useTranslation();
  const tabs = [
    { to: "/billing", label: t("billing.tabs.overview"), end: true },
    { to: "/billing/plans", label: t("billing.tabs.plans"), end: false },
    { to: "/billing/credit", label: t("billing.tabs.credit"), end: false },
    { to: "/billing/invoices", label: t("billing.tabs.invoices"), end: false },
  ];
  return (
    <nav className="billing-tabs" aria-label={t("billing.tabs.label")}>
      {tabs.map((tab) => (
        <NavLink key={tab.to} to={tab.to} end={tab.end} className="billing-tab">
          {tab.label}
        </NavLink>
      ))}
    </nav>
  );
}

export function newIdempotencyKey(): string {
  if (typeof crypto !== "undefined" && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * Idempotency keys for one form: the same request body gets the same key (a
 * double submit or a retry does the thing once), a different body a new one
 * (the server refuses a key reused with another body). `reset()` after a
 * success, so doing it again on purpose is a new request.
 */
export function useIdempotencyKeys() {
  const keys = useRef(new Map<string, string>());
  return {
    keyFor(body: unknown): string {
      const id = JSON.stringify(body);
      let key = keys.current.get(id);
      if (!key) {
        key = newIdempotencyKey();
        keys.current.set(id, key);
      }
      return key;
    },
    reset() {
      keys.current.clear();
    },
  };
}

/** Saves a blob as a file through a temporary link. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.rel = "noopener";
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The browser leaves for a payment page (a seam for tests). */
export const navigation = {
  assign(url: string) {
    window.location.assign(url);
  },
};
