import { describe, expect, it } from "vitest";
import en from "./en";
import zhCN from "./zh-CN";
import { initialLanguage, matchLanguage } from "./index";

/** Every leaf of a catalogue as "a.b.c" → text. */
function leaves(tree: object, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof value === "string") out.set(path, value);
    else for (const [k, v] of leaves(value as object, path)) out.set(k, v);
  }
  return out;
}

const placeholders = (text: string) => [...text.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort();

describe("catalogues", () => {
  const english = leaves(en);
  const chinese = leaves(zhCN);

  it("have exactly the same keys", () => {
    expect([...chinese.keys()].sort()).toEqual([...english.keys()].sort());
    expect(english.size).toBeGreaterThan(100);
  });

  it("have no empty strings", () => {
    for (const [key, text] of [...english, ...chinese]) expect(text.trim(), key).not.toBe("");
  });

  it("use the same placeholders in both languages", () => {
    for (const [key, text] of english) expect(placeholders(chinese.get(key) ?? ""), key).toEqual(placeholders(text));
  });

  it("are translated: Chinese differs from English for sentences", () => {
    const untranslated = [...english].filter(
      ([key, text]) => /[a-z]{3,} [a-z]{3,}/i.test(text) && chinese.get(key) === text,
    );
    expect(untranslated).toEqual([]);
  });
});

describe("language choice", () => {
  it("maps browser tags", () => {
    expect(matchLanguage("zh-CN")).toBe("zh-CN");
    expect(matchLanguage("zh")).toBe("zh-CN");
    expect(matchLanguage("zh-Hans-CN")).toBe("zh-CN");
    expect(matchLanguage("en-GB")).toBe("en");
    expect(matchLanguage("fr-FR")).toBeNull();
  });

  it("prefers the remembered choice, then the browser, then English", () => {
    const stored = (value: string | null) => ({ getItem: () => value });
    expect(initialLanguage(stored("zh-CN"), ["en-US"])).toBe("zh-CN");
    expect(initialLanguage(stored(null), ["fr-FR", "zh-TW"])).toBe("zh-CN");
    expect(initialLanguage(stored("klingon"), ["de"])).toBe("en");
  });
});
