-- Webhooks: developers' endpoints, one delivery per (event, endpoint) —
-- created in the transaction that emits the event — and every attempt.

CREATE INDEX events_developer_id ON events (developer_id, id);

CREATE TABLE webhook_endpoints (
    id                      TEXT    NOT NULL PRIMARY KEY,
    developer_id            TEXT    NOT NULL REFERENCES developers (id),
    url                     TEXT    NOT NULL,
    description             TEXT    NOT NULL DEFAULT '',
    -- JSON list of event types, or ["*"] for all.
    event_types             TEXT    NOT NULL,
    -- The signing secret (whsec_…), sealed (see src/webhooks/secrets.rs).
    secret_sealed           TEXT    NOT NULL,
    -- The secret replaced by the last rotation, still signing until then.
    previous_secret_sealed  TEXT,
    previous_expires_at     BIGINT,
    enabled                 BOOLEAN NOT NULL DEFAULT TRUE,
    -- Why it is disabled: manual, gone (410), failing.
    disabled_reason         TEXT,
    -- Retries after the first attempt (0 to 7).
    max_retries             BIGINT  NOT NULL DEFAULT 3,
    -- First failed delivery of the current failing streak.
    failing_since           BIGINT,
    created_at              BIGINT  NOT NULL,
    updated_at              BIGINT  NOT NULL,
    deleted_at              BIGINT
);
CREATE INDEX webhook_endpoints_developer ON webhook_endpoints (developer_id);

CREATE TABLE webhook_deliveries (
    id               TEXT    NOT NULL PRIMARY KEY,
    endpoint_id      TEXT    NOT NULL REFERENCES webhook_endpoints (id),
    event_id         TEXT    NOT NULL REFERENCES events (id),
    developer_id     TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    -- pending, succeeded, failed
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         BIGINT  NOT NULL DEFAULT 0,
    -- Due time while pending; a claimed delivery's lease end.
    next_attempt_at  BIGINT  NOT NULL,
    last_status_code BIGINT,
    last_error       TEXT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    finished_at      BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    id            TEXT    NOT NULL PRIMARY KEY,
    delivery_id   TEXT    NOT NULL REFERENCES webhook_deliveries (id),
    endpoint_id   TEXT    NOT NULL,
    attempted_at  BIGINT  NOT NULL,
    duration_ms   BIGINT  NOT NULL,
    -- NULL when no response came (connection refused, timeout, refused address).
    status_code   BIGINT,
    error         TEXT,
    -- The first 1 KiB of the response body.
    response_body TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempted_at);
