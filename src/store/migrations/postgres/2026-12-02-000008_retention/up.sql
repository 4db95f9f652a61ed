-- Retention: the background pruner finds expired rows by these columns, in
-- small batches, oldest first. record_moves_to_idx serves the deletion of
-- journal rows that end at a removed user.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
CREATE INDEX events_created_idx ON events (created_at);
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX login_throttle_window_idx ON login_throttle (window_started_at);
CREATE INDEX record_moves_to_idx ON record_moves (to_user_id);
