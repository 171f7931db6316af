-- Developer-managed API keys: the previous secret of a regenerated key
-- during its grace period, the audit log, the domain-event outbox, stored
-- answers for Idempotency-Key retries, and per-key usage lookups.

-- At most one per key: the secret replaced by the last regeneration, which
-- keeps authenticating (as the gateway entry `<key_id>:grace`) until
-- expires_at.
CREATE TABLE api_key_previous_secrets (
    key_id      TEXT   NOT NULL PRIMARY KEY REFERENCES api_keys (id),
    secret_hash TEXT   NOT NULL UNIQUE,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Who did what, when, from where; written in the change's transaction.
CREATE TABLE audit_log (
    id        TEXT   NOT NULL PRIMARY KEY,
    at_ms     BIGINT NOT NULL,
    actor_id  TEXT   NOT NULL,
    actor_ip  TEXT   NOT NULL,
    action    TEXT   NOT NULL,
    target_id TEXT   NOT NULL,
    details   TEXT   NOT NULL
);
CREATE INDEX audit_log_target ON audit_log (target_id, at_ms);
CREATE INDEX audit_log_actor ON audit_log (actor_id, at_ms);

-- Domain events (outbox), written in the change's transaction; the
-- webhook issue delivers them.
CREATE TABLE events (
    id            TEXT   NOT NULL PRIMARY KEY,
    type          TEXT   NOT NULL,
    developer_id  TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    data          TEXT   NOT NULL
);
CREATE INDEX events_developer ON events (developer_id, created_at_ms);

-- The first answer to a request sent with an Idempotency-Key, replayed for
-- 24 hours. A secret in it is stored sealed (see src/idempotency.rs).
CREATE TABLE idempotency_keys (
    developer_id    TEXT   NOT NULL,
    idem_key        TEXT   NOT NULL,
    request_hash    TEXT   NOT NULL,
    response_status BIGINT NOT NULL,
    response_body   TEXT   NOT NULL,
    secret_sealed   TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (developer_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE INDEX usage_records_key_ts ON usage_records (key_id, ts_ms);
