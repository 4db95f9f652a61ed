DROP TABLE idempotency_keys;
DROP TABLE events;
DROP TABLE ledger_entries;
DROP TABLE users;
DROP TABLE groups;
DROP TABLE accounts;
