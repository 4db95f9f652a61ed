-- One person's history and an account's journal without scanning the
-- account: ListEvents and StreamEvents filtered by user (the actor or the
-- user acted on), and ListReassignments in journal order.
CREATE INDEX IF NOT EXISTS events_user_idx ON events (account_id, user_id, sequence);
CREATE INDEX IF NOT EXISTS events_target_user_idx ON events (account_id, target_user_id, sequence);
CREATE INDEX IF NOT EXISTS record_moves_account_idx ON record_moves (account_id, id);
