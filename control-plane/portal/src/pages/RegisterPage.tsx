import { useState } from "react";
import type { FormEvent } from "react";
import { Link } from "react-router";
import { useTranslation } from "react-i18next";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useAuth } from "../auth/AuthProvider";
import { ChoiceGroup } from "../components/ChoiceGroup";
import { AuthCard } from "../components/AuthLayout";
import { Alert } from "../components/Alert";
import { Button } from "../components/Button";
import { PasswordField, TextField } from "../components/Field";
import { MailIcon } from "../components/icons";
import { currentLanguage } from "../i18n";
import { errorMessage } from "../lib/errors";
import { PASSWORD_MIN, hasProblems, validateRegister } from "../lib/validation";
import type { Problems, RegisterValues } from "../lib/validation";
import type { DeveloperType } from "../api/types";
import { ResendButton } from "./ResendButton";

export function RegisterPage() {
  const { t } = useTranslation();
  const { client } = useAuth();
  const config = useQuery({ queryKey: ["auth-config"], queryFn: () => client.getAuthConfig(), staleTime: 60_000 });
  const [values, setValues] = useState<RegisterValues>({
    email: "",
    password: "",
    fullName: "",
    companyName: "",
    developerType: "individual",
    inviteCode: "",
  });
  const [problems, setProblems] = useState<Problems<keyof RegisterValues>>({});
  const inviteOnly = config.data?.signup === "invite_only";
  const closed = config.data?.signup === "closed";

  const register = useMutation({
    mutationFn: (v: RegisterValues) =>
      client.register({
        email: v.email.trim(),
        password: v.password,
        full_name: v.fullName.trim(),
        ...(v.companyName.trim() ? { company_name: v.companyName.trim() } : {}),
        developer_type: v.developerType,
        language: currentLanguage(),
        ...(inviteOnly ? { invite_code: v.inviteCode.trim() } : {}),
      }),
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const found = validateRegister(values, inviteOnly);
    setProblems(found);
    if (!hasProblems(found)) register.mutate(values);
  };

  const set = (field: keyof RegisterValues) => (e: React.ChangeEvent<HTMLInputElement>) =>
    setValues((v) => ({ ...v, [field]: e.target.value }));

  if (register.isSuccess) {
    const email = register.variables.email.trim();
    return (
      <AuthCard
        icon={<MailIcon size={26} />}
        title={t("register.sentTitle")}
        subtitle={t("register.sentBody", { email })}
        footer={<Link to="/login">{t("common.backToSignIn")}</Link>}
      >
        <p className="muted small">{t("register.sentHint")}</p>
        <ResendButton email={email} />
      </AuthCard>
    );
  }

  const types: { value: DeveloperType; label: string; hint: string }[] = [
    { value: "individual", label: t("register.individual"), hint: t("register.individualHint") },
    { value: "enterprise", label: t("register.enterprise"), hint: t("register.enterpriseHint") },
  ];

  return (
    <AuthCard
      title={t("register.title")}
      subtitle={t("register.subtitle")}
      footer={
        <>
          {t("register.haveAccount")} <Link to="/login">{t("register.signIn")}</Link>
        </>
      }
    >
      {closed && <Alert tone="warning">{t("register.closed")}</Alert>}
      {inviteOnly && <Alert tone="info">{t("register.inviteOnly")}</Alert>}
      {register.isError && <Alert tone="error">{errorMessage(t, register.error)}</Alert>}
      <form className="form" onSubmit={submit} noValidate>
        <fieldset className="form" disabled={closed}>
          <ChoiceGroup
            legend={t("register.developerType")}
            name="developer_type"
            options={types}
            value={values.developerType}
            onChange={(developerType) => setValues((v) => ({ ...v, developerType }))}
          />
          <TextField
            label={t("register.fullName")}
            name="full_name"
            autoComplete="name"
            value={values.fullName}
            onChange={set("fullName")}
            problem={problems.fullName}
          />
          <TextField
            label={t("register.companyName")}
            name="company_name"
            autoComplete="organization"
            optional={values.developerType === "individual"}
            value={values.companyName}
            onChange={set("companyName")}
            problem={problems.companyName}
          />
          <TextField
            label={t("common.email")}
            type="email"
            name="email"
            autoComplete="email"
            inputMode="email"
            value={values.email}
            onChange={set("email")}
            problem={problems.email}
          />
          <PasswordField
            label={t("common.password")}
            name="password"
            autoComplete="new-password"
            value={values.password}
            onChange={set("password")}
            problem={problems.password}
            hint={t("register.passwordHint", { min: PASSWORD_MIN })}
          />
          {inviteOnly && (
            <TextField
              label={t("register.inviteCode")}
              name="invite_code"
              autoComplete="off"
              value={values.inviteCode}
              onChange={set("inviteCode")}
              problem={problems.inviteCode}
            />
          )}
          <Button type="submit" block loading={register.isPending}>
            {register.isPending ? t("register.submitting") : t("register.submit")}
          </Button>
          <p className="muted small center">{t("register.terms")}</p>
        </fieldset>
      </form>
    </AuthCard>
  );
}
