/**
 * Client-side checks of the forms. They mirror the server's rules so people
 * get an answer before a round trip; the server stays the authority and its
 * refusals are shown as they come. Each check returns an i18n key (with
 * values) or null.
 */
import type { DeveloperType } from "../api/types";

/** The server's password policy (control-plane `developers::Password`). */
export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 128;
export const NAME_MAX = 200;

export interface Problem {
  key:
    | "validation.required"
    | "validation.email"
    | "validation.passwordShort"
    | "validation.passwordLong"
    | "validation.passwordMismatch"
    | "validation.tooLong"
    | "validation.companyRequired"
    | "keys.form.modelsRequired"
    | "keys.form.endpointsRequired"
    | "keys.form.wholeNumber"
    | "keys.form.amount"
    | "keys.form.ipInvalid"
    | "keys.form.metadataInvalid"
    | "keys.form.metadataDuplicate"
    | "keys.form.serverProblem"
    | "webhooks.form.urlInvalid"
    | "webhooks.form.descriptionTooLong"
    | "webhooks.form.eventsRequired"
    | "webhooks.form.retriesInvalid"
    | "admin.form.wholeNumber"
    | "admin.form.money"
    | "admin.form.planId"
    | "admin.form.url"
    | "admin.form.catalogName"
    | "admin.form.serverProblem"
    | "admin.settings.monthsInvalid"
    | "admin.models.import.missing"
    | "admin.models.import.readFailed";
  values?: Record<string, number | string>;
}

export type Problems<F extends string> = Partial<Record<F, Problem>>;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function checkEmail(value: string): Problem | null {
  const email = value.trim();
  if (email === "") return { key: "validation.required" };
  if (email.length > 254 || !EMAIL.test(email)) return { key: "validation.email" };
  return null;
}

/** Presence only: the sign-in form must not reveal the policy of old accounts. */
export function checkRequired(value: string): Problem | null {
  return value.trim() === "" ? { key: "validation.required" } : null;
}

export function checkNewPassword(value: string): Problem | null {
  if (value === "") return { key: "validation.required" };
  const length = [...value].length; // code points, like the server
  if (length < PASSWORD_MIN) return { key: "validation.passwordShort", values: { min: PASSWORD_MIN } };
  if (length > PASSWORD_MAX) return { key: "validation.passwordLong", values: { max: PASSWORD_MAX } };
  return null;
}

function checkName(value: string, required: boolean): Problem | null {
  const name = value.trim();
  if (name === "") return required ? { key: "validation.required" } : null;
  if (name.length > NAME_MAX) return { key: "validation.tooLong", values: { max: NAME_MAX } };
  return null;
}

function collect<F extends string>(entries: [F, Problem | null][]): Problems<F> {
  const problems: Problems<F> = {};
  for (const [field, problem] of entries) if (problem) problems[field] = problem;
  return problems;
}

export function hasProblems(problems: Problems<string>): boolean {
  return Object.keys(problems).length > 0;
}

export interface LoginValues {
  email: string;
  password: string;
}

export function validateLogin(v: LoginValues): Problems<keyof LoginValues> {
  return collect<keyof LoginValues>([
    ["email", checkEmail(v.email)],
    ["password", checkRequired(v.password)],
  ]);
}

export interface RegisterValues {
  email: string;
  password: string;
  fullName: string;
  companyName: string;
  developerType: DeveloperType;
  inviteCode: string;
}

export function validateRegister(
  v: RegisterValues,
  inviteRequired: boolean,
): Problems<keyof RegisterValues> {
  return collect<keyof RegisterValues>([
    ["fullName", checkName(v.fullName, true)],
    ["email", checkEmail(v.email)],
    ["password", checkNewPassword(v.password)],
    [
      "companyName",
      v.developerType === "enterprise" && v.companyName.trim() === ""
        ? { key: "validation.companyRequired" }
        : checkName(v.companyName, false),
    ],
    ["inviteCode", inviteRequired ? checkRequired(v.inviteCode) : null],
  ]);
}

export interface NewPasswordValues {
  password: string;
  confirm: string;
}

export function validateNewPassword(v: NewPasswordValues): Problems<keyof NewPasswordValues> {
  return collect<keyof NewPasswordValues>([
    ["password", checkNewPassword(v.password)],
    [
      "confirm",
      v.confirm === "" ? { key: "validation.required" } : v.confirm !== v.password ? { key: "validation.passwordMismatch" } : null,
    ],
  ]);
}

export interface ChangePasswordValues extends NewPasswordValues {
  current: string;
}

export function validateChangePassword(v: ChangePasswordValues): Problems<keyof ChangePasswordValues> {
  return { ...collect<"current">([["current", checkRequired(v.current)]]), ...validateNewPassword(v) };
}

export interface ProfileValues {
  fullName: string;
  companyName: string;
  developerType: DeveloperType;
}

export function validateProfile(v: ProfileValues): Problems<keyof ProfileValues> {
  return collect<keyof ProfileValues>([
    ["fullName", checkName(v.fullName, true)],
    [
      "companyName",
      v.developerType === "enterprise" && v.companyName.trim() === ""
        ? { key: "validation.companyRequired" }
        : checkName(v.companyName, false),
    ],
  ]);
}
