import { useTranslation } from "react-i18next";
import { LANGUAGES, currentLanguage, setLanguage } from "../i18n";
import type { Language } from "../api/types";
import { GlobeIcon } from "./icons";

/** Switches the interface language at once; remembered on this device. */
export function LanguageSwitcher() {
  const { t } = useTranslation();
  return (
    <div className="lang-switch">
      <GlobeIcon className="lang-switch-icon" />
      <select
        className="lang-switch-select"
        aria-label={t("common.language")}
        value={currentLanguage()}
        onChange={(e) => void setLanguage(e.target.value as Language)}
      >
        {LANGUAGES.map((lang) => (
          <option key={lang} value={lang} lang={lang}>
            {t(`common.languages.${lang}`)}
          </option>
        ))}
      </select>
    </div>
  );
}
