//! Recent ListUsers pages kept in memory. Each page carries the account's
//! `users_version` read in the same statement as its rows; a trigger bumps
//! that count with every insert, update and delete of the account's users,
//! whoever makes it (this process, another replica, SQL by hand). A kept
//! page is served again only after a fresh read of the count finds it
//! unchanged, so a change is seen by the next call, as without the cache.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use crate::domain::User;

/// One page as ListUsers answers it.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Arc<[User]>,
    pub next_page_token: String,
}

/// Which page: the filters a page token is bound to (the account among
/// them), where the page starts, and its size.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub filters: String,
    pub after: Option<String>,
    pub limit: i64,
}

struct Entry {
    users_version: i64,
    page: UserPage,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<PageKey, Entry>,
    /// Keys in the order they were first kept: the oldest goes first.
    order: VecDeque<PageKey>,
    /// Users in all kept pages.
    rows: usize,
}

/// Pages holding at most `capacity` users in all (0: nothing is kept). A
/// user row kept here takes about 400 bytes.
pub struct PageCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

impl PageCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::default(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map stays consistent even if a holder panicked.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether some version of this page is kept (worth checking the
    /// account's current version for).
    pub fn holds(&self, key: &PageKey) -> bool {
        self.capacity > 0 && self.entries().by_key.contains_key(key)
    }

    /// The page kept for `key`, if it was read at `users_version`.
    pub fn get(&self, key: &PageKey, users_version: i64) -> Option<UserPage> {
        let entries = self.entries();
        let entry = entries.by_key.get(key)?;
        let kept = (entry.users_version == users_version).then(|| entry.page.clone());
        if kept.is_some() {
            metrics::counter!("roster_list_pages_total", "source" => "kept").increment(1);
        }
        kept
    }

    /// Keeps a page read at `users_version`, unless a page read at a later
    /// version is already kept (a slower call finishing late). The oldest
    /// pages make room.
    pub fn put(&self, key: PageKey, users_version: i64, page: UserPage) {
        let size = page.users.len();
        if self.capacity == 0 || size > self.capacity {
            return;
        }
        let mut entries = self.entries();
        if let Some(kept) = entries.by_key.get(&key) {
            if kept.users_version > users_version {
                return;
            }
            let kept_size = kept.page.users.len();
            entries.rows -= kept_size;
            entries.by_key.remove(&key);
            entries.order.retain(|k| k != &key);
        }
        while entries.rows + size > self.capacity {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            if let Some(gone) = entries.by_key.remove(&oldest) {
                entries.rows -= gone.page.users.len();
            }
        }
        entries.rows += size;
        metrics::gauge!("roster_list_cache_users").set(entries.rows as f64);
        entries.order.push_back(key.clone());
        entries.by_key.insert(
            key,
            Entry {
                users_version,
                page,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.entries().by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn key(after: &str) -> PageKey {
        PageKey {
            filters: "account|None".into(),
            after: Some(after.into()),
            limit: 51,
        }
    }

    fn page(token: &str) -> UserPage {
        sized(token, 1)
    }

    fn sized(token: &str, rows: usize) -> UserPage {
        let row = User::example("u", Role::Member);
        UserPage {
            users: vec![row; rows].into(),
            next_page_token: token.into(),
        }
    }

    #[test]
    fn serves_a_page_only_at_the_version_it_was_read_at() {
        let cache = PageCache::new(4);
        assert!(!cache.holds(&key("a")));
        cache.put(key("a"), 7, page("p7"));
        assert!(cache.holds(&key("a")));
        assert_eq!(
            cache.get(&key("a"), 7).map(|p| p.next_page_token),
            Some("p7".into())
        );
        assert!(cache.get(&key("a"), 8).is_none());
        assert!(cache.get(&key("b"), 7).is_none());
    }

    #[test]
    fn a_late_older_page_does_not_replace_a_newer_one() {
        let cache = PageCache::new(4);
        cache.put(key("a"), 8, page("p8"));
        cache.put(key("a"), 7, page("p7"));
        assert_eq!(
            cache.get(&key("a"), 8).map(|p| p.next_page_token),
            Some("p8".into())
        );
        cache.put(key("a"), 9, page("p9"));
        assert_eq!(
            cache.get(&key("a"), 9).map(|p| p.next_page_token),
            Some("p9".into())
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_oldest_pages_make_room_and_zero_keeps_nothing() {
        let cache = PageCache::new(5);
        cache.put(key("a"), 1, sized("a", 2));
        cache.put(key("b"), 1, sized("b", 2));
        cache.put(key("c"), 1, sized("c", 2));
        assert!(!cache.holds(&key("a")));
        assert!(cache.holds(&key("b")) && cache.holds(&key("c")));
        // Replacing a page frees its old rows first: 2 + 3 fit.
        cache.put(key("b"), 2, sized("b", 3));
        assert!(cache.holds(&key("b")) && cache.holds(&key("c")));
        // A replaced page counts as kept last: c is now the oldest.
        cache.put(key("e"), 1, sized("e", 1));
        assert!(!cache.holds(&key("c")));
        assert!(cache.holds(&key("b")) && cache.holds(&key("e")));
        // A page larger than the whole budget is not kept.
        cache.put(key("d"), 1, sized("d", 6));
        assert!(!cache.holds(&key("d")));
        assert_eq!(cache.len(), 2);

        let off = PageCache::new(0);
        off.put(key("a"), 1, sized("a", 0));
        off.put(key("b"), 1, page("b"));
        assert!(!off.holds(&key("b")) && !off.holds(&key("a")));
        assert!(off.is_empty());
    }
}
