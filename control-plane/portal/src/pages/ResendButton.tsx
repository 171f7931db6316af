import { useTranslation } from "react-i18next";
import { useMutation } from "@tanstack/react-query";
import { useAuth } from "../auth/AuthProvider";
import { Button } from "../components/Button";
import { errorMessage } from "../lib/errors";

/** Sends the verification mail again; the answer never says whether the address exists. */
export function ResendButton({ email, variant = "secondary" }: { email: string; variant?: "secondary" | "ghost" }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const resend = useMutation({ mutationFn: () => client.resendVerification(email) });
  return (
    <div className="resend">
      <Button variant={variant} onClick={() => resend.mutate()} loading={resend.isPending} disabled={resend.isSuccess}>
        {resend.isPending ? t("dashboard.resending") : t("dashboard.resend")}
      </Button>
      <span className="resend-status" role="status">
        {resend.isSuccess && t("dashboard.resent")}
        {resend.isError && <span className="text-error">{errorMessage(t, resend.error)}</span>}
      </span>
    </div>
  );
}
