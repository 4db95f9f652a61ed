-- The reassignment journal, one row per moved batch instead of one per
-- record: a 1,000-record batch costs one insert instead of 1,000 rows and
-- index entries, which made the journal most of a bulk job's cost.
CREATE TABLE record_moves (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,
    from_user_id TEXT NOT NULL,
    to_user_id TEXT NOT NULL,
    job_id TEXT,
    moved_at TIMESTAMP NOT NULL,
    record_count BIGINT NOT NULL CHECK (record_count > 0),
    -- The moved records' ids, comma-separated, ascending.
    record_ids TEXT NOT NULL
);
CREATE INDEX record_moves_from_idx ON record_moves (from_user_id, to_user_id, kind);

INSERT INTO record_moves
    (account_id, kind, from_user_id, to_user_id, job_id, moved_at, record_count, record_ids)
SELECT account_id, kind, from_user_id, to_user_id, job_id, moved_at, COUNT(*), group_concat(record_id, ',')
FROM reassignments
GROUP BY account_id, kind, from_user_id, to_user_id, job_id, moved_at;

DROP TABLE reassignments;
