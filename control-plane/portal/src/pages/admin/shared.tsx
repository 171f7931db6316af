import { useState } from "react";
import type { ReactNode } from "react";
import type { TFunction } from "i18next";
import { useTranslation } from "react-i18next";
import { ApiError } from "../../api/errors";
import { useProfile } from "../../auth/AuthProvider";
export { ADMIN_QUERY, adminKeys } from "../../api/admin";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { Spinner } from "../../components/Loader";
import { Modal } from "../../components/Modal";
import { errorMessage } from "../../lib/errors";
import { useDocumentTitle } from "../../lib/useDocumentTitle";
import { useFormat } from "../billing/shared";
import "../../styles/admin.css";

/** Rows per page of the paged lists. */
export const PAGE_SIZE = 20;

/**
 * The operator routes' refusals in the reader's language. A 409 carries the
 * server's own explanation (why an invoice cannot be voided, a taken name),
 * so it is shown as it came.
 */
export function adminErrorMessage(t: TFunction, error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 403) return t("admin.errors.forbidden");
    if (error.code === "not_found" || error.status === 404) return t("admin.errors.notFound");
    if (error.code === "idempotency_conflict") return t("billing.errors.idempotency_conflict");
    if (error.status === 409) return error.message || t("errors.generic");
  }
  return errorMessage(t, error);
}

/** A price per million tokens with at least cents ("0.5" reads "$0.50"; "0.000125" stays whole). */
export function atLeastCents(value: string): string {
  const [whole, fraction = ""] = value.split(".");
  return `${whole}.${fraction.padEnd(2, "0")}`;
}

/** Formats prices per million tokens ([`atLeastCents`], in the reader's language). */
export function usePrice() {
  const f = useFormat();
  return (value: string) => f.money(atLeastCents(value));
}

/** A page's title (also the tab's), subtitle and main actions. */
export function AdminHeader({
  title,
  subtitle,
  actions,
  back,
}: {
  title: ReactNode;
  subtitle?: ReactNode;
  actions?: ReactNode;
  back?: ReactNode;
}) {
  const { t } = useTranslation();
  const readOnly = useProfile().data?.read_only === true;
  useDocumentTitle(typeof title === "string" ? `${title} · ${t("admin.title")}` : t("admin.title"));
  return (
    <>
    {readOnly && (
      <Alert tone="info" title={t("admin.readOnlyTitle")}>
        {t("admin.readOnlyBody")}
      </Alert>
    )}
    <div className="page-header page-header-row">
      <div>
        {back && <p className="back-link">{back}</p>}
        <h1 className="page-title">{title}</h1>
        {subtitle && <p className="page-subtitle">{subtitle}</p>}
      </div>
      {actions && <div className="admin-actions">{actions}</div>}
    </div>
    </>
  );
}

/** A query's spinner or error; nothing once there is data. */
export function LoadState({ query }: { query: { isPending: boolean; isError: boolean; error: unknown; data?: unknown } }) {
  const { t } = useTranslation();
  if (query.isError && query.data === undefined) return <Alert tone="error">{adminErrorMessage(t, query.error)}</Alert>;
  if (query.isPending) {
    return (
      <p className="center-pad">
        <Spinner label={t("common.loading")} />
      </p>
    );
  }
  return null;
}

/**
 * Cursor paging: the `starting_after` of each page seen so far, so Previous
 * goes back without the server having to page backwards.
 */
export function useCursorPages() {
  const [cursors, setCursors] = useState<string[]>([]);
  return {
    cursor: cursors[cursors.length - 1],
    page: cursors.length + 1,
    next: (lastId: string) => setCursors((c) => [...c, lastId]),
    previous: () => setCursors((c) => c.slice(0, -1)),
    reset: () => setCursors([]),
  };
}

/** Previous / Next under a paged list (hidden while there is only one page). */
export function Pager({
  pages,
  hasMore,
  lastId,
  busy,
}: {
  pages: ReturnType<typeof useCursorPages>;
  hasMore: boolean;
  lastId: string | undefined;
  busy: boolean;
}) {
  const { t } = useTranslation();
  if (pages.page <= 1 && !hasMore) return null;
  return (
    <nav className="admin-pager" aria-label={t("admin.pager.label")}>
      <span className="small muted">{t("admin.pager.page", { page: pages.page })}</span>
      <Button variant="secondary" disabled={pages.page <= 1 || busy} onClick={pages.previous}>
        {t("admin.pager.previous")}
      </Button>
      <Button
        variant="secondary"
        disabled={!hasMore || lastId === undefined || busy}
        onClick={() => lastId !== undefined && pages.next(lastId)}
      >
        {t("admin.pager.next")}
      </Button>
    </nav>
  );
}

/** "Are you sure?": nothing happens until the confirm button; the server's refusal shows inside. */
/** A form dialog's footer: Cancel, and the submit button of form `form` (busy while `pending`). */
export function FormFooter({
  form,
  pending,
  onCancel,
  label,
  pendingLabel,
}: {
  form: string;
  pending: boolean;
  onCancel: () => void;
  label: string;
  pendingLabel: string;
}) {
  const { t } = useTranslation();
  return (
    <>
      <Button variant="secondary" onClick={onCancel} disabled={pending}>
        {t("common.cancel")}
      </Button>
      <Button type="submit" form={form} loading={pending}>
        {pending ? pendingLabel : label}
      </Button>
    </>
  );
}

export function ConfirmDialog({
  title,
  body,
  confirmLabel,
  pendingLabel,
  danger = true,
  pending,
  error,
  onConfirm,
  onClose,
  children,
  focusCancel = true,
}: {
  title: string;
  body: ReactNode;
  confirmLabel: string;
  pendingLabel: string;
  danger?: boolean;
  pending: boolean;
  error: unknown;
  onConfirm: () => void;
  onClose: () => void;
  children?: ReactNode;
  /** Focus starts on Cancel (a stray Enter does nothing), unless the dialog has a field to fill. */
  focusCancel?: boolean;
}) {
  const { t } = useTranslation();
  return (
    <Modal
      title={title}
      onClose={onClose}
      dismissable={!pending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={pending} data-autofocus={focusCancel || undefined}>
            {t("common.cancel")}
          </Button>
          <Button variant={danger ? "danger" : "primary"} onClick={onConfirm} loading={pending}>
            {pending ? pendingLabel : confirmLabel}
          </Button>
        </>
      }
    >
      <p>{body}</p>
      {children}
      {error !== null && error !== undefined && <Alert tone="error">{adminErrorMessage(t, error)}</Alert>}
    </Modal>
  );
}

type Tone = "success" | "warning" | "error" | "muted";

export function Pill({ tone, children }: { tone: Tone; children: ReactNode }) {
  return <span className={`pill pill-${tone}`}>{children}</span>;
}

export function EnabledPill({ enabled }: { enabled: boolean }) {
  const { t } = useTranslation();
  return <Pill tone={enabled ? "success" : "muted"}>{enabled ? t("admin.enabled") : t("admin.disabled")}</Pill>;
}

/** Details JSON, pretty-printed. */
export function JsonBlock({ value, label }: { value: unknown; label: string }) {
  return (
    <pre className="json-block" tabIndex={0} aria-label={label}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}
