DROP INDEX record_moves_account_idx;
DROP INDEX events_target_user_idx;
DROP INDEX events_user_idx;
