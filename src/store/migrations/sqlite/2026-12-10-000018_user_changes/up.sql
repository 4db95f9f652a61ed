-- Which users each change of an account's users touched, by the
-- users_version it produced: a search copy read at version V is brought up
-- to date from the rows logged after V (read again, or gone) instead of
-- reading the whole account again. The triggers that bump users_version
-- write it in the same transaction, whoever makes the change; they run per
-- row, so each version is one user's change. Each bump drops the entry
-- 1,024 versions behind: a copy further behind than that is read again
-- whole (its patch holds at most 1,024 users anyway), and the log holds at
-- most 1,024 entries per account (but for users moved between accounts by
-- hand). A version with no entry (a bump by hand) tells a reader that the
-- log is incomplete.
CREATE TABLE user_changes (
    account_id TEXT NOT NULL,
    users_version BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (account_id, users_version, user_id)
) WITHOUT ROWID;

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
    INSERT INTO user_changes (account_id, users_version, user_id)
        SELECT id, users_version, NEW.id FROM accounts WHERE id = NEW.account_id;
    DELETE FROM user_changes WHERE (account_id, users_version) IN
        (SELECT id, users_version - 1024 FROM accounts WHERE id = NEW.account_id);
END;

-- Two statements so that a user moved between accounts (SQL by hand) is
-- counted out of one and into the other; it is logged in both (gone from
-- one, arrived in the other), and one given another id under both.
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
    INSERT OR IGNORE INTO user_changes (account_id, users_version, user_id)
        SELECT a.id, a.users_version, u.id
        FROM accounts a, (SELECT OLD.id AS id UNION SELECT NEW.id) u
        WHERE a.id IN (OLD.account_id, NEW.account_id);
    DELETE FROM user_changes WHERE (account_id, users_version) IN
        (SELECT id, users_version - 1024 FROM accounts
         WHERE id IN (OLD.account_id, NEW.account_id));
END;

CREATE TRIGGER users_delete_bumps_users_version AFTER DELETE ON users
BEGIN
    UPDATE accounts SET
        users_version = users_version + 1,
        active_users = active_users - (OLD.status = 'ACTIVE'),
        inactive_users = inactive_users - (OLD.status <> 'ACTIVE')
        WHERE id = OLD.account_id;
    INSERT INTO user_changes (account_id, users_version, user_id)
        SELECT id, users_version, OLD.id FROM accounts WHERE id = OLD.account_id;
    DELETE FROM user_changes WHERE (account_id, users_version) IN
        (SELECT id, users_version - 1024 FROM accounts WHERE id = OLD.account_id);
END;
