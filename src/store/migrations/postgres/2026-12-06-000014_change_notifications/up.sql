-- Commit notifications: followers (StreamEvents, WatchJob) on every replica
-- LISTEN on 'roster_changes' and read when an account of theirs changed.
-- pg_notify is delivered at commit (never for a rolled-back transaction)
-- and folds repeats of one payload within a transaction. Statement
-- triggers: one notification per account per statement, whatever the rows.

CREATE FUNCTION roster_notify_accounts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('roster_changes', account_id)
    FROM (SELECT DISTINCT account_id FROM changed_rows) AS changed;
  RETURN NULL;
END
$$;

CREATE FUNCTION roster_notify_job_accounts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('roster_changes', account_id)
    FROM (SELECT DISTINCT j.account_id
            FROM changed_rows AS c JOIN jobs AS j ON j.id = c.job_id) AS changed;
  RETURN NULL;
END
$$;

CREATE TRIGGER events_notify AFTER INSERT ON events
  REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION roster_notify_accounts();
CREATE TRIGGER jobs_notify_insert AFTER INSERT ON jobs
  REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION roster_notify_accounts();
CREATE TRIGGER jobs_notify_update AFTER UPDATE ON jobs
  REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION roster_notify_accounts();
CREATE TRIGGER job_users_notify_update AFTER UPDATE ON job_users
  REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION roster_notify_job_accounts();
