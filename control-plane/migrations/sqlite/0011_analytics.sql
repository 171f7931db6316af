-- Analytics rollups (issue 9): kept by the control plane in the same
-- transaction that stores usage rows (`usage::ingest`), so analytics read
-- aggregates instead of raw rows. `grain` is 'h' (t_ms = start of a UTC
-- hour) or 'd' (start of a UTC day); every row is counted in both.
-- Measures: requests, errors (status >= 400), tokens, cost_nanos,
-- latency_sum and ttft_sum/ttft_count (for averages), s2xx (< 400), s4xx
-- (400-499 except 429), s429, s5xx, fallbacks (attempts > 1),
-- batch_requests. With ClickHouse as the usage store the same figures come
-- from its materialized views (config/clickhouse/schema.sql) and these
-- tables stay empty, except revenue_daily.

-- Per developer, by key (a regenerated key's grace traffic under the key's
-- id), model and endpoint.
CREATE TABLE usage_rollup (
    developer_id      TEXT   NOT NULL,
    grain             TEXT   NOT NULL,
    t_ms              BIGINT NOT NULL,
    key_id            TEXT   NOT NULL,
    model             TEXT   NOT NULL,
    endpoint          TEXT   NOT NULL,
    requests          BIGINT NOT NULL,
    errors            BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cached_tokens     BIGINT NOT NULL,
    reasoning_tokens  BIGINT NOT NULL,
    cost_nanos        BIGINT NOT NULL,
    latency_sum       BIGINT NOT NULL,
    ttft_sum          BIGINT NOT NULL,
    ttft_count        BIGINT NOT NULL,
    s2xx              BIGINT NOT NULL,
    s4xx              BIGINT NOT NULL,
    s429              BIGINT NOT NULL,
    s5xx              BIGINT NOT NULL,
    fallbacks         BIGINT NOT NULL,
    batch_requests    BIGINT NOT NULL,
    PRIMARY KEY (developer_id, grain, t_ms, key_id, model, endpoint)
);

-- All developers, by model, provider and deployment (operator analytics).
CREATE TABLE platform_rollup (
    grain             TEXT   NOT NULL,
    t_ms              BIGINT NOT NULL,
    model             TEXT   NOT NULL,
    provider_id       TEXT   NOT NULL,
    deployment_id     TEXT   NOT NULL,
    requests          BIGINT NOT NULL,
    errors            BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cached_tokens     BIGINT NOT NULL,
    reasoning_tokens  BIGINT NOT NULL,
    cost_nanos        BIGINT NOT NULL,
    latency_sum       BIGINT NOT NULL,
    ttft_sum          BIGINT NOT NULL,
    ttft_count        BIGINT NOT NULL,
    s2xx              BIGINT NOT NULL,
    s4xx              BIGINT NOT NULL,
    s429              BIGINT NOT NULL,
    s5xx              BIGINT NOT NULL,
    fallbacks         BIGINT NOT NULL,
    batch_requests    BIGINT NOT NULL,
    PRIMARY KEY (grain, t_ms, model, provider_id, deployment_id)
);

-- Per UTC day and developer: active and top developers.
CREATE TABLE developer_daily (
    day_ms       BIGINT NOT NULL,
    developer_id TEXT   NOT NULL,
    requests     BIGINT NOT NULL,
    tokens       BIGINT NOT NULL,
    cost_nanos   BIGINT NOT NULL,
    PRIMARY KEY (day_ms, developer_id)
);

-- Latency ('l') and time-to-first-token ('t') histograms per UTC day and
-- model, one row each: `hist` is "bucket:count" pairs, comma-separated, in
-- bucket order, where bucket b counts values v (ms) with
-- floor(ln(max(v, 1)) / ln(1.05)) = b, so a percentile read from them is
-- within 2.5 % of the exact one. One row per day keeps a month's
-- percentiles a read of a few hundred rows.
CREATE TABLE latency_rollup (
    developer_id TEXT   NOT NULL,
    day_ms       BIGINT NOT NULL,
    model        TEXT   NOT NULL,
    metric       TEXT   NOT NULL,
    hist         TEXT   NOT NULL,
    PRIMARY KEY (developer_id, day_ms, model, metric)
);

CREATE TABLE platform_latency (
    day_ms      BIGINT NOT NULL,
    provider_id TEXT   NOT NULL,
    model       TEXT   NOT NULL,
    metric      TEXT   NOT NULL,
    hist        TEXT   NOT NULL,
    PRIMARY KEY (day_ms, provider_id, model, metric)
);

-- Usage revenue (what the charger charged) per UTC day of the request, plan
-- at charge time and model; kept by the charger with its charges in both
-- setups.
CREATE TABLE revenue_daily (
    day_ms        BIGINT NOT NULL,
    plan_id       TEXT   NOT NULL,
    model         TEXT   NOT NULL,
    requests      BIGINT NOT NULL,
    cost_nanos    BIGINT NOT NULL,
    charged_nanos BIGINT NOT NULL,
    PRIMARY KEY (day_ms, plan_id, model)
);
INSERT INTO revenue_daily (day_ms, plan_id, model, requests, cost_nanos, charged_nanos)
SELECT (c.ts_ms / 86400000) * 86400000, COALESCE(s.plan_id, ''), c.model,
       COUNT(*), SUM(c.cost_nanos), SUM(c.charged_nanos)
FROM usage_charges c LEFT JOIN subscriptions s ON s.developer_id = c.developer_id
GROUP BY (c.ts_ms / 86400000) * 86400000, COALESCE(s.plan_id, ''), c.model;

-- Set once the rollups hold every stored usage row (the control plane
-- builds them from usage_records at start when this is missing).
CREATE TABLE analytics_state (
    name  TEXT   NOT NULL PRIMARY KEY,
    value BIGINT NOT NULL
);

-- What a deployment's provider charges the operator, per million tokens
-- (margin reports).
ALTER TABLE deployments ADD COLUMN upstream_input_price_per_million TEXT NOT NULL DEFAULT '0';
ALTER TABLE deployments ADD COLUMN upstream_output_price_per_million TEXT NOT NULL DEFAULT '0';
ALTER TABLE deployments ADD COLUMN upstream_cached_price_per_million TEXT NOT NULL DEFAULT '0';
