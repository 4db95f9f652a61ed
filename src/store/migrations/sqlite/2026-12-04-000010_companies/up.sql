-- Companies are a record kind, and conversations can hang off a company.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt
-- with the same columns, ids and indexes (the documented 12-step way;
-- nothing references work_records, so foreign keys need no switching off).
CREATE TABLE work_records_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL CHECK (kind IN ('LEAD', 'CONTACT', 'CUSTOMER', 'TASK', 'CONVERSATION', 'NOTE', 'COMPANY')),
    external_id TEXT NOT NULL CHECK (length(external_id) BETWEEN 1 AND 128),
    -- NULL only for notes whose author was removed (a former user).
    owner_user_id TEXT REFERENCES users (id),
    owner_is_former BOOLEAN NOT NULL DEFAULT FALSE,
    parent_kind TEXT CHECK (parent_kind IN ('LEAD', 'CONTACT', 'COMPANY')),
    parent_external_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (account_id, kind, external_id),
    CHECK ((owner_user_id IS NULL) = owner_is_former),
    CHECK (owner_user_id IS NOT NULL OR kind = 'NOTE'),
    CHECK ((kind = 'CONVERSATION') = (parent_kind IS NOT NULL AND parent_external_id IS NOT NULL))
);
INSERT INTO work_records_new
    (id, account_id, kind, external_id, owner_user_id, owner_is_former,
     parent_kind, parent_external_id, created_at, updated_at)
SELECT id, account_id, kind, external_id, owner_user_id, owner_is_former,
       parent_kind, parent_external_id, created_at, updated_at
FROM work_records;
DROP TABLE work_records;
ALTER TABLE work_records_new RENAME TO work_records;
CREATE INDEX work_records_owner_idx ON work_records (owner_user_id, kind, id);
CREATE INDEX work_records_parent_idx ON work_records (account_id, parent_kind, parent_external_id);
