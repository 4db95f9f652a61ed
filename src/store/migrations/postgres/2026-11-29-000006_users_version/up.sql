-- A count of the changes to an account's users: every insert, update and
-- delete of a users row bumps it in the same transaction, whoever makes the
-- change (this process, another replica, an operator's SQL). ListUsers keeps
-- recent pages in memory and serves one again only while this count is
-- still the one read with the page.
ALTER TABLE accounts ADD COLUMN users_version BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION bump_users_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE accounts SET users_version = users_version + 1 WHERE id = OLD.account_id;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.account_id <> OLD.account_id) THEN
        UPDATE accounts SET users_version = users_version + 1 WHERE id = NEW.account_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_bump_users_version
    AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION bump_users_version();
