/** Checks of the credit forms (top-up amount, redeem code), mirroring the server's rules. */
import { moneyToNanos } from "../../api/billing";
import type { Money } from "../../api/billing";
import type { Problem } from "../../lib/validation";

type CreditProblemKey =
  | "validation.required"
  | "billing.credit.amountFormat"
  | "billing.credit.amountMin"
  | "billing.credit.amountMax";

/** A problem with one of this section's messages (the fields show any catalogue key). */
function problem(key: CreditProblemKey, values?: Record<string, string>): Problem {
  return { key: key as Problem["key"], values };
}

/** Dollars with at most two decimals ("20", "20.5", "20.50"). */
const AMOUNT = /^\d+(\.\d{1,2})?$/;

/**
 * The amount typed for a top-up: dollars, at most two decimals, within the
 * platform's `min`..`max` (inclusive). `format` shows the bounds in messages.
 */
export function checkTopUpAmount(
  value: string,
  min: Money,
  max: Money,
  format: (money: Money) => string,
): Problem | null {
  const amount = value.trim();
  if (amount === "") return problem("validation.required");
  if (!AMOUNT.test(amount)) return problem("billing.credit.amountFormat");
  const nanos = moneyToNanos(amount)!;
  const low = moneyToNanos(min);
  const high = moneyToNanos(max);
  if (low !== null && nanos < low) return problem("billing.credit.amountMin", { min: format(min) });
  if (high !== null && nanos > high) return problem("billing.credit.amountMax", { max: format(max) });
  return null;
}

/** The amount as the API wants it: two decimals ("20" → "20.00", "7.5" → "7.50"). */
export function normalizeAmount(value: string): Money {
  const [whole = "0", fraction = ""] = value.trim().split(".");
  return `${BigInt(whole).toString()}.${fraction.padEnd(2, "0")}`;
}

/** A code as typed, without the spaces a copy and paste brings along (the server ignores case and dashes). */
export function normalizeCode(value: string): string {
  return value.trim();
}

export function checkCode(value: string): Problem | null {
  return normalizeCode(value) === "" ? problem("validation.required") : null;
}
