-- Access roles: named rights templates of an account. A holder's
-- users.permissions is a copy of its role's, rewritten in the same
-- transaction as every edit of the role, so reading a user never joins.
CREATE TABLE access_roles (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    name_key TEXT NOT NULL,
    permissions TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (account_id, name_key),
    UNIQUE (account_id, id)
);

ALTER TABLE users ADD COLUMN access_role_id TEXT,
    ADD FOREIGN KEY (account_id, access_role_id) REFERENCES access_roles (account_id, id);
CREATE INDEX users_access_role_idx ON users (access_role_id) WHERE access_role_id IS NOT NULL;
