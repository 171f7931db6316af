-- The double-entry ledger: every movement of money is one transaction of
-- two or more entries that sum to zero. Amounts are signed integer
-- nano-units (10^-9 of the currency): debits positive, credits negative.
-- Nothing is updated or deleted; a correction is a new transaction.
-- Balances are sums of entries.

CREATE TABLE ledger_accounts (
    id           TEXT   NOT NULL PRIMARY KEY,
    -- The developer it belongs to; NULL for the operator's own accounts.
    developer_id TEXT   REFERENCES developers (id),
    -- What it holds, e.g. credit_paid, credit_promo, revenue_usage.
    kind         TEXT   NOT NULL,
    currency     TEXT   NOT NULL DEFAULT 'USD',
    created_at   BIGINT NOT NULL,
    UNIQUE (developer_id, kind, currency)
);

CREATE TABLE ledger_transactions (
    id              TEXT   NOT NULL PRIMARY KEY,
    -- usage_charge, subscription_fee, top_up, grant, redemption, refund, adjustment, …
    kind            TEXT   NOT NULL,
    -- Posting the same key again answers with the first transaction
    -- (usage charges use the request id).
    idempotency_key TEXT   UNIQUE,
    developer_id    TEXT,
    memo            TEXT   NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);
CREATE INDEX ledger_transactions_developer ON ledger_transactions (developer_id, created_at);

CREATE TABLE ledger_entries (
    id             TEXT   NOT NULL PRIMARY KEY,
    transaction_id TEXT   NOT NULL REFERENCES ledger_transactions (id),
    account_id     TEXT   NOT NULL REFERENCES ledger_accounts (id),
    amount_nanos   BIGINT NOT NULL CHECK (amount_nanos <> 0),
    created_at     BIGINT NOT NULL
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id);
CREATE INDEX ledger_entries_transaction ON ledger_entries (transaction_id);
