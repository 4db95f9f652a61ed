//! The reads of users that every call makes (a user token's own row) or
//! that are hot (GetUser, ListUsers), and which connections serve them.
//!
//! On SQLite every read runs inline on a pooled read connection. On
//! PostgreSQL:
//! - reads of users by id are coalesced: concurrent calls' ids go out as one
//!   query on connections kept for it ([`super::coalesced`]);
//! - the other point reads (a page, an account's users version) go out on
//!   connections shared, pipelined, by concurrent calls
//!   ([`super::pipelined`]); when one was lost (PostgreSQL restarted) the
//!   read runs once more on a new one;
//! - a text search may scan the whole account: it takes a pooled connection
//!   of its own rather than hold up the shared ones.
//!
//! docs/performance.md gives what each route measured. Callers never pick a
//! route.

use super::pipelined::on_shared;
use super::{Backend, PgPools, Store, UserQueries, UserReads, UsersAtVersion, convert};
use crate::domain::User;
use crate::error::{Error, Result};
use crate::store::{LoggedChanges, SearchEntry, UserFilter};

/// Most ids handed to the coalesced loader at once.
const MOST_IDS_PER_LOAD: usize = 256;

/// The hot reads of users of one [`Store`] (see the module's docs).
pub struct Users<'s> {
    store: &'s Store,
}

/// Which page of which users: ListUsers after validation.
#[derive(Debug, Clone, Copy)]
pub struct PageRead<'a> {
    pub account_id: &'a str,
    pub filter: &'a UserFilter,
    /// The page starts after this id.
    pub after: Option<&'a str>,
    pub limit: i64,
}

impl<'s> Users<'s> {
    pub(super) fn new(store: &'s Store) -> Self {
        Users { store }
    }

    /// A user by id in any account (a user token's own row).
    pub async fn by_id(&self, user_id: &str) -> Result<Option<User>> {
        if let Backend::Postgres(pools) = &self.store.backend {
            let found = coalesced(pools, user_id, false).await?;
            return Ok(found.into_iter().next().map(|(user, _)| user));
        }
        self.store
            .read(async |conn| conn.find_user_by_id(user_id).await)
            .await
    }

    /// A user by id and its account's `users_version`, read in one
    /// statement (a ListUsers call checking a kept page).
    pub async fn with_users_version(&self, user_id: &str) -> Result<Option<(User, i64)>> {
        if let Backend::Postgres(pools) = &self.store.backend {
            return match coalesced(pools, user_id, true).await?.into_iter().next() {
                Some((user, Some(version))) => Ok(Some((user, version))),
                // A versioned batch always reads the version.
                Some((_, None)) => Err(Error::internal()),
                None => Ok(None),
            };
        }
        self.store
            .read(async |conn| conn.find_user_with_users_version(user_id).await)
            .await
    }

    /// A user of one account.
    pub async fn of_account(&self, account_id: &str, user_id: &str) -> Result<Option<User>> {
        if let Backend::Postgres(pools) = &self.store.backend {
            let found = coalesced(pools, user_id, false).await?;
            return Ok(found
                .into_iter()
                .map(|(user, _)| user)
                .find(|user| user.account_id == account_id));
        }
        self.store
            .read(async |conn| conn.find_user(account_id, user_id).await)
            .await
    }

    /// Up to two users of an account read together (a user token's own row
    /// and the row the call asks for).
    pub async fn caller_and_user(
        &self,
        account_id: &str,
        caller_id: &str,
        user_id: &str,
    ) -> Result<Vec<User>> {
        if let Backend::Postgres(pools) = &self.store.backend {
            let ids = vec![caller_id.to_owned(), user_id.to_owned()];
            let rows = pools.users.load(ids, false).await?;
            return Ok(
                convert::users(rows.into_iter().map(|(row, _)| row).collect())?
                    .into_iter()
                    .filter(|user| user.account_id == account_id)
                    .collect(),
            );
        }
        self.store
            .read(async |conn| {
                conn.find_caller_and_user(account_id, caller_id, user_id)
                    .await
            })
            .await
    }

    /// The users of the account among `ids` (at most a few thousand), in
    /// no order.
    pub async fn many_of_account(&self, account_id: &str, ids: Vec<String>) -> Result<Vec<User>> {
        if let Backend::Postgres(pools) = &self.store.backend {
            return coalesced_of_account(pools, account_id, &ids).await;
        }
        self.store
            .read(async |conn| conn.find_users(account_id, &ids).await)
            .await
    }

    /// Up to `limit` users of the account after the id `after`, in id
    /// order, as the search index holds them, each with the account's
    /// `users_version` read in the same statement. A scan of the account:
    /// on PostgreSQL a pooled connection of its own.
    pub async fn search_entries(
        &self,
        account_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(SearchEntry, Option<i64>)>> {
        self.store
            .read(async |conn| conn.find_search_entries(account_id, after, limit).await)
            .await
    }

    /// The changes logged for the account after `after_version`, at most
    /// `limit`, with the account's `users_version` read in the same
    /// statement (see [`UserQueries::find_user_changes`]).
    pub async fn changes_since(
        &self,
        account_id: &str,
        after_version: i64,
        limit: i64,
    ) -> Result<LoggedChanges> {
        self.store
            .read(async |conn| {
                conn.find_user_changes(account_id, after_version, limit)
                    .await
            })
            .await
    }

    /// The users of the account among `user_ids`, in id order, as the
    /// search index holds them, with the account's `users_version` read in
    /// the same statement.
    pub async fn search_entries_of(
        &self,
        account_id: &str,
        user_ids: &[String],
    ) -> Result<(Vec<SearchEntry>, Option<i64>)> {
        self.store
            .read(async |conn| conn.find_search_entries_of(account_id, user_ids).await)
            .await
    }

    /// An account's `users_version` (None: no such account), from a read
    /// started after this call. On PostgreSQL concurrent calls share one
    /// (see [`super::fresh`]); on SQLite the read runs inline on the
    /// calling worker in microseconds, less than waiting for another's.
    pub async fn users_version(&self, account_id: &str) -> Result<Option<i64>> {
        match &self.store.backend {
            Backend::Postgres(pools) => {
                self.store
                    .users_versions
                    .read(account_id, async || {
                        on_shared!(pools.shared, |conn| conn.find_users_version(account_id))
                    })
                    .await
            }
            Backend::Sqlite(_) => {
                self.store
                    .read(async |conn| conn.find_users_version(account_id).await)
                    .await
            }
        }
    }

    /// One page of users, with the account's `users_version` read in the
    /// same statement.
    pub async fn page(&self, page: PageRead<'_>) -> Result<UsersAtVersion> {
        let PageRead {
            account_id,
            filter,
            after,
            limit,
        } = page;
        match &self.store.backend {
            Backend::Postgres(pools) if filter.query.is_none() => {
                on_shared!(pools.shared, |conn| conn
                    .list_users(account_id, filter, after, limit))
            }
            _ => {
                self.store
                    .read(async |conn| conn.list_users(account_id, filter, after, limit).await)
                    .await
            }
        }
    }

    /// A user token's own row (to authenticate it) and a page, from one
    /// connection: on a shared PostgreSQL connection both go out back to
    /// back, so the caller waits for one round trip instead of two.
    pub async fn caller_and_page(
        &self,
        caller_id: &str,
        page: PageRead<'_>,
    ) -> Result<(Option<User>, UsersAtVersion)> {
        let PageRead {
            account_id,
            filter,
            after,
            limit,
        } = page;
        match &self.store.backend {
            Backend::Postgres(pools) => on_shared!(pools.shared, |conn| conn
                .find_caller_and_list_users(caller_id, account_id, filter, after, limit)),
            Backend::Sqlite(_) => {
                self.store
                    .read(async |conn| {
                        conn.find_caller_and_list_users(caller_id, account_id, filter, after, limit)
                            .await
                    })
                    .await
            }
        }
    }
}

/// Coalesced reads of users by id (in loads of at most
/// [`MOST_IDS_PER_LOAD`]), converted, those of other accounts left out.
async fn coalesced_of_account(
    pools: &PgPools,
    account_id: &str,
    ids: &[String],
) -> Result<Vec<User>> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(MOST_IDS_PER_LOAD) {
        for (row, _) in pools.users.load(chunk.to_vec(), false).await? {
            let user = User::try_from(row)?;
            if user.account_id == account_id {
                found.push(user);
            }
        }
    }
    Ok(found)
}

/// Coalesced reads of one user by id, converted.
async fn coalesced(
    pools: &PgPools,
    user_id: &str,
    versioned: bool,
) -> Result<Vec<(User, Option<i64>)>> {
    pools
        .users
        .load(vec![user_id.to_owned()], versioned)
        .await?
        .into_iter()
        .map(|(row, version)| Ok((User::try_from(row)?, version)))
        .collect()
}
