import { useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router";
import { isActive } from "../../api/tasks";
import type { Task } from "../../api/tasks";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { TextField } from "../../components/Field";
import { Spinner } from "../../components/Loader";
import { useDocumentTitle } from "../../lib/useDocumentTitle";
import type { Problem } from "../../lib/validation";
import { useIdempotencyKeys } from "../billing/shared";
import { CancelTaskDialog } from "./CancelTaskDialog";
import { NewJobForm } from "./NewJobForm";
import {
  POLL_MS,
  TASKS_QUERY,
  TASK_LIST_QUERY,
  TaskProgress,
  TaskStatusPill,
  downloadTaskResults,
  taskModel,
  tasksErrorMessage,
  useTaskFormat,
  useTasksApi,
} from "./shared";
import { checkExportPeriod } from "./taskForm";

const PAGE_SIZE = 20;

/** `/tasks`: start a batch job or a usage export, and follow the jobs as they run. */
export function TasksPage() {
  const { t } = useTranslation();
  useDocumentTitle(t("tasks.title"));
  return (
    <div className="page">
      <div className="page-header">
        <h1 className="page-title">{t("tasks.title")}</h1>
        <p className="page-subtitle">{t("tasks.subtitle")}</p>
      </div>
      <div className="grid tasks-grid">
        <NewJobForm />
        <ExportUsageCard />
      </div>
      <JobsList />
    </div>
  );
}

/** A data_export job: the account's usage rows as CSV, for an optional period. */
function ExportUsageCard() {
  const { t } = useTranslation();
  const api = useTasksApi();
  const queryClient = useQueryClient();
  const keys = useIdempotencyKeys();
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [problems, setProblems] = useState<{ from?: Problem; to?: Problem }>({});
  const [started, setStarted] = useState(false);
  const exportUsage = useMutation({
    mutationFn: (input: { kind: "usage"; from?: string; to?: string }) =>
      api.createTask({ type: "data_export", input }, keys.keyFor({ type: "data_export", input })),
    onSuccess: async () => {
      keys.reset();
      setStarted(true);
      await queryClient.invalidateQueries({ queryKey: TASKS_QUERY });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const found = checkExportPeriod(from, to);
    setProblems(found);
    setStarted(false);
    if (found.from || found.to) return;
    exportUsage.mutate({ kind: "usage", ...(from ? { from } : {}), ...(to ? { to } : {}) });
  };
  return (
    <section className="card" aria-labelledby="export-usage-title">
      <h2 id="export-usage-title" className="card-title">
        {t("tasks.export.title")}
      </h2>
      <p className="muted small">{t("tasks.export.body")}</p>
      <form className="form" onSubmit={submit} noValidate>
        <div className="form-row">
          <TextField
            label={t("tasks.export.from")}
            type="date"
            value={from}
            optional
            onChange={(e) => {
              setFrom(e.target.value);
              setProblems({});
            }}
            problem={problems.from}
          />
          <TextField
            label={t("tasks.export.to")}
            type="date"
            value={to}
            optional
            onChange={(e) => {
              setTo(e.target.value);
              setProblems({});
            }}
            problem={problems.to}
          />
        </div>
        <p className="small muted">{t("tasks.export.hint")}</p>
        {exportUsage.isError && <Alert tone="error">{tasksErrorMessage(t, exportUsage.error)}</Alert>}
        {started && <Alert tone="success">{t("tasks.export.started")}</Alert>}
        <div className="form-actions">
          <Button type="submit" variant="secondary" loading={exportUsage.isPending}>
            {exportUsage.isPending ? t("tasks.export.submitting") : t("tasks.export.submit")}
          </Button>
        </div>
      </form>
    </section>
  );
}

/** The jobs, newest first; while any is moving the list looks again every 2 s. */
function JobsList() {
  const { t } = useTranslation();
  const api = useTasksApi();
  const f = useTaskFormat();
  const [cancelling, setCancelling] = useState<Task | null>(null);
  const [downloadError, setDownloadError] = useState<unknown>(null);
  const [downloading, setDownloading] = useState<string | null>(null);
  const jobs = useInfiniteQuery({
    queryKey: TASK_LIST_QUERY,
    queryFn: ({ pageParam }) => api.listTasks({ limit: PAGE_SIZE, before: pageParam }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => (last.has_more ? last.data[last.data.length - 1]?.id : undefined),
    refetchInterval: (query) =>
      query.state.data?.pages.some((p) => p.data.some((task) => isActive(task.status))) ? POLL_MS : false,
  });
  const rows = jobs.data?.pages.flatMap((p) => p.data) ?? [];

  const download = async (task: Task) => {
    setDownloadError(null);
    setDownloading(task.id);
    try {
      await downloadTaskResults(api, task);
    } catch (e) {
      setDownloadError(e);
    } finally {
      setDownloading(null);
    }
  };

  return (
    <section className="card tasks-list" aria-labelledby="jobs-title">
      <div className="card-header">
        <h2 id="jobs-title" className="card-title">
          {t("tasks.list.title")}
        </h2>
      </div>
      {jobs.isPending && (
        <p className="center-pad">
          <Spinner label={t("common.loading")} />
        </p>
      )}
      {jobs.isError && <Alert tone="error">{tasksErrorMessage(t, jobs.error)}</Alert>}
      {downloadError !== null && <Alert tone="error">{tasksErrorMessage(t, downloadError)}</Alert>}
      {jobs.data && rows.length === 0 && <p className="muted">{t("tasks.list.empty")}</p>}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table className="table tasks-table">
            <thead>
              <tr>
                <th scope="col">{t("tasks.list.job")}</th>
                <th scope="col">{t("tasks.list.status")}</th>
                <th scope="col" className="tasks-progress-col">
                  {t("tasks.list.progress")}
                </th>
                <th scope="col">{t("tasks.list.created")}</th>
                <th scope="col">
                  <span className="sr-only">{t("tasks.list.actions")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((task) => {
                const model = taskModel(task);
                const typeLabel = t(`tasks.type.${task.type}`, task.type);
                return (
                  <tr key={task.id} data-testid="task-row" data-task-id={task.id}>
                    <th scope="row" className="tasks-job">
                      <Link to={`/tasks/${encodeURIComponent(task.id)}`}>{typeLabel}</Link>
                      <span className="small muted tasks-job-meta">
                        <code>{task.id}</code>
                        {model && <> · {model}</>}
                      </span>
                    </th>
                    <td>
                      <TaskStatusPill status={task.status} />
                    </td>
                    <td>
                      <TaskProgress task={task} label={t("tasks.progress.labelFor", { job: task.id })} />
                    </td>
                    <td className="tasks-created">{f.dateTime(task.created_at)}</td>
                    <td className="tasks-actions">
                      {task.result_file_id && (
                        <Button
                          variant="secondary"
                          onClick={() => void download(task)}
                          loading={downloading === task.id}
                          aria-label={t("tasks.list.downloadFor", { job: task.id })}
                        >
                          {t("tasks.list.download")}
                        </Button>
                      )}
                      {isActive(task.status) && (
                        <Button
                          variant="ghost"
                          onClick={() => setCancelling(task)}
                          aria-label={t("tasks.list.cancelFor", { job: task.id })}
                        >
                          {t("tasks.cancel.button")}
                        </Button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {jobs.hasNextPage && (
        <div className="form-actions">
          <Button variant="secondary" onClick={() => jobs.fetchNextPage()} loading={jobs.isFetchingNextPage}>
            {t("tasks.list.more")}
          </Button>
        </div>
      )}
      {cancelling && <CancelTaskDialog task={cancelling} onClose={() => setCancelling(null)} />}
    </section>
  );
}
