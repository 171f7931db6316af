import { useId } from "react";
import { useTranslation } from "react-i18next";
import type { TFunction } from "i18next";
import { useAuth } from "../../auth/AuthProvider";
import { ApiError } from "../../api/errors";
import { tasksApi } from "../../api/tasks";
import type { Task, TasksApi } from "../../api/tasks";
import { errorMessage } from "../../lib/errors";
import { saveBlob } from "../billing/shared";

export const TASKS_QUERY = ["tasks"] as const;
export const TASK_LIST_QUERY = [...TASKS_QUERY, "list"] as const;
export const taskQueryKey = (id: string) => [...TASKS_QUERY, "task", id] as const;
export const taskResultsQueryKey = (id: string, after: number) => [...TASKS_QUERY, "results", id, after] as const;

/** While any job is still moving, lists and details look again this often. */
export const POLL_MS = 2_000;

/** The task routes of the signed-in session's client. */
export function useTasksApi(): TasksApi {
  return tasksApi(useAuth().client);
}

/** The task routes' refusals in the reader's language, then the app's usual messages. */
export function tasksErrorMessage(t: TFunction, error: unknown): string {
  if (error instanceof ApiError) {
    switch (error.code) {
      case "not_ready":
      case "not_found":
      case "idempotency_conflict":
        return t(`tasks.errors.${error.code}`);
      default:
        if (error.status === 409) return error.message || t("errors.generic");
    }
  }
  return errorMessage(t, error);
}

const STATUS_TONE: Record<string, string> = {
  pending: "pill-muted",
  running: "pill-warning",
  completed: "pill-success",
  failed: "pill-error",
  cancelled: "pill-muted",
};

export function TaskStatusPill({ status }: { status: string }) {
  const { t } = useTranslation();
  return (
    <span className={`pill ${STATUS_TONE[status] ?? "pill-muted"}`} data-testid="task-status">
      {t(`tasks.status.${status}`, status)}
    </span>
  );
}

/** Numbers, percentages and moments in the reader's language. */
export function useTaskFormat() {
  const { i18n } = useTranslation();
  const language = i18n.language;
  const number = new Intl.NumberFormat(language);
  const percent = new Intl.NumberFormat(language, { style: "percent", maximumFractionDigits: 0 });
  const dateTime = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" });
  return {
    number: (value: number) => number.format(value),
    percent: (value: number) => percent.format(Math.max(0, Math.min(100, value)) / 100),
    dateTime: (ms: number) => dateTime.format(new Date(ms)),
  };
}

/** "4 of 10 done · 1 failed", or the status alone for an export. */
export function useProgressText() {
  const { t } = useTranslation();
  const f = useTaskFormat();
  return (task: Task): string => {
    const counts = task.request_counts;
    if (!counts) return t(`tasks.status.${task.status}`, task.status);
    const done = counts.completed + counts.failed;
    const text = t("tasks.progress.counts", { done: f.number(done), total: f.number(counts.total) });
    return counts.failed > 0 ? `${text} · ${t("tasks.progress.failed", { failed: f.number(counts.failed) })}` : text;
  };
}

/** The job's progress bar with its percentage and counts. */
export function TaskProgress({ task, label }: { task: Task; label?: string }) {
  const { t } = useTranslation();
  const f = useTaskFormat();
  const progressText = useProgressText();
  const id = useId();
  const percent = Math.max(0, Math.min(100, Math.round(task.progress)));
  const tone = task.status === "failed" ? " progress-full" : task.status === "cancelled" ? " progress-muted" : "";
  const text = progressText(task);
  return (
    <div className="task-progress">
      <div
        className={`progress${tone}`}
        role="progressbar"
        aria-label={label ?? t("tasks.progress.label")}
        aria-describedby={`${id}-text`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        aria-valuetext={`${f.percent(percent)} · ${text}`}
      >
        <span className="progress-bar" style={{ width: `${percent}%` }} />
      </div>
      <p className="small muted task-progress-text" id={`${id}-text`}>
        <span className="task-percent">{f.percent(percent)}</span> · {text}
      </p>
    </div>
  );
}

/** The model of a generation or processing job, from its input. */
export function taskModel(task: Task): string | null {
  const model = task.input?.model;
  return typeof model === "string" ? model : null;
}

/** A file name for a job's results when the server did not send one. */
export function resultsFilename(task: Task, fromServer: string | null): string {
  if (fromServer) return fromServer;
  return task.type === "data_export" ? `${task.id}-usage.csv` : `${task.id}-results.jsonl`;
}

/** Downloads a job's result file and saves it. */
export async function downloadTaskResults(api: TasksApi, task: Task): Promise<void> {
  const { blob, filename } = await api.downloadResults(task.id);
  saveBlob(blob, resultsFilename(task, filename));
}

/** A value of a result's `output` or `error` as text (the server sends JSON). */
export function resultText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "object") {
    const message = (value as { message?: unknown }).message;
    if (typeof message === "string" && message !== "") {
      const code = (value as { code?: unknown }).code;
      return typeof code === "string" && code !== "" ? `${code}: ${message}` : message;
    }
  }
  return JSON.stringify(value);
}
