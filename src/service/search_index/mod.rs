//! ListUsers' text search from memory: per account, a compact copy of
//! every user as a listing shows it (searched text, id, name, status, role,
//! group, rights, version and times), labelled with the account's
//! `users_version` it was read at.
//!
//! A search finds its page in the copy: one pass of a substring finder
//! (`memchr::memmem`, vectorised) over the account's texts laid end to
//! end, which stops once the page is full, and skips every block of 32
//! users whose trigram filter shows that none of them can hold the query
//! (the filters of 64 blocks read a word at a time). The page is served from the
//! copy only if the account's `users_version`, read from the database for
//! this call, is still the copy's: every change of a users row moves it
//! (a trigger, in the same transaction), so the copy's rows are then
//! exactly the database's, and the page what the database's own search
//! would answer at that moment. A newer version means a change since the
//! copy was read: the search that first sees it brings the copy up to
//! date in its call ([`patch`]), from the users the changes touched (the
//! triggers log them with the version each change made) read again, and
//! answers from it; searches meanwhile take the database's. When the
//! changes are too many (over [`PATCH_USERS`] users since the copy was
//! read), no longer all logged, or hold a row no copy can, the copy is
//! dropped (it can never answer again) and a fresh one read in the
//! background, at most one read per account at a time and, after a read
//! that took `t`, none for `4t`, so an account that changes all the time
//! spends at most a fifth of a connection on its copy. An account with no
//! copy has one read in the background by its first search, which the
//! database answers (as every search until the copy is kept): no call
//! waits for a whole account to be read.
//!
//! Kept copies hold at most `capacity` users in all; the least recently
//! searched account's copy makes room, and a copy no search has asked
//! for in [`KEPT_WHILE_SEARCHED`] is dropped. A user costs about 150 bytes here
//! (its searched text and the NUL after it, its name again in its own
//! case, 16 bytes of id, 16 of trigram filter, 24 of version and times,
//! 18 of offsets and codes, 12 more per disabled user, 8 more once a
//! search asks for the name or email order). An account
//! larger than the capacity is always searched in the database
//! (docs/performance.md, *Search*). The copies kept, per account, are in
//! [`kept`]; the trigram filters and the compact columns in [`columns`];
//! reading a copy in [`builder`].

mod builder;
mod columns;
mod kept;
mod patch;

pub use builder::IndexBuilder;
pub use kept::{Lookup, SearchIndex};
pub use patch::{PATCH_USERS, SearchCopy};

/// A copy no search has asked for in this long is dropped (checked with the
/// health ping): an account searched less often reads its copy again in
/// the background, about 1 s of one connection at 100,000 users, while
/// the database answers.
pub const KEPT_WHILE_SEARCHED: std::time::Duration = std::time::Duration::from_secs(300);

use std::collections::HashSet;
use std::sync::OnceLock;

use memchr::memmem;
use uuid::Uuid;

use crate::domain::{Permissions, Role, User, UserStatus};
use crate::store::{UserFilter, UserOrder};
use columns::{BLOCK, Interned, SparseTimes, Stamps, TrigramFilters, query_bits, time_of};

/// Ends each user's text in [`AccountIndex`]'s buffer. No searched text or
/// query holds it (the text rule refuses control characters; a query that
/// held one would not be served from here).
const END: u8 = 0;

/// Why an account's copy was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unindexable {
    /// More users than the whole capacity.
    TooManyUsers,
    /// The account's users changed while the copy was being read.
    Changed,
    /// A row the copy cannot represent exactly (an id that is not a
    /// lower-case UUID, a text not ending in its email, a time outside
    /// 1677–2262): written by hand.
    Irregular,
    /// No such account.
    NoAccount,
}

/// One account's users as listings show them, at one `users_version`.
pub struct AccountIndex {
    users_version: i64,
    account_id: String,
    /// Each user's searched text followed by [`END`], in id order.
    text: Vec<u8>,
    /// Where each user's text starts in `text`, and one more: its length.
    starts: Vec<u32>,
    filters: TrigramFilters,
    /// Ids as numbers, ascending (lower-case UUIDs sort as their numbers).
    ids: Vec<u128>,
    /// Names in their own case, end to end, and where each starts (and
    /// one more).
    names: String,
    name_starts: Vec<u32>,
    status: Vec<UserStatus>,
    role: Vec<Role>,
    group: Interned<Option<String>>,
    access_role: Interned<Option<String>>,
    permissions: Interned<Permissions>,
    stamps: Vec<Stamps>,
    disabled_at: SparseTimes,
    tokens_valid_after: SparseTimes,
    /// Heap bytes held, but for the orders made later.
    bytes: usize,
    /// Users in name order (the searched text's), made by the first search
    /// that asks for it.
    by_name: OnceLock<Box<[u32]>>,
    /// Users in email order, likewise.
    by_email: OnceLock<Box<[u32]>>,
}

/// What a search's filters ask for (None: any).
struct Wanted {
    status: Option<UserStatus>,
    role: Option<Role>,
    group: Option<u32>,
}

impl AccountIndex {
    pub fn users_version(&self) -> i64 {
        self.users_version
    }

    /// Users held.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Heap bytes held (the name and email orders, once made, add 4 bytes
    /// per user each).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// User `u`'s searched text (its key in name order).
    fn text_of(&self, u: usize) -> &[u8] {
        &self.text[self.starts[u] as usize..self.starts[u + 1] as usize - 1]
    }

    /// User `u`'s email: its text after the last line break.
    fn email_of(&self, u: usize) -> &[u8] {
        let text = self.text_of(u);
        let at = memchr::memrchr(b'\n', text).map_or(0, |at| at + 1);
        &text[at..]
    }

    /// User `u` as the database holds it (but for the password hash,
    /// which no listing shows: left empty).
    fn user(&self, u: usize) -> User {
        let stamps = self.stamps[u];
        let name = &self.names[self.name_starts[u] as usize..self.name_starts[u + 1] as usize];
        let mut id = Uuid::encode_buffer();
        User {
            id: Uuid::from_u128(self.ids[u])
                .hyphenated()
                .encode_lower(&mut id)
                .to_owned(),
            account_id: self.account_id.clone(),
            name: name.to_owned(),
            email: String::from_utf8_lossy(self.email_of(u)).into_owned(),
            password_hash: String::new(),
            group_id: self.group.of(u).clone(),
            role: self.role[u],
            access_role_id: self.access_role.of(u).clone(),
            permissions: self.permissions.of(u).clone(),
            status: self.status[u],
            version: stamps.version,
            tokens_valid_after: self.tokens_valid_after.of(u),
            created_at: time_of(stamps.created_at),
            updated_at: time_of(stamps.updated_at),
            disabled_at: self.disabled_at.of(u),
        }
    }

    /// Users in `order` (name or email), made once.
    fn ordered(&self, order: UserOrder) -> &[u32] {
        let (cell, key): (_, fn(&Self, usize) -> &[u8]) = match order {
            UserOrder::Email => (&self.by_email, Self::email_of),
            _ => (&self.by_name, Self::text_of),
        };
        cell.get_or_init(|| {
            let mut users: Vec<u32> = (0..self.ids.len() as u32).collect();
            users.sort_unstable_by(|a, b| key(self, *a as usize).cmp(key(self, *b as usize)));
            users.into_boxed_slice()
        })
    }

    /// What `filter` asks for; None when it asks for a group no user has
    /// (nothing matches).
    fn wanted(&self, filter: &UserFilter) -> Option<Wanted> {
        let group = match filter.group_id.as_deref() {
            None => None,
            Some(group) => Some(self.group.code_where(|g| g.as_deref() == Some(group))?),
        };
        Some(Wanted {
            status: filter.status,
            role: filter.role,
            group,
        })
    }

    fn admits(&self, wanted: &Wanted, u: usize) -> bool {
        wanted.status.is_none_or(|s| self.status[u] == s)
            && wanted.role.is_none_or(|r| self.role[u] == r)
            && wanted.group.is_none_or(|c| self.group.codes[u] == c)
    }

    /// The copy's page with no patch: what the database's search answered
    /// when it was read (searches go through [`SearchCopy::find`]; tests
    /// compare patched copies with copies read again through this).
    #[cfg(test)]
    pub fn find(
        &self,
        filter: &UserFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Option<Vec<User>> {
        let found = self.positions(filter, after, limit, &HashSet::new())?;
        Some(found.into_iter().map(|u| self.user(u)).collect())
    }

    /// Where the first `limit` users are, in `filter.order` after the key
    /// `after`, that `filter` admits and whose text holds `filter.query`,
    /// leaving out those whose ids are `superseded` (a patch holds them as
    /// they now are). None when this copy cannot answer (no query, or one
    /// holding [`END`]).
    fn positions(
        &self,
        filter: &UserFilter,
        after: Option<&str>,
        limit: usize,
        superseded: &HashSet<u128>,
    ) -> Option<Vec<usize>> {
        let needle = filter.query.as_deref()?.as_bytes();
        if needle.is_empty() || needle.contains(&END) {
            return None;
        }
        let Some(wanted) = self.wanted(filter) else {
            return Some(Vec::new());
        };
        let current = |u: usize| superseded.is_empty() || !superseded.contains(&self.ids[u]);
        let finder = memmem::Finder::new(needle);
        let bits = query_bits(needle);
        let mut found = Vec::new();
        match filter.order {
            UserOrder::Created => {
                let mut u = after.map_or(0, |after| {
                    let mut buffer = Uuid::encode_buffer();
                    self.ids.partition_point(|id| {
                        Uuid::from_u128(*id)
                            .hyphenated()
                            .encode_lower(&mut buffer)
                            .as_bytes()
                            <= after.as_bytes()
                    })
                });
                let lanes = self.filters.lanes();
                while u < self.ids.len() && found.len() < limit {
                    let group = u / BLOCK / lanes;
                    let group_end = ((group + 1) * lanes * BLOCK).min(self.ids.len());
                    // The group's blocks from u's on whose filter admits
                    // the query, in order.
                    let mut blocks =
                        self.filters.candidates(group, &bits) & (u64::MAX << (u / BLOCK % lanes));
                    while blocks != 0 && found.len() < limit {
                        let block = group * lanes + blocks.trailing_zeros() as usize;
                        blocks &= blocks - 1;
                        u = u.max(block * BLOCK);
                        let block_end = ((block + 1) * BLOCK).min(self.ids.len());
                        // The block's texts from user u on, in one pass.
                        let end = self.starts[block_end] as usize;
                        while u < block_end && found.len() < limit {
                            let from = self.starts[u] as usize;
                            let Some(at) = finder.find(&self.text[from..end]) else {
                                break;
                            };
                            let at = (from + at) as u32;
                            // The user whose text holds the match (texts
                            // end in END, which the needle lacks: a match
                            // never spans two).
                            u +=
                                self.starts[u..block_end].partition_point(|start| *start <= at) - 1;
                            if self.admits(&wanted, u) && current(u) {
                                found.push(u);
                            }
                            u += 1;
                        }
                        u = block_end;
                    }
                    u = u.max(group_end);
                }
            }
            order => {
                let key: fn(&Self, usize) -> &[u8] = match order {
                    UserOrder::Email => Self::email_of,
                    _ => Self::text_of,
                };
                let users = self.ordered(order);
                let first = after.map_or(0, |after| {
                    users.partition_point(|u| key(self, *u as usize) <= after.as_bytes())
                });
                for u in users[first..].iter().map(|u| *u as usize) {
                    if found.len() >= limit {
                        break;
                    }
                    if self.admits(&wanted, u)
                        && self.filters.may_hold(u / BLOCK, &bits)
                        && finder.find(self.text_of(u)).is_some()
                        && current(u)
                    {
                        found.push(u);
                    }
                }
            }
        }
        Some(found)
    }
}

#[cfg(test)]
mod tests;
