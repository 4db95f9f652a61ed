-- Durable jobs: bulk disable/remove and large single-user reassignments.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL CHECK (kind IN ('BULK_DISABLE', 'BULK_REMOVE', 'DISABLE', 'REMOVE')),
    state TEXT NOT NULL CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    mode TEXT NOT NULL CHECK (mode IN ('BEST_EFFORT', 'ALL_OR_NOTHING')),
    targets TEXT NOT NULL,
    created_by TEXT NOT NULL,
    request_id TEXT,
    records_total BIGINT NOT NULL DEFAULT 0,
    records_moved BIGINT NOT NULL DEFAULT 0,
    moved TEXT NOT NULL,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    lease_owner TEXT,
    lease_expires_at TIMESTAMP,
    error_message TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    UNIQUE (account_id, request_id)
);
CREATE INDEX jobs_runnable_idx ON jobs (state, created_at);
CREATE INDEX jobs_account_idx ON jobs (account_id, created_at);

CREATE TABLE job_users (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    position INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('PENDING', 'RUNNING', 'DONE', 'SKIPPED', 'FAILED')),
    reason TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    moved TEXT NOT NULL,
    PRIMARY KEY (job_id, position)
);
