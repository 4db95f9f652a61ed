DROP TABLE removed_users;
DROP INDEX record_moves_to_idx;
DROP INDEX login_throttle_window_idx;
DROP INDEX jobs_finished_idx;
DROP INDEX events_created_idx;
DROP INDEX idempotency_keys_created_idx;
