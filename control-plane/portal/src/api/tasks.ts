/**
 * The task API of the management API (`control-plane/docs/batches.md`, "The
 * task API"): batch jobs a developer starts from the portal — one chat
 * completion per prompt (`batch_generate`), one per row of an uploaded CSV or
 * JSONL file through a template (`batch_process`), and exports of the
 * account's usage as CSV (`data_export`). Generation and processing run as
 * one of the developer's API keys, through the gateway, at the batch price.
 *
 * Times are unix milliseconds; dates `YYYY-MM-DD` (UTC).
 */
import type { ApiClient } from "./client";
import { ApiError, errorFromResponse } from "./errors";

// ------------------------------------------------------------------ wire types

export const TASK_TYPES = ["batch_generate", "batch_process", "data_export"] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export const TASK_STATUSES = ["pending", "running", "completed", "failed", "cancelled"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** The statuses a job can still leave (progress still moves, cancel still works). */
export function isActive(status: string): boolean {
  return status === "pending" || status === "running";
}

/** Sampling options of generation and processing; every one optional. */
export interface TaskOptions {
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string | string[];
  seed?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  response_format?: unknown;
  /** Sent as a system message before each prompt. */
  system?: string;
}

export interface BatchGenerateInput {
  model: string;
  prompts: string[];
  options?: TaskOptions;
}

export interface BatchProcessInput {
  model: string;
  /** An uploaded file (`uploadFile`): CSV with a header row, or JSONL objects. */
  file_id: string;
  /** The prompt; `{{field}}` is replaced by each row's field. */
  template: string;
  options?: TaskOptions;
}

export interface DataExportInput {
  kind: "usage";
  /** UTC date, inclusive. */
  from?: string;
  to?: string;
}

export type CreateTaskRequest =
  | { type: "batch_generate"; input: BatchGenerateInput; key_id?: string }
  | { type: "batch_process"; input: BatchProcessInput; key_id?: string }
  | { type: "data_export"; input: DataExportInput };

/** TASK. `request_counts` and `usage` are null for an export (it has no items). */
export interface Task {
  id: string;
  type: TaskType | string;
  status: TaskStatus | string;
  /** Percentage of the items finished (succeeded or failed). */
  progress: number;
  input: Record<string, unknown>;
  request_counts: { total: number; completed: number; failed: number } | null;
  usage: { prompt_tokens: number; completion_tokens: number } | null;
  batch_id: string | null;
  result_file_id: string | null;
  error_message: string | null;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
}

export interface TaskPage {
  data: Task[];
  has_more: boolean;
}

export interface TaskFilter {
  status?: string;
  limit?: number;
  /** A task id: the page of tasks older than it. */
  before?: string;
}

/** One item of a generation or processing job. */
export interface TaskResult {
  /** The item's number, from 1 (a row or a prompt). */
  index: number;
  custom_id: string;
  /** `succeeded`, `failed`, or still `pending` / `running` / `cancelled`. */
  status: string;
  /** The answer's text (the first choice's message), when there is one. */
  output: unknown;
  /** Why the item failed: the gateway's error object, or the batch's. */
  error: unknown;
  prompt_tokens: number;
  completion_tokens: number;
}

export interface TaskResultPage {
  data: TaskResult[];
  has_more: boolean;
}

/** `POST /developer/files` → 201 FILE (OpenAI's file object; `created_at` in seconds). */
export interface UploadedFile {
  id: string;
  object: "file";
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: string;
}

/** A downloaded file and the name the server gave it. */
export interface Download {
  blob: Blob;
  filename: string | null;
}

// ---------------------------------------------------------------------- client

/**
 * The parts of `ApiClient` the task routes need beyond its public methods,
 * as `billing.ts` reaches them: the authenticated JSON call and the raw
 * request. The file upload is multipart, which the client's `send` (JSON
 * only) cannot carry, so it also reaches the client's fetch and base URL.
 */
interface ClientInternals {
  authed<T>(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    extraHeaders?: Record<string, string>,
  ): Promise<T>;
  send(
    method: "GET",
    path: string,
    body: undefined,
    accessToken: string,
    extraHeaders?: Record<string, string>,
  ): Promise<Response>;
  endSession(): void;
  readonly fetchImpl: typeof fetch;
  readonly baseUrl: string;
}

const idempotency = (key?: string) => (key ? { "Idempotency-Key": key } : undefined);

function queryString(values: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** `attachment; filename="x.csv"` → `x.csv`. */
export function filenameFrom(disposition: string | null): string | null {
  if (!disposition) return null;
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]!.trim());
  } catch {
    return m[1]!.trim();
  }
}

/** The task routes, for one `ApiClient` (its session, its refreshes). */
export class TasksApi {
  private readonly client: ApiClient;

  constructor(client: ApiClient) {
    this.client = client;
  }

  private get internals(): ClientInternals {
    return this.client as unknown as ClientInternals;
  }

  listTasks(filter: TaskFilter = {}): Promise<TaskPage> {
    return this.internals.authed(
      "GET",
      `/developer/tasks${queryString({ status: filter.status, limit: filter.limit, before: filter.before })}`,
    );
  }

  getTask(id: string): Promise<Task> {
    return this.internals.authed("GET", `/developer/tasks/${encodeURIComponent(id)}`);
  }

  /** Starts a job. `idempotencyKey` makes a retried or doubled submit start one job. */
  createTask(request: CreateTaskRequest, idempotencyKey?: string): Promise<Task> {
    return this.internals.authed("POST", "/developer/tasks", request, idempotency(idempotencyKey));
  }

  /** Stops a job: items not started are dropped, finished ones kept. */
  cancelTask(id: string): Promise<Task> {
    return this.internals.authed("POST", `/developer/tasks/${encodeURIComponent(id)}/cancel`);
  }

  /** A page of a job's items, in order, after item number `after` (0: from the start). */
  listResults(id: string, page: { after?: number; limit?: number } = {}): Promise<TaskResultPage> {
    return this.internals.authed(
      "GET",
      `/developer/tasks/${encodeURIComponent(id)}/results${queryString({ after: page.after, limit: page.limit })}`,
    );
  }

  /** The result file (JSONL in the batch output format, or an export's CSV); `409 not_ready` before it exists. */
  async downloadResults(id: string): Promise<Download> {
    const res = await this.download(`/developer/tasks/${encodeURIComponent(id)}/results/download`);
    return { blob: await res.blob(), filename: filenameFrom(res.headers.get("content-disposition")) };
  }

  /** Uploads a CSV or JSONL file for a `batch_process` job (multipart `file`). */
  async uploadFile(file: Blob, filename: string): Promise<UploadedFile> {
    const internals = this.internals;
    const post = async (token: string) => {
      const form = new FormData();
      form.append("file", file, filename);
      try {
        return await internals.fetchImpl(`${internals.baseUrl}/developer/files`, {
          method: "POST",
          headers: { Accept: "application/json", Authorization: `Bearer ${token}` },
          body: form,
          credentials: "same-origin",
        });
      } catch (e) {
        throw new ApiError(0, "network_error", e instanceof Error ? e.message : String(e));
      }
    };
    const res = await this.withToken(post);
    if (!res.ok) throw await errorFromResponse(res);
    try {
      return (await res.json()) as UploadedFile;
    } catch {
      throw new ApiError(res.status, "unexpected_response", "the server sent malformed JSON");
    }
  }

  /** A GET of a non-JSON answer with the bearer token. */
  private async download(path: string): Promise<Response> {
    const internals = this.internals;
    const res = await this.withToken((token) =>
      internals.send("GET", path, undefined, token, { Accept: "application/jsonl, text/csv, */*" }),
    );
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  /** One request with the access token: one refresh and retry on 401, as every call. */
  private async withToken(request: (token: string) => Promise<Response>): Promise<Response> {
    let token = this.client.tokens.accessToken ?? (await this.client.refresh()).access_token;
    let res = await request(token);
    if (res.status === 401) {
      const current = this.client.tokens.accessToken;
      token = current && current !== token ? current : (await this.client.refresh()).access_token;
      res = await request(token);
      if (res.status === 401) this.internals.endSession();
    }
    return res;
  }
}

const apis = new WeakMap<ApiClient, TasksApi>();

/** The one `TasksApi` of a client. */
export function tasksApi(client: ApiClient): TasksApi {
  let api = apis.get(client);
  if (!api) {
    api = new TasksApi(client);
    apis.set(client, api);
  }
  return api;
}
