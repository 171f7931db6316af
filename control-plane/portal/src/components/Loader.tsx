import { useTranslation } from "react-i18next";

export function Spinner({ label }: { label?: string }) {
  return <span className="spinner" role={label ? "status" : undefined} aria-label={label} />;
}

/** Shown while a stored session is being restored. */
export function FullPageLoader() {
  const { t } = useTranslation();
  return (
    <div className="full-page-loader">
      <Spinner label={t("common.loading")} />
    </div>
  );
}
