-- Upstream health as each gateway last reported it (every few seconds):
-- one row per gateway and deployment, for the operator console.
CREATE TABLE deployment_health (
    gateway_id           TEXT   NOT NULL,
    deployment_id        TEXT   NOT NULL,
    requests             BIGINT NOT NULL,
    errors               BIGINT NOT NULL,
    -- Mean time to response headers of good attempts, ms; NULL without one.
    latency_ms           BIGINT,
    consecutive_failures BIGINT NOT NULL,
    -- Out of rotation until then (unix ms); NULL: in rotation.
    ejected_until        BIGINT,
    reported_at          BIGINT NOT NULL,
    PRIMARY KEY (gateway_id, deployment_id)
);
CREATE INDEX deployment_health_reported ON deployment_health (reported_at);
