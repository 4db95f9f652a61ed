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

/// The kept users of one account: None for an id that is not a user of the
/// account (unknown or removed).
struct AccountUsers {
    users_version: i64,
    by_id: HashMap<String, Option<Arc<User>>>,
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

/// What [`RightsCache::get`] found: every id asked for, or none.
pub type KeptUsers = HashMap<String, Option<Arc<User>>>;

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

    /// The users `ids` as kept at `users_version`, if every one of them is
    /// (a call's users are then all from one read, never a mix).
    pub fn get(&self, account_id: &str, users_version: i64, ids: &[String]) -> Option<KeptUsers> {
        let kept = self.kept(account_id, users_version, ids);
        let source = if kept.is_some() { "kept" } else { "database" };
        metrics::counter!("roster_access_user_reads_total", "source" => source).increment(1);
        kept
    }

    fn kept(&self, account_id: &str, users_version: i64, ids: &[String]) -> Option<KeptUsers> {
        let accounts = self.accounts();
        let account = accounts.by_id.get(account_id)?;
        if account.users_version != users_version {
            return None;
        }
        ids.iter()
            .map(|id| Some((id.clone(), account.by_id.get(id)?.clone())))
            .collect()
    }

    /// Keeps `found`, the users among `ids` read after `users_version` was
    /// (the others are not users of the account), unless users read at a
    /// later version are kept already. When full, everything kept goes:
    /// checks then read again, as without the cache.
    pub fn put(&self, account_id: &str, users_version: i64, ids: &[String], found: &[Arc<User>]) {
        if ids.len() > self.capacity {
            return;
        }
        let mut accounts = self.accounts();
        let reset = match accounts.by_id.get(account_id) {
            Some(account) if account.users_version > users_version => return,
            Some(account) => (account.users_version < users_version).then_some(account.by_id.len()),
            None => Some(0),
        };
        if let Some(dropped) = reset {
            accounts.ids -= dropped;
            accounts.by_id.insert(
                account_id.to_owned(),
                AccountUsers {
                    users_version,
                    by_id: HashMap::new(),
                },
            );
        }
        if accounts.ids + ids.len() > self.capacity {
            accounts.by_id.retain(|id, _| id == account_id);
            accounts.ids = accounts.by_id.values().map(|a| a.by_id.len()).sum();
            if accounts.ids + ids.len() > self.capacity {
                accounts.ids = 0;
                if let Some(account) = accounts.by_id.get_mut(account_id) {
                    account.by_id.clear();
                }
            }
        }
        let by_id: HashMap<&str, &Arc<User>> = found.iter().map(|u| (u.id.as_str(), u)).collect();
        let Some(account) = accounts.by_id.get_mut(account_id) else {
            return;
        };
        let before = account.by_id.len();
        for id in ids {
            let user = by_id.get(id.as_str()).map(|u| Arc::clone(u));
            account.by_id.insert(id.clone(), user);
        }
        let added = account.by_id.len() - before;
        accounts.ids += added;
        metrics::gauge!("roster_access_cache_users").set(accounts.ids as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Permissions, Role, UserStatus};

    fn user(id: &str) -> Arc<User> {
        Arc::new(User {
            id: id.into(),
            account_id: "acc".into(),
            name: id.into(),
            email: format!("{id}@x.test"),
            password_hash: String::new(),
            group_id: None,
            role: Role::Member,
            access_role_id: None,
            permissions: Permissions::default_for(Role::Member),
            status: UserStatus::Active,
            version: 1,
            tokens_valid_after: None,
            created_at: chrono::NaiveDateTime::default(),
            updated_at: chrono::NaiveDateTime::default(),
            disabled_at: None,
        })
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kept_users_serve_only_their_own_version_and_only_all_together() {
        let cache = RightsCache::new(100);
        cache.put("acc", 5, &ids(&["a", "gone"]), &[user("a")]);
        let kept = cache.get("acc", 5, &ids(&["a", "gone"]));
        let kept = kept.as_ref();
        assert!(kept.and_then(|k| k.get("a")).is_some_and(|u| u.is_some()));
        assert!(
            kept.and_then(|k| k.get("gone"))
                .is_some_and(|u| u.is_none())
        );
        assert!(
            cache.get("acc", 6, &ids(&["a"])).is_none(),
            "another version"
        );
        assert!(
            cache.get("acc", 5, &ids(&["a", "b"])).is_none(),
            "b is not kept"
        );
        assert!(
            cache.get("other", 5, &ids(&["a"])).is_none(),
            "another account"
        );
    }

    #[test]
    fn a_later_version_replaces_and_an_earlier_one_is_ignored() {
        let cache = RightsCache::new(100);
        cache.put("acc", 5, &ids(&["a"]), &[user("a")]);
        cache.put("acc", 7, &ids(&["b"]), &[user("b")]);
        assert!(cache.get("acc", 7, &ids(&["a"])).is_none());
        assert!(cache.get("acc", 7, &ids(&["b"])).is_some());
        cache.put("acc", 6, &ids(&["a"]), &[user("a")]);
        assert!(cache.get("acc", 7, &ids(&["a"])).is_none());
        assert!(cache.get("acc", 6, &ids(&["a"])).is_none());
    }

    #[test]
    fn the_capacity_holds() {
        let cache = RightsCache::new(3);
        cache.put("one", 1, &ids(&["a", "b"]), &[user("a"), user("b")]);
        cache.put("two", 1, &ids(&["c", "d"]), &[user("c"), user("d")]);
        assert!(cache.get("one", 1, &ids(&["a"])).is_none(), "made room");
        assert!(cache.get("two", 1, &ids(&["c", "d"])).is_some());
        cache.put("two", 1, &ids(&["e", "f"]), &[]);
        assert!(cache.accounts().ids <= 3);
        let none = RightsCache::new(0);
        none.put("one", 1, &ids(&["a"]), &[user("a")]);
        assert!(none.get("one", 1, &ids(&["a"])).is_none());
    }
}
