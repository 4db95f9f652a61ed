CREATE OR REPLACE FUNCTION bump_users_version() RETURNS trigger LANGUAGE plpgsql AS $$
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
ALTER TABLE accounts DROP COLUMN inactive_users;
ALTER TABLE accounts DROP COLUMN active_users;
