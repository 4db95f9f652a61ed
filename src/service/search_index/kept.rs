//! The copies kept, per account: which account's copy to search, which to
//! read, and which to drop to stay within the budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{AccountIndex, SearchCopy, Unindexable};

/// What a search should do about an account's copy.
pub enum Lookup {
    /// Search this copy (and check its version).
    Ready(Arc<SearchCopy>),
    /// There is none: read one (this call has claimed the read) and search
    /// the database meanwhile.
    Build,
    /// Search the database (a read is under way or paused).
    Database,
}

#[derive(Default)]
struct Slot {
    index: Option<Arc<SearchCopy>>,
    building: bool,
    /// A search is bringing the copy up to date.
    patching: bool,
    /// No read of the copy before this.
    not_before: Option<Instant>,
    /// When a search last asked (a tick of [`Accounts::tick`]).
    used: u64,
    /// And at what time.
    searched_at: Option<Instant>,
}

impl Slot {
    /// Claims the next read of the copy, if none is under way or paused.
    fn claim(&mut self, now: Instant) -> bool {
        if self.building || self.not_before.is_some_and(|at| now < at) {
            return false;
        }
        self.building = true;
        true
    }
}

#[derive(Default)]
struct Accounts {
    slots: HashMap<String, Slot>,
    /// Users in all kept copies.
    users: usize,
    /// Their heap bytes (but for orders made later).
    bytes: usize,
    tick: u64,
}

impl Accounts {
    fn publish(&self) {
        metrics::gauge!("roster_search_index_users").set(self.users as f64);
        metrics::gauge!("roster_search_index_bytes").set(self.bytes as f64);
    }
}

/// The kept copies, per account (see the module's docs).
pub struct SearchIndex {
    capacity: usize,
    accounts: Mutex<Accounts>,
}

/// How long after a read of `took` the next may start: `Changed` retries
/// soon, a copy that cannot be made is not tried for a minute.
fn pause_after(took: Duration, outcome: Result<(), Unindexable>) -> Duration {
    match outcome {
        Ok(()) | Err(Unindexable::Changed) => took * 4,
        Err(_) => (took * 4).max(Duration::from_secs(60)),
    }
}

impl SearchIndex {
    /// Copies holding at most `capacity` users in all (0: searches always
    /// read the database).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            accounts: Mutex::default(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn accounts(&self) -> MutexGuard<'_, Accounts> {
        // The map stays consistent even if a holder panicked.
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The account's copy, or whether to read one now.
    pub fn lookup(&self, account_id: &str) -> Lookup {
        if self.capacity == 0 {
            return Lookup::Database;
        }
        let mut accounts = self.accounts();
        accounts.tick += 1;
        let tick = accounts.tick;
        let slot = accounts.slots.entry(account_id.to_owned()).or_default();
        slot.used = tick;
        slot.searched_at = Some(Instant::now());
        if let Some(index) = &slot.index {
            return Lookup::Ready(index.clone());
        }
        if slot.claim(Instant::now()) {
            Lookup::Build
        } else {
            Lookup::Database
        }
    }

    /// The `users_version` of the account's kept copy, if one is kept.
    pub fn kept_version(&self, account_id: &str) -> Option<i64> {
        let accounts = self.accounts();
        let index = accounts.slots.get(account_id)?.index.as_ref()?;
        Some(index.users_version())
    }

    /// A search found the account's `users_version` at `current` (None: no
    /// such account), not at its copy's `stale`: drops that copy if
    /// `current` is newer, and claims a fresh read (false: one is under way
    /// or paused). Versions only grow, so a copy behind one a search has
    /// read can never answer again; kept while its successor is read, it
    /// would hold the account twice (a search that holds it goes on with
    /// its own reference). A copy already replaced is left, and no read
    /// claimed.
    pub fn refresh_stale(&self, account_id: &str, stale: i64, current: Option<i64>) -> bool {
        let mut accounts = self.accounts();
        let accounts = &mut *accounts;
        let Some(slot) = accounts.slots.get_mut(account_id) else {
            return false;
        };
        let gone = match slot.index.as_ref().map(|index| index.users_version()) {
            // Another read has replaced it already.
            Some(kept) if kept != stale => return false,
            Some(_) if current.is_none_or(|current| current > stale) => slot.index.take(),
            _ => None,
        };
        let claimed = slot.claim(Instant::now());
        if let Some(gone) = gone {
            accounts.users -= gone.len();
            accounts.bytes -= gone.bytes();
            accounts.publish();
        }
        claimed
    }

    /// Claims bringing the account's copy at `version` up to date from the
    /// changes since (false: the copy kept is another, or a search is
    /// doing it already). The copy stays kept and searched meanwhile.
    pub fn claim_patch(&self, account_id: &str, version: i64) -> bool {
        let mut accounts = self.accounts();
        let Some(slot) = accounts.slots.get_mut(account_id) else {
            return false;
        };
        let kept = slot.index.as_ref().map(|index| index.users_version());
        if kept != Some(version) || slot.patching {
            return false;
        }
        slot.patching = true;
        true
    }

    /// Ends a claimed patch of the copy at `version`: keeps `patched` in
    /// its place if that copy is still the one kept. Returns whether it
    /// was kept.
    pub fn finish_patch(
        &self,
        account_id: &str,
        version: i64,
        patched: Option<Arc<SearchCopy>>,
    ) -> bool {
        let mut accounts = self.accounts();
        let accounts = &mut *accounts;
        let Some(slot) = accounts.slots.get_mut(account_id) else {
            return false;
        };
        slot.patching = false;
        let (Some(patched), Some(kept)) = (patched, slot.index.as_mut()) else {
            return false;
        };
        if kept.users_version() != version {
            return false;
        }
        accounts.users = accounts.users - kept.len() + patched.len();
        accounts.bytes = accounts.bytes - kept.bytes() + patched.bytes();
        *kept = patched;
        accounts.publish();
        true
    }

    /// Ends a claimed read that took `took`: keeps the copy it made (the
    /// least recently searched copies make room), or drops the account's
    /// old copy when it made none.
    pub fn finish(
        &self,
        account_id: &str,
        built: Result<AccountIndex, Unindexable>,
        took: Duration,
    ) {
        let now = Instant::now();
        let mut accounts = self.accounts();
        let accounts = &mut *accounts;
        let slot = accounts.slots.entry(account_id.to_owned()).or_default();
        slot.building = false;
        slot.not_before = Some(now + pause_after(took, built.as_ref().map(|_| ()).map_err(|e| *e)));
        if let Some(old) = slot.index.take() {
            accounts.users -= old.len();
            accounts.bytes -= old.bytes();
        }
        if let Ok(index) = built
            && index.len() <= self.capacity
        {
            accounts.users += index.len();
            accounts.bytes += index.bytes();
            slot.index = Some(Arc::new(SearchCopy::new(index)));
        }
        // The least recently searched other copies make room.
        while accounts.users > self.capacity {
            let oldest = accounts
                .slots
                .iter()
                .filter(|(id, slot)| slot.index.is_some() && id.as_str() != account_id)
                .min_by_key(|(_, slot)| slot.used)
                .map(|(id, _)| id.clone());
            let Some(oldest) = oldest else { break };
            if let Some(gone) = accounts.slots.get_mut(&oldest).and_then(|s| s.index.take()) {
                accounts.users -= gone.len();
                accounts.bytes -= gone.bytes();
            }
        }
        // Slots that hold nothing and wait for nothing are forgotten.
        accounts.slots.retain(|_, slot| {
            slot.index.is_some() || slot.building || slot.not_before.is_some_and(|at| now < at)
        });
        accounts.publish();
    }

    /// Drops the copies no search has asked for in `idle` (their memory
    /// goes back to the system); returns how many.
    pub fn drop_idle(&self, idle: Duration) -> usize {
        let now = Instant::now();
        let mut accounts = self.accounts();
        let accounts = &mut *accounts;
        let mut dropped = 0;
        for slot in accounts.slots.values_mut() {
            let stale = slot
                .searched_at
                .is_none_or(|at| now.saturating_duration_since(at) >= idle);
            if stale && let Some(gone) = slot.index.take() {
                accounts.users -= gone.len();
                accounts.bytes -= gone.bytes();
                dropped += 1;
            }
        }
        if dropped > 0 {
            accounts.publish();
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::super::IndexBuilder;
    use super::super::tests::entry;
    use super::*;
    use uuid::Uuid;

    #[test]
    fn copies_share_the_capacity_least_recently_searched_first() {
        let kept = SearchIndex::new(5);
        let built = |n: u128| {
            let mut b = IndexBuilder::new(5, 0);
            for i in 1..=n {
                b.push(&entry(i, "u", &format!("u{i}@x.example"))).unwrap();
            }
            b.finish(1)
        };
        for account in ["a", "b"] {
            assert!(matches!(kept.lookup(account), Lookup::Build));
            // A second caller does not read it again meanwhile.
            assert!(matches!(kept.lookup(account), Lookup::Database));
            kept.finish(account, Ok(built(2)), Duration::ZERO);
        }
        assert!(matches!(kept.lookup("a"), Lookup::Ready(_)));
        assert!(matches!(kept.lookup("c"), Lookup::Build));
        kept.finish("c", Ok(built(3)), Duration::ZERO);
        // b was searched least recently: it made room.
        assert!(matches!(kept.lookup("a"), Lookup::Ready(_)));
        assert!(matches!(kept.lookup("b"), Lookup::Build));
        kept.finish("b", Err(Unindexable::Changed), Duration::from_secs(10));
        // A read that failed pauses the next one.
        assert!(matches!(kept.lookup("b"), Lookup::Database));
        assert!(!kept.refresh_stale("b", 1, Some(2)));
        assert!(kept.refresh_stale("c", 1, Some(2)));
        assert!(!kept.refresh_stale("c", 1, Some(2)));
    }

    #[test]
    fn a_copy_behind_the_version_a_search_read_is_dropped_at_once() {
        let kept = SearchIndex::new(10);
        let copy = |version| {
            let mut b = IndexBuilder::new(10, 2);
            b.push(&entry(1, "u", "u1@x.example")).unwrap();
            b.push(&entry(2, "v", "v2@x.example")).unwrap();
            b.finish(version)
        };
        assert!(matches!(kept.lookup("a"), Lookup::Build));
        kept.finish("a", Ok(copy(5)), Duration::ZERO);
        // A search that read an older version (it cannot, but if it did)
        // leaves the copy; the refresh is claimed all the same.
        assert!(kept.refresh_stale("a", 5, Some(4)));
        assert_eq!(kept.kept_version("a"), Some(5));
        kept.finish("a", Ok(copy(5)), Duration::ZERO);
        // A newer version: the copy goes while its successor is read, and
        // its users no longer count against the capacity.
        assert!(kept.refresh_stale("a", 5, Some(6)));
        assert_eq!(kept.kept_version("a"), None);
        assert_eq!(kept.accounts().users, 0);
        assert!(matches!(kept.lookup("a"), Lookup::Database));
        kept.finish("a", Ok(copy(6)), Duration::ZERO);
        assert_eq!(kept.kept_version("a"), Some(6));
        // A copy already replaced by a newer one is not dropped by a late
        // search that saw the old one out of date.
        assert!(!kept.refresh_stale("a", 5, Some(6)));
        assert_eq!(kept.kept_version("a"), Some(6));
        // The account is gone: its copy goes too.
        kept.refresh_stale("a", 6, None);
        assert_eq!(kept.kept_version("a"), None);
    }

    #[test]
    fn one_search_at_a_time_patches_the_copy_kept() {
        let kept = SearchIndex::new(10);
        let copy = |version| {
            let mut b = IndexBuilder::new(10, 1);
            b.push(&entry(1, "u", "u1@x.example")).unwrap();
            b.finish(version)
        };
        assert!(!kept.claim_patch("a", 5), "no copy");
        assert!(matches!(kept.lookup("a"), Lookup::Build));
        kept.finish("a", Ok(copy(5)), Duration::ZERO);
        assert!(!kept.claim_patch("a", 4), "another copy is kept");
        assert!(kept.claim_patch("a", 5));
        assert!(!kept.claim_patch("a", 5), "under way");
        let Lookup::Ready(five) = kept.lookup("a") else {
            panic!("kept")
        };
        let touched = [Uuid::from_u128(2).hyphenated().to_string()];
        let six = Arc::new(
            five.patched(&touched, vec![entry(2, "v", "v2@x.example")], 6)
                .unwrap(),
        );
        assert!(kept.finish_patch("a", 5, Some(six.clone())));
        assert_eq!(kept.kept_version("a"), Some(6));
        assert_eq!(kept.accounts().users, 2);
        // A patch of a copy no longer kept is not kept either, and a patch
        // that failed leaves the copy and frees the claim.
        assert!(kept.claim_patch("a", 6));
        assert!(!kept.finish_patch("a", 5, Some(five.clone())));
        assert!(!kept.finish_patch("a", 6, None));
        assert_eq!(kept.kept_version("a"), Some(6));
        assert!(kept.claim_patch("a", 6));
    }

    #[test]
    fn copies_no_search_asked_for_are_dropped() {
        let kept = SearchIndex::new(10);
        let mut b = IndexBuilder::new(10, 2);
        b.push(&entry(1, "u", "u1@x.example")).unwrap();
        assert!(matches!(kept.lookup("a"), Lookup::Build));
        kept.finish("a", Ok(b.finish(1)), Duration::ZERO);
        assert!(matches!(kept.lookup("a"), Lookup::Ready(_)));
        assert_eq!(kept.drop_idle(Duration::from_secs(3600)), 0);
        assert!(matches!(kept.lookup("a"), Lookup::Ready(_)));
        assert_eq!(kept.drop_idle(Duration::ZERO), 1);
        assert_eq!(kept.accounts().users, 0);
        assert_eq!(kept.accounts().bytes, 0);
        // The next search reads it again.
        assert!(matches!(kept.lookup("a"), Lookup::Build));
    }
}
