-- Work records (ownership rows of other services' records) and the
-- reassignment journal.
CREATE TABLE work_records (
    id BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL CHECK (kind IN ('LEAD', 'CONTACT', 'CUSTOMER', 'TASK', 'CONVERSATION', 'NOTE')),
    external_id TEXT NOT NULL CHECK (length(external_id) BETWEEN 1 AND 128),
    -- NULL only for notes whose author was removed (a former user).
    owner_user_id TEXT REFERENCES users (id),
    owner_is_former BOOLEAN NOT NULL DEFAULT FALSE,
    parent_kind TEXT CHECK (parent_kind IN ('LEAD', 'CONTACT')),
    parent_external_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (account_id, kind, external_id),
    CHECK ((owner_user_id IS NULL) = owner_is_former),
    CHECK (owner_user_id IS NOT NULL OR kind = 'NOTE'),
    CHECK ((kind = 'CONVERSATION') = (parent_kind IS NOT NULL AND parent_external_id IS NOT NULL))
);
-- "Every record of user X (of kind K)" at millions of rows.
CREATE INDEX work_records_owner_idx ON work_records (owner_user_id, kind, id);
CREATE INDEX work_records_parent_idx ON work_records (account_id, parent_kind, parent_external_id);

CREATE TABLE reassignments (
    id BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    record_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    from_user_id TEXT NOT NULL,
    to_user_id TEXT NOT NULL,
    job_id TEXT,
    moved_at TIMESTAMP NOT NULL
);
CREATE INDEX reassignments_from_idx ON reassignments (from_user_id, to_user_id);

-- Lets RemoveUser delete stored replies that hold the user's personal data.
ALTER TABLE idempotency_keys ADD COLUMN subject_user_id TEXT;
CREATE INDEX idempotency_keys_subject_idx ON idempotency_keys (subject_user_id);
