import { useState } from "react";
import type { KeyboardEvent } from "react";
import { useTranslation } from "react-i18next";
import type { TFunction } from "i18next";
import type { ApiKey } from "../../api/types";
import { CheckIcon, CloseIcon, CopyIcon } from "../../components/icons";

export type KeyStatus = "enabled" | "disabled" | "expired";

export function keyStatus(key: ApiKey, now: number = Date.now()): KeyStatus {
  if (key.expires_at_ms !== null && key.expires_at_ms <= now) return "expired";
  return key.enabled ? "enabled" : "disabled";
}

export function StatusPill({ status }: { status: KeyStatus }) {
  const { t } = useTranslation();
  const tone = status === "enabled" ? "pill-success" : status === "expired" ? "pill-error" : "pill-muted";
  return <span className={`pill ${tone}`}>{t(`keys.status.${status}`)}</span>;
}

/** Copies text; the Clipboard API where allowed, else a hidden textarea. */
export async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    if (!ok) throw new Error("copy refused");
  }
}

/** A copy button that says "Copied" for a moment (or that copying failed). */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const { t } = useTranslation();
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  return (
    <span className="copy">
      <button
        type="button"
        className="btn btn-secondary btn-sm"
        onClick={() => {
          copyText(text).then(
            () => {
              setState("copied");
              setTimeout(() => setState("idle"), 2000);
            },
            () => setState("failed"),
          );
        }}
      >
        {state === "copied" ? <CheckIcon size={16} /> : <CopyIcon size={16} />}
        {state === "copied" ? t("keys.secret.copied") : label}
      </button>
      {state === "failed" && (
        <span className="field-error" role="alert">
          {t("keys.secret.copyFailed")}
        </span>
      )}
    </span>
  );
}

/** Free-text model names as removable chips (Enter or comma adds one). */
export function ModelsInput({
  id,
  value,
  onChange,
  invalid,
  describedBy,
}: {
  id: string;
  value: string[];
  onChange: (models: string[]) => void;
  invalid?: boolean;
  describedBy?: string;
}) {
  const { t } = useTranslation();
  const [draft, setDraft] = useState("");
  const add = (text: string) => {
    const names = text
      .split(/[,\s]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    setDraft("");
    if (names.length === 0) return;
    const next = [...value];
    for (const name of names) if (!next.includes(name)) next.push(name);
    onChange(next);
  };
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === "Enter" || e.key === ",") {
      e.preventDefault();
      add(draft);
    } else if (e.key === "Backspace" && draft === "" && value.length > 0) {
      onChange(value.slice(0, -1));
    }
  };
  return (
    <div className={`tags input${invalid ? " tags-invalid" : ""}`}>
      {value.map((model) => (
        <span key={model} className="tag">
          {model}
          <button
            type="button"
            className="tag-remove"
            aria-label={t("keys.form.removeModel", { model })}
            onClick={() => onChange(value.filter((m) => m !== model))}
          >
            <CloseIcon size={12} />
          </button>
        </span>
      ))}
      <input
        id={id}
        className="tags-input"
        value={draft}
        placeholder={value.length === 0 ? t("keys.form.modelsPlaceholder") : undefined}
        aria-invalid={invalid || undefined}
        aria-describedby={describedBy}
        autoComplete="off"
        spellCheck={false}
        onChange={(e) => {
          const text = e.target.value;
          if (text.includes(",")) add(text);
          else setDraft(text);
        }}
        onKeyDown={onKeyDown}
        onBlur={() => add(draft)}
      />
    </div>
  );
}

/** Requests per day as a small inline-SVG line with a soft area under it. */
export function Sparkline({ values, label }: { values: number[]; label: string }) {
  const width = 120;
  const height = 32;
  const pad = 2;
  const max = Math.max(1, ...values);
  const n = Math.max(values.length, 2);
  const points = values.map((v, i) => {
    const x = pad + (i * (width - 2 * pad)) / (n - 1);
    const y = height - pad - (v / max) * (height - 2 * pad);
    return [x, y] as const;
  });
  const line = points.map(([x, y], i) => `${i === 0 ? "M" : "L"}${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  const first = points[0];
  const last = points[points.length - 1];
  const area =
    first && last ? `${line} L${last[0].toFixed(1)},${height - pad} L${first[0].toFixed(1)},${height - pad} Z` : "";
  return (
    <svg
      className="sparkline"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={label}
    >
      <line x1={pad} x2={width - pad} y1={height - pad} y2={height - pad} className="sparkline-base" />
      {area && <path d={area} className="sparkline-area" />}
      {line && <path d={line} className="sparkline-line" />}
    </svg>
  );
}

/**
 * A key's scopes and limits in one short line, e.g.
 * "chat, embeddings · 60 req/min · 10,000 tokens/month · $5.00/month · 2 IP ranges".
 * Endpoints are shown in their API spelling; null (every endpoint) is left out
 * unless nothing else is set.
 */
export function limitSummary(key: ApiKey, t: TFunction, language: string): string {
  const number = new Intl.NumberFormat(language);
  const money = new Intl.NumberFormat(language, {
    style: "currency",
    currency: "USD",
    minimumFractionDigits: 2,
    maximumFractionDigits: 4,
  });
  const limits = key.limits ?? {};
  const parts: string[] = [];
  if (key.allowed_endpoints) parts.push(key.allowed_endpoints.join(", "));
  type Label = "rpm" | "tpm" | "quotaTotal" | "quotaMonthly" | "budgetTotal" | "budgetMonthly";
  const count = (value: number | null | undefined, label: Label) => {
    if (value !== null && value !== undefined) parts.push(t(`keys.summary.${label}`, { value: number.format(value) }));
  };
  const usd = (value: string | null | undefined, label: Label) => {
    if (value !== null && value !== undefined && value !== "") {
      parts.push(t(`keys.summary.${label}`, { value: money.format(Number(value)) }));
    }
  };
  count(limits.requests_per_minute, "rpm");
  count(limits.tokens_per_minute, "tpm");
  count(limits.token_quota_total, "quotaTotal");
  count(limits.token_quota_monthly, "quotaMonthly");
  usd(limits.budget_total, "budgetTotal");
  usd(limits.budget_monthly, "budgetMonthly");
  if (key.ip_allowlist && key.ip_allowlist.length > 0) {
    parts.push(t("keys.summary.ipRanges", { count: key.ip_allowlist.length }));
  }
  if (parts.length === 0) return `${t("keys.allEndpoints")} · ${t("keys.summary.noLimits")}`;
  return parts.join(" · ");
}

/** The summary line plus the key's metadata as small `key=value` tags. */
export function KeyLimits({ apiKey }: { apiKey: ApiKey }) {
  const { t, i18n } = useTranslation();
  const metadata = Object.entries(apiKey.metadata ?? {});
  return (
    <>
      <p className="key-limits muted small" title={apiKey.ip_allowlist?.join("\n")}>
        <span className="sr-only">{t("keys.limitsLabel")}: </span>
        {limitSummary(apiKey, t, i18n.language)}
      </p>
      {metadata.length > 0 && (
        <ul className="key-metadata" aria-label={t("keys.metadata")}>
          {metadata.map(([k, v]) => (
            <li key={k} className="tag tag-static">
              {k}={typeof v === "string" ? v : JSON.stringify(v)}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
