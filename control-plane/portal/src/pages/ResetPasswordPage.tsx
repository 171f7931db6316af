import { useState } from "react";
import type { FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { useTranslation } from "react-i18next";
import { useMutation } from "@tanstack/react-query";
import { useAuth } from "../auth/AuthProvider";
import { ApiError } from "../api/errors";
import { AuthCard } from "../components/AuthLayout";
import { Alert } from "../components/Alert";
import { Button } from "../components/Button";
import { PasswordField } from "../components/Field";
import { AlertIcon, CheckCircleIcon } from "../components/icons";
import { errorMessage } from "../lib/errors";
import { PASSWORD_MIN, hasProblems, validateNewPassword } from "../lib/validation";
import type { NewPasswordValues, Problems } from "../lib/validation";

/** The emailed link lands here: `/reset-password?token=…`. */
export function ResetPasswordPage() {
  const { t } = useTranslation();
  const { client } = useAuth();
  const [params] = useSearchParams();
  const token = params.get("token");
  const [values, setValues] = useState<NewPasswordValues>({ password: "", confirm: "" });
  const [problems, setProblems] = useState<Problems<keyof NewPasswordValues>>({});
  const reset = useMutation({
    mutationFn: (password: string) => client.confirmPasswordReset(token ?? "", password),
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const found = validateNewPassword(values);
    setProblems(found);
    if (!hasProblems(found)) reset.mutate(values.password);
  };

  const requestNew = (
    <Link className="btn btn-primary btn-block" to="/forgot-password">
      {t("reset.requestNew")}
    </Link>
  );
  const back = <Link to="/login">{t("common.backToSignIn")}</Link>;

  if (!token) {
    return (
      <AuthCard icon={<AlertIcon size={26} />} title={t("reset.title")} subtitle={t("reset.missingToken")} footer={back}>
        {requestNew}
      </AuthCard>
    );
  }
  if (reset.isSuccess) {
    return (
      <AuthCard icon={<CheckCircleIcon size={26} />} title={t("reset.successTitle")} subtitle={t("reset.successBody")}>
        <Link className="btn btn-primary btn-block" to="/login">
          {t("verify.toSignIn")}
        </Link>
      </AuthCard>
    );
  }
  if (reset.error instanceof ApiError && reset.error.code === "invalid_token") {
    return (
      <AuthCard icon={<AlertIcon size={26} />} title={t("reset.invalidTitle")} subtitle={t("reset.invalidBody")} footer={back}>
        {requestNew}
      </AuthCard>
    );
  }
  return (
    <AuthCard title={t("reset.title")} subtitle={t("reset.subtitle")} footer={back}>
      {reset.isError && <Alert tone="error">{errorMessage(t, reset.error)}</Alert>}
      <form className="form" onSubmit={submit} noValidate>
        <PasswordField
          label={t("reset.newPassword")}
          name="new_password"
          autoComplete="new-password"
          value={values.password}
          onChange={(e) => setValues((v) => ({ ...v, password: e.target.value }))}
          problem={problems.password}
          hint={t("register.passwordHint", { min: PASSWORD_MIN })}
          autoFocus
        />
        <PasswordField
          label={t("reset.confirmPassword")}
          name="confirm_password"
          autoComplete="new-password"
          value={values.confirm}
          onChange={(e) => setValues((v) => ({ ...v, confirm: e.target.value }))}
          problem={problems.confirm}
        />
        <Button type="submit" block loading={reset.isPending}>
          {reset.isPending ? t("reset.submitting") : t("reset.submit")}
        </Button>
      </form>
    </AuthCard>
  );
}
