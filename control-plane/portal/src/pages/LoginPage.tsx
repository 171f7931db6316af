import { useState } from "react";
import type { FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { useTranslation } from "react-i18next";
import { useMutation } from "@tanstack/react-query";
import { useAuth } from "../auth/AuthProvider";
import { safeNext } from "../auth/guards";
import { AuthCard } from "../components/AuthLayout";
import { Alert } from "../components/Alert";
import { Button } from "../components/Button";
import { PasswordField, TextField } from "../components/Field";
import { errorMessage } from "../lib/errors";
import { hasProblems, validateLogin } from "../lib/validation";
import type { Problems, LoginValues } from "../lib/validation";

export function LoginPage() {
  const { t } = useTranslation();
  const { client, sessionExpired } = useAuth();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [values, setValues] = useState<LoginValues>({ email: params.get("email") ?? "", password: "" });
  const [problems, setProblems] = useState<Problems<keyof LoginValues>>({});

  const login = useMutation({
    mutationFn: (v: LoginValues) => client.login(v.email.trim(), v.password),
    onSuccess: () => navigate(safeNext(params.get("next")), { replace: true }),
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const found = validateLogin(values);
    setProblems(found);
    if (!hasProblems(found)) login.mutate(values);
  };

  const set = (field: keyof LoginValues) => (e: React.ChangeEvent<HTMLInputElement>) =>
    setValues((v) => ({ ...v, [field]: e.target.value }));

  return (
    <AuthCard
      title={t("login.title")}
      subtitle={t("login.subtitle")}
      footer={
        <>
          {t("login.noAccount")} <Link to="/register">{t("login.createAccount")}</Link>
        </>
      }
    >
      {sessionExpired && !login.isError && <Alert tone="info">{t("login.sessionEnded")}</Alert>}
      {login.isError && <Alert tone="error">{errorMessage(t, login.error)}</Alert>}
      <form className="form" onSubmit={submit} noValidate>
        <TextField
          label={t("common.email")}
          type="email"
          name="email"
          autoComplete="email"
          inputMode="email"
          value={values.email}
          onChange={set("email")}
          problem={problems.email}
          autoFocus
        />
        <div className="field-with-link">
          <PasswordField
            label={t("common.password")}
            name="password"
            autoComplete="current-password"
            value={values.password}
            onChange={set("password")}
            problem={problems.password}
          />
          <Link className="field-link" to="/forgot-password">
            {t("login.forgot")}
          </Link>
        </div>
        <Button type="submit" block loading={login.isPending}>
          {login.isPending ? t("login.submitting") : t("login.submit")}
        </Button>
      </form>
    </AuthCard>
  );
}
