DROP TABLE job_users;
DROP TABLE jobs;
