//! What the store's methods take and give besides the domain's entities:
//! filters, moves, progress and the outcomes of inserts.

use chrono::NaiveDateTime;

use crate::domain::records::{RecordCounts, RecordKind};
use crate::domain::{Role, User, UserStatus};

/// Whether an insert went in, or a row with the same unique key was there
/// (an email, a request id, a group name): the caller says what that means.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    Done,
    Duplicate,
}

/// Filters of ListEvents and StreamEvents, already validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Empty: every type.
    pub types: Vec<crate::domain::EventType>,
    /// Events whose user_id or target_user_id is this user.
    pub user_id: Option<String>,
}

impl EventFilter {
    pub fn is_empty(&self) -> bool {
        self.types.is_empty() && self.user_id.is_none()
    }

    pub fn matches(&self, event: &crate::domain::Event) -> bool {
        (self.types.is_empty() || self.types.contains(&event.event_type))
            && self.user_id.as_ref().is_none_or(|u| {
                event.user_id.as_ref() == Some(u) || event.target_user_id.as_ref() == Some(u)
            })
    }
}

/// Filters of ListReassignments, already validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoveFilter {
    pub from_user_id: Option<String>,
    pub to_user_id: Option<String>,
    pub kind: Option<crate::domain::records::RecordKind>,
    pub job_id: Option<String>,
    /// Inclusive.
    pub moved_after: Option<chrono::NaiveDateTime>,
    /// Exclusive.
    pub moved_before: Option<chrono::NaiveDateTime>,
}

/// Filters of ListUsers, already validated.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub status: Option<UserStatus>,
    pub group_id: Option<String>,
    pub role: Option<Role>,
    /// Lower-cased search text; `%`, `_` and `\` are escaped by the query.
    pub query: Option<String>,
    pub order: UserOrder,
}

/// The order of a ListUsers listing. Each is total, and its key (what a
/// page token holds) is unique, so keyset pages never skip or repeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserOrder {
    /// By id: ids are time-ordered, so this is creation order.
    #[default]
    Created,
    /// By `search_text` (the lower-cased name, a newline, the email):
    /// name order, ties broken by the unique email.
    Name,
    /// By email (unique, lower-cased).
    Email,
}

impl UserOrder {
    /// The key order as an SQL expression no index is in: sorting by it
    /// makes the planner find the rows first (by another index) and sort
    /// them after, rather than walk an index in order and filter.
    pub fn sort_expression(self) -> &'static str {
        match self {
            UserOrder::Created => "users.id || ''",
            UserOrder::Name => "users.search_text || ''",
            UserOrder::Email => "users.email || ''",
        }
    }

    /// The key of `user` in this order: a page after it starts after it.
    pub fn key(self, user: &User) -> String {
        match self {
            UserOrder::Created => user.id.clone(),
            UserOrder::Name => crate::domain::user::search_text(&user.name, &user.email),
            UserOrder::Email => user.email.clone(),
        }
    }
}

/// One ListUsers page and the account's `users_version` read in the same
/// statement (None when the page is empty).
#[derive(Debug, Clone, Default)]
pub struct UsersAtVersion {
    pub users: Vec<User>,
    pub users_version: Option<i64>,
}

/// One user as the in-memory search index holds it: the user and the
/// searched text as the database holds it.
#[derive(Debug, Clone)]
pub struct SearchEntry {
    pub search_text: String,
    pub user: User,
}

/// The changes logged for an account after a version (the `user_changes`
/// table): (the version a change made, a user it touched), in version
/// order, with the account's `users_version` read in the same statement
/// (None: no such account).
pub struct LoggedChanges {
    pub changes: Vec<(i64, String)>,
    pub users_version: Option<i64>,
}

/// Records of one kind moving from one user to another. `kind` is the kind
/// of the records, or for conversations the kind of their parent.
#[derive(Debug, Clone, Copy)]
pub struct Move<'a> {
    pub account_id: &'a str,
    pub from_user_id: &'a str,
    pub to_user_id: &'a str,
    pub kind: RecordKind,
    pub job_id: Option<&'a str>,
    pub now: NaiveDateTime,
}

/// One batch of a job's pass (see `Targets::passes`): records of `kinds`,
/// and conversations attached to a `conversation_parents` kind, move from
/// one user to another.
#[derive(Debug, Clone, Copy)]
pub struct PassMove<'a> {
    pub account_id: &'a str,
    pub from_user_id: &'a str,
    pub to_user_id: &'a str,
    pub kinds: &'a [RecordKind],
    pub conversation_parents: &'a [RecordKind],
    pub job_id: &'a str,
    pub now: NaiveDateTime,
}

/// What one batch of a pass moved, per kind, and the last id looked at
/// (None: nothing left in the pass).
#[derive(Debug, Clone, Default)]
pub struct MovedBatch {
    pub moved: RecordCounts,
    pub last: Option<i64>,
}

/// One batch of a job's progress, written with the batch's move.
#[derive(Debug, Clone)]
pub struct JobProgress<'a> {
    pub job_id: &'a str,
    pub lease_owner: &'a str,
    pub lease_expires_at: NaiveDateTime,
    pub records_moved: i64,
    pub moved: RecordCounts,
    pub now: NaiveDateTime,
}

/// A work record to register.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub account_id: String,
    pub kind: RecordKind,
    pub external_id: String,
    pub owner_user_id: String,
    pub parent: Option<(RecordKind, String)>,
    pub now: NaiveDateTime,
}

/// A stored idempotent reply: the call it answers (namespace, operation,
/// request id), a fingerprint of its arguments, and the reply itself.
#[derive(Debug, Clone)]
pub struct StoredReply {
    pub namespace: String,
    pub operation: String,
    pub request_id: String,
    pub fingerprint: String,
    pub response: Vec<u8>,
    pub created_at: NaiveDateTime,
    /// The user whose personal data the reply holds (deleted with it).
    pub subject_user_id: Option<String>,
}

/// What one pruning transaction deleted from a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrunedBatch {
    /// Rows of the table deleted (jobs, not their per-user rows).
    pub rows: usize,
    /// The batch stopped at its limit: more expired rows may be left.
    pub more: bool,
}

impl PrunedBatch {
    /// A batch of rows that each count once against `limit`.
    pub fn of_rows(rows: usize, limit: i64) -> Self {
        PrunedBatch {
            rows,
            more: rows as i64 >= limit,
        }
    }
}
