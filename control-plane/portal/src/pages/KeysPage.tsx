import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useQuery } from "@tanstack/react-query";
import { useAuth, useProfile } from "../auth/AuthProvider";
import type { AccountLimits, ApiKey, CreatedKey, RegeneratedKey } from "../api/types";
import { Alert } from "../components/Alert";
import { Button } from "../components/Button";
import { FullPageLoader } from "../components/Loader";
import { ChartIcon, EditIcon, KeyIcon, PlusIcon, RefreshIcon, TrashIcon } from "../components/icons";
import { errorMessage } from "../lib/errors";
import { useDocumentTitle } from "../lib/useDocumentTitle";
import { ResendButton } from "./ResendButton";
import {
  DeleteDialog,
  KEYS_QUERY,
  RegenerateDialog,
  SecretDialog,
  StatsDialog,
  usageQuery,
} from "./keys/dialogs";
import { KeyFormDialog } from "./keys/KeyForm";
import { KeyLimits, Sparkline, StatusPill, keyStatus } from "./keys/shared";

type Open =
  | { kind: "create" }
  | { kind: "edit"; key: ApiKey }
  | { kind: "regenerate"; key: ApiKey }
  | { kind: "delete"; key: ApiKey }
  | { kind: "stats"; key: ApiKey }
  | { kind: "secret"; result: CreatedKey | RegeneratedKey; regenerated: boolean }
  | null;

/** The developer's API keys: list, create, edit, regenerate, delete, usage. */
export function KeysPage() {
  const { t } = useTranslation();
  const { client } = useAuth();
  const profile = useProfile();
  useDocumentTitle(t("keys.title"));
  const page = useQuery({ queryKey: KEYS_QUERY, queryFn: () => client.listKeyPage() });
  const [open, setOpen] = useState<Open>(null);
  const close = () => setOpen(null);

  if (profile.isPending || page.isPending) return <FullPageLoader />;
  if (profile.isError) return <Alert tone="error">{errorMessage(t, profile.error)}</Alert>;
  const me = profile.data;
  const verified = me.email_verified;
  const keys = { isError: page.isError, error: page.error, data: page.data?.data };
  // The ceilings of every key's limits: from the key list, else the profile.
  const accountLimits: AccountLimits = page.data?.account_limits ?? {
    requests_per_minute: me.api_rate_limit,
    token_quota_monthly: me.api_quota_limit,
  };

  return (
    <div className="page">
      <div className="page-header page-header-row">
        <div>
          <h1 className="page-title">{t("keys.title")}</h1>
          <p className="page-subtitle">{t("keys.subtitle")}</p>
        </div>
        {verified && keys.data && keys.data.length > 0 && (
          <Button onClick={() => setOpen({ kind: "create" })}>
            <PlusIcon size={16} /> {t("keys.create")}
          </Button>
        )}
      </div>

      {!verified && (
        <Alert tone="warning" title={t("keys.verifyTitle")} action={<ResendButton email={me.email} />}>
          {t("keys.verifyBody", { email: me.email })}
        </Alert>
      )}

      {keys.isError && <Alert tone="error">{errorMessage(t, keys.error)}</Alert>}

      {keys.data && keys.data.length === 0 && (
        <section className="card empty">
          <span className="empty-icon">
            <KeyIcon size={24} />
          </span>
          <h2 className="empty-title">{t("keys.emptyTitle")}</h2>
          <p className="muted">{t("keys.emptyBody")}</p>
          <Button onClick={() => setOpen({ kind: "create" })} disabled={!verified}>
            <PlusIcon size={16} /> {t("keys.create")}
          </Button>
        </section>
      )}

      {keys.data && keys.data.length > 0 && (
        <section className="card key-list-card" aria-label={t("keys.listLabel")}>
          <ul className="key-list">
            {keys.data.map((key) => (
              <KeyRow key={key.id} apiKey={key} open={setOpen} />
            ))}
          </ul>
        </section>
      )}

      {open?.kind === "create" && (
        <KeyFormDialog
          accountLimits={accountLimits}
          onClose={close}
          onCreated={(result) => setOpen({ kind: "secret", result, regenerated: false })}
        />
      )}
      {open?.kind === "edit" && (
        <KeyFormDialog editing={open.key} accountLimits={accountLimits} onClose={close} />
      )}
      {open?.kind === "regenerate" && (
        <RegenerateDialog
          apiKey={open.key}
          onClose={close}
          onDone={(result) => setOpen({ kind: "secret", result, regenerated: true })}
        />
      )}
      {open?.kind === "delete" && <DeleteDialog apiKey={open.key} onClose={close} />}
      {open?.kind === "stats" && <StatsDialog apiKey={open.key} onClose={close} />}
      {open?.kind === "secret" && (
        <SecretDialog result={open.result} regenerated={open.regenerated} onClose={close} />
      )}
    </div>
  );
}

function KeyRow({ apiKey, open }: { apiKey: ApiKey; open: (o: Open) => void }) {
  const { t, i18n } = useTranslation();
  const { client } = useAuth();
  const usage = useQuery(usageQuery(client, apiKey.id));
  const date = new Intl.DateTimeFormat(i18n.language, { dateStyle: "medium" });
  const dateTime = new Intl.DateTimeFormat(i18n.language, { dateStyle: "medium", timeStyle: "short" });
  const status = keyStatus(apiKey);
  const requests = usage.data?.by_day.map((d) => d.requests) ?? [];
  const total = usage.data?.totals.requests ?? 0;
  const lastUsed = usage.data?.last_used_at_ms ?? apiKey.last_used_at_ms;
  const titleId = `key-${apiKey.id}-name`;

  return (
    <li className={`key-row key-row-${status}`} aria-labelledby={titleId}>
      <div className="key-main">
        <div className="key-title">
          <h3 className="key-name" id={titleId}>
            {apiKey.name}
          </h3>
          <StatusPill status={status} />
        </div>
        <code className="key-prefix">{apiKey.display_prefix}</code>
        <p className="key-models muted small">
          {apiKey.allowed_models === null
            ? t("keys.allModels")
            : apiKey.allowed_models.length <= 2
              ? apiKey.allowed_models.join(", ")
              : t("keys.modelsCount", { count: apiKey.allowed_models.length })}
        </p>
        <KeyLimits apiKey={apiKey} />
      </div>
      <dl className="key-facts">
        <div>
          <dt>{t("keys.created")}</dt>
          <dd>{date.format(new Date(apiKey.created_at_ms))}</dd>
        </div>
        <div>
          <dt>{t("keys.lastUsed")}</dt>
          <dd>{lastUsed ? dateTime.format(new Date(lastUsed)) : t("keys.never")}</dd>
        </div>
        <div>
          <dt>{t("keys.expires")}</dt>
          <dd>
            {apiKey.expires_at_ms === null
              ? t("keys.noExpiry")
              : date.format(new Date(apiKey.expires_at_ms))}
          </dd>
        </div>
      </dl>
      <div className="key-usage">
        <span className="key-usage-label">{t("keys.requests30d")}</span>
        <div className="key-usage-chart">
          <Sparkline values={requests} label={t("keys.sparklineLabel", { count: total })} />
          <span className="key-usage-total">{new Intl.NumberFormat(i18n.language).format(total)}</span>
        </div>
      </div>
      <div className="key-actions" role="group" aria-label={t("keys.actionsFor", { name: apiKey.name })}>
        <button type="button" className="btn btn-ghost btn-sm" onClick={() => open({ kind: "stats", key: apiKey })}>
          <ChartIcon size={16} /> {t("keys.usage")}
        </button>
        <button type="button" className="btn btn-ghost btn-sm" onClick={() => open({ kind: "edit", key: apiKey })}>
          <EditIcon size={16} /> {t("keys.edit")}
        </button>
        <button
          type="button"
          className="btn btn-ghost btn-sm"
          onClick={() => open({ kind: "regenerate", key: apiKey })}
        >
          <RefreshIcon size={16} /> {t("keys.regenerate")}
        </button>
        <button
          type="button"
          className="btn btn-ghost btn-sm btn-ghost-danger"
          onClick={() => open({ kind: "delete", key: apiKey })}
        >
          <TrashIcon size={16} /> {t("keys.delete")}
        </button>
      </div>
    </li>
  );
}
