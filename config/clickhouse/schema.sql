-- AI Hub usage rows in ClickHouse.
--
-- One row per metered request, written by the gateway's usage sink (the
-- `clickhouse` crate, RowBinary, compression off). The columns are exactly the
-- fields of `aihub_contract::usage::UsageRow`, in the same order, followed by
-- three MATERIALIZED time columns that inserts never send. `batch_id` names
-- the batch a request was an item of (sent by the control plane's batch
-- workers with `x-aihub-batch`, its cost already discounted), empty for all
-- other traffic. A table created before it existed gets it with
-- ALTER TABLE aihub.usage_records ADD COLUMN batch_id String AFTER gateway_id
--
-- Compatibility: accepted by Debian's ClickHouse 18.16 and by current releases.
-- 18.16 has no DateTime64, no Bool and (without a setting) no LowCardinality,
-- hence Int64 milliseconds, UInt8 for the flag and plain String.
--
-- Exactly-once counting: a row can be shipped twice (spool replay after a
-- crash). ReplacingMergeTree collapses rows with the same sorting key, and a
-- replayed row is identical to the first, so duplicates disappear at merge
-- time. Until then, queries that need exact numbers read the table with FINAL
-- (SELECT ... FROM aihub.usage_records FINAL WHERE ...) or deduplicate with
-- GROUP BY request_id.
--
-- Each statement ends with a semicolon and can be sent on its own through the
-- HTTP interface. Comments contain no semicolons, so splitting on them is safe.

CREATE DATABASE IF NOT EXISTS aihub;

CREATE TABLE IF NOT EXISTS aihub.usage_records
(
    request_id        String,
    ts_ms             Int64,
    developer_id      String,
    key_id            String,
    endpoint          String,
    method            String,
    model             String,
    deployment_id     String,
    provider_id       String,
    prompt_tokens     UInt64,
    completion_tokens UInt64,
    cached_tokens     UInt64,
    reasoning_tokens  UInt64,
    cost_nanos        Int64,
    latency_ms        UInt32,
    ttft_ms           Nullable(UInt32),
    status            UInt16,
    stream            UInt8,
    attempts          UInt8,
    ip                String,
    user_agent        String,
    error             String,
    gateway_id        String,
    -- The batch this request belongs to, empty when none.
    batch_id          String,
    -- Arrival time in seconds (UTC), for dashboards and time filters.
    ts                DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_ms, 1000), 'UTC'),
    -- Arrival day (UTC), the partition key.
    date              Date MATERIALIZED toDate(toDateTime(intDiv(ts_ms, 1000), 'UTC')),
    -- When ClickHouse stored the row: the control plane's charger reads
    -- rows in this order.
    inserted_at       DateTime('UTC') MATERIALIZED now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(date)
ORDER BY (developer_id, ts_ms, request_id)
SETTINGS index_granularity = 8192;

-- Rollups: aggregates kept by materialized views as rows arrive, so
-- analytics and dashboards never scan raw rows. Every measure is an
-- aggregate state, read them with sumMerge(...) and
-- quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency) (or ttft), grouping
-- by the key columns you need. Parts merge in the background, so always
-- aggregate. Measures: requests, errors (status 400 and above),
-- prompt/completion/cached/reasoning tokens, cost_nanos, latency_sum,
-- ttft_sum and ttft_count (streamed requests), s2xx (below 400), s4xx
-- (400 to 499 but not 429), s429, s5xx, fallbacks (more than one upstream
-- attempt), batch_requests, and the latency and ttft t-digests (ms).
--
-- A view sees each inserted block once, so a rollup counts a row as often
-- as it is inserted: the gateway's shipper makes sure a row is inserted
-- once (a retried batch first asks which of its request ids are stored).
-- Views created on a table that already has rows start empty: fill them
-- once with `aihub admin analytics backfill` (each view's own SELECT over
-- usage_records FINAL, for rows stored before the view was created).
--
-- Rollup rows carry large aggregate states and are read a developer or
-- an hour at a time, hence a finer index (1,024 rows a mark).
--
-- Retention: 18.16 has no TTL. The control plane drops monthly partitions
-- of usage_records older than analytics.raw_retention_months (rollups are
-- kept). On ClickHouse 19.6 or later a TTL on usage_records does the same.

-- Per developer and hour (UTC), by key (a regenerated key's grace id
-- counted under the key's id), model and endpoint: developer analytics.
CREATE TABLE IF NOT EXISTS aihub.usage_hourly
(
    developer_id String,
    key_id String,
    model String,
    endpoint String,
    hour DateTime('UTC'),
    requests          AggregateFunction(sum, UInt64),
    errors            AggregateFunction(sum, UInt64),
    prompt_tokens     AggregateFunction(sum, UInt64),
    completion_tokens AggregateFunction(sum, UInt64),
    cached_tokens     AggregateFunction(sum, UInt64),
    reasoning_tokens  AggregateFunction(sum, UInt64),
    cost_nanos        AggregateFunction(sum, Int64),
    latency_sum       AggregateFunction(sum, UInt64),
    ttft_sum          AggregateFunction(sum, UInt64),
    ttft_count        AggregateFunction(sum, UInt64),
    s2xx              AggregateFunction(sum, UInt64),
    s4xx              AggregateFunction(sum, UInt64),
    s429              AggregateFunction(sum, UInt64),
    s5xx              AggregateFunction(sum, UInt64),
    fallbacks         AggregateFunction(sum, UInt64),
    batch_requests    AggregateFunction(sum, UInt64),
    latency           AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt32),
    ttft              AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt32)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (developer_id, hour, key_id, model, endpoint)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS aihub.usage_hourly_mv TO aihub.usage_hourly AS
SELECT
    developer_id, replaceRegexpOne(key_id, ':grace$', '') AS key_id, model, endpoint, toStartOfHour(toDateTime(intDiv(ts_ms, 1000), 'UTC')) AS hour,
    sumState(toUInt64(1)) AS requests,
    sumState(toUInt64(status >= 400)) AS errors,
    sumState(prompt_tokens) AS prompt_tokens,
    sumState(completion_tokens) AS completion_tokens,
    sumState(cached_tokens) AS cached_tokens,
    sumState(reasoning_tokens) AS reasoning_tokens,
    sumState(toInt64(cost_nanos)) AS cost_nanos,
    sumState(toUInt64(latency_ms)) AS latency_sum,
    sumState(toUInt64(ifNull(ttft_ms, 0))) AS ttft_sum,
    sumState(toUInt64(isNotNull(ttft_ms))) AS ttft_count,
    sumState(toUInt64(status < 400)) AS s2xx,
    sumState(toUInt64(status >= 400 AND status < 500 AND status != 429)) AS s4xx,
    sumState(toUInt64(status = 429)) AS s429,
    sumState(toUInt64(status >= 500)) AS s5xx,
    sumState(toUInt64(attempts > 1)) AS fallbacks,
    sumState(toUInt64(batch_id != '')) AS batch_requests,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(latency_ms) AS latency,
    quantilesTDigestStateIf(0.5, 0.9, 0.95, 0.99)(assumeNotNull(ttft_ms), isNotNull(ttft_ms)) AS ttft
FROM aihub.usage_records
GROUP BY developer_id, key_id, model, endpoint, hour;

-- Per developer and day (UTC), by key, model and endpoint: long periods.
CREATE TABLE IF NOT EXISTS aihub.usage_daily
(
    developer_id String,
    key_id String,
    model String,
    endpoint String,
    day Date,
    requests          AggregateFunction(sum, UInt64),
    errors            AggregateFunction(sum, UInt64),
    prompt_tokens     AggregateFunction(sum, UInt64),
    completion_tokens AggregateFunction(sum, UInt64),
    cached_tokens     AggregateFunction(sum, UInt64),
    reasoning_tokens  AggregateFunction(sum, UInt64),
    cost_nanos        AggregateFunction(sum, Int64),
    latency_sum       AggregateFunction(sum, UInt64),
    ttft_sum          AggregateFunction(sum, UInt64),
    ttft_count        AggregateFunction(sum, UInt64),
    s2xx              AggregateFunction(sum, UInt64),
    s4xx              AggregateFunction(sum, UInt64),
    s429              AggregateFunction(sum, UInt64),
    s5xx              AggregateFunction(sum, UInt64),
    fallbacks         AggregateFunction(sum, UInt64),
    batch_requests    AggregateFunction(sum, UInt64),
    latency           AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt32),
    ttft              AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt32)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (developer_id, day, key_id, model, endpoint)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS aihub.usage_daily_mv TO aihub.usage_daily AS
SELECT
    developer_id, replaceRegexpOne(key_id, ':grace$', '') AS key_id, model, endpoint, toDate(toDateTime(intDiv(ts_ms, 1000), 'UTC')) AS day,
    sumState(toUInt64(1)) AS requests,
    sumState(toUInt64(status >= 400)) AS errors,
    sumState(prompt_tokens) AS prompt_tokens,
    sumState(completion_tokens) AS completion_tokens,
    sumState(cached_tokens) AS cached_tokens,
    sumState(reasoning_tokens) AS reasoning_tokens,
    sumState(toInt64(cost_nanos)) AS cost_nanos,
    sumState(toUInt64(latency_ms)) AS latency_sum,
    sumState(toUInt64(ifNull(ttft_ms, 0))) AS ttft_sum,
    sumState(toUInt64(isNotNull(ttft_ms))) AS ttft_count,
    sumState(toUInt64(status < 400)) AS s2xx,
    sumState(toUInt64(status >= 400 AND status < 500 AND status != 429)) AS s4xx,
    sumState(toUInt64(status = 429)) AS s429,
    sumState(toUInt64(status >= 500)) AS s5xx,
    sumState(toUInt64(attempts > 1)) AS fallbacks,
    sumState(toUInt64(batch_id != '')) AS batch_requests,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(latency_ms) AS latency,
    quantilesTDigestStateIf(0.5, 0.9, 0.95, 0.99)(assumeNotNull(ttft_ms), isNotNull(ttft_ms)) AS ttft
FROM aihub.usage_records
GROUP BY developer_id, key_id, model, endpoint, day;

-- Per hour (UTC) by model, provider and deployment, all developers: operator analytics.
CREATE TABLE IF NOT EXISTS aihub.platform_hourly
(
    model String,
    provider_id String,
    deployment_id String,
    hour DateTime('UTC'),
    requests          AggregateFunction(sum, UInt64),
    errors            AggregateFunction(sum, UInt64),
    prompt_tokens     AggregateFunction(sum, UInt64),
    completion_tokens AggregateFunction(sum, UInt64),
    cached_tokens     AggregateFunction(sum, UInt64),
    reasoning_tokens  AggregateFunction(sum, UInt64),
    cost_nanos        AggregateFunction(sum, Int64),
    latency_sum       AggregateFunction(sum, UInt64),
    ttft_sum          AggregateFunction(sum, UInt64),
    ttft_count        AggregateFunction(sum, UInt64),
    s2xx              AggregateFunction(sum, UInt64),
    s4xx              AggregateFunction(sum, UInt64),
    s429              AggregateFunction(sum, UInt64),
    s5xx              AggregateFunction(sum, UInt64),
    fallbacks         AggregateFunction(sum, UInt64),
    batch_requests    AggregateFunction(sum, UInt64),
    latency           AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt32),
    ttft              AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt32)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, model, provider_id, deployment_id)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS aihub.platform_hourly_mv TO aihub.platform_hourly AS
SELECT
    model, provider_id, deployment_id, toStartOfHour(toDateTime(intDiv(ts_ms, 1000), 'UTC')) AS hour,
    sumState(toUInt64(1)) AS requests,
    sumState(toUInt64(status >= 400)) AS errors,
    sumState(prompt_tokens) AS prompt_tokens,
    sumState(completion_tokens) AS completion_tokens,
    sumState(cached_tokens) AS cached_tokens,
    sumState(reasoning_tokens) AS reasoning_tokens,
    sumState(toInt64(cost_nanos)) AS cost_nanos,
    sumState(toUInt64(latency_ms)) AS latency_sum,
    sumState(toUInt64(ifNull(ttft_ms, 0))) AS ttft_sum,
    sumState(toUInt64(isNotNull(ttft_ms))) AS ttft_count,
    sumState(toUInt64(status < 400)) AS s2xx,
    sumState(toUInt64(status >= 400 AND status < 500 AND status != 429)) AS s4xx,
    sumState(toUInt64(status = 429)) AS s429,
    sumState(toUInt64(status >= 500)) AS s5xx,
    sumState(toUInt64(attempts > 1)) AS fallbacks,
    sumState(toUInt64(batch_id != '')) AS batch_requests,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(latency_ms) AS latency,
    quantilesTDigestStateIf(0.5, 0.9, 0.95, 0.99)(assumeNotNull(ttft_ms), isNotNull(ttft_ms)) AS ttft
FROM aihub.usage_records
GROUP BY model, provider_id, deployment_id, hour;

-- Per day (UTC) by model, provider and deployment, all developers: operator
-- analytics over whole days (a 30-day period is 30 rows per group, not 720).
CREATE TABLE IF NOT EXISTS aihub.platform_daily
(
    model String,
    provider_id String,
    deployment_id String,
    day Date,
    requests          AggregateFunction(sum, UInt64),
    errors            AggregateFunction(sum, UInt64),
    prompt_tokens     AggregateFunction(sum, UInt64),
    completion_tokens AggregateFunction(sum, UInt64),
    cached_tokens     AggregateFunction(sum, UInt64),
    reasoning_tokens  AggregateFunction(sum, UInt64),
    cost_nanos        AggregateFunction(sum, Int64),
    latency_sum       AggregateFunction(sum, UInt64),
    ttft_sum          AggregateFunction(sum, UInt64),
    ttft_count        AggregateFunction(sum, UInt64),
    s2xx              AggregateFunction(sum, UInt64),
    s4xx              AggregateFunction(sum, UInt64),
    s429              AggregateFunction(sum, UInt64),
    s5xx              AggregateFunction(sum, UInt64),
    fallbacks         AggregateFunction(sum, UInt64),
    batch_requests    AggregateFunction(sum, UInt64),
    latency           AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt32),
    ttft              AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt32)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, model, provider_id, deployment_id)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS aihub.platform_daily_mv TO aihub.platform_daily AS
SELECT
    model, provider_id, deployment_id, toDate(toDateTime(intDiv(ts_ms, 1000), 'UTC')) AS day,
    sumState(toUInt64(1)) AS requests,
    sumState(toUInt64(status >= 400)) AS errors,
    sumState(prompt_tokens) AS prompt_tokens,
    sumState(completion_tokens) AS completion_tokens,
    sumState(cached_tokens) AS cached_tokens,
    sumState(reasoning_tokens) AS reasoning_tokens,
    sumState(toInt64(cost_nanos)) AS cost_nanos,
    sumState(toUInt64(latency_ms)) AS latency_sum,
    sumState(toUInt64(ifNull(ttft_ms, 0))) AS ttft_sum,
    sumState(toUInt64(isNotNull(ttft_ms))) AS ttft_count,
    sumState(toUInt64(status < 400)) AS s2xx,
    sumState(toUInt64(status >= 400 AND status < 500 AND status != 429)) AS s4xx,
    sumState(toUInt64(status = 429)) AS s429,
    sumState(toUInt64(status >= 500)) AS s5xx,
    sumState(toUInt64(attempts > 1)) AS fallbacks,
    sumState(toUInt64(batch_id != '')) AS batch_requests,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(latency_ms) AS latency,
    quantilesTDigestStateIf(0.5, 0.9, 0.95, 0.99)(assumeNotNull(ttft_ms), isNotNull(ttft_ms)) AS ttft
FROM aihub.usage_records
GROUP BY model, provider_id, deployment_id, day;

-- Per developer, day (UTC) and model: latency and TTFT t-digests alone, a
-- developer's percentiles from a few rows a day instead of one per key and
-- endpoint.
CREATE TABLE IF NOT EXISTS aihub.latency_daily
(
    developer_id String,
    day Date,
    model String,
    ttft_count AggregateFunction(sum, UInt64),
    latency    AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt32),
    ttft       AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt32)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (developer_id, day, model)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS aihub.latency_daily_mv TO aihub.latency_daily AS
SELECT
    developer_id, toDate(toDateTime(intDiv(ts_ms, 1000), 'UTC')) AS day, model,
    sumState(toUInt64(isNotNull(ttft_ms))) AS ttft_count,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(latency_ms) AS latency,
    quantilesTDigestStateIf(0.5, 0.9, 0.95, 0.99)(assumeNotNull(ttft_ms), isNotNull(ttft_ms)) AS ttft
FROM aihub.usage_records
GROUP BY developer_id, day, model;

-- Per minute (UTC) by model and provider, all developers: Grafana.
CREATE TABLE IF NOT EXISTS aihub.platform_minute
(
    model String,
    provider_id String,
    minute DateTime('UTC'),
    requests          AggregateFunction(sum, UInt64),
    errors            AggregateFunction(sum, UInt64),
    prompt_tokens     AggregateFunction(sum, UInt64),
    completion_tokens AggregateFunction(sum, UInt64),
    cached_tokens     AggregateFunction(sum, UInt64),
    reasoning_tokens  AggregateFunction(sum, UInt64),
    cost_nanos        AggregateFunction(sum, Int64),
    latency_sum       AggregateFunction(sum, UInt64),
    ttft_sum          AggregateFunction(sum, UInt64),
    ttft_count        AggregateFunction(sum, UInt64),
    s2xx              AggregateFunction(sum, UInt64),
    s4xx              AggregateFunction(sum, UInt64),
    s429              AggregateFunction(sum, UInt64),
    s5xx              AggregateFunction(sum, UInt64),
    fallbacks         AggregateFunction(sum, UInt64),
    batch_requests    AggregateFunction(sum, UInt64),
    latency           AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt32),
    ttft              AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt32)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMMDD(minute)
ORDER BY (minute, model, provider_id)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS aihub.platform_minute_mv TO aihub.platform_minute AS
SELECT
    model, provider_id, toStartOfMinute(toDateTime(intDiv(ts_ms, 1000), 'UTC')) AS minute,
    sumState(toUInt64(1)) AS requests,
    sumState(toUInt64(status >= 400)) AS errors,
    sumState(prompt_tokens) AS prompt_tokens,
    sumState(completion_tokens) AS completion_tokens,
    sumState(cached_tokens) AS cached_tokens,
    sumState(reasoning_tokens) AS reasoning_tokens,
    sumState(toInt64(cost_nanos)) AS cost_nanos,
    sumState(toUInt64(latency_ms)) AS latency_sum,
    sumState(toUInt64(ifNull(ttft_ms, 0))) AS ttft_sum,
    sumState(toUInt64(isNotNull(ttft_ms))) AS ttft_count,
    sumState(toUInt64(status < 400)) AS s2xx,
    sumState(toUInt64(status >= 400 AND status < 500 AND status != 429)) AS s4xx,
    sumState(toUInt64(status = 429)) AS s429,
    sumState(toUInt64(status >= 500)) AS s5xx,
    sumState(toUInt64(attempts > 1)) AS fallbacks,
    sumState(toUInt64(batch_id != '')) AS batch_requests,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(latency_ms) AS latency,
    quantilesTDigestStateIf(0.5, 0.9, 0.95, 0.99)(assumeNotNull(ttft_ms), isNotNull(ttft_ms)) AS ttft
FROM aihub.usage_records
GROUP BY model, provider_id, minute;

-- Per day (UTC) by developer: active and top developers.
CREATE TABLE IF NOT EXISTS aihub.developer_daily
(
    developer_id String,
    day Date,
    requests          AggregateFunction(sum, UInt64),
    errors            AggregateFunction(sum, UInt64),
    prompt_tokens     AggregateFunction(sum, UInt64),
    completion_tokens AggregateFunction(sum, UInt64),
    cached_tokens     AggregateFunction(sum, UInt64),
    reasoning_tokens  AggregateFunction(sum, UInt64),
    cost_nanos        AggregateFunction(sum, Int64),
    latency_sum       AggregateFunction(sum, UInt64),
    ttft_sum          AggregateFunction(sum, UInt64),
    ttft_count        AggregateFunction(sum, UInt64),
    s2xx              AggregateFunction(sum, UInt64),
    s4xx              AggregateFunction(sum, UInt64),
    s429              AggregateFunction(sum, UInt64),
    s5xx              AggregateFunction(sum, UInt64),
    fallbacks         AggregateFunction(sum, UInt64),
    batch_requests    AggregateFunction(sum, UInt64),
    latency           AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt32),
    ttft              AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), UInt32)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, developer_id)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS aihub.developer_daily_mv TO aihub.developer_daily AS
SELECT
    developer_id, toDate(toDateTime(intDiv(ts_ms, 1000), 'UTC')) AS day,
    sumState(toUInt64(1)) AS requests,
    sumState(toUInt64(status >= 400)) AS errors,
    sumState(prompt_tokens) AS prompt_tokens,
    sumState(completion_tokens) AS completion_tokens,
    sumState(cached_tokens) AS cached_tokens,
    sumState(reasoning_tokens) AS reasoning_tokens,
    sumState(toInt64(cost_nanos)) AS cost_nanos,
    sumState(toUInt64(latency_ms)) AS latency_sum,
    sumState(toUInt64(ifNull(ttft_ms, 0))) AS ttft_sum,
    sumState(toUInt64(isNotNull(ttft_ms))) AS ttft_count,
    sumState(toUInt64(status < 400)) AS s2xx,
    sumState(toUInt64(status >= 400 AND status < 500 AND status != 429)) AS s4xx,
    sumState(toUInt64(status = 429)) AS s429,
    sumState(toUInt64(status >= 500)) AS s5xx,
    sumState(toUInt64(attempts > 1)) AS fallbacks,
    sumState(toUInt64(batch_id != '')) AS batch_requests,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(latency_ms) AS latency,
    quantilesTDigestStateIf(0.5, 0.9, 0.95, 0.99)(assumeNotNull(ttft_ms), isNotNull(ttft_ms)) AS ttft
FROM aihub.usage_records
GROUP BY developer_id, day;
