//! The SQL of every store method, written once, one file per table (or
//! group of tables). This folder is compiled twice: as
//! `store::sqlite::queries` and as `store::pg::queries`. The contract with
//! the including module is explicit: it names its connection type `Conn`,
//! implements [`BackendQueries`] for it (the statements that differ between
//! backends), and defines `load_rows!` (rows built where the backend builds
//! them cheapest), `also_for_shared_connections!` (PostgreSQL's shared
//! connections get the user reads too) and `sqlite_only!` (items compiled
//! for SQLite alone: tests of its query plans).

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
    login_throttle, record_moves, removed_users, user_changes, users, work_records,
};
use crate::store::search::has_trigram;

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
        match bound {
            Some(bound) => {
                diesel::delete(expired.filter(created_at.le(bound)))
                    .execute($conn)
                    .await?
            }
            None => diesel::delete(expired).execute($conn).await?,
        }
    }};
}

/// Parses a journal row's id list (written by [`journal`]).
fn journal_ids(text: &str) -> impl Iterator<Item = i64> + '_ {
    text.split(',').filter_map(|id| id.parse().ok())
}

/// The account's `users_version` as a scalar subquery, to read in the
/// same statement (one snapshot) as rows of its users.
macro_rules! users_version_of {
    ($account_id:expr) => {
        accounts::table
            .filter(accounts::id.eq($account_id.to_owned()))
            .select(accounts::users_version)
            .single_value()
    };
}

/// A user by id and its account's `users_version`, in one statement. The
/// version is a scalar subquery, not a join: each table is then read
/// through its primary key whatever the planner's statistics say. A join's
/// order comes from them, and SQLite, with statistics taken when the
/// database held one account, read every account row on each call (see
/// `sqlite_plans`).
macro_rules! user_with_users_version {
    ($user_id:expr) => {
        users::table
            .filter(users::id.eq($user_id.to_owned()))
            .select((
                UserRow::as_select(),
                accounts::table
                    .filter(accounts::id.eq(users::account_id))
                    .select(accounts::users_version)
                    .single_value(),
            ))
    };
}

/// The users of `$account_id` that `$filter` admits (its text aside), with
/// keys of `$filter.order` in (`$after`, `$upto`], unordered, each with the
/// account's `users_version` read in the same statement (one snapshot,
/// so a page is never kept under a later version than the state it shows;
/// a scalar subquery runs once per statement, a join costs a lookup per
/// row on PostgreSQL).
///
/// `$by_index: false` writes the account and the key range as expressions
/// no index can serve (`column || ''`, same values, same collation), for a
/// statement that must start from the search index instead.
macro_rules! users_in_range {
    ($account_id:expr, $filter:expr, $after:expr, $upto:expr, $by_index:expr) => {{
        users_in_range!(@select (UserRow::as_select(), users_version_of!($account_id)),
            $account_id, $filter, $after, $upto, $by_index)
    }};
    // Only `$select` of each user (a key: an index-only read).
    (@select $select:expr, $account_id:expr, $filter:expr, $after:expr, $upto:expr, $by_index:expr) => {{
        let by_index: bool = $by_index;
        let mut query = users::table.select($select).into_boxed();
        query = if by_index {
            query.filter(users::account_id.eq($account_id.to_owned()))
        } else {
            query.filter(users::account_id.concat("").eq($account_id.to_owned()))
        };
        if let Some(status) = $filter.status {
            query = query.filter(users::status.eq(status.as_str()));
        }
        if let Some(role) = $filter.role {
            query = query.filter(users::role.eq(role.as_str()));
        }
        if let Some(group_id) = &$filter.group_id {
            query = query.filter(users::group_id.eq(group_id.clone()));
        }
        let (after, upto): (Option<&str>, Option<&str>) = ($after, $upto);
        macro_rules! range {
            ($column:expr) => {
                if by_index {
                    if let Some(after) = after {
                        query = query.filter($column.gt(after.to_owned()));
                    }
                    if let Some(upto) = upto {
                        query = query.filter($column.le(upto.to_owned()));
                    }
                } else {
                    if let Some(after) = after {
                        query = query.filter($column.concat("").gt(after.to_owned()));
                    }
                    if let Some(upto) = upto {
                        query = query.filter($column.concat("").le(upto.to_owned()));
                    }
                }
            };
        }
        match $filter.order {
            UserOrder::Created => range!(users::id),
            UserOrder::Name => range!(users::search_text),
            UserOrder::Email => range!(users::email),
        }
        query
    }};
}

/// `$query` in the key order of `$order` (an index's order).
macro_rules! in_key_order {
    ($query:expr, $order:expr) => {
        match $order {
            UserOrder::Created => $query.order(users::id.asc()),
            UserOrder::Name => $query.order(users::search_text.asc()),
            UserOrder::Email => $query.order(users::email.asc()),
        }
    };
}

/// How many users in order a search tries its text on before it asks the
/// index: a text found in one user in 40 or more fills the page there.
fn search_head(limit: i64) -> i64 {
    (limit * 40).max(1)
}

/// A page and the `users_version` its statement read (None when empty).
fn at_version(rows: Vec<(UserRow, Option<i64>)>) -> Result<UsersAtVersion> {
    // `as_slice`: on a Vec, `first` would name diesel's query method.
    let users_version = rows.as_slice().first().and_then(|(_, version)| *version);
    Ok(UsersAtVersion {
        users: convert::users(rows.into_iter().map(|(user, _)| user).collect())?,
        users_version,
    })
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
                let query = user_with_users_version!(user_id);
                let found: Option<(UserRow, Option<i64>)> = load_rows!(self, query)?.pop();
                found
                    .map(|(row, version)| {
                        // users.account_id references accounts: the row is there.
                        let version = version.ok_or_else(crate::error::Error::internal)?;
                        Ok((User::try_from(row)?, version))
                    })
                    .transpose()
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
                after: Option<&str>,
                limit: i64,
            ) -> Result<UsersAtVersion> {
                let text = match &filter.query {
                    Some(text) if has_trigram(text) => text,
                    // No text, or one too short for an index: the users in
                    // order until the page is full.
                    _ => {
                        let mut query = users_in_range!(account_id, filter, after, None::<&str>, true);
                        if let Some(text) = &filter.query {
                            query = query.filter(in_order(users::search_text).like(like_pattern(text)).escape('\\'));
                        }
                        let query = in_key_order!(query, filter.order).limit(limit);
                        return at_version(load_rows!(self, query)?);
                    }
                };
                let pattern = like_pattern(text);
                // A search first reads the head of the listing (the next
                // `search_head(limit)` users in order) and tries the text on
                // each: a common text fills the page there. Only a rarer one
                // asks the index, for the users after the head.
                let head = match filter.order {
                    UserOrder::Created => {
                        users_in_range!(@select users::id, account_id, filter, after, None::<&str>, true)
                    }
                    UserOrder::Name => users_in_range!(
                        @select users::search_text, account_id, filter, after, None::<&str>, true
                    ),
                    UserOrder::Email => {
                        users_in_range!(@select users::email, account_id, filter, after, None::<&str>, true)
                    }
                };
                let head = in_key_order!(head, filter.order)
                    .offset(search_head(limit) - 1)
                    .limit(1);
                let head_end: Option<String> = load_rows!(self, head)?.pop();
                let query = users_in_range!(account_id, filter, after, head_end.as_deref(), true);
                let query = in_key_order!(query, filter.order)
                    .filter(in_order(users::search_text).like(pattern.clone()).escape('\\'))
                    .limit(limit);
                let mut rows: Vec<(UserRow, Option<i64>)> = load_rows!(self, query)?;
                let Some(head_end) = head_end else {
                    // The head was the rest of the listing: the page is exact.
                    return at_version(rows);
                };
                if rows.len() as i64 >= limit {
                    return at_version(rows);
                }
                // After the head: the rows the search index finds. The
                // account, the range and the order are expressions no other
                // index serves (same values, same order), so both planners
                // start from the search index and sort what it found,
                // rather than walk the account in key order.
                let rest = users_in_range!(account_id, filter, Some(head_end.as_str()), None::<&str>, false);
                let rest = narrow_search!(rest, text)
                    .filter(users::search_text.like(pattern).escape('\\'))
                    .order(diesel::dsl::sql::<diesel::sql_types::Text>(
                        filter.order.sort_expression(),
                    ))
                    .limit(limit - rows.len() as i64);
                rows.extend(load_rows!(self, rest)?);
                // Two statements, two snapshots: not a page to keep.
                let mut page = at_version(rows)?;
                page.users_version = None;
                Ok(page)
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
            after: Option<&str>,
            limit: i64,
        ) -> Result<(Option<User>, UsersAtVersion)> {
            let (mut for_caller, mut for_page) = (*self, *self);
            futures::try_join!(
                for_caller.find_user_by_id(caller_id),
                for_page.list_users(account_id, filter, after, limit),
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

/// The searched text as an expression no index holds, for the searches
/// that walk the account's users in key order (a short text, or the head of
/// the listing). On `search_text` itself PostgreSQL may prefer the trigram
/// index, which covers every account: with 1,100,000 users in the database
/// that made a search of an account of 1,000 users take up to 400 ms.
fn in_order(text: users::search_text) -> diesel::dsl::Concat<users::search_text, &'static str> {
    text.concat("")
}

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

sqlite_only! {
    #[cfg(test)]
    mod sqlite_plans;
}
