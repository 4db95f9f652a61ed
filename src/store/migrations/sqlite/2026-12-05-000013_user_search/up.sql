-- ListUsers' text search and orders without reading the whole account.
-- Each index holds the searched text, so a search tries it on the index
-- entries and reads only the rows it keeps: a read connection's page cache
-- is small, and reading every row it tries (each ~600 bytes, most of them
-- rights) from the file cost 14% of a search's CPU in copies alone at
-- 100,000 users. (account_id, id, search_text) replaces (account_id, id).
CREATE INDEX users_account_name_idx ON users (account_id, search_text);
CREATE INDEX users_account_email_idx ON users (account_id, email, search_text);
CREATE INDEX users_account_search_idx ON users (account_id, id, search_text);
DROP INDEX users_account_idx;

-- An FTS5 trigram table narrows `search_text LIKE '%…%'` (3+ characters)
-- to the users whose text holds every trigram of the query; the LIKE still
-- decides each row. It keeps its own copy of the text and its own rowids
-- (a VACUUM may renumber the rowids of `users`, whose key is text), and
-- finds a user's entry to drop by the user's whole text.
CREATE VIRTUAL TABLE users_search USING fts5(search_text, user_id UNINDEXED, tokenize = 'trigram');
INSERT INTO users_search (search_text, user_id) SELECT search_text, id FROM users;

CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (search_text, user_id) VALUES (new.search_text, new.id);
END;

CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    DELETE FROM users_search
    WHERE users_search MATCH '"' || replace(old.search_text, '"', '""') || '"'
      AND user_id = old.id;
END;

CREATE TRIGGER users_search_update AFTER UPDATE OF id, search_text ON users
WHEN old.id IS NOT new.id OR old.search_text IS NOT new.search_text BEGIN
    DELETE FROM users_search
    WHERE users_search MATCH '"' || replace(old.search_text, '"', '""') || '"'
      AND user_id = old.id;
    INSERT INTO users_search (search_text, user_id) VALUES (new.search_text, new.id);
END;
