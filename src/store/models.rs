//! Rows as they are stored. Enumerations are kept as their stored text; the
//! CHECK constraints of the migrations guarantee the values.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{accounts, events, groups, idempotency_keys, ledger_entries, users};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
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

/// `Serialize` exists for idempotent replies; the password hash is never
/// serialized.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub email: String,
    #[serde(skip)]
    pub password_hash: String,
    pub group_id: Option<String>,
    pub role: String,
    pub permissions: String,
    pub status: String,
    pub search_text: String,
    pub version: i64,
    pub tokens_valid_after: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub disabled_at: Option<NaiveDateTime>,
}

/// The changeable part of a user, written by UpdateUser.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub struct UserProfileChange {
    pub name: String,
    pub group_id: Option<String>,
    pub role: String,
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

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
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

/// An event before it gets its sequence number.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub event_type: &'static str,
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
}

/// Filters of ListUsers, already validated.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub status: Option<&'static str>,
    pub group_id: Option<String>,
    pub role: Option<&'static str>,
    /// Lower-cased search text; `%`, `_` and `\` are escaped by the query.
    pub query: Option<String>,
}

/// Active and inactive user counts of an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserCounts {
    pub active: i64,
    pub inactive: i64,
}
