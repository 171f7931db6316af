-- Per-key permissions and limits (issue 5): the endpoint families a key may
-- call, its own rate limits, token quotas and budgets (each NULL = only the
-- account's limits apply; money in nano-units), the client addresses it may
-- be used from, and free-form metadata for its owner.
--
-- The monthly usage sums the snapshot seeds gateways with group
-- usage_records by developer_id and by key_id over ts_ms; the indexes
-- usage_records_developer_ts (0001) and usage_records_key_ts (0003) serve
-- them, so no new index is needed.

-- JSON list of endpoint scopes, NULL = all.
ALTER TABLE api_keys ADD COLUMN allowed_endpoints TEXT;
ALTER TABLE api_keys ADD COLUMN rpm_limit BIGINT;
ALTER TABLE api_keys ADD COLUMN tpm_limit BIGINT;
ALTER TABLE api_keys ADD COLUMN token_quota_total BIGINT;
ALTER TABLE api_keys ADD COLUMN token_quota_monthly BIGINT;
ALTER TABLE api_keys ADD COLUMN budget_total_nanos BIGINT;
ALTER TABLE api_keys ADD COLUMN budget_monthly_nanos BIGINT;
-- JSON list of normalised CIDRs, NULL = any address.
ALTER TABLE api_keys ADD COLUMN ip_allowlist TEXT;
-- JSON object of string values.
ALTER TABLE api_keys ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
