-- Plans, subscriptions, usage charges, credit codes, invoices and payments.
-- Money is BIGINT nano-units (10^-9 USD); balances live in the ledger (0006).

CREATE TABLE plans (
    id                  TEXT    NOT NULL PRIMARY KEY,
    name                TEXT    NOT NULL,
    -- Monthly subscription fee.
    price_nanos         BIGINT  NOT NULL CHECK (price_nanos >= 0),
    -- Tokens a calendar month included at no charge.
    included_tokens     BIGINT  NOT NULL CHECK (included_tokens >= 0),
    -- Defaults applied to the account when the plan is assigned (0 = none).
    requests_per_minute BIGINT  NOT NULL DEFAULT 0,
    token_quota_monthly BIGINT  NOT NULL DEFAULT 0,
    -- 'prepaid': usage beyond the allowance is paid from credit, refused without;
    -- 'invoice': it is billed on the monthly invoice.
    overage             TEXT    NOT NULL CHECK (overage IN ('prepaid', 'invoice')),
    -- Listed to developers and open to self-service changes.
    public              INTEGER NOT NULL DEFAULT 1 CHECK (public IN (0, 1)),
    sort_order          BIGINT  NOT NULL DEFAULT 0,
    created_at          BIGINT  NOT NULL
);

INSERT INTO plans (id, name, price_nanos, included_tokens, requests_per_minute, token_quota_monthly, overage, public, sort_order, created_at) VALUES
    ('free',       'Free',           0,               1000, 100,  0, 'prepaid', 1, 0, 0),
    ('developer',  'Developer',      29000000000,   100000, 600,  0, 'prepaid', 1, 1, 0),
    ('pro',        'Pro',            99000000000,  1000000, 3000, 0, 'prepaid', 1, 2, 0),
    ('payg',       'Pay as you go',  0,                  0, 600,  0, 'prepaid', 1, 3, 0),
    ('enterprise', 'Enterprise',     0,                  0, 0,    0, 'invoice', 0, 4, 0);

-- Each developer's current plan and custom terms (one row per developer).
CREATE TABLE subscriptions (
    developer_id           TEXT   NOT NULL PRIMARY KEY REFERENCES developers (id),
    plan_id                TEXT   NOT NULL REFERENCES plans (id),
    -- A cheaper plan chosen for the start of the next month.
    pending_plan_id        TEXT   REFERENCES plans (id),
    -- Custom terms (operators; Enterprise): NULL = the plan's.
    custom_price_nanos     BIGINT,
    custom_included_tokens BIGINT,
    custom_overage         TEXT,
    updated_at             BIGINT NOT NULL
);

-- Every plan a developer has had, from when: proration reads it.
CREATE TABLE plan_changes (
    id           TEXT   NOT NULL PRIMARY KEY,
    developer_id TEXT   NOT NULL REFERENCES developers (id),
    plan_id      TEXT   NOT NULL REFERENCES plans (id),
    -- The monthly fee in force from effective_at (custom or the plan's).
    price_nanos  BIGINT NOT NULL,
    effective_at BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX plan_changes_developer ON plan_changes (developer_id, effective_at);

-- One row per usage row charged: what part of its cost was beyond the
-- plan's allowance and charged. The primary key makes charging idempotent.
CREATE TABLE usage_charges (
    request_id     TEXT   NOT NULL PRIMARY KEY,
    developer_id   TEXT   NOT NULL,
    -- When the request started (unix ms).
    ts_ms          BIGINT NOT NULL,
    -- The key (without a :grace suffix), for key budget alerts.
    key_id         TEXT   NOT NULL,
    -- The billing period (YYYY-MM) the charge belongs to.
    period         TEXT   NOT NULL,
    model          TEXT   NOT NULL,
    tokens         BIGINT NOT NULL,
    -- Tokens beyond the allowance.
    over_tokens    BIGINT NOT NULL,
    cost_nanos     BIGINT NOT NULL,
    charged_nanos  BIGINT NOT NULL,
    transaction_id TEXT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX usage_charges_period ON usage_charges (developer_id, period);
CREATE INDEX usage_charges_key ON usage_charges (key_id, period);
CREATE INDEX usage_charges_ts ON usage_charges (ts_ms);

-- The charger reads the embedded usage rows in arrival order.
CREATE INDEX usage_records_received ON usage_records (received_at);

-- Running totals per developer and period, kept with the charges.
CREATE TABLE billing_usage (
    developer_id  TEXT   NOT NULL,
    period        TEXT   NOT NULL,
    requests      BIGINT NOT NULL,
    tokens        BIGINT NOT NULL,
    cost_nanos    BIGINT NOT NULL,
    charged_nanos BIGINT NOT NULL,
    PRIMARY KEY (developer_id, period)
);

-- Where the charger has read usage rows up to, per source.
CREATE TABLE billing_cursors (
    source   TEXT   NOT NULL PRIMARY KEY,
    position BIGINT NOT NULL
);

-- Closed months: later usage is charged to the next open one.
CREATE TABLE billing_periods (
    period     TEXT   NOT NULL PRIMARY KEY,
    closed_at  BIGINT NOT NULL
);

-- Settings the configuration writes at start (billing.default_plan).
CREATE TABLE billing_settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO billing_settings (name, value) VALUES ('default_plan', 'free');

CREATE TABLE billing_counters (
    name  TEXT   NOT NULL PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO billing_counters (name, value) VALUES ('invoice', 0);

CREATE TABLE invoices (
    id                    TEXT   NOT NULL PRIMARY KEY,
    developer_id          TEXT   NOT NULL REFERENCES developers (id),
    period                TEXT   NOT NULL,
    -- Set when finalized: AIH-YYYY-NNNNNN, sequential.
    number                TEXT   UNIQUE,
    status                TEXT   NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    subtotal_nanos        BIGINT NOT NULL,
    credits_applied_nanos BIGINT NOT NULL,
    total_nanos           BIGINT NOT NULL,
    amount_paid_nanos     BIGINT NOT NULL DEFAULT 0,
    created_at            BIGINT NOT NULL,
    finalized_at          BIGINT,
    paid_at               BIGINT,
    voided_at             BIGINT,
    UNIQUE (developer_id, period)
);
CREATE INDEX invoices_developer ON invoices (developer_id, created_at);

CREATE TABLE invoice_lines (
    id           TEXT   NOT NULL PRIMARY KEY,
    invoice_id   TEXT   NOT NULL REFERENCES invoices (id),
    position     BIGINT NOT NULL,
    kind         TEXT   NOT NULL,
    description  TEXT   NOT NULL,
    model        TEXT,
    tokens       BIGINT,
    amount_nanos BIGINT NOT NULL
);
CREATE INDEX invoice_lines_invoice ON invoice_lines (invoice_id, position);

-- Single-use redemption codes, stored as SHA-256 of the normalised code.
CREATE TABLE credit_codes (
    id           TEXT   NOT NULL PRIMARY KEY,
    batch_id     TEXT   NOT NULL,
    code_hash    TEXT   NOT NULL UNIQUE,
    -- The last four characters, to tell codes apart.
    hint         TEXT   NOT NULL,
    amount_nanos BIGINT NOT NULL CHECK (amount_nanos > 0),
    expires_at   BIGINT,
    redeemed_by  TEXT   REFERENCES developers (id),
    redeemed_at  BIGINT,
    created_by   TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX credit_codes_batch ON credit_codes (batch_id);

-- Payments through the payment provider (top-ups, invoices) or recorded by hand.
CREATE TABLE payments (
    id                  TEXT   NOT NULL PRIMARY KEY,
    developer_id        TEXT   NOT NULL REFERENCES developers (id),
    -- 'top_up' or 'invoice'.
    purpose             TEXT   NOT NULL,
    invoice_id          TEXT   REFERENCES invoices (id),
    amount_nanos        BIGINT NOT NULL CHECK (amount_nanos > 0),
    status              TEXT   NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'expired')),
    -- 'stripe' or 'manual'.
    provider            TEXT   NOT NULL,
    provider_session_id TEXT   UNIQUE,
    provider_payment_id TEXT,
    checkout_url        TEXT,
    created_at          BIGINT NOT NULL,
    completed_at        BIGINT
);
CREATE INDEX payments_developer ON payments (developer_id, created_at);

-- Payment-provider webhook events already processed (each exactly once).
CREATE TABLE payment_events (
    id           TEXT   NOT NULL PRIMARY KEY,
    type         TEXT   NOT NULL,
    received_at  BIGINT NOT NULL
);

-- Usage alerts already sent: one per subject, kind, threshold and period.
CREATE TABLE usage_alerts (
    subject    TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    threshold  BIGINT NOT NULL,
    period     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (subject, kind, threshold, period)
);

-- The period a ledger transaction belongs to (usage charges, fees).
ALTER TABLE ledger_transactions ADD COLUMN period TEXT;

-- Every existing developer starts on the Free plan, whose included tokens
-- replace the old default hard cap of 1,000 tokens a month.
UPDATE developers SET api_quota_limit = 0 WHERE api_quota_limit = 1000;
INSERT INTO subscriptions (developer_id, plan_id, updated_at)
    SELECT id, 'free', 0 FROM developers;
INSERT INTO plan_changes (id, developer_id, plan_id, price_nanos, effective_at, created_at)
    SELECT 'pch_' || id, id, 'free', 0, created_at, 0 FROM developers;
