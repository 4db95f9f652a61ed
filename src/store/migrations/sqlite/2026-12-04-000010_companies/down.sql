-- Companies cannot be represented before this migration: delete them first.
DELETE FROM work_records WHERE kind = 'COMPANY' OR parent_kind = 'COMPANY';
