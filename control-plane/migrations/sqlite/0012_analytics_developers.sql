-- Analytics for operators at scale (issue 9): who was active is kept as a
-- compressed bitmap per UTC day (RoaringBitmap's portable format over
-- dense developer numbers), so "active developers" over any period is a
-- union of at most a few dozen small values instead of a distinct count
-- over every (day, developer) row; per UTC month and developer totals
-- bound a developer's figures over a period from above, so the top
-- developers are found exactly from a few candidates (see
-- control-plane/src/analytics/store.rs). The rollups are built again from
-- usage_records at the next start (analytics_state).
--
-- SQLite: the rollups read by range become WITHOUT ROWID tables (one
-- B-tree in key order: a developer's hours are one range, not a lookup
-- per row).

DELETE FROM analytics_state WHERE name = 'rollups_built';

DROP TABLE usage_rollup;
DROP TABLE platform_rollup;
DROP TABLE developer_daily;
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
) WITHOUT ROWID;

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
) WITHOUT ROWID;

CREATE TABLE developer_daily (
    day_ms       BIGINT NOT NULL,
    developer_id TEXT   NOT NULL,
    requests     BIGINT NOT NULL,
    tokens       BIGINT NOT NULL,
    cost_nanos   BIGINT NOT NULL,
    PRIMARY KEY (day_ms, developer_id)
) WITHOUT ROWID;
CREATE INDEX developer_daily_by_developer ON developer_daily (developer_id, day_ms, cost_nanos, requests, tokens);

CREATE TABLE developer_monthly (
    month_ms     BIGINT NOT NULL,
    developer_id TEXT   NOT NULL,
    requests     BIGINT NOT NULL,
    tokens       BIGINT NOT NULL,
    cost_nanos   BIGINT NOT NULL,
    PRIMARY KEY (month_ms, developer_id)
) WITHOUT ROWID;

-- Dense numbers for the bitmaps, given in order of first use.
CREATE TABLE analytics_developers (
    developer_id TEXT   NOT NULL PRIMARY KEY,
    ord          BIGINT NOT NULL UNIQUE
);

CREATE TABLE active_daily (
    day_ms     BIGINT NOT NULL PRIMARY KEY,
    developers BLOB   NOT NULL
);
