import { useId, useState } from "react";
import { useTranslation } from "react-i18next";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "react-router";
import { useAuth } from "../../auth/AuthProvider";
import type { CreatedWebhookEndpoint, RotatedWebhookSecret, WebhookEndpoint } from "../../api/types";
import { ChoiceGroup } from "../../components/ChoiceGroup";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { SelectField, TextField } from "../../components/Field";
import { Spinner } from "../../components/Loader";
import { Modal } from "../../components/Modal";
import { errorMessage } from "../../lib/errors";
import { CopyButton } from "../keys/shared";
import { EndpointFormDialog } from "./EndpointForm";
import { eventTypeDescription } from "./eventTypes";
import { AttemptResult, DeliveryStatusPill, WEBHOOKS_QUERY, eventTypesQuery, useDateTime } from "./shared";

/** Which dialog of an endpoint is open. */
export type EndpointDialog =
  | { kind: "create" }
  | { kind: "edit"; endpoint: WebhookEndpoint }
  | { kind: "created"; endpoint: CreatedWebhookEndpoint }
  | { kind: "reveal"; endpoint: WebhookEndpoint }
  | { kind: "rotate"; endpoint: WebhookEndpoint }
  | { kind: "rotated"; endpoint: WebhookEndpoint; result: RotatedWebhookSecret }
  | { kind: "test"; endpoint: WebhookEndpoint }
  | { kind: "delete"; endpoint: WebhookEndpoint }
  | { kind: "recover"; endpoint: WebhookEndpoint }
  | null;

/** The open dialog, whichever page opened it. */
export function EndpointDialogs({
  open,
  setOpen,
  afterDelete,
}: {
  open: EndpointDialog;
  setOpen: (open: EndpointDialog) => void;
  afterDelete?: () => void;
}) {
  const { t } = useTranslation();
  const close = () => setOpen(null);
  if (!open) return null;
  switch (open.kind) {
    case "create":
      return <EndpointFormDialog onClose={close} onCreated={(endpoint) => setOpen({ kind: "created", endpoint })} />;
    case "edit":
      return <EndpointFormDialog editing={open.endpoint} onClose={close} />;
    case "created":
      return (
        <SecretDialog
          title={t("webhooks.secretDialog.createdTitle")}
          body={t("webhooks.secretDialog.createdBody")}
          url={open.endpoint.url}
          secret={open.endpoint.secret}
          onClose={close}
        />
      );
    case "reveal":
      return <RevealSecretDialog endpoint={open.endpoint} onClose={close} />;
    case "rotate":
      return (
        <RotateDialog
          endpoint={open.endpoint}
          onClose={close}
          onDone={(result) => setOpen({ kind: "rotated", endpoint: open.endpoint, result })}
        />
      );
    case "rotated":
      return <RotatedDialog endpoint={open.endpoint} result={open.result} onClose={close} />;
    case "test":
      return <TestDialog endpoint={open.endpoint} onClose={close} />;
    case "delete":
      return <DeleteDialog endpoint={open.endpoint} onClose={close} afterDelete={afterDelete} />;
    case "recover":
      return <RecoverDialog endpoint={open.endpoint} onClose={close} />;
  }
}

/** A signing secret with a copy button; a stray click outside does not close it. */
export function SecretDialog({
  title,
  body,
  url,
  secret,
  notice,
  onClose,
}: {
  title: string;
  body: string;
  url: string;
  secret: string;
  notice?: string;
  onClose: () => void;
}) {
  const { t } = useTranslation();
  const id = useId();
  return (
    <Modal
      title={title}
      description={body}
      onClose={onClose}
      closeOnBackdrop={false}
      footer={
        <Button onClick={onClose} data-autofocus>
          {t("webhooks.secretDialog.done")}
        </Button>
      }
    >
      {notice && <Alert tone="info">{notice}</Alert>}
      <div className="field">
        <span className="field-label" id={`${id}-secret`}>
          {t("webhooks.secretDialog.label")} · <span className="endpoint-url-inline">{url}</span>
        </span>
        <div className="secret">
          <code className="secret-value" aria-labelledby={`${id}-secret`} data-testid="webhook-secret">
            {secret}
          </code>
          <CopyButton text={secret} label={t("webhooks.secretDialog.copy")} />
        </div>
      </div>
    </Modal>
  );
}

function RevealSecretDialog({ endpoint, onClose }: { endpoint: WebhookEndpoint; onClose: () => void }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  // Not cached: the secret lives only while the dialog is open.
  const secret = useQuery({
    queryKey: [...WEBHOOKS_QUERY, "secret", endpoint.id],
    queryFn: () => client.revealWebhookSecret(endpoint.id),
    gcTime: 0,
    staleTime: 0,
  });
  if (secret.data) {
    return (
      <SecretDialog
        title={t("webhooks.secretDialog.revealTitle")}
        body={t("webhooks.secretDialog.revealBody")}
        url={endpoint.url}
        secret={secret.data}
        onClose={onClose}
      />
    );
  }
  return (
    <Modal title={t("webhooks.secretDialog.revealTitle")} onClose={onClose}>
      {secret.isPending && (
        <p className="center-pad">
          <Spinner label={t("webhooks.secretDialog.loading")} />
        </p>
      )}
      {secret.isError && <Alert tone="error">{errorMessage(t, secret.error)}</Alert>}
    </Modal>
  );
}

const GRACE = [
  { value: 0, label: "none" },
  { value: 3600, label: "hour" },
  { value: 86400, label: "day" },
] as const;

function RotateDialog({
  endpoint,
  onClose,
  onDone,
}: {
  endpoint: WebhookEndpoint;
  onClose: () => void;
  onDone: (result: RotatedWebhookSecret) => void;
}) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const queryClient = useQueryClient();
  const [grace, setGrace] = useState<number>(86400);
  const rotate = useMutation({
    mutationFn: () => client.rotateWebhookSecret(endpoint.id, grace),
    onSuccess: async (result) => {
      await queryClient.invalidateQueries({ queryKey: WEBHOOKS_QUERY });
      onDone(result);
    },
  });
  return (
    <Modal
      title={t("webhooks.rotateDialog.title")}
      description={t("webhooks.rotateDialog.body")}
      onClose={onClose}
      dismissable={!rotate.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={rotate.isPending}>
            {t("common.cancel")}
          </Button>
          <Button onClick={() => rotate.mutate()} loading={rotate.isPending}>
            {rotate.isPending ? t("webhooks.rotateDialog.submitting") : t("webhooks.rotateDialog.submit")}
          </Button>
        </>
      }
    >
      {rotate.isError && <Alert tone="error">{errorMessage(t, rotate.error)}</Alert>}
      <ChoiceGroup
        legend={t("webhooks.rotateDialog.grace")}
        options={GRACE.map(({ value, label }) => ({ value, label: t(`webhooks.rotateDialog.${label}`) }))}
        value={grace}
        onChange={setGrace}
        columns={3}
        autoFocusSelected
      />
    </Modal>
  );
}

function RotatedDialog({
  endpoint,
  result,
  onClose,
}: {
  endpoint: WebhookEndpoint;
  result: RotatedWebhookSecret;
  onClose: () => void;
}) {
  const { t } = useTranslation();
  const dateTime = useDateTime();
  const until = result.previous_secret_expires_at_ms;
  return (
    <SecretDialog
      title={t("webhooks.secretDialog.rotatedTitle")}
      body={t("webhooks.secretDialog.rotatedBody")}
      url={endpoint.url}
      secret={result.secret}
      notice={
        until && until > Date.now()
          ? t("webhooks.secretDialog.graceBody", { time: dateTime(until) })
          : t("webhooks.secretDialog.revokedBody")
      }
      onClose={onClose}
    />
  );
}

/** Sends one event now and shows what the endpoint answered. */
export function TestDialog({ endpoint, onClose }: { endpoint: WebhookEndpoint; onClose: () => void }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const queryClient = useQueryClient();
  const types = useQuery(eventTypesQuery(client));
  const [eventType, setEventType] = useState("webhook.test");
  const send = useMutation({
    mutationFn: () => client.testWebhook(endpoint.id, eventType),
    onSettled: () => queryClient.invalidateQueries({ queryKey: [...WEBHOOKS_QUERY, "deliveries", endpoint.id] }),
  });
  const options = [...new Set(["webhook.test", ...(types.data ?? []).map((e) => e.type)])];
  const result = send.data;
  const selectedDescription = eventTypeDescription(
    t,
    eventType,
    types.data?.find((e) => e.type === eventType)?.description,
  );
  return (
    <Modal
      title={t("webhooks.testDialog.title")}
      description={t("webhooks.testDialog.body", { url: endpoint.url })}
      onClose={onClose}
      size="lg"
      dismissable={!send.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={send.isPending}>
            {t("keys.close")}
          </Button>
          <Button onClick={() => send.mutate()} loading={send.isPending}>
            {send.isPending
              ? t("webhooks.testDialog.submitting")
              : result
                ? t("webhooks.testDialog.again")
                : t("webhooks.testDialog.submit")}
          </Button>
        </>
      }
    >
      <SelectField
        label={t("webhooks.testDialog.eventType")}
        value={eventType}
        onChange={(e) => setEventType(e.target.value)}
        disabled={send.isPending}
        hint={selectedDescription || undefined}
      >
        {options.map((type) => (
          <option key={type} value={type}>
            {type}
          </option>
        ))}
      </SelectField>
      {send.isError && <Alert tone="error">{errorMessage(t, send.error)}</Alert>}
      {result && (
        <section className="test-result" aria-live="polite">
          <p className="test-result-title">
            <DeliveryStatusPill status={result.delivery.status} />{" "}
            <strong>
              {result.delivery.status === "succeeded" ? t("webhooks.testDialog.succeeded") : t("webhooks.testDialog.failed")}
            </strong>{" "}
            <code className="muted small">{result.delivery.id}</code>
          </p>
          <AttemptResult attempt={result.attempt} />
        </section>
      )}
    </Modal>
  );
}

function DeleteDialog({
  endpoint,
  onClose,
  afterDelete,
}: {
  endpoint: WebhookEndpoint;
  onClose: () => void;
  afterDelete?: () => void;
}) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const queryClient = useQueryClient();
  const remove = useMutation({
    mutationFn: () => client.deleteWebhook(endpoint.id),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: [...WEBHOOKS_QUERY, "list"] });
      onClose();
      afterDelete?.();
      // Once the endpoint's page is gone (no refetch of what no longer exists), forget its data.
      setTimeout(() => {
        queryClient.removeQueries({ queryKey: [...WEBHOOKS_QUERY, "endpoint", endpoint.id] });
        queryClient.removeQueries({ queryKey: [...WEBHOOKS_QUERY, "deliveries", endpoint.id] });
      }, 0);
    },
  });
  return (
    <Modal
      title={t("webhooks.removeDialog.title")}
      description={t("webhooks.removeDialog.body")}
      onClose={onClose}
      dismissable={!remove.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={remove.isPending} data-autofocus>
            {t("common.cancel")}
          </Button>
          <Button variant="danger" onClick={() => remove.mutate()} loading={remove.isPending}>
            {remove.isPending ? t("webhooks.removeDialog.submitting") : t("webhooks.removeDialog.submit")}
          </Button>
        </>
      }
    >
      <p className="key-ref">
        <code className="endpoint-url-inline">{endpoint.url}</code>
      </p>
      {remove.isError && <Alert tone="error">{errorMessage(t, remove.error)}</Alert>}
    </Modal>
  );
}

/** `datetime-local` text for a time (local clock, minutes). */
function localInput(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function RecoverDialog({ endpoint, onClose }: { endpoint: WebhookEndpoint; onClose: () => void }) {
  const { t } = useTranslation();
  const { client } = useAuth();
  const queryClient = useQueryClient();
  const [since, setSince] = useState(() => localInput(endpoint.failing_since_ms ?? Date.now() - 86_400_000));
  const sinceMs = since ? new Date(since).getTime() : Number.NaN;
  const recover = useMutation({
    mutationFn: () => client.recoverWebhook(endpoint.id, sinceMs),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: WEBHOOKS_QUERY }),
  });
  return (
    <Modal
      title={t("webhooks.recoverDialog.title")}
      description={t("webhooks.recoverDialog.body")}
      onClose={onClose}
      dismissable={!recover.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={recover.isPending}>
            {recover.isSuccess ? t("webhooks.secretDialog.done") : t("common.cancel")}
          </Button>
          {!recover.isSuccess && (
            <Button onClick={() => recover.mutate()} loading={recover.isPending} disabled={Number.isNaN(sinceMs)}>
              {recover.isPending ? t("webhooks.recoverDialog.submitting") : t("webhooks.recoverDialog.submit")}
            </Button>
          )}
        </>
      }
    >
      <TextField
        label={t("webhooks.recoverDialog.since")}
        type="datetime-local"
        value={since}
        max={localInput(Date.now())}
        onChange={(e) => setSince(e.target.value)}
        disabled={recover.isPending || recover.isSuccess}
      />
      {recover.isError && <Alert tone="error">{errorMessage(t, recover.error)}</Alert>}
      {recover.isSuccess && (
        <Alert tone="success">{t("webhooks.recoverDialog.done", { count: recover.data })}</Alert>
      )}
    </Modal>
  );
}

/** Enable/disable without a dialog. */
export function useToggleEnabled() {
  const { client } = useAuth();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (endpoint: WebhookEndpoint) => client.updateWebhook(endpoint.id, { enabled: !endpoint.enabled }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: WEBHOOKS_QUERY }),
  });
}

/** After deleting from the detail page, back to the list. */
export function useBackToList() {
  const navigate = useNavigate();
  return () => navigate("/webhooks");
}
