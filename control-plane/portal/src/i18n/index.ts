import i18n from "i18next";
import { initReactI18next } from "react-i18next";
import en from "./en";
import zhCN from "./zh-CN";
import type { Language } from "../api/types";

export const LANGUAGES: readonly Language[] = ["en", "zh-CN"];
export const LANGUAGE_KEY = "aihub.language";

export const resources = {
  en: { translation: en },
  "zh-CN": { translation: zhCN },
} as const;

/** Maps a browser language tag (`zh`, `zh-Hans-CN`, `en-GB`, …) to a supported language. */
export function matchLanguage(tag: string | null | undefined): Language | null {
  if (!tag) return null;
  const lower = tag.toLowerCase();
  if (lower === "zh-cn" || lower === "zh" || lower.startsWith("zh-hans") || lower === "zh-sg") {
    return "zh-CN";
  }
  if (lower.startsWith("zh")) return "zh-CN"; // traditional Chinese readers still prefer it to English
  if (lower.startsWith("en")) return "en";
  return null;
}

/** The remembered choice, else the browser's preference, else English. */
export function initialLanguage(
  storage: Pick<Storage, "getItem"> | null = safeStorage(),
  preferred: readonly string[] = typeof navigator !== "undefined"
    ? navigator.languages ?? [navigator.language]
    : [],
): Language {
  const stored = storage?.getItem(LANGUAGE_KEY);
  if (stored === "en" || stored === "zh-CN") return stored;
  for (const tag of preferred) {
    const match = matchLanguage(tag);
    if (match) return match;
  }
  return "en";
}

/** Switches the interface language now and remembers it on this device. */
export async function setLanguage(language: Language): Promise<void> {
  try {
    safeStorage()?.setItem(LANGUAGE_KEY, language);
  } catch {
    // Storage unavailable: the choice lasts until reload.
  }
  await i18n.changeLanguage(language);
}

export function currentLanguage(): Language {
  return i18n.resolvedLanguage === "zh-CN" ? "zh-CN" : "en";
}

function safeStorage(): Storage | null {
  try {
    return typeof window !== "undefined" ? window.localStorage : null;
  } catch {
    return null;
  }
}

function syncDocument(language: string): void {
  if (typeof document !== "undefined") document.documentElement.lang = language;
}

void i18n.use(initReactI18next).init({
  resources,
  lng: initialLanguage(),
  fallbackLng: "en",
  supportedLngs: [...LANGUAGES],
  interpolation: { escapeValue: false }, // React escapes already
  returnNull: false,
});
syncDocument(i18n.language);
i18n.on("languageChanged", syncDocument);

export default i18n;
