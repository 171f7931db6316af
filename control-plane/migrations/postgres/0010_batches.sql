-- Files, batches (OpenAI's Files and Batches APIs) and tasks (the task API).
-- Batch items are the durable job queue: workers claim due items with a
-- lease, so a crashed worker's items are taken again; an item's outcome
-- is written once.

CREATE TABLE files (
    id           TEXT   NOT NULL PRIMARY KEY,
    developer_id TEXT   NOT NULL REFERENCES developers (id),
    -- batch (uploaded input), batch_output (results and errors), task_output.
    purpose      TEXT   NOT NULL,
    filename     TEXT   NOT NULL,
    bytes        BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    deleted_at   BIGINT
);
CREATE INDEX files_developer ON files (developer_id, created_at);

-- File contents in chunks of up to 1 MiB (several control planes share them).
CREATE TABLE file_chunks (
    file_id TEXT   NOT NULL REFERENCES files (id),
    seq     BIGINT NOT NULL,
    data    BYTEA NOT NULL,
    PRIMARY KEY (file_id, seq)
);

CREATE TABLE batches (
    id                TEXT   NOT NULL PRIMARY KEY,
    developer_id      TEXT   NOT NULL REFERENCES developers (id),
    -- The key that created it: items are sent through the gateway as it.
    key_id            TEXT   NOT NULL,
    -- openai (the Batches API) or a task id (the task API).
    origin            TEXT   NOT NULL,
    input_file_id     TEXT,
    endpoint          TEXT   NOT NULL,
    completion_window TEXT   NOT NULL,
    status            TEXT   NOT NULL,
    metadata          TEXT   NOT NULL DEFAULT '{}',
    errors            TEXT,
    total             BIGINT NOT NULL DEFAULT 0,
    completed         BIGINT NOT NULL DEFAULT 0,
    failed            BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    output_file_id    TEXT,
    error_file_id     TEXT,
    created_at        BIGINT NOT NULL,
    in_progress_at    BIGINT,
    expires_at        BIGINT NOT NULL,
    finalizing_at     BIGINT,
    completed_at      BIGINT,
    failed_at         BIGINT,
    expired_at        BIGINT,
    cancelling_at     BIGINT,
    cancelled_at      BIGINT
);
CREATE INDEX batches_developer ON batches (developer_id, created_at);
CREATE INDEX batches_status ON batches (status);

CREATE TABLE batch_items (
    batch_id      TEXT   NOT NULL REFERENCES batches (id),
    line_no       BIGINT NOT NULL,
    developer_id  TEXT   NOT NULL,
    custom_id     TEXT   NOT NULL,
    method        TEXT   NOT NULL,
    url           TEXT   NOT NULL,
    body          TEXT   NOT NULL,
    -- pending, running, succeeded, failed, cancelled
    status        TEXT   NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    next_at       BIGINT NOT NULL,
    lease_until   BIGINT,
    request_id    TEXT,
    status_code   BIGINT,
    response      TEXT,
    error         TEXT,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    finished_at   BIGINT,
    PRIMARY KEY (batch_id, line_no),
    UNIQUE (batch_id, custom_id)
);
CREATE INDEX batch_items_due ON batch_items (status, next_at);
CREATE INDEX batch_items_developer ON batch_items (developer_id, status, batch_id, line_no);

CREATE TABLE tasks (
    id           TEXT   NOT NULL PRIMARY KEY,
    developer_id TEXT   NOT NULL REFERENCES developers (id),
    type         TEXT   NOT NULL,
    status       TEXT   NOT NULL,
    input        TEXT   NOT NULL,
    batch_id     TEXT,
    result_file_id TEXT,
    error        TEXT,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    completed_at BIGINT
);
CREATE INDEX tasks_developer ON tasks (developer_id, created_at);
