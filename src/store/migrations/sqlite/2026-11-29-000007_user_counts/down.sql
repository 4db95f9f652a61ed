DROP TRIGGER users_insert_bumps_users_version;
DROP TRIGGER users_update_bumps_users_version;
DROP TRIGGER users_delete_bumps_users_version;

CREATE TRIGGER users_insert_bumps_users_version AFTER INSERT ON users
BEGIN
    UPDATE accounts SET users_version = users_version + 1 WHERE id = NEW.account_id;
END;

CREATE TRIGGER users_update_bumps_users_version AFTER UPDATE ON users
BEGIN
    UPDATE accounts SET users_version = users_version + 1
        WHERE id IN (OLD.account_id, NEW.account_id);
END;

CREATE TRIGGER users_delete_bumps_users_version AFTER DELETE ON users
BEGIN
    UPDATE accounts SET users_version = users_version + 1 WHERE id = OLD.account_id;
END;

ALTER TABLE accounts DROP COLUMN inactive_users;
ALTER TABLE accounts DROP COLUMN active_users;
