-- Retention: the background pruner finds expired rows by these columns, in
-- small batches, oldest first. record_moves_to_idx serves the deletion of
-- journal rows that end at a removed user.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
CREATE INDEX events_created_idx ON events (created_at);
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX login_throttle_window_idx ON login_throttle (window_started_at);
CREATE INDEX record_moves_to_idx ON record_moves (to_user_id);

-- Users removed whose journal rows the pruner has yet to delete (rows that
-- start or end at them can no longer give anything back).
CREATE TABLE removed_users (
    user_id TEXT PRIMARY KEY,
    removed_at TIMESTAMP NOT NULL
);
CREATE INDEX removed_users_at_idx ON removed_users (removed_at);
