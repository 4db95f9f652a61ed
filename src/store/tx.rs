//! [`Tx`]: one connection of whichever backend the store has, handed to the
//! use cases by [`Store::read`](super::Store::read) and
//! [`Store::write`](super::Store::write). It implements the store's traits
//! by passing each call to the backend's own implementation (`queries/`,
//! compiled once per backend), so a use case is compiled once and never
//! names a backend.

use super::params::*;
use super::repo::*;
use super::{PgConn, SqliteConn};
use crate::domain::account::UserCounts;
use crate::domain::records::{JournalEntry, RecordCounts, RecordKind};
use crate::domain::{
    AccessRole, Account, Event, Group, Job, JobState, JobUser, LedgerEntry, NewEvent, User,
    WorkRecord,
};
use crate::error::Result;
use chrono::NaiveDateTime;

/// A connection of the store's backend (in a transaction when it came from
/// [`Store::write`](super::Store::write)).
pub enum Tx<'c> {
    Sqlite(&'c mut SqliteConn),
    Postgres(&'c mut PgConn),
}

/// `impl $trait for` an enum of two connections: each method calls the
/// same method of the connection the value holds.
macro_rules! delegate {
    (
        impl $trait:ident for $for:ty [$a:ident, $b:ident];
        $(fn $name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*
    ) => {
        impl $trait for $for {
            $(
                async fn $name(&mut self, $($arg: $ty),*) -> Result<$out> {
                    match self {
                        Self::$a(conn) => conn.$name($($arg),*).await,
                        Self::$b(conn) => conn.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

delegate! {
    impl UserReads for Tx<'_> [Sqlite, Postgres];
    fn find_user_by_id(user_id: &str) -> Option<User>;
    fn find_user(account_id: &str, user_id: &str) -> Option<User>;
    fn find_caller_and_user(account_id: &str, caller_id: &str, user_id: &str) -> Vec<User>;
    fn find_user_with_users_version(user_id: &str) -> Option<(User, i64)>;
    fn find_users_version(account_id: &str) -> Option<i64>;
    fn list_users(account_id: &str, filter: &UserFilter, after: Option<&str>, limit: i64) -> UsersAtVersion;
    fn find_caller_and_list_users(caller_id: &str, account_id: &str, filter: &UserFilter, after: Option<&str>, limit: i64) -> (Option<User>, UsersAtVersion);
}

delegate! {
    impl AccountQueries for Tx<'_> [Sqlite, Postgres];
    fn lock_account(id: &str) -> Option<Account>;
    fn find_account(id: &str) -> Option<Account>;
    fn insert_account(account: &Account) -> ();
    fn set_seats_purchased(account_id: &str, seats: i32, now: NaiveDateTime) -> ();
    fn save_account_terms(account: &Account, now: NaiveDateTime) -> ();
    fn accounts_due_for_rollover(now: NaiveDateTime, limit: i64) -> Vec<String>;
    fn count_users(account_id: &str) -> UserCounts;
    fn insert_ledger_entry(entry: &LedgerEntry) -> LedgerEntry;
    fn list_ledger(account_id: &str, before_id: Option<i64>, limit: i64) -> Vec<LedgerEntry>;
}

delegate! {
    impl UserQueries for Tx<'_> [Sqlite, Postgres];
    fn email_taken(email: &str) -> bool;
    fn insert_user(user: &User) -> Insert;
    fn insert_new_users(users: &[&User]) -> Vec<String>;
    fn taken_emails(emails: &[String]) -> Vec<String>;
    fn find_user_by_email(email: &str) -> Option<User>;
    fn set_password_hash(user_id: &str, password_hash: &str, revoke: bool, now: NaiveDateTime) -> ();
    fn update_user_profile(user: &User) -> ();
    fn set_user_email(user: &User) -> Insert;
    fn count_active_admins(account_id: &str) -> i64;
    fn set_user_status(user: &User) -> ();
    fn delete_user(user_id: &str, now: NaiveDateTime) -> ();
    fn find_users(account_id: &str, user_ids: &[String]) -> Vec<User>;
    fn find_search_entries(account_id: &str, after: Option<&str>, limit: i64) -> Vec<(SearchEntry, Option<i64>)>;
    fn find_user_changes(account_id: &str, after_version: i64, limit: i64) -> LoggedChanges;
    fn find_search_entries_of(account_id: &str, user_ids: &[String]) -> (Vec<SearchEntry>, Option<i64>);
    fn existing_user_ids(account_id: &str, user_ids: &[String]) -> Vec<String>;
    fn lock_login_throttle(email: &str, now: NaiveDateTime) -> crate::domain::login::ThrottleState;
    fn save_login_throttle(email: &str, state: &crate::domain::login::ThrottleState) -> ();
    fn clear_login_throttle(email: &str) -> ();
}

delegate! {
    impl RecordQueries for Tx<'_> [Sqlite, Postgres];
    fn list_journal(account_id: &str, filter: &MoveFilter, after_id: Option<i64>, limit: i64) -> Vec<JournalEntry>;
    fn external_ids(account_id: &str, ids: &[i64]) -> Vec<(i64, String)>;
    fn find_record_ids(account_id: &str, kind: RecordKind, external_ids: &[String]) -> Vec<(String, i64)>;
    fn register_records(records: &[NewRecord]) -> (i64, i64);
    fn list_records(owner_user_id: &str, kind: RecordKind, after_id: Option<i64>, limit: i64) -> Vec<WorkRecord>;
    fn count_records(owner_user_id: &str) -> RecordCounts;
    fn count_conversations_by_parent(owner_user_id: &str) -> Vec<(RecordKind, i64)>;
    fn move_records(mv: &Move<'_>) -> i64;
    fn move_conversations(mv: &Move<'_>) -> i64;
    fn journal_receivers(from_user_id: &str) -> Vec<String>;
    fn restore_records(mv: &Move<'_>) -> i64;
    fn orphan_notes(user_id: &str, now: NaiveDateTime) -> i64;
    fn move_batch(mv: &PassMove<'_>, after: i64, limit: i64) -> MovedBatch;
}

delegate! {
    impl JobQueries for Tx<'_> [Sqlite, Postgres];
    fn insert_job(job: &Job, users: &[JobUser]) -> ();
    fn find_job(account_id: &str, job_id: &str) -> Option<Job>;
    fn find_job_by_request(account_id: &str, request_id: &str) -> Option<Job>;
    fn job_users(job_id: &str) -> Vec<JobUser>;
    fn list_jobs(account_id: &str, before_id: Option<&str>, limit: i64) -> Vec<Job>;
    fn has_runnable_job(now: NaiveDateTime) -> bool;
    fn claim_job(owner: &str, lease_until: NaiveDateTime, now: NaiveDateTime) -> Option<Job>;
    fn record_job_progress(progress: &JobProgress<'_>) -> bool;
    fn set_job_user(user: &JobUser) -> ();
    fn finish_job(job_id: &str, owner: &str, state: JobState, error_message: &str, now: NaiveDateTime) -> bool;
    fn release_job(job_id: &str, owner: &str, now: NaiveDateTime) -> ();
    fn request_job_cancel(job_id: &str, now: NaiveDateTime) -> ();
    fn count_stalled_jobs(now: NaiveDateTime) -> i64;
}

delegate! {
    impl EventQueries for Tx<'_> [Sqlite, Postgres];
    fn append_event(account_id: &str, event: NewEvent, now: NaiveDateTime) -> i64;
    fn append_events(account_id: &str, events: Vec<NewEvent>, now: NaiveDateTime) -> ();
    fn list_events(account_id: &str, after: i64, limit: i64) -> Vec<Event>;
    fn list_events_matching(account_id: &str, after: i64, limit: i64, filter: &EventFilter) -> Vec<Event>;
    fn oldest_event_sequence(account_id: &str) -> Option<i64>;
}

delegate! {
    impl ReplyQueries for Tx<'_> [Sqlite, Postgres];
    fn find_idempotency_key(namespace: &str, operation: &str, request_id: &str) -> Option<StoredReply>;
    fn insert_idempotency_key(reply: &StoredReply) -> Insert;
    fn forget_replies_about(user_id: &str) -> ();
}

delegate! {
    impl GroupQueries for Tx<'_> [Sqlite, Postgres];
    fn insert_group(group: &Group) -> Insert;
    fn group_exists(account_id: &str, group_id: &str) -> bool;
    fn group_name_taken(account_id: &str, name_key: &str) -> bool;
    fn list_groups(account_id: &str, after_key: Option<&str>, limit: i64) -> Vec<Group>;
    fn find_group(account_id: &str, group_id: &str) -> Option<Group>;
    fn rename_group(group: &Group) -> Insert;
    fn delete_group(account_id: &str, group_id: &str) -> ();
    fn move_group_users(account_id: &str, group_id: &str, to: Option<&str>, now: NaiveDateTime) -> Vec<String>;
}

delegate! {
    impl AccessRoleQueries for Tx<'_> [Sqlite, Postgres];
    fn insert_access_role(role: &AccessRole) -> Insert;
    fn find_access_role(account_id: &str, role_id: &str) -> Option<AccessRole>;
    fn access_role_name_taken(account_id: &str, name_key: &str, except_id: &str) -> bool;
    fn list_access_roles(account_id: &str, after_key: Option<&str>, limit: i64) -> Vec<AccessRole>;
    fn update_access_role(role: &AccessRole) -> ();
    fn delete_access_role(account_id: &str, role_id: &str) -> ();
    fn count_role_holders(account_id: &str, role_ids: &[String]) -> Vec<(String, i64)>;
    fn move_role_holders(account_id: &str, role_id: &str, to: &AccessRole, now: NaiveDateTime) -> Vec<String>;
}

delegate! {
    impl RetentionQueries for Tx<'_> [Sqlite, Postgres];
    fn prune_idempotency_keys(before: NaiveDateTime, limit: i64) -> PrunedBatch;
    fn prune_events(before: NaiveDateTime, limit: i64) -> PrunedBatch;
    fn prune_finished_jobs(before: NaiveDateTime, limit: i64) -> PrunedBatch;
    fn prune_journal(limit: i64) -> PrunedBatch;
    fn prune_login_throttle(window_before: NaiveDateTime, now: NaiveDateTime, limit: i64) -> PrunedBatch;
}
