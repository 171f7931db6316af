-- Usage rows of batch items (sent by the control plane's batch workers
-- through a gateway with `x-aihub-batch`) name their batch; empty for all
-- other traffic.
ALTER TABLE usage_records ADD COLUMN batch_id TEXT NOT NULL DEFAULT '';
CREATE INDEX usage_records_batch ON usage_records (batch_id);
