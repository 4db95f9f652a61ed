//! Reading an account's users into an [`AccountIndex`]: the compact
//! columns filled row by row, sized once from the account's counts.

use std::sync::OnceLock;

use uuid::Uuid;

use super::columns::{InternKeys, Interned, SparseTimes, Stamps, TrigramFilters, nanos};
use super::{AccountIndex, END, Unindexable};
use crate::store::SearchEntry;

/// Users pushed before the text buffers are sized from their average.
const TEXT_SAMPLE: usize = 256;

/// Reads an account's users into an [`AccountIndex`], in id order.
pub struct IndexBuilder {
    capacity: usize,
    /// Users the account is expected to have (sizes the buffers).
    expected: usize,
    /// The copy being filled.
    index: AccountIndex,
    groups: InternKeys<Option<String>>,
    access_roles: InternKeys<Option<String>>,
    /// Keyed by the rights' stored JSON.
    rights: InternKeys<String>,
}

/// Reserves the rest of a buffer at the sample's average per user, and a
/// twentieth more.
fn reserve_rest(buffer_len: usize, expected: usize) -> usize {
    let rest = (expected - TEXT_SAMPLE) * (buffer_len / TEXT_SAMPLE);
    rest + rest / 20
}

/// The user's id as a number, if a copy can hold the row exactly: its id
/// a lower-case UUID, its text free of [`END`] and ending in its email, its
/// times within 1677-2262.
pub(super) fn held_exactly(entry: &SearchEntry) -> Result<u128, Unindexable> {
    let user = &entry.user;
    let id = Uuid::try_parse(&user.id).map_err(|_| Unindexable::Irregular)?;
    // Only the canonical form sorts as its number.
    if *id.hyphenated().encode_lower(&mut Uuid::encode_buffer()) != *user.id {
        return Err(Unindexable::Irregular);
    }
    // The email order's key is read back as the text after its last line
    // break: the text must end in "\n" + the email.
    let text = entry.search_text.as_bytes();
    let email = user.email.as_bytes();
    let regular = !text.contains(&END)
        && !email.contains(&b'\n')
        && text.len() > email.len()
        && text.ends_with(email)
        && text[text.len() - email.len() - 1] == b'\n';
    if !regular {
        return Err(Unindexable::Irregular);
    }
    for time in [user.created_at, user.updated_at]
        .into_iter()
        .chain(user.disabled_at)
        .chain(user.tokens_valid_after)
    {
        nanos(time)?;
    }
    Ok(id.as_u128())
}

impl IndexBuilder {
    /// A builder that refuses more than `capacity` users, sized for
    /// `expected` of them.
    pub fn new(capacity: usize, expected: usize) -> Self {
        let expected = expected.min(capacity);
        let mut starts = Vec::with_capacity(expected + 1);
        starts.push(0);
        let mut name_starts = Vec::with_capacity(expected + 1);
        name_starts.push(0);
        let index = AccountIndex {
            users_version: 0,
            account_id: String::new(),
            text: Vec::new(),
            starts,
            filters: TrigramFilters::with_capacity(expected),
            ids: Vec::with_capacity(expected),
            names: String::new(),
            name_starts,
            status: Vec::with_capacity(expected),
            role: Vec::with_capacity(expected),
            group: Interned::with_capacity(expected),
            access_role: Interned::with_capacity(expected),
            permissions: Interned::with_capacity(expected),
            stamps: Vec::with_capacity(expected),
            disabled_at: SparseTimes::default(),
            tokens_valid_after: SparseTimes::default(),
            bytes: 0,
            by_name: OnceLock::new(),
            by_email: OnceLock::new(),
        };
        Self {
            capacity,
            expected,
            index,
            groups: InternKeys::new(),
            access_roles: InternKeys::new(),
            rights: InternKeys::new(),
        }
    }

    /// Adds the next user (ids must come in ascending order, all of one
    /// account).
    pub fn push(&mut self, entry: &SearchEntry) -> Result<(), Unindexable> {
        let user = &entry.user;
        let index = &mut self.index;
        if index.ids.len() >= self.capacity {
            return Err(Unindexable::TooManyUsers);
        }
        if index.ids.is_empty() {
            index.account_id.clone_from(&user.account_id);
        } else if index.account_id != user.account_id {
            return Err(Unindexable::Irregular);
        }
        // Checked before anything is pushed: a refused row leaves the
        // builder as it was.
        let id = held_exactly(entry)?;
        if index.ids.last().is_some_and(|last| *last >= id) {
            return Err(Unindexable::Irregular);
        }
        let text = entry.search_text.as_bytes();
        let stamps = Stamps {
            version: user.version,
            created_at: nanos(user.created_at)?,
            updated_at: nanos(user.updated_at)?,
        };
        if index.ids.len() == TEXT_SAMPLE && self.expected > TEXT_SAMPLE {
            index
                .text
                .reserve_exact(reserve_rest(index.text.len(), self.expected));
            index
                .names
                .reserve_exact(reserve_rest(index.names.len(), self.expected));
        }
        index.filters.add(index.ids.len(), text);
        index.text.extend_from_slice(text);
        index.text.push(END);
        index.names.push_str(&user.name);
        let end = u32::try_from(index.text.len()).map_err(|_| Unindexable::TooManyUsers)?;
        let name_end = u32::try_from(index.names.len()).map_err(|_| Unindexable::TooManyUsers)?;
        index.starts.push(end);
        index.name_starts.push(name_end);
        index.ids.push(id);
        index.status.push(user.status);
        index.role.push(user.role);
        let u = index.stamps.len();
        index.stamps.push(stamps);
        index.disabled_at.push(u, user.disabled_at)?;
        index.tokens_valid_after.push(u, user.tokens_valid_after)?;
        self.groups
            .push(&mut index.group, user.group_id.clone(), || {
                user.group_id.clone()
            })?;
        self.access_roles
            .push(&mut index.access_role, user.access_role_id.clone(), || {
                user.access_role_id.clone()
            })?;
        self.rights
            .push(&mut index.permissions, user.permissions.to_json(), || {
                user.permissions.clone()
            })?;
        Ok(())
    }

    /// The id of the last user added (where the next read starts).
    pub fn last_id(&self) -> Option<String> {
        self.index
            .ids
            .last()
            .map(|id| Uuid::from_u128(*id).hyphenated().to_string())
    }

    pub fn finish(self, users_version: i64) -> AccountIndex {
        let mut index = self.index;
        index.users_version = users_version;
        index.filters.regroup();
        index.text.shrink_to_fit();
        index.names.shrink_to_fit();
        index.disabled_at.shrink_to_fit();
        index.tokens_valid_after.shrink_to_fit();
        index.bytes = index.text.capacity()
            + index.starts.capacity() * 4
            + index.filters.bytes()
            + index.ids.capacity() * 16
            + index.names.capacity()
            + index.name_starts.capacity() * 4
            + index.status.capacity()
            + index.role.capacity()
            + index.stamps.capacity() * std::mem::size_of::<Stamps>()
            + index.disabled_at.bytes()
            + index.tokens_valid_after.bytes()
            + index.group.bytes(|g| g.as_ref().map_or(0, String::len))
            + index
                .access_role
                .bytes(|r| r.as_ref().map_or(0, String::len))
            + index.permissions.bytes(|_| 0);
        index
    }
}
