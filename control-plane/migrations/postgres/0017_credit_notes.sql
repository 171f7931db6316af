-- Credit notes: an operator takes back part of an invoice. On an open
-- invoice the credit lowers what is due (receivable); on a paid one it
-- becomes the developer's paid credit. Either way revenue is reversed.
ALTER TABLE invoices ADD COLUMN amount_credited_nanos BIGINT NOT NULL DEFAULT 0;

CREATE TABLE credit_notes (
    id             TEXT   NOT NULL PRIMARY KEY,
    invoice_id     TEXT   NOT NULL REFERENCES invoices (id),
    developer_id   TEXT   NOT NULL REFERENCES developers (id),
    amount_nanos   BIGINT NOT NULL CHECK (amount_nanos > 0),
    -- 'invoice': lowered what was due; 'balance': credited to the balance.
    applied_to     TEXT   NOT NULL CHECK (applied_to IN ('invoice', 'balance')),
    reason         TEXT   NOT NULL,
    transaction_id TEXT   NOT NULL,
    created_by     TEXT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id, created_at);
