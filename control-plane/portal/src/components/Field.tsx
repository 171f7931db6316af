import { useId, useState } from "react";
import type { InputHTMLAttributes, ReactNode, SelectHTMLAttributes, TextareaHTMLAttributes } from "react";
import { useTranslation } from "react-i18next";
import type { Problem } from "../lib/validation";
import { EyeIcon, EyeOffIcon } from "./icons";

interface FieldShell {
  label: ReactNode;
  hint?: ReactNode;
  problem?: Problem | undefined;
  optional?: boolean;
}

function useFieldIds() {
  const id = useId();
  return { id, hintId: `${id}-hint`, errorId: `${id}-error` };
}

function Shell({
  id,
  hintId,
  errorId,
  label,
  hint,
  problem,
  optional,
  children,
}: FieldShell & { id: string; hintId: string; errorId: string; children: ReactNode }) {
  const { t } = useTranslation();
  return (
    <div className={`field${problem ? " field-invalid" : ""}`}>
      <label className="field-label" htmlFor={id}>
        {label}
        {optional && <span className="field-optional"> ({t("common.optional")})</span>}
      </label>
      {children}
      {problem ? (
        <p className="field-error" id={errorId}>
          {t(problem.key, problem.values ?? {})}
        </p>
      ) : (
        hint && (
          <p className="field-hint" id={hintId}>
            {hint}
          </p>
        )
      )}
    </div>
  );
}

function describedBy(ids: { hintId: string; errorId: string }, problem?: Problem, hint?: ReactNode) {
  if (problem) return ids.errorId;
  return hint ? ids.hintId : undefined;
}

export function TextField({
  label,
  hint,
  problem,
  optional,
  ...input
}: FieldShell & InputHTMLAttributes<HTMLInputElement>) {
  const ids = useFieldIds();
  return (
    <Shell {...ids} label={label} hint={hint} problem={problem} optional={optional}>
      <input
        id={ids.id}
        className="input"
        aria-invalid={problem ? true : undefined}
        aria-describedby={describedBy(ids, problem, hint)}
        {...input}
      />
    </Shell>
  );
}

/** A password input with a show/hide toggle. */
export function PasswordField({
  label,
  hint,
  problem,
  ...input
}: FieldShell & InputHTMLAttributes<HTMLInputElement>) {
  const { t } = useTranslation();
  const ids = useFieldIds();
  const [visible, setVisible] = useState(false);
  return (
    <Shell {...ids} label={label} hint={hint} problem={problem}>
      <div className="input-group">
        <input
          id={ids.id}
          className="input"
          type={visible ? "text" : "password"}
          aria-invalid={problem ? true : undefined}
          aria-describedby={describedBy(ids, problem, hint)}
          {...input}
        />
        <button
          type="button"
          className="input-addon"
          onClick={() => setVisible((v) => !v)}
          aria-label={visible ? t("common.hidePassword") : t("common.showPassword")}
          aria-pressed={visible}
        >
          {visible ? <EyeOffIcon /> : <EyeIcon />}
        </button>
      </div>
    </Shell>
  );
}

export function SelectField({
  label,
  hint,
  problem,
  children,
  ...select
}: FieldShell & SelectHTMLAttributes<HTMLSelectElement>) {
  const ids = useFieldIds();
  return (
    <Shell {...ids} label={label} hint={hint} problem={problem}>
      <select
        id={ids.id}
        className="input select"
        aria-describedby={describedBy(ids, problem, hint)}
        {...select}
      >
        {children}
      </select>
    </Shell>
  );
}

/** A multi-line text input (lists typed one item per line). */
export function TextAreaField({
  label,
  hint,
  problem,
  optional,
  ...area
}: FieldShell & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const ids = useFieldIds();
  return (
    <Shell {...ids} label={label} hint={hint} problem={problem} optional={optional}>
      <textarea
        id={ids.id}
        className="input textarea"
        aria-invalid={problem ? true : undefined}
        aria-describedby={describedBy(ids, problem, hint)}
        {...area}
      />
    </Shell>
  );
}
