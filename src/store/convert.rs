//! Rows to the domain's entities and back: the only place where stored text
//! (enumerations by name, JSON of permissions, targets and counts) is
//! parsed or written. A stored value that does not parse is corruption:
//! logged, and answered INTERNAL.

use std::str::FromStr;

use chrono::NaiveDateTime;

use super::models::*;
use super::params::{NewRecord, StoredReply};
use crate::domain::records::{RecordCounts, RecordKind, Targets};
use crate::domain::user::search_text;
use crate::domain::{
    Account, Event, Group, Job, JobUser, LedgerEntry, NewEvent, Permissions, User, WorkRecord,
};
use crate::error::{Error, Reason, Result};

/// A stored enumeration by name.
fn parse<T: FromStr>(table: &str, id: &str, column: &str, text: &str) -> Result<T> {
    text.parse().map_err(|_| corrupt(table, id, column))
}

fn corrupt(table: &str, id: &str, column: &str) -> Error {
    tracing::error!(table, id, column, "unreadable value in the database");
    Error::internal()
}

fn kind(table: &str, id: &str, text: &str) -> Result<RecordKind> {
    RecordKind::from_db(text).ok_or_else(|| corrupt(table, id, "kind"))
}

/// Per-kind counts kept as JSON (empty text: none yet).
fn counts(table: &str, id: &str, json: &str) -> Result<RecordCounts> {
    if json.is_empty() {
        return Ok(RecordCounts::default());
    }
    serde_json::from_str(json).map_err(|_| corrupt(table, id, "moved"))
}

pub fn counts_text(counts: &RecordCounts) -> String {
    counts.to_json()
}

impl TryFrom<UserRow> for User {
    type Error = Error;

    fn try_from(row: UserRow) -> Result<User> {
        let role = parse("users", &row.id, "role", &row.role)?;
        let status = parse("users", &row.id, "status", &row.status)?;
        Ok(User {
            permissions: Permissions::from_json(&row.permissions, role),
            role,
            status,
            id: row.id,
            account_id: row.account_id,
            name: row.name,
            email: row.email,
            password_hash: row.password_hash,
            group_id: row.group_id,
            version: row.version,
            tokens_valid_after: row.tokens_valid_after,
            created_at: row.created_at,
            updated_at: row.updated_at,
            disabled_at: row.disabled_at,
        })
    }
}

impl From<&User> for UserRow {
    fn from(user: &User) -> UserRow {
        UserRow {
            id: user.id.clone(),
            account_id: user.account_id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            password_hash: user.password_hash.clone(),
            group_id: user.group_id.clone(),
            role: user.role.as_str().to_owned(),
            permissions: user.permissions.to_json(),
            status: user.status.as_str().to_owned(),
            search_text: search_text(&user.name, &user.email),
            version: user.version,
            tokens_valid_after: user.tokens_valid_after,
            created_at: user.created_at,
            updated_at: user.updated_at,
            disabled_at: user.disabled_at,
        }
    }
}

pub fn users(rows: Vec<UserRow>) -> Result<Vec<User>> {
    rows.into_iter().map(User::try_from).collect()
}

pub fn user(row: Option<UserRow>) -> Result<Option<User>> {
    row.map(User::try_from).transpose()
}

pub fn profile_change(user: &User) -> UserProfileChange {
    UserProfileChange {
        name: user.name.clone(),
        group_id: user.group_id.clone(),
        role: user.role.as_str().to_owned(),
        permissions: user.permissions.to_json(),
        search_text: search_text(&user.name, &user.email),
        version: user.version,
        updated_at: user.updated_at,
    }
}

pub fn status_change(user: &User) -> UserStatusChange {
    UserStatusChange {
        status: user.status.as_str().to_owned(),
        disabled_at: user.disabled_at,
        tokens_valid_after: user.tokens_valid_after,
        version: user.version,
        updated_at: user.updated_at,
    }
}

impl TryFrom<AccountRow> for Account {
    type Error = Error;

    fn try_from(row: AccountRow) -> Result<Account> {
        Ok(Account {
            plan: parse("accounts", &row.id, "plan", &row.plan)?,
            billing_cycle: parse("accounts", &row.id, "billing_cycle", &row.billing_cycle)?,
            seat_policy: parse("accounts", &row.id, "seat_policy", &row.seat_policy)?,
            id: row.id,
            name: row.name,
            seats_purchased: row.seats_purchased,
            currency: row.currency,
            enterprise_seat_price_minor: row.enterprise_seat_price_minor,
            period_start: row.period_start,
            period_end: row.period_end,
            trial_ends_at: row.trial_ends_at,
            pending_seats: row.pending_seats,
            pending_effective_at: row.pending_effective_at,
            pending_requested_by: row.pending_requested_by,
            pending_requested_at: row.pending_requested_at,
            event_seq: row.event_seq,
            created_at: row.created_at,
            updated_at: row.updated_at,
            active_users: row.active_users,
            inactive_users: row.inactive_users,
        })
    }
}

pub fn account(row: Option<AccountRow>) -> Result<Option<Account>> {
    row.map(Account::try_from).transpose()
}

impl From<&Account> for AccountRow {
    fn from(a: &Account) -> AccountRow {
        AccountRow {
            id: a.id.clone(),
            name: a.name.clone(),
            plan: a.plan.as_str().to_owned(),
            billing_cycle: a.billing_cycle.as_str().to_owned(),
            seat_policy: a.seat_policy.as_str().to_owned(),
            seats_purchased: a.seats_purchased,
            currency: a.currency.clone(),
            enterprise_seat_price_minor: a.enterprise_seat_price_minor,
            period_start: a.period_start,
            period_end: a.period_end,
            trial_ends_at: a.trial_ends_at,
            pending_seats: a.pending_seats,
            pending_effective_at: a.pending_effective_at,
            pending_requested_by: a.pending_requested_by.clone(),
            pending_requested_at: a.pending_requested_at,
            event_seq: a.event_seq,
            created_at: a.created_at,
            updated_at: a.updated_at,
            active_users: a.active_users,
            inactive_users: a.inactive_users,
        }
    }
}

pub fn terms_change(a: &Account, now: NaiveDateTime) -> AccountTermsChange {
    AccountTermsChange {
        plan: a.plan.as_str().to_owned(),
        billing_cycle: a.billing_cycle.as_str().to_owned(),
        seat_policy: a.seat_policy.as_str().to_owned(),
        seats_purchased: a.seats_purchased,
        enterprise_seat_price_minor: a.enterprise_seat_price_minor,
        period_start: a.period_start,
        period_end: a.period_end,
        pending_seats: a.pending_seats,
        pending_effective_at: a.pending_effective_at,
        pending_requested_by: a.pending_requested_by.clone(),
        pending_requested_at: a.pending_requested_at,
        updated_at: now,
    }
}

impl From<GroupRow> for Group {
    fn from(row: GroupRow) -> Group {
        Group {
            id: row.id,
            account_id: row.account_id,
            name: row.name,
            created_at: row.created_at,
        }
    }
}

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

impl TryFrom<JobRow> for Job {
    type Error = Error;

    fn try_from(row: JobRow) -> Result<Job> {
        let targets: Targets =
            serde_json::from_str(&row.targets).map_err(|_| corrupt("jobs", &row.id, "targets"))?;
        Ok(Job {
            kind: parse("jobs", &row.id, "kind", &row.kind)?,
            state: parse("jobs", &row.id, "state", &row.state)?,
            mode: parse("jobs", &row.id, "mode", &row.mode)?,
            moved: counts("jobs", &row.id, &row.moved)?,
            targets,
            id: row.id,
            account_id: row.account_id,
            created_by: row.created_by,
            request_id: row.request_id,
            records_total: row.records_total,
            records_moved: row.records_moved,
            cancel_requested: row.cancel_requested,
            lease_owner: row.lease_owner,
            lease_expires_at: row.lease_expires_at,
            error_message: row.error_message,
            created_at: row.created_at,
            updated_at: row.updated_at,
            finished_at: row.finished_at,
        })
    }
}

pub fn job(row: Option<JobRow>) -> Result<Option<Job>> {
    row.map(Job::try_from).transpose()
}

pub fn jobs(rows: Vec<JobRow>) -> Result<Vec<Job>> {
    rows.into_iter().map(Job::try_from).collect()
}

/// The stored text of a job's targets (also what a retried bulk call is
/// compared by).
pub fn targets_text(targets: &Targets) -> String {
    serde_json::to_string(targets).unwrap_or_default()
}

impl From<&Job> for JobRow {
    fn from(j: &Job) -> JobRow {
        JobRow {
            id: j.id.clone(),
            account_id: j.account_id.clone(),
            kind: j.kind.as_str().to_owned(),
            state: j.state.as_str().to_owned(),
            mode: j.mode.as_str().to_owned(),
            targets: targets_text(&j.targets),
            created_by: j.created_by.clone(),
            request_id: j.request_id.clone(),
            records_total: j.records_total,
            records_moved: j.records_moved,
            moved: counts_text(&j.moved),
            cancel_requested: j.cancel_requested,
            lease_owner: j.lease_owner.clone(),
            lease_expires_at: j.lease_expires_at,
            error_message: j.error_message.clone(),
            created_at: j.created_at,
            updated_at: j.updated_at,
            finished_at: j.finished_at,
        }
    }
}

impl TryFrom<JobUserRow> for JobUser {
    type Error = Error;

    fn try_from(row: JobUserRow) -> Result<JobUser> {
        let id = format!("{}/{}", row.job_id, row.position);
        let reason = if row.reason.is_empty() {
            None
        } else {
            Some(
                Reason::from_name(&row.reason)
                    .ok_or_else(|| corrupt("job_users", &id, "reason"))?,
            )
        };
        Ok(JobUser {
            outcome: parse("job_users", &id, "outcome", &row.outcome)?,
            moved: counts("job_users", &id, &row.moved)?,
            reason,
            job_id: row.job_id,
            position: row.position,
            user_id: row.user_id,
            message: row.message,
        })
    }
}

pub fn job_users(rows: Vec<JobUserRow>) -> Result<Vec<JobUser>> {
    rows.into_iter().map(JobUser::try_from).collect()
}

impl From<&JobUser> for JobUserRow {
    fn from(u: &JobUser) -> JobUserRow {
        JobUserRow {
            job_id: u.job_id.clone(),
            position: u.position,
            user_id: u.user_id.clone(),
            outcome: u.outcome.as_str().to_owned(),
            reason: u.reason.map(|r| r.as_str().to_owned()).unwrap_or_default(),
            message: u.message.clone(),
            moved: counts_text(&u.moved),
        }
    }
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
