-- Developer accounts and authentication: the account's language, login
-- sessions with rotating refresh tokens, single-use email tokens, and the
-- outgoing mail queue. Secrets are stored only as SHA-256 (hex).

ALTER TABLE developers
    ADD COLUMN language TEXT NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'zh-CN'));

-- One row per login: the family every refresh token of that login belongs
-- to. Revoking it (logout, reuse of a rotated token, password reset) ends
-- every token descending from that login.
CREATE TABLE sessions (
    id             TEXT   NOT NULL PRIMARY KEY,
    developer_id   TEXT   NOT NULL REFERENCES developers (id),
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT,
    ip             TEXT   NOT NULL,
    user_agent     TEXT   NOT NULL
);
CREATE INDEX sessions_developer ON sessions (developer_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT   NOT NULL PRIMARY KEY,
    session_id TEXT   NOT NULL REFERENCES sessions (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Email verification (24 h) and password reset (1 h) tokens.
CREATE TABLE account_tokens (
    token_hash   TEXT   NOT NULL PRIMARY KEY,
    developer_id TEXT   NOT NULL REFERENCES developers (id),
    purpose      TEXT   NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);
CREATE INDEX account_tokens_developer ON account_tokens (developer_id, purpose);

-- Mail is queued here in the transaction of the change that causes it and
-- delivered by a background worker. Bodies (which may carry a token) are
-- cleared once the message is sent or abandoned.
CREATE TABLE outbound_emails (
    id              TEXT   NOT NULL PRIMARY KEY,
    developer_id    TEXT   REFERENCES developers (id),
    to_address      TEXT   NOT NULL,
    kind            TEXT   NOT NULL,
    language        TEXT   NOT NULL,
    subject         TEXT   NOT NULL,
    body_text       TEXT,
    body_html       TEXT,
    link            TEXT,
    status          TEXT   NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX outbound_emails_due ON outbound_emails (status, next_attempt_at);
CREATE INDEX outbound_emails_recipient ON outbound_emails (to_address, kind, created_at);
