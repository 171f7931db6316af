import { useTranslation } from "react-i18next";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import type { Task } from "../../api/tasks";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { Modal } from "../../components/Modal";
import { TASKS_QUERY, taskQueryKey, tasksErrorMessage, useTasksApi } from "./shared";

/** Asks before stopping a job: items not started are dropped, finished ones kept. */
export function CancelTaskDialog({ task, onClose }: { task: Task; onClose: () => void }) {
  const { t } = useTranslation();
  const api = useTasksApi();
  const queryClient = useQueryClient();
  const cancel = useMutation({
    mutationFn: () => api.cancelTask(task.id),
    onSuccess: async (updated) => {
      queryClient.setQueryData(taskQueryKey(task.id), updated);
      await queryClient.invalidateQueries({ queryKey: TASKS_QUERY });
      onClose();
    },
  });
  return (
    <Modal
      title={t("tasks.cancel.title")}
      onClose={onClose}
      dismissable={!cancel.isPending}
      footer={
        <>
          <Button variant="secondary" onClick={onClose} disabled={cancel.isPending}>
            {t("tasks.cancel.keep")}
          </Button>
          <Button variant="danger" onClick={() => cancel.mutate()} loading={cancel.isPending} data-autofocus>
            {t("tasks.cancel.confirm")}
          </Button>
        </>
      }
    >
      <p>{t(task.type === "data_export" ? "tasks.cancel.bodyExport" : "tasks.cancel.body", { job: task.id })}</p>
      {cancel.isError && <Alert tone="error">{tasksErrorMessage(t, cancel.error)}</Alert>}
    </Modal>
  );
}
