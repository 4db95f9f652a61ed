-- The extension stays: other schemas of the database may use it.
DROP INDEX users_search_trgm_idx;
DROP INDEX users_account_email_idx;
DROP INDEX users_account_name_idx;
ALTER TABLE users ALTER COLUMN email TYPE TEXT COLLATE "default";
ALTER TABLE users ALTER COLUMN search_text TYPE TEXT COLLATE "default";
