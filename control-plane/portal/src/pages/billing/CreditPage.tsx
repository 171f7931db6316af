import { useEffect, useState } from "react";
import type { FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useLocation } from "react-router";
import type { Billing, Redemption, Transaction } from "../../api/billing";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { TextField } from "../../components/Field";
import { FullPageLoader, Spinner } from "../../components/Loader";
import type { Problem } from "../../lib/validation";
import { useDocumentTitle } from "../../lib/useDocumentTitle";
import { checkCode, checkTopUpAmount, normalizeAmount, normalizeCode } from "./credit";
import {
  BILLING_OVERVIEW_QUERY,
  BILLING_QUERY,
  BillingTabs,
  TRANSACTIONS_QUERY,
  billingErrorMessage,
  billingQuery,
  navigation,
  useBillingApi,
  useFormat,
  useIdempotencyKeys,
} from "./shared";

const PAGE_SIZE = 50;

/** `/billing/credit`: the balance, top-ups, redeeming a code, and the ledger's history. */
export function CreditPage() {
  const { t } = useTranslation();
  const api = useBillingApi();
  const f = useFormat();
  const location = useLocation();
  useDocumentTitle(t("billing.credit.title"));
  const billing = useQuery(billingQuery(api));

  // `#top-up` and `#redeem` (the overview's buttons) bring their form into view.
  useEffect(() => {
    if (!billing.data || !location.hash) return;
    const target = document.getElementById(location.hash.slice(1));
    target?.scrollIntoView?.({ block: "start" });
    target?.querySelector<HTMLInputElement>("input")?.focus();
  }, [billing.data, location.hash]);

  return (
    <div className="page">
      <div className="page-header">
        <h1 className="page-title">{t("billing.title")}</h1>
        <p className="page-subtitle">{t("billing.credit.subtitle")}</p>
      </div>
      <BillingTabs />
      {billing.isPending && <FullPageLoader />}
      {billing.isError && <Alert tone="error">{billingErrorMessage(t, billing.error)}</Alert>}
      {billing.data && (
        <>
          <section className="card billing-balance-strip" aria-labelledby="credit-balance-title">
            <h2 id="credit-balance-title" className="card-title">
              {t("billing.balance.title")}
            </h2>
            <p className="billing-amount" data-testid="balance-total">
              {f.money(billing.data.balance.total)}
            </p>
            <p className="small muted">
              {t("billing.balance.split", {
                paid: f.money(billing.data.balance.paid),
                promotional: f.money(billing.data.balance.promotional),
              })}
            </p>
          </section>
          <div className="grid billing-credit-grid">
            <TopUpCard billing={billing.data} />
            <RedeemCard />
          </div>
        </>
      )}
      <Transactions />
    </div>
  );
}

function TopUpCard({ billing }: { billing: Billing }) {
  const { t } = useTranslation();
  const api = useBillingApi();
  const f = useFormat();
  const keys = useIdempotencyKeys();
  const [amount, setAmount] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const { enabled, min_top_up: min, max_top_up: max } = billing.payments;
  const topUp = useMutation({
    mutationFn: (value: string) => api.createTopUp(value, keys.keyFor({ amount: value })),
    // The credit appears when the payment provider confirms; the page leaves for its checkout.
    onSuccess: (answer) => navigation.assign(answer.checkout_url),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const found = checkTopUpAmount(amount, min, max, f.money);
    setProblem(found);
    if (found) return;
    topUp.mutate(normalizeAmount(amount));
  };
  return (
    <section className="card" id="top-up" aria-labelledby="top-up-title">
      <h2 id="top-up-title" className="card-title">
        {t("billing.credit.topUpTitle")}
      </h2>
      <p className="muted small">{t("billing.credit.topUpBody")}</p>
      {!enabled ? (
        <Alert tone="info">{t("billing.credit.disabled")}</Alert>
      ) : (
        <form className="form" onSubmit={submit} noValidate>
          <TextField
            label={t("billing.credit.amount")}
            inputMode="decimal"
            autoComplete="off"
            placeholder="20.00"
            value={amount}
            onChange={(e) => {
              setAmount(e.target.value);
              if (problem) setProblem(null);
            }}
            problem={problem ?? undefined}
            hint={t("billing.credit.amountHint", { min: f.money(min), max: f.money(max) })}
            disabled={topUp.isPending || topUp.isSuccess}
          />
          {topUp.isError && <Alert tone="error">{billingErrorMessage(t, topUp.error)}</Alert>}
          {topUp.isSuccess && <Alert tone="info">{t("billing.credit.redirecting")}</Alert>}
          <div className="form-actions">
            <Button type="submit" loading={topUp.isPending || topUp.isSuccess}>
              {topUp.isPending || topUp.isSuccess ? t("billing.credit.submitting") : t("billing.credit.submit")}
            </Button>
          </div>
        </form>
      )}
    </section>
  );
}

function RedeemCard() {
  const { t } = useTranslation();
  const api = useBillingApi();
  const f = useFormat();
  const queryClient = useQueryClient();
  const keys = useIdempotencyKeys();
  const [code, setCode] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [redeemed, setRedeemed] = useState<Redemption | null>(null);
  const redeem = useMutation({
    mutationFn: (value: string) => api.redeemCode(value, keys.keyFor({ code: value })),
    onSuccess: async (answer) => {
      keys.reset();
      setRedeemed(answer);
      setCode("");
      queryClient.setQueryData<Billing>(BILLING_OVERVIEW_QUERY, (old) => (old ? { ...old, balance: answer.balance } : old));
      await queryClient.invalidateQueries({ queryKey: BILLING_QUERY });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const found = checkCode(code);
    setProblem(found);
    setRedeemed(null);
    if (found) return;
    redeem.mutate(normalizeCode(code));
  };
  return (
    <section className="card" id="redeem" aria-labelledby="redeem-title">
      <h2 id="redeem-title" className="card-title">
        {t("billing.redeemForm.title")}
      </h2>
      <p className="muted small">{t("billing.redeemForm.body")}</p>
      <form className="form" onSubmit={submit} noValidate>
        <TextField
          label={t("billing.redeemForm.code")}
          autoComplete="off"
          autoCapitalize="characters"
          spellCheck={false}
          placeholder="AIHUB-XXXX-XXXX-XXXX"
          value={code}
          onChange={(e) => {
            setCode(e.target.value);
            if (problem) setProblem(null);
          }}
          problem={problem ?? undefined}
          disabled={redeem.isPending}
        />
        {redeem.isError && !redeemed && <Alert tone="error">{billingErrorMessage(t, redeem.error)}</Alert>}
        {redeemed && (
          <Alert tone="success">
            {t("billing.redeemForm.done", { amount: f.money(redeemed.amount), balance: f.money(redeemed.balance.total) })}
          </Alert>
        )}
        <div className="form-actions">
          <Button type="submit" variant="secondary" loading={redeem.isPending}>
            {redeem.isPending ? t("billing.redeemForm.submitting") : t("billing.redeemForm.submit")}
          </Button>
        </div>
      </form>
    </section>
  );
}

/** The ledger's history, newest first, 50 at a time. */
function Transactions() {
  const { t } = useTranslation();
  const api = useBillingApi();
  const f = useFormat();
  const history = useInfiniteQuery({
    queryKey: TRANSACTIONS_QUERY,
    queryFn: ({ pageParam }) => api.listTransactions({ limit: PAGE_SIZE, before: pageParam }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => (last.has_more ? last.data[last.data.length - 1]?.id : undefined),
  });
  const rows: Transaction[] = history.data?.pages.flatMap((p) => p.data) ?? [];
  return (
    <section className="card billing-history" aria-labelledby="history-title">
      <h2 id="history-title" className="card-title">
        {t("billing.history.title")}
      </h2>
      {history.isPending && (
        <p className="center-pad">
          <Spinner label={t("common.loading")} />
        </p>
      )}
      {history.isError && <Alert tone="error">{billingErrorMessage(t, history.error)}</Alert>}
      {history.data && rows.length === 0 && <p className="muted">{t("billing.history.empty")}</p>}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table className="table billing-table">
            <thead>
              <tr>
                <th scope="col">{t("billing.history.date")}</th>
                <th scope="col">{t("billing.history.kind")}</th>
                <th scope="col">{t("billing.history.memo")}</th>
                <th scope="col" className="num">
                  {t("billing.history.amount")}
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.id}>
                  <td>{f.dateTime(row.created_at)}</td>
                  <td>{t(`billing.transactionKind.${row.kind}`, row.kind)}</td>
                  <td className="billing-memo">{row.memo}</td>
                  <td className={`num ${row.amount.startsWith("-") ? "amount-negative" : "amount-positive"}`}>
                    {row.amount.startsWith("-") ? "" : "+"}
                    {f.money(row.amount)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {history.hasNextPage && (
        <div className="form-actions">
          <Button variant="secondary" onClick={() => history.fetchNextPage()} loading={history.isFetchingNextPage}>
            {t("billing.history.more")}
          </Button>
        </div>
      )}
    </section>
  );
}
