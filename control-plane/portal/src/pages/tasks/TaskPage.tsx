import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useMutation, useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { isActive } from "../../api/tasks";
import type { Task, TaskResult } from "../../api/tasks";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { FullPageLoader, Spinner } from "../../components/Loader";
import { useDocumentTitle } from "../../lib/useDocumentTitle";
import { CancelTaskDialog } from "./CancelTaskDialog";
import {
  POLL_MS,
  TaskProgress,
  TaskStatusPill,
  downloadTaskResults,
  resultText,
  taskModel,
  taskQueryKey,
  taskResultsQueryKey,
  tasksErrorMessage,
  useTaskFormat,
  useTasksApi,
} from "./shared";

const RESULTS_PAGE = 20;

/** `/tasks/:id`: one job's counts, usage and results; cancel it, download its result file. */
export function TaskPage() {
  const { t } = useTranslation();
  const api = useTasksApi();
  const { id = "" } = useParams();
  const task = useQuery({
    queryKey: taskQueryKey(id),
    queryFn: () => api.getTask(id),
    refetchInterval: (query) => (query.state.data && isActive(query.state.data.status) ? POLL_MS : false),
  });
  useDocumentTitle(task.data ? t("tasks.detail.title", { type: t(`tasks.type.${task.data.type}`, task.data.type) }) : t("tasks.title"));

  if (task.isPending) return <FullPageLoader />;
  return (
    <div className="page">
      <p className="back-link">
        <Link to="/tasks">← {t("tasks.detail.back")}</Link>
      </p>
      {task.isError ? <Alert tone="error">{tasksErrorMessage(t, task.error)}</Alert> : <TaskView task={task.data} />}
    </div>
  );
}

function TaskView({ task }: { task: Task }) {
  const { t } = useTranslation();
  const api = useTasksApi();
  const f = useTaskFormat();
  const [cancelling, setCancelling] = useState(false);
  const download = useMutation({ mutationFn: () => downloadTaskResults(api, task) });
  const model = taskModel(task);
  const counts = task.request_counts;
  const usage = task.usage;
  const isExport = task.type === "data_export";
  const period = isExport ? exportPeriod(task) : null;

  return (
    <>
      <div className="page-header page-header-row">
        <div>
          <div className="key-title">
            <h1 className="page-title">
              {t("tasks.detail.title", { type: t(`tasks.type.${task.type}`, task.type) })}
            </h1>
            <TaskStatusPill status={task.status} />
          </div>
          <p className="page-subtitle">
            <code>{task.id}</code>
          </p>
        </div>
        <div className="tasks-detail-actions" role="group" aria-label={t("tasks.detail.actions")}>
          {task.result_file_id && (
            <Button variant="secondary" onClick={() => download.mutate()} loading={download.isPending}>
              {t("tasks.detail.download")}
            </Button>
          )}
          {isActive(task.status) && (
            <Button variant="danger" onClick={() => setCancelling(true)}>
              {t("tasks.cancel.button")}
            </Button>
          )}
        </div>
      </div>
      {download.isError && <Alert tone="error">{tasksErrorMessage(t, download.error)}</Alert>}
      {task.error_message && (
        <Alert tone="error" title={t("tasks.detail.errorTitle")}>
          {task.error_message}
        </Alert>
      )}

      <section className="card" aria-labelledby="task-progress-title">
        <h2 id="task-progress-title" className="card-title">
          {t("tasks.detail.progress")}
        </h2>
        <TaskProgress task={task} />
        <dl className="billing-facts billing-facts-row tasks-facts">
          <div>
            <dt>{t("tasks.detail.type")}</dt>
            <dd>{t(`tasks.type.${task.type}`, task.type)}</dd>
          </div>
          {model && (
            <div>
              <dt>{t("tasks.detail.model")}</dt>
              <dd>
                <code>{model}</code>
              </dd>
            </div>
          )}
          {period && (
            <div>
              <dt>{t("tasks.detail.period")}</dt>
              <dd>{period}</dd>
            </div>
          )}
          <div>
            <dt>{t("tasks.list.created")}</dt>
            <dd>{f.dateTime(task.created_at)}</dd>
          </div>
          <div>
            <dt>{t("tasks.detail.started")}</dt>
            <dd>{task.started_at === null ? "—" : f.dateTime(task.started_at)}</dd>
          </div>
          <div>
            <dt>{t("tasks.detail.completed")}</dt>
            <dd>{task.completed_at === null ? "—" : f.dateTime(task.completed_at)}</dd>
          </div>
        </dl>
        {counts && (
          <dl className="billing-facts billing-facts-row tasks-facts" aria-label={t("tasks.detail.counts")}>
            <div>
              <dt>{t("tasks.detail.total")}</dt>
              <dd data-testid="count-total">{f.number(counts.total)}</dd>
            </div>
            <div>
              <dt>{t("tasks.detail.succeeded")}</dt>
              <dd data-testid="count-completed">{f.number(counts.completed)}</dd>
            </div>
            <div>
              <dt>{t("tasks.detail.failed")}</dt>
              <dd data-testid="count-failed">{f.number(counts.failed)}</dd>
            </div>
          </dl>
        )}
        {usage && (
          <dl className="billing-facts billing-facts-row tasks-facts" aria-label={t("tasks.detail.usage")}>
            <div>
              <dt>{t("tasks.detail.promptTokens")}</dt>
              <dd data-testid="usage-prompt">{f.number(usage.prompt_tokens)}</dd>
            </div>
            <div>
              <dt>{t("tasks.detail.completionTokens")}</dt>
              <dd data-testid="usage-completion">{f.number(usage.completion_tokens)}</dd>
            </div>
            <div>
              <dt>{t("tasks.detail.totalTokens")}</dt>
              <dd data-testid="usage-total">{f.number(usage.prompt_tokens + usage.completion_tokens)}</dd>
            </div>
          </dl>
        )}
      </section>

      {!isExport && <Results task={task} />}
      {cancelling && <CancelTaskDialog task={task} onClose={() => setCancelling(false)} />}
    </>
  );
}

function exportPeriod(task: Task): string | null {
  const from = typeof task.input.from === "string" ? task.input.from : null;
  const to = typeof task.input.to === "string" ? task.input.to : null;
  if (!from && !to) return null;
  return `${from ?? "…"} – ${to ?? "…"}`;
}

/** The job's items, a page at a time (the server pages by item number). */
function Results({ task }: { task: Task }) {
  const { t } = useTranslation();
  const api = useTasksApi();
  const f = useTaskFormat();
  // The item number each page starts after: [0] is the first page.
  const [cursors, setCursors] = useState<number[]>([0]);
  const after = cursors[cursors.length - 1] ?? 0;
  const page = useQuery({
    queryKey: taskResultsQueryKey(task.id, after),
    queryFn: () => api.listResults(task.id, { after, limit: RESULTS_PAGE }),
    refetchInterval: isActive(task.status) ? POLL_MS : false,
    placeholderData: (previous) => previous,
  });
  const rows: TaskResult[] = page.data?.data ?? [];
  const pageNumber = cursors.length;
  return (
    <section className="card" aria-labelledby="task-results-title">
      <div className="card-header">
        <h2 id="task-results-title" className="card-title">
          {t("tasks.results.title")}
        </h2>
        {rows.length > 0 && (
          <span className="small muted">
            {t("tasks.results.range", {
              from: f.number(rows[0]!.index),
              to: f.number(rows[rows.length - 1]!.index),
              total: f.number(task.request_counts?.total ?? rows.length),
            })}
          </span>
        )}
      </div>
      {page.isPending && (
        <p className="center-pad">
          <Spinner label={t("common.loading")} />
        </p>
      )}
      {page.isError && <Alert tone="error">{tasksErrorMessage(t, page.error)}</Alert>}
      {page.data && rows.length === 0 && <p className="muted">{t("tasks.results.empty")}</p>}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table className="table tasks-results">
            <thead>
              <tr>
                <th scope="col" className="num">
                  {t("tasks.results.index")}
                </th>
                <th scope="col">{t("tasks.results.customId")}</th>
                <th scope="col">{t("tasks.results.status")}</th>
                <th scope="col">{t("tasks.results.output")}</th>
                <th scope="col">{t("tasks.results.error")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.index} data-testid="result-row">
                  <td className="num">{f.number(row.index)}</td>
                  <td>
                    <code>{row.custom_id}</code>
                  </td>
                  <td>
                    <span className={`pill ${RESULT_TONE[row.status] ?? "pill-muted"}`}>
                      {t(`tasks.results.statuses.${row.status}`, row.status)}
                    </span>
                  </td>
                  <td className="tasks-output">{resultText(row.output) || "—"}</td>
                  <td className={`tasks-output${row.error ? " tasks-error" : ""}`}>{resultText(row.error) || "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {(pageNumber > 1 || page.data?.has_more) && (
        <nav className="form-actions tasks-pager" aria-label={t("tasks.results.pages")}>
          <span className="small muted">{t("tasks.results.page", { page: f.number(pageNumber) })}</span>
          <Button variant="secondary" disabled={pageNumber <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
            {t("tasks.results.previous")}
          </Button>
          <Button
            variant="secondary"
            disabled={!page.data?.has_more || rows.length === 0 || page.isPlaceholderData}
            onClick={() => setCursors((c) => [...c, rows[rows.length - 1]!.index])}
          >
            {t("tasks.results.next")}
          </Button>
        </nav>
      )}
    </section>
  );
}

const RESULT_TONE: Record<string, string> = {
  succeeded: "pill-success",
  failed: "pill-error",
  running: "pill-warning",
};
