DROP TRIGGER users_search_update;
DROP TRIGGER users_search_delete;
DROP TRIGGER users_search_insert;
DROP TABLE users_search;
CREATE INDEX users_account_idx ON users (account_id, id);
DROP INDEX users_account_search_idx;
DROP INDEX users_account_email_idx;
DROP INDEX users_account_name_idx;
