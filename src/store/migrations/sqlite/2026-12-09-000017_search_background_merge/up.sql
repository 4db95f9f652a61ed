-- FTS5 merges users_search's segments inside the writes that add them
-- (`automerge`, 4 by default): a rename whose write reaches a level holding
-- the entries of many users (the trigrams of an email domain: one entry per
-- user) rewrites their lists in that commit, 5-20 ms at 100,000 users, and
-- every write behind it waits. With 0 a write merges nothing; the server
-- merges in small steps while its writer is idle (store/search_merge.rs),
-- and FTS5's crisis merge (16 segments on one level) still bounds the
-- segments if the writer is never idle.
INSERT INTO users_search (users_search, rank) VALUES ('automerge', 0);
