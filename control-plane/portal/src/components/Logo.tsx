import { useTranslation } from "react-i18next";

/** The mark and the product's name. */
export function Logo({ compact = false }: { compact?: boolean }) {
  const { t } = useTranslation();
  return (
    <span className="logo">
      <svg className="logo-mark" width="28" height="28" viewBox="0 0 32 32" aria-hidden="true">
        <rect width="32" height="32" rx="8" fill="var(--brand)" />
        <path
          d="M9 22.5 15.2 9.5h1.6L23 22.5M11.6 17.5h8.8"
          fill="none"
          stroke="#fff"
          strokeWidth="2.4"
          strokeLinecap="round"
          strokeLinejoin="round"
        />
        <circle cx="23.5" cy="9" r="2.2" fill="var(--brand-accent)" />
      </svg>
      {!compact && <span className="logo-name">{t("brand.name")}</span>}
    </span>
  );
}
