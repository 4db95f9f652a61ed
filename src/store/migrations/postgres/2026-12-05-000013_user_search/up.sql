-- ListUsers' text search and orders without reading the whole account.
--
-- Names and emails compare byte by byte (code point order, as on SQLite),
-- whatever the database's locale: the orders and the page tokens built on
-- them are the same on both backends.
ALTER TABLE users ALTER COLUMN search_text TYPE TEXT COLLATE "C";
ALTER TABLE users ALTER COLUMN email TYPE TEXT COLLATE "C";
CREATE INDEX IF NOT EXISTS users_account_name_idx ON users (account_id, search_text);
CREATE INDEX IF NOT EXISTS users_account_email_idx ON users (account_id, email);

-- A trigram index answers `search_text LIKE '%…%'` (3+ characters) from the
-- index; the LIKE still decides each row. pg_trgm ships with PostgreSQL
-- (contrib) and is a trusted extension: the database's owner may create
-- it. Where it already exists (made by a DBA, in any schema) it is used
-- as it is. fastupdate is off: a pending list of recent inserts would be
-- read by every search until the next vacuum (one INSERT of 100,000
-- users made each search 5 ms slower); users change rarely, and each
-- write updates the index at once instead.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
DO $$
DECLARE
    trgm_schema TEXT;
BEGIN
    SELECT n.nspname INTO trgm_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS users_search_trgm_idx ON users USING gin (search_text %I.gin_trgm_ops) WITH (fastupdate = off)',
        trgm_schema
    );
END
$$;
