import { useId, useState } from "react";
import { useTranslation } from "react-i18next";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useAuth } from "../../auth/AuthProvider";
import type { ApiKey, CreatedKey, RegeneratedKey } from "../../api/types";
import { ChoiceGroup } from "../../components/ChoiceGroup";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { Spinner } from "../../components/Loader";
import { Modal } from "../../components/Modal";
import { errorMessage } from "../../lib/errors";
import { CopyButton } from "./shared";

export const KEYS_QUERY = ["developer-keys"] as const;

/** The OpenAI SDK snippets, pointing at this platform's gateway. */
export function snippets(baseUrl: string, secret: string, model: string) {
  return {
    python: `from openai import OpenAI

client = OpenAI(
    base_url="${baseUrl}",
    api_key="${secret}",
)

response = client.chat.completions.create(
    model="${model}",
    messages=[{"role": "user", "content": "Hello!"}],
)
print(response.choices[0].message.content)
`,
    node: `import OpenAI from "openai";

const client = new OpenAI({
  baseURL: "${baseUrl}",
  apiKey: "${secret}",
});

const response = await client.chat.completions.create({
  model: "${model}",
  messages: [{ role: "user", content: "Hello!" }],
});
console.log(response.choices[0].message.content);
`,
  };
}

/** The secret, shown once, with copy buttons and a ready-to-paste snippet. */
export function SecretDialog({
  result,
  regenerated,
  onClose,
}: {
  result: CreatedKey | RegeneratedKey;
  regenerated?: boolean;
  onClose: () => void;
}) {
  const { t, i18n } = useTranslation();
  const [tab, setTab] = useState<"python" | "node">("python");
  const id = useId();
  const code = snippets(`${window.location.origin}/v1`, result.secret, result.allowed_models?.[0] ?? "gpt-4o-mini");
  const grace = "grace_expires_at_ms" in result ? result.grace_expires_at_ms : undefined;
  const tabs = [
    { value: "python", label: "Python" },
    { value: "node", label: "Node.js" },
  ] as const;
  return (
    <Modal
      title={regenerated ? t("keys.secret.regeneratedTitle") : t("keys.secret.createdTitle")}
      description={t("keys.secret.body")}
      onClose={onClose}
      size="lg"
      closeOnBackdrop={false}
      footer={
        <Button onClick={onClose} data-autofocus>
          {t("keys.secret.saved")}
        </Button>
      }
    >
      {regenerated && (
        <Alert tone="info">
          {grace
            ? t("keys.secret.graceBody", {
                time: new Intl.DateTimeFormat(i18n.language, { dateStyle: "medium", timeStyle: "short" }).format(
                  new Date(grace),
                ),
              })
            : t("keys.secret.revokedBody")}
        </Alert>
      )}
      <div className="field">
        <span className="field-label" id={`${id}-secret`}>
          {t("keys.secret.label")} · {result.name}
        </span>
        <div className="secret">
          <code className="secret-value" aria-labelledby={`${id}-secret`} data-testid="secret">
            {result.secret}
          </code>
          <CopyButton text={result.secret} label={t("keys.secret.copy")} />
        </div>
      </div>
      <div className="snippet">
        <div className="snippet-header">
          <span className="field-label">{t("keys.secret.snippetTitle")}</span>
          <div className="tabs" role="tablist" aria-label={t("keys.secret.snippetTabs")}>
            {tabs.map(({ value, label }) => (
              <button
                key={value}
                type="button"
                role="tab"
                id={`${id}-tab-${value}`}
                aria-selected={tab === value}
                aria-controls={`${id}-panel`}
                tabIndex={tab === value ? 0 : -1}
                className={`tab${tab === value ? " tab-active" : ""}`}
                onClick={() => setTab(value)}
                onKeyDown={(e) => {
                  if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
                    const next = value === "python" ? "node" : "python";
                    setTab(next);
                    document.getElementById(`${id}-tab-${next}`)?.focus();
                  }
                }}
              >
                {label}
              </button>
            ))}
          </div>
        </div>
        <div className="code-block" role="tabpanel" id={`${id}-panel`} aria-labelledby={`${id}-tab-${tab}`}>
          <pre tabIndex={0}>
            <code data-testid="snippet">{code[tab]}</code>
          </pre>
          <div className="code-copy">
            <CopyButton text={code[tab]} label={t("keys.secret.copySnippet")} />
          </div>
        </div>
      </div>
    </Modal>
  );
}

const GRACE = [
  { value: 0, label: "now" },
  { value: 3600, label: "hour" },
  { value: 86400, label: "day" },
] as const;

export function RegenerateDialog({
  apiKey,
  onClose,
  onDone,
}: {
  apiKey: ApiKey;
  onClose: () => void;
  onDone: (result: RegeneratedKey) => void;
}) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const queryClient = useQueryClient();
  const [grace, setGrace] = useState<number>(3600);
  const regen = useMutation({
    mutationFn: () => client.regenerateKey(apiKey.id, grace),
    onSuccess: async (result) => {
      await queryClient.invalidateQueries({ queryKey: KEYS_QUERY });
      onDone(result);
    },
  });
  return (
    <Modal
      title={t("keys.regen.title", { name: apiKey.name })}
      description={t("keys.regen.body")}
      onClose={onClose}
      dismissable={!regen.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={regen.isPending}>
            {t("common.cancel")}
          </Button>
          <Button onClick={() => regen.mutate()} loading={regen.isPending}>
            {regen.isPending ? t("keys.regen.submitting") : t("keys.regen.submit")}
          </Button>
        </>
      }
    >
      {regen.isError && <Alert tone="error">{errorMessage(t, regen.error)}</Alert>}
      <ChoiceGroup
        legend={t("keys.regen.grace")}
        options={GRACE.map(({ value, label }) => ({ value, label: t(`keys.regen.${label}`) }))}
        value={grace}
        onChange={setGrace}
        columns={3}
        autoFocusSelected
      />
    </Modal>
  );
}

export function DeleteDialog({ apiKey, onClose }: { apiKey: ApiKey; onClose: () => void }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const queryClient = useQueryClient();
  const remove = useMutation({
    mutationFn: () => client.deleteKey(apiKey.id),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: KEYS_QUERY });
      onClose();
    },
  });
  return (
    <Modal
      title={t("keys.remove.title", { name: apiKey.name })}
      description={t("keys.remove.body")}
      onClose={onClose}
      dismissable={!remove.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={remove.isPending} data-autofocus>
            {t("common.cancel")}
          </Button>
          <Button variant="danger" onClick={() => remove.mutate()} loading={remove.isPending}>
            {remove.isPending ? t("keys.remove.submitting") : t("keys.remove.submit")}
          </Button>
        </>
      }
    >
      <p className="key-ref">
        <code>{apiKey.display_prefix}</code>
      </p>
      {remove.isError && <Alert tone="error">{errorMessage(t, remove.error)}</Alert>}
    </Modal>
  );
}

export function usageQuery(client: ReturnType<typeof useAuth>["client"], id: string) {
  return { queryKey: [...KEYS_QUERY, id, "usage", 30], queryFn: () => client.getKeyUsage(id, 30), staleTime: 60_000 };
}

export function StatsDialog({ apiKey, onClose }: { apiKey: ApiKey; onClose: () => void }) {
  const { t, i18n } = useTranslation();
  const { client } = useAuth();
  const usage = useQuery(usageQuery(client, apiKey.id));
  const number = new Intl.NumberFormat(i18n.language);
  const money = new Intl.NumberFormat(i18n.language, {
    style: "currency",
    currency: "USD",
    minimumFractionDigits: 2,
    maximumFractionDigits: 4,
  });
  const cost = (nanos: number) => money.format(nanos / 1e9);
  const days = usage.data ? [...usage.data.by_day].reverse() : [];
  const active = days.filter((d) => d.requests > 0 || d.errors > 0);
  return (
    <Modal
      title={t("keys.stats.title", { name: apiKey.name })}
      description={t("keys.stats.subtitle", { days: 30 })}
      onClose={onClose}
      size="lg"
    >
      {usage.isPending && (
        <div className="center-pad">
          <Spinner />
        </div>
      )}
      {usage.isError && <Alert tone="error">{errorMessage(t, usage.error)}</Alert>}
      {usage.data && (
        <>
          <dl className="stats">
            <div>
              <dt>{t("keys.stats.requests")}</dt>
              <dd>{number.format(usage.data.totals.requests)}</dd>
            </div>
            <div>
              <dt>{t("keys.stats.tokens")}</dt>
              <dd>
                {number.format(usage.data.totals.prompt_tokens + usage.data.totals.completion_tokens)}
                <span className="stats-detail">
                  {t("keys.stats.tokensDetail", {
                    prompt: number.format(usage.data.totals.prompt_tokens),
                    completion: number.format(usage.data.totals.completion_tokens),
                  })}
                </span>
              </dd>
            </div>
            <div>
              <dt>{t("keys.stats.cost")}</dt>
              <dd>{cost(usage.data.totals.cost_nanos)}</dd>
            </div>
            <div>
              <dt>{t("keys.stats.errors")}</dt>
              <dd>{number.format(usage.data.totals.errors)}</dd>
            </div>
          </dl>
          {active.length === 0 ? (
            <p className="muted empty-note">{t("keys.stats.noUsage")}</p>
          ) : (
            <div className="table-wrap">
              <table className="table">
                <thead>
                  <tr>
                    <th scope="col">{t("keys.stats.date")}</th>
                    <th scope="col" className="num">
                      {t("keys.stats.requests")}
                    </th>
                    <th scope="col" className="num">
                      {t("keys.stats.tokens")}
                    </th>
                    <th scope="col" className="num">
                      {t("keys.stats.cost")}
                    </th>
                    <th scope="col" className="num">
                      {t("keys.stats.errors")}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {active.map((d) => (
                    <tr key={d.date}>
                      <th scope="row">{d.date}</th>
                      <td className="num">{number.format(d.requests)}</td>
                      <td className="num">{number.format(d.tokens)}</td>
                      <td className="num">{cost(d.cost_nanos)}</td>
                      <td className="num">{number.format(d.errors)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </Modal>
  );
}
