DROP TRIGGER job_users_notify_update ON job_users;
DROP TRIGGER jobs_notify_update ON jobs;
DROP TRIGGER jobs_notify_insert ON jobs;
DROP TRIGGER events_notify ON events;
DROP FUNCTION roster_notify_job_accounts();
DROP FUNCTION roster_notify_accounts();
