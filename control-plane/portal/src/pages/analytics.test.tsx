import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../i18n";
import { REFRESH_TOKEN_KEY } from "../api/tokens";
import type {
  AnalyticsCosts,
  AnalyticsOverview,
  AnalyticsPerformance,
  AnalyticsTrends,
  OverviewFigures,
} from "../api/analytics";
import { apiError, json, sessionServer } from "../test/fakeServer";
import type { Recorded } from "../test/fakeServer";
import { renderApp } from "../test/renderApp";
import { addDays, browserTimeZone, checkRange, dayIn, periodDays, presetRange } from "./analytics/period";

/** 2026-11-20, 12:00 UTC. */
const NOW = Date.UTC(2026, 10, 20, 12);
const TZ = browserTimeZone();
const TODAY = dayIn(NOW, TZ);

const period = (req: Recorded) => ({
  from: req.query.from ?? addDays(TODAY, -6),
  to: req.query.to ?? TODAY,
  tz: req.query.tz ?? "UTC",
  start_ms: 0,
  end_ms: 0,
});

const figures = (over: Partial<OverviewFigures> = {}): OverviewFigures => ({
  requests: 1520,
  errors: 12,
  error_rate: 0.0079,
  prompt_tokens: 401200,
  completion_tokens: 98000,
  cached_tokens: 0,
  tokens: 499200,
  cost: "1.245000",
  avg_latency_ms: 812.4,
  p95_latency_ms: 1930,
  avg_ttft_ms: 240.1,
  ...over,
});

function overview(req: Recorded, over: Partial<AnalyticsOverview> = {}): AnalyticsOverview {
  return {
    period: period(req),
    previous_period: { from: "2026-11-07", to: "2026-11-13" },
    current: figures(),
    previous: figures({ requests: 1216 }),
    change: { requests: 0.25, tokens: -0.1, cost: 0.02, error_rate: -0.0012, avg_latency_ms: null, p95_latency_ms: 0.01 },
    ...over,
  };
}

function trends(req: Recorded, requests = 120): AnalyticsTrends {
  const groupBy = (req.query.group_by ?? "none") as AnalyticsTrends["group_by"];
  const buckets = [
    { t: 1, label: "2026-11-19" },
    { t: 2, label: "2026-11-20" },
  ];
  const point = (t: number, n: number) => ({ t, requests: n, errors: 1, tokens: 40100, cost: "0.012000", avg_latency_ms: 640 });
  const groups = groupBy === "none" ? [["all", "all"]] : [["gpt-4o-mini", "gpt-4o-mini"], ["gpt-4o", "gpt-4o"]];
  return {
    period: period(req),
    interval: (req.query.interval ?? "day") as AnalyticsTrends["interval"],
    group_by: groupBy,
    buckets,
    series: groups.map(([group, name]) => ({
      group: group!,
      name: name!,
      points: buckets.map((b) => point(b.t, requests)),
    })),
  };
}

function costs(req: Recorded): AnalyticsCosts {
  return {
    period: period(req),
    total_cost: "3.400000",
    by_model: [
      {
        model: "gpt-4o",
        requests: 10,
        prompt_tokens: 9000,
        completion_tokens: 1000,
        tokens: 10000,
        cost: "3.000000",
        cost_per_1k_tokens: "0.300000",
        share: 0.882,
      },
    ],
    by_key: [{ key_id: "key_1", name: "prod", requests: 12, tokens: 11000, cost: "3.400000", share: 1 }],
    projection: {
      month: "2026-11",
      month_to_date_cost: "3.400000",
      projected_month_end_cost: "4.080000",
      days_elapsed: 25,
      days_in_month: 30,
    },
    suggestions: [
      {
        kind: "cheaper_model",
        model: "gpt-4o",
        alternative: "gpt-4o-mini",
        estimated_savings: "2.820000",
        message: "gpt-4o-mini costs 94% less than gpt-4o for the same tokens.",
      },
    ],
  };
}

function performance(req: Recorded): AnalyticsPerformance {
  return {
    period: period(req),
    latency_ms: { avg: 812.4, p50: 700, p95: 1930, p99: 2400 },
    ttft_ms: { avg: 240.1, p50: 200, p95: 410, p99: 600 },
    requests: 1520,
    errors: 12,
    error_rate: 0.0079,
    fallbacks: 3,
    fallback_rate: 0.002,
    status: [
      { class: "2xx", count: 1508 },
      { class: "4xx", count: 4 },
      { class: "429", count: 6 },
      { class: "5xx", count: 2 },
    ],
    by_model: [
      {
        model: "gpt-4o-mini",
        requests: 1500,
        errors: 10,
        error_rate: 0.0067,
        p50_ms: 690,
        p95_ms: 1900,
        p99_ms: 2380,
        ttft_p95_ms: 400,
        fallbacks: 3,
      },
    ],
    percentile_error: 0.025,
  };
}

const EMPTY_FIGURES = figures({
  requests: 0,
  errors: 0,
  error_rate: 0,
  prompt_tokens: 0,
  completion_tokens: 0,
  tokens: 0,
  cost: "0.000000",
  avg_latency_ms: null,
  p95_latency_ms: null,
  avg_ttft_ms: null,
});

/** A signed-in developer with the four analytics routes answering. */
function analyticsServer({ empty = false } = {}) {
  return sessionServer(1)
    .on("GET", "/developer/analytics/overview", (req) =>
      json(
        200,
        empty
          ? overview(req, {
              current: EMPTY_FIGURES,
              previous: EMPTY_FIGURES,
              change: { requests: null, tokens: null, cost: null, error_rate: null, avg_latency_ms: null, p95_latency_ms: null },
            })
          : overview(req),
      ),
    )
    .on("GET", "/developer/analytics/trends", (req) => json(200, trends(req, empty ? 0 : 120)))
    .on("GET", "/developer/analytics/costs", (req) =>
      json(200, empty ? { ...costs(req), total_cost: "0.000000", by_model: [], by_key: [], suggestions: [] } : costs(req)),
    )
    .on("GET", "/developer/analytics/performance", (req) =>
      json(
        200,
        empty
          ? {
              ...performance(req),
              requests: 0,
              errors: 0,
              latency_ms: { avg: null, p50: null, p95: null, p99: null },
              by_model: [],
              status: [],
            }
          : performance(req),
      ),
    );
}

const lastQuery = (server: ReturnType<typeof analyticsServer>, route: string) =>
  server.calls("GET", `/developer/analytics/${route}`).at(-1)?.query;

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

describe("analytics periods", () => {
  it("computes the presets in the time zone", () => {
    expect(presetRange("today", "UTC", NOW)).toEqual({ from: "2026-11-20", to: "2026-11-20" });
    expect(presetRange("7d", "UTC", NOW)).toEqual({ from: "2026-11-14", to: "2026-11-20" });
    expect(presetRange("30d", "UTC", NOW)).toEqual({ from: "2026-10-22", to: "2026-11-20" });
    expect(presetRange("mtd", "UTC", NOW)).toEqual({ from: "2026-11-01", to: "2026-11-20" });
    // 20:00 UTC is already the next day in Shanghai, still the same day in New York.
    const evening = Date.UTC(2026, 10, 30, 20);
    expect(presetRange("today", "Asia/Shanghai", evening)).toEqual({ from: "2026-12-01", to: "2026-12-01" });
    expect(presetRange("mtd", "Asia/Shanghai", evening)).toEqual({ from: "2026-12-01", to: "2026-12-01" });
    expect(presetRange("today", "America/New_York", evening)).toEqual({ from: "2026-11-30", to: "2026-11-30" });
  });

  it("refuses what the server refuses", () => {
    expect(checkRange({ from: "2026-11-01", to: "2026-11-30" })).toBeNull();
    expect(checkRange({ from: "2026-02-30", to: "2026-03-01" })).toBe("fromInvalid");
    expect(checkRange({ from: "2026-11-02", to: "2026-11-01" })).toBe("toBeforeFrom");
    expect(periodDays({ from: "2025-01-01", to: "2026-01-01" })).toBe(366);
    expect(checkRange({ from: "2025-01-01", to: "2026-01-01" })).toBeNull();
    expect(checkRange({ from: "2025-01-01", to: "2026-01-02" })).toBe("tooLong");
  });
});

describe("Analytics page", () => {
  it("shows the last 7 days in the browser's time zone, with changes against the previous period", async () => {
    const server = analyticsServer();
    renderApp("/analytics", server);
    expect(await screen.findByRole("heading", { name: "Analytics", level: 1 })).toBeInTheDocument();
    expect(await screen.findByTestId("overview-requests")).toHaveTextContent("1,520");
    expect(screen.getByTestId("overview-tokens")).toHaveTextContent("499,200");
    expect(screen.getByTestId("overview-cost")).toHaveTextContent("$1.245000");
    expect(screen.getByTestId("overview-error-rate")).toHaveTextContent("0.79%");
    expect(screen.getByTestId("overview-latency")).toHaveTextContent("812 ms");
    expect(screen.getByRole("button", { name: "Last 7 days" })).toHaveAttribute("aria-pressed", "true");
    expect(lastQuery(server, "overview")).toEqual({ from: addDays(TODAY, -6), to: TODAY, tz: TZ });
    expect(lastQuery(server, "trends")).toEqual({ from: addDays(TODAY, -6), to: TODAY, tz: TZ, interval: "day", group_by: "none" });
    expect(lastQuery(server, "costs")).toEqual({ from: addDays(TODAY, -6), to: TODAY, tz: TZ });
    expect(lastQuery(server, "performance")).toEqual({ from: addDays(TODAY, -6), to: TODAY, tz: TZ });
    expect(screen.getByTestId("period-note")).toHaveTextContent(`(${TZ})`);

    // Change arrows: requests up (good), tokens down, cost up (bad for the bill), error rate down in points, latency "—".
    const change = (id: string) => within(screen.getByTestId(id).closest("dd") as HTMLElement).getByTestId("change");
    expect(change("overview-requests")).toHaveAttribute("data-direction", "up");
    expect(change("overview-requests")).toHaveAttribute("data-tone", "good");
    expect(change("overview-requests")).toHaveTextContent("↑ +25%");
    expect(change("overview-tokens")).toHaveAttribute("data-direction", "down");
    expect(change("overview-tokens")).toHaveTextContent("↓ -10%");
    expect(change("overview-cost")).toHaveAttribute("data-tone", "bad");
    expect(change("overview-error-rate")).toHaveTextContent("↓ -0.12 pp");
    expect(change("overview-error-rate")).toHaveAttribute("data-tone", "good");
    expect(change("overview-latency")).toHaveTextContent("—");
    expect(change("overview-latency")).toHaveAttribute("aria-label", "No previous figure to compare with");

    // Costs: tables, the projection and a suggestion in the reader's words.
    expect(await screen.findByTestId("costs-projected")).toHaveTextContent("$4.080000");
    expect(screen.getByTestId("costs-month-to-date")).toHaveTextContent("$3.400000");
    const byModel = within(screen.getByTestId("costs-by-model"));
    expect(byModel.getByRole("rowheader")).toHaveTextContent("gpt-4o");
    expect(byModel.getByText("$0.300000")).toBeInTheDocument();
    expect(byModel.getByText("88.2%")).toBeInTheDocument();
    expect(within(screen.getByTestId("costs-by-key")).getByText("prod")).toBeInTheDocument();
    expect(screen.getByTestId("suggestion")).toHaveTextContent(
      "gpt-4o-mini is much cheaper than gpt-4o for the same tokens.Could save $2.820000",
    );

    // Performance: percentiles, statuses, the per-model table and the estimate's bound.
    expect(await screen.findByTestId("perf-latency-p50")).toHaveTextContent("700 ms");
    expect(screen.getByText("p95 1,930 ms · p99 2,400 ms")).toBeInTheDocument();
    expect(screen.getByText("Rate limited (429)")).toBeInTheDocument();
    const perfRow = within(screen.getByTestId("perf-by-model")).getAllByRole("row")[1]!;
    expect(within(perfRow).getByText("0.67%")).toBeInTheDocument();
    expect(within(perfRow).getByText("1,900 ms")).toBeInTheDocument();
    expect(screen.getByTestId("percentile-note")).toHaveTextContent("accurate to within ±2.5%");

    // The trend's figures as a table.
    expect(within(await screen.findByTestId("trends-table")).getAllByRole("row")).toHaveLength(3);
    expect(screen.getByRole("link", { name: /Analytics/ })).toHaveClass("active");
  });

  it("asks again when the period, interval, grouping change", async () => {
    const server = analyticsServer();
    renderApp("/analytics", server);
    await screen.findByTestId("overview-requests");

    await userEvent.click(screen.getByRole("button", { name: "Last 30 days" }));
    await waitFor(() => expect(lastQuery(server, "overview")).toEqual({ from: addDays(TODAY, -29), to: TODAY, tz: TZ }));
    expect(screen.getByTestId("location")).toHaveTextContent("/analytics?range=30d");

    await userEvent.click(screen.getByRole("button", { name: "Today" }));
    await waitFor(() => expect(lastQuery(server, "costs")).toEqual({ from: TODAY, to: TODAY, tz: TZ }));
    // One day reads by the hour unless asked otherwise.
    await waitFor(() => expect(lastQuery(server, "trends")?.interval).toBe("hour"));

    await userEvent.click(screen.getByRole("button", { name: "Month to date" }));
    await waitFor(() => expect(lastQuery(server, "performance")).toEqual({ from: `${TODAY.slice(0, 8)}01`, to: TODAY, tz: TZ }));

    await userEvent.click(screen.getByRole("button", { name: "Custom" }));
    expect(screen.getByLabelText("From")).toHaveValue(`${TODAY.slice(0, 8)}01`);
    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-10-05" } });
    await waitFor(() => expect(lastQuery(server, "overview")).toEqual({ from: "2026-10-05", to: TODAY, tz: TZ }));
    // A wrong period says why and asks nothing.
    const calls = server.calls("GET", "/developer/analytics/overview").length;
    fireEvent.change(screen.getByLabelText("To"), { target: { value: "2026-10-01" } });
    expect(await screen.findByText("The end date is before the start date.")).toBeInTheDocument();
    expect(server.calls("GET", "/developer/analytics/overview")).toHaveLength(calls);

    await userEvent.click(screen.getByRole("button", { name: "Last 7 days" }));
    await screen.findByTestId("overview-requests");
    await userEvent.selectOptions(screen.getByLabelText("Interval"), "hour");
    await waitFor(() => expect(lastQuery(server, "trends")?.interval).toBe("hour"));
    await userEvent.selectOptions(screen.getByLabelText("Group by"), "model");
    await waitFor(() => expect(lastQuery(server, "trends")?.group_by).toBe("model"));
    const table = await screen.findByTestId("trends-table");
    await waitFor(() => expect(within(table).getByRole("columnheader", { name: "gpt-4o-mini" })).toBeInTheDocument());
    await userEvent.selectOptions(screen.getByLabelText("Show"), "cost");
    await waitFor(() => expect(within(screen.getByTestId("trends-table")).getAllByText("$0.012000")).toHaveLength(4));
    expect(screen.getByTestId("location")).toHaveTextContent("metric=cost");
  });

  it("says when there is nothing to show", async () => {
    renderApp("/analytics", analyticsServer({ empty: true }));
    expect(await screen.findByTestId("overview-requests")).toHaveTextContent("0");
    expect(screen.getByTestId("overview-error-rate")).toHaveTextContent("—");
    await waitFor(() => expect(screen.getAllByText("No requests in this period.")).toHaveLength(3));
    expect(screen.getByText("Nothing to suggest for this period.")).toBeInTheDocument();
    for (const change of screen.getAllByTestId("change")) expect(change).toHaveTextContent("—");
  });

  it("says when the server has no analytics", async () => {
    const server = sessionServer(1).on("GET", "/developer/analytics/overview", () => apiError(404, "not_found"));
    renderApp("/analytics", server);
    const alerts = await screen.findAllByRole("alert");
    expect(alerts[0]).toHaveTextContent("Analytics are not available on this server yet.");
  });

  it("reads in Chinese", async () => {
    await i18n.changeLanguage("zh-CN");
    renderApp("/analytics", analyticsServer());
    expect(await screen.findByRole("heading", { name: "数据分析", level: 1 })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "最近 7 天" })).toHaveAttribute("aria-pressed", "true");
    expect(await screen.findByTestId("overview-latency")).toHaveTextContent("812 毫秒");
    expect(screen.getByRole("heading", { name: "趋势" })).toBeInTheDocument();
    expect(await screen.findByText("同样的 Token 用量，gpt-4o-mini 比 gpt-4o 便宜得多。")).toBeInTheDocument();
    expect(screen.getByText("被限流（429）")).toBeInTheDocument();
    const rate = within(screen.getByTestId("overview-error-rate").closest("dd") as HTMLElement).getByTestId("change");
    expect(rate).toHaveTextContent("↓ -0.12 个百分点 较上一周期");
  });
});

describe("dashboard summary", () => {
  it("shows the last 7 days with changes and links to Analytics", async () => {
    const server = analyticsServer().on("GET", "/developer/billing", () => apiError(404, "not_found"));
    renderApp("/", server);
    const card = within(await screen.findByRole("region", { name: "Last 7 days" }));
    expect(await card.findByTestId("summary-requests")).toHaveTextContent("1,520");
    expect(card.getByTestId("summary-tokens")).toHaveTextContent("499,200");
    expect(card.getByTestId("summary-cost")).toHaveTextContent("$1.245000");
    expect(card.getByTestId("summary-error-rate")).toHaveTextContent("0.79%");
    expect(card.getAllByTestId("change").map((c) => c.getAttribute("data-direction"))).toEqual(["up", "down", "up", "down"]);
    expect(server.calls("GET", "/developer/analytics/overview")[0]?.query).toEqual({
      from: addDays(TODAY, -6),
      to: TODAY,
      tz: TZ,
    });
    await userEvent.click(card.getByRole("link", { name: "View analytics" }));
    expect(await screen.findByRole("heading", { name: "Analytics", level: 1 })).toBeInTheDocument();
  });

  it("leaves the rest of the dashboard working when analytics cannot be loaded", async () => {
    const server = sessionServer(1).on("GET", "/developer/analytics/overview", () => apiError(500, "internal_error"));
    renderApp("/", server);
    const card = within(await screen.findByRole("region", { name: "Last 7 days" }));
    expect(await card.findByText("Something went wrong. Please try again.")).toBeInTheDocument();
    expect(screen.getByRole("region", { name: "Account" })).toBeInTheDocument();
    // A developer sees Analytics in the navigation, and no operator entry.
    const nav = within(screen.getByRole("navigation", { name: "Main navigation" }));
    expect(nav.getByRole("link", { name: /Analytics/ })).toHaveAttribute("href", "/analytics");
    expect(nav.queryByRole("link", { name: /Insights/ })).toBeNull();
  });
});
