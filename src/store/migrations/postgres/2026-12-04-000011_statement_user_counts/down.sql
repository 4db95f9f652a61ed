-- Back to the row trigger of 2026-11-29-000007_user_counts.
DROP TRIGGER users_inserted_counts ON users;
DROP TRIGGER users_updated_counts ON users;
DROP TRIGGER users_deleted_counts ON users;
DROP FUNCTION users_statement_counts();

CREATE FUNCTION bump_users_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The common case, one statement: a user changed within its account.
    IF TG_OP = 'UPDATE' AND NEW.account_id = OLD.account_id THEN
        UPDATE accounts SET
            users_version = users_version + 1,
            active_users = active_users
                + (NEW.status = 'ACTIVE')::int - (OLD.status = 'ACTIVE')::int,
            inactive_users = inactive_users
                + (NEW.status <> 'ACTIVE')::int - (OLD.status <> 'ACTIVE')::int
            WHERE id = NEW.account_id;
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        UPDATE accounts SET
            users_version = users_version + 1,
            active_users = active_users - (OLD.status = 'ACTIVE')::int,
            inactive_users = inactive_users - (OLD.status <> 'ACTIVE')::int
            WHERE id = OLD.account_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE accounts SET
            users_version = users_version + 1,
            active_users = active_users + (NEW.status = 'ACTIVE')::int,
            inactive_users = inactive_users + (NEW.status <> 'ACTIVE')::int
            WHERE id = NEW.account_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_bump_users_version
    AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION bump_users_version();
