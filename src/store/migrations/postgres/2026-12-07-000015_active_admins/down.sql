DROP INDEX IF EXISTS users_account_role_idx;
