-- Analytics for operators at scale (issue 9): who was active is kept as a
-- compressed bitmap per UTC day (RoaringBitmap's portable format over
-- dense developer numbers), so "active developers" over any period is a
-- union of at most a few dozen small values instead of a distinct count
-- over every (day, developer) row; per UTC month and developer totals
-- bound a developer's figures over a period from above, so the top
-- developers are found exactly from a few candidates (see
-- control-plane/src/analytics/store.rs). The rollups are built again from
-- usage_records at the next start (analytics_state).

DELETE FROM analytics_state WHERE name = 'rollups_built';

CREATE INDEX developer_daily_by_developer ON developer_daily (developer_id, day_ms) INCLUDE (cost_nanos, requests, tokens);

CREATE TABLE developer_monthly (
    month_ms     BIGINT NOT NULL,
    developer_id TEXT   NOT NULL,
    requests     BIGINT NOT NULL,
    tokens       BIGINT NOT NULL,
    cost_nanos   BIGINT NOT NULL,
    PRIMARY KEY (month_ms, developer_id)
);

-- Dense numbers for the bitmaps, given in order of first use.
CREATE TABLE analytics_developers (
    developer_id TEXT   NOT NULL PRIMARY KEY,
    ord          BIGINT NOT NULL UNIQUE
);

CREATE TABLE active_daily (
    day_ms     BIGINT NOT NULL PRIMARY KEY,
    developers BYTEA  NOT NULL
);
