import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import i18n from "../i18n";
import { REFRESH_TOKEN_KEY } from "../api/tokens";
import { compareMoney, moneyToNanos } from "../api/billing";
import type { Billing, Invoice, Plan, Transaction } from "../api/billing";
import { apiError, json, sessionServer } from "../test/fakeServer";
import { renderApp } from "../test/renderApp";
import { checkTopUpAmount, normalizeAmount } from "./billing/credit";
import { splitStyles } from "./billing/invoiceDocument";
import { formatMoney, navigation } from "./billing/shared";

const NOV_START = Date.UTC(2026, 10, 1);
const DEC_START = Date.UTC(2026, 11, 1);

const billing = (over: Partial<Billing> = {}): Billing => ({
  plan: { id: "free", name: "Free", price: "0.00", included_tokens: 1000, overage: "prepaid" },
  pending_plan: null,
  period: { month: "2026-11", start: NOV_START, end: DEC_START },
  allowance: { included_tokens: 1000, used_tokens: 812, remaining_tokens: 188 },
  balance: { total: "12.50", paid: "10.00", promotional: "2.50" },
  month_usage: { requests: 41, tokens: 812, cost: "0.004120", charged: "0.00" },
  upcoming_invoice: { subscription: "0.00", overage: "0.00", credits_applied: "0.00", total: "0.00" },
  payments: { enabled: true, min_top_up: "5.00", max_top_up: "10000.00" },
  custom_prices: [],
  ...over,
});

const plans: Plan[] = [
  {
    id: "free",
    name: "Free",
    price: "0.00",
    included_tokens: 1000,
    requests_per_minute: 100,
    token_quota_monthly: null,
    overage: "prepaid",
    current: true,
  },
  {
    id: "developer",
    name: "Developer",
    price: "29.00",
    included_tokens: 100000,
    requests_per_minute: 600,
    token_quota_monthly: null,
    overage: "invoice",
    current: false,
  },
  {
    id: "pro",
    name: "Pro",
    price: "99.00",
    included_tokens: 1000000,
    requests_per_minute: null,
    token_quota_monthly: 50000000,
    overage: "invoice",
    current: false,
  },
  {
    id: "payg",
    name: "Pay as you go",
    price: "0.00",
    included_tokens: 0,
    requests_per_minute: 100,
    token_quota_monthly: null,
    overage: "prepaid",
    current: false,
  },
];

const PRO = { id: "pro", name: "Pro", price: "99.00", included_tokens: 1000000, overage: "invoice" as const };

const invoice: Invoice = {
  id: "inv_1",
  number: "AIH-2026-000012",
  month: "2026-10",
  status: "open",
  subtotal: "29.40",
  credits_applied: "-0.40",
  total: "29.00",
  amount_due: "29.00",
  created_at: Date.UTC(2026, 10, 1, 0, 5),
  finalized_at: Date.UTC(2026, 10, 1, 0, 6),
  paid_at: null,
  lines: [
    {
      kind: "subscription",
      description: "Developer plan, 2026-10-01 to 2026-11-01",
      model: null,
      tokens: null,
      amount: "29.00",
    },
    { kind: "overage", description: "Usage beyond the plan", model: "gpt-4o", tokens: 12000, amount: "0.40" },
    { kind: "credits_applied", description: "Promotional credit", model: null, tokens: null, amount: "-0.40" },
  ],
};

beforeEach(async () => {
  await i18n.changeLanguage("en");
  localStorage.setItem(REFRESH_TOKEN_KEY, "refresh-1");
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe("money and amounts", () => {
  it("shows money as the API gave it, with the dollar sign", () => {
    expect(formatMoney("12.50", "en")).toBe("$12.50");
    expect(formatMoney("0.004120", "en")).toBe("$0.004120");
    expect(formatMoney("-1.25", "en")).toBe("-$1.25");
    expect(formatMoney("10000.00", "en")).toBe("$10,000.00");
    expect(formatMoney("1234567.000000001", "zh-CN")).toBe("$1,234,567.000000001");
    expect(formatMoney("n/a", "en")).toBe("n/a");
  });

  it("compares money exactly", () => {
    expect(moneyToNanos("0.000000001")).toBe(1n);
    expect(moneyToNanos("-1.25")).toBe(-1_250_000_000n);
    expect(moneyToNanos("1.0000000001")).toBeNull();
    expect(compareMoney("29.00", "29")).toBe(0);
    expect(compareMoney("99.00", "29.00")).toBe(1);
    expect(compareMoney("0.10", "0.2")).toBe(-1);
  });

  it("checks a top-up amount against the platform's bounds, two decimals at most", () => {
    const money = (m: string) => formatMoney(m, "en");
    const check = (v: string) => checkTopUpAmount(v, "5.00", "10000.00", money);
    expect(check("")?.key).toBe("validation.required");
    expect(check("abc")?.key).toBe("billing.credit.amountFormat");
    expect(check("20.555")?.key).toBe("billing.credit.amountFormat");
    expect(check("-5")?.key).toBe("billing.credit.amountFormat");
    expect(check("4.99")).toEqual({ key: "billing.credit.amountMin", values: { min: "$5.00" } });
    expect(check("10000.01")).toEqual({ key: "billing.credit.amountMax", values: { max: "$10,000.00" } });
    expect(check("5")).toBeNull();
    expect(check("10000.00")).toBeNull();
    expect(normalizeAmount("20")).toBe("20.00");
    expect(normalizeAmount("7.5")).toBe("7.50");
    expect(normalizeAmount("007.25")).toBe("7.25");
  });
});

describe("Billing overview", () => {
  it("shows the plan, the included tokens used, the balance, this month and the upcoming invoice", async () => {
    const server = sessionServer(1).on("GET", "/developer/billing", () =>
      json(200, billing({ pending_plan: { id: "payg", name: "Pay as you go", starts_at: DEC_START } })),
    );
    renderApp("/billing", server);
    expect(await screen.findByTestId("current-plan")).toHaveTextContent("Free");
    expect(screen.getByText(/\$0\.00 \/ month/)).toBeInTheDocument();
    expect(screen.getByText("Changes to Pay as you go on Dec 1, 2026.")).toBeInTheDocument();

    const bar = screen.getByRole("progressbar", { name: "Included tokens" });
    expect(bar).toHaveAttribute("aria-valuenow", "812");
    expect(bar).toHaveAttribute("aria-valuemax", "1000");
    expect(screen.getAllByText("812 of 1,000 tokens used")[0]).toBeInTheDocument();
    expect(screen.getByText("188 tokens left this month.")).toBeInTheDocument();

    expect(screen.getByTestId("balance-total")).toHaveTextContent("$12.50");
    const balance = screen.getByRole("region", { name: "Balance" });
    expect(within(balance).getByText("$10.00")).toBeInTheDocument();
    expect(within(balance).getByText("$2.50")).toBeInTheDocument();

    const month = screen.getByRole("region", { name: "Usage in November 2026" });
    expect(within(month).getByText("41")).toBeInTheDocument();
    expect(within(month).getByText("812")).toBeInTheDocument();
    expect(within(month).getByText("$0.004120")).toBeInTheDocument();
    expect(screen.getByTestId("upcoming-total")).toHaveTextContent("$0.00");

    expect(screen.getByRole("link", { name: "Change plan" })).toHaveAttribute("href", "/billing/plans");
    expect(screen.getByRole("link", { name: "Top up" })).toHaveAttribute("href", "/billing/credit#top-up");
    expect(screen.getByRole("link", { name: "Redeem a code" })).toHaveAttribute("href", "/billing/credit#redeem");
    expect(screen.getByRole("link", { name: /Billing/ })).toHaveClass("active");
  });

  it("says when there is nothing to show, in Chinese too", async () => {
    await i18n.changeLanguage("zh-CN");
    const server = sessionServer(1).on("GET", "/developer/billing", () => apiError(500, "internal_error"));
    renderApp("/billing", server);
    expect(await screen.findByRole("alert")).toHaveTextContent("出了点问题，请重试。");
    expect(screen.getByRole("heading", { name: "账单", level: 1 })).toBeInTheDocument();
  });
});

describe("Your prices", () => {
  const gpt4o = { model: "gpt-4o", input_per_million: "2.5", output_per_million: "10", cached_per_million: "1.25" };

  it("shows the prices agreed with the operator, per million tokens", async () => {
    const server = sessionServer(1).on("GET", "/developer/billing", () =>
      json(200, billing({ custom_prices: [gpt4o] })),
    );
    renderApp("/billing", server);
    const card = await screen.findByRole("region", { name: "Your prices" });
    expect(within(card).getByText(/replace the standard model prices for your requests/)).toBeInTheDocument();
    const table = within(card).getByRole("table");
    expect(within(table).getAllByRole("columnheader").map((h) => h.textContent)).toEqual([
      "Model",
      "Input / 1M tokens",
      "Output / 1M tokens",
      "Cached input / 1M tokens",
    ]);
    const row = within(table).getByRole("row", { name: /gpt-4o/ });
    expect(within(row).getAllByRole("cell").map((c) => c.textContent)).toEqual(["$2.5", "$10", "$1.25"]);
  });

  it("is absent when the list is empty", async () => {
    const server = sessionServer(1).on("GET", "/developer/billing", () => json(200, billing({ custom_prices: [] })));
    renderApp("/billing", server);
    expect(await screen.findByTestId("current-plan")).toHaveTextContent("Free");
    expect(screen.queryByRole("region", { name: "Your prices" })).not.toBeInTheDocument();
    expect(screen.queryByText("Your prices")).not.toBeInTheDocument();
  });

  it("treats a missing field as empty", async () => {
    const { custom_prices: _omitted, ...older } = billing();
    const server = sessionServer(1).on("GET", "/developer/billing", () => json(200, older));
    renderApp("/billing", server);
    expect(await screen.findByTestId("current-plan")).toHaveTextContent("Free");
    expect(screen.queryByText("Your prices")).not.toBeInTheDocument();
  });

  it("speaks Chinese, with Token", async () => {
    await i18n.changeLanguage("zh-CN");
    const server = sessionServer(1).on("GET", "/developer/billing", () =>
      json(200, billing({ custom_prices: [gpt4o] })),
    );
    renderApp("/billing", server);
    const card = await screen.findByRole("region", { name: "您的专属价格" });
    expect(within(card).getByRole("columnheader", { name: "输入 / 百万 Token" })).toBeInTheDocument();
    expect(card.textContent).not.toContain("令牌");
  });
});

describe("Plans", () => {
  it("upgrades at once after a confirmation that says so", async () => {
    let current = billing();
    const server = sessionServer(1)
      .on("GET", "/developer/billing", () => json(200, current))
      .on("GET", "/developer/plans", () => json(200, { data: plans }))
      .on("POST", "/developer/billing/plan", () => {
        current = billing({ plan: PRO, allowance: { included_tokens: 1000000, used_tokens: 812, remaining_tokens: 999188 } });
        return json(200, current);
      });
    renderApp("/billing/plans", server);
    const list = await screen.findByRole("list", { name: "Plans" });
    const free = within(list).getByRole("listitem", { name: "Free" });
    expect(within(free).getByText("Current")).toBeInTheDocument();
    expect(within(free).getByRole("button", { name: "Your plan" })).toBeDisabled();
    const pro = within(list).getByRole("listitem", { name: "Pro" });
    expect(within(pro).getByText("$99.00")).toBeInTheDocument();
    expect(within(pro).getByText("1,000,000 included tokens a month")).toBeInTheDocument();
    expect(within(pro).getByText("No request rate limit")).toBeInTheDocument();
    expect(within(pro).getByText("At most 50,000,000 tokens a month")).toBeInTheDocument();
    expect(within(pro).getByText(/billed on your monthly invoice/)).toBeInTheDocument();

    // The same price applies at once too (only a cheaper plan waits for the month's end).
    const payg = within(list).getByRole("listitem", { name: "Pay as you go" });
    expect(within(payg).getByText("No included tokens: pay for what you use")).toBeInTheDocument();
    await userEvent.click(within(payg).getByRole("button", { name: "Switch to Pay as you go" }));
    const same = await screen.findByRole("dialog", { name: "Switch to Pay as you go?" });
    expect(within(same).getByTestId("plan-change-when")).toHaveTextContent(/^The change takes effect now, at the same price/);
    await userEvent.click(within(same).getByRole("button", { name: "Cancel" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());

    await userEvent.click(within(pro).getByRole("button", { name: "Upgrade to Pro" }));
    const dialog = await screen.findByRole("dialog", { name: "Upgrade to Pro?" });
    expect(within(dialog).getByTestId("plan-change-when")).toHaveTextContent(
      "The change takes effect now. This month's subscription is prorated by the second between Free and Pro",
    );
    await userEvent.click(within(dialog).getByRole("button", { name: "Upgrade now" }));
    expect(await screen.findByText("You're on Pro now.")).toBeInTheDocument();
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());

    const posts = server.calls("POST", "/developer/billing/plan");
    expect(posts.map((p) => p.body)).toEqual([{ plan_id: "pro" }]);
    expect(posts[0]?.idempotencyKey).toMatch(/\S{8,}/);
    await waitFor(() =>
      expect(within(screen.getByRole("listitem", { name: "Pro" })).getByText("Current")).toBeInTheDocument(),
    );
  });

  it("schedules a downgrade for the month's end, and can cancel it", async () => {
    let current = billing({ plan: PRO });
    const server = sessionServer(1)
      .on("GET", "/developer/billing", () => json(200, current))
      .on("GET", "/developer/plans", () => json(200, { data: plans }))
      .on("POST", "/developer/billing/plan", (req) => {
        const id = (req.body as { plan_id: string }).plan_id;
        current = billing({
          plan: PRO,
          pending_plan: id === "pro" ? null : { id, name: "Developer", starts_at: DEC_START },
        });
        return json(200, current);
      });
    renderApp("/billing/plans", server);
    const developer = await screen.findByRole("listitem", { name: "Developer" });
    await userEvent.click(within(developer).getByRole("button", { name: "Downgrade to Developer" }));
    const dialog = await screen.findByRole("dialog", { name: "Downgrade to Developer?" });
    expect(within(dialog).getByTestId("plan-change-when")).toHaveTextContent(
      "The change takes effect at the end of the month: Developer starts on Dec 1, 2026. Until then you keep Pro",
    );
    await userEvent.click(within(dialog).getByRole("button", { name: "Downgrade at month end" }));
    expect(await screen.findByText("Done: Developer starts on Dec 1, 2026.")).toBeInTheDocument();
    await waitFor(() =>
      expect(within(screen.getByRole("listitem", { name: "Developer" })).getByText("Scheduled", { selector: ".pill" })).toBeInTheDocument(),
    );
    expect(within(screen.getByRole("listitem", { name: "Developer" })).getByRole("button", { name: "Starts on Dec 1, 2026" })).toBeDisabled(
    );

    // Choosing the current plan again cancels the pending change.
    await userEvent.click(within(screen.getByRole("listitem", { name: "Pro" })).getByRole("button", { name: "Keep Pro" }));
    const keep = await screen.findByRole("dialog", { name: "Keep Pro?" });
    expect(within(keep).getByText("This cancels the scheduled change to Developer. You stay on Pro.")).toBeInTheDocument();
    await userEvent.click(within(keep).getByRole("button", { name: "Keep Pro" }));
    expect(await screen.findByText("The scheduled change is cancelled. You stay on Pro.")).toBeInTheDocument();
    expect(server.calls("POST", "/developer/billing/plan").map((p) => p.body)).toEqual([
      { plan_id: "developer" },
      { plan_id: "pro" },
    ]);
  });

  it("shows the server's refusal in the dialog", async () => {
    const server = sessionServer(1)
      .on("GET", "/developer/billing", () => json(200, billing()))
      .on("GET", "/developer/plans", () => json(200, { data: plans }))
      .on("POST", "/developer/billing/plan", () => apiError(400, "invalid_request", "unknown plan"));
    renderApp("/billing/plans", server);
    const pro = await screen.findByRole("listitem", { name: "Pro" });
    await userEvent.click(within(pro).getByRole("button", { name: "Upgrade to Pro" }));
    const dialog = await screen.findByRole("dialog", { name: "Upgrade to Pro?" });
    await userEvent.click(within(dialog).getByRole("button", { name: "Upgrade now" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("Please check the form: unknown plan");
  });
});

describe("Credit", () => {
  const transactions: Transaction[] = [
    { id: "ltx_3", kind: "usage_charge", amount: "-0.004120", memo: "Usage 2026-11-20", created_at: Date.UTC(2026, 10, 20) },
    { id: "ltx_2", kind: "redemption", amount: "5.00", memo: "Code AIHUB-…-WXYZ", created_at: Date.UTC(2026, 10, 19) },
  ];

  it("validates the top-up amount, then starts a payment and goes to the checkout", async () => {
    const assign = vi.spyOn(navigation, "assign").mockImplementation(() => {});
    const server = sessionServer(1)
      .on("GET", "/developer/billing", () => json(200, billing()))
      .on("GET", "/developer/billing/transactions", () => json(200, { data: [], has_more: false }))
      .on("POST", "/developer/billing/top-ups", () =>
        json(201, { id: "pay_1", status: "pending", amount: "20.00", checkout_url: "https://checkout.example/pay_1" }),
      );
    renderApp("/billing/credit", server);
    const card = await screen.findByRole("region", { name: "Top up" });
    const amount = within(card).getByLabelText("Amount (USD)");
    expect(within(card).getByText("Between $5.00 and $10,000.00.")).toBeInTheDocument();
    const submit = within(card).getByRole("button", { name: "Continue to payment" });

    await userEvent.click(submit);
    expect(within(card).getByText("This field is required.")).toBeInTheDocument();
    await userEvent.type(amount, "20.555");
    await userEvent.click(submit);
    expect(within(card).getByText(/at most two decimals/)).toBeInTheDocument();
    expect(amount).toHaveAttribute("aria-invalid", "true");
    await userEvent.clear(amount);
    await userEvent.type(amount, "4.99");
    await userEvent.click(submit);
    expect(within(card).getByText("The smallest top-up is $5.00.")).toBeInTheDocument();
    await userEvent.clear(amount);
    await userEvent.type(amount, "20000");
    await userEvent.click(submit);
    expect(within(card).getByText("The largest top-up is $10,000.00.")).toBeInTheDocument();
    expect(server.calls("POST", "/developer/billing/top-ups")).toHaveLength(0);

    await userEvent.clear(amount);
    await userEvent.type(amount, "20");
    await userEvent.click(submit);
    await waitFor(() => expect(assign).toHaveBeenCalledWith("https://checkout.example/pay_1"));
    const posts = server.calls("POST", "/developer/billing/top-ups");
    expect(posts.map((p) => p.body)).toEqual([{ amount: "20.00" }]);
    expect(posts[0]?.idempotencyKey).toMatch(/\S{8,}/);
    expect(posts[0]?.authorization).toMatch(/^Bearer access-/);
  });

  it("says why top-ups are unavailable when payments are off", async () => {
    const server = sessionServer(1)
      .on("GET", "/developer/billing", () =>
        json(200, billing({ payments: { enabled: false, min_top_up: "5.00", max_top_up: "10000.00" } })),
      )
      .on("GET", "/developer/billing/transactions", () => json(200, { data: [], has_more: false }));
    renderApp("/billing/credit", server);
    const card = await screen.findByRole("region", { name: "Top up" });
    expect(within(card).getByText(/Card payments are not set up on this platform/)).toBeInTheDocument();
    expect(within(card).queryByLabelText("Amount (USD)")).not.toBeInTheDocument();
    // Codes still work.
    expect(screen.getByRole("region", { name: "Redeem a code" })).toBeInTheDocument();
  });

  it("shows payments_disabled from the server as a clear message", async () => {
    const server = sessionServer(1)
      .on("GET", "/developer/billing", () => json(200, billing()))
      .on("GET", "/developer/billing/transactions", () => json(200, { data: [], has_more: false }))
      .on("POST", "/developer/billing/top-ups", () => apiError(409, "payments_disabled", "no payment provider"));
    renderApp("/billing/credit", server);
    const card = await screen.findByRole("region", { name: "Top up" });
    await userEvent.type(within(card).getByLabelText("Amount (USD)"), "10");
    await userEvent.click(within(card).getByRole("button", { name: "Continue to payment" }));
    expect(await within(card).findByRole("alert")).toHaveTextContent("Card payments are not set up on this platform.");
  });

  it("redeems a code, with a clear message for each refusal", async () => {
    const answers: Record<string, () => Response> = {
      "AIHUB-NOPE-NOPE-NOPE": () => apiError(404, "code_not_found", "no such code"),
      "AIHUB-USED-USED-USED": () => apiError(409, "code_redeemed", "already redeemed"),
      "AIHUB-OLD0-OLD0-OLD0": () => apiError(409, "code_expired", "expired"),
      "AIHUB-GOOD-GOOD-GOOD": () => {
        current = billing({ balance: { total: "17.50", paid: "10.00", promotional: "7.50" } });
        return json(200, { amount: "5.00", balance: current.balance });
      },
    };
    let current = billing();
    let history = transactions;
    const server = sessionServer(1)
      .on("GET", "/developer/billing", () => json(200, current))
      .on("GET", "/developer/billing/transactions", () => json(200, { data: history, has_more: false }))
      .on("POST", "/developer/billing/redeem", (req) => answers[(req.body as { code: string }).code]!());
    renderApp("/billing/credit", server);
    const card = await screen.findByRole("region", { name: "Redeem a code" });
    const field = within(card).getByLabelText("Code");
    const submit = within(card).getByRole("button", { name: "Redeem" });

    await userEvent.click(submit);
    expect(within(card).getByText("This field is required.")).toBeInTheDocument();

    const tryCode = async (code: string) => {
      await userEvent.clear(field);
      await userEvent.type(field, code);
      await userEvent.click(submit);
    };
    await tryCode("AIHUB-NOPE-NOPE-NOPE");
    expect(await within(card).findByRole("alert")).toHaveTextContent("This code doesn't exist. Check it and try again.");
    await tryCode("AIHUB-USED-USED-USED");
    await waitFor(() => expect(within(card).getByRole("alert")).toHaveTextContent("This code has already been redeemed."));
    await tryCode("AIHUB-OLD0-OLD0-OLD0");
    await waitFor(() => expect(within(card).getByRole("alert")).toHaveTextContent("This code has expired."));

    history = [{ id: "ltx_4", kind: "redemption", amount: "5.00", memo: "Code AIHUB-GOOD", created_at: Date.UTC(2026, 10, 21) }, ...transactions];
    await tryCode("  AIHUB-GOOD-GOOD-GOOD ");
    expect(await within(card).findByText("$5.00 added. Your balance is now $17.50.")).toBeInTheDocument();
    expect(field).toHaveValue("");
    await waitFor(() => expect(screen.getByTestId("balance-total")).toHaveTextContent("$17.50"));

    const posts = server.calls("POST", "/developer/billing/redeem");
    expect(posts.map((p) => p.body)).toEqual([
      { code: "AIHUB-NOPE-NOPE-NOPE" },
      { code: "AIHUB-USED-USED-USED" },
      { code: "AIHUB-OLD0-OLD0-OLD0" },
      { code: "AIHUB-GOOD-GOOD-GOOD" },
    ]);
    // One key per code: a different body never reuses a key.
    const keys = posts.map((p) => p.idempotencyKey);
    expect(new Set(keys).size).toBe(4);
    expect(keys.every((k) => k && k.length >= 8)).toBe(true);
    // The history shows the new entry.
    await waitFor(() => expect(screen.getByText("Code AIHUB-GOOD")).toBeInTheDocument());
  });

  it("shows the code refusals in Chinese", async () => {
    await i18n.changeLanguage("zh-CN");
    const server = sessionServer(1)
      .on("GET", "/developer/billing", () => json(200, billing()))
      .on("GET", "/developer/billing/transactions", () => json(200, { data: [], has_more: false }))
      .on("POST", "/developer/billing/redeem", (req) =>
        (req.body as { code: string }).code === "A"
          ? apiError(409, "code_redeemed")
          : (req.body as { code: string }).code === "B"
            ? apiError(409, "code_expired")
            : apiError(404, "code_not_found"),
      );
    renderApp("/billing/credit", server);
    const card = await screen.findByRole("region", { name: "兑换码" });
    const field = within(card).getByLabelText("兑换码");
    for (const [code, message] of [
      ["A", "该兑换码已被兑换。"],
      ["B", "该兑换码已过期。"],
      ["C", "该兑换码不存在，请检查后重试。"],
    ] as const) {
      await userEvent.clear(field);
      await userEvent.type(field, code);
      await userEvent.click(within(card).getByRole("button", { name: "兑换" }));
      await waitFor(() => expect(within(card).getByRole("alert")).toHaveTextContent(message));
    }
  });

  it("lists the transactions, newest first, and loads older ones", async () => {
    const older: Transaction = {
      id: "ltx_1",
      kind: "top_up",
      amount: "20.00",
      memo: "Top-up pay_1",
      created_at: Date.UTC(2026, 10, 2),
    };
    const server = sessionServer(1)
      .on("GET", "/developer/billing", () => json(200, billing()))
      .on("GET", "/developer/billing/transactions", (req) =>
        req.query.before === "ltx_2"
          ? json(200, { data: [older], has_more: false })
          : json(200, { data: transactions, has_more: true }),
      );
    renderApp("/billing/credit", server);
    const history = await screen.findByRole("region", { name: "Transactions" });
    const rows = await within(history).findAllByRole("row");
    expect(rows).toHaveLength(3);
    expect(within(rows[1]!).getByText("Usage")).toBeInTheDocument();
    expect(within(rows[1]!).getByText("-$0.004120")).toBeInTheDocument();
    expect(within(rows[2]!).getByText("Code redeemed")).toBeInTheDocument();
    expect(within(rows[2]!).getByText("+$5.00")).toBeInTheDocument();
    await userEvent.click(within(history).getByRole("button", { name: "Load more" }));
    expect(await within(history).findByText("Top-up pay_1")).toBeInTheDocument();
    expect(within(history).getByText("+$20.00")).toBeInTheDocument();
    expect(within(history).queryByRole("button", { name: "Load more" })).not.toBeInTheDocument();
    expect(server.calls("GET", "/developer/billing/transactions").map((c) => c.query)).toEqual([
      { limit: "50" },
      { limit: "50", before: "ltx_2" },
    ]);
  });
});

describe("Invoices", () => {
  it("lists invoices with their status", async () => {
    const draft = { ...invoice, id: "inv_2", number: null, month: "2026-11", status: "draft" as const, paid_at: null };
    const paid = { ...invoice, id: "inv_0", number: "AIH-2026-000011", month: "2026-09", status: "paid" as const, amount_due: "0.00" };
    const server = sessionServer(1).on("GET", "/developer/invoices", () => json(200, { data: [draft, invoice, paid] }));
    renderApp("/billing/invoices", server);
    const rows = (await screen.findAllByRole("row")).slice(1);
    expect(rows).toHaveLength(3);
    expect(within(rows[0]!).getByRole("link", { name: "Draft" })).toHaveAttribute("href", "/billing/invoices/inv_2");
    expect(within(rows[0]!).getAllByText("Draft")).toHaveLength(2);
    expect(within(rows[1]!).getByRole("link", { name: "AIH-2026-000012" })).toBeInTheDocument();
    expect(within(rows[1]!).getByText("Open")).toHaveClass("pill-warning");
    expect(within(rows[1]!).getByText("October 2026")).toBeInTheDocument();
    expect(within(rows[2]!).getByText("Paid")).toHaveClass("pill-success");
    expect(within(rows[2]!).getByText("$0.00")).toBeInTheDocument();
  });

  it("shows an invoice's lines and totals, prints it, and pays it", async () => {
    const assign = vi.spyOn(navigation, "assign").mockImplementation(() => {});
    const html =
      '<!doctype html><html><head><title>Invoice</title><style>body{font-family:serif}</style></head>' +
      '<body><h1 style="color:red">AIH-2026-000012</h1><script>alert(1)</script></body></html>';
    const server = sessionServer(1)
      .on("GET", "/developer/invoices/inv_1", () => json(200, { ...invoice, amount_paid: "10.00", amount_due: "17.50", amount_credited: "1.50" }))
      .on("GET", "/developer/invoices/inv_1/html", () => new Response(html, { headers: { "content-type": "text/html" } }))
      .on("POST", "/developer/invoices/inv_1/pay", () => json(201, { id: "pay_9", checkout_url: "https://checkout.example/pay_9" }));
    renderApp("/billing/invoices/inv_1", server);
    expect(await screen.findByRole("heading", { name: "Invoice AIH-2026-000012", level: 1 })).toBeInTheDocument();
    expect(screen.getByText("Open")).toBeInTheDocument();
    const lines = screen.getByRole("table");
    expect(within(lines).getByText("Developer plan, 2026-10-01 to 2026-11-01")).toBeInTheDocument();
    expect(within(lines).getByText("gpt-4o")).toBeInTheDocument();
    expect(within(lines).getByText("12,000")).toBeInTheDocument();
    expect(within(lines).getByText("$29.40")).toBeInTheDocument();
    expect(within(lines).getAllByText("-$0.40")).toHaveLength(2);
    expect(screen.getByTestId("invoice-total")).toHaveTextContent("$29.00");
    expect(within(lines).getByRole("row", { name: /Amount credited/ })).toHaveTextContent("$1.50");

    await userEvent.click(screen.getByRole("button", { name: "Download / print" }));
    const dialog = await screen.findByRole("dialog", { name: "Invoice AIH-2026-000012" });
    const frame = within(dialog).getByTitle("Invoice preview") as HTMLIFrameElement;
    expect(frame.getAttribute("sandbox")).toBe("allow-same-origin allow-modals");
    expect(frame.srcdoc).toContain("AIH-2026-000012");
    expect(frame.srcdoc).not.toContain("<style");
    expect(frame.srcdoc).not.toContain("<script");
    expect(within(dialog).getByRole("button", { name: "Print or save as PDF" })).toBeInTheDocument();
    const htmlCall = server.calls("GET", "/developer/invoices/inv_1/html")[0];
    expect(htmlCall?.authorization).toMatch(/^Bearer access-/);
    expect(htmlCall?.headers.accept).toBe("text/html");
    await userEvent.click(within(dialog).getByRole("button", { name: "Close" }));

    expect(within(lines).getByRole("row", { name: "Paid so far $10.00" })).toBeInTheDocument();
    expect(within(lines).getByRole("row", { name: "Amount due $17.50" })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Pay $17.50" }));
    await waitFor(() => expect(assign).toHaveBeenCalledWith("https://checkout.example/pay_9"));
    expect(server.calls("POST", "/developer/invoices/inv_1/pay")[0]?.idempotencyKey).toMatch(/\S{8,}/);
  });

  it("offers no payment for a paid invoice, and says when one is not found", async () => {
    const server = sessionServer(1)
      .on("GET", "/developer/invoices/inv_1", () =>
        json(200, { ...invoice, status: "paid", amount_due: "0.00", paid_at: Date.UTC(2026, 10, 3) }),
      )
      .on("GET", "/developer/invoices/inv_x", () => apiError(404, "not_found"));
    const view = renderApp("/billing/invoices/inv_1", server);
    expect(await screen.findByText("Paid", { selector: ".pill" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /^Pay/ })).not.toBeInTheDocument();
    view.unmount();
    renderApp("/billing/invoices/inv_x", server);
    expect(await screen.findByRole("alert")).toHaveTextContent("This invoice doesn't exist or isn't yours.");
  });

  it("moves the invoice's styles out of the markup (the portal's CSP refuses inline styles)", () => {
    const split = splitStyles(
      '<html><head><style>h1{color:red}</style></head><body><p style="margin:0" onmouseover="x()">x</p>' +
        '<p>a style="kept" in the text</p><p><button onclick="window.print()">Print or save as PDF</button></p></body></html>',
    );
    expect(split.css).toEqual(["h1{color:red}"]);
    expect(split.html).not.toContain("<style");
    expect(split.html).toContain('data-invoice-style="margin:0"');
    expect(split.html).not.toMatch(/<[^>]* style=/);
    expect(split.html).not.toContain("onmouseover");
    expect(split.html).not.toContain("<button");
    expect(split.html).toContain('a style="kept" in the text');
  });
});

describe("Back from Checkout", () => {
  it("says the payment went through (and looks for the credit) or was cancelled", async () => {
    let calls = 0;
    const server = sessionServer(1).on("GET", "/developer/billing", () => {
      calls += 1;
      return json(200, calls < 2 ? billing() : billing({ balance: { total: "32.50", paid: "30.00", promotional: "2.50" } }));
    });
    const view = renderApp("/billing?checkout=success&session_id=cs_1", server);
    expect(await screen.findByText(/^Payment received\./)).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId("balance-total")).toHaveTextContent("$32.50"), { timeout: 3000 });
    view.unmount();
    renderApp("/billing?checkout=cancelled", server);
    expect(await screen.findByText("Payment cancelled. Nothing was charged.")).toBeInTheDocument();
  });
});
