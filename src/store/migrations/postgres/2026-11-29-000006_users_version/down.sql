DROP TRIGGER users_bump_users_version ON users;
DROP FUNCTION bump_users_version();
ALTER TABLE accounts DROP COLUMN users_version;
