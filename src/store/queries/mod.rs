//! The SQL of every store method, written once, one file per table (or
//! group of tables). This folder is compiled twice: as
//! `store::sqlite::queries` and as `store::pg::queries`. The contract with
//! the including module is explicit: it names its connection type `Conn`,
//! implements [`BackendQueries`] for it (the statements that differ between
//! backends), and defines `load_rows!` (rows built where the backend builds
//! them cheapest) and `also_for_shared_connections!` (PostgreSQL's shared
//! connections get the user reads too).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Conn;
use crate::domain::records::RecordKind;
use crate::domain::{Role, User, UserStatus};
use crate::error::Result;
use crate::store::BackendQueries;
use crate::store::convert;
use crate::store::models::*;
use crate::store::params::*;
use crate::store::repo::*;
use crate::store::schema::{
    access_roles, accounts, events, groups, idempotency_keys, job_users, jobs, ledger_entries,
    login_throttle, record_moves, removed_users, users, work_records,
};

/// Journals one move: the ids of the records that just went from
/// `mv.from_user_id` to `mv.to_user_id`, as one row.
async fn journal(conn: &mut Conn, mv: &Move<'_>, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    let record_ids = sorted
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    diesel::insert_into(record_moves::table)
        .values((
            record_moves::account_id.eq(mv.account_id),
            record_moves::kind.eq(mv.kind.as_str()),
            record_moves::from_user_id.eq(mv.from_user_id),
            record_moves::to_user_id.eq(mv.to_user_id),
            record_moves::job_id.eq(mv.job_id),
            record_moves::moved_at.eq(mv.now),
            record_moves::record_count.eq(sorted.len() as i64),
            record_moves::record_ids.eq(record_ids),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes about `$limit` of the oldest rows of `$table` whose `created_at`
/// is before `$before`: the creation time of the limit-th oldest expired row
/// bounds the batch, so one indexed statement deletes it on both backends
/// (rows created in the same instant go together).
macro_rules! prune_oldest {
    ($conn:expr, $table:ident, $before:expr, $limit:expr) => {{
        use $table::created_at;
        let bound: Option<NaiveDateTime> = $table::table
            .filter(created_at.lt($before))
            .order(created_at.asc())
            .select(created_at)
            .offset($limit.max(1) - 1)
            .limit(1)
            .first($conn)
            .await
            .optional()?;
        let expired = $table::table.filter(created_at.lt($before));
        Ok(match bound {
            Some(bound) => {
                diesel::delete(expired.filter(created_at.le(bound)))
                    .execute($conn)
                    .await?
            }
            None => diesel::delete(expired).execute($conn).await?,
        })
    }};
}

/// Parses a journal row's id list (written by [`journal`]).
fn journal_ids(text: &str) -> impl Iterator<Item = i64> + '_ {
    text.split(',').filter_map(|id| id.parse().ok())
}

/// `impl UserReads` for a connection type; written once, used for `Conn`
/// and, on PostgreSQL, for a shared connection (`&Conn`).
macro_rules! user_reads {
    (@impl [$($lt:lifetime)?] $conn:ty) => {
        impl<$($lt)?> UserReads for $conn {
            async fn find_user_by_id(&mut self, user_id: &str) -> Result<Option<User>> {
                let query = users::table
                    .find(user_id.to_owned())
                    .select(UserRow::as_select());
                convert::user(load_rows!(self, query)?.pop())
            }

            async fn find_user(
                &mut self,
                account_id: &str,
                user_id: &str,
            ) -> Result<Option<User>> {
                let query = users::table
                    .filter(users::id.eq(user_id.to_owned()))
                    .filter(users::account_id.eq(account_id.to_owned()))
                    .select(UserRow::as_select());
                convert::user(load_rows!(self, query)?.pop())
            }

            async fn find_caller_and_user(
                &mut self,
                account_id: &str,
                caller_id: &str,
                user_id: &str,
            ) -> Result<Vec<User>> {
                // Two primary-key lookups glued by UNION ALL: with `id = ? OR id = ?`
                // PostgreSQL's generic plan scans the whole account (and its custom
                // plans re-plan every call); `eq_any` defeats SQLite's statement
                // cache. This shape is planned once on both.
                let by_id = |id: &str| {
                    users::table
                        .filter(users::account_id.eq(account_id.to_owned()))
                        .filter(users::id.eq(id.to_owned()))
                        .select(UserRow::as_select())
                };
                convert::users(load_rows!(self, by_id(caller_id).union_all(by_id(user_id)))?)
            }

            async fn find_user_with_users_version(
                &mut self,
                user_id: &str,
            ) -> Result<Option<(User, i64)>> {
                let query = users::table
                    .inner_join(accounts::table)
                    .filter(users::id.eq(user_id.to_owned()))
                    .select((UserRow::as_select(), accounts::users_version));
                let found: Option<(UserRow, i64)> = load_rows!(self, query)?.pop();
                found.map(|(row, version)| Ok((User::try_from(row)?, version))).transpose()
            }

            async fn find_users_version(&mut self, account_id: &str) -> Result<Option<i64>> {
                let query = accounts::table
                    .find(account_id.to_owned())
                    .select(accounts::users_version);
                Ok(load_rows!(self, query)?.pop())
            }

            async fn list_users(
                &mut self,
                account_id: &str,
                filter: &UserFilter,
                after_id: Option<&str>,
                limit: i64,
            ) -> Result<UsersAtVersion> {
                // The version comes from the same statement (one snapshot) as
                // the rows, so a page is never kept under a later version
                // than the state it shows. A scalar subquery runs once per
                // statement (a join costs a lookup per row on PostgreSQL).
                let users_version = accounts::table
                    .filter(accounts::id.eq(account_id.to_owned()))
                    .select(accounts::users_version)
                    .single_value();
                let mut query = users::table
                    .filter(users::account_id.eq(account_id.to_owned()))
                    .select((UserRow::as_select(), users_version))
                    .order(users::id.asc())
                    .limit(limit)
                    .into_boxed();
                if let Some(status) = filter.status {
                    query = query.filter(users::status.eq(status.as_str()));
                }
                if let Some(role) = filter.role {
                    query = query.filter(users::role.eq(role.as_str()));
                }
                if let Some(group_id) = &filter.group_id {
                    query = query.filter(users::group_id.eq(group_id.clone()));
                }
                if let Some(text) = &filter.query {
                    query = query.filter(users::search_text.like(like_pattern(text)).escape('\\'));
                }
                if let Some(after) = after_id {
                    query = query.filter(users::id.gt(after.to_owned()));
                }
                // `as_slice`: on a Vec, `first` would name diesel's query method.
                let rows: Vec<(UserRow, Option<i64>)> = load_rows!(self, query)?;
                let users_version = rows.as_slice().first().and_then(|(_, version)| *version);
                Ok(UsersAtVersion {
                    users: convert::users(rows.into_iter().map(|(user, _)| user).collect())?,
                    users_version,
                })
            }

            user_reads!(@together $($lt)?);
        }
    };
    // A pooled connection: the trait's default, one query after the other.
    (@together) => {};
    // A shared (pipelined) connection: both queries in flight at once.
    (@together $lt:lifetime) => {
        async fn find_caller_and_list_users(
            &mut self,
            caller_id: &str,
            account_id: &str,
            filter: &UserFilter,
            after_id: Option<&str>,
            limit: i64,
        ) -> Result<(Option<User>, UsersAtVersion)> {
            let (mut for_caller, mut for_page) = (*self, *self);
            futures::try_join!(
                for_caller.find_user_by_id(caller_id),
                for_page.list_users(account_id, filter, after_id, limit),
            )
        }
    };
    ($conn:ty) => {
        user_reads!(@impl [] $conn);
    };
    ($conn:ty, $lt:lifetime) => {
        user_reads!(@impl [$lt] $conn);
    };
}

user_reads!(Conn);
also_for_shared_connections!(user_reads);

/// `%text%` with LIKE's special characters escaped by `\`.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// An insert's outcome: a unique-key violation is [`Insert::Duplicate`],
/// for the caller to name; any other error stays an error.
fn inserted(result: diesel::QueryResult<usize>) -> Result<Insert> {
    match result {
        Ok(_) => Ok(Insert::Done),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(Insert::Duplicate),
        Err(other) => Err(other.into()),
    }
}

mod access_role;
mod account;
mod event;
mod group;
mod job;
mod record;
mod reply;
mod retention;
mod user;
