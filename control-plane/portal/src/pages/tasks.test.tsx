import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../i18n";
import { REFRESH_TOKEN_KEY } from "../api/tokens";
import { filenameFrom } from "../api/tasks";
import type { Task, TaskResult } from "../api/tasks";
import type { ApiKey } from "../api/types";
import { apiError, json, sessionServer } from "../test/fakeServer";
import type { FakeServer } from "../test/fakeServer";
import { renderApp } from "../test/renderApp";
import {
  checkExportPeriod,
  checkJobForm,
  emptyJobForm,
  fieldOfServerMessage,
  firstRowFields,
  jobRequest,
  splitPrompts,
  templateFields,
} from "./tasks/taskForm";

const CREATED = Date.UTC(2026, 10, 20, 9, 30);

const key = (over: Partial<ApiKey> = {}): ApiKey => ({
  id: "key_1",
  name: "Backend",
  display_prefix: "ahub_AbCd…wxYz",
  enabled: true,
  created_at_ms: Date.UTC(2026, 5, 1),
  expires_at_ms: null,
  last_used_at_ms: null,
  allowed_models: null,
  allowed_endpoints: null,
  limits: {
    requests_per_minute: null,
    tokens_per_minute: null,
    token_quota_total: null,
    token_quota_monthly: null,
    budget_total: null,
    budget_monthly: null,
  },
  ip_allowlist: null,
  metadata: {},
  ...over,
});

const task = (over: Partial<Task> = {}): Task => ({
  id: "task_1",
  type: "batch_generate",
  status: "running",
  progress: 40,
  input: { model: "gpt-4o-mini", prompts: ["a", "b"] },
  request_counts: { total: 10, completed: 4, failed: 0 },
  usage: { prompt_tokens: 80, completion_tokens: 120 },
  batch_id: "batch_1",
  result_file_id: null,
  error_message: null,
  created_at: CREATED,
  started_at: CREATED,
  completed_at: null,
  ...over,
});

const result = (index: number, over: Partial<TaskResult> = {}): TaskResult => ({
  index,
  custom_id: `item-${index}`,
  status: "succeeded",
  output: `answer ${index}`,
  error: null,
  prompt_tokens: 8,
  completion_tokens: 3,
  ...over,
});

/** A signed-in session with keys and a task list (the form and the list share the page). */
function tasksServer(tasks: () => Task[] = () => [], keys: ApiKey[] = [key(), key({ id: "key_2", name: "Batch" })]) {
  return sessionServer(1)
    .on("GET", "/developer/keys", () => json(200, { data: keys }))
    .on("GET", "/developer/tasks", () => json(200, { data: tasks(), has_more: false }));
}

/** The request's multipart body, as the page handed it to fetch. */
function captureBodies(server: FakeServer): Map<string, BodyInit | null | undefined> {
  const bodies = new Map<string, BodyInit | null | undefined>();
  const original = server.fetch;
  vi.spyOn(server, "fetch").mockImplementation((input, init) => {
    bodies.set(`${init?.method ?? "GET"} ${new URL(String(input), "http://portal.test").pathname.replace(/^\/api\/v1/, "")}`, init?.body);
    return original(input, init);
  });
  return bodies;
}

beforeEach(async () => {
  await i18n.changeLanguage("en");
  localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the new-job form's rules", () => {
  it("reads prompts one per line and template placeholders", () => {
    expect(splitPrompts("  one \n\n two\r\nthree  \n")).toEqual(["one", "two", "three"]);
    expect(templateFields("Summarise {{ text }} for {{name}} ({{text}})")).toEqual(["text", "name"]);
    expect(templateFields("no placeholders")).toEqual([]);
    expect(templateFields("broken {{name")).toBeNull();
  });

  it("finds the first row's fields of CSV and JSONL files", () => {
    expect(firstRowFields('name,"note, quoted",age\nAda,x,36\n', "people.csv")).toEqual(["name", "note, quoted", "age"]);
    expect(firstRowFields("\uFEFFid\r\n1\r\n", "ids.CSV")).toEqual(["id"]);
    expect(firstRowFields('\n{"question": "why?", "lang": "en"}\n{"question": "how?"}', "q.jsonl")).toEqual([
      "question",
      "lang",
    ]);
    expect(firstRowFields("not json", "q.jsonl")).toBeNull();
  });

  it("checks the form as the server would", () => {
    const values = { ...emptyJobForm(), prompts: "hello" };
    expect(checkJobForm(values, null)).toEqual({});
    expect(checkJobForm({ ...values, prompts: " \n ", model: " " }, null)).toEqual({
      prompts: { key: "validation.required" },
      model: { key: "validation.required" },
    });
    expect(checkJobForm({ ...values, maxTokens: "1.5", temperature: "2.5" }, null)).toEqual({
      maxTokens: { key: "tasks.form.maxTokensInvalid" },
      temperature: { key: "tasks.form.temperatureInvalid" },
    });
    const file = new File(["a,b\n1,2\n"], "rows.csv", { type: "text/csv" });
    const processing = { ...emptyJobForm(), type: "batch_process" as const, file, template: "{{a}} {{c}}" };
    expect(checkJobForm(processing, ["a", "b"]).template).toEqual({
      key: "tasks.form.templateField",
      values: { field: "c" },
    });
    expect(checkJobForm(processing, null)).toEqual({});
    expect(checkJobForm({ ...processing, file: new File(["x"], "rows.xlsx") }, null).file?.key).toBe(
      "tasks.form.fileType",
    );
    expect(checkExportPeriod("2026-11-20", "2026-11-01").to?.key).toBe("tasks.export.toBeforeFrom");
    expect(checkExportPeriod("", "")).toEqual({});
  });

  it("builds the request body with only what was filled in", () => {
    expect(jobRequest({ ...emptyJobForm(), prompts: "a\nb" })).toEqual({
      type: "batch_generate",
      input: { model: "gpt-4o-mini", prompts: ["a", "b"] },
    });
    expect(
      jobRequest(
        { ...emptyJobForm(), type: "batch_process", template: "{{q}}", temperature: "0", keyId: "key_2" },
        "file-1",
      ),
    ).toEqual({
      type: "batch_process",
      input: { model: "gpt-4o-mini", file_id: "file-1", template: "{{q}}", options: { temperature: 0 } },
      key_id: "key_2",
    });
  });

  it("places the server's refusals under their field", () => {
    expect(fieldOfServerMessage("template: row 2: the row has no field 'x'")).toBe("template");
    expect(fieldOfServerMessage("prompts[3]: expected a non-empty string")).toBe("prompts");
    expect(fieldOfServerMessage("options.max_tokens: not a supported option")).toBe("maxTokens");
    expect(fieldOfServerMessage("key_id: no enabled key 'key_9' of yours")).toBe("keyId");
    expect(fieldOfServerMessage("Something else entirely")).toBeNull();
    expect(filenameFrom('attachment; filename="task_1-results.jsonl"')).toBe("task_1-results.jsonl");
    expect(filenameFrom(null)).toBeNull();
  });
});

describe("Batch jobs: the new-job form", () => {
  it("refuses an incomplete form before sending anything", async () => {
    const server = tasksServer();
    renderApp("/tasks", server);
    expect(await screen.findByRole("heading", { name: "Batch jobs", level: 1 })).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Batch jobs" })).toHaveClass("active");
    const form = screen.getByRole("form", { name: "New batch job" });
    expect(within(form).getByLabelText("Model")).toHaveValue("gpt-4o-mini");
    await userEvent.clear(within(form).getByLabelText("Model"));
    await userEvent.type(within(form).getByLabelText(/^Temperature/), "3");
    await userEvent.click(within(form).getByRole("button", { name: "Start job" }));

    expect(within(form).getByLabelText("Prompts")).toHaveAccessibleDescription("This field is required.");
    expect(within(form).getByLabelText("Model")).toHaveAccessibleDescription("This field is required.");
    expect(within(form).getByLabelText(/^Temperature/)).toHaveAccessibleDescription("Enter a number from 0 to 2.");
    expect(server.calls("POST", "/developer/tasks")).toHaveLength(0);
  });

  it("starts a batch_generate job with an Idempotency-Key that a retry reuses", async () => {
    let created: Task | null = null;
    let attempts = 0;
    const server = tasksServer(() => (created ? [created] : [])).on("POST", "/developer/tasks", () => {
      attempts += 1;
      if (attempts === 1) return apiError(503, "unavailable", "try again");
      created = task({ id: "task_9", progress: 0, request_counts: { total: 3, completed: 0, failed: 0 } });
      return json(201, created);
    });
    renderApp("/tasks", server);
    const form = await screen.findByRole("form", { name: "New batch job" });
    await screen.findByRole("option", { name: "Batch (ahub_AbCd…wxYz)" });
    await userEvent.type(within(form).getByLabelText("Prompts"), "First prompt\n\nSecond prompt\nThird prompt");
    expect(within(form).getByText("One prompt per line · 3 prompts")).toBeInTheDocument();
    await userEvent.type(within(form).getByLabelText(/^Max tokens/), "64");
    await userEvent.type(within(form).getByLabelText(/^Temperature/), "0.2");
    await userEvent.type(within(form).getByLabelText(/^System prompt/), "Answer briefly.");
    await userEvent.selectOptions(within(form).getByLabelText("API key"), "key_2");
    await userEvent.click(within(form).getByRole("button", { name: "Start job" }));
    expect(await within(form).findByRole("alert")).toHaveTextContent("try again");

    await userEvent.click(within(form).getByRole("button", { name: "Start job" }));
    expect(await within(form).findByText("Job task_9 started. It appears in the list below.")).toBeInTheDocument();
    const [first, second] = server.calls("POST", "/developer/tasks");
    expect(first!.body).toEqual({
      type: "batch_generate",
      input: {
        model: "gpt-4o-mini",
        prompts: ["First prompt", "Second prompt", "Third prompt"],
        options: { max_tokens: 64, temperature: 0.2, system: "Answer briefly." },
      },
      key_id: "key_2",
    });
    expect(first!.idempotencyKey).toMatch(/\S{16,}/);
    expect(second!.idempotencyKey).toBe(first!.idempotencyKey);
    expect(second!.authorization).toMatch(/^Bearer access-/);
    // The list shows the new job; the form is ready for the next one.
    expect(await screen.findByRole("link", { name: "Generate from prompts" })).toHaveAttribute("href", "/tasks/task_9");
    expect(within(form).getByLabelText("Prompts")).toHaveValue("");
  });

  it("uploads the file, shows its fields, then starts a batch_process job; a refusal shows under its field", async () => {
    let taskAttempts = 0;
    const server = tasksServer()
      .on("POST", "/developer/files", () =>
        json(201, {
          id: "file-abc",
          object: "file",
          bytes: 24,
          created_at: 1795640000,
          filename: "people.csv",
          purpose: "batch",
          status: "processed",
        }),
      )
      .on("POST", "/developer/tasks", () => {
        taskAttempts += 1;
        if (taskAttempts === 1) return apiError(400, "invalid_request", "template: row 2: the row has no field 'city'");
        return json(201, task({ id: "task_7", type: "batch_process" }));
      });
    const captured = captureBodies(server);
    renderApp("/tasks", server);
    const form = await screen.findByRole("form", { name: "New batch job" });
    await userEvent.click(within(form).getByRole("radio", { name: /Process a file/ }));
    const file = new File(["name,city\nAda,London\n"], "people.csv", { type: "text/csv" });
    await userEvent.upload(within(form).getByLabelText("File"), file);
    expect(await within(form).findByText("Fields in the first row: {{name}}, {{city}}")).toBeInTheDocument();

    // A placeholder the first row lacks is refused here, before any upload.
    fireEvent.change(within(form).getByLabelText("Template"), { target: { value: "Where is {{town}}?" } });
    await userEvent.click(within(form).getByRole("button", { name: "Start job" }));
    expect(within(form).getByLabelText("Template")).toHaveAccessibleDescription(
      "The file's first row has no field “town”.",
    );
    expect(server.calls("POST", "/developer/files")).toHaveLength(0);

    fireEvent.change(within(form).getByLabelText("Template"), { target: { value: "Describe {{city}} for {{name}}." } });
    await userEvent.click(within(form).getByRole("button", { name: "Start job" }));
    await waitFor(() =>
      expect(within(form).getByLabelText("Template")).toHaveAccessibleDescription(
        "template: row 2: the row has no field 'city'",
      ),
    );
    const upload = server.calls("POST", "/developer/files")[0]!;
    expect(upload.authorization).toMatch(/^Bearer access-/);
    const multipart = captured.get("POST /developer/files");
    expect(multipart).toBeInstanceOf(FormData);
    const sent = (multipart as FormData).get("file");
    expect(sent).toBeInstanceOf(File);
    expect((sent as File).name).toBe("people.csv");
    expect(server.calls("POST", "/developer/tasks")[0]!.body).toEqual({
      type: "batch_process",
      input: { model: "gpt-4o-mini", file_id: "file-abc", template: "Describe {{city}} for {{name}}." },
    });

    // Submitting again sends the task only: the file is already uploaded.
    fireEvent.change(within(form).getByLabelText("Template"), { target: { value: "Describe {{city}}." } });
    await userEvent.click(within(form).getByRole("button", { name: "Start job" }));
    expect(await within(form).findByText("Job task_7 started. It appears in the list below.")).toBeInTheDocument();
    expect(server.calls("POST", "/developer/files")).toHaveLength(1);
    const [refused, accepted] = server.calls("POST", "/developer/tasks");
    expect((accepted!.body as { input: { file_id: string } }).input.file_id).toBe("file-abc");
    // A different body is a different request: a new key.
    expect(accepted!.idempotencyKey).not.toBe(refused!.idempotencyKey);
  });

  it("asks for a key first when the account has none", async () => {
    const server = tasksServer(() => [], [key({ enabled: false })]);
    renderApp("/tasks", server);
    expect(await screen.findByText("Batch jobs run as one of your API keys. Create an enabled key first.")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Create a key" })).toHaveAttribute("href", "/keys");
    expect(screen.getByRole("button", { name: "Start job" })).toBeDisabled();
  });

  it("exports usage as a data_export job", async () => {
    let created: Task | null = null;
    const server = tasksServer(() => (created ? [created] : [])).on("POST", "/developer/tasks", () => {
      created = task({
        id: "task_exp",
        type: "data_export",
        status: "completed",
        progress: 100,
        input: { kind: "usage", from: "2026-11-01", to: "2026-11-20" },
        request_counts: null,
        usage: null,
        batch_id: null,
        result_file_id: "file-exp",
        completed_at: CREATED + 1000,
      });
      return json(201, created);
    });
    renderApp("/tasks", server);
    const card = await screen.findByRole("region", { name: "Export usage" });
    fireEvent.change(within(card).getByLabelText(/^From/), { target: { value: "2026-11-20" } });
    fireEvent.change(within(card).getByLabelText(/^To/), { target: { value: "2026-11-01" } });
    await userEvent.click(within(card).getByRole("button", { name: "Export usage" }));
    expect(within(card).getByText("The end date is before the start date.")).toBeInTheDocument();
    fireEvent.change(within(card).getByLabelText(/^From/), { target: { value: "2026-11-01" } });
    fireEvent.change(within(card).getByLabelText(/^To/), { target: { value: "2026-11-20" } });
    await userEvent.click(within(card).getByRole("button", { name: "Export usage" }));
    expect(await within(card).findByText("Export started. It appears in the list below.")).toBeInTheDocument();
    const [call] = server.calls("POST", "/developer/tasks");
    expect(call!.body).toEqual({ type: "data_export", input: { kind: "usage", from: "2026-11-01", to: "2026-11-20" } });
    expect(call!.idempotencyKey).toBeTruthy();
    const row = (await screen.findByRole("link", { name: "Usage export" })).closest("tr")!;
    expect(within(row).getByText("Completed")).toBeInTheDocument();
    expect(within(row).getByRole("button", { name: "Download results of task_exp" })).toBeInTheDocument();
  });
});

describe("Batch jobs: the list", () => {
  it("shows progress and follows a running job until it completes", async () => {
    let calls = 0;
    const server = tasksServer(() => {
      calls += 1;
      return calls === 1
        ? [task()]
        : [task({ status: "completed", progress: 100, request_counts: { total: 10, completed: 9, failed: 1 }, result_file_id: "file-out" })];
    });
    renderApp("/tasks", server);
    const bar = await screen.findByRole("progressbar", { name: "Progress of task_1" });
    expect(bar).toHaveAttribute("aria-valuenow", "40");
    const row = bar.closest("tr")!;
    expect(within(row).getByText("Running")).toBeInTheDocument();
    expect(row).toHaveTextContent("40% · 4 of 10 done");
    expect(within(row).getByText(/gpt-4o-mini/)).toBeInTheDocument();

    // Polled every 2 s while running; once completed the polling stops.
    await waitFor(() => expect(within(row).getByText("Completed")).toBeInTheDocument(), { timeout: 4000 });
    expect(screen.getByRole("progressbar", { name: "Progress of task_1" })).toHaveAttribute("aria-valuenow", "100");
    expect(row).toHaveTextContent("100% · 10 of 10 done · 1 failed");
    expect(within(row).queryByRole("button", { name: "Cancel task_1" })).toBeNull();
    const seen = server.calls("GET", "/developer/tasks").length;
    await new Promise((r) => setTimeout(r, 2300));
    expect(server.calls("GET", "/developer/tasks")).toHaveLength(seen);
  }, 10_000);

  it("cancels a job after a confirmation", async () => {
    let current = task();
    const server = tasksServer(() => [current]).on("POST", "/developer/tasks/task_1/cancel", () => {
      current = task({ status: "cancelled", completed_at: CREATED + 5000 });
      return json(200, current);
    });
    renderApp("/tasks", server);
    await userEvent.click(await screen.findByRole("button", { name: "Cancel task_1" }));
    const dialog = screen.getByRole("dialog", { name: "Cancel this job?" });
    expect(dialog).toHaveTextContent("Items not started yet are dropped");
    await userEvent.click(within(dialog).getByRole("button", { name: "Keep running" }));
    expect(server.calls("POST", "/developer/tasks/task_1/cancel")).toHaveLength(0);

    await userEvent.click(screen.getByRole("button", { name: "Cancel task_1" }));
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Cancel job" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    const row = screen.getByRole("link", { name: "Generate from prompts" }).closest("tr")!;
    expect(await within(row).findByText("Cancelled")).toBeInTheDocument();
    expect(server.calls("POST", "/developer/tasks/task_1/cancel")[0]!.authorization).toMatch(/^Bearer access-/);
  });

  it("says when there are no jobs, in Chinese", async () => {
    await i18n.changeLanguage("zh-CN");
    renderApp("/tasks", tasksServer());
    expect(await screen.findByRole("heading", { name: "批量任务", level: 1 })).toBeInTheDocument();
    expect(await screen.findByText("还没有批量任务。请在上方新建一个。")).toBeInTheDocument();
    expect(screen.getByLabelText("最大 Token 数", { exact: false })).toBeInTheDocument();
  });
});

describe("Batch jobs: one job", () => {
  const done = task({
    id: "task_5",
    status: "completed",
    progress: 100,
    request_counts: { total: 25, completed: 24, failed: 1 },
    usage: { prompt_tokens: 1200, completion_tokens: 3400 },
    result_file_id: "file-out",
    completed_at: CREATED + 60_000,
  });

  it("shows counts, usage and the results a page at a time", async () => {
    const server = sessionServer(1)
      .on("GET", "/developer/tasks/task_5", () => json(200, done))
      .on("GET", "/developer/tasks/task_5/results", (req) => {
        const after = Number(req.query.after ?? 0);
        const limit = Number(req.query.limit);
        const rows = Array.from({ length: 25 }, (_, i) =>
          i === 21
            ? result(i + 1, {
                status: "failed",
                output: null,
                error: { code: "model_not_found", message: "The model does not exist." },
              })
            : result(i + 1),
        ).filter((r) => r.index > after);
        return json(200, { data: rows.slice(0, limit), has_more: rows.length > limit });
      });
    renderApp("/tasks/task_5", server);
    expect(await screen.findByRole("heading", { name: "Generate from prompts", level: 1 })).toBeInTheDocument();
    expect(screen.getByTestId("task-status")).toHaveTextContent("Completed");
    expect(screen.getByTestId("count-total")).toHaveTextContent("25");
    expect(screen.getByTestId("count-completed")).toHaveTextContent("24");
    expect(screen.getByTestId("count-failed")).toHaveTextContent("1");
    expect(screen.getByTestId("usage-prompt")).toHaveTextContent("1,200");
    expect(screen.getByTestId("usage-completion")).toHaveTextContent("3,400");
    expect(screen.getByTestId("usage-total")).toHaveTextContent("4,600");
    expect(screen.getByRole("progressbar", { name: "Progress" })).toHaveAttribute("aria-valuenow", "100");

    const results = screen.getByRole("region", { name: "Results" });
    await waitFor(() => expect(within(results).getAllByTestId("result-row")).toHaveLength(20));
    expect(within(results).getAllByRole("columnheader").map((h) => h.textContent)).toEqual([
      "#",
      "Custom ID",
      "Status",
      "Output",
      "Error",
    ]);
    const first = within(results).getAllByTestId("result-row")[0]!;
    expect(within(first).getByText("item-1")).toBeInTheDocument();
    expect(within(first).getByText("answer 1")).toBeInTheDocument();
    expect(within(first).getByText("Succeeded")).toBeInTheDocument();
    expect(server.calls("GET", "/developer/tasks/task_5/results")[0]!.query).toEqual({ after: "0", limit: "20" });
    expect(within(results).getByText("1–20 of 25")).toBeInTheDocument();

    await userEvent.click(within(results).getByRole("button", { name: "Next" }));
    await within(results).findByText("item-21");
    expect(within(results).getAllByTestId("result-row")).toHaveLength(5);
    expect(server.calls("GET", "/developer/tasks/task_5/results").at(-1)!.query).toEqual({ after: "20", limit: "20" });
    const failed = within(results).getByText("item-22").closest("tr")!;
    expect(within(failed).getByText("Failed")).toBeInTheDocument();
    expect(within(failed).getByText("model_not_found: The model does not exist.")).toBeInTheDocument();
    expect(within(results).getByRole("button", { name: "Next" })).toBeDisabled();
    await userEvent.click(within(results).getByRole("button", { name: "Previous" }));
    await within(results).findByText("item-1");
  });

  it("downloads the results with the session's token", async () => {
    const created: Blob[] = [];
    const clicked: { href: string; download: string }[] = [];
    URL.createObjectURL = vi.fn((blob: Blob) => {
      created.push(blob);
      return "blob:results";
    });
    URL.revokeObjectURL = vi.fn();
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push({ href: this.href, download: this.download });
    });
    const jsonl = '{"id":"r1","custom_id":"item-1","response":{"status_code":200},"error":null}\n';
    const server = sessionServer(1)
      .on("GET", "/developer/tasks/task_5", () => json(200, done))
      .on("GET", "/developer/tasks/task_5/results", () => json(200, { data: [result(1)], has_more: false }))
      .on(
        "GET",
        "/developer/tasks/task_5/results/download",
        () =>
          new Response(jsonl, {
            headers: {
              "content-type": "application/jsonl",
              "content-disposition": 'attachment; filename="batch_1_output.jsonl"',
            },
          }),
      );
    renderApp("/tasks/task_5", server);
    await userEvent.click(await screen.findByRole("button", { name: "Download results" }));
    await waitFor(() => expect(clicked).toHaveLength(1));
    expect(clicked[0]).toEqual({ href: "blob:results", download: "batch_1_output.jsonl" });
    expect(await created[0]!.text()).toBe(jsonl);
    const call = server.calls("GET", "/developer/tasks/task_5/results/download")[0]!;
    expect(call.authorization).toMatch(/^Bearer access-/);
  });

  it("shows a failed job's error and a download that is not ready", async () => {
    const server = sessionServer(1)
      .on("GET", "/developer/tasks/task_6", () =>
        json(
          200,
          task({
            id: "task_6",
            status: "failed",
            progress: 100,
            request_counts: { total: 2, completed: 0, failed: 2 },
            result_file_id: "file-err",
            error_message: "every item failed; see the error file",
          }),
        ),
      )
      .on("GET", "/developer/tasks/task_6/results", () =>
        json(200, {
          data: [result(1, { status: "failed", output: null, error: { message: "no answer" } })],
          has_more: false,
        }),
      )
      .on("GET", "/developer/tasks/task_6/results/download", () =>
        apiError(409, "not_ready", "The task is failed; results are downloadable once it has completed."),
      );
    renderApp("/tasks/task_6", server);
    expect(await screen.findByText("every item failed; see the error file")).toBeInTheDocument();
    expect(screen.getByTestId("task-status")).toHaveTextContent("Failed");
    await userEvent.click(screen.getByRole("button", { name: "Download results" }));
    expect(
      await screen.findByText("The results are not ready yet: they can be downloaded once the job has completed."),
    ).toBeInTheDocument();
  });

  it("says when the job does not exist", async () => {
    const server = sessionServer(1).on("GET", "/developer/tasks/task_x", () => apiError(404, "not_found", "no task"));
    renderApp("/tasks/task_x", server);
    expect(await screen.findByRole("alert")).toHaveTextContent("This job no longer exists.");
    expect(screen.getByRole("link", { name: /Batch jobs/ , current: false })).toBeInTheDocument();
  });
});
