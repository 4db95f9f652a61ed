-- A count of the changes to an account's users: every insert, update and
-- delete of a users row bumps it in the same transaction, whoever makes the
-- change (this process, another replica, an operator's SQL). ListUsers keeps
-- recent pages in memory and serves one again only while this count is
-- still the one read with the page.
ALTER TABLE accounts ADD COLUMN users_version BIGINT NOT NULL DEFAULT 0;

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
