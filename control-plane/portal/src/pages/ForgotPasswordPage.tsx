import { useState } from "react";
import type { FormEvent } from "react";
import { Link } from "react-router";
import { useTranslation } from "react-i18next";
import { useMutation } from "@tanstack/react-query";
import { useAuth } from "../auth/AuthProvider";
import { AuthCard } from "../components/AuthLayout";
import { Alert } from "../components/Alert";
import { Button } from "../components/Button";
import { TextField } from "../components/Field";
import { MailIcon } from "../components/icons";
import { errorMessage } from "../lib/errors";
import { checkEmail } from "../lib/validation";
import type { Problem } from "../lib/validation";

export function ForgotPasswordPage() {
  const { t } = useTranslation();
  const { client } = useAuth();
  const [email, setEmail] = useState("");
  const [problem, setProblem] = useState<Problem | undefined>();
  const request = useMutation({ mutationFn: (address: string) => client.requestPasswordReset(address) });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const found = checkEmail(email) ?? undefined;
    setProblem(found);
    if (!found) request.mutate(email.trim());
  };

  const back = <Link to="/login">{t("common.backToSignIn")}</Link>;
  if (request.isSuccess) {
    return (
      <AuthCard
        icon={<MailIcon size={26} />}
        title={t("forgot.sentTitle")}
        subtitle={t("forgot.sentBody", { email: request.variables })}
        footer={back}
      />
    );
  }
  return (
    <AuthCard title={t("forgot.title")} subtitle={t("forgot.subtitle")} footer={back}>
      {request.isError && <Alert tone="error">{errorMessage(t, request.error)}</Alert>}
      <form className="form" onSubmit={submit} noValidate>
        <TextField
          label={t("common.email")}
          type="email"
          name="email"
          autoComplete="email"
          inputMode="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          problem={problem}
          autoFocus
        />
        <Button type="submit" block loading={request.isPending}>
          {request.isPending ? t("forgot.submitting") : t("forgot.submit")}
        </Button>
      </form>
    </AuthCard>
  );
}
