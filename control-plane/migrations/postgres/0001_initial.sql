-- AI Hub control plane, PostgreSQL schema. Same tables and columns as the
-- SQLite schema; times are unix milliseconds, money integer nano-units or
-- exact decimal text.

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
    is_active          BOOLEAN NOT NULL DEFAULT TRUE,
    email_verified     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL
);

CREATE TABLE api_keys (
    id             TEXT    NOT NULL PRIMARY KEY,
    developer_id   TEXT    NOT NULL REFERENCES developers (id),
    name           TEXT    NOT NULL,
    display_prefix TEXT    NOT NULL,
    secret_hash    TEXT    NOT NULL UNIQUE,
    enabled        BOOLEAN NOT NULL DEFAULT TRUE,
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
    enabled    BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);

CREATE TABLE models (
    id                       TEXT    NOT NULL PRIMARY KEY,
    name                     TEXT    NOT NULL UNIQUE,
    input_price_per_million  TEXT    NOT NULL,
    output_price_per_million TEXT    NOT NULL,
    cached_price_per_million TEXT    NOT NULL,
    enabled                  BOOLEAN NOT NULL DEFAULT TRUE,
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
    enabled        BOOLEAN NOT NULL DEFAULT TRUE,
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
    stream            BOOLEAN NOT NULL,
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
    seq        BIGSERIAL PRIMARY KEY,
    entity     TEXT   NOT NULL CHECK (entity IN ('key', 'developer', 'catalog')),
    entity_id  TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
