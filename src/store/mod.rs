//! Storage: pools, migrations and every SQL statement.
//!
//! Queries are written once, in `queries.rs`, as the [`Repo`] trait
//! implementation, and compiled once per backend (SQLite and PostgreSQL) by
//! including that file in two modules with a different `Conn` type (the
//! vaultwarden pattern: diesel-async has no async `MultiConnection`). The
//! [`read!`](crate::read) and [`write!`](crate::write) macros pick the pool at
//! run time and hand the body a connection of the concrete type.
//!
//! Write transactions take the account lock first: on PostgreSQL
//! `SELECT .. FOR UPDATE` on the account row, on SQLite `BEGIN IMMEDIATE`
//! (one writer at a time). Everything that must not race inside one account
//! (seat counting, last-admin checks, event sequence numbers) happens after
//! that lock, so it is race-free across threads and replicas.

pub mod coalesced;
pub mod models;
pub mod pipelined;
pub mod schema;
pub mod timestamp;

use std::{future::Future, path::Path, sync::Arc, time::Duration};

use chrono::NaiveDateTime;
use diesel::Connection as _;
use diesel_async::{
    AsyncPgConnection,
    pooled_connection::{
        AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod, deadpool::Pool,
    },
    sync_connection_wrapper::SyncConnectionWrapper,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures::FutureExt;

use crate::error::Result;
use models::*;

pub type SqliteConn = SyncConnectionWrapper<diesel::SqliteConnection, SqliteRunner>;

/// Where a SQLite connection runs its (blocking) calls.
///
/// Writes run on one dedicated thread: they may wait seconds for SQLite's
/// single write lock, and SQLite allocates with the C library's malloc,
/// which gives every thread that allocates its own arena and keeps freed
/// memory there. Writes spread over tokio's blocking pool left a few MiB in
/// each of up to 16 arenas (a 1,000,000-record job: +25 MiB resident);
/// one thread is one arena. There is one write connection (see
/// [`Store::open`]), so one thread costs no concurrency. Reads never wait
/// for a lock in WAL mode and take microseconds, so they run on the calling
/// worker: handing each one to another thread and back cost more than the
/// query (two context switches per query, most of a GetUser's CPU time
/// before this).
pub enum SqliteRunner {
    Inline,
    Writer(Arc<WriterThread>),
    Blocking(tokio::runtime::Handle),
}

type WriterJob = Box<dyn FnOnce() + Send>;

/// The thread running a SQLite store's writes, in the order they come.
pub struct WriterThread {
    jobs: std::sync::mpsc::Sender<WriterJob>,
}

impl WriterThread {
    /// Starts the thread; it ends when the last handle is dropped.
    pub fn start() -> std::io::Result<Arc<Self>> {
        let (jobs, queue) = std::sync::mpsc::channel::<WriterJob>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                for job in queue {
                    job();
                }
            })?;
        Ok(Arc::new(WriterThread { jobs }))
    }

    fn run<'a, R: Send + 'static>(
        &self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> futures::future::BoxFuture<'a, std::result::Result<R, BoxedError>> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: WriterJob = Box::new(move || {
            // A panic is answered as an error, and the thread lives on.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
            let _ = done.send(result);
        });
        let queued = self.jobs.send(job);
        async move {
            queued.map_err(|_| BoxedError::from("the SQLite writer thread has stopped"))?;
            match answer.await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(_)) => Err(BoxedError::from("a SQLite write panicked")),
                Err(_) => Err(BoxedError::from("the SQLite writer thread has stopped")),
            }
        }
        .boxed()
    }
}

type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl diesel_async::sync_connection_wrapper::SpawnBlocking for SqliteRunner {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> futures::future::BoxFuture<'a, std::result::Result<R, BoxedError>>
    where
        R: Send + 'static,
    {
        match self {
            SqliteRunner::Inline => futures::future::ready(Ok(task())).boxed(),
            SqliteRunner::Writer(thread) => thread.run(task),
            SqliteRunner::Blocking(handle) => handle
                .spawn_blocking(task)
                .map(|joined| joined.map_err(|e| Box::new(e) as Box<_>))
                .boxed(),
        }
    }

    fn get_runtime() -> Self {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => SqliteRunner::Blocking(handle),
            Err(_) => SqliteRunner::Inline,
        }
    }
}

/// `BEGIN IMMEDIATE`: takes SQLite's write lock up front (waiting up to
/// busy_timeout), so a transaction never fails half-way on a lock upgrade.
pub async fn begin_immediate(conn: &mut SqliteConn) -> Result<()> {
    use diesel::connection::AnsiTransactionManager;
    conn.spawn_blocking(|inner| {
        AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")
    })
    .await?;
    Ok(())
}

/// Commits on `Ok`, rolls back on `Err`; returns `result` (or the commit's
/// error).
pub async fn end_transaction<T>(conn: &mut SqliteConn, result: Result<T>) -> Result<T> {
    use diesel::connection::AnsiTransactionManager;
    use diesel_async::TransactionManager as _;
    type Manager = diesel_async::sync_connection_wrapper::SyncTransactionManagerWrapper<
        AnsiTransactionManager,
    >;
    match result {
        Ok(value) => {
            Manager::commit_transaction(conn).await?;
            Ok(value)
        }
        Err(e) => {
            Manager::rollback_transaction(conn).await?;
            Err(e)
        }
    }
}

/// SQLite's two pools: one for write transactions, one for reads.
#[derive(Clone)]
pub struct SqlitePools {
    pub write: Pool<SqliteConn>,
    pub read: Pool<SqliteConn>,
}
pub type PgConn = AsyncPgConnection;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("src/store/migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("src/store/migrations/postgres");

/// The reads of users that every call makes (a user token's own row) or
/// that are hot (GetUser, ListUsers). Besides both backends' connections,
/// implemented for a shared PostgreSQL connection (`&PgConn`, see
/// [`pipelined`]), which takes them through [`read_users!`](crate::read_users).
pub trait UserReads: Send {
    /// A user by id in any account (authentication of user tokens).
    fn find_user_by_id(
        &mut self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<UserRow>>> + Send;
    /// A user of one account (GetUser for a caller already authenticated).
    fn find_user(
        &mut self,
        account_id: &str,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<UserRow>>> + Send;
    /// Up to two users of an account in one query: a user token's own row
    /// (to authenticate it) and the row the call asks for.
    fn find_caller_and_user(
        &mut self,
        account_id: &str,
        caller_id: &str,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<UserRow>>> + Send;
    /// A user by id with its account's `users_version`, in one statement.
    fn find_user_with_users_version(
        &mut self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<(UserRow, i64)>>> + Send;
    /// An account's `users_version` (None: no such account).
    fn find_users_version(
        &mut self,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<i64>>> + Send;
    /// Users in id (creation) order after `after_id`, at most `limit`, with
    /// the account's `users_version` read in the same statement.
    fn list_users(
        &mut self,
        account_id: &str,
        filter: &UserFilter,
        after_id: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<UsersAtVersion>> + Send;
    /// A user token's own row (to authenticate it) and a page of
    /// [`UserReads::list_users`], from one connection: one after the other
    /// here; on a shared PostgreSQL connection both go out back to back, so
    /// the caller waits for one round trip instead of two.
    fn find_caller_and_list_users(
        &mut self,
        caller_id: &str,
        account_id: &str,
        filter: &UserFilter,
        after_id: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<(Option<UserRow>, UsersAtVersion)>> + Send {
        async move {
            let caller = self.find_user_by_id(caller_id).await?;
            let page = self.list_users(account_id, filter, after_id, limit).await?;
            Ok((caller, page))
        }
    }
}

/// Every query Roster runs. Implemented for both backends' connections by
/// `queries.rs`; the use cases in `service/` are generic over it.
pub trait Repo: UserReads + Send {
    /// Locks the account for the rest of the transaction and returns it.
    fn lock_account(&mut self, id: &str)
    -> impl Future<Output = Result<Option<AccountRow>>> + Send;
    fn find_account(&mut self, id: &str)
    -> impl Future<Output = Result<Option<AccountRow>>> + Send;
    fn insert_account(&mut self, row: &AccountRow) -> impl Future<Output = Result<()>> + Send;
    fn set_seats_purchased(
        &mut self,
        account_id: &str,
        seats: i32,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Appends an event with the account's next sequence number. Call with
    /// the account locked.
    fn append_event(
        &mut self,
        account_id: &str,
        event: NewEvent,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<i64>> + Send;
    fn insert_ledger_entry(
        &mut self,
        entry: &NewLedgerEntry,
    ) -> impl Future<Output = Result<LedgerRow>> + Send;

    fn find_idempotency_key(
        &mut self,
        namespace: &str,
        operation: &str,
        request_id: &str,
    ) -> impl Future<Output = Result<Option<IdempotencyRow>>> + Send;
    fn insert_idempotency_key(
        &mut self,
        row: &IdempotencyRow,
    ) -> impl Future<Output = Result<()>> + Send;

    fn email_taken(&mut self, email: &str) -> impl Future<Output = Result<bool>> + Send;
    fn insert_user(&mut self, row: &UserRow) -> impl Future<Output = Result<()>> + Send;
    /// A user by (normalized) email in any account (VerifyPassword).
    fn find_user_by_email(
        &mut self,
        email: &str,
    ) -> impl Future<Output = Result<Option<UserRow>>> + Send;
    /// The throttle row of an email, locked for this transaction (created
    /// empty when missing, so two replicas count on the same row).
    fn lock_login_throttle(
        &mut self,
        email: &str,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<crate::domain::login::ThrottleState>> + Send;
    fn save_login_throttle(
        &mut self,
        email: &str,
        state: &crate::domain::login::ThrottleState,
    ) -> impl Future<Output = Result<()>> + Send;
    fn clear_login_throttle(&mut self, email: &str) -> impl Future<Output = Result<()>> + Send;
    /// Replaces a password hash; `revoke` also ends tokens issued before now.
    fn set_password_hash(
        &mut self,
        user_id: &str,
        password_hash: &str,
        revoke: bool,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    fn update_user_profile(
        &mut self,
        user_id: &str,
        change: &UserProfileChange,
    ) -> impl Future<Output = Result<()>> + Send;
    fn count_users(&mut self, account_id: &str) -> impl Future<Output = Result<UserCounts>> + Send;
    fn count_active_admins(&mut self, account_id: &str)
    -> impl Future<Output = Result<i64>> + Send;

    /// Sets status, disable time, token revocation time and version.
    fn set_user_status(
        &mut self,
        user_id: &str,
        change: &UserStatusChange,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Deletes a user, and queues the journal rows that start or end at it
    /// for the pruner: they can no longer give anything back.
    fn delete_user(
        &mut self,
        user_id: &str,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Deletes stored idempotent replies holding the user's personal data.
    fn forget_replies_about(&mut self, user_id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Ids among `user_ids` that are users of the account.
    fn existing_user_ids(
        &mut self,
        account_id: &str,
        user_ids: &[String],
    ) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// (external_id, id) of the account's records of `kind` among `external_ids`.
    fn find_record_ids(
        &mut self,
        account_id: &str,
        kind: &str,
        external_ids: &[String],
    ) -> impl Future<Output = Result<Vec<(String, i64)>>> + Send;
    fn insert_records(
        &mut self,
        rows: &[NewWorkRecord],
    ) -> impl Future<Output = Result<usize>> + Send;
    fn set_records_owner(
        &mut self,
        ids: &[i64],
        owner_user_id: &str,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<usize>> + Send;
    /// A user's records of one kind in id order after `after_id`.
    fn list_records(
        &mut self,
        owner_user_id: &str,
        kind: &str,
        after_id: Option<i64>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<WorkRecordRow>>> + Send;
    /// (kind, count) of the records a user holds.
    fn count_records(
        &mut self,
        owner_user_id: &str,
    ) -> impl Future<Output = Result<Vec<(String, i64)>>> + Send;
    /// (parent kind, count) of the conversations a user holds.
    fn count_conversations_by_parent(
        &mut self,
        owner_user_id: &str,
    ) -> impl Future<Output = Result<Vec<(String, i64)>>> + Send;
    /// Journals and moves every record of `mv.kind` from one user to another.
    fn move_records(&mut self, mv: &Move<'_>) -> impl Future<Output = Result<i64>> + Send;
    /// Journals and moves the conversations whose parent kind is `mv.kind`.
    fn move_conversations(&mut self, mv: &Move<'_>) -> impl Future<Output = Result<i64>> + Send;
    /// Users who received records from `from_user_id` (per the journal).
    fn journal_receivers(
        &mut self,
        from_user_id: &str,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Moves back to `mv.to_user_id` the records of `mv.kind` that the
    /// journal says went from it to `mv.from_user_id`, where that user still
    /// holds them; journals the move.
    fn restore_records(&mut self, mv: &Move<'_>) -> impl Future<Output = Result<i64>> + Send;
    /// Marks the user's notes as written by a former user.
    fn orphan_notes(
        &mut self,
        user_id: &str,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<i64>> + Send;

    /// Ledger entries, newest first, with id below `before_id`.
    fn list_ledger(
        &mut self,
        account_id: &str,
        before_id: Option<i64>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<LedgerRow>>> + Send;
    fn save_account_terms(
        &mut self,
        account_id: &str,
        change: &AccountTermsChange,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Accounts (not on trial) whose period ended at `now`.
    fn accounts_due_for_rollover(
        &mut self,
        now: NaiveDateTime,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// RUNNING jobs whose lease has expired: their worker died or hangs,
    /// and no other worker has taken them over yet.
    fn count_stalled_jobs(
        &mut self,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<i64>> + Send;
    /// The lowest sequence of the account's events still kept (None: none).
    fn oldest_event_sequence(
        &mut self,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<i64>>> + Send;
    /// Deletes at most about `limit` of the oldest stored replies created
    /// before `before` (rows created in the same instant go together);
    /// returns how many.
    fn prune_idempotency_keys(
        &mut self,
        before: NaiveDateTime,
        limit: i64,
    ) -> impl Future<Output = Result<usize>> + Send;
    /// As [`Repo::prune_idempotency_keys`], for events.
    fn prune_events(
        &mut self,
        before: NaiveDateTime,
        limit: i64,
    ) -> impl Future<Output = Result<usize>> + Send;
    /// Deletes up to `limit` jobs finished before `before`, with their
    /// per-user rows; returns how many jobs.
    fn prune_finished_jobs(
        &mut self,
        before: NaiveDateTime,
        limit: i64,
    ) -> impl Future<Output = Result<usize>> + Send;
    /// Deletes up to about `limit` journal rows of removed users, oldest
    /// removal first; a user whose rows are all gone leaves the queue.
    fn prune_journal(&mut self, limit: i64) -> impl Future<Output = Result<usize>> + Send;
    /// Deletes up to `limit` throttle rows whose window started before
    /// `window_before` and that are not locked at `now`.
    fn prune_login_throttle(
        &mut self,
        window_before: NaiveDateTime,
        now: NaiveDateTime,
        limit: i64,
    ) -> impl Future<Output = Result<usize>> + Send;
    /// Events with sequence greater than `after`, in order.
    fn list_events(
        &mut self,
        account_id: &str,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<EventRow>>> + Send;

    fn insert_job(
        &mut self,
        job: &JobRow,
        users: &[JobUserRow],
    ) -> impl Future<Output = Result<()>> + Send;
    fn find_job(
        &mut self,
        account_id: &str,
        job_id: &str,
    ) -> impl Future<Output = Result<Option<JobRow>>> + Send;
    fn find_job_by_request(
        &mut self,
        account_id: &str,
        request_id: &str,
    ) -> impl Future<Output = Result<Option<JobRow>>> + Send;
    fn job_users(&mut self, job_id: &str) -> impl Future<Output = Result<Vec<JobUserRow>>> + Send;
    /// Jobs of an account, newest first, with id below `before_id`.
    fn list_jobs(
        &mut self,
        account_id: &str,
        before_id: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<JobRow>>> + Send;
    /// Takes the lease of the oldest runnable job whose lease is free or
    /// expired; None when there is none (or another process won it).
    fn claim_job(
        &mut self,
        owner: &str,
        lease_until: NaiveDateTime,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<Option<JobRow>>> + Send;
    /// Writes a batch's progress and extends the lease; false when the
    /// lease is no longer ours (then the caller rolls the batch back).
    fn record_job_progress(
        &mut self,
        progress: &JobProgress<'_>,
    ) -> impl Future<Output = Result<bool>> + Send;
    fn set_job_user(&mut self, row: &JobUserRow) -> impl Future<Output = Result<()>> + Send;
    /// Ends the job (if the lease is ours): state, error, no lease.
    fn finish_job(
        &mut self,
        job_id: &str,
        owner: &str,
        state: &str,
        error_message: &str,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Hands the lease back at once (graceful shutdown).
    fn release_job(
        &mut self,
        job_id: &str,
        owner: &str,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    fn request_job_cancel(
        &mut self,
        job_id: &str,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Moves the next `limit` records of the pass (by id, after `after`),
    /// journalled per kind.
    fn move_batch(
        &mut self,
        mv: &PassMove<'_>,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<MovedBatch>> + Send;

    fn insert_group(&mut self, row: &GroupRow) -> impl Future<Output = Result<()>> + Send;
    fn group_exists(
        &mut self,
        account_id: &str,
        group_id: &str,
    ) -> impl Future<Output = Result<bool>> + Send;
    fn group_name_taken(
        &mut self,
        account_id: &str,
        name_key: &str,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Groups by name key after `after_key`, at most `limit`.
    fn list_groups(
        &mut self,
        account_id: &str,
        after_key: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<GroupRow>>> + Send;
}

mod pg;
mod sqlite;

/// The database behind a [`Store`].
#[derive(Clone)]
pub enum Backend {
    Sqlite(SqlitePools),
    Postgres(PgPools),
}

/// PostgreSQL's pool, the connections shared by point reads and the
/// coalesced reads of users by id (on the shared connections).
#[derive(Clone)]
pub struct PgPools {
    pub main: Pool<PgConn>,
    pub shared: Arc<pipelined::PipelinedReads>,
    pub users: Arc<coalesced::UserLoader>,
}

/// Connection pools and migrations for one database.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

/// How to open the database.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `postgres://…` or `sqlite://path` / a plain file path.
    pub url: String,
    pub max_connections: usize,
    /// PostgreSQL connections the point reads share, pipelined (0: one per
    /// two CPU cores, at least one).
    pub shared_read_connections: usize,
    /// How long a call waits for a free connection before UNAVAILABLE.
    pub acquire_timeout: Duration,
}

impl Store {
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// A user by id in any account (a user token's own row). Coalesced
    /// with concurrent calls' reads on PostgreSQL (see [`coalesced`]).
    pub async fn user_by_id(&self, user_id: &str) -> Result<Option<UserRow>> {
        if let Backend::Postgres(pools) = &self.backend {
            return Ok(pools
                .users
                .load(vec![user_id.to_owned()], false)
                .await?
                .pop()
                .map(|(row, _)| row));
        }
        crate::read!(self, |conn| conn.find_user_by_id(user_id).await)
    }

    /// A user by id and its account's `users_version`, read in one
    /// statement (a ListUsers call checking a kept page). Coalesced on
    /// PostgreSQL.
    pub async fn user_with_users_version(&self, user_id: &str) -> Result<Option<(UserRow, i64)>> {
        if let Backend::Postgres(pools) = &self.backend {
            let found = pools.users.load(vec![user_id.to_owned()], true).await?;
            return match found.into_iter().next() {
                Some((row, Some(version))) => Ok(Some((row, version))),
                // A versioned batch always reads the version.
                Some((_, None)) => Err(crate::error::Error::internal()),
                None => Ok(None),
            };
        }
        crate::read_users!(self, |conn| conn
            .find_user_with_users_version(user_id)
            .await)
    }

    /// A user of one account, coalesced on PostgreSQL.
    pub async fn user_of_account(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> Result<Option<UserRow>> {
        if let Backend::Postgres(pools) = &self.backend {
            let rows = pools.users.load(vec![user_id.to_owned()], false).await?;
            return Ok(rows
                .into_iter()
                .map(|(row, _)| row)
                .find(|row| row.account_id == account_id));
        }
        crate::read!(self, |conn| conn.find_user(account_id, user_id).await)
    }

    /// Up to two users of an account read together (a user token's own row
    /// and the row the call asks for), coalesced on PostgreSQL.
    pub async fn caller_and_user(
        &self,
        account_id: &str,
        caller_id: &str,
        user_id: &str,
    ) -> Result<Vec<UserRow>> {
        if let Backend::Postgres(pools) = &self.backend {
            let ids = vec![caller_id.to_owned(), user_id.to_owned()];
            let rows = pools.users.load(ids, false).await?;
            return Ok(rows
                .into_iter()
                .map(|(row, _)| row)
                .filter(|row| row.account_id == account_id)
                .collect());
        }
        crate::read!(self, |conn| conn
            .find_caller_and_user(account_id, caller_id, user_id)
            .await)
    }

    /// Opens the pools (connections are made lazily).
    pub fn open(config: &StoreConfig) -> anyhow::Result<Store> {
        let timeouts = deadpool::managed::Timeouts {
            wait: Some(config.acquire_timeout),
            create: Some(config.acquire_timeout),
            recycle: Some(config.acquire_timeout),
        };
        let backend = if is_postgres_url(&config.url) {
            let mut manager_config = ManagerConfig::<PgConn>::default();
            // No `SELECT 1` on every checkout: a dead connection fails its
            // first query, is marked broken and is not reused.
            manager_config.recycling_method = RecyclingMethod::Fast;
            let manager = AsyncDieselConnectionManager::<PgConn>::new_with_config(
                config.url.clone(),
                manager_config,
            );
            let shared_connections =
                pipelined::shared_read_connections(config.shared_read_connections);
            let shared = Arc::new(pipelined::PipelinedReads::new(
                config.url.clone(),
                shared_connections,
                config.acquire_timeout,
            ));
            Backend::Postgres(PgPools {
                main: Pool::builder(manager)
                    .max_size(config.max_connections)
                    .timeouts(timeouts)
                    .runtime(deadpool::Runtime::Tokio1)
                    .build()?,
                // Connections of their own: they keep one plan for the
                // lookup by ids (see `PipelinedReads::with_generic_plans`).
                users: Arc::new(coalesced::UserLoader::new(
                    Arc::new(
                        pipelined::PipelinedReads::new(
                            config.url.clone(),
                            shared_connections,
                            config.acquire_timeout,
                        )
                        .with_generic_plans(),
                    ),
                    coalesced_reads_in_flight(shared_connections),
                )),
                shared,
            })
        } else {
            let path = sqlite_path(&config.url);
            if let Some(dir) = Path::new(&path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir)?;
            }
            let writer = WriterThread::start()?;
            let pool = |inline: bool| {
                let mut manager_config = ManagerConfig::<SqliteConn>::default();
                manager_config.recycling_method = RecyclingMethod::Fast;
                let writer = writer.clone();
                manager_config.custom_setup = Box::new(move |url| {
                    let url = url.to_owned();
                    let writer = writer.clone();
                    async move {
                        let open = move || {
                            let mut conn = diesel::SqliteConnection::establish(&url)?;
                            configure_sqlite(&mut conn, inline).map_err(|e| {
                                diesel::ConnectionError::BadConnection(e.to_string())
                            })?;
                            Ok::<_, diesel::ConnectionError>(conn)
                        };
                        let bad =
                            |e: BoxedError| diesel::ConnectionError::BadConnection(e.to_string());
                        // A write connection is opened on the writer thread
                        // too, so all its memory lives in that thread's arena.
                        let (conn, runner) = if inline {
                            let conn = tokio::task::spawn_blocking(open)
                                .await
                                .map_err(|e| bad(Box::new(e)))??;
                            (conn, SqliteRunner::Inline)
                        } else {
                            let conn = writer.run(open).await.map_err(bad)??;
                            (conn, SqliteRunner::Writer(writer))
                        };
                        Ok(SyncConnectionWrapper::with_runtime(conn, runner))
                    }
                    .boxed()
                });
                let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(
                    path.clone(),
                    manager_config,
                );
                // SQLite runs one write transaction at a time, so more write
                // connections only move the queue from the pool (FIFO, woken
                // at once) into SQLite's busy handler (sleeps of up to 100 ms),
                // and give every connection its own 2 MiB page cache to fill.
                let size = if inline {
                    config.max_connections
                } else {
                    config.max_connections.min(SQLITE_WRITE_CONNECTIONS)
                };
                Pool::builder(manager)
                    .max_size(size)
                    .timeouts(timeouts)
                    .runtime(deadpool::Runtime::Tokio1)
                    .build()
            };
            Backend::Sqlite(SqlitePools {
                write: pool(false)?,
                read: pool(true)?,
            })
        };
        Ok(Store { backend })
    }

    /// Applies pending migrations of the backend (idempotent). Processes
    /// started together (the replicas of a Deployment, `bootstrap` beside
    /// `serve`) take turns: on PostgreSQL a session advisory lock keyed by
    /// the schema the migrations go to, on SQLite an exclusive lock on a
    /// file next to the database. The one that waited finds nothing left to
    /// apply.
    pub async fn migrate(&self, url: &str) -> anyhow::Result<usize> {
        let url = if is_postgres_url(url) {
            url.to_owned()
        } else {
            sqlite_path(url)
        };
        let postgres = self.is_postgres();
        tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
            let applied = if postgres {
                let mut conn = diesel_async::async_connection_wrapper::AsyncConnectionWrapper::<
                    PgConn,
                >::establish(&url)?;
                // Released by pg_advisory_unlock, or when the connection
                // closes if this process dies midway.
                diesel::RunQueryDsl::execute(diesel::sql_query(PG_MIGRATION_LOCK), &mut conn)?;
                let applied = conn
                    .run_pending_migrations(PG_MIGRATIONS)
                    .map_err(|e| anyhow::anyhow!("migration failed: {e}"))
                    .map(|versions| versions.len());
                diesel::RunQueryDsl::execute(diesel::sql_query(PG_MIGRATION_UNLOCK), &mut conn)?;
                applied?
            } else {
                let _lock = SqliteMigrationLock::acquire(&url)?;
                let mut conn = diesel::SqliteConnection::establish(&url)?;
                configure_sqlite(&mut conn, false)?;
                conn.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?
                    .len()
            };
            Ok(applied)
        })
        .await?
    }

    /// Publishes pool saturation gauges, per pool: `main` on PostgreSQL,
    /// `write` and `read` on SQLite.
    pub fn record_pool_metrics(&self) {
        let publish = |pool: &'static str, status: deadpool::Status| {
            let idle = status.available;
            metrics::gauge!("roster_db_pool_connections", "pool" => pool, "state" => "idle")
                .set(idle as f64);
            metrics::gauge!("roster_db_pool_connections", "pool" => pool, "state" => "in_use")
                .set(status.size.saturating_sub(idle) as f64);
            metrics::gauge!("roster_db_pool_connections", "pool" => pool, "state" => "max")
                .set(status.max_size as f64);
            metrics::gauge!("roster_db_pool_waiting", "pool" => pool).set(status.waiting as f64);
        };
        match &self.backend {
            Backend::Sqlite(pools) => {
                publish("write", pools.write.status());
                publish("read", pools.read.status());
            }
            Backend::Postgres(pools) => publish("main", pools.main.status()),
        }
    }

    /// A cheap round trip, for health checks. On SQLite it uses a read
    /// connection: the single write connection can be busy for seconds
    /// behind SQLite's write lock (another process bulk-loading the file),
    /// which is a queue, not an outage: it must not take the instance out
    /// of service.
    pub async fn ping(&self) -> Result<()> {
        use diesel_async::SimpleAsyncConnection;
        match &self.backend {
            Backend::Sqlite(pools) => pools.read.get().await?.batch_execute("SELECT 1").await?,
            Backend::Postgres(pools) => pools.main.get().await?.batch_execute("SELECT 1").await?,
        }
        Ok(())
    }
}

/// Coalesced reads of users out at once: one per shared connection, so a
/// burst of calls waits for the read before it and goes out as one query.
/// Two per connection measured no better in the bench (docs/performance.md).
fn coalesced_reads_in_flight(shared_connections: usize) -> usize {
    shared_connections
}

/// Write connections of a SQLite store (see [`Store::open`]).
const SQLITE_WRITE_CONNECTIONS: usize = 1;

fn configure_sqlite(conn: &mut diesel::SqliteConnection, reads: bool) -> diesel::QueryResult<()> {
    use diesel::connection::SimpleConnection;
    // WAL lets readers run beside the writer; busy_timeout makes writers
    // queue for the lock instead of failing; foreign keys are off by default.
    // busy_timeout comes first: switching to WAL takes a lock that another
    // process opening the same file may hold for a moment.
    conn.batch_execute(
        "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )?;
    if reads {
        // Read connections serve small lookups; a 512 KiB page cache each
        // (SQLite's default is 2 MiB) keeps a full pool's memory bounded.
        conn.batch_execute("PRAGMA cache_size = -512;")?;
    }
    Ok(())
}

/// The advisory lock a migration run holds: one per schema (tests and
/// tenants of one database may keep Roster in several schemas).
const PG_MIGRATION_LOCK: &str =
    "SELECT pg_advisory_lock(hashtext('roster.migrations'), hashtext(current_schema()))";
const PG_MIGRATION_UNLOCK: &str =
    "SELECT pg_advisory_unlock(hashtext('roster.migrations'), hashtext(current_schema()))";

/// An exclusive lock on `<database>.migrate-lock`, held while one process
/// migrates a SQLite file; closing the file (on drop, or the kernel if the
/// process dies) releases it. An in-memory database needs none.
struct SqliteMigrationLock {
    _file: Option<std::fs::File>,
}

impl SqliteMigrationLock {
    fn acquire(path: &str) -> anyhow::Result<Self> {
        use anyhow::Context;
        if path == ":memory:" || path.is_empty() {
            return Ok(SqliteMigrationLock { _file: None });
        }
        let lock_path = format!("{path}.migrate-lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening {lock_path}"))?;
        file.lock()
            .with_context(|| format!("locking {lock_path}"))?;
        Ok(SqliteMigrationLock { _file: Some(file) })
    }
}

/// Refuses a database URL Roster cannot use, with a line saying why: a
/// malformed PostgreSQL URL, or a scheme other than postgres/sqlite.
pub fn check_database_url(url: &str) -> anyhow::Result<()> {
    if is_postgres_url(url) {
        return url
            .parse::<tokio_postgres::Config>()
            .map(drop)
            .map_err(|e| {
                anyhow::anyhow!(
                    "the PostgreSQL database URL is malformed: {e} (--database-url / ROSTER_DATABASE_URL)"
                )
            });
    }
    if let Some((scheme, _)) = url.split_once("://")
        && scheme != "sqlite"
    {
        anyhow::bail!(
            "unsupported database URL scheme `{scheme}`: use postgres://user@host:port/db or a SQLite file path (--database-url / ROSTER_DATABASE_URL)"
        );
    }
    Ok(())
}

/// On PostgreSQL, fails with the host and port when no server answers
/// there (rather than a driver error later, mid-migration).
pub async fn ensure_reachable(url: &str) -> anyhow::Result<()> {
    use tokio_postgres::config::Host;
    if !is_postgres_url(url) {
        return Ok(());
    }
    // check_database_url has refused a malformed one already.
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return check_database_url(url);
    };
    let ports = config.get_ports();
    let mut last_error = None;
    for (i, host) in config.get_hosts().iter().enumerate() {
        // A Unix socket is for the driver to try.
        let Host::Tcp(host) = host else {
            return Ok(());
        };
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let connect = tokio::net::TcpStream::connect((host.as_str(), port));
        match tokio::time::timeout(Duration::from_secs(5), connect).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => {
                last_error = Some(format!("cannot reach PostgreSQL at {host}:{port}: {e}"))
            }
            Err(_) => {
                last_error = Some(format!(
                    "cannot reach PostgreSQL at {host}:{port}: no answer in 5 s"
                ))
            }
        }
    }
    match last_error {
        Some(e) => anyhow::bail!("{e} (is it running? --database-url / ROSTER_DATABASE_URL)"),
        None => Ok(()),
    }
}

pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn sqlite_path(url: &str) -> String {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
        .to_owned()
}

/// Runs `$body` with `$conn` bound to a pooled connection of the store's
/// backend (no transaction). The body is compiled once per backend.
#[macro_export]
macro_rules! read {
    ($store:expr, |$conn:ident| $body:expr) => {
        match $store.backend() {
            $crate::store::Backend::Sqlite(pools) => {
                let mut pooled = pools.read.get().await.map_err($crate::error::Error::from)?;
                let $conn: &mut $crate::store::SqliteConn = &mut pooled;
                $body
            }
            $crate::store::Backend::Postgres(pools) => {
                let mut pooled = pools.main.get().await.map_err($crate::error::Error::from)?;
                let $conn: &mut $crate::store::PgConn = &mut pooled;
                $body
            }
        }
    };
}

/// Like [`read!`](crate::read) for [`UserReads`] point reads: on PostgreSQL
/// `$conn` is one of the connections shared (pipelined) by concurrent
/// calls, see [`pipelined`]. Keep `$body` to short, read-only queries: when
/// it fails UNAVAILABLE (the shared connection was lost, e.g. PostgreSQL
/// restarted) it runs once more on a new connection.
#[macro_export]
macro_rules! read_users {
    ($store:expr, |$conn:ident| $body:expr) => {
        match $store.backend() {
            $crate::store::Backend::Sqlite(_) => $crate::read!($store, |$conn| $body),
            $crate::store::Backend::Postgres(pools) => {
                let mut shared = pools.shared.get().await?;
                let mut retried = false;
                loop {
                    let mut borrowed: &$crate::store::PgConn = shared.conn();
                    let $conn = &mut borrowed;
                    let result = $body;
                    match result {
                        Err(e) if e.code == $crate::error::Code::Unavailable && !retried => {
                            shared = pools.shared.replace(shared).await?;
                            retried = true;
                        }
                        result => break result,
                    }
                }
            }
        }
    };
}

/// Runs `$body` (an expression returning `Result<_, Error>`) in a write
/// transaction: `BEGIN IMMEDIATE` on SQLite, `BEGIN` on PostgreSQL (the
/// body locks its account with [`Repo::lock_account`]). An `Err` rolls back.
#[macro_export]
macro_rules! write {
    ($store:expr, |$conn:ident| $body:expr) => {
        match $store.backend() {
            $crate::store::Backend::Sqlite(pools) => {
                let mut pooled = pools
                    .write
                    .get()
                    .await
                    .map_err($crate::error::Error::from)?;
                let $conn: &mut $crate::store::SqliteConn = &mut pooled;
                $crate::store::begin_immediate($conn).await?;
                let result = async { $body }.await;
                $crate::store::end_transaction($conn, result).await
            }
            $crate::store::Backend::Postgres(pools) => {
                use diesel_async::AsyncConnection as _;
                let mut pooled = pools.main.get().await.map_err($crate::error::Error::from)?;
                let conn: &mut $crate::store::PgConn = &mut pooled;
                conn.transaction(async |$conn| $body).await
            }
        }
    };
}
