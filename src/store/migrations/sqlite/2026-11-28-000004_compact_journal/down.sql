CREATE TABLE reassignments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    record_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    from_user_id TEXT NOT NULL,
    to_user_id TEXT NOT NULL,
    job_id TEXT,
    moved_at TIMESTAMP NOT NULL
);
CREATE INDEX reassignments_from_idx ON reassignments (from_user_id, to_user_id);

INSERT INTO reassignments (account_id, record_id, kind, from_user_id, to_user_id, job_id, moved_at)
SELECT m.account_id, CAST(j.value AS INTEGER), m.kind, m.from_user_id, m.to_user_id, m.job_id, m.moved_at
FROM record_moves m, json_each('[' || m.record_ids || ']') j;

DROP TABLE record_moves;
