import { useRef, useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router";
import { useApi } from "../../auth/AuthProvider";
import { ApiError } from "../../api/errors";
import type { Task, UploadedFile } from "../../api/tasks";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { ChoiceGroup } from "../../components/ChoiceGroup";
import { SelectField, TextAreaField, TextField } from "../../components/Field";
import { KEYS_QUERY } from "../keys/dialogs";
import { useIdempotencyKeys } from "../billing/shared";
import { TASKS_QUERY, tasksErrorMessage, useTaskFormat, useTasksApi } from "./shared";
import {
  checkJobForm,
  emptyJobForm,
  fieldOfServerMessage,
  firstRowFields,
  jobRequest,
  problem,
  readHead,
  splitPrompts,
} from "./taskForm";
import type { JobField, JobFormValues, JobKind, JobProblems } from "./taskForm";

/** The new-job form: prompts or a file with a template, the model, options and the key to run as. */
export function NewJobForm() {
  const { t } = useTranslation();
  const api = useTasksApi();
  const client = useApi();
  const f = useTaskFormat();
  const queryClient = useQueryClient();
  const keys = useIdempotencyKeys();
  const [values, setValues] = useState<JobFormValues>(emptyJobForm);
  const [problems, setProblems] = useState<JobProblems>({});
  const [columns, setColumns] = useState<string[] | null>(null);
  const [started, setStarted] = useState<Task | null>(null);
  // Remounting the file input clears it.
  const [fileInputKey, setFileInputKey] = useState(0);
  // The file is uploaded once per choice: a retried submit reuses it.
  const uploaded = useRef<{ file: File; answer: UploadedFile } | null>(null);

  const keyList = useQuery({ queryKey: KEYS_QUERY, queryFn: () => client.listKeyPage() });
  const enabledKeys = keyList.data?.data.filter((k) => k.enabled) ?? [];
  const noKeys = keyList.data !== undefined && enabledKeys.length === 0;

  const submit = useMutation({
    mutationFn: async (form: JobFormValues) => {
      let fileId: string | undefined;
      if (form.type === "batch_process" && form.file) {
        if (uploaded.current?.file !== form.file) {
          try {
            uploaded.current = { file: form.file, answer: await api.uploadFile(form.file, form.file.name) };
          } catch (e) {
            throw new UploadError(e);
          }
        }
        fileId = uploaded.current.answer.id;
      }
      const request = jobRequest(form, fileId);
      return api.createTask(request, keys.keyFor(request));
    },
    onSuccess: async (task) => {
      keys.reset();
      uploaded.current = null;
      setStarted(task);
      setValues((v) => ({ ...emptyJobForm(), type: v.type, model: v.model, keyId: v.keyId }));
      setColumns(null);
      setFileInputKey((k) => k + 1);
      await queryClient.invalidateQueries({ queryKey: TASKS_QUERY });
    },
    onError: (error) => {
      // A refusal naming a field shows under it; others above the button.
      const cause = error instanceof UploadError ? error.cause : error;
      if (cause instanceof ApiError && cause.code === "invalid_request") {
        const field: JobField | null = error instanceof UploadError ? "file" : fieldOfServerMessage(cause.message);
        if (field) setProblems({ [field]: problem("tasks.form.serverProblem", { detail: cause.message }) });
      }
    },
  });
  const failure = submit.error instanceof UploadError ? submit.error.cause : submit.error;
  const failureShownAtField =
    failure instanceof ApiError &&
    failure.code === "invalid_request" &&
    (submit.error instanceof UploadError || fieldOfServerMessage(failure.message) !== null);

  const set = <K extends keyof JobFormValues>(key: K, value: JobFormValues[K]) => {
    setValues((v) => ({ ...v, [key]: value }));
    setStarted(null);
    if (problems[key as JobField]) setProblems((p) => ({ ...p, [key]: undefined }));
  };

  const chooseFile = async (file: File | null) => {
    set("file", file);
    setColumns(null);
    if (!file) return;
    try {
      const fields = firstRowFields(await readHead(file), file.name);
      setColumns(fields);
    } catch {
      setColumns(null);
    }
  };

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    const found = checkJobForm(values, columns);
    setProblems(found);
    setStarted(null);
    if (Object.values(found).some(Boolean)) return;
    submit.mutate(values);
  };

  const promptCount = splitPrompts(values.prompts).length;
  const typeOptions: { value: JobKind; label: string; hint: string }[] = [
    { value: "batch_generate", label: t("tasks.type.batch_generate"), hint: t("tasks.form.generateHint") },
    { value: "batch_process", label: t("tasks.type.batch_process"), hint: t("tasks.form.processHint") },
  ];

  return (
    <section className="card" aria-labelledby="new-job-title">
      <h2 id="new-job-title" className="card-title">
        {t("tasks.form.title")}
      </h2>
      <p className="muted small">{t("tasks.form.body")}</p>
      {noKeys && (
        <Alert tone="warning" action={<Link to="/keys">{t("tasks.form.createKey")}</Link>}>
          {t("tasks.form.noKeys")}
        </Alert>
      )}
      <form className="form" onSubmit={onSubmit} noValidate aria-label={t("tasks.form.title")}>
        <ChoiceGroup
          legend={t("tasks.form.type")}
          options={typeOptions}
          value={values.type}
          onChange={(type) => {
            set("type", type);
            setProblems({});
          }}
          columns={2}
        />
        {values.type === "batch_generate" ? (
          <TextAreaField
            label={t("tasks.form.prompts")}
            rows={6}
            value={values.prompts}
            onChange={(e) => set("prompts", e.target.value)}
            problem={problems.prompts}
            hint={t("tasks.form.promptsHint", { count: promptCount, number: f.number(promptCount) })}
            spellCheck={false}
          />
        ) : (
          <>
            <TextField
              key={fileInputKey}
              label={t("tasks.form.file")}
              type="file"
              accept=".csv,.jsonl,.ndjson,text/csv,application/jsonl"
              onChange={(e) => void chooseFile(e.target.files?.[0] ?? null)}
              problem={problems.file}
              hint={t("tasks.form.fileHint")}
            />
            <TextAreaField
              label={t("tasks.form.template")}
              rows={4}
              value={values.template}
              onChange={(e) => set("template", e.target.value)}
              problem={problems.template}
              placeholder={t("tasks.form.templatePlaceholder", { example: "{{text}}" })}
              hint={
                columns && columns.length > 0
                  ? t("tasks.form.columns", { fields: columns.map((c) => `{{${c}}}`).join(", ") })
                  : t("tasks.form.templateHint", { example: "{{field}}" })
              }
              spellCheck={false}
            />
          </>
        )}
        <div className="form-row">
          <TextField
            label={t("tasks.form.model")}
            value={values.model}
            autoComplete="off"
            spellCheck={false}
            onChange={(e) => set("model", e.target.value)}
            problem={problems.model}
            hint={t("tasks.form.modelHint")}
          />
          <SelectField
            label={t("tasks.form.key")}
            value={values.keyId}
            onChange={(e) => set("keyId", e.target.value)}
            problem={problems.keyId}
            hint={t("tasks.form.keyHint")}
          >
            <option value="">{t("tasks.form.keyDefault")}</option>
            {enabledKeys.map((k) => (
              <option key={k.id} value={k.id}>
                {k.name} ({k.display_prefix})
              </option>
            ))}
          </SelectField>
        </div>
        <fieldset className="form-section tasks-options">
          <legend className="field-label">{t("tasks.form.options")}</legend>
          <div className="form-row">
            <TextField
              label={t("tasks.form.maxTokens")}
              inputMode="numeric"
              autoComplete="off"
              optional
              value={values.maxTokens}
              onChange={(e) => set("maxTokens", e.target.value)}
              problem={problems.maxTokens}
            />
            <TextField
              label={t("tasks.form.temperature")}
              inputMode="decimal"
              autoComplete="off"
              optional
              placeholder="0.7"
              value={values.temperature}
              onChange={(e) => set("temperature", e.target.value)}
              problem={problems.temperature}
              hint={t("tasks.form.temperatureHint")}
            />
          </div>
          <TextAreaField
            label={t("tasks.form.system")}
            rows={2}
            optional
            value={values.system}
            onChange={(e) => set("system", e.target.value)}
            problem={problems.system}
            hint={t("tasks.form.systemHint")}
          />
        </fieldset>
        {submit.isError && !failureShownAtField && <Alert tone="error">{tasksErrorMessage(t, failure)}</Alert>}
        {started && (
          <Alert tone="success" action={<Link to={`/tasks/${encodeURIComponent(started.id)}`}>{t("tasks.form.open")}</Link>}>
            {t("tasks.form.started", { job: started.id })}
          </Alert>
        )}
        <div className="form-actions">
          <Button type="submit" loading={submit.isPending} disabled={noKeys}>
            {submit.isPending ? t("tasks.form.submitting") : t("tasks.form.submit")}
          </Button>
        </div>
      </form>
    </section>
  );
}

/** The upload failed (so its refusal belongs to the file field). */
class UploadError extends Error {
  readonly cause: unknown;
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.cause = cause;
  }
}
