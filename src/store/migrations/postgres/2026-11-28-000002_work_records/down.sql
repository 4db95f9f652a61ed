DROP INDEX idempotency_keys_subject_idx;
ALTER TABLE idempotency_keys DROP COLUMN subject_user_id;
DROP TABLE reassignments;
DROP TABLE work_records;
