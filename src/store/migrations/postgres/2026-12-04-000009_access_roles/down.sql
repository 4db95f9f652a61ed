DROP INDEX users_access_role_idx;
ALTER TABLE users DROP CONSTRAINT users_account_id_access_role_id_fkey;
ALTER TABLE users DROP COLUMN access_role_id;
DROP TABLE access_roles;
