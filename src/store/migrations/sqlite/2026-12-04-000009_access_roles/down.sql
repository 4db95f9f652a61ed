DROP INDEX users_access_role_idx;
ALTER TABLE users DROP COLUMN access_role_id;
DROP TABLE access_roles;
