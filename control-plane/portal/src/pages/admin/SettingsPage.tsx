import { useMemo, useState } from "react";
import type { FormEvent } from "react";
import type { TFunction } from "i18next";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { EMAIL_MODES, PAYMENT_PROVIDERS, SIGNUP_MODES, SMTP_TLS_MODES, settingsQuery, useAdminApi } from "../../api/admin";
import type { Setting, SettingKey, SettingsChange } from "../../api/admin";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { PasswordField, SelectField, TextAreaField, TextField } from "../../components/Field";
import type { Problem } from "../../lib/validation";
import { serverProblems } from "./forms";
import type { FormProblems } from "./forms";
import { SETTINGS_SECTIONS, sectionChange, sectionKeys, settingsByKey, shown } from "./settingsForm";
import type { SettingEdits, SettingField, SettingsSection } from "./settingsForm";
import { AdminHeader, ConfirmDialog, LoadState, Pill, adminErrorMessage, adminKeys } from "./shared";

/** Each setting's label (`admin.settings.fields.…`). */
const FIELD_NAMES = {
  "accounts.signup": "signup",
  "accounts.invite_codes": "inviteCodes",
  "accounts.require_email_verification_for_keys": "requireVerification",
  "email.mode": "emailMode",
  "email.smtp_host": "smtpHost",
  "email.smtp_port": "smtpPort",
  "email.smtp_tls": "smtpTls",
  "email.smtp_user": "smtpUser",
  "email.smtp_password": "smtpPassword",
  "email.from": "from",
  "payments.provider": "paymentProvider",
  "payments.stripe_secret_key": "stripeSecretKey",
  "payments.stripe_webhook_secret": "stripeWebhookSecret",
  "payments.min_top_up": "minTopUp",
  "payments.max_top_up": "maxTopUp",
  "webhooks.allow_private_networks": "allowPrivateNetworks",
  "analytics.raw_retention_months": "retentionMonths",
} as const satisfies Record<SettingKey, string>;

/** The settings with a hint under them (`admin.settings.hints.…`). */
const HINTS = {
  "accounts.invite_codes": "inviteCodes",
  "accounts.require_email_verification_for_keys": "requireVerification",
  "email.smtp_host": "smtpHost",
  "email.smtp_user": "smtpUser",
  "email.from": "from",
  "webhooks.allow_private_networks": "allowPrivateNetworks",
  "analytics.raw_retention_months": "retentionMonths",
} as const satisfies Partial<Record<SettingKey, string>>;

const hintOf = (t: TFunction, key: SettingKey) => (key in HINTS ? t(`admin.settings.hints.${HINTS[key as keyof typeof HINTS]}`) : undefined);

const oneOf = <T extends string>(list: readonly T[], value: string): value is T => (list as readonly string[]).includes(value);

/** A choice's label; a value this portal does not know shows as it came. */
function choiceLabel(t: TFunction, key: SettingKey, value: string): string {
  if (key === "accounts.signup" && oneOf(SIGNUP_MODES, value)) return t(`admin.settings.signupModes.${value}`);
  if (key === "email.mode" && oneOf(EMAIL_MODES, value)) return t(`admin.settings.emailModes.${value}`);
  if (key === "email.smtp_tls" && oneOf(SMTP_TLS_MODES, value)) return t(`admin.settings.tlsModes.${value}`);
  if (key === "payments.provider" && oneOf(PAYMENT_PROVIDERS, value)) return t(`admin.settings.paymentProviders.${value}`);
  return value;
}

/** The configured value under an override, for the "Use configured value" tooltip. */
function configuredText(t: TFunction, field: SettingField, setting: Setting): string {
  const value = setting.configured;
  if (field.kind === "secret") return value === true ? t("admin.settings.configuredSecret") : t("admin.settings.noConfiguredSecret");
  let text: string;
  if (typeof value === "boolean") text = value ? t("admin.yes") : t("admin.no");
  else if (Array.isArray(value)) text = value.length > 0 ? value.join(", ") : t("admin.settings.configuredNone");
  else if (value === null || value === "") text = t("admin.settings.configuredEmpty");
  else text = field.kind === "choice" ? choiceLabel(t, field.key, String(value)) : String(value);
  return t("admin.settings.configuredValue", { value: text });
}

/** Stores a change and refreshes what follows the settings (the setup checklist's mail and payment steps). */
function useUpdateSettings() {
  const api = useAdminApi();
  const queryClient = useQueryClient();
  return async (change: SettingsChange) => {
    const list = await api.updateSettings(change);
    queryClient.setQueryData(adminKeys.settings, list);
    await Promise.all([
      queryClient.invalidateQueries({ queryKey: adminKeys.settings }),
      queryClient.invalidateQueries({ queryKey: adminKeys.setup }),
    ]);
    return list;
  };
}

/**
 * `/admin/settings`: sign-up, mail, payments and retention, changed in the
 * console over the configuration; each section saved on its own.
 */
export function SettingsPage() {
  const { t } = useTranslation();
  const api = useAdminApi();
  const settings = useQuery(settingsQuery(api));
  const loaded = useMemo(() => settingsByKey(settings.data ?? []), [settings.data]);
  return (
    <div className="page page-narrow">
      <AdminHeader title={t("admin.settings.title")} subtitle={t("admin.settings.subtitle")} />
      <LoadState query={settings} />
      {settings.data && SETTINGS_SECTIONS.map((section) => <SettingsCard key={section.id} section={section} loaded={loaded} />)}
    </div>
  );
}

type Notice = "saved" | "unchanged" | null;

/** One section: its fields, and a Save that sends only what changed. */
function SettingsCard({ section, loaded }: { section: SettingsSection; loaded: Partial<Record<SettingKey, Setting>> }) {
  const { t } = useTranslation();
  const update = useUpdateSettings();
  const [edits, setEdits] = useState<SettingEdits>({});
  const [problems, setProblems] = useState<FormProblems<SettingKey>>({});
  const [notice, setNotice] = useState<Notice>(null);
  const [removing, setRemoving] = useState<SettingField | null>(null);
  const fields = section.fields as readonly SettingField[];

  /** `clear`: the edits that the stored change makes moot. */
  const save = useMutation({
    mutationFn: ({ change }: { change: SettingsChange; clear: readonly SettingKey[] }) => update(change),
    onSuccess: (_list, { clear }) => {
      setEdits((e) => omit(e, clear));
      setProblems({});
      setNotice("saved");
    },
    onError: (error) => setProblems(serverProblems(error, sectionKeys(section))),
  });

  const edit = (key: SettingKey, value: string | boolean) => {
    setEdits((e) => ({ ...e, [key]: value }));
    setNotice(null);
    if (problems[key]) setProblems((p) => omit(p, [key]));
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (save.isPending) return;
    const { change, problems: found } = sectionChange(section, edits, loaded);
    setProblems(found);
    if (Object.keys(found).length > 0) return;
    if (Object.keys(change).length === 0) {
      save.reset();
      setNotice("unchanged");
      return;
    }
    setNotice(null);
    save.mutate({ change, clear: fields.map((f) => f.key) });
  };

  const backToConfigured = (key: SettingKey) => {
    if (save.isPending) return;
    setNotice(null);
    save.mutate({ change: { [key]: null }, clear: [key] });
  };

  const titleId = `settings-${section.id}-title`;
  return (
    <section className="card" aria-labelledby={titleId}>
      <div className="card-header card-header-stacked">
        <h2 id={titleId} className="card-title">
          {t(`admin.settings.sections.${section.id}.title`)}
        </h2>
        <p className="muted small">{t(`admin.settings.sections.${section.id}.body`)}</p>
      </div>
      <form className="form" onSubmit={submit} noValidate>
        <div className="settings-grid">
          {fields.map((field) => (
            <SettingRow
              key={field.key}
              field={field}
              setting={loaded[field.key]}
              value={shown(field, edits, loaded[field.key])}
              problem={problems[field.key]}
              busy={save.isPending}
              onChange={(value) => edit(field.key, value)}
              onUseConfigured={() => backToConfigured(field.key)}
              onRemove={() => setRemoving(field)}
            />
          ))}
        </div>
        {save.isError && <Alert tone="error">{adminErrorMessage(t, save.error)}</Alert>}
        <div className="form-actions">
          {notice && (
            <span className={notice === "saved" ? "text-success" : "muted small"} role="status">
              {notice === "saved" ? t("admin.settings.saved") : t("admin.settings.unchanged")}
            </span>
          )}
          <Button type="submit" loading={save.isPending}>
            {t(`admin.settings.sections.${section.id}.save`)}
          </Button>
        </div>
      </form>
      {removing && (
        <RemoveSecretDialog
          field={removing}
          onRemoved={() => {
            setEdits((e) => omit(e, [removing.key]));
            setNotice("saved");
          }}
          onClose={() => setRemoving(null)}
        />
      )}
    </section>
  );
}

function omit<T extends object>(value: T, keys: readonly PropertyKey[]): T {
  const out = { ...value };
  for (const key of keys) delete out[key as keyof T];
  return out;
}

/** A setting's input, then whether a secret is set and whether the console changed it. */
function SettingRow({
  field,
  setting,
  value,
  problem,
  busy,
  onChange,
  onUseConfigured,
  onRemove,
}: {
  field: SettingField;
  setting: Setting | undefined;
  value: string | boolean;
  problem: Problem | undefined;
  busy: boolean;
  onChange: (value: string | boolean) => void;
  onUseConfigured: () => void;
  onRemove: () => void;
}) {
  const { t } = useTranslation();
  const name = t(`admin.settings.fields.${FIELD_NAMES[field.key]}`);
  const wide = field.kind === "lines" || field.kind === "flag";
  return (
    <div className={`setting${wide ? " setting-wide" : ""}`}>
      <SettingInput field={field} name={name} value={value} problem={problem} set={setting?.set ?? false} onChange={onChange} />
      {setting && (field.kind === "secret" || setting.overridden) && (
        <div className="setting-meta">
          {field.kind === "secret" && (
            <Pill tone={setting.set ? "success" : "muted"}>
              {setting.set ? t("admin.settings.secretSet") : t("admin.settings.secretNotSet")}
            </Pill>
          )}
          {setting.overridden && <Pill tone="warning">{t("admin.settings.changed")}</Pill>}
          {/* A secret the configuration lacks: going back to it removes the secret, so it is confirmed. */}
          {setting.overridden && field.kind === "secret" && setting.configured !== true ? (
            <Button
              variant="ghost"
              className="btn-sm"
              onClick={onRemove}
              disabled={busy}
              aria-label={t("admin.settings.removeFor", { name })}
              title={configuredText(t, field, setting)}
            >
              {t("admin.settings.remove")}
            </Button>
          ) : (
            setting.overridden && (
              <Button
                variant="ghost"
                className="btn-sm"
                onClick={onUseConfigured}
                disabled={busy}
                aria-label={t("admin.settings.useConfiguredFor", { name })}
                title={configuredText(t, field, setting)}
              >
                {t("admin.settings.useConfigured")}
              </Button>
            )
          )}
        </div>
      )}
    </div>
  );
}

function SettingInput({
  field,
  name,
  value,
  problem,
  set,
  onChange,
}: {
  field: SettingField;
  name: string;
  value: string | boolean;
  problem: Problem | undefined;
  set: boolean;
  onChange: (value: string | boolean) => void;
}) {
  const { t } = useTranslation();
  const hint = hintOf(t, field.key);
  const text = typeof value === "string" ? value : "";
  switch (field.kind) {
    case "flag":
      return (
        <label className="switch-row">
          <input type="checkbox" checked={value === true} onChange={(e) => onChange(e.target.checked)} />
          <span>
            <span className="choice-label">{name}</span>
            {hint && <span className="choice-hint">{hint}</span>}
          </span>
        </label>
      );
    case "choice": {
      const options = field.options ?? [];
      return (
        <SelectField label={name} hint={hint} problem={problem} value={text} onChange={(e) => onChange(e.target.value)}>
          {/* A value this portal does not offer stays visible rather than silently replaced. */}
          {!options.includes(text) && <option value={text}>{text}</option>}
          {options.map((option) => (
            <option key={option} value={option}>
              {choiceLabel(t, field.key, option)}
            </option>
          ))}
        </SelectField>
      );
    }
    case "lines":
      return (
        <TextAreaField
          label={name}
          hint={hint}
          problem={problem}
          value={text}
          rows={4}
          onChange={(e) => onChange(e.target.value)}
          spellCheck={false}
          autoComplete="off"
        />
      );
    case "secret":
      return (
        <PasswordField
          label={name}
          hint={t("admin.settings.secretHint")}
          problem={problem}
          value={text}
          placeholder={set ? t("admin.settings.secretReplace") : undefined}
          onChange={(e) => onChange(e.target.value)}
          autoComplete="new-password"
        />
      );
    case "port":
    case "months":
      return (
        <TextField
          label={name}
          hint={hint}
          problem={problem}
          type="number"
          inputMode="numeric"
          min={field.kind === "port" ? 1 : 0}
          max={field.kind === "port" ? 65535 : undefined}
          step={1}
          value={text}
          onChange={(e) => onChange(e.target.value)}
        />
      );
    case "money":
      return (
        <TextField
          label={name}
          hint={hint}
          problem={problem}
          inputMode="decimal"
          value={text}
          onChange={(e) => onChange(e.target.value)}
          autoComplete="off"
        />
      );
    case "text":
      return (
        <TextField
          label={name}
          hint={hint}
          problem={problem}
          value={text}
          onChange={(e) => onChange(e.target.value)}
          autoComplete="off"
          spellCheck={false}
        />
      );
  }
}

/** Deletes a secret entered in the console when the configuration has none to go back to. */
function RemoveSecretDialog({ field, onRemoved, onClose }: { field: SettingField; onRemoved: () => void; onClose: () => void }) {
  const { t } = useTranslation();
  const update = useUpdateSettings();
  const name = t(`admin.settings.fields.${FIELD_NAMES[field.key]}`);
  const remove = useMutation({
    mutationFn: () => update({ [field.key]: null }),
    onSuccess: () => {
      onRemoved();
      onClose();
    },
  });
  return (
    <ConfirmDialog
      title={t("admin.settings.removeDialog.title", { name })}
      body={t("admin.settings.removeDialog.body", { name })}
      confirmLabel={t("admin.settings.removeDialog.submit")}
      pendingLabel={t("admin.settings.removeDialog.submitting")}
      pending={remove.isPending}
      error={remove.error}
      onConfirm={() => remove.mutate()}
      onClose={onClose}
    />
  );
}
