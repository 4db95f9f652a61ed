DROP TRIGGER users_search_insert;
DROP TRIGGER users_search_delete;
DROP TRIGGER users_search_update;
DROP TABLE users_search_rows;

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
