-- Companies are a record kind, and conversations can hang off a company.
-- The new checks allow a superset of the old values: NOT VALID skips the
-- scan under the ACCESS EXCLUSIVE lock; VALIDATE scans under a lock that
-- lets reads and writes go on.
ALTER TABLE work_records DROP CONSTRAINT work_records_kind_check;
ALTER TABLE work_records ADD CONSTRAINT work_records_kind_check
    CHECK (kind IN ('LEAD', 'CONTACT', 'CUSTOMER', 'TASK', 'CONVERSATION', 'NOTE', 'COMPANY')) NOT VALID;
ALTER TABLE work_records DROP CONSTRAINT work_records_parent_kind_check;
ALTER TABLE work_records ADD CONSTRAINT work_records_parent_kind_check
    CHECK (parent_kind IN ('LEAD', 'CONTACT', 'COMPANY')) NOT VALID;
ALTER TABLE work_records VALIDATE CONSTRAINT work_records_kind_check;
ALTER TABLE work_records VALIDATE CONSTRAINT work_records_parent_kind_check;
