-- Operators who can look but not change anything (support staff): every
-- operator route answers them except those that write.
ALTER TABLE developers ADD COLUMN read_only BOOLEAN NOT NULL DEFAULT FALSE;
