-- AI Hub control plane, SQLite schema.
-- Booleans are INTEGER 0/1 (sqlx's Any driver cannot read columns declared
-- BOOLEAN on SQLite); times are unix milliseconds; money is integer
-- nano-units or exact decimal text.

CREATE TABLE developers (
    id                 TEXT    NOT NULL PRIMARY KEY,
    email              TEXT    NOT NULL UNIQUE CHECK (email = lower(email)),
    password_hash      TEXT,
    full_name          TEXT    NOT NULL,
    company_name       TEXT,
    developer_type     TEXT    NOT NULL DEFAULT 'individual'
                               CHECK (developer_type IN ('individual', 'enterprise')),
    role               TEXT    NOT NULL DEFAULT 'developer'
                               CHECK (role IN ('developer', 'admin')),
    stripe_customer_id TEXT,
    subscription_id    TEXT,
    api_quota_limit    BIGINT  NOT NULL DEFAULT 1000,
    api_rate_limit     BIGINT  NOT NULL DEFAULT 100,
    is_active          INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    email_verified     INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL
);

CREATE TABLE api_keys (
    id             TEXT    NOT NULL PRIMARY KEY,
    developer_id   TEXT    NOT NULL REFERENCES developers (id),
    name           TEXT    NOT NULL,
    display_prefix TEXT    NOT NULL,
    secret_hash    TEXT    NOT NULL UNIQUE,
    enabled        INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    expires_at     BIGINT,
    allowed_models TEXT,
    last_used_at   BIGINT,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    deleted_at     BIGINT
);
CREATE INDEX api_keys_developer ON api_keys (developer_id);

-- api_key is stored as given for now; encryption at rest comes with the
-- admin issue.
CREATE TABLE providers (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL CHECK (kind IN ('openai', 'anthropic')),
    base_url   TEXT    NOT NULL,
    api_key    TEXT    NOT NULL DEFAULT '',
    enabled    INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);

CREATE TABLE models (
    id                       TEXT    NOT NULL PRIMARY KEY,
    name                     TEXT    NOT NULL UNIQUE,
    input_price_per_million  TEXT    NOT NULL,
    output_price_per_million TEXT    NOT NULL,
    cached_price_per_million TEXT    NOT NULL,
    enabled                  INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at               BIGINT  NOT NULL,
    updated_at               BIGINT  NOT NULL
);

CREATE TABLE deployments (
    id             TEXT    NOT NULL PRIMARY KEY,
    model_id       TEXT    NOT NULL REFERENCES models (id),
    provider_id    TEXT    NOT NULL REFERENCES providers (id),
    upstream_model TEXT    NOT NULL,
    weight         BIGINT  NOT NULL DEFAULT 1 CHECK (weight >= 0),
    priority       BIGINT  NOT NULL DEFAULT 0,
    timeout_ms     BIGINT  NOT NULL DEFAULT 60000 CHECK (timeout_ms > 0),
    enabled        INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    UNIQUE (model_id, provider_id, upstream_model)
);
CREATE INDEX deployments_provider ON deployments (provider_id);

CREATE TABLE usage_records (
    request_id        TEXT    NOT NULL PRIMARY KEY,
    ts_ms             BIGINT  NOT NULL,
    developer_id      TEXT    NOT NULL,
    key_id            TEXT    NOT NULL,
    endpoint          TEXT    NOT NULL,
    method            TEXT    NOT NULL,
    model             TEXT    NOT NULL,
    deployment_id     TEXT    NOT NULL,
    provider_id       TEXT    NOT NULL,
    prompt_tokens     BIGINT  NOT NULL,
    completion_tokens BIGINT  NOT NULL,
    cached_tokens     BIGINT  NOT NULL,
    reasoning_tokens  BIGINT  NOT NULL,
    cost_nanos        BIGINT  NOT NULL,
    latency_ms        BIGINT  NOT NULL,
    ttft_ms           BIGINT,
    status            BIGINT  NOT NULL,
    stream            INTEGER NOT NULL CHECK (stream IN (0, 1)),
    attempts          BIGINT  NOT NULL,
    ip                TEXT    NOT NULL,
    user_agent        TEXT    NOT NULL,
    error             TEXT    NOT NULL,
    gateway_id        TEXT    NOT NULL,
    received_at       BIGINT  NOT NULL
);
CREATE INDEX usage_records_developer_ts ON usage_records (developer_id, ts_ms);

-- One row per configuration mutation, written in the mutation's own
-- transaction; gateways follow it through the change stream.
CREATE TABLE config_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    entity     TEXT    NOT NULL CHECK (entity IN ('key', 'developer', 'catalog')),
    entity_id  TEXT    NOT NULL,
    created_at BIGINT  NOT NULL
);
