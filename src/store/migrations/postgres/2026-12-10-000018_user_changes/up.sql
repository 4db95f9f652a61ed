-- Which users each change of an account's users touched, by the
-- users_version it produced: a search copy read at version V is brought up
-- to date from the rows logged after V (read again, or gone) instead of
-- reading the whole account again. The triggers that bump users_version
-- write it, under the account row's lock, so an account's entries are
-- logged in the order their changes commit, whoever makes them. Each bump
-- drops the entries 1,024 versions behind: a copy further behind than that
-- is read again whole (its patch holds at most 1,024 users anyway), and so
-- is one behind a statement that changed more than 1,024 of the account's
-- users, logged as one entry with an empty user id (an import does not
-- write its rows twice). A version with no entry (a bump by hand) tells a
-- reader that the log is incomplete.
CREATE TABLE user_changes (
    account_id TEXT NOT NULL,
    users_version BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (account_id, users_version, user_id)
);

CREATE OR REPLACE FUNCTION users_statement_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH bumped AS (
            UPDATE accounts a SET
                users_version = a.users_version + 1,
                active_users = a.active_users + d.active,
                inactive_users = a.inactive_users + d.inactive
            FROM (SELECT account_id,
                         count(*) FILTER (WHERE status = 'ACTIVE') AS active,
                         count(*) FILTER (WHERE status <> 'ACTIVE') AS inactive
                  FROM new_users GROUP BY account_id) d
            WHERE a.id = d.account_id
            RETURNING a.id, a.users_version, d.active + d.inactive AS touched
        ), logged AS (
            INSERT INTO user_changes (account_id, users_version, user_id)
            SELECT b.id, b.users_version, n.id
            FROM bumped b JOIN new_users n ON n.account_id = b.id WHERE b.touched <= 1024
            UNION ALL SELECT b.id, b.users_version, '' FROM bumped b WHERE b.touched > 1024
        )
        DELETE FROM user_changes c USING bumped b
        WHERE c.account_id = b.id AND c.users_version = b.users_version - 1024;
    ELSIF TG_OP = 'DELETE' THEN
        WITH bumped AS (
            UPDATE accounts a SET
                users_version = a.users_version + 1,
                active_users = a.active_users - d.active,
                inactive_users = a.inactive_users - d.inactive
            FROM (SELECT account_id,
                         count(*) FILTER (WHERE status = 'ACTIVE') AS active,
                         count(*) FILTER (WHERE status <> 'ACTIVE') AS inactive
                  FROM old_users GROUP BY account_id) d
            WHERE a.id = d.account_id
            RETURNING a.id, a.users_version, d.active + d.inactive AS touched
        ), logged AS (
            INSERT INTO user_changes (account_id, users_version, user_id)
            SELECT b.id, b.users_version, o.id
            FROM bumped b JOIN old_users o ON o.account_id = b.id WHERE b.touched <= 1024
            UNION ALL SELECT b.id, b.users_version, '' FROM bumped b WHERE b.touched > 1024
        )
        DELETE FROM user_changes c USING bumped b
        WHERE c.account_id = b.id AND c.users_version = b.users_version - 1024;
    ELSE
        -- A user moved between accounts (by hand) is logged in both: gone
        -- from one, arrived in the other; one given another id, under both.
        WITH bumped AS (
            UPDATE accounts a SET
                users_version = a.users_version + 1,
                active_users = a.active_users + d.active,
                inactive_users = a.inactive_users + d.inactive
            FROM (SELECT account_id, sum(active) AS active, sum(inactive) AS inactive,
                         count(DISTINCT id) AS touched
                  FROM (SELECT account_id, id,
                               (status = 'ACTIVE')::int AS active,
                               (status <> 'ACTIVE')::int AS inactive
                        FROM new_users
                        UNION ALL
                        SELECT account_id, id,
                               -(status = 'ACTIVE')::int,
                               -(status <> 'ACTIVE')::int
                        FROM old_users) changes
                  GROUP BY account_id) d
            WHERE a.id = d.account_id
            RETURNING a.id, a.users_version, d.touched
        ), logged AS (
            INSERT INTO user_changes (account_id, users_version, user_id)
            SELECT b.id, b.users_version, t.id
            FROM bumped b JOIN (SELECT account_id, id FROM new_users
                                UNION SELECT account_id, id FROM old_users) t
                ON t.account_id = b.id
            WHERE b.touched <= 1024
            UNION ALL SELECT b.id, b.users_version, '' FROM bumped b WHERE b.touched > 1024
        )
        DELETE FROM user_changes c USING bumped b
        WHERE c.account_id = b.id AND c.users_version = b.users_version - 1024;
    END IF;
    RETURN NULL;
END
$$;
