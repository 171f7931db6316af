/**
 * The settings page's sections and what their forms send. An operator's
 * edits are kept apart from the loaded settings, so a section sends only the
 * keys whose value differs from what was loaded, a secret only when a new
 * one was typed, and a refetch never wipes what is being typed elsewhere.
 * The checks mirror the configuration's types (`config.rs`); the server
 * checks the whole configuration and names the key it refuses.
 */
import { EMAIL_MODES, PAYMENT_PROVIDERS, SIGNUP_MODES, SMTP_TLS_MODES } from "../../api/admin";
import type { Setting, SettingKey, SettingsChange } from "../../api/admin";
import type { Problem } from "../../lib/validation";
import { checkMoney, checkWhole } from "./forms";
import type { FormProblems } from "./forms";

/**
 * How a setting is edited: a select, a checkbox, a textarea of one item per
 * line, a text or number input, an amount, or a write-only secret.
 */
export type SettingKind = "choice" | "flag" | "lines" | "text" | "port" | "months" | "money" | "secret";

export interface SettingField {
  key: SettingKey;
  kind: SettingKind;
  /** A choice's values, in the order offered. */
  options?: readonly string[];
}

/** The page's sections, each saved on its own. */
export const SETTINGS_SECTIONS = [
  {
    id: "signup",
    fields: [
      { key: "accounts.signup", kind: "choice", options: SIGNUP_MODES },
      { key: "accounts.invite_codes", kind: "lines" },
      { key: "accounts.require_email_verification_for_keys", kind: "flag" },
    ],
  },
  {
    id: "email",
    fields: [
      { key: "email.mode", kind: "choice", options: EMAIL_MODES },
      { key: "email.smtp_host", kind: "text" },
      { key: "email.smtp_port", kind: "port" },
      { key: "email.smtp_tls", kind: "choice", options: SMTP_TLS_MODES },
      { key: "email.smtp_user", kind: "text" },
      { key: "email.smtp_password", kind: "secret" },
      { key: "email.from", kind: "text" },
    ],
  },
  {
    id: "payments",
    fields: [
      { key: "payments.provider", kind: "choice", options: PAYMENT_PROVIDERS },
      { key: "payments.stripe_secret_key", kind: "secret" },
      { key: "payments.stripe_webhook_secret", kind: "secret" },
      { key: "payments.min_top_up", kind: "money" },
      { key: "payments.max_top_up", kind: "money" },
    ],
  },
  {
    id: "webhooks",
    fields: [{ key: "webhooks.allow_private_networks", kind: "flag" }],
  },
  {
    id: "retention",
    fields: [{ key: "analytics.raw_retention_months", kind: "months" }],
  },
] as const satisfies readonly { id: string; fields: readonly SettingField[] }[];

export type SettingsSection = (typeof SETTINGS_SECTIONS)[number];
export type SectionId = SettingsSection["id"];

/** What the operator typed or chose, by key; a key without an edit shows the loaded value. */
export type SettingEdits = Partial<Record<SettingKey, string | boolean>>;

/** `analytics.raw_retention_months` is a `u32` in the configuration. */
const MONTHS_MAX = 4_294_967_295;

/** The loaded settings by key (a key the server does not list is left out). */
export function settingsByKey(list: Setting[]): Partial<Record<SettingKey, Setting>> {
  const out: Partial<Record<SettingKey, Setting>> = {};
  for (const s of list) out[s.key] = s;
  return out;
}

/** A loaded value as its input shows it (a secret's input starts empty). */
export function formValue(field: SettingField, value: unknown): string | boolean {
  switch (field.kind) {
    case "flag":
      return value === true;
    case "lines":
      return Array.isArray(value) ? value.join("\n") : "";
    case "secret":
      return "";
    default:
      return value === null || value === undefined ? "" : String(value);
  }
}

/** What the field shows: the edit, or else the loaded value. */
export function shown(field: SettingField, edits: SettingEdits, loaded: Setting | undefined): string | boolean {
  const edit = edits[field.key];
  return edit !== undefined ? edit : formValue(field, loaded?.value);
}

/** An input's text as the API takes it. */
function wireValue(field: SettingField, input: string | boolean): unknown {
  if (typeof input === "boolean") return input;
  const text = input.trim();
  switch (field.kind) {
    case "lines":
      return input
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter((line) => line !== "");
    case "port":
    case "months":
      return Number(text);
    default:
      return text;
  }
}

function check(field: SettingField, input: string | boolean): Problem | null {
  if (typeof input === "boolean") return null;
  switch (field.kind) {
    case "port":
      return checkWhole(input, 1, 65535);
    case "months":
      return checkWhole(input, 0, MONTHS_MAX) ? { key: "admin.settings.monthsInvalid" } : null;
    case "money":
      return checkMoney(input, 2);
    default:
      return null;
  }
}

/**
 * A section's PATCH body: each edited key whose value differs from the
 * loaded one, and each secret a new value was typed for; or the problems
 * that keep it from being sent.
 */
export function sectionChange(
  section: SettingsSection,
  edits: SettingEdits,
  loaded: Partial<Record<SettingKey, Setting>>,
): { change: SettingsChange; problems: FormProblems<SettingKey> } {
  const change: Record<string, unknown> = {};
  const problems: FormProblems<SettingKey> = {};
  for (const field of section.fields as readonly SettingField[]) {
    const edit = edits[field.key];
    if (edit === undefined) continue;
    if (field.kind === "secret") {
      if (typeof edit === "string" && edit.trim() !== "") change[field.key] = edit.trim();
      continue;
    }
    const problem = check(field, edit);
    if (problem) {
      problems[field.key] = problem;
      continue;
    }
    const value = wireValue(field, edit);
    if (JSON.stringify(value) !== JSON.stringify(loaded[field.key]?.value)) change[field.key] = value;
  }
  return { change: change as SettingsChange, problems };
}

/** Every key of a section, for mapping a 400 that names one to its field. */
export function sectionKeys(section: SettingsSection): Record<string, SettingKey> {
  return Object.fromEntries(section.fields.map((f) => [f.key, f.key]));
}
