-- The account's active and inactive users, kept by the triggers that bump
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

DROP TRIGGER users_insert_bumps_users_version;
DROP TRIGGER users_update_bumps_users_version;
DROP TRIGGER users_delete_bumps_users_version;

CREATE TRIGGER users_insert_bumps_users_version AFTER INSERT ON users
BEGIN
    UPDATE accounts SET
        users_version = users_version + 1,
        active_users = active_users + (NEW.status = 'ACTIVE'),
        inactive_users = inactive_users + (NEW.status <> 'ACTIVE')
        WHERE id = NEW.account_id;
END;

-- Two statements so that a user moved between accounts (SQL by hand) is
-- counted out of one and into the other.
CREATE TRIGGER users_update_bumps_users_version AFTER UPDATE ON users
BEGIN
    UPDATE accounts SET
        users_version = users_version + 1,
        active_users = active_users - (OLD.status = 'ACTIVE'),
        inactive_users = inactive_users - (OLD.status <> 'ACTIVE')
        WHERE id = OLD.account_id;
    UPDATE accounts SET
        users_version = users_version + (NEW.account_id <> OLD.account_id),
        active_users = active_users + (NEW.status = 'ACTIVE'),
        inactive_users = inactive_users + (NEW.status <> 'ACTIVE')
        WHERE id = NEW.account_id;
END;

CREATE TRIGGER users_delete_bumps_users_version AFTER DELETE ON users
BEGIN
    UPDATE accounts SET
        users_version = users_version + 1,
        active_users = active_users - (OLD.status = 'ACTIVE'),
        inactive_users = inactive_users - (OLD.status <> 'ACTIVE')
        WHERE id = OLD.account_id;
END;
