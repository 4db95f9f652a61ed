-- Accounts, groups, users, the seat ledger, the event log and idempotency keys.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    plan TEXT NOT NULL CHECK (plan IN ('TRIAL', 'BASE', 'ADVANCED', 'PRO', 'ENTERPRISE')),
    billing_cycle TEXT NOT NULL CHECK (billing_cycle IN ('MONTHLY', 'SEMIANNUAL', 'ANNUAL')),
    seat_policy TEXT NOT NULL CHECK (seat_policy IN ('AUTO_EXPAND', 'STRICT')),
    seats_purchased INTEGER NOT NULL CHECK (seats_purchased >= 1),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    enterprise_seat_price_minor BIGINT CHECK (enterprise_seat_price_minor >= 0),
    period_start TIMESTAMP NOT NULL,
    period_end TIMESTAMP NOT NULL,
    trial_ends_at TIMESTAMP NOT NULL,
    pending_seats INTEGER CHECK (pending_seats >= 1),
    pending_effective_at TIMESTAMP,
    pending_requested_by TEXT,
    pending_requested_at TIMESTAMP,
    event_seq BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK (period_end > period_start)
);

CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    name_key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (account_id, name_key),
    UNIQUE (account_id, id)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Normalized (trimmed, lower-cased) by the service; unique across accounts.
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    group_id TEXT,
    role TEXT NOT NULL CHECK (role IN ('ADMIN', 'MEMBER')),
    permissions TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
    search_text TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    tokens_valid_after TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    disabled_at TIMESTAMP,
    FOREIGN KEY (account_id, group_id) REFERENCES groups (account_id, id),
    CHECK ((status = 'INACTIVE') = (disabled_at IS NOT NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_account_status_idx ON users (account_id, status, id);
CREATE INDEX users_account_idx ON users (account_id, id);

CREATE TABLE ledger_entries (
    id BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    seats_before INTEGER NOT NULL,
    seats_after INTEGER NOT NULL,
    plan_before TEXT NOT NULL,
    plan_after TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    user_id TEXT,
    effective_at TIMESTAMP
);
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id, id);

CREATE TABLE events (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    sequence BIGINT NOT NULL CHECK (sequence >= 1),
    event_type TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    user_id TEXT,
    target_user_id TEXT,
    job_id TEXT,
    seats_before INTEGER,
    seats_after INTEGER,
    amount_minor BIGINT,
    moved TEXT,
    detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (account_id, sequence)
);

CREATE TABLE idempotency_keys (
    namespace TEXT NOT NULL,
    operation TEXT NOT NULL,
    request_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (namespace, operation, request_id)
);
