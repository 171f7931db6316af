-- Settings an operator changed in the console, over the configuration file
-- and environment: one row per key (`email.smtp_host`), the value as JSON;
-- secrets are sealed. Deleting a row goes back to the configured value.
CREATE TABLE settings (
    key        TEXT   NOT NULL PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
