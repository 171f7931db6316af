import { useId, useRef, useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useAuth } from "../../auth/AuthProvider";
import type { CreatedWebhookEndpoint, EventTypeInfo, WebhookEndpoint } from "../../api/types";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { TextField } from "../../components/Field";
import { Spinner } from "../../components/Loader";
import { Modal } from "../../components/Modal";
import { errorMessage } from "../../lib/errors";
import type { Problem } from "../../lib/validation";
import {
  DESCRIPTION_MAX,
  MAX_RETRIES_LIMIT,
  formFromEndpoint,
  toCreateWebhookRequest,
  toUpdateWebhookRequest,
  validateEndpointForm,
} from "./endpointForm";
import type { EndpointFormState, EndpointProblems, EventTypeSelection } from "./endpointForm";
import { eventTypeDescription } from "./eventTypes";
import { WEBHOOKS_QUERY, eventTypesQuery } from "./shared";

/**
 * "All events" or a checkbox per type from `/event-types`, with each type's
 * description. The payload it stands for is `eventTypesPayload(value)`.
 */
export function EventTypePicker({
  value,
  onChange,
  problem,
}: {
  value: EventTypeSelection;
  onChange: (value: EventTypeSelection) => void;
  problem?: Problem;
}) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const id = useId();
  const types = useQuery(eventTypesQuery(client));
  // Types the endpoint already has that the catalogue no longer lists stay visible (and removable).
  const known = new Set((types.data ?? []).map((e) => e.type));
  const listed: EventTypeInfo[] = [
    ...(types.data ?? []),
    ...value.types.filter((type) => !known.has(type)).map((type) => ({ type, description: "", example: null })),
  ];
  const toggle = (type: string, checked: boolean) =>
    onChange({ all: false, types: checked ? [...value.types, type] : value.types.filter((x) => x !== type) });
  return (
    <fieldset className={`choice-group${problem ? " field-invalid" : ""}`} aria-describedby={`${id}-msg`}>
      <legend className="field-label">{t("webhooks.form.events")}</legend>
      <div className="choices">
        {([true, false] as const).map((all) => (
          <label key={String(all)} className={`choice${value.all === all ? " choice-selected" : ""}`}>
            <input
              type="radio"
              name={`${id}-scope`}
              checked={value.all === all}
              onChange={() => onChange({ ...value, all })}
            />
            <span className="choice-label">{all ? t("webhooks.form.allEvents") : t("webhooks.form.someEvents")}</span>
            <span className="choice-hint">
              {all ? t("webhooks.form.allEventsHint") : t("webhooks.form.someEventsHint")}
            </span>
          </label>
        ))}
      </div>
      {!value.all && (
        <div className="event-type-list">
          {types.isPending && (
            <p className="muted small">
              <Spinner /> {t("webhooks.form.eventTypesLoading")}
            </p>
          )}
          {types.isError && <Alert tone="error">{t("webhooks.form.eventTypesFailed")}</Alert>}
          {listed.map((info) => {
            const checked = value.types.includes(info.type);
            const description = eventTypeDescription(t, info.type, info.description);
            return (
              <label key={info.type} className={`event-type${checked ? " check-selected" : ""}`}>
                <input type="checkbox" checked={checked} onChange={(e) => toggle(info.type, e.target.checked)} />
                <span>
                  <code className="event-type-name">{info.type}</code>
                  {description && <span className="choice-hint">{description}</span>}
                </span>
              </label>
            );
          })}
        </div>
      )}
      {problem && (
        <p className="field-error" id={`${id}-msg`}>
          {t(problem.key, problem.values ?? {})}
        </p>
      )}
    </fieldset>
  );
}

/** Create (no `editing`) or edit an endpoint. */
export function EndpointFormDialog({
  editing,
  onClose,
  onCreated,
}: {
  editing?: WebhookEndpoint;
  onClose: () => void;
  onCreated?: (created: CreatedWebhookEndpoint) => void;
}) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const queryClient = useQueryClient();
  const id = useId();
  const [form, setForm] = useState<EndpointFormState>(() => formFromEndpoint(editing));
  const [problems, setProblems] = useState<EndpointProblems>({});
  // One idempotency key per dialog: a double submit or a retry creates one endpoint.
  const idempotencyKey = useRef(newIdempotencyKey());
  const set = <K extends keyof EndpointFormState>(field: K, value: EndpointFormState[K]) =>
    setForm((f) => ({ ...f, [field]: value }));

  const save = useMutation({
    mutationFn: async () => {
      if (editing) return client.updateWebhook(editing.id, toUpdateWebhookRequest(form, editing));
      return client.createWebhook(toCreateWebhookRequest(form), idempotencyKey.current);
    },
    onSuccess: async (result) => {
      await queryClient.invalidateQueries({ queryKey: WEBHOOKS_QUERY });
      if (!editing && onCreated) onCreated(result as CreatedWebhookEndpoint);
      else onClose();
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (save.isPending) return;
    const next = validateEndpointForm(form);
    setProblems(next);
    if (Object.keys(next).length > 0) return;
    save.reset();
    save.mutate();
  };

  const formId = `${id}-form`;
  return (
    <Modal
      title={editing ? t("webhooks.form.editTitle") : t("webhooks.form.createTitle")}
      onClose={onClose}
      size="lg"
      dismissable={!save.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={save.isPending}>
            {t("common.cancel")}
          </Button>
          <Button type="submit" form={formId} loading={save.isPending}>
            {editing
              ? save.isPending
                ? t("common.saving")
                : t("webhooks.form.submitEdit")
              : save.isPending
                ? t("webhooks.form.creating")
                : t("webhooks.form.submitCreate")}
          </Button>
        </>
      }
    >
      <form id={formId} className="form" onSubmit={submit} noValidate>
        {save.isError && <Alert tone="error">{errorMessage(t, save.error)}</Alert>}
        <TextField
          label={t("webhooks.form.url")}
          hint={t("webhooks.form.urlHint")}
          type="url"
          inputMode="url"
          placeholder="https://example.com/webhooks/aihub"
          value={form.url}
          onChange={(e) => set("url", e.target.value)}
          problem={problems.url}
          autoComplete="off"
          spellCheck={false}
        />
        <TextField
          label={t("webhooks.form.description")}
          optional
          placeholder={t("webhooks.form.descriptionPlaceholder")}
          value={form.description}
          maxLength={DESCRIPTION_MAX + 20}
          onChange={(e) => set("description", e.target.value)}
          problem={problems.description}
          autoComplete="off"
        />
        <EventTypePicker value={form.events} onChange={(events) => set("events", events)} problem={problems.events} />
        <TextField
          label={t("webhooks.form.retries")}
          hint={t("webhooks.form.retriesHint", { max: MAX_RETRIES_LIMIT })}
          type="number"
          min={0}
          max={MAX_RETRIES_LIMIT}
          inputMode="numeric"
          value={form.maxRetries}
          onChange={(e) => set("maxRetries", e.target.value)}
          problem={problems.maxRetries}
        />
        {editing && (
          <label className="switch-row">
            <input type="checkbox" checked={form.enabled} onChange={(e) => set("enabled", e.target.checked)} />
            <span>
              <span className="choice-label">{t("webhooks.form.enabled")}</span>
              <span className="choice-hint">{t("webhooks.form.enabledHint")}</span>
            </span>
          </label>
        )}
      </form>
    </Modal>
  );
}

function newIdempotencyKey(): string {
  if (typeof crypto !== "undefined" && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}
