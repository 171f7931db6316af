/**
 * The models page's dialogs: a model (name, prices, plans), a deployment,
 * deleting a deployment, and importing a price list.
 */
import { useEffect, useId, useRef, useState } from "react";
import type { FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { priceListFormat, useAdminApi } from "../../api/admin";
import type { AdminApi, AdminModel, Deployment, PriceListFormat, PriceListImport } from "../../api/admin";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { SelectField, TextAreaField, TextField } from "../../components/Field";
import { Modal } from "../../components/Modal";
import type { Problem } from "../../lib/validation";
import {
  DEPLOYMENT_SERVER_FIELDS,
  MODEL_SERVER_FIELDS,
  deploymentForm,
  modelForm,
  serverProblems,
  toCreateDeployment,
  toCreateModel,
  toUpdateDeployment,
  toUpdateModel,
  validateDeploymentForm,
  validateModelForm,
} from "./forms";
import type { DeploymentField, DeploymentForm, FormProblems, ModelField, ModelForm, PriceForm } from "./forms";
import { ConfirmDialog, LoadState, adminErrorMessage, adminKeys, usePrice } from "./shared";

export const plansQuery = (api: AdminApi) => ({ queryKey: adminKeys.plans, queryFn: () => api.listPlans(), staleTime: 60_000 });
const providersQuery = (api: AdminApi) => ({
  queryKey: adminKeys.providers,
  queryFn: () => api.listProviders(),
  staleTime: 60_000,
});

/** A change of a model or deployment may finish (or undo) a setup step and changes the health table's names. */
export function useInvalidateModels() {
  const queryClient = useQueryClient();
  return async () => {
    await queryClient.invalidateQueries({ queryKey: adminKeys.models });
    await queryClient.invalidateQueries({ queryKey: adminKeys.setup });
  };
}

/** Three prices per million tokens; `labels` says whose (the model's list price or the provider's). */
function PriceFields({
  value,
  onChange,
  problems,
  labels,
  cachedHint,
}: {
  value: PriceForm;
  onChange: (value: PriceForm) => void;
  problems: Partial<Record<keyof PriceForm, Problem>>;
  labels: { input: string; output: string; cached: string };
  cachedHint: string;
}) {
  const field = (name: keyof PriceForm, hint?: string) => (
    <TextField
      label={labels[name]}
      inputMode="decimal"
      placeholder="0.00"
      value={value[name]}
      onChange={(e) => onChange({ ...value, [name]: e.target.value })}
      problem={problems[name]}
      hint={hint}
      autoComplete="off"
    />
  );
  return (
    <div className="form-row-3">
      {field("input")}
      {field("output")}
      {field("cached", cachedHint)}
    </div>
  );
}

/** Checkboxes of the plans a model is offered to; none checked: every plan. */
function PlanPicker({ value, onChange }: { value: string[]; onChange: (plans: string[]) => void }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const plans = useQuery(plansQuery(api));
  const hintId = useId();
  const known = new Set((plans.data ?? []).map((p) => p.id));
  // Plans the model names that no longer exist stay visible, so they can be removed.
  const listed = [...(plans.data ?? []), ...value.filter((id) => !known.has(id)).map((id) => ({ id, name: id, public: false }))];
  return (
    <fieldset className="choice-group" aria-describedby={hintId}>
      <legend className="field-label">{t("admin.models.visibleTo")}</legend>
      <p className="field-hint" id={hintId}>
        {t("admin.models.visibleToHint")}
      </p>
      <LoadState query={plans} />
      <div className="plan-checks">
        {listed.map((p) => {
          const checked = value.includes(p.id);
          return (
            <label key={p.id} className={`check${checked ? " check-selected" : ""}`}>
              <input
                type="checkbox"
                checked={checked}
                onChange={(e) => onChange(e.target.checked ? [...value, p.id] : value.filter((id) => id !== p.id))}
              />
              <span>
                {p.name}
                {!p.public && <span className="muted small"> · {t("admin.plans.private")}</span>}
              </span>
            </label>
          );
        })}
      </div>
    </fieldset>
  );
}

/** Create (no `model`) or edit a model: name, list prices, on/off and the plans it is offered to. */
export function ModelDialog({ model, onClose }: { model?: AdminModel; onClose: () => void }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const invalidate = useInvalidateModels();
  const [form, setForm] = useState<ModelForm>(() => modelForm(model));
  const [problems, setProblems] = useState<FormProblems<ModelField>>({});
  const save = useMutation({
    mutationFn: () => (model ? api.updateModel(model.id, toUpdateModel(form, model)) : api.createModel(toCreateModel(form))),
    onSuccess: async () => {
      await invalidate();
      onClose();
    },
    onError: (error) => setProblems(serverProblems(error, MODEL_SERVER_FIELDS)),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (save.isPending) return;
    const next = validateModelForm(form);
    setProblems(next);
    if (Object.keys(next).length > 0) return;
    if (model && Object.keys(toUpdateModel(form, model)).length === 0) return onClose();
    save.mutate();
  };
  return (
    <Modal
      title={model ? t("admin.models.editTitle", { name: model.name }) : t("admin.models.addTitle")}
      onClose={onClose}
      size="lg"
      dismissable={!save.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={save.isPending}>
            {t("common.cancel")}
          </Button>
          <Button type="submit" form="model-form" loading={save.isPending}>
            {save.isPending ? t("common.saving") : model ? t("common.save") : t("admin.models.create")}
          </Button>
        </>
      }
    >
      <form id="model-form" className="form" onSubmit={submit} noValidate>
        {save.isError && <Alert tone="error">{adminErrorMessage(t, save.error)}</Alert>}
        <TextField
          label={t("admin.models.name")}
          hint={t("admin.models.nameHint")}
          value={form.name}
          onChange={(e) => setForm((f) => ({ ...f, name: e.target.value }))}
          problem={problems.name}
          autoComplete="off"
          spellCheck={false}
        />
        <p className="form-subtitle">{t("admin.models.pricesTitle")}</p>
        <PriceFields
          value={form.prices}
          onChange={(prices) => setForm((f) => ({ ...f, prices }))}
          problems={problems}
          labels={{
            input: t("admin.models.inputPrice"),
            output: t("admin.models.outputPrice"),
            cached: t("admin.models.cachedPrice"),
          }}
          cachedHint={t("admin.models.cachedHint")}
        />
        <PlanPicker value={form.plans} onChange={(plans) => setForm((f) => ({ ...f, plans }))} />
        <label className="switch-row">
          <input type="checkbox" checked={form.enabled} onChange={(e) => setForm((f) => ({ ...f, enabled: e.target.checked }))} />
          <span>
            <span className="choice-label">{t("admin.enabled")}</span>
            <span className="choice-hint">{t("admin.models.enabledHint")}</span>
          </span>
        </label>
      </form>
    </Modal>
  );
}

/** Add a deployment to `model` (no `deployment`) or edit one. */
export function DeploymentDialog({
  model,
  deployment,
  onClose,
}: {
  model: AdminModel;
  deployment?: Deployment;
  onClose: () => void;
}) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const invalidate = useInvalidateModels();
  const providers = useQuery(providersQuery(api));
  const [form, setForm] = useState<DeploymentForm>(() => deploymentForm(deployment));
  const [problems, setProblems] = useState<FormProblems<DeploymentField>>({});
  const set = <K extends keyof DeploymentForm>(field: K, value: DeploymentForm[K]) =>
    setForm((f) => ({ ...f, [field]: value }));
  const save = useMutation({
    mutationFn: () =>
      deployment
        ? api.updateDeployment(deployment.id, toUpdateDeployment(form, deployment))
        : api.addDeployment(model.id, toCreateDeployment(form)),
    onSuccess: async () => {
      await invalidate();
      onClose();
    },
    onError: (error) => setProblems(serverProblems(error, DEPLOYMENT_SERVER_FIELDS)),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (save.isPending) return;
    const next = validateDeploymentForm(form, !deployment);
    setProblems(next);
    if (Object.keys(next).length > 0) return;
    if (deployment && Object.keys(toUpdateDeployment(form, deployment)).length === 0) return onClose();
    save.mutate();
  };
  const number = (field: "weight" | "priority" | "timeoutMs", label: string, hint: string) => (
    <TextField
      label={label}
      hint={hint}
      inputMode="numeric"
      value={form[field]}
      onChange={(e) => set(field, e.target.value)}
      problem={problems[field]}
      autoComplete="off"
    />
  );
  return (
    <Modal
      title={
        deployment
          ? t("admin.models.editDeploymentTitle", { name: deployment.upstream_model })
          : t("admin.models.addDeploymentTitle", { name: model.name })
      }
      onClose={onClose}
      size="lg"
      dismissable={!save.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={save.isPending}>
            {t("common.cancel")}
          </Button>
          <Button type="submit" form="deployment-form" loading={save.isPending}>
            {save.isPending ? t("common.saving") : deployment ? t("common.save") : t("admin.models.createDeployment")}
          </Button>
        </>
      }
    >
      <form id="deployment-form" className="form" onSubmit={submit} noValidate>
        {save.isError && <Alert tone="error">{adminErrorMessage(t, save.error)}</Alert>}
        {deployment ? (
          <p className="small muted">
            {t("admin.models.provider")}: <strong>{deployment.provider_name}</strong>
          </p>
        ) : (
          <>
            <LoadState query={providers} />
            {providers.data && providers.data.length === 0 && <Alert tone="warning">{t("admin.models.noProviders")}</Alert>}
            <SelectField
              label={t("admin.models.provider")}
              value={form.providerId}
              onChange={(e) => set("providerId", e.target.value)}
              problem={problems.providerId}
            >
              <option value="">{t("admin.models.chooseProvider")}</option>
              {(providers.data ?? []).map((p) => (
                <option key={p.id} value={p.id}>
                  {p.enabled ? p.name : `${p.name} (${t("admin.disabled")})`}
                </option>
              ))}
            </SelectField>
          </>
        )}
        <TextField
          label={t("admin.models.upstreamModel")}
          hint={deployment ? undefined : t("admin.models.upstreamModelHint", { name: model.name })}
          optional={!deployment}
          value={form.upstreamModel}
          onChange={(e) => set("upstreamModel", e.target.value)}
          problem={problems.upstreamModel}
          autoComplete="off"
          spellCheck={false}
        />
        <div className="form-row-3">
          {number("weight", t("admin.models.weight"), t("admin.models.weightHint"))}
          {number("priority", t("admin.models.priority"), t("admin.models.priorityHint"))}
          {number("timeoutMs", t("admin.models.timeoutLabel"), t("admin.models.timeoutHint"))}
        </div>
        <p className="form-subtitle">{t("admin.models.upstreamPricesTitle")}</p>
        <p className="small muted">{t("admin.models.upstreamPricesHint")}</p>
        <PriceFields
          value={form.upstreamPrices}
          onChange={(upstreamPrices) => set("upstreamPrices", upstreamPrices)}
          problems={problems}
          labels={{
            input: t("admin.models.upstreamInput"),
            output: t("admin.models.upstreamOutput"),
            cached: t("admin.models.upstreamCached"),
          }}
          cachedHint={t("admin.models.cachedHint")}
        />
        <label className="switch-row">
          <input type="checkbox" checked={form.enabled} onChange={(e) => set("enabled", e.target.checked)} />
          <span>
            <span className="choice-label">{t("admin.enabled")}</span>
            <span className="choice-hint">{t("admin.models.deploymentEnabledHint")}</span>
          </span>
        </label>
      </form>
    </Modal>
  );
}

export function DeleteDeploymentDialog({ deployment, onClose }: { deployment: Deployment; onClose: () => void }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const invalidate = useInvalidateModels();
  const remove = useMutation({
    mutationFn: () => api.deleteDeployment(deployment.id),
    onSuccess: async () => {
      await invalidate();
      onClose();
    },
  });
  return (
    <ConfirmDialog
      title={t("admin.models.deleteDialog.title")}
      body={t("admin.models.deleteDialog.body", { name: deployment.upstream_model, provider: deployment.provider_name })}
      confirmLabel={t("admin.models.deleteDialog.submit")}
      pendingLabel={t("admin.models.deleteDialog.submitting")}
      pending={remove.isPending}
      error={remove.error}
      onConfirm={() => remove.mutate()}
      onClose={onClose}
    />
  );
}

/** A price list as it is sent: the text of the file (or of the paste) and its format. */
interface PriceList {
  text: string;
  format: PriceListFormat;
}

/** A file's whole text. */
function readText(file: Blob): Promise<string> {
  if (typeof file.text === "function") return file.text();
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result ?? ""));
    reader.onerror = () => reject(reader.error);
    reader.readAsText(file);
  });
}

/**
 * Import a price list (a CSV or JSON file, or pasted text): Preview sends it
 * as a dry run and shows the difference; Apply prices sends the previewed
 * list for real. A change of the list after its preview makes the preview
 * stale: it must be previewed again before it can be applied.
 */
export function ImportPricesDialog({ onClose }: { onClose: () => void }) {
  const { t } = useTranslation();
  const api = useAdminApi();
  const invalidate = useInvalidateModels();
  const doneId = useId();
  const appliedId = useId();
  // The chosen file (its text is null while it is read), or the pasted text.
  const [file, setFile] = useState<{ name: string; text: string | null } | null>(null);
  const [pasted, setPasted] = useState("");
  // Remounting the file input clears it.
  const [fileInputKey, setFileInputKey] = useState(0);
  // Bumped by every change of the list; a preview holds for the version it was made of.
  const latest = useRef(0);
  const [version, setVersion] = useState(0);
  const [problem, setProblem] = useState<Problem | undefined>();
  const [preview, setPreview] = useState<{ version: number; list: PriceList; result: PriceListImport } | null>(null);
  const [applied, setApplied] = useState<PriceListImport | null>(null);

  const check = useMutation({
    mutationFn: (request: { version: number; list: PriceList }) =>
      api.importPriceList(request.list.text, request.list.format, true),
    // An answer to an older preview that arrives late does not replace a newer one.
    onSuccess: (result, request) =>
      setPreview((p) => (p !== null && p.version > request.version ? p : { version: request.version, list: request.list, result })),
  });
  const apply = useMutation({
    mutationFn: (list: PriceList) => api.importPriceList(list.text, list.format, false),
    onSuccess: async (result) => {
      await invalidate();
      setApplied(result);
    },
  });

  useEffect(() => {
    if (applied) document.getElementById(doneId)?.focus();
  }, [applied, doneId]);

  const changed = () => {
    latest.current += 1;
    setVersion(latest.current);
    setProblem(undefined);
    check.reset();
    apply.reset();
  };

  const chooseFile = async (chosen: File | null) => {
    changed();
    const mine = latest.current;
    setPasted("");
    setFile(chosen ? { name: chosen.name, text: null } : null);
    if (!chosen) return;
    try {
      const text = await readText(chosen);
      if (latest.current === mine) setFile({ name: chosen.name, text });
    } catch {
      if (latest.current === mine) {
        setFile(null);
        setProblem({ key: "admin.models.import.readFailed" });
      }
    }
  };

  const paste = (text: string) => {
    changed();
    setPasted(text);
    if (file) {
      setFile(null);
      setFileInputKey((k) => k + 1);
    }
  };

  const list: PriceList | null =
    file !== null
      ? file.text === null
        ? null
        : { text: file.text, format: priceListFormat(file.text, file.name) }
      : pasted.trim() !== ""
        ? { text: pasted, format: priceListFormat(pasted) }
        : null;
  const busy = check.isPending || apply.isPending;
  const fresh = preview !== null && preview.version === version ? preview : null;
  const nothingToChange = fresh !== null && fresh.result.changed.length === 0;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (busy || (file !== null && file.text === null)) return;
    if (!list) return setProblem({ key: "admin.models.import.missing" });
    check.mutate({ version, list });
  };

  return (
    <Modal
      title={t("admin.models.import.title")}
      onClose={onClose}
      size="lg"
      dismissable={!apply.isPending}
      footer={
        applied ? (
          <Button id={doneId} onClick={onClose} aria-describedby={appliedId}>
            {t("admin.models.import.done")}
          </Button>
        ) : (
          <>
            <Button variant="secondary" onClick={onClose} disabled={apply.isPending}>
              {t("common.cancel")}
            </Button>
            <Button
              type="submit"
              form="price-list-form"
              variant={nothingToChange ? "primary" : "secondary"}
              loading={check.isPending}
              disabled={apply.isPending}
            >
              {check.isPending ? t("admin.models.import.previewing") : t("admin.models.import.preview")}
            </Button>
            {!nothingToChange && (
              <Button
                onClick={() => fresh && apply.mutate(fresh.list)}
                disabled={fresh === null || check.isPending}
                loading={apply.isPending}
              >
                {apply.isPending ? t("admin.models.import.applying") : t("admin.models.import.apply")}
              </Button>
            )}
          </>
        )
      }
    >
      {applied ? (
        <div id={appliedId}>
          <Alert tone="success">{t("admin.models.import.applied", { count: applied.changed.length })}</Alert>
          <PriceListLeftAlone result={applied} />
        </div>
      ) : (
        <>
          <form id="price-list-form" className="form" onSubmit={submit} noValidate>
            <p className="small muted">{t("admin.models.import.body")}</p>
            <TextField
              key={fileInputKey}
              label={t("admin.models.import.file")}
              type="file"
              accept=".csv,.json,text/csv,application/json"
              onChange={(e) => void chooseFile(e.target.files?.[0] ?? null)}
              problem={problem}
              hint={t("admin.models.import.fileHint")}
            />
            <TextAreaField
              label={t("admin.models.import.paste")}
              hint={t("admin.models.import.pasteHint")}
              rows={6}
              value={pasted}
              onChange={(e) => paste(e.target.value)}
              spellCheck={false}
              autoComplete="off"
            />
          </form>
          {check.isError && <Alert tone="error">{adminErrorMessage(t, check.error)}</Alert>}
          {apply.isError && <Alert tone="error">{adminErrorMessage(t, apply.error)}</Alert>}
          {preview !== null && fresh === null && !check.isPending && (
            <Alert tone="warning">{t("admin.models.import.stale")}</Alert>
          )}
          <div role="status">
            {fresh &&
              (nothingToChange ? (
                <Alert tone="info">{t("admin.models.import.nothing")}</Alert>
              ) : (
                <p>{t("admin.models.import.summary", { count: fresh.result.changed.length })}</p>
              ))}
          </div>
          {fresh && <PriceListDiff result={fresh.result} />}
        </>
      )}
    </Modal>
  );
}

/** A preview's difference: a row per repriced model, then what the list leaves alone. */
function PriceListDiff({ result }: { result: PriceListImport }) {
  const { t } = useTranslation();
  const price = usePrice();
  const cell = (before: string, after: string) =>
    Number(before) === Number(after) ? (
      <td className="muted">{price(after)}</td>
    ) : (
      <td>{t("admin.models.import.change", { before: price(before), after: price(after) })}</td>
    );
  return (
    <>
      {result.changed.length > 0 && (
        <div className="table-wrap">
          <table className="table admin-table" aria-label={t("admin.models.import.changes")}>
            <thead>
              <tr>
                <th scope="col">{t("admin.models.import.model")}</th>
                <th scope="col">{t("admin.models.inputPrice")}</th>
                <th scope="col">{t("admin.models.outputPrice")}</th>
                <th scope="col">{t("admin.models.cachedPrice")}</th>
              </tr>
            </thead>
            <tbody>
              {result.changed.map((c) => (
                <tr key={c.model_id}>
                  <th scope="row">{c.model}</th>
                  {cell(c.before.input_per_million, c.after.input_per_million)}
                  {cell(c.before.output_per_million, c.after.output_per_million)}
                  {cell(c.before.cached_per_million, c.after.cached_per_million)}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <PriceListLeftAlone result={result} />
    </>
  );
}

/** "N unchanged" and the names the catalog does not have. */
function PriceListLeftAlone({ result }: { result: PriceListImport }) {
  const { t } = useTranslation();
  return (
    <>
      {result.unchanged.length > 0 && (
        <p className="small muted">{t("admin.models.import.unchanged", { count: result.unchanged.length })}</p>
      )}
      {result.unknown.length > 0 && (
        <p className="small">{t("admin.models.import.unknown", { names: result.unknown.join(", ") })}</p>
      )}
    </>
  );
}
