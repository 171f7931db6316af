import { Link } from "react-router";
import { useTranslation } from "react-i18next";
import { AuthCard } from "../components/AuthLayout";

export function NotFoundPage() {
  const { t } = useTranslation();
  return (
    <AuthCard title={t("notFound.title")} subtitle={t("notFound.body")}>
      <Link className="btn btn-primary btn-block" to="/">
        {t("notFound.home")}
      </Link>
    </AuthCard>
  );
}
