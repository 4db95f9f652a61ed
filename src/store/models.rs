//! Rows as they are stored, private to the store: enumerations are kept as
//! their stored text (the CHECK constraints of the migrations guarantee the
//! values) and nested values as JSON text. `convert.rs` turns them into the
//! domain's types and back; nothing outside `store` sees a row.

use super::timestamp::{MaybeStoredTime, StoredTime};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    access_roles, accounts, events, groups, idempotency_keys, job_users, jobs, ledger_entries,
    record_moves, users, work_records,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub plan: String,
    pub billing_cycle: String,
    pub seat_policy: String,
    pub seats_purchased: i32,
    pub currency: String,
    pub enterprise_seat_price_minor: Option<i64>,
    pub period_start: NaiveDateTime,
    pub period_end: NaiveDateTime,
    pub trial_ends_at: NaiveDateTime,
    pub pending_seats: Option<i32>,
    pub pending_effective_at: Option<NaiveDateTime>,
    pub pending_requested_by: Option<String>,
    pub pending_requested_at: Option<NaiveDateTime>,
    pub event_seq: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Kept by a trigger with every change to a users row.
    pub active_users: i64,
    pub inactive_users: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = record_moves)]
pub struct RecordMoveRow {
    pub id: i64,
    pub kind: String,
    pub from_user_id: String,
    pub to_user_id: String,
    pub job_id: Option<String>,
    #[diesel(deserialize_as = StoredTime)]
    pub moved_at: NaiveDateTime,
    pub record_ids: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = access_roles)]
pub struct AccessRoleRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub name_key: String,
    pub permissions: String,
    pub version: i64,
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = StoredTime)]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = groups)]
pub struct GroupRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub name_key: String,
    pub created_at: NaiveDateTime,
}

/// `None` is inserted as NULL (no column has another default), so a batch
/// of rows is one statement on SQLite too, not one per row.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(
    table_name = users,
    check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg),
    treat_none_as_default_value = false
)]
pub struct UserRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub group_id: Option<String>,
    pub role: String,
    pub permissions: String,
    pub status: String,
    pub search_text: String,
    pub version: i64,
    #[diesel(deserialize_as = MaybeStoredTime)]
    pub tokens_valid_after: Option<NaiveDateTime>,
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = StoredTime)]
    pub updated_at: NaiveDateTime,
    #[diesel(deserialize_as = MaybeStoredTime)]
    pub disabled_at: Option<NaiveDateTime>,
    pub access_role_id: Option<String>,
}

/// The changeable part of a user, written by UpdateUser.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub struct UserProfileChange {
    pub name: String,
    pub group_id: Option<String>,
    pub role: String,
    pub access_role_id: Option<String>,
    pub permissions: String,
    pub search_text: String,
    pub version: i64,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ledger_entries)]
pub struct LedgerRow {
    pub id: i64,
    pub account_id: String,
    pub kind: String,
    pub actor: String,
    pub created_at: NaiveDateTime,
    pub seats_before: i32,
    pub seats_after: i32,
    pub plan_before: String,
    pub plan_after: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: String,
    pub user_id: Option<String>,
    pub effective_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = ledger_entries)]
pub struct NewLedgerEntry {
    pub account_id: String,
    pub kind: String,
    pub actor: String,
    pub created_at: NaiveDateTime,
    pub seats_before: i32,
    pub seats_after: i32,
    pub plan_before: String,
    pub plan_after: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: String,
    pub user_id: Option<String>,
    pub effective_at: Option<NaiveDateTime>,
}

/// `None` is inserted as NULL, as for [`UserRow`].
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
pub struct EventRow {
    pub account_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub created_at: NaiveDateTime,
    pub actor: String,
    pub user_id: Option<String>,
    pub target_user_id: Option<String>,
    pub job_id: Option<String>,
    pub seats_before: Option<i32>,
    pub seats_after: Option<i32>,
    pub amount_minor: Option<i64>,
    pub moved: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyRow {
    pub namespace: String,
    pub operation: String,
    pub request_id: String,
    pub fingerprint: String,
    pub response: Vec<u8>,
    pub created_at: NaiveDateTime,
    /// The user whose personal data the reply holds (deleted with it).
    pub subject_user_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = work_records)]
pub struct WorkRecordRow {
    pub id: i64,
    pub account_id: String,
    pub kind: String,
    pub external_id: String,
    pub owner_user_id: Option<String>,
    pub owner_is_former: bool,
    pub parent_kind: Option<String>,
    pub parent_external_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What follows the record rows' INSERT on both backends: a row whose key
/// is taken re-points that record instead, and every row answers its
/// record's id.
pub(super) const RECORD_UPSERT_TAIL: &str = " ON CONFLICT (account_id, kind, external_id) DO UPDATE \
     SET owner_user_id = excluded.owner_user_id, owner_is_former = FALSE, \
     updated_at = excluded.updated_at RETURNING id";

/// `None` is written as NULL (not DEFAULT), which lets SQLite batch-insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = work_records, treat_none_as_default_value = false)]
pub struct NewWorkRecord {
    pub account_id: String,
    pub kind: String,
    pub external_id: String,
    pub owner_user_id: Option<String>,
    pub owner_is_former: bool,
    pub parent_kind: Option<String>,
    pub parent_external_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A status change of a user (disable or reactivate).
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub struct UserStatusChange {
    pub status: String,
    pub disabled_at: Option<NaiveDateTime>,
    /// Tokens issued before this stop working (None keeps the old value).
    #[diesel(treat_none_as_null = false)]
    pub tokens_valid_after: Option<NaiveDateTime>,
    pub version: i64,
    pub updated_at: NaiveDateTime,
}

/// Plan, period, seats, policy and pending change of an account, written
/// together.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = accounts, treat_none_as_null = true)]
pub struct AccountTermsChange {
    pub plan: String,
    pub billing_cycle: String,
    pub seat_policy: String,
    pub seats_purchased: i32,
    pub enterprise_seat_price_minor: Option<i64>,
    pub period_start: NaiveDateTime,
    pub period_end: NaiveDateTime,
    pub pending_seats: Option<i32>,
    pub pending_effective_at: Option<NaiveDateTime>,
    pub pending_requested_by: Option<String>,
    pub pending_requested_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = jobs, treat_none_as_default_value = false)]
pub struct JobRow {
    pub id: String,
    pub account_id: String,
    pub kind: String,
    pub state: String,
    pub mode: String,
    /// JSON of the reassignment targets.
    pub targets: String,
    pub created_by: String,
    pub request_id: Option<String>,
    pub records_total: i64,
    pub records_moved: i64,
    /// JSON of the per-kind counts moved so far.
    pub moved: String,
    pub cancel_requested: bool,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<NaiveDateTime>,
    pub error_message: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = job_users)]
pub struct JobUserRow {
    pub job_id: String,
    pub position: i32,
    pub user_id: String,
    pub outcome: String,
    pub reason: String,
    pub message: String,
    /// JSON of the per-kind counts moved away from this user so far.
    pub moved: String,
}
