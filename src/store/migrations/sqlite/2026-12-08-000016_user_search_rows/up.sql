-- Each user's entry in users_search by its rowid. The triggers found the
-- entry to drop by matching the user's whole text, which reads the lists of
-- trigrams nearly every user shares (an email's domain: "exa", "amp", …):
-- about 2 ms per rename or removal at 100,000 users, growing with the users
-- in the file. By rowid it is a lookup (0.3 ms, whatever the size).
CREATE TABLE users_search_rows (
    user_id TEXT PRIMARY KEY NOT NULL,
    search_rowid INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO users_search_rows (user_id, search_rowid)
SELECT user_id, rowid FROM users_search;

DROP TRIGGER users_search_insert;
DROP TRIGGER users_search_delete;
DROP TRIGGER users_search_update;

-- Inside a trigger, last_insert_rowid() is the rowid of the trigger's own
-- last insert.
CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (search_text, user_id) VALUES (new.search_text, new.id);
    INSERT INTO users_search_rows (user_id, search_rowid) VALUES (new.id, last_insert_rowid());
END;

CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    DELETE FROM users_search
    WHERE rowid = (SELECT search_rowid FROM users_search_rows WHERE user_id = old.id);
    DELETE FROM users_search_rows WHERE user_id = old.id;
END;

CREATE TRIGGER users_search_update AFTER UPDATE OF id, search_text ON users
WHEN old.id IS NOT new.id OR old.search_text IS NOT new.search_text BEGIN
    UPDATE users_search SET search_text = new.search_text, user_id = new.id
    WHERE rowid = (SELECT search_rowid FROM users_search_rows WHERE user_id = old.id);
    UPDATE users_search_rows SET user_id = new.id WHERE user_id = old.id AND new.id IS NOT old.id;
END;
