//! ListUsers' text search from the in-memory copies of
//! [`search_index`](super::search_index): finding a page there, checking it
//! against the database, and reading copies.

use std::sync::Arc;
use std::time::Instant;

use super::UserService;
use super::search_index::{
    AccountIndex, IndexBuilder, Lookup, PATCH_USERS, SearchCopy, SearchIndex, Unindexable,
};
use crate::error::Result;
use crate::store::prelude::*;
use crate::store::{PageRead, Store, UsersAtVersion};

/// Users per statement while reading a copy: each is a short read, writes
/// of the account go on between them, and the rows read (whole, until the
/// copy keeps what it needs of them) stay under a megabyte.
const READ_CHUNK: i64 = 1_000;

impl UserService {
    /// The page of a text search answered from the account's copy, or
    /// None when the database must answer (no copy, or one out of date:
    /// then a fresh one is read in the background, so that no call waits
    /// for a whole account to be read). A page from here is what the
    /// database's search answers: it is served only while the account's
    /// `users_version`, read for this call, is the copy's. `read_now` is
    /// that version when the caller has already read it (with its own
    /// row); None reads it here.
    pub(super) async fn search_from_memory(
        &self,
        read: PageRead<'_>,
        read_now: Option<i64>,
    ) -> Result<Option<UsersAtVersion>> {
        let account_id = read.account_id;
        let index = match self.search.lookup(account_id) {
            Lookup::Ready(index) => index,
            Lookup::Build => {
                self.read_copy_in_background(account_id);
                return Ok(None);
            }
            Lookup::Database => return Ok(None),
        };
        let version = index.users_version();
        let current = match read_now {
            Some(current) => Some(current),
            None => self.store.users().users_version(account_id).await?,
        };
        let limit = usize::try_from(read.limit).unwrap_or(0);
        if current == Some(version) {
            return Ok(find(&index, read, limit));
        }
        if current.is_some_and(|current| current > version) {
            // One search brings the copy up to date; others meanwhile
            // take the database's search.
            if !self.search.claim_patch(account_id, version) {
                return Ok(None);
            }
            let patching = patch_copy(&self.store, &index, account_id).await;
            let patched = match &patching {
                Ok(Patching::Patched(patched)) => Some(patched.clone()),
                _ => None,
            };
            self.search.finish_patch(account_id, version, patched);
            match patching? {
                Patching::Patched(patched) => {
                    count_update("patched");
                    return Ok(find(&patched, read, limit));
                }
                Patching::Retry => return Ok(None),
                Patching::Unpatchable => {}
            }
        }
        if self.search.refresh_stale(account_id, version, current) {
            count_update("read_again");
            self.read_copy_in_background(account_id);
        }
        Ok(None)
    }

    /// Reads a copy of the account in the background (the read was
    /// claimed).
    fn read_copy_in_background(&self, account_id: &str) {
        let (store, search, account_id) = (
            self.store.clone(),
            self.search.clone(),
            account_id.to_owned(),
        );
        tokio::spawn(async move {
            if let Err(error) = read_copy(&store, &search, &account_id).await {
                tracing::warn!(%error, account_id, "reading a search copy failed");
            }
        });
    }
}

/// Counts what became of a copy out of date: `patched` (brought up to
/// date from the changes logged), `read_again` (dropped, to be read again
/// whole).
fn count_update(update: &'static str) {
    metrics::counter!("roster_search_copy_updates_total", "update" => update).increment(1);
}

/// The page of `read` from `copy`, at its version.
fn find(copy: &SearchCopy, read: PageRead<'_>, limit: usize) -> Option<UsersAtVersion> {
    copy.find(read.filter, read.after, limit)
        .map(|users| UsersAtVersion {
            users,
            users_version: Some(copy.users_version()),
        })
}

/// How bringing a copy up to date went.
enum Patching {
    /// The copy at the account's version read then.
    Patched(Arc<SearchCopy>),
    /// The account changed between the two reads: a later search tries again.
    Retry,
    /// The changes are too many for a patch, no longer all logged, or hold
    /// a row no copy can: the account is read again whole.
    Unpatchable,
}

/// Log rows read for a patch at most: the users it touches are fewer (one
/// user changed many times is one), and over [`PATCH_USERS`] is too many.
const CHANGES_READ: i64 = 4 * PATCH_USERS as i64;

/// `copy` brought up to date from the changes logged since its version:
/// which users they touched, then those users' rows as they now are, each
/// read with the account's `users_version`, which must be the same (no
/// change between the two reads).
async fn patch_copy(store: &Store, copy: &SearchCopy, account_id: &str) -> Result<Patching> {
    let since = copy.users_version();
    let users = store.users();
    let logged = users.changes_since(account_id, since, CHANGES_READ).await?;
    let (changes, Some(now)) = (logged.changes, logged.users_version) else {
        return Ok(Patching::Unpatchable);
    };
    // Each version after the copy's was made by a change that logged at
    // least one user: a version missing was pruned, or bumped by hand.
    let mut versions: Vec<i64> = changes.iter().map(|(version, _)| *version).collect();
    versions.dedup();
    let complete = now > since && versions.len() as i64 == now - since;
    if changes.len() as i64 >= CHANGES_READ || !complete {
        return Ok(Patching::Unpatchable);
    }
    let mut touched: Vec<String> = changes.into_iter().map(|(_, user_id)| user_id).collect();
    // A statement that changed more users than a patch holds is logged as
    // one entry with no user (PostgreSQL).
    if touched.iter().any(String::is_empty) {
        return Ok(Patching::Unpatchable);
    }
    touched.sort_unstable();
    touched.dedup();
    if copy.patched_users_with(&touched) > PATCH_USERS {
        return Ok(Patching::Unpatchable);
    }
    let (entries, at) = users.search_entries_of(account_id, &touched).await?;
    if at != Some(now) {
        return Ok(Patching::Retry);
    }
    Ok(match copy.patched(&touched, entries, now) {
        Ok(patched) => Patching::Patched(Arc::new(patched)),
        Err(why) => {
            tracing::debug!(?why, account_id, "search copy not patched");
            Patching::Unpatchable
        }
    })
}

/// Reads the account's copy (the read was claimed) and hands it to
/// `search` to keep.
async fn read_copy(store: &Store, search: &SearchIndex, account_id: &str) -> Result<()> {
    let started = Instant::now();
    let built = read_index(store, account_id, search.capacity()).await;
    let took = started.elapsed();
    match built {
        Ok(built) => {
            match &built {
                Ok(index) => tracing::debug!(
                    account_id,
                    users = index.len(),
                    bytes = index.bytes(),
                    ?took,
                    "search copy read"
                ),
                Err(why) => tracing::debug!(?why, account_id, "no search copy"),
            }
            search.finish(account_id, built, took);
            Ok(())
        }
        Err(error) => {
            search.finish(account_id, Err(Unindexable::Changed), took);
            Err(error)
        }
    }
}

/// The account's users, read in chunks in id order. The account's
/// `users_version` is read first, and every row carries it again from its
/// own statement: all must be the same (no change while reading), and that
/// is the copy's version.
async fn read_index(
    store: &Store,
    account_id: &str,
    capacity: usize,
) -> Result<std::result::Result<AccountIndex, Unindexable>> {
    // The account's user counts size the copy: an account larger than the
    // whole budget is not read at all, and the buffers are allocated once
    // rather than grown by doubling (which held up to twice the copy).
    let Some(account) = store
        .read(async |conn| conn.find_account(account_id).await)
        .await?
    else {
        return Ok(Err(Unindexable::NoAccount));
    };
    let expected = usize::try_from(account.active_users + account.inactive_users).unwrap_or(0);
    if expected > capacity {
        return Ok(Err(Unindexable::TooManyUsers));
    }
    let users = store.users();
    let Some(version) = users.users_version(account_id).await? else {
        return Ok(Err(Unindexable::NoAccount));
    };
    let mut builder = IndexBuilder::new(capacity, expected);
    loop {
        let after = builder.last_id();
        let chunk = users
            .search_entries(account_id, after.as_deref(), READ_CHUNK)
            .await?;
        let full = chunk.len() as i64 == READ_CHUNK;
        for (entry, read_at) in chunk {
            if read_at != Some(version) {
                return Ok(Err(Unindexable::Changed));
            }
            if let Err(why) = builder.push(&entry) {
                return Ok(Err(why));
            }
        }
        if !full {
            return Ok(Ok(builder.finish(version)));
        }
    }
}
