-- Back to 2026-11-29-000007_user_counts's triggers.
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

DROP TABLE user_changes;
