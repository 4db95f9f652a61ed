//! The account's logs: ledger entries, events, work records, stored replies.

use chrono::NaiveDateTime;

use super::{corrupt, counts, counts_text, kind, parse};
use crate::domain::records::RecordKind;
use crate::domain::{Event, LedgerEntry, NewEvent, WorkRecord};
use crate::error::{Error, Result};
use crate::store::models::*;
use crate::store::params::{NewRecord, StoredReply};

impl TryFrom<LedgerRow> for LedgerEntry {
    type Error = Error;

    fn try_from(row: LedgerRow) -> Result<LedgerEntry> {
        let id = row.id.to_string();
        Ok(LedgerEntry {
            kind: parse("ledger_entries", &id, "kind", &row.kind)?,
            plan_before: parse("ledger_entries", &id, "plan_before", &row.plan_before)?,
            plan_after: parse("ledger_entries", &id, "plan_after", &row.plan_after)?,
            id: row.id,
            account_id: row.account_id,
            actor: row.actor,
            created_at: row.created_at,
            seats_before: row.seats_before,
            seats_after: row.seats_after,
            amount_minor: row.amount_minor,
            currency: row.currency,
            reason: row.reason,
            user_id: row.user_id,
            effective_at: row.effective_at,
        })
    }
}

pub fn new_ledger_entry(e: &LedgerEntry) -> NewLedgerEntry {
    NewLedgerEntry {
        account_id: e.account_id.clone(),
        kind: e.kind.as_str().to_owned(),
        actor: e.actor.clone(),
        created_at: e.created_at,
        seats_before: e.seats_before,
        seats_after: e.seats_after,
        plan_before: e.plan_before.as_str().to_owned(),
        plan_after: e.plan_after.as_str().to_owned(),
        amount_minor: e.amount_minor,
        currency: e.currency.clone(),
        reason: e.reason.clone(),
        user_id: e.user_id.clone(),
        effective_at: e.effective_at,
    }
}

impl TryFrom<EventRow> for Event {
    type Error = Error;

    fn try_from(row: EventRow) -> Result<Event> {
        let id = format!("{}/{}", row.account_id, row.sequence);
        let moved = match &row.moved {
            Some(json) => Some(counts("events", &id, json)?),
            None => None,
        };
        Ok(Event {
            event_type: parse("events", &id, "event_type", &row.event_type)?,
            moved,
            account_id: row.account_id,
            sequence: row.sequence,
            created_at: row.created_at,
            actor: row.actor,
            user_id: row.user_id,
            target_user_id: row.target_user_id,
            job_id: row.job_id,
            seats_before: row.seats_before,
            seats_after: row.seats_after,
            amount_minor: row.amount_minor,
            detail: row.detail,
        })
    }
}

/// The row of a new event (`sequence` is given by the insert).
pub fn event_row(account_id: &str, event: NewEvent, now: NaiveDateTime) -> EventRow {
    EventRow {
        account_id: account_id.to_owned(),
        sequence: 0,
        event_type: event.event_type.as_str().to_owned(),
        created_at: now,
        actor: event.actor,
        user_id: event.user_id,
        target_user_id: event.target_user_id,
        job_id: event.job_id,
        seats_before: event.seats_before,
        seats_after: event.seats_after,
        amount_minor: event.amount_minor,
        moved: event.moved.as_ref().map(counts_text),
        detail: event.detail,
    }
}

impl TryFrom<WorkRecordRow> for WorkRecord {
    type Error = Error;

    fn try_from(row: WorkRecordRow) -> Result<WorkRecord> {
        let id = row.id.to_string();
        let parent_kind = match &row.parent_kind {
            Some(k) => Some(kind("work_records", &id, k)?),
            None => None,
        };
        Ok(WorkRecord {
            kind: kind("work_records", &id, &row.kind)?,
            parent_kind,
            id: row.id,
            account_id: row.account_id,
            external_id: row.external_id,
            owner_user_id: row.owner_user_id,
            owner_is_former: row.owner_is_former,
            parent_external_id: row.parent_external_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub fn new_record_row(r: &NewRecord) -> NewWorkRecord {
    NewWorkRecord {
        account_id: r.account_id.clone(),
        kind: r.kind.as_str().to_owned(),
        external_id: r.external_id.clone(),
        owner_user_id: Some(r.owner_user_id.clone()),
        owner_is_former: false,
        parent_kind: r.parent.as_ref().map(|(k, _)| k.as_str().to_owned()),
        parent_external_id: r.parent.as_ref().map(|(_, id)| id.clone()),
        created_at: r.now,
        updated_at: r.now,
    }
}

/// Counts per kind from `(stored kind, count)` rows; kinds this build does
/// not know are left out.
pub fn kind_counts(rows: Vec<(String, i64)>) -> Vec<(RecordKind, i64)> {
    rows.into_iter()
        .filter_map(|(k, n)| RecordKind::from_db(&k).map(|k| (k, n)))
        .collect()
}

impl From<IdempotencyRow> for StoredReply {
    fn from(row: IdempotencyRow) -> StoredReply {
        StoredReply {
            namespace: row.namespace,
            operation: row.operation,
            request_id: row.request_id,
            fingerprint: row.fingerprint,
            response: row.response,
            created_at: row.created_at,
            subject_user_id: row.subject_user_id,
        }
    }
}

impl From<&StoredReply> for IdempotencyRow {
    fn from(r: &StoredReply) -> IdempotencyRow {
        IdempotencyRow {
            namespace: r.namespace.clone(),
            operation: r.operation.clone(),
            request_id: r.request_id.clone(),
            fingerprint: r.fingerprint.clone(),
            response: r.response.clone(),
            created_at: r.created_at,
            subject_user_id: r.subject_user_id.clone(),
        }
    }
}

pub fn journal_entry(row: RecordMoveRow) -> Result<crate::domain::records::JournalEntry> {
    Ok(crate::domain::records::JournalEntry {
        kind: kind("record_moves", &row.id.to_string(), &row.kind)?,
        record_ids: row
            .record_ids
            .split(',')
            .map(|id| {
                id.parse()
                    .map_err(|_| corrupt("record_moves", &row.id.to_string(), "record_ids"))
            })
            .collect::<Result<Vec<i64>>>()?,
        id: row.id,
        from_user_id: row.from_user_id,
        to_user_id: row.to_user_id,
        job_id: row.job_id,
        moved_at: row.moved_at,
    })
}
