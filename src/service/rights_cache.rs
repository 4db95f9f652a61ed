//! The users that access checks read, kept in memory per account with the
//! account's `users_version` read before them. Every check reads the
//! current version first (shared by concurrent calls, never older than the
//! call); kept users are used only while it is unchanged. A trigger bumps
//! the version with every insert, update and delete of the account's users
//! (a new role or rights, a group move, a disable, a role edit rewriting its
//! holders), whoever makes it, so the next check on any replica sees the
//! change, as without the cache. The same rule keeps ListUsers' pages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::domain::User;

/// Users of one account by id, as read together: None for an id that is not
/// a user of the account (unknown or removed).
pub type KeptUsers = HashMap<String, Option<Arc<User>>, foldhash::fast::RandomState>;

/// The kept users of one account. Checks share the map (an `Arc` cloned
/// under the lock); a miss copies it before adding to it.
struct AccountUsers {
    users_version: i64,
    by_id: Arc<KeptUsers>,
}

#[derive(Default)]
struct Accounts {
    by_id: HashMap<String, AccountUsers>,
    /// Ids kept in all accounts.
    ids: usize,
}

/// At most `capacity` ids kept in all (0: none). A kept user takes about
/// 400 bytes; its password hash is not kept.
pub struct RightsCache {
    capacity: usize,
    accounts: Mutex<Accounts>,
}

impl RightsCache {
    pub fn new(capacity: usize) -> Self {
        RightsCache {
            capacity,
            accounts: Mutex::default(),
        }
    }

    fn accounts(&self) -> MutexGuard<'_, Accounts> {
        // The map stays consistent even if a holder panicked.
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The users kept for the account at `users_version` (some of them:
    /// the caller looks for each id it needs).
    pub fn at(&self, account_id: &str, users_version: i64) -> Option<Arc<KeptUsers>> {
        let accounts = self.accounts();
        let account = accounts.by_id.get(account_id)?;
        (account.users_version == users_version).then(|| account.by_id.clone())
    }

    /// Keeps `read`, users read together after `users_version` was, unless
    /// users read at a later version are kept already. When full, the other
    /// accounts' users go, then this account's: checks then read again, as
    /// without the cache.
    pub fn put(&self, account_id: &str, users_version: i64, read: &KeptUsers) {
        if read.len() > self.capacity {
            return;
        }
        let mut accounts = self.accounts();
        let accounts = &mut *accounts;
        let stale = match accounts.by_id.get(account_id) {
            Some(account) if account.users_version > users_version => return,
            Some(account) => account.users_version < users_version,
            None => true,
        };
        if stale {
            let gone = accounts.by_id.insert(
                account_id.to_owned(),
                AccountUsers {
                    users_version,
                    by_id: Arc::default(),
                },
            );
            accounts.ids -= gone.map_or(0, |a| a.by_id.len());
        }
        if accounts.ids + read.len() > self.capacity {
            accounts.by_id.retain(|id, _| id == account_id);
            accounts.ids = accounts.by_id.values().map(|a| a.by_id.len()).sum();
        }
        let Some(account) = accounts.by_id.get_mut(account_id) else {
            return;
        };
        if accounts.ids + read.len() > self.capacity {
            accounts.ids -= account.by_id.len();
            account.by_id = Arc::default();
        }
        let kept = Arc::make_mut(&mut account.by_id);
        let before = kept.len();
        kept.extend(read.iter().map(|(id, user)| (id.clone(), user.clone())));
        accounts.ids += kept.len() - before;
        metrics::gauge!("roster_access_cache_users").set(accounts.ids as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn user(id: &str) -> Arc<User> {
        Arc::new(User::example(id, Role::Member))
    }

    /// Users read together: the named ones found, the others not users.
    fn read(found: &[&str], not_users: &[&str]) -> KeptUsers {
        let found = found.iter().map(|id| (id.to_string(), Some(user(id))));
        let not_users = not_users.iter().map(|id| (id.to_string(), None));
        found.chain(not_users).collect()
    }

    fn kept(cache: &RightsCache, account: &str, version: i64, id: &str) -> Option<bool> {
        let users = cache.at(account, version)?;
        users.get(id).map(Option::is_some)
    }

    #[test]
    fn kept_users_serve_only_their_own_version() {
        let cache = RightsCache::new(100);
        cache.put("acc", 5, &read(&["a"], &["gone"]));
        assert_eq!(kept(&cache, "acc", 5, "a"), Some(true));
        assert_eq!(kept(&cache, "acc", 5, "gone"), Some(false), "not a user");
        assert_eq!(kept(&cache, "acc", 5, "b"), None, "never read");
        assert!(cache.at("acc", 6).is_none(), "another version");
        assert!(cache.at("other", 5).is_none(), "another account");
    }

    #[test]
    fn a_later_version_replaces_and_an_earlier_one_is_ignored() {
        let cache = RightsCache::new(100);
        cache.put("acc", 5, &read(&["a"], &[]));
        cache.put("acc", 7, &read(&["b"], &[]));
        assert_eq!(kept(&cache, "acc", 7, "a"), None);
        assert_eq!(kept(&cache, "acc", 7, "b"), Some(true));
        cache.put("acc", 6, &read(&["a"], &[]));
        assert_eq!(kept(&cache, "acc", 7, "a"), None);
        assert!(cache.at("acc", 6).is_none());
    }

    #[test]
    fn a_map_in_use_is_not_changed_under_its_reader() {
        let cache = RightsCache::new(100);
        cache.put("acc", 5, &read(&["a"], &[]));
        let held = cache.at("acc", 5);
        cache.put("acc", 5, &read(&["b"], &[]));
        assert_eq!(held.map(|users| users.len()), Some(1));
        assert_eq!(kept(&cache, "acc", 5, "a"), Some(true));
        assert_eq!(kept(&cache, "acc", 5, "b"), Some(true));
    }

    #[test]
    fn the_capacity_holds() {
        let cache = RightsCache::new(3);
        cache.put("one", 1, &read(&["a", "b"], &[]));
        cache.put("two", 1, &read(&["c", "d"], &[]));
        assert!(cache.at("one", 1).is_none(), "made room");
        assert_eq!(kept(&cache, "two", 1, "d"), Some(true));
        cache.put("two", 1, &read(&["e", "f"], &[]));
        assert_eq!(kept(&cache, "two", 1, "c"), None, "made room");
        assert_eq!(kept(&cache, "two", 1, "f"), Some(true));
        assert!(cache.accounts().ids <= 3);
        cache.put("two", 1, &read(&["g", "h", "i", "j"], &[]));
        assert_eq!(kept(&cache, "two", 1, "g"), None, "more than all of it");
        let none = RightsCache::new(0);
        none.put("one", 1, &read(&["a"], &[]));
        assert_eq!(kept(&none, "one", 1, "a"), None);
    }
}
