import { useEffect, useId, useRef } from "react";
import type { ReactNode } from "react";
import { createPortal } from "react-dom";
import { useTranslation } from "react-i18next";
import { CloseIcon } from "./icons";

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * An accessible modal dialog: labelled by its title, focus moves inside on
 * open (the first field, or `initialFocus`), Tab stays inside, Escape and the
 * backdrop close it, and focus returns to what opened it.
 */
export function Modal({
  title,
  description,
  onClose,
  children,
  footer,
  size = "md",
  dismissable = true,
  closeOnBackdrop = true,
}: {
  title: ReactNode;
  description?: ReactNode;
  onClose: () => void;
  children?: ReactNode;
  footer?: ReactNode;
  size?: "md" | "lg";
  /** False while a request is in flight, or when closing would lose a secret by accident. */
  dismissable?: boolean;
  /** False where a stray click outside would lose something shown only once. */
  closeOnBackdrop?: boolean;
}) {
  const { t } = useTranslation();
  const id = useId();
  const panel = useRef<HTMLDivElement>(null);
  const close = useRef(onClose);
  close.current = onClose;
  const canDismiss = useRef(dismissable);
  canDismiss.current = dismissable;

  useEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const root = panel.current;
    if (root) {
      const preferred = root.querySelector<HTMLElement>("[data-autofocus]");
      const field = root.querySelector<HTMLElement>(".modal-body input:not([type=radio]):not([type=checkbox]), .modal-body select");
      (preferred ?? field ?? root).focus();
    }
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        if (canDismiss.current) close.current();
        return;
      }
      if (e.key !== "Tab" || !panel.current) return;
      const items = [...panel.current.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => el.offsetParent !== null || el === document.activeElement);
      if (items.length === 0) return;
      const first = items[0]!;
      const last = items[items.length - 1]!;
      if (e.shiftKey && (document.activeElement === first || document.activeElement === panel.current)) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    const overflow = document.body.style.overflow;
    document.body.style.overflow = "hidden";
    return () => {
      document.removeEventListener("keydown", onKey);
      document.body.style.overflow = overflow;
      if (opener && document.contains(opener)) opener.focus();
    };
  }, []);

  return createPortal(
    <div className="modal-root">
      <div className="modal-backdrop" onClick={() => dismissable && closeOnBackdrop && onClose()} aria-hidden="true" />
      <div
        ref={panel}
        className={`modal modal-${size}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={`${id}-title`}
        aria-describedby={description ? `${id}-desc` : undefined}
        tabIndex={-1}
      >
        <div className="modal-header">
          <div>
            <h2 id={`${id}-title`} className="modal-title">
              {title}
            </h2>
            {description && (
              <p id={`${id}-desc`} className="modal-description">
                {description}
              </p>
            )}
          </div>
          {dismissable && (
            <button type="button" className="icon-button modal-close" aria-label={t("keys.close")} onClick={onClose}>
              <CloseIcon size={18} />
            </button>
          )}
        </div>
        <div className="modal-body">{children}</div>
        {footer && <div className="modal-footer">{footer}</div>}
      </div>
    </div>,
    document.body,
  );
}
