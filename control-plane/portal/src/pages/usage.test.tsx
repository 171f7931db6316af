import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../i18n";
import { REFRESH_TOKEN_KEY } from "../api/tokens";
import type { UsageGroupBy, UsageReport } from "../api/billing";
import { apiError, json, sessionServer } from "../test/fakeServer";
import type { Recorded } from "../test/fakeServer";
import { renderApp } from "../test/renderApp";
import { checkPeriod, presetPeriod } from "./usage/period";

/** 2026-11-20, 12:00 UTC. */
const NOW = Date.UTC(2026, 10, 20, 12);

const numbers = {
  requests: 41,
  prompt_tokens: 500,
  completion_tokens: 312,
  tokens: 812,
  cost: "0.004120",
  errors: 1,
  avg_latency_ms: 212.4,
};

function report(req: Recorded): UsageReport {
  const group_by = (req.query.group_by ?? "model") as UsageGroupBy;
  const groups: Record<UsageGroupBy, string[]> = {
    model: ["gpt-4o-mini", "gpt-4o"],
    key: ["key_1", "key_gone"],
    day: ["2026-11-19", "2026-11-20"],
  };
  return {
    period: { from: req.query.from ?? "2026-11-01", to: req.query.to ?? "2026-11-20" },
    totals: { ...numbers, requests: 1234, tokens: 1234567, prompt_tokens: 1000000, completion_tokens: 234567 },
    group_by,
    breakdown: groups[group_by].map((group, i) => ({ ...numbers, group, requests: 41 + i })),
  };
}

const key = {
  id: "key_1",
  name: "Production",
  display_prefix: "ahub_AbCd",
  enabled: true,
  created_at_ms: NOW,
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
  metadata: null,
};

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW);
  await i18n.changeLanguage("en");
  localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("usage periods", () => {
  it("computes the presets in UTC", () => {
    expect(presetPeriod("thisMonth", NOW)).toEqual({ from: "2026-11-01", to: "2026-11-20" });
    expect(presetPeriod("lastMonth", NOW)).toEqual({ from: "2026-10-01", to: "2026-10-31" });
    expect(presetPeriod("last7Days", NOW)).toEqual({ from: "2026-11-14", to: "2026-11-20" });
    expect(presetPeriod("lastMonth", Date.UTC(2026, 0, 5))).toEqual({ from: "2025-12-01", to: "2025-12-31" });
  });

  it("refuses what the server refuses", () => {
    expect(checkPeriod({ from: "2026-11-01", to: "2026-11-30" })).toBeNull();
    expect(checkPeriod({ from: "2026-02-30", to: "2026-03-01" })).toBe("fromInvalid");
    expect(checkPeriod({ from: "2026-11-01", to: "" })).toBe("toInvalid");
    expect(checkPeriod({ from: "2026-11-02", to: "2026-11-01" })).toBe("toBeforeFrom");
    expect(checkPeriod({ from: "2025-01-01", to: "2026-01-02" })).toBeNull(); // to - from = 366 days
    expect(checkPeriod({ from: "2025-01-01", to: "2026-01-03" })).toBe("tooLong");
  });
});

describe("Usage page", () => {
  it("shows this month by model, then other periods and groupings", async () => {
    const server = sessionServer(1)
      .on("GET", "/developer/usage", (req) => json(200, report(req)))
      .on("GET", "/developer/keys", () => json(200, { data: [key] }));
    renderApp("/usage", server);
    expect(await screen.findByTestId("usage-tokens")).toHaveTextContent("1,234,567");
    expect(screen.getByTestId("usage-requests")).toHaveTextContent("1,234");
    expect(screen.getByTestId("usage-cost")).toHaveTextContent("$0.004120");
    expect(screen.getByText("1,000,000 prompt · 234,567 completion")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "This month" })).toHaveAttribute("aria-pressed", "true");
    expect(screen.getByLabelText("From")).toHaveValue("2026-11-01");
    expect(screen.getByLabelText("To")).toHaveValue("2026-11-20");
    expect(server.calls("GET", "/developer/usage")[0]?.query).toEqual({
      from: "2026-11-01",
      to: "2026-11-20",
      group_by: "model",
    });

    const table = screen.getByRole("table");
    const rows = within(table).getAllByRole("row");
    expect(rows).toHaveLength(3);
    expect(within(rows[1]!).getByRole("rowheader")).toHaveTextContent("gpt-4o-mini");
    expect(within(rows[1]!).getByText("212 ms")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: /Usage/ })).toHaveClass("active");

    await userEvent.click(screen.getByRole("button", { name: "Last month" }));
    await waitFor(() =>
      expect(server.calls("GET", "/developer/usage").at(-1)?.query).toEqual({
        from: "2026-10-01",
        to: "2026-10-31",
        group_by: "model",
      }),
    );
    expect(screen.getByRole("button", { name: "Last month" })).toHaveAttribute("aria-pressed", "true");
    expect(screen.getByTestId("location")).toHaveTextContent("/usage?from=2026-10-01&to=2026-10-31&group_by=model");

    await userEvent.selectOptions(screen.getByLabelText("Group by"), "key");
    expect(await screen.findByRole("heading", { name: "By API key" })).toBeInTheDocument();
    expect(await screen.findByText("Production")).toBeInTheDocument();
    expect(screen.getByText("key_gone")).toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "Last 7 days" }));
    await userEvent.selectOptions(screen.getByLabelText("Group by"), "day");
    expect(await screen.findByRole("heading", { name: "By day" })).toBeInTheDocument();
    expect(await screen.findByText("Nov 19, 2026")).toBeInTheDocument();
    expect(server.calls("GET", "/developer/usage").at(-1)?.query).toEqual({
      from: "2026-11-14",
      to: "2026-11-20",
      group_by: "day",
    });
  });

  it("checks the dates before asking, and shows the server's refusal", async () => {
    const server = sessionServer(1).on("GET", "/developer/usage", (req) =>
      req.query.from === "2026-01-01" ? apiError(400, "invalid_request", "from: not a date") : json(200, report(req)),
    );
    renderApp("/usage", server);
    await screen.findByTestId("usage-tokens");
    const asked = server.calls("GET", "/developer/usage").length;
    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-11-25" } });
    expect(await screen.findByText("The end date is before the start date.")).toBeInTheDocument();
    expect(server.calls("GET", "/developer/usage")).toHaveLength(asked);
    expect(screen.getByRole("button", { name: "Export CSV" })).not.toBeDisabled();

    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-01-01" } });
    expect(await screen.findByRole("alert")).toHaveTextContent("Please check the form: from: not a date");
  });

  it("exports the period's requests as CSV with the session's token", async () => {
    const created: Blob[] = [];
    const clicked: { href: string; download: string }[] = [];
    URL.createObjectURL = vi.fn((blob: Blob) => {
      created.push(blob);
      return "blob:usage-csv";
    });
    URL.revokeObjectURL = vi.fn();
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push({ href: this.href, download: this.download });
    });
    const csv =
      "request_id,time,key_id,model,endpoint,status,prompt_tokens,completion_tokens,cached_tokens,cost,latency_ms,error\n" +
      "req_1,2026-11-20T10:00:00Z,key_1,gpt-4o-mini,chat,200,10,5,0,0.000100,210,\n";
    const server = sessionServer(1)
      .on("GET", "/developer/usage", (req) => json(200, report(req)))
      .on("GET", "/developer/usage/export", () => new Response(csv, { headers: { "content-type": "text/csv" } }));
    renderApp("/usage?from=2026-11-14&to=2026-11-20&group_by=day", server);
    await screen.findByTestId("usage-tokens");
    expect(screen.getByRole("button", { name: "Last 7 days" })).toHaveAttribute("aria-pressed", "true");
    await userEvent.click(screen.getByRole("button", { name: "Export CSV" }));
    await waitFor(() => expect(clicked).toHaveLength(1));
    expect(clicked[0]).toEqual({ href: "blob:usage-csv", download: "aihub-usage-2026-11-14-to-2026-11-20.csv" });
    expect(await created[0]!.text()).toBe(csv);
    const call = server.calls("GET", "/developer/usage/export")[0]!;
    expect(call.query).toEqual({ from: "2026-11-14", to: "2026-11-20" });
    expect(call.authorization).toMatch(/^Bearer access-/);
    expect(call.headers.accept).toBe("text/csv");
  });

  it("says when an export fails, and reads in Chinese", async () => {
    await i18n.changeLanguage("zh-CN");
    const server = sessionServer(1)
      .on("GET", "/developer/usage", (req) => json(200, { ...report(req), breakdown: [] }))
      .on("GET", "/developer/usage/export", () => apiError(400, "invalid_request", "period too long"));
    renderApp("/usage", server);
    expect(await screen.findByText("此时间段内没有请求。")).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: "用量", level: 1 })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "本月" })).toHaveAttribute("aria-pressed", "true");
    await userEvent.click(screen.getByRole("button", { name: "导出 CSV" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("请检查表单：period too long");
  });
});
