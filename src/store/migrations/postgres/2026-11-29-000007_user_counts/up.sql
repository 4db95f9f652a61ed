-- The account's active and inactive users, kept by the trigger that bumps
-- users_version, in the same transaction as every change to a users row
-- (whoever makes it). Seat checks read them from the account row they lock
-- instead of counting the account's users: O(1) however large the account.
ALTER TABLE accounts ADD COLUMN active_users BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN inactive_users BIGINT NOT NULL DEFAULT 0;

UPDATE accounts SET
    active_users = (SELECT count(*) FROM users
                    WHERE users.account_id = accounts.id AND users.status = 'ACTIVE'),
    inactive_users = (SELECT count(*) FROM users
                      WHERE users.account_id = accounts.id AND users.status <> 'ACTIVE');

CREATE OR REPLACE FUNCTION bump_users_version() RETURNS trigger LANGUAGE plpgsql AS $$
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
