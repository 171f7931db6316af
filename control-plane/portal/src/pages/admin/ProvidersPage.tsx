import { useState } from "react";
import type { FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { PROVIDER_KINDS, useAdminApi } from "../../api/admin";
import type { Provider, ProviderKind, ProviderTest } from "../../api/admin";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { PasswordField, SelectField, TextField } from "../../components/Field";
import { Modal } from "../../components/Modal";
import { PlusIcon } from "../../components/icons";
import {
  PROVIDER_SERVER_FIELDS,
  providerForm,
  serverProblems,
  toCreateProvider,
  toUpdateProvider,
  validateProviderForm,
} from "./forms";
import type { FormProblems, ProviderField, ProviderForm } from "./forms";
import { AdminHeader, ConfirmDialog, EnabledPill, LoadState, Pill, adminErrorMessage, adminKeys } from "./shared";

type Dialog = { kind: "add" } | { kind: "edit"; provider: Provider } | { kind: "rotate"; provider: Provider } | null;

/** Every mutation of a provider changes what the checklist and the models' provider names say. */
function useInvalidateProviders() {
  const queryClient = useQueryClient();
  return async () => {
    await queryClient.invalidateQueries({ queryKey: adminKeys.providers });
    await queryClient.invalidateQueries({ queryKey: adminKeys.models });
    await queryClient.invalidateQueries({ queryKey: adminKeys.setup });
  };
}

/** `/admin/providers`: the upstreams, added, edited, switched on and off, their keys rotated and tested. */
export function ProvidersPage() {
  const { t } = useTranslation();
  const api = useAdminApi();
  const providers = useQuery({ queryKey: adminKeys.providers, queryFn: () => api.listProviders() });
  const [open, setOpen] = useState<Dialog>(null);
  return (
    <div className="page">
      <AdminHeader
        title={t("admin.providers.title")}
        subtitle={t("admin.providers.subtitle")}
        actions={
          <Button onClick={() => setOpen({ kind: "add" })}>
            <PlusIcon size={16} /> {t("admin.providers.add")}
          </Button>
        }
      />
      <section className="card">
        <LoadState query={providers} />
        {providers.data && providers.data.length === 0 && <p className="muted admin-empty">{t("admin.providers.empty")}</p>}
        {providers.data && providers.data.length > 0 && (
          <div className="table-wrap">
            <table className="table admin-table" aria-label={t("admin.providers.title")}>
              <thead>
                <tr>
                  <th scope="col">{t("admin.providers.name")}</th>
                  <th scope="col">{t("admin.providers.kind")}</th>
                  <th scope="col">{t("admin.providers.baseUrl")}</th>
                  <th scope="col">{t("admin.providers.key")}</th>
                  <th scope="col">{t("admin.providers.state")}</th>
                  <th scope="col">
                    <span className="sr-only">{t("admin.actions")}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {providers.data.map((p) => (
                  <ProviderRow key={p.id} provider={p} open={setOpen} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {open?.kind === "add" && <ProviderDialog onClose={() => setOpen(null)} />}
      {open?.kind === "edit" && <ProviderDialog provider={open.provider} onClose={() => setOpen(null)} />}
      {open?.kind === "rotate" && <RotateKeyDialog provider={open.provider} onClose={() => setOpen(null)} />}
    </div>
  );
}

function ProviderRow({ provider: p, open }: { provider: Provider; open: (d: Dialog) => void }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const invalidate = useInvalidateProviders();
  const toggle = useMutation({ mutationFn: () => api.updateProvider(p.id, { enabled: !p.enabled }), onSuccess: invalidate });
  const test = useMutation({ mutationFn: () => api.testProvider(p.id) });
  return (
    <>
    <tr className={p.enabled ? undefined : "row-muted"}>
      <th scope="row">
        {p.name}
        <div className="small muted">
          <code>{p.id}</code>
        </div>
      </th>
      <td>{t(`admin.providers.kinds.${p.kind === "anthropic" ? "anthropic" : "openai"}`)}</td>
      <td className="wrap">
        <code>{p.base_url}</code>
      </td>
      <td>
        <Pill tone={p.has_api_key ? "success" : "warning"}>
          {p.has_api_key ? t("admin.providers.keySet") : t("admin.providers.noKey")}
        </Pill>
      </td>
      <td>
        <EnabledPill enabled={p.enabled} />
      </td>
      <td className="admin-actions-cell">
        <div className="admin-row-actions" role="group" aria-label={t("admin.providers.actionsFor", { name: p.name })}>
          <Button variant="ghost" className="btn-sm" onClick={() => test.mutate()} loading={test.isPending}>
            {t("admin.providers.test")}
          </Button>
          <Button variant="ghost" className="btn-sm" onClick={() => open({ kind: "edit", provider: p })}>
            {t("admin.edit")}
          </Button>
          <Button variant="ghost" className="btn-sm" onClick={() => open({ kind: "rotate", provider: p })}>
            {t("admin.providers.rotate")}
          </Button>
          <Button variant="ghost" className="btn-sm" onClick={() => toggle.mutate()} loading={toggle.isPending}>
            {p.enabled ? t("admin.disable") : t("admin.enable")}
          </Button>
        </div>
      </td>
    </tr>
    {(toggle.isError || test.isError || test.data) && (
      <tr className="admin-row-detail">
        <td colSpan={6}>
          {toggle.isError && <Alert tone="error">{adminErrorMessage(t, toggle.error)}</Alert>}
          {test.isError && <Alert tone="error">{adminErrorMessage(t, test.error)}</Alert>}
          {test.data && <TestResult result={test.data} />}
        </td>
      </tr>
    )}
    </>
  );
}

/** What "Test connection" found: the provider's answer, how long it took and the models it lists, or why it failed. */
function TestResult({ result }: { result: ProviderTest }) {
  const { t } = useTranslation();
  return (
    <div className="provider-test" role="status" data-testid="provider-test">
      <p className="small">
        <Pill tone={result.ok ? "success" : "error"}>{result.ok ? t("admin.providers.testOk") : t("admin.providers.testFailed")}</Pill>{" "}
        {result.status !== null && t("admin.providers.testStatus", { status: result.status })}{" "}
        {t("admin.providers.testLatency", { ms: result.latency_ms })}
      </p>
      {result.error && <p className="small text-error">{result.error}</p>}
      {result.ok && (
        <p className="small muted">
          {result.models.length > 0
            ? t("admin.providers.testModels", { count: result.models.length, models: result.models.join(", ") })
            : t("admin.providers.testNoModels")}
        </p>
      )}
    </div>
  );
}

/** Add (no `provider`) or edit a provider's name and address. */
function ProviderDialog({ provider, onClose }: { provider?: Provider; onClose: () => void }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const invalidate = useInvalidateProviders();
  const [form, setForm] = useState<ProviderForm>(() => providerForm(provider));
  const [problems, setProblems] = useState<FormProblems<ProviderField>>({});
  const set = <K extends ProviderField>(field: K, value: ProviderForm[K]) => setForm((f) => ({ ...f, [field]: value }));
  const save = useMutation({
    mutationFn: () =>
      provider ? api.updateProvider(provider.id, toUpdateProvider(form, provider)) : api.createProvider(toCreateProvider(form)),
    onSuccess: async () => {
      await invalidate();
      onClose();
    },
    onError: (error) => setProblems(serverProblems(error, PROVIDER_SERVER_FIELDS)),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (save.isPending) return;
    const next = validateProviderForm(form);
    setProblems(next);
    if (Object.keys(next).length > 0) return;
    if (provider && Object.keys(toUpdateProvider(form, provider)).length === 0) return onClose();
    save.mutate();
  };
  return (
    <Modal
      title={provider ? t("admin.providers.editTitle", { name: provider.name }) : t("admin.providers.addTitle")}
      onClose={onClose}
      dismissable={!save.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={save.isPending}>
            {t("common.cancel")}
          </Button>
          <Button type="submit" form="provider-form" loading={save.isPending}>
            {save.isPending ? t("common.saving") : provider ? t("common.save") : t("admin.providers.create")}
          </Button>
        </>
      }
    >
      <form id="provider-form" className="form" onSubmit={submit} noValidate>
        {save.isError && <Alert tone="error">{adminErrorMessage(t, save.error)}</Alert>}
        <TextField
          label={t("admin.providers.name")}
          hint={t("admin.providers.nameHint")}
          value={form.name}
          onChange={(e) => set("name", e.target.value)}
          problem={problems.name}
          autoComplete="off"
          spellCheck={false}
        />
        {!provider && (
          <SelectField
            label={t("admin.providers.kind")}
            value={form.kind}
            onChange={(e) => set("kind", e.target.value as ProviderKind)}
            problem={problems.kind}
          >
            {PROVIDER_KINDS.map((k) => (
              <option key={k} value={k}>
                {t(`admin.providers.kinds.${k}`)}
              </option>
            ))}
          </SelectField>
        )}
        <TextField
          label={t("admin.providers.baseUrl")}
          type="url"
          inputMode="url"
          placeholder="https://api.openai.com/v1"
          value={form.baseUrl}
          onChange={(e) => set("baseUrl", e.target.value)}
          problem={problems.baseUrl}
          autoComplete="off"
          spellCheck={false}
        />
        {!provider && (
          <PasswordField
            label={t("admin.providers.apiKey")}
            hint={t("admin.providers.apiKeyHint")}
            value={form.apiKey}
            onChange={(e) => set("apiKey", e.target.value)}
            problem={problems.apiKey}
            autoComplete="new-password"
          />
        )}
      </form>
    </Modal>
  );
}

/** Replaces the upstream key (it is never shown again): confirmed in the dialog itself. */
function RotateKeyDialog({ provider, onClose }: { provider: Provider; onClose: () => void }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const invalidate = useInvalidateProviders();
  const [key, setKey] = useState("");
  const [missing, setMissing] = useState(false);
  const rotate = useMutation({
    mutationFn: () => api.updateProvider(provider.id, { api_key: key.trim() }),
    onSuccess: async () => {
      await invalidate();
      onClose();
    },
  });
  return (
    <ConfirmDialog
      title={t("admin.providers.rotateDialog.title", { name: provider.name })}
      body={t("admin.providers.rotateDialog.body")}
      confirmLabel={t("admin.providers.rotateDialog.submit")}
      pendingLabel={t("common.saving")}
      pending={rotate.isPending}
      error={rotate.error}
      onConfirm={() => {
        if (key.trim() === "") return setMissing(true);
        setMissing(false);
        rotate.mutate();
      }}
      onClose={onClose}
      focusCancel={false}
    >
      <PasswordField
        label={t("admin.providers.rotateDialog.newKey")}
        value={key}
        onChange={(e) => setKey(e.target.value)}
        problem={missing ? { key: "validation.required" } : undefined}
        autoComplete="new-password"
      />
    </ConfirmDialog>
  );
}
