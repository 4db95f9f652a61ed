//! The account's event log.

use chrono::NaiveDateTime;

use super::records::RecordCounts;

super::named_enum! {
    pub enum EventType {
        AccountCreated,
        UserAdded,
        UserUpdated,
        UserDisabled,
        UserActivated,
        UserRemoved,
        RecordsReassigned,
        SeatsChanged,
        PlanChanged,
        Recalculation,
        GroupCreated,
        JobStateChanged,
        PasswordChanged,
        AccessRoleCreated,
        AccessRoleUpdated,
        AccessRoleDeleted,
        GroupUpdated,
        GroupDeleted,
        UserEmailChanged,
    }
}

/// An event as it was appended: `sequence` is its place in the account's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub account_id: String,
    pub sequence: i64,
    pub event_type: EventType,
    pub created_at: NaiveDateTime,
    pub actor: String,
    pub user_id: Option<String>,
    pub target_user_id: Option<String>,
    pub job_id: Option<String>,
    pub seats_before: Option<i32>,
    pub seats_after: Option<i32>,
    pub amount_minor: Option<i64>,
    pub moved: Option<RecordCounts>,
    pub detail: String,
}

/// An event before it gets its sequence number.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: EventType,
    pub actor: String,
    pub user_id: Option<String>,
    pub target_user_id: Option<String>,
    pub job_id: Option<String>,
    pub seats_before: Option<i32>,
    pub seats_after: Option<i32>,
    pub amount_minor: Option<i64>,
    pub moved: Option<RecordCounts>,
    pub detail: String,
}

impl NewEvent {
    /// An event of `event_type` by `actor`, every other field empty.
    pub fn new(event_type: EventType, actor: &str) -> Self {
        NewEvent {
            event_type,
            actor: actor.to_owned(),
            user_id: None,
            target_user_id: None,
            job_id: None,
            seats_before: None,
            seats_after: None,
            amount_minor: None,
            moved: None,
            detail: String::new(),
        }
    }
}
