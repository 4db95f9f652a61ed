//! Storage: pools, migrations and every SQL statement, behind the domain's
//! types.
//!
//! - [`repo`]: the contract, [`Repo`] and [`UserReads`], over the domain's
//!   entities (`User`, `Account`, `Job`, …); rows and stored text never
//!   leave this module ([`convert`] is the only place they are translated).
//! - `queries/`: the SQL of every method, written once and compiled once per
//!   backend (SQLite and PostgreSQL) by including the folder in [`sqlite`]
//!   and [`pg`], each naming its connection type `Conn` and implementing
//!   [`BackendQueries`] for it (the vaultwarden pattern: diesel-async has no
//!   async `MultiConnection`).
//! - [`tx`]: [`Tx`], a connection of either backend; [`Store::read`] and
//!   [`Store::write`] hand one to a use case, which is compiled once.
//! - [`users`]: the hot reads of users, and which connections serve them.
//! - [`runtime`] (SQLite's writer thread), [`open`] (pools), [`migrations`],
//!   [`url`] (the database URL, parsed once).
//!
//! Write transactions take the account lock first: on PostgreSQL
//! `SELECT .. FOR UPDATE` on the account row, on SQLite `BEGIN IMMEDIATE`
//! (one writer at a time). Everything that must not race inside one account
//! (seat counting, last-admin checks, event sequence numbers) happens after
//! that lock, so it is race-free across threads and replicas.

pub mod changes;
mod checkpoint;
mod coalesced;
mod convert;
mod fresh;
mod migrations;
mod models;
mod open;
mod params;
mod pg;
mod pipelined;
mod repo;
mod runtime;
mod schema;
mod search;
mod search_merge;
mod sqlite;
mod timestamp;
mod tx;
mod url;
mod users;

use std::sync::Arc;
use std::time::Duration;

use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::Pool;

pub use params::{
    EventFilter, Insert, JobProgress, LoggedChanges, Move, MoveFilter, MovedBatch, NewRecord,
    PassMove, PrunedBatch, SearchEntry, StoredReply, UserFilter, UserOrder, UsersAtVersion,
};
pub use repo::{
    AccessRoleQueries, AccountQueries, EventQueries, GroupQueries, JobQueries, RecordQueries,
    ReplyQueries, Repo, RetentionQueries, UserQueries, UserReads,
};
pub use search_merge::DEFAULT_SEARCH_MERGE_IDLE;
pub use users::PageRead;

/// The store's traits, to call its methods on a [`Tx`]: `use crate::store::prelude::*`.
pub mod prelude {
    pub use super::repo::{
        AccessRoleQueries as _, AccountQueries as _, EventQueries as _, GroupQueries as _,
        JobQueries as _, RecordQueries as _, ReplyQueries as _, Repo, RetentionQueries as _,
        UserQueries as _, UserReads as _,
    };
}
pub use runtime::{SqliteRunner, WriterThread};
pub use tx::Tx;
pub use url::DatabaseUrl;
pub use users::Users;

use crate::error::Result;

pub type SqliteConn = runtime::SqliteConn;
pub type PgConn = AsyncPgConnection;

/// What each backend provides to `queries/` besides its connection type:
/// the statements that differ between SQLite and PostgreSQL.
pub(crate) trait BackendQueries {
    /// The account row, locked for the rest of the transaction.
    fn lock_account_row(
        &mut self,
        id: &str,
    ) -> impl Future<Output = Result<Option<models::AccountRow>>> + Send;
    /// Appends an event as the account's next one (`row.sequence` is
    /// ignored) and returns its sequence.
    fn insert_next_event(
        &mut self,
        row: models::EventRow,
    ) -> impl Future<Output = Result<i64>> + Send;
    /// (failures, window start, locked until) of an email's throttle row,
    /// locked for the rest of the transaction.
    fn lock_login_throttle_row(
        &mut self,
        email: &str,
    ) -> impl Future<Output = Result<(i64, chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)>> + Send;
    /// Inserts users, skipping those whose email (or id) is taken; returns
    /// the ids inserted.
    fn insert_user_rows(
        &mut self,
        rows: Vec<models::UserRow>,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Inserts events whose sequences the caller reserved.
    fn insert_event_rows(
        &mut self,
        rows: Vec<models::EventRow>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Inserts work records, in as few statements as the backend allows;
    /// a row whose account, kind and external id are taken gives that
    /// record its owner instead (`owner_is_former` false, `updated_at`).
    /// Returns the id of each row's record, new or existing.
    fn upsert_record_rows(
        &mut self,
        rows: Vec<models::NewWorkRecord>,
    ) -> impl Future<Output = Result<Vec<i64>>> + Send;
}

/// The database behind a [`Store`].
#[derive(Clone)]
enum Backend {
    Sqlite(SqlitePools),
    Postgres(PgPools),
}

/// SQLite's two pools: one for write transactions, one for reads.
#[derive(Clone)]
struct SqlitePools {
    write: Pool<SqliteConn>,
    read: Pool<SqliteConn>,
    /// Checkpoints the log after commits, off the writer.
    checkpoints: checkpoint::Checkpointer,
    /// Merges the search table while the writer is idle.
    search_merge: search_merge::SearchMerger,
}

/// PostgreSQL's pool, the connections shared by point reads and the
/// coalesced reads of users by id (on the shared connections).
#[derive(Clone)]
struct PgPools {
    main: Pool<PgConn>,
    /// Reads of one user's work records, with generic plans (see
    /// [`Store::read_records`]).
    record_reads: Pool<PgConn>,
    shared: Arc<pipelined::PipelinedReads>,
    users: Arc<coalesced::UserLoader>,
}

/// Connection pools and migrations for one database.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    url: DatabaseUrl,
    /// Reads of an account's `users_version`, shared by concurrent calls
    /// (see [`fresh`]).
    users_versions: Arc<fresh::FreshReads<Option<i64>>>,
    /// Commit notifications for followers.
    changes: changes::Changes,
}

/// How to open the database.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub url: DatabaseUrl,
    pub max_connections: usize,
    /// PostgreSQL connections the point reads share, pipelined (0: one per
    /// two CPU cores, at least one).
    pub shared_read_connections: usize,
    /// How long a call waits for a free connection before UNAVAILABLE.
    pub acquire_timeout: Duration,
    /// How long a follower waits for a commit notification before reading
    /// anyway (see [`changes`]).
    pub follow_fallback: Duration,
    /// SQLite: how long the writer goes without a commit before the search
    /// table's segments are merged (see [`search_merge`]).
    pub search_merge_idle: Duration,
}

impl Store {
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Commit notifications (see [`changes`]).
    pub fn changes(&self) -> &changes::Changes {
        &self.changes
    }

    /// The hot reads of users (see [`Users`]).
    pub fn users(&self) -> Users<'_> {
        Users::new(self)
    }

    /// Runs `body` on a pooled connection, outside any transaction (on
    /// SQLite a read connection: `body` must not write).
    pub async fn read<T>(&self, body: impl AsyncFnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(pools) => {
                let mut pooled = pools.read.get().await?;
                body(&mut Tx::Sqlite(&mut pooled)).await
            }
            Backend::Postgres(pools) => {
                let mut pooled = pools.main.get().await?;
                body(&mut Tx::Postgres(&mut pooled)).await
            }
        }
    }

    /// [`Store::read`] for reads of one user's work records. On PostgreSQL
    /// they have connections of their own, which keep one generic plan per
    /// statement instead of planning again at almost every call (see
    /// `open::record_reads_pool`); `body` must only run statements whose
    /// best plan does not depend on their values.
    pub async fn read_records<T>(
        &self,
        body: impl AsyncFnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(_) => self.read(body).await,
            Backend::Postgres(pools) => {
                let mut pooled = pools.record_reads.get().await?;
                body(&mut Tx::Postgres(&mut pooled)).await
            }
        }
    }

    /// Runs `body` in a write transaction: `BEGIN IMMEDIATE` on SQLite,
    /// `BEGIN` on PostgreSQL (the body locks its account with
    /// [`Repo::lock_account`]). `Ok` commits, `Err` rolls back.
    pub async fn write<T>(&self, body: impl AsyncFnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(pools) => {
                let mut pooled = pools.write.get().await?;
                let conn: &mut SqliteConn = &mut pooled;
                runtime::begin_immediate(conn).await?;
                let result = body(&mut Tx::Sqlite(&mut *conn)).await;
                let committed = runtime::end_transaction(conn, result).await;
                if committed.is_ok() {
                    self.changes.committed_any();
                    pools.checkpoints.committed();
                    pools.search_merge.committed(&pools.write);
                }
                committed
            }
            Backend::Postgres(pools) => {
                use diesel_async::{AsyncConnection, TransactionManager};
                let mut pooled = pools.main.get().await?;
                let conn: &mut PgConn = &mut pooled;
                <PgConn as AsyncConnection>::TransactionManager::begin_transaction(conn).await?;
                let result = body(&mut Tx::Postgres(&mut *conn)).await;
                runtime::end_transaction(conn, result).await
            }
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
