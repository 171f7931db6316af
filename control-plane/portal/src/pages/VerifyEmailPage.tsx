import { useEffect, useRef, useState } from "react";
import type { FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { useTranslation } from "react-i18next";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { PROFILE_KEY, useAuth, useProfile } from "../auth/AuthProvider";
import { AuthCard } from "../components/AuthLayout";
import { Alert } from "../components/Alert";
import { Button } from "../components/Button";
import { TextField } from "../components/Field";
import { Spinner } from "../components/Loader";
import { AlertIcon, CheckCircleIcon, MailIcon } from "../components/icons";
import { errorMessage } from "../lib/errors";
import { checkEmail } from "../lib/validation";
import type { Problem } from "../lib/validation";

type State = "verifying" | "verified" | "failed";

/** The emailed link lands here: `/verify-email?token=…`. */
export function VerifyEmailPage() {
  const { t } = useTranslation();
  const { client, status } = useAuth();
  const queryClient = useQueryClient();
  const [params] = useSearchParams();
  const token = params.get("token");
  const [state, setState] = useState<State>("verifying");
  const [error, setError] = useState<unknown>(null);
  // The token is single-use: send it once, even when React mounts twice.
  const sent = useRef<string | null>(null);

  useEffect(() => {
    if (!token || sent.current === token) return;
    sent.current = token;
    client.verifyEmail(token).then(
      () => {
        setState("verified");
        void queryClient.invalidateQueries({ queryKey: PROFILE_KEY });
      },
      (e: unknown) => {
        setError(e);
        setState("failed");
      },
    );
  }, [token, client, queryClient]);

  const signedIn = status === "authenticated";
  if (!token) {
    return (
      <AuthCard icon={<MailIcon size={26} />} title={t("verify.title")} subtitle={t("verify.missingToken")}>
        <ResendForm />
      </AuthCard>
    );
  }
  if (state === "verifying") {
    return (
      <AuthCard title={t("verify.title")}>
        <div className="center-row">
          <Spinner label={t("verify.verifying")} /> <span className="muted">{t("verify.verifying")}</span>
        </div>
      </AuthCard>
    );
  }
  if (state === "verified") {
    return (
      <AuthCard
        icon={<CheckCircleIcon size={26} />}
        title={t("verify.successTitle")}
        subtitle={t("verify.successBody")}
      >
        <Link className="btn btn-primary btn-block" to={signedIn ? "/" : "/login"}>
          {signedIn ? t("verify.toDashboard") : t("verify.toSignIn")}
        </Link>
      </AuthCard>
    );
  }
  return (
    <AuthCard
      icon={<AlertIcon size={26} />}
      title={t("verify.failedTitle")}
      subtitle={t("verify.failedBody")}
      footer={<Link to={signedIn ? "/" : "/login"}>{signedIn ? t("verify.toDashboard") : t("common.backToSignIn")}</Link>}
    >
      {error !== null && !(error instanceof Error && "code" in error && error.code === "invalid_token") && (
        <Alert tone="error">{errorMessage(t, error)}</Alert>
      )}
      <ResendForm />
    </AuthCard>
  );
}

function ResendForm() {
  const { t } = useTranslation();
  const { client } = useAuth();
  const { data: profile } = useProfile();
  const [email, setEmail] = useState(profile?.email ?? "");
  const [problem, setProblem] = useState<Problem | undefined>();
  const resend = useMutation({ mutationFn: (address: string) => client.resendVerification(address) });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const found = checkEmail(email) ?? undefined;
    setProblem(found);
    if (!found) resend.mutate(email.trim());
  };

  if (resend.isSuccess) return <Alert tone="success">{t("verify.resent")}</Alert>;
  return (
    <form className="form" onSubmit={submit} noValidate>
      {resend.isError && <Alert tone="error">{errorMessage(t, resend.error)}</Alert>}
      <TextField
        label={t("common.email")}
        type="email"
        name="email"
        autoComplete="email"
        value={email}
        onChange={(e) => setEmail(e.target.value)}
        problem={problem}
      />
      <Button type="submit" variant="secondary" block loading={resend.isPending}>
        {resend.isPending ? t("verify.resending") : t("verify.resend")}
      </Button>
    </form>
  );
}
