import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../i18n";
import { REFRESH_TOKEN_KEY } from "../api/tokens";
import type { AdminFigures } from "../api/analytics";
import type { Profile } from "../api/types";
import { json, profile, session, sessionServer } from "../test/fakeServer";
import type { Recorded } from "../test/fakeServer";
import { renderApp } from "../test/renderApp";
import { addDays, browserTimeZone, dayIn } from "./analytics/period";

/** 2026-11-20, 12:00 UTC. */
const NOW = Date.UTC(2026, 10, 20, 12);
const TZ = browserTimeZone();
const TODAY = dayIn(NOW, TZ);

const operator: Profile = { ...profile, id: "dev_op", email: "ops@example.com", full_name: "Olive Operator", role: "admin" };

const period = (req: Recorded) => ({
  from: req.query.from ?? addDays(TODAY, -6),
  to: req.query.to ?? TODAY,
  tz: req.query.tz ?? "UTC",
  start_ms: 0,
  end_ms: 0,
});

const figures = (over: Partial<AdminFigures> = {}): AdminFigures => ({
  revenue: "1250.00",
  usage_value: "980.500000",
  requests: 120000,
  tokens: 45000000,
  active_developers: 42,
  new_developers: 7,
  margin: "310.250000",
  upstream_cost: "670.250000",
  ...over,
});

/** A signed-in account (the operator unless told otherwise) and the operator's analytics routes. */
function insightsServer(who: Profile = operator) {
  return sessionServer(1)
    .on("POST", "/developer/refresh", () => json(200, session(2, who)))
    .on("GET", "/developer/profile", () => json(200, who))
    .on("GET", "/admin/analytics/overview", (req) =>
      json(200, {
        period: period(req),
        previous_period: { from: "2026-11-07", to: "2026-11-13" },
        current: figures(),
        previous: figures({ revenue: "1000.00" }),
        change: {
          revenue: 0.25,
          usage_value: 0.1,
          requests: 0.05,
          tokens: -0.02,
          active_developers: 0.1,
          new_developers: null,
          margin: -0.04,
        },
      }),
    )
    .on("GET", "/admin/analytics/revenue", (req) => {
      const by = req.query.group_by ?? "day";
      const groups = by === "plan" ? ["developer", "team"] : by === "model" ? ["gpt-4o", "gpt-4o-mini"] : ["2026-11-19", "2026-11-20"];
      return json(200, {
        period: period(req),
        group_by: by,
        rows: groups.map((group, i) => ({
          group,
          usage_revenue: `${10 + i}.500000`,
          subscription_revenue: i === 0 ? "29.00" : "0.00",
          revenue: i === 0 ? "39.500000" : "11.500000",
        })),
      });
    })
    .on("GET", "/admin/analytics/margin", (req) =>
      json(200, {
        period: period(req),
        rows: [
          {
            model: "gpt-4o",
            requests: 900,
            prompt_tokens: 90000,
            completion_tokens: 10000,
            usage_value: "3.000000",
            upstream_cost: "2.100000",
            margin: "0.900000",
            margin_rate: 0.3,
          },
        ],
      }),
    )
    .on("GET", "/admin/analytics/developers", (req) =>
      json(200, {
        period: period(req),
        active: 42,
        new: 7,
        days: [{ day: "2026-11-20", active: 40, new: 2 }],
        top: [
          {
            developer_id: "dev_9",
            email: "grace@example.com",
            name: "Grace Hopper",
            plan: "developer",
            requests: 5000,
            tokens: 900000,
            cost: "12.340000",
          },
        ],
      }),
    )
    .on("GET", "/admin/analytics/models", (req) =>
      json(200, {
        period: period(req),
        rows: [{ model: "gpt-4o-mini", requests: 100000, tokens: 40000000, cost: "600.000000", share: 0.833 }],
      }),
    )
    .on("GET", "/admin/analytics/providers", (req) =>
      json(200, {
        period: period(req),
        rows: [
          {
            provider_id: "prov_1",
            provider: "openai-main",
            requests: 120000,
            errors: 240,
            error_rate: 0.002,
            fallbacks: 12,
            p50_ms: 650,
            p95_ms: 1800,
            p99_ms: 2600,
          },
        ],
      }),
    )
    .on("GET", "/admin/analytics/report", (req) =>
      req.query.format === "csv"
        ? new Response("section,metric,value\noverview,revenue,1250.00\n", { headers: { "content-type": "text/csv" } })
        : new Response(
            `<!doctype html><html><head><style>h1{color:red}</style></head><body><h1 style="margin:0">Report ${req.query.month}</h1><script>alert(1)</script></body></html>`,
            { headers: { "content-type": "text/html" } },
          ),
    );
}

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

describe("Insights page", () => {
  it("shows an operator the business: overview, revenue, margin, developers, models and providers", async () => {
    const server = insightsServer();
    renderApp("/admin/insights", server);
    expect(await screen.findByRole("heading", { name: "Insights", level: 1 })).toBeInTheDocument();
    expect(await screen.findByTestId("insights-revenue")).toHaveTextContent("$1,250.00");
    expect(screen.getByTestId("insights-usage-value")).toHaveTextContent("$980.500000");
    expect(screen.getByTestId("insights-margin")).toHaveTextContent("$310.250000");
    expect(screen.getByText("Upstream cost $670.250000")).toBeInTheDocument();
    expect(screen.getByTestId("insights-active")).toHaveTextContent("42");
    expect(screen.getByTestId("insights-new")).toHaveTextContent("7");
    const change = (id: string) => within(screen.getByTestId(id).closest("dd") as HTMLElement).getByTestId("change");
    expect(change("insights-revenue")).toHaveTextContent("↑ +25%");
    expect(change("insights-revenue")).toHaveAttribute("data-tone", "good");
    expect(change("insights-margin")).toHaveAttribute("data-tone", "bad");
    expect(change("insights-new")).toHaveTextContent("—");
    for (const route of ["overview", "margin", "models", "providers"]) {
      expect(server.calls("GET", `/admin/analytics/${route}`)[0]?.query).toEqual({ from: addDays(TODAY, -6), to: TODAY, tz: TZ });
    }
    expect(server.calls("GET", "/admin/analytics/developers")[0]?.query).toEqual({
      from: addDays(TODAY, -6),
      to: TODAY,
      tz: TZ,
      limit: "10",
    });

    const revenue = within(await screen.findByTestId("revenue-table"));
    expect(revenue.getAllByRole("row")).toHaveLength(3);
    expect(revenue.getByText("$39.500000")).toBeInTheDocument();
    expect(within(await screen.findByTestId("margin-table")).getByText("30%")).toBeInTheDocument();
    const top = within(await screen.findByTestId("top-developers"));
    expect(top.getByText("Grace Hopper")).toBeInTheDocument();
    expect(top.getByText("$12.340000")).toBeInTheDocument();
    expect(screen.getByTestId("developers-counts")).toHaveTextContent("42 active · 7 new in this period");
    expect(within(await screen.findByTestId("model-mix")).getByText("gpt-4o-mini")).toBeInTheDocument();
    const provider = within(await screen.findByTestId("providers-table"));
    expect(provider.getByText("openai-main")).toBeInTheDocument();
    expect(provider.getByText("0.2%")).toBeInTheDocument();
    expect(provider.getByText("1,800 ms")).toBeInTheDocument();

    // Revenue by plan, and another period.
    await userEvent.selectOptions(screen.getByLabelText("Revenue by"), "plan");
    await waitFor(() => expect(server.calls("GET", "/admin/analytics/revenue").at(-1)?.query.group_by).toBe("plan"));
    expect(await within(screen.getByTestId("revenue-table")).findByText("team")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Last 30 days" }));
    await waitFor(() =>
      expect(server.calls("GET", "/admin/analytics/providers").at(-1)?.query).toEqual({ from: addDays(TODAY, -29), to: TODAY, tz: TZ }),
    );

    // The operator's navigation has Insights.
    const nav = within(screen.getByRole("navigation", { name: "Main navigation" }));
    expect(nav.getByRole("link", { name: /Insights/ })).toHaveClass("active");
  });

  it("downloads the month's report as CSV and shows the printable one, both with the session's token", async () => {
    const created: Blob[] = [];
    const clicked: { href: string; download: string }[] = [];
    URL.createObjectURL = vi.fn((blob: Blob) => {
      created.push(blob);
      return "blob:report";
    });
    URL.revokeObjectURL = vi.fn();
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push({ href: this.href, download: this.download });
    });
    const server = insightsServer();
    renderApp("/admin/insights", server);
    const month = await screen.findByLabelText("Month");
    expect(month).toHaveValue(TODAY.slice(0, 7));
    await userEvent.clear(month);
    await userEvent.type(month, "2026-10");

    await userEvent.click(screen.getByRole("button", { name: "Download CSV" }));
    await waitFor(() => expect(clicked).toHaveLength(1));
    expect(clicked[0]).toEqual({ href: "blob:report", download: "aihub-report-2026-10.csv" });
    expect(await created[0]!.text()).toContain("overview,revenue,1250.00");
    const csv = server.calls("GET", "/admin/analytics/report")[0]!;
    expect(csv.query).toEqual({ month: "2026-10", format: "csv" });
    expect(csv.authorization).toMatch(/^Bearer access-/);

    await userEvent.click(screen.getByRole("button", { name: "Printable report" }));
    const dialog = within(await screen.findByRole("dialog", { name: "Business report 2026-10" }));
    const frame = dialog.getByTitle("Report preview") as HTMLIFrameElement;
    expect(frame.getAttribute("sandbox")).toBe("allow-same-origin allow-modals");
    expect(frame.getAttribute("srcdoc")).toContain("Report 2026-10");
    expect(frame.getAttribute("srcdoc")).not.toContain("<script");
    expect(server.calls("GET", "/admin/analytics/report")[1]?.query).toEqual({ month: "2026-10", format: "html" });
    expect(server.calls("GET", "/admin/analytics/report")[1]?.headers.accept).toBe("text/html");
  });

  it("is not offered to developers, and says so at its address", async () => {
    const server = insightsServer(profile);
    renderApp("/admin/insights", server);
    expect(await screen.findByText("For operators only")).toBeInTheDocument();
    const nav = within(screen.getByRole("navigation", { name: "Main navigation" }));
    expect(nav.queryByRole("link", { name: /Insights/ })).toBeNull();
    expect(nav.getByRole("link", { name: /Analytics/ })).toBeInTheDocument();
    expect(server.requests.filter((r) => r.path.startsWith("/admin/"))).toEqual([]);
  });

  it("reads in Chinese", async () => {
    await i18n.changeLanguage("zh-CN");
    renderApp("/admin/insights", insightsServer());
    expect(await screen.findByRole("heading", { name: "运营洞察", level: 1 })).toBeInTheDocument();
    expect(await screen.findByText("收入分组")).toBeInTheDocument();
    expect(await screen.findByText("此时间段内 42 位活跃 · 7 位新增")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "下载 CSV" })).toBeInTheDocument();
    const nav = within(screen.getByRole("navigation", { name: "主导航" }));
    expect(nav.getByRole("link", { name: /运营洞察/ })).toBeInTheDocument();
  });
});
