//! Use cases, free of transport: each takes the caller and validated input,
//! checks the rules, and runs its reads and writes through the store.

pub mod accounts;
pub mod auth;
pub mod billing;
pub mod events;
pub mod groups;
pub mod handover;
pub mod idempotency;
pub mod jobs;
pub mod lifecycle;
pub mod page_cache;
pub mod paging;
pub mod passwords;
pub mod records;
pub mod retention;
pub mod seats;
pub mod users;
pub mod worker;

use std::sync::Arc;

use chrono::NaiveDateTime;

use crate::auth::PasswordHasher;
use crate::clock::Clock;
use crate::domain::{Account, PriceList};
use crate::error::{Error, Reason, Result};
use crate::store::Store;

/// Everything the use cases need.
#[derive(Clone)]
pub struct Roster {
    pub store: Store,
    pub hasher: PasswordHasher,
    pub clock: Arc<dyn Clock>,
    pub prices: PriceList,
    pub jobs: jobs::JobSettings,
    /// Recent ListUsers pages (shared by clones).
    pub pages: Arc<page_cache::PageCache>,
    /// Becomes true when the server starts shutting down: long streams end
    /// so that the shutdown is not held up by followers.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

impl Roster {
    pub fn now(&self) -> NaiveDateTime {
        self.clock.now()
    }
}

/// SPEC rule 8: a trial account refuses writes once its 14 days are over.
pub fn ensure_writable(account: &Account, now: NaiveDateTime) -> Result<()> {
    if account.trial_expired(now) {
        return Err(Error::precondition(
            Reason::TrialExpired,
            "the 14-day trial has ended; choose a plan to make changes (reads keep working)",
        ));
    }
    Ok(())
}

/// A fresh time-ordered id (UUIDv7): new rows land at the end of indexes.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
