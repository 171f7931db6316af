import { useEffect, useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { PROFILE_KEY, useAuth, useProfile } from "../auth/AuthProvider";
import type { DeveloperType, Language, Profile } from "../api/types";
import { Alert } from "../components/Alert";
import { Button } from "../components/Button";
import { PasswordField, SelectField, TextField } from "../components/Field";
import { FullPageLoader } from "../components/Loader";
import { LANGUAGES } from "../i18n";
import { errorMessage } from "../lib/errors";
import { useDocumentTitle } from "../lib/useDocumentTitle";
import { PASSWORD_MIN, hasProblems, validateChangePassword, validateProfile } from "../lib/validation";
import type { ChangePasswordValues, ProfileValues, Problems } from "../lib/validation";

export function ProfilePage() {
  const { t } = useTranslation();
  const profile = useProfile();
  useDocumentTitle(t("profile.title"));
  if (profile.isPending) return <FullPageLoader />;
  if (profile.isError) return <Alert tone="error">{errorMessage(t, profile.error)}</Alert>;
  return (
    <div className="page page-narrow">
      <div className="page-header">
        <h1 className="page-title">{t("profile.title")}</h1>
        <p className="page-subtitle">{t("profile.subtitle")}</p>
      </div>
      <DetailsForm profile={profile.data} />
      <PasswordForm />
    </div>
  );
}

interface DetailsValues extends ProfileValues {
  language: Language;
}

function fromProfile(p: Profile): DetailsValues {
  return {
    fullName: p.full_name,
    companyName: p.company_name ?? "",
    developerType: p.developer_type,
    language: p.language,
  };
}

function DetailsForm({ profile }: { profile: Profile }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const queryClient = useQueryClient();
  const [values, setValues] = useState<DetailsValues>(() => fromProfile(profile));
  const [problems, setProblems] = useState<Problems<keyof ProfileValues>>({});
  const save = useMutation({
    mutationFn: (v: DetailsValues) =>
      client.updateProfile({
        full_name: v.fullName.trim(),
        company_name: v.companyName.trim(),
        developer_type: v.developerType,
        language: v.language,
      }),
    onSuccess: (updated) => queryClient.setQueryData(PROFILE_KEY, updated),
  });

  // Follow the server's copy when it changes elsewhere (and after saving),
  // but not when a refetch brings the same values again: that would wipe
  // what is being typed.
  const server = JSON.stringify(fromProfile(profile));
  useEffect(() => setValues(JSON.parse(server) as DetailsValues), [server]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const found = validateProfile(values);
    setProblems(found);
    if (!hasProblems(found)) save.mutate(values);
  };

  const edit = <K extends keyof DetailsValues>(field: K, value: DetailsValues[K]) => {
    save.reset();
    setValues((v) => ({ ...v, [field]: value }));
  };

  return (
    <section className="card" aria-labelledby="details-title">
      <div className="card-header card-header-stacked">
        <h2 id="details-title" className="card-title">
          {t("profile.detailsTitle")}
        </h2>
        <p className="muted small">{t("profile.detailsBody")}</p>
      </div>
      <form className="form" onSubmit={submit} noValidate>
        <TextField label={t("common.email")} value={profile.email} readOnly disabled hint={t("profile.emailReadonly")} />
        <div className="form-row">
          <TextField
            label={t("profile.fullName")}
            name="full_name"
            autoComplete="name"
            value={values.fullName}
            onChange={(e) => edit("fullName", e.target.value)}
            problem={problems.fullName}
          />
          <TextField
            label={t("profile.companyName")}
            name="company_name"
            autoComplete="organization"
            optional={values.developerType === "individual"}
            value={values.companyName}
            onChange={(e) => edit("companyName", e.target.value)}
            problem={problems.companyName}
          />
        </div>
        <div className="form-row">
          <SelectField
            label={t("profile.developerType")}
            name="developer_type"
            value={values.developerType}
            onChange={(e) => edit("developerType", e.target.value as DeveloperType)}
          >
            <option value="individual">{t("register.individual")}</option>
            <option value="enterprise">{t("register.enterprise")}</option>
          </SelectField>
          <SelectField
            label={t("profile.emailLanguage")}
            name="language"
            hint={t("profile.emailLanguageHint")}
            value={values.language}
            onChange={(e) => edit("language", e.target.value as Language)}
          >
            {LANGUAGES.map((lang) => (
              <option key={lang} value={lang}>
                {t(`common.languages.${lang}`)}
              </option>
            ))}
          </SelectField>
        </div>
        {save.isError && <Alert tone="error">{errorMessage(t, save.error)}</Alert>}
        <div className="form-actions">
          {save.isSuccess && (
            <span className="text-success" role="status">
              {t("common.saved")}
            </span>
          )}
          <Button type="submit" loading={save.isPending}>
            {save.isPending ? t("common.saving") : t("common.save")}
          </Button>
        </div>
      </form>
    </section>
  );
}

const EMPTY_PASSWORDS: ChangePasswordValues = { current: "", password: "", confirm: "" };

function PasswordForm() {
  const { t } = useTranslation();
  const { client } = useAuth();
  const [values, setValues] = useState<ChangePasswordValues>(EMPTY_PASSWORDS);
  const [problems, setProblems] = useState<Problems<keyof ChangePasswordValues>>({});
  const change = useMutation({
    mutationFn: (v: ChangePasswordValues) => client.changePassword(v.current, v.password),
    onSuccess: () => setValues(EMPTY_PASSWORDS),
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const found = validateChangePassword(values);
    setProblems(found);
    if (!hasProblems(found)) change.mutate(values);
  };

  const edit = (field: keyof ChangePasswordValues) => (e: React.ChangeEvent<HTMLInputElement>) => {
    change.reset();
    setValues((v) => ({ ...v, [field]: e.target.value }));
  };

  return (
    <section className="card" aria-labelledby="password-title">
      <div className="card-header card-header-stacked">
        <h2 id="password-title" className="card-title">
          {t("profile.passwordTitle")}
        </h2>
        <p className="muted small">{t("profile.passwordBody", { min: PASSWORD_MIN })}</p>
      </div>
      <form className="form" onSubmit={submit} noValidate>
        <PasswordField
          label={t("profile.currentPassword")}
          name="current_password"
          autoComplete="current-password"
          value={values.current}
          onChange={edit("current")}
          problem={problems.current}
        />
        <div className="form-row">
          <PasswordField
            label={t("profile.newPassword")}
            name="new_password"
            autoComplete="new-password"
            value={values.password}
            onChange={edit("password")}
            problem={problems.password}
          />
          <PasswordField
            label={t("profile.confirmPassword")}
            name="confirm_password"
            autoComplete="new-password"
            value={values.confirm}
            onChange={edit("confirm")}
            problem={problems.confirm}
          />
        </div>
        {change.isError && <Alert tone="error">{errorMessage(t, change.error)}</Alert>}
        <div className="form-actions">
          {change.isSuccess && (
            <span className="text-success" role="status">
              {t("profile.passwordChanged")}
            </span>
          )}
          <Button type="submit" variant="secondary" loading={change.isPending}>
            {change.isPending ? t("profile.changingPassword") : t("profile.changePassword")}
          </Button>
        </div>
      </form>
    </section>
  );
}
