import { useEffect, useId, useRef, useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useAuth } from "../../auth/AuthProvider";
import { ApiError } from "../../api/errors";
import { ENDPOINT_SCOPES } from "../../api/types";
import type { AccountLimits, ApiKey, CreatedKey } from "../../api/types";
import { ChoiceGroup } from "../../components/ChoiceGroup";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { SelectField, TextAreaField, TextField } from "../../components/Field";
import { Modal } from "../../components/Modal";
import { errorMessage } from "../../lib/errors";
import { KEYS_QUERY } from "./dialogs";
import {
  NAME_MAX,
  fieldOfServerMessage,
  formFromKey,
  toCreateRequest,
  toUpdateRequest,
  validateForm,
} from "./keyForm";
import type { FormProblems, KeyFormState, LimitName } from "./keyForm";
import { ModelsInput } from "./shared";

/**
 * The one key form: create (no `editing`) or edit (`editing`). Client checks
 * are only the obvious ones; a 400 from the server is shown above the form
 * and, when its message names a field, under that field too.
 */
export function KeyFormDialog({
  editing,
  accountLimits,
  onClose,
  onCreated,
}: {
  editing?: ApiKey;
  accountLimits: AccountLimits;
  onClose: () => void;
  onCreated?: (created: CreatedKey) => void;
}) {
  const { t, i18n } = useTranslation();
  const { client } = useAuth();
  const queryClient = useQueryClient();
  const id = useId();
  const [form, setForm] = useState<KeyFormState>(() => formFromKey(editing));
  const [problems, setProblems] = useState<FormProblems>({});
  const errorRef = useRef<HTMLDivElement>(null);
  // One idempotency key per dialog: a double submit or a retry creates one key.
  const idempotencyKey = useRef(newIdempotencyKey());
  const set = <K extends keyof KeyFormState>(field: K, value: KeyFormState[K]) =>
    setForm((f) => ({ ...f, [field]: value }));
  const setLimit = (field: LimitName, value: string) =>
    setForm((f) => ({ ...f, limits: { ...f.limits, [field]: value } }));

  const save = useMutation({
    mutationFn: async () => {
      if (editing) return client.updateKey(editing.id, toUpdateRequest(form, editing));
      return client.createKey(toCreateRequest(form), idempotencyKey.current);
    },
    onSuccess: async (result) => {
      await queryClient.invalidateQueries({ queryKey: KEYS_QUERY });
      if (!editing && onCreated) onCreated(result as CreatedKey);
      else onClose();
    },
    onError: (error) => {
      if (error instanceof ApiError && error.status === 400) {
        const named = fieldOfServerMessage(error.message);
        if (named) setProblems({ [named.field]: { key: "keys.form.serverProblem", values: { detail: named.detail } } });
      }
    },
  });

  // The message is above the fields; bring it into view in a long form.
  useEffect(() => {
    if (save.isError) errorRef.current?.scrollIntoView?.({ block: "nearest", behavior: "smooth" });
  }, [save.isError, save.error]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (save.isPending) return;
    const next = validateForm(form);
    setProblems(next);
    if (Object.keys(next).length > 0) return;
    save.reset();
    save.mutate();
  };

  const number = new Intl.NumberFormat(i18n.language);
  const ceiling = (value: number | null) => (value !== null && value > 0 ? number.format(value) : null);
  const accountRpm = ceiling(accountLimits.requests_per_minute);
  const accountQuota = ceiling(accountLimits.token_quota_monthly);
  const limitHints: Partial<Record<LimitName, string>> = {
    requests_per_minute: accountRpm ? t("keys.form.accountRpm", { value: accountRpm }) : undefined,
    token_quota_monthly: [
      t("keys.form.monthlyHint"),
      accountQuota ? t("keys.form.accountQuotaMonthly", { value: accountQuota }) : "",
    ]
      .join(" ")
      .trim(),
    budget_monthly: t("keys.form.monthlyHint"),
  };
  const limitField = (field: LimitName, label: string, money = false) => (
    <TextField
      key={field}
      label={label}
      hint={limitHints[field]}
      value={form.limits[field]}
      onChange={(e) => setLimit(field, e.target.value)}
      problem={problems[field]}
      inputMode={money ? "decimal" : "numeric"}
      placeholder={money ? "0.00" : undefined}
      autoComplete="off"
    />
  );

  const formId = `${id}-form`;
  return (
    <Modal
      title={editing ? t("keys.form.editTitle") : t("keys.form.createTitle")}
      onClose={onClose}
      size="lg"
      dismissable={!save.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={save.isPending}>
            {t("common.cancel")}
          </Button>
          <Button type="submit" form={formId} loading={save.isPending}>
            {editing
              ? save.isPending
                ? t("common.saving")
                : t("keys.form.submitEdit")
              : save.isPending
                ? t("keys.form.creating")
                : t("keys.form.submitCreate")}
          </Button>
        </>
      }
    >
      <form id={formId} className="form" onSubmit={submit} noValidate>
        {save.isError && (
          <div ref={errorRef}>
            <Alert tone="error">{errorMessage(t, save.error)}</Alert>
          </div>
        )}
        <TextField
          label={t("keys.form.name")}
          hint={t("keys.form.nameHint")}
          placeholder={t("keys.form.namePlaceholder")}
          value={form.name}
          maxLength={NAME_MAX + 20}
          onChange={(e) => set("name", e.target.value)}
          problem={problems.name}
          autoComplete="off"
        />
        <ChoiceGroup
          legend={t("keys.form.models")}
          name={`${id}-scope`}
          options={[
            { value: "all", label: t("keys.form.allModels"), hint: t("keys.form.allModelsHint") },
            { value: "some", label: t("keys.form.someModels"), hint: t("keys.form.someModelsHint") },
          ]}
          value={form.modelScope}
          onChange={(v) => set("modelScope", v)}
        />
        {form.modelScope === "some" && (
          <div className={`field${problems.models ? " field-invalid" : ""}`}>
            <label className="field-label" htmlFor={`${id}-models`}>
              {t("keys.form.modelsInput")}
            </label>
            <ModelsInput
              id={`${id}-models`}
              value={form.models}
              onChange={(models) => set("models", models)}
              invalid={Boolean(problems.models)}
              describedBy={`${id}-models-msg`}
            />
            <p className={problems.models ? "field-error" : "field-hint"} id={`${id}-models-msg`}>
              {problems.models ? t(problems.models.key, problems.models.values ?? {}) : t("keys.form.someModelsHint")}
            </p>
          </div>
        )}

        <fieldset
          className={`choice-group${problems.endpoints ? " field-invalid" : ""}`}
          aria-describedby={`${id}-endpoints-msg`}
        >
          <legend className="field-label">{t("keys.form.endpoints")}</legend>
          <div className="checks">
            {ENDPOINT_SCOPES.map((scope) => {
              const checked = form.endpoints.includes(scope);
              return (
                <label key={scope} className={`check${checked ? " check-selected" : ""}`}>
                  <input
                    type="checkbox"
                    checked={checked}
                    onChange={(e) =>
                      set(
                        "endpoints",
                        e.target.checked ? [...form.endpoints, scope] : form.endpoints.filter((s) => s !== scope),
                      )
                    }
                  />
                  <span>{t(`keys.form.endpointNames.${scope}`)}</span>
                </label>
              );
            })}
          </div>
          <p className={problems.endpoints ? "field-error" : "field-hint"} id={`${id}-endpoints-msg`}>
            {problems.endpoints
              ? t(problems.endpoints.key, problems.endpoints.values ?? {})
              : t("keys.form.endpointsHint")}
          </p>
        </fieldset>

        <fieldset className="form-section">
          <legend className="field-label">{t("keys.form.limits")}</legend>
          <p className="field-hint form-section-hint">{t("keys.form.limitsHint")}</p>
          <div className="form-row">
            {limitField("requests_per_minute", t("keys.form.rpm"))}
            {limitField("tokens_per_minute", t("keys.form.tpm"))}
          </div>
          <div className="form-row">
            {limitField("token_quota_total", t("keys.form.quotaTotal"))}
            {limitField("token_quota_monthly", t("keys.form.quotaMonthly"))}
          </div>
          <div className="form-row">
            {limitField("budget_total", t("keys.form.budgetTotal"), true)}
            {limitField("budget_monthly", t("keys.form.budgetMonthly"), true)}
          </div>
        </fieldset>

        <TextAreaField
          label={t("keys.form.ipAllowlist")}
          hint={t("keys.form.ipHint")}
          optional
          rows={3}
          value={form.ipAllowlist}
          onChange={(e) => set("ipAllowlist", e.target.value)}
          problem={problems.ipAllowlist}
          placeholder={"203.0.113.0/24\n2001:db8::/32"}
          spellCheck={false}
          autoComplete="off"
        />
        <TextAreaField
          label={t("keys.form.metadata")}
          hint={t("keys.form.metadataHint")}
          optional
          rows={3}
          value={form.metadata}
          onChange={(e) => set("metadata", e.target.value)}
          problem={problems.metadata}
          placeholder="team=search"
          spellCheck={false}
          autoComplete="off"
        />

        {!editing && (
          <SelectField label={t("keys.form.expiry")} value={form.expiry} onChange={(e) => set("expiry", e.target.value)}>
            {["30", "90", "365"].map((days) => (
              <option key={days} value={days}>
                {t("keys.form.expiryDays", { count: Number(days) })}
              </option>
            ))}
            <option value="never">{t("keys.form.expiryNever")}</option>
          </SelectField>
        )}
        {editing && (
          <label className="switch-row">
            <input type="checkbox" checked={form.enabled} onChange={(e) => set("enabled", e.target.checked)} />
            <span>
              <span className="choice-label">{t("keys.form.enabled")}</span>
              <span className="choice-hint">{t("keys.form.enabledHint")}</span>
            </span>
          </label>
        )}
      </form>
    </Modal>
  );
}

function newIdempotencyKey(): string {
  if (typeof crypto !== "undefined" && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}
