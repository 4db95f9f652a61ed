ALTER TABLE work_records DROP CONSTRAINT work_records_kind_check;
ALTER TABLE work_records ADD CONSTRAINT work_records_kind_check
    CHECK (kind IN ('LEAD', 'CONTACT', 'CUSTOMER', 'TASK', 'CONVERSATION', 'NOTE'));
ALTER TABLE work_records DROP CONSTRAINT work_records_parent_kind_check;
ALTER TABLE work_records ADD CONSTRAINT work_records_parent_kind_check
    CHECK (parent_kind IN ('LEAD', 'CONTACT'));
