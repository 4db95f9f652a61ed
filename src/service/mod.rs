//! Use cases, free of transport: each takes the caller and validated input,
//! checks the rules, and runs its reads and writes through the store.

pub mod access;
pub mod access_roles;
pub mod accounts;
pub mod add_preview;
pub mod auth;
pub mod billing;
pub mod bulk_add;
pub mod email_change;
pub mod events;
pub mod groups;
pub mod handover;
pub mod idempotency;
pub mod jobs;
pub mod journal;
pub mod lifecycle;
pub mod page_cache;
pub mod paging;
pub mod passwords;
pub mod records;
pub mod retention;
pub mod rights_cache;
pub mod rules;
pub mod search_index;
pub mod seats;
pub mod transfers;
pub mod user_list;
pub mod user_search;
pub mod users;
pub mod worker;

use std::sync::Arc;

use chrono::NaiveDateTime;

use crate::auth::PasswordHasher;
use crate::auth::password::HashParams;
use crate::clock::Clock;
use crate::domain::{Account, PriceList};
use crate::error::{Error, Reason, Result};
use crate::store::Store;

/// What every use case works with: the store, the hasher, the clock, the
/// prices, job settings, the kept ListUsers pages, and the shutdown signal.
/// Built once, by [`Context::new`], and shared by the use-case services.
#[derive(Clone)]
pub struct Context {
    pub store: Store,
    pub hasher: PasswordHasher,
    pub clock: Arc<dyn Clock>,
    pub prices: PriceList,
    pub jobs: jobs::JobSettings,
    /// Recent ListUsers pages (shared by clones).
    pub pages: Arc<page_cache::PageCache>,
    /// The users access checks read, kept per account (shared by clones).
    pub rights: Arc<rights_cache::RightsCache>,
    /// Copies of accounts' users for text searches (shared by clones).
    pub search: Arc<search_index::SearchIndex>,
    /// Becomes true when the server starts shutting down: long streams end
    /// so that the shutdown is not held up by followers.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

/// How to build a [`Context`] around a store.
#[derive(Clone)]
pub struct ContextSettings {
    pub hash_params: HashParams,
    /// Hashes computed at once (argon2 is memory- and CPU-bound).
    pub hash_concurrency: usize,
    pub clock: Arc<dyn Clock>,
    pub prices: PriceList,
    pub jobs: jobs::JobSettings,
    /// Users kept in recent ListUsers pages (0: none).
    pub list_cache_users: usize,
    /// Users kept for access checks (0: none).
    pub access_cache_users: usize,
    /// Users copied in memory for text searches (0: none).
    pub search_index_users: usize,
}

impl Context {
    pub fn new(
        store: Store,
        settings: ContextSettings,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<Context> {
        Ok(Context {
            store,
            hasher: PasswordHasher::new(settings.hash_params, settings.hash_concurrency)?,
            clock: settings.clock,
            prices: settings.prices,
            jobs: settings.jobs,
            pages: Arc::new(page_cache::PageCache::new(settings.list_cache_users)),
            rights: Arc::new(rights_cache::RightsCache::new(settings.access_cache_users)),
            search: Arc::new(search_index::SearchIndex::new(settings.search_index_users)),
            stopping,
        })
    }

    pub fn now(&self) -> NaiveDateTime {
        self.clock.now()
    }
}

/// Declares a use-case service: a view of the shared [`Context`] (its
/// fields read as the service's own), with the methods of one area.
macro_rules! use_case {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            context: Context,
        }

        impl $name {
            pub fn new(context: Context) -> Self {
                $name { context }
            }
        }

        impl std::ops::Deref for $name {
            type Target = Context;

            fn deref(&self) -> &Context {
                &self.context
            }
        }
    };
}

use_case!(
    /// CreateAccount and GetAccount.
    AccountService
);
use_case!(
    /// AddUser, GetUser, ListUsers, UpdateUser.
    UserService
);
use_case!(
    /// DisableUser, ActivateUser, RemoveUser.
    LifecycleService
);
use_case!(
    /// Bulk calls and the jobs that run them: start, get, list, cancel, watch.
    JobService
);
use_case!(
    /// Seats, plans, recalculations, period rollover and the ledger.
    BillingService
);
use_case!(
    /// Work records: register, list, count.
    RecordService
);
use_case!(
    /// The event log as a stream.
    EventService
);
use_case!(
    /// Password checks, changes and resets.
    PasswordService
);
use_case!(
    /// Groups of users.
    GroupService
);
use_case!(
    /// Deleting what has outlived its retention.
    RetentionService
);
use_case!(
    /// CheckAccess and BatchCheckAccess.
    AccessService
);
use_case!(
    /// Access roles: create, read, list, update, delete.
    AccessRoleService
);

/// Every use case, each over the same [`Context`].
#[derive(Clone)]
pub struct Roster {
    pub context: Context,
    pub accounts: AccountService,
    pub users: UserService,
    pub lifecycle: LifecycleService,
    pub jobs: JobService,
    pub billing: BillingService,
    pub records: RecordService,
    pub events: EventService,
    pub passwords: PasswordService,
    pub groups: GroupService,
    pub retention: RetentionService,
    pub access: AccessService,
    pub access_roles: AccessRoleService,
}

impl Roster {
    pub fn new(context: Context) -> Roster {
        Roster {
            accounts: AccountService::new(context.clone()),
            users: UserService::new(context.clone()),
            lifecycle: LifecycleService::new(context.clone()),
            jobs: JobService::new(context.clone()),
            billing: BillingService::new(context.clone()),
            records: RecordService::new(context.clone()),
            events: EventService::new(context.clone()),
            passwords: PasswordService::new(context.clone()),
            groups: GroupService::new(context.clone()),
            retention: RetentionService::new(context.clone()),
            access: AccessService::new(context.clone()),
            access_roles: AccessRoleService::new(context.clone()),
            context,
        }
    }
}

/// Why a trial account refuses writes.
const TRIAL_EXPIRED: &str =
    "the 14-day trial has ended; choose a plan to make changes (reads keep working)";

/// SPEC rule 8: a trial account refuses writes once its 14 days are over.
pub fn ensure_writable(account: &Account, now: NaiveDateTime) -> Result<()> {
    if account.trial_expired(now) {
        return Err(Error::precondition(Reason::TrialExpired, TRIAL_EXPIRED));
    }
    Ok(())
}

/// The account, locked for the rest of the write transaction (every write
/// takes it first), or NOT_FOUND.
pub async fn locked_account<R: crate::store::Repo>(
    conn: &mut R,
    account_id: &str,
) -> Result<Account> {
    conn.lock_account(account_id)
        .await?
        .ok_or_else(Error::account_not_found)
}

/// A fresh time-ordered id (UUIDv7): new rows land at the end of indexes.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
