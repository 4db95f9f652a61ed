-- Back to 2026-12-04-000011_statement_user_counts's function.
CREATE OR REPLACE FUNCTION users_statement_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE accounts a SET
            users_version = a.users_version + 1,
            active_users = a.active_users + d.active,
            inactive_users = a.inactive_users + d.inactive
        FROM (SELECT account_id,
                     count(*) FILTER (WHERE status = 'ACTIVE') AS active,
                     count(*) FILTER (WHERE status <> 'ACTIVE') AS inactive
              FROM new_users GROUP BY account_id) d
        WHERE a.id = d.account_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE accounts a SET
            users_version = a.users_version + 1,
            active_users = a.active_users - d.active,
            inactive_users = a.inactive_users - d.inactive
        FROM (SELECT account_id,
                     count(*) FILTER (WHERE status = 'ACTIVE') AS active,
                     count(*) FILTER (WHERE status <> 'ACTIVE') AS inactive
              FROM old_users GROUP BY account_id) d
        WHERE a.id = d.account_id;
    ELSE
        UPDATE accounts a SET
            users_version = a.users_version + 1,
            active_users = a.active_users + d.active,
            inactive_users = a.inactive_users + d.inactive
        FROM (SELECT account_id, sum(active) AS active, sum(inactive) AS inactive
              FROM (SELECT account_id,
                           (status = 'ACTIVE')::int AS active,
                           (status <> 'ACTIVE')::int AS inactive
                    FROM new_users
                    UNION ALL
                    SELECT account_id,
                           -(status = 'ACTIVE')::int,
                           -(status <> 'ACTIVE')::int
                    FROM old_users) changes
              GROUP BY account_id) d
        WHERE a.id = d.account_id;
    END IF;
    RETURN NULL;
END
$$;
DROP TABLE user_changes;
