//! The store's contract: every query Roster runs, over the domain's types.

use std::future::Future;

use chrono::NaiveDateTime;

use super::params::*;
use crate::domain::account::UserCounts;
use crate::domain::{AccessRole, Account, Group, LedgerEntry, User};
use crate::error::Result;

mod work;
pub use work::{EventQueries, JobQueries, RecordQueries, ReplyQueries};

/// The reads of users that every call makes (a user token's own row) or
/// that are hot (GetUser, ListUsers). Besides both backends' connections,
/// implemented for a shared PostgreSQL connection (`&PgConn`, see
/// [`pipelined`]), which takes them through the store's user reads (`users.rs`).
pub trait UserReads: Send {
    /// A user by id in any account (authentication of user tokens).
    fn find_user_by_id(
        &mut self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<User>>> + Send;
    /// A user of one account (GetUser for a caller already authenticated).
    fn find_user(
        &mut self,
        account_id: &str,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<User>>> + Send;
    /// Up to two users of an account in one query: a user token's own row
    /// (to authenticate it) and the row the call asks for.
    fn find_caller_and_user(
        &mut self,
        account_id: &str,
        caller_id: &str,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<User>>> + Send;
    /// A user by id with its account's `users_version`, in one statement.
    fn find_user_with_users_version(
        &mut self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<(User, i64)>>> + Send;
    /// An account's `users_version` (None: no such account).
    fn find_users_version(
        &mut self,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<i64>>> + Send;
    /// Users in `filter.order` after the key `after` (see
    /// [`UserOrder::key`](crate::store::UserOrder::key)), at most `limit`, with
    /// the account's `users_version` read in the same statement.
    fn list_users(
        &mut self,
        account_id: &str,
        filter: &UserFilter,
        after: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<UsersAtVersion>> + Send;
    /// A user token's own row (to authenticate it) and a page of
    /// [`UserReads::list_users`], from one connection: one after the other
    /// here; on a shared PostgreSQL connection both go out back to back, so
    /// the caller waits for one round trip instead of two.
    fn find_caller_and_list_users(
        &mut self,
        caller_id: &str,
        account_id: &str,
        filter: &UserFilter,
        after: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<(Option<User>, UsersAtVersion)>> + Send {
        async move {
            let caller = self.find_user_by_id(caller_id).await?;
            let page = self.list_users(account_id, filter, after, limit).await?;
            Ok((caller, page))
        }
    }
}

/// Accounts, their terms and user counts, and the billing ledger.
pub trait AccountQueries: Send {
    /// Locks the account for the rest of the transaction and returns it.
    fn lock_account(&mut self, id: &str) -> impl Future<Output = Result<Option<Account>>> + Send;
    fn find_account(&mut self, id: &str) -> impl Future<Output = Result<Option<Account>>> + Send;
    fn insert_account(&mut self, account: &Account) -> impl Future<Output = Result<()>> + Send;
    fn set_seats_purchased(
        &mut self,
        account_id: &str,
        seats: i32,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Writes plan, period, seats, policy and pending change of `account`.
    fn save_account_terms(
        &mut self,
        account: &Account,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Accounts (not on trial) whose period ended at `now`.
    fn accounts_due_for_rollover(
        &mut self,
        now: NaiveDateTime,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    fn count_users(&mut self, account_id: &str) -> impl Future<Output = Result<UserCounts>> + Send;
    fn insert_ledger_entry(
        &mut self,
        entry: &LedgerEntry,
    ) -> impl Future<Output = Result<LedgerEntry>> + Send;
    /// Ledger entries, newest first, with id below `before_id`.
    fn list_ledger(
        &mut self,
        account_id: &str,
        before_id: Option<i64>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>>> + Send;
}

/// Writes and lookups of users beyond the hot reads, and the login throttle.
pub trait UserQueries: Send {
    fn email_taken(&mut self, email: &str) -> impl Future<Output = Result<bool>> + Send;
    /// Duplicate: the email is taken (in any account).
    fn insert_user(&mut self, user: &User) -> impl Future<Output = Result<Insert>> + Send;
    /// Inserts users whose email is free, in as few statements as the
    /// backend allows; a user whose email is taken (in any account) is
    /// skipped. Returns the ids of the users inserted.
    fn insert_new_users(
        &mut self,
        users: &[&User],
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// The (normalized) emails among `emails` that a user has, in any account.
    fn taken_emails(
        &mut self,
        emails: &[String],
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// A user by (normalized) email in any account (VerifyPassword).
    fn find_user_by_email(
        &mut self,
        email: &str,
    ) -> impl Future<Output = Result<Option<User>>> + Send;
    /// Replaces a password hash; `revoke` also ends tokens issued before now.
    fn set_password_hash(
        &mut self,
        user_id: &str,
        password_hash: &str,
        revoke: bool,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Writes name, group, role, permissions, version and update time.
    fn update_user_profile(&mut self, user: &User) -> impl Future<Output = Result<()>> + Send;
    /// Writes email (and what is searched), token revocation time, version
    /// and update time. Duplicate: the email is taken.
    fn set_user_email(&mut self, user: &User) -> impl Future<Output = Result<Insert>> + Send;
    fn count_active_admins(&mut self, account_id: &str)
    -> impl Future<Output = Result<i64>> + Send;
    /// Writes status, disable time, token revocation time (None keeps the
    /// stored one), version and update time.
    fn set_user_status(&mut self, user: &User) -> impl Future<Output = Result<()>> + Send;
    /// Deletes a user, and queues the journal rows that start or end at it
    /// for the pruner: they can no longer give anything back.
    fn delete_user(
        &mut self,
        user_id: &str,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The users of the account among `user_ids`, in no order.
    fn find_users(
        &mut self,
        account_id: &str,
        user_ids: &[String],
    ) -> impl Future<Output = Result<Vec<User>>> + Send;
    /// Up to `limit` users of the account after the id `after`, in id
    /// order, as the search index holds them, each with the account's
    /// `users_version` read in the same statement.
    fn find_search_entries(
        &mut self,
        account_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<(SearchEntry, Option<i64>)>>> + Send;
    /// The changes logged for the account after `after_version` (see the
    /// `user_changes` migration): up to `limit` of (the version a change
    /// produced, a user it touched), in version order, with the account's
    /// `users_version` read in the same statement (None: no such account).
    fn find_user_changes(
        &mut self,
        account_id: &str,
        after_version: i64,
        limit: i64,
    ) -> impl Future<Output = Result<LoggedChanges>> + Send;
    /// The users of the account among `user_ids`, in id order, as the
    /// search index holds them, with the account's `users_version` read in
    /// the same statement (None: no such account).
    fn find_search_entries_of(
        &mut self,
        account_id: &str,
        user_ids: &[String],
    ) -> impl Future<Output = Result<(Vec<SearchEntry>, Option<i64>)>> + Send;
    /// Ids among `user_ids` that are users of the account.
    fn existing_user_ids(
        &mut self,
        account_id: &str,
        user_ids: &[String],
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// The throttle row of an email, locked for this transaction (created
    /// empty when missing, so two replicas count on the same row).
    fn lock_login_throttle(
        &mut self,
        email: &str,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<crate::domain::login::ThrottleState>> + Send;
    fn save_login_throttle(
        &mut self,
        email: &str,
        state: &crate::domain::login::ThrottleState,
    ) -> impl Future<Output = Result<()>> + Send;
    fn clear_login_throttle(&mut self, email: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Groups of users.
pub trait GroupQueries: Send {
    /// Duplicate: the account has a group of that name key.
    fn insert_group(&mut self, group: &Group) -> impl Future<Output = Result<Insert>> + Send;
    fn group_exists(
        &mut self,
        account_id: &str,
        group_id: &str,
    ) -> impl Future<Output = Result<bool>> + Send;
    fn group_name_taken(
        &mut self,
        account_id: &str,
        name_key: &str,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Groups by name key after `after_key`, at most `limit`.
    fn list_groups(
        &mut self,
        account_id: &str,
        after_key: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Group>>> + Send;
    fn find_group(
        &mut self,
        account_id: &str,
        group_id: &str,
    ) -> impl Future<Output = Result<Option<Group>>> + Send;
    /// Writes name and name key. Duplicate: another group has the key.
    fn rename_group(&mut self, group: &Group) -> impl Future<Output = Result<Insert>> + Send;
    fn delete_group(
        &mut self,
        account_id: &str,
        group_id: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Moves every user of `group_id` to `to` (None: no group), with a new
    /// version and update time each. Returns their ids.
    fn move_group_users(
        &mut self,
        account_id: &str,
        group_id: &str,
        to: Option<&str>,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
}

/// Access roles and the users holding them.
pub trait AccessRoleQueries: Send {
    /// Duplicate: the account has a role of that name key.
    fn insert_access_role(
        &mut self,
        role: &AccessRole,
    ) -> impl Future<Output = Result<Insert>> + Send;
    fn find_access_role(
        &mut self,
        account_id: &str,
        role_id: &str,
    ) -> impl Future<Output = Result<Option<AccessRole>>> + Send;
    /// Whether another role of the account (not `except_id`) has the name key.
    fn access_role_name_taken(
        &mut self,
        account_id: &str,
        name_key: &str,
        except_id: &str,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Roles by name key after `after_key`, at most `limit`.
    fn list_access_roles(
        &mut self,
        account_id: &str,
        after_key: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<AccessRole>>> + Send;
    /// Writes name, name key, permissions, version and update time.
    fn update_access_role(&mut self, role: &AccessRole) -> impl Future<Output = Result<()>> + Send;
    fn delete_access_role(
        &mut self,
        account_id: &str,
        role_id: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// How many users hold each of `role_ids` (roles no one holds are left out).
    fn count_role_holders(
        &mut self,
        account_id: &str,
        role_ids: &[String],
    ) -> impl Future<Output = Result<Vec<(String, i64)>>> + Send;
    /// Gives every holder of `role_id` the role `to`: its id and
    /// permissions, a new version and update time. Returns the holders' ids.
    fn move_role_holders(
        &mut self,
        account_id: &str,
        role_id: &str,
        to: &AccessRole,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
}

/// Deleting what has outlived its retention, a batch per transaction.
///
/// A batch's `limit` bounds the work of its transaction, which on SQLite
/// holds the only writer (every other write waits for it): rows that carry
/// many others count as many. Each batch deletes at least one row.
pub trait RetentionQueries: Send {
    /// Deletes at most about `limit` of the oldest stored replies created
    /// before `before` (rows created in the same instant go together).
    fn prune_idempotency_keys(
        &mut self,
        before: NaiveDateTime,
        limit: i64,
    ) -> impl Future<Output = Result<PrunedBatch>> + Send;
    /// As [`Repo::prune_idempotency_keys`], for events.
    fn prune_events(
        &mut self,
        before: NaiveDateTime,
        limit: i64,
    ) -> impl Future<Output = Result<PrunedBatch>> + Send;
    /// Deletes jobs finished before `before`, oldest first, with their
    /// per-user rows, until `limit` rows are gone (a job and its users
    /// count as one row each).
    fn prune_finished_jobs(
        &mut self,
        before: NaiveDateTime,
        limit: i64,
    ) -> impl Future<Output = Result<PrunedBatch>> + Send;
    /// Deletes journal rows of removed users, oldest removal first, until
    /// the rows deleted carry `limit` records (a row of a 1,000-record
    /// batch counts 1,000: its id list is what the deletion writes); a user
    /// whose rows are all gone leaves the queue.
    fn prune_journal(&mut self, limit: i64) -> impl Future<Output = Result<PrunedBatch>> + Send;
    /// Deletes up to `limit` throttle rows whose window started before
    /// `window_before` and that are not locked at `now`.
    fn prune_login_throttle(
        &mut self,
        window_before: NaiveDateTime,
        now: NaiveDateTime,
        limit: i64,
    ) -> impl Future<Output = Result<PrunedBatch>> + Send;
}

/// Every query Roster runs, implemented for both backends' connections by
/// `queries/` and for [`Tx`](super::Tx); the use cases run it inside
/// [`Store::read`](super::Store::read) and [`Store::write`](super::Store::write).
pub trait Repo:
    UserReads
    + AccountQueries
    + UserQueries
    + RecordQueries
    + JobQueries
    + EventQueries
    + ReplyQueries
    + GroupQueries
    + AccessRoleQueries
    + RetentionQueries
{
}

impl<T> Repo for T where
    T: UserReads
        + AccountQueries
        + UserQueries
        + RecordQueries
        + JobQueries
        + EventQueries
        + ReplyQueries
        + GroupQueries
        + AccessRoleQueries
        + RetentionQueries
{
}
