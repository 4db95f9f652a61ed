//! ListUsers' text search from memory: per account, a compact copy of what
//! a search reads (each user's searched text, id, status, role and group),
//! labelled with the account's `users_version` it was read at.
//!
//! A search finds the page's ids in the copy: one pass of a substring
//! finder (`memchr::memmem`, vectorised) over the account's texts laid end
//! to end, which stops once the page is full. The rows themselves are read
//! by id, each with the account's `users_version` from the same statement:
//! the page is served only if that is the copy's version, so it is exactly
//! what the database's own search would answer at that moment. Any other
//! version means a change since the copy was read: the call takes the
//! database's search instead, and a fresh copy is read in the background,
//! at most one read per account at a time and, after a read that took `t`,
//! none for `4t`, so an account that changes all the time spends at most a
//! fifth of a connection on its copy. An account with no copy has one read
//! by its first search, which then answers from it.
//!
//! Kept copies hold at most `capacity` users in all; the least recently
//! searched account's copy makes room. A user costs about 90 bytes here
//! (its text and the NUL after it, 16 bytes of id, 10 of offset and codes,
//! 8 more once a search asks for the name or email order). An account larger than the capacity
//! is always searched in the database (docs/performance.md, *Search*).
//! The copies kept, per account, are in [`kept`].

mod kept;

pub use kept::{Lookup, SearchIndex};

use std::collections::HashMap;
use std::sync::OnceLock;

use memchr::memmem;
use uuid::Uuid;

use crate::store::{SearchEntry, UserFilter, UserOrder};

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
    /// lower-case UUID, a text not ending in its email): written by hand.
    Irregular,
    /// No such account.
    NoAccount,
}

/// Distinct values of one column and each user's code among them.
struct Interned<C> {
    values: Vec<Option<Box<str>>>,
    codes: Vec<C>,
}

impl<C: Copy + PartialEq + TryFrom<usize>> Interned<C> {
    fn new() -> Self {
        Self {
            values: Vec::new(),
            codes: Vec::new(),
        }
    }

    /// The code of `value` (None: no user has it).
    fn code_of(&self, value: Option<&str>) -> Option<C> {
        let at = self.values.iter().position(|v| v.as_deref() == value)?;
        C::try_from(at).ok()
    }
}

/// Builds an [`Interned`] column; the map makes each push O(1).
struct InternBuilder<C> {
    column: Interned<C>,
    known: HashMap<Option<String>, C>,
}

impl<C: Copy + PartialEq + TryFrom<usize>> InternBuilder<C> {
    fn with_capacity(users: usize) -> Self {
        let mut column = Interned::new();
        column.codes.reserve_exact(users);
        Self {
            column,
            known: HashMap::new(),
        }
    }

    fn push(&mut self, value: Option<&str>) -> Result<(), Unindexable> {
        let key = value.map(str::to_owned);
        let code = match self.known.get(&key) {
            Some(code) => *code,
            None => {
                let code =
                    C::try_from(self.column.values.len()).map_err(|_| Unindexable::Irregular)?;
                self.column.values.push(value.map(Box::from));
                self.known.insert(key, code);
                code
            }
        };
        self.column.codes.push(code);
        Ok(())
    }
}

/// One account's users as searches read them, at one `users_version`.
pub struct AccountIndex {
    users_version: i64,
    /// Each user's searched text followed by [`END`], in id order.
    text: Vec<u8>,
    /// Where each user's text starts in `text`, and one more: its length.
    starts: Vec<u32>,
    /// Ids as numbers, ascending (lower-case UUIDs sort as their numbers).
    ids: Vec<u128>,
    status: Interned<u8>,
    role: Interned<u8>,
    group: Interned<u32>,
    /// Users in name order (the searched text's), made by the first search
    /// that asks for it.
    by_name: OnceLock<Box<[u32]>>,
    /// Users in email order, likewise.
    by_email: OnceLock<Box<[u32]>>,
}

/// Users pushed before the text buffer is sized from their average.
const TEXT_SAMPLE: usize = 256;

/// Reads an account's users into an [`AccountIndex`], in id order.
pub struct IndexBuilder {
    capacity: usize,
    /// Users the account is expected to have (sizes the buffers).
    expected: usize,
    text: Vec<u8>,
    starts: Vec<u32>,
    ids: Vec<u128>,
    status: InternBuilder<u8>,
    role: InternBuilder<u8>,
    group: InternBuilder<u32>,
}

impl IndexBuilder {
    /// A builder that refuses more than `capacity` users, sized for
    /// `expected` of them.
    pub fn new(capacity: usize, expected: usize) -> Self {
        let expected = expected.min(capacity);
        let mut starts = Vec::with_capacity(expected + 1);
        starts.push(0);
        Self {
            capacity,
            expected,
            text: Vec::new(),
            starts,
            ids: Vec::with_capacity(expected),
            status: InternBuilder::with_capacity(expected),
            role: InternBuilder::with_capacity(expected),
            group: InternBuilder::with_capacity(expected),
        }
    }

    /// Adds the next user (ids must come in ascending order).
    pub fn push(&mut self, entry: &SearchEntry) -> Result<(), Unindexable> {
        if self.ids.len() >= self.capacity {
            return Err(Unindexable::TooManyUsers);
        }
        let id = Uuid::try_parse(&entry.id).map_err(|_| Unindexable::Irregular)?;
        // Only the canonical form sorts as its number.
        if *id.hyphenated().encode_lower(&mut Uuid::encode_buffer()) != *entry.id {
            return Err(Unindexable::Irregular);
        }
        let id = id.as_u128();
        if self.ids.last().is_some_and(|last| *last >= id) {
            return Err(Unindexable::Irregular);
        }
        // The email order's key is read back as the text after its last
        // line break: the text must end in "\n" + the email.
        let text = entry.search_text.as_bytes();
        let email = entry.email.as_bytes();
        let regular = !text.contains(&END)
            && !email.contains(&b'\n')
            && text.len() > email.len()
            && text.ends_with(email)
            && text[text.len() - email.len() - 1] == b'\n';
        if !regular {
            return Err(Unindexable::Irregular);
        }
        if self.ids.len() == TEXT_SAMPLE && self.expected > TEXT_SAMPLE {
            // The rest at the sample's average, and a twentieth more.
            let per_user = self.text.len() / TEXT_SAMPLE;
            let rest = (self.expected - TEXT_SAMPLE) * per_user;
            self.text.reserve_exact(rest + rest / 20);
        }
        self.text.extend_from_slice(text);
        self.text.push(END);
        let end = u32::try_from(self.text.len()).map_err(|_| Unindexable::TooManyUsers)?;
        self.starts.push(end);
        self.ids.push(id);
        self.status.push(Some(&entry.status))?;
        self.role.push(Some(&entry.role))?;
        self.group.push(entry.group_id.as_deref())?;
        Ok(())
    }

    /// The id of the last user added (where the next read starts).
    pub fn last_id(&self) -> Option<String> {
        self.ids
            .last()
            .map(|id| Uuid::from_u128(*id).hyphenated().to_string())
    }

    pub fn finish(mut self, users_version: i64) -> AccountIndex {
        self.text.shrink_to_fit();
        self.starts.shrink_to_fit();
        self.ids.shrink_to_fit();
        AccountIndex {
            users_version,
            text: self.text,
            starts: self.starts,
            ids: self.ids,
            status: self.status.column,
            role: self.role.column,
            group: self.group.column,
            by_name: OnceLock::new(),
            by_email: OnceLock::new(),
        }
    }
}

/// The codes a search's filters ask for (None: any).
struct Wanted {
    status: Option<u8>,
    role: Option<u8>,
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

    fn id_of(&self, u: usize) -> String {
        Uuid::from_u128(self.ids[u]).hyphenated().to_string()
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

    /// The codes `filter` asks for; None when it asks for a value no user
    /// has (nothing matches).
    fn wanted(&self, filter: &UserFilter) -> Option<Wanted> {
        fn code<C: Copy + PartialEq + TryFrom<usize>>(
            column: &Interned<C>,
            value: Option<Option<&str>>,
        ) -> Option<Option<C>> {
            match value {
                None => Some(None),
                Some(value) => column.code_of(value).map(Some),
            }
        }
        Some(Wanted {
            status: code(&self.status, filter.status.map(|s| Some(s.as_str())))?,
            role: code(&self.role, filter.role.map(|r| Some(r.as_str())))?,
            group: code(&self.group, filter.group_id.as_deref().map(Some))?,
        })
    }

    fn admits(&self, wanted: &Wanted, u: usize) -> bool {
        wanted.status.is_none_or(|c| self.status.codes[u] == c)
            && wanted.role.is_none_or(|c| self.role.codes[u] == c)
            && wanted.group.is_none_or(|c| self.group.codes[u] == c)
    }

    /// The ids of the first `limit` users in `filter.order` after the key
    /// `after` that `filter` admits and whose text holds `filter.query`:
    /// what the database's search answers at this copy's version. None
    /// when this copy cannot answer (no query, or one holding [`END`]).
    pub fn find(
        &self,
        filter: &UserFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Option<Vec<String>> {
        let needle = filter.query.as_deref()?.as_bytes();
        if needle.is_empty() || needle.contains(&END) {
            return None;
        }
        let Some(wanted) = self.wanted(filter) else {
            return Some(Vec::new());
        };
        let finder = memmem::Finder::new(needle);
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
                while u < self.ids.len() && found.len() < limit {
                    let from = self.starts[u] as usize;
                    let Some(at) = finder.find(&self.text[from..]) else {
                        break;
                    };
                    let at = (from + at) as u32;
                    // The user whose text holds the match (texts end in
                    // END, which the needle lacks: a match never spans two).
                    u = self.starts.partition_point(|start| *start <= at) - 1;
                    if self.admits(&wanted, u) {
                        found.push(u);
                    }
                    u += 1;
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
                    if self.admits(&wanted, u) && finder.find(self.text_of(u)).is_some() {
                        found.push(u);
                    }
                }
            }
        }
        Some(found.into_iter().map(|u| self.id_of(u)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::user::search_text;
    use crate::domain::{Role, UserStatus};

    pub(super) fn entry(i: u128, name: &str, email: &str) -> SearchEntry {
        SearchEntry {
            id: Uuid::from_u128(i).hyphenated().to_string(),
            search_text: search_text(name, email),
            email: email.to_owned(),
            status: if i.is_multiple_of(2) {
                "ACTIVE"
            } else {
                "INACTIVE"
            }
            .to_owned(),
            role: "MEMBER".to_owned(),
            group_id: i.is_multiple_of(3).then(|| "g3".to_owned()),
        }
    }

    fn index(entries: &[SearchEntry]) -> AccountIndex {
        let mut builder = IndexBuilder::new(100, 5);
        for e in entries {
            builder.push(e).unwrap();
        }
        builder.finish(7)
    }

    fn users() -> Vec<SearchEntry> {
        vec![
            entry(1, "Ann Lee", "ann@x.example"),
            entry(2, "Bob 100%", "bob@x.example"),
            entry(3, "Zoë_Ä", "zoe@y.example"),
            entry(4, "ann marie", "am@y.example"),
            entry(5, "Carl", "c\\l@x.example"),
        ]
    }

    fn search(ix: &AccountIndex, query: &str, order: UserOrder, after: Option<&str>) -> Vec<u128> {
        let filter = UserFilter {
            query: Some(query.to_lowercase()),
            order,
            ..Default::default()
        };
        ix.find(&filter, after, 10)
            .unwrap()
            .iter()
            .map(|id| Uuid::parse_str(id).unwrap().as_u128())
            .collect()
    }

    #[test]
    fn finds_substrings_of_name_or_email_case_folded() {
        let ix = index(&users());
        assert_eq!(search(&ix, "ANN", UserOrder::Created, None), vec![1, 4]);
        assert_eq!(search(&ix, "0%", UserOrder::Created, None), vec![2]);
        assert_eq!(search(&ix, "ë_ä", UserOrder::Created, None), vec![3]);
        assert_eq!(search(&ix, "c\\l", UserOrder::Created, None), vec![5]);
        assert_eq!(search(&ix, "@y.", UserOrder::Created, None), vec![3, 4]);
        // Across the line between name and email, as LIKE on the text.
        assert_eq!(search(&ix, "carl\nc", UserOrder::Created, None), vec![5]);
        assert_eq!(
            search(&ix, "nobody", UserOrder::Created, None),
            Vec::<u128>::new()
        );
    }

    #[test]
    fn pages_after_a_key_in_each_order() {
        let ix = index(&users());
        let first = Uuid::from_u128(1).hyphenated().to_string();
        // Every email holds "a" (".example").
        assert_eq!(
            search(&ix, "a", UserOrder::Created, Some(&first)),
            vec![2, 3, 4, 5]
        );
        // Name order: "ann lee" < "ann marie" < "bob" < "carl" < "zoë".
        assert_eq!(search(&ix, "a", UserOrder::Name, None), vec![1, 4, 2, 5, 3]);
        assert_eq!(
            search(&ix, "a", UserOrder::Name, Some("ann marie\nam@y.example")),
            vec![2, 5, 3]
        );
        assert_eq!(
            search(&ix, "@x", UserOrder::Name, Some("ann marie\nam@y.example")),
            vec![2, 5]
        );
        // Email order: am < ann < bob < c\l < zoe.
        assert_eq!(
            search(&ix, "a", UserOrder::Email, None),
            vec![4, 1, 2, 5, 3]
        );
        assert_eq!(
            search(&ix, "a", UserOrder::Email, Some("ann@x.example")),
            vec![2, 5, 3]
        );
    }

    #[test]
    fn filters_and_limits() {
        let ix = index(&users());
        let filter = |status, group: Option<&str>| UserFilter {
            query: Some("e".into()),
            status,
            group_id: group.map(str::to_owned),
            ..Default::default()
        };
        let ids = |f: &UserFilter, limit| ix.find(f, None, limit).unwrap().len();
        assert_eq!(ids(&filter(Some(UserStatus::Inactive), None), 10), 3);
        assert_eq!(ids(&filter(Some(UserStatus::Active), Some("g3")), 10), 0);
        assert_eq!(ids(&filter(None, Some("g3")), 10), 1);
        assert_eq!(ids(&filter(None, Some("nope")), 10), 0);
        assert_eq!(ids(&filter(None, None), 2), 2);
        let admins = UserFilter {
            query: Some("e".into()),
            role: Some(Role::Admin),
            ..Default::default()
        };
        assert_eq!(ids(&admins, 10), 0);
        // A query holding END is left to the database.
        let odd = UserFilter {
            query: Some("a\0".into()),
            ..Default::default()
        };
        assert!(ix.find(&odd, None, 10).is_none());
    }

    #[test]
    fn refuses_rows_it_cannot_hold_exactly() {
        let mut b = IndexBuilder::new(2, 2);
        assert_eq!(b.push(&entry(2, "a", "a@x.example")), Ok(()));
        // Out of id order.
        assert_eq!(
            b.push(&entry(1, "b", "b@x.example")),
            Err(Unindexable::Irregular)
        );
        let mut upper = entry(0xa3, "c", "c@x.example");
        upper.id = upper.id.to_uppercase();
        assert_eq!(b.push(&upper), Err(Unindexable::Irregular));
        let mut stale = entry(0xa3, "c", "c@x.example");
        stale.email = "other@x.example".into();
        assert_eq!(b.push(&stale), Err(Unindexable::Irregular));
        assert_eq!(b.push(&entry(0xa3, "c", "c@x.example")), Ok(()));
        assert_eq!(
            b.push(&entry(0xa4, "d", "d@x.example")),
            Err(Unindexable::TooManyUsers)
        );
    }
}
