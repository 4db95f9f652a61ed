//! A kept copy brought up to date from the users its account's changes
//! touched since it was read (the `user_changes` log): the copy's columns
//! stay as read, and a patch beside them holds the touched users as they
//! now are. A search skips the copy's rows the patch supersedes and merges
//! the patch's matches into its page, so the page is still exactly the
//! database's at the patch's version. A patch holds at most
//! [`PATCH_USERS`] users (about 250 KB), with trigram filters of its own
//! so that a search tries only the blocks of 32 that may hold its query;
//! past that the copy is dropped and the account read again whole (a copy
//! made one with its patch in memory would hold the account twice while it
//! is made, and the server's memory is bounded by one copy per account).

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

use memchr::memmem;

use super::builder::held_exactly;
use super::columns::{BLOCK, TrigramFilters, query_bits};
use super::{AccountIndex, END, Unindexable};
use crate::domain::User;
use crate::store::{SearchEntry, UserFilter, UserOrder};

/// Users a patch holds at most (changed or gone since the copy was read).
pub const PATCH_USERS: usize = 1_024;

/// A user changed or added since the copy was read, as it now is.
#[derive(Clone)]
struct Changed {
    id: u128,
    search_text: String,
    /// Without its password hash, as the copy's own users.
    user: User,
}

/// One account's users at one `users_version`: a copy as read, and the
/// users changed since (see the module's docs).
pub struct SearchCopy {
    index: Arc<AccountIndex>,
    users_version: i64,
    /// Ids of users changed or gone since the copy was read: its rows for
    /// them are out of date.
    superseded: HashSet<u128>,
    /// Those still in the account, as they now are, in id order.
    changed: Vec<Changed>,
    /// Their texts' trigram filters, by blocks of [`BLOCK`].
    filters: TrigramFilters,
    /// Heap bytes the patch holds (estimated).
    patch_bytes: usize,
}

/// A user found by a search, in the copy or in its patch.
#[derive(Clone, Copy)]
enum Hit {
    Copy(usize),
    Patch(usize),
}

impl SearchCopy {
    pub fn new(index: AccountIndex) -> Self {
        Self {
            users_version: index.users_version(),
            index: Arc::new(index),
            superseded: HashSet::new(),
            changed: Vec::new(),
            filters: TrigramFilters::with_capacity(0),
            patch_bytes: 0,
        }
    }

    pub fn users_version(&self) -> i64 {
        self.users_version
    }

    /// Users held, the copy's and the patch's.
    pub fn len(&self) -> usize {
        self.index.len() + self.changed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held (see [`AccountIndex::bytes`]).
    pub fn bytes(&self) -> usize {
        self.index.bytes() + self.patch_bytes
    }

    /// Users the patch holds (changed or gone).
    pub fn patched_users(&self) -> usize {
        self.superseded.len()
    }

    /// Users the patch would hold with `touched` added.
    pub fn patched_users_with(&self, touched: &[String]) -> usize {
        let added = touched_ids(touched)
            .filter(|id| !self.superseded.contains(id))
            .count();
        self.superseded.len() + added
    }

    /// This copy at `users_version`: the users `touched` since its own
    /// version are now `entries` (those of them still in the account, as
    /// read at `users_version`). Refused when the patch would hold more
    /// than [`PATCH_USERS`], or an entry cannot be held exactly.
    pub fn patched(
        &self,
        touched: &[String],
        entries: Vec<SearchEntry>,
        users_version: i64,
    ) -> Result<SearchCopy, Unindexable> {
        let touched: HashSet<u128> = touched_ids(touched).collect();
        let mut superseded = self.superseded.clone();
        superseded.extend(&touched);
        if superseded.len() > PATCH_USERS {
            return Err(Unindexable::TooManyUsers);
        }
        let mut fresh = Vec::with_capacity(entries.len());
        for entry in entries {
            let id = held_exactly(&entry)?;
            if !touched.contains(&id) {
                return Err(Unindexable::Irregular);
            }
            let mut user = entry.user;
            user.password_hash = String::new();
            fresh.push(Changed {
                id,
                search_text: entry.search_text,
                user,
            });
        }
        // The patch's users not touched again, and those read now.
        let mut changed: Vec<Changed> = self
            .changed
            .iter()
            .filter(|c| !touched.contains(&c.id))
            .cloned()
            .collect();
        changed.extend(fresh);
        changed.sort_unstable_by_key(|c| c.id);
        let mut filters = TrigramFilters::with_capacity(changed.len());
        for (p, c) in changed.iter().enumerate() {
            filters.add(p, c.search_text.as_bytes());
        }
        let patch_bytes = superseded.len() * 32
            + filters.bytes()
            + changed
                .iter()
                .map(|c| {
                    std::mem::size_of::<Changed>()
                        + c.search_text.len()
                        + c.user.name.len()
                        + c.user.email.len()
                        + c.user.id.len()
                        + c.user.account_id.len()
                })
                .sum::<usize>();
        Ok(SearchCopy {
            index: self.index.clone(),
            users_version,
            superseded,
            changed,
            filters,
            patch_bytes,
        })
    }

    /// The first `limit` users in `filter.order` after the key `after`
    /// that `filter` admits and whose text holds `filter.query`: what the
    /// database's search answers at this copy's version. The copy's page
    /// without the users the patch supersedes, merged in order with the
    /// patch's own matches. None when no copy can answer (no query, or one
    /// holding the copy's separator).
    pub fn find(
        &self,
        filter: &UserFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Option<Vec<User>> {
        let index = &*self.index;
        let from_copy = index.positions(filter, after, limit, &self.superseded)?;
        if self.changed.is_empty() {
            return Some(from_copy.into_iter().map(|u| index.user(u)).collect());
        }
        // positions() answered: the query is there, and free of END.
        let needle = filter.query.as_deref().unwrap_or_default().as_bytes();
        debug_assert!(!needle.is_empty() && !needle.contains(&END));
        let finder = memmem::Finder::new(needle);
        let bits = query_bits(needle);
        let mut from_patch: Vec<usize> = (0..self.changed.len())
            .filter(|p| {
                let c = &self.changed[*p];
                self.filters.may_hold(p / BLOCK, &bits)
                    && after.is_none_or(|after| self.patch_key(*p, filter.order) > after.as_bytes())
                    && admits(filter, &c.user)
                    && finder.find(c.search_text.as_bytes()).is_some()
            })
            .collect();
        from_patch.sort_unstable_by(|a, b| {
            self.patch_key(*a, filter.order)
                .cmp(self.patch_key(*b, filter.order))
        });
        let (mut copy, mut patch) = (
            from_copy.into_iter().peekable(),
            from_patch.into_iter().peekable(),
        );
        let mut hits = Vec::with_capacity(limit);
        while hits.len() < limit {
            let next = match (copy.peek(), patch.peek()) {
                (Some(u), Some(p)) => match self.compare(*u, *p, filter.order) {
                    Ordering::Greater => Hit::Patch(*p),
                    _ => Hit::Copy(*u),
                },
                (Some(u), None) => Hit::Copy(*u),
                (None, Some(p)) => Hit::Patch(*p),
                (None, None) => break,
            };
            match next {
                Hit::Copy(_) => copy.next(),
                Hit::Patch(_) => patch.next(),
            };
            hits.push(next);
        }
        Some(
            hits.into_iter()
                .map(|hit| match hit {
                    Hit::Copy(u) => index.user(u),
                    Hit::Patch(p) => self.changed[p].user.clone(),
                })
                .collect(),
        )
    }

    /// Patch user `p`'s key in `order`, as a page token holds it (ids in
    /// their lower-case form, which sorts as their numbers).
    fn patch_key(&self, p: usize, order: UserOrder) -> &[u8] {
        let c = &self.changed[p];
        match order {
            UserOrder::Created => c.user.id.as_bytes(),
            UserOrder::Email => c.user.email.as_bytes(),
            _ => c.search_text.as_bytes(),
        }
    }

    /// The copy's user `u` against patch user `p` in `order` (never
    /// equal: keys are unique, and the copy's row for a patched user is
    /// skipped).
    fn compare(&self, u: usize, p: usize, order: UserOrder) -> Ordering {
        let index = &*self.index;
        match order {
            UserOrder::Created => index.ids[u].cmp(&self.changed[p].id),
            UserOrder::Email => index.email_of(u).cmp(self.patch_key(p, order)),
            _ => index.text_of(u).cmp(self.patch_key(p, order)),
        }
    }
}

/// The ids of `touched` a copy can hold (an id that is not a UUID is no
/// user of a copy either).
fn touched_ids(touched: &[String]) -> impl Iterator<Item = u128> + '_ {
    touched
        .iter()
        .filter_map(|id| uuid::Uuid::try_parse(id).ok().map(|id| id.as_u128()))
}

/// Whether `filter`'s status, role and group admit `user` (the query is
/// checked apart).
fn admits(filter: &UserFilter, user: &User) -> bool {
    filter.status.is_none_or(|s| user.status == s)
        && filter.role.is_none_or(|r| user.role == r)
        && filter
            .group_id
            .as_deref()
            .is_none_or(|g| user.group_id.as_deref() == Some(g))
}

#[cfg(test)]
mod tests;
