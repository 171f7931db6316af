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
