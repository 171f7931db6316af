/**
 * The new-job form's checks and conversions, mirroring the server's rules
 * (`control-plane/src/batches/tasks.rs`): the server stays the authority and
 * its refusals are shown as they come.
 */
import type { CreateTaskRequest, TaskOptions } from "../../api/tasks";
import type { Problem } from "../../lib/validation";

/** Items per job (`MAX_ITEMS` on the server). */
export const MAX_ITEMS = 50_000;
export const DEFAULT_MODEL = "gpt-4o-mini";

export type JobKind = "batch_generate" | "batch_process";

export interface JobFormValues {
  type: JobKind;
  prompts: string;
  /** The chosen file (batch_process). */
  file: File | null;
  template: string;
  model: string;
  maxTokens: string;
  temperature: string;
  system: string;
  /** "" = the newest enabled key (the server's default). */
  keyId: string;
}

export type JobField = "prompts" | "file" | "template" | "model" | "maxTokens" | "temperature" | "system" | "keyId";
export type JobProblems = Partial<Record<JobField, Problem>>;

export const emptyJobForm = (): JobFormValues => ({
  type: "batch_generate",
  prompts: "",
  file: null,
  template: "",
  model: DEFAULT_MODEL,
  maxTokens: "",
  temperature: "",
  system: "",
  keyId: "",
});

type TaskProblemKey =
  | "validation.required"
  | "tasks.form.promptsMax"
  | "tasks.form.fileType"
  | "tasks.form.fileEmpty"
  | "tasks.form.templateUnclosed"
  | "tasks.form.templateField"
  | "tasks.form.maxTokensInvalid"
  | "tasks.form.temperatureInvalid"
  | "tasks.form.serverProblem"
  | "tasks.export.toBeforeFrom";

/** A problem with one of this section's messages (the fields show any catalogue key). */
export function problem(key: TaskProblemKey, values?: Record<string, string | number>): Problem {
  return { key: key as Problem["key"], values };
}

/** The prompts typed one per line: blank lines dropped, each trimmed at its ends. */
export function splitPrompts(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

/** The `{{field}}` names a template uses, in order, once each; null when a `{{` is not closed. */
export function templateFields(template: string): string[] | null {
  const fields: string[] = [];
  let rest = template;
  for (;;) {
    const start = rest.indexOf("{{");
    if (start < 0) break;
    const after = rest.slice(start + 2);
    const end = after.indexOf("}}");
    if (end < 0) return null;
    const field = after.slice(0, end).trim();
    if (!fields.includes(field)) fields.push(field);
    rest = after.slice(end + 2);
  }
  return fields;
}

const FILE_NAME = /\.(csv|jsonl|ndjson)$/i;

/**
 * Checks the form. `columns` are the first row's field names when the file
 * could be read here (a placeholder naming none of them is refused before
 * the upload), or null.
 */
export function checkJobForm(values: JobFormValues, columns: string[] | null): JobProblems {
  const problems: JobProblems = {};
  if (values.model.trim() === "") problems.model = problem("validation.required");
  if (values.type === "batch_generate") {
    const prompts = splitPrompts(values.prompts);
    if (prompts.length === 0) problems.prompts = problem("validation.required");
    else if (prompts.length > MAX_ITEMS) problems.prompts = problem("tasks.form.promptsMax", { max: MAX_ITEMS });
  } else {
    if (!values.file) problems.file = problem("validation.required");
    else if (!FILE_NAME.test(values.file.name)) problems.file = problem("tasks.form.fileType");
    else if (values.file.size === 0) problems.file = problem("tasks.form.fileEmpty");
    if (values.template.trim() === "") problems.template = problem("validation.required");
    else {
      const fields = templateFields(values.template);
      if (fields === null) problems.template = problem("tasks.form.templateUnclosed", { example: "{{field}}" });
      else if (columns) {
        const missing = fields.find((f) => !columns.includes(f));
        if (missing !== undefined) problems.template = problem("tasks.form.templateField", { field: missing });
      }
    }
  }
  const maxTokens = values.maxTokens.trim();
  if (maxTokens !== "" && (!/^\d+$/.test(maxTokens) || Number(maxTokens) < 1 || Number(maxTokens) > 1_000_000)) {
    problems.maxTokens = problem("tasks.form.maxTokensInvalid");
  }
  const temperature = values.temperature.trim();
  if (temperature !== "") {
    const n = Number(temperature);
    if (!/^\d*\.?\d+$/.test(temperature) || !Number.isFinite(n) || n < 0 || n > 2) {
      problems.temperature = problem("tasks.form.temperatureInvalid");
    }
  }
  return problems;
}

/** The options object, with only what was filled in; undefined when none was. */
export function jobOptions(values: JobFormValues): TaskOptions | undefined {
  const options: TaskOptions = {};
  if (values.maxTokens.trim() !== "") options.max_tokens = Number(values.maxTokens.trim());
  if (values.temperature.trim() !== "") options.temperature = Number(values.temperature.trim());
  if (values.system.trim() !== "") options.system = values.system.trim();
  return Object.keys(options).length > 0 ? options : undefined;
}

/** The request body of a checked form; `fileId` is the uploaded file's (batch_process). */
export function jobRequest(values: JobFormValues, fileId?: string): CreateTaskRequest {
  const options = jobOptions(values);
  const model = values.model.trim();
  const keyId = values.keyId === "" ? undefined : values.keyId;
  const withKey = <T extends object>(body: T) => (keyId ? { ...body, key_id: keyId } : body);
  if (values.type === "batch_generate") {
    return withKey({
      type: "batch_generate" as const,
      input: { model, prompts: splitPrompts(values.prompts), ...(options ? { options } : {}) },
    });
  }
  return withKey({
    type: "batch_process" as const,
    input: { model, file_id: fileId ?? "", template: values.template, ...(options ? { options } : {}) },
  });
}

/**
 * The server's 400 names the field first (`template: row 3: …`,
 * `prompts[2]: …`, `options.max_tokens: …`): the form field it belongs to,
 * or null when it is about the whole request.
 */
export function fieldOfServerMessage(message: string): JobField | null {
  const m = /^([a-z_]+(?:\.[a-z_]+)?)(?:\[\d+\])?:/i.exec(message);
  if (!m) return null;
  switch (m[1]) {
    case "model":
      return "model";
    case "prompts":
      return "prompts";
    case "template":
      return "template";
    case "file_id":
    case "file":
      return "file";
    case "key_id":
      return "keyId";
    case "options.max_tokens":
      return "maxTokens";
    case "options.temperature":
      return "temperature";
    case "options.system":
      return "system";
    default:
      return null;
  }
}

/**
 * The first row's field names of a CSV (its header) or JSONL file (the first
 * object's keys), from the file's beginning; null when they cannot be read.
 */
export function firstRowFields(text: string, filename: string): string[] | null {
  if (/\.csv$/i.test(filename)) {
    const header = csvFirstRecord(text.replace(/^\uFEFF/, ""));
    return header && header.length > 0 && header.some((h) => h !== "") ? header : null;
  }
  const line = text.split(/\r?\n/).find((l) => l.trim() !== "");
  if (line === undefined) return null;
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return Object.keys(value);
  } catch {
    // Not a whole JSON line (or cut off): no hint.
  }
  return null;
}

/** The first record of CSV text (RFC 4180 quotes), or null when it does not end within the text. */
function csvFirstRecord(text: string): string[] | null {
  const fields: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === ",") {
      fields.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      fields.push(field);
      return fields;
    } else field += c;
  }
  if (quoted) return null;
  fields.push(field);
  return fields;
}

/** The file's first 64 KiB as text (enough for a header row or a first line). */
export async function readHead(file: Blob): Promise<string> {
  const head = file.slice(0, 64 * 1024);
  if (typeof head.text === "function") return head.text();
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result ?? ""));
    reader.onerror = () => reject(reader.error);
    reader.readAsText(head);
  });
}

// ----------------------------------------------------------------- data export

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The export's period: both optional; the end not before the start. */
export function checkExportPeriod(from: string, to: string): { from?: Problem; to?: Problem } {
  if (from !== "" && !DATE.test(from)) return { from: problem("validation.required") };
  if (to !== "" && !DATE.test(to)) return { to: problem("validation.required") };
  if (from !== "" && to !== "" && to < from) return { to: problem("tasks.export.toBeforeFrom") };
  return {};
}
