//! Opening a store: the pools of each backend and how their connections
//! are set up.

use std::path::Path;
use std::sync::Arc;

use diesel::Connection as _;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod, deadpool::Pool,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use futures::FutureExt;

use super::runtime::{BoxedError, SqliteRunner, WriterThread};
use super::{
    Backend, DatabaseUrl, PgConn, PgPools, SqliteConn, SqlitePools, Store, StoreConfig, checkpoint,
    coalesced, pipelined, search_merge,
};

impl Store {
    /// Opens the pools (connections are made lazily).
    pub fn open(config: &StoreConfig) -> anyhow::Result<Store> {
        let url = config.url.clone();
        let timeouts = deadpool::managed::Timeouts {
            wait: Some(config.acquire_timeout),
            create: Some(config.acquire_timeout),
            recycle: Some(config.acquire_timeout),
        };
        let backend = if let DatabaseUrl::Postgres { url, .. } = &config.url {
            let mut manager_config = ManagerConfig::<PgConn>::default();
            // No `SELECT 1` on every checkout: a dead connection fails its
            // first query, is marked broken and is not reused.
            manager_config.recycling_method = RecyclingMethod::Fast;
            let manager = AsyncDieselConnectionManager::<PgConn>::new_with_config(
                url.clone(),
                manager_config,
            );
            let record_reads = record_reads_pool(url, config, timeouts)?;
            let shared_connections =
                pipelined::shared_read_connections(config.shared_read_connections);
            let shared = Arc::new(pipelined::PipelinedReads::new(
                url.clone(),
                shared_connections,
                config.acquire_timeout,
            ));
            Backend::Postgres(PgPools {
                main: Pool::builder(manager)
                    .max_size(config.max_connections)
                    .timeouts(timeouts)
                    .runtime(deadpool::Runtime::Tokio1)
                    .build()?,
                record_reads,
                // Connections of their own: they keep one plan for the
                // lookup by ids (see `PipelinedReads::with_generic_plans`).
                users: Arc::new(coalesced::UserLoader::new(
                    Arc::new(
                        pipelined::PipelinedReads::new(
                            url.clone(),
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
            let path = config.url.sqlite_path().unwrap_or_default().to_owned();
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
            let checkpoints = checkpoint::Checkpointer::start(path.clone())?;
            Backend::Sqlite(SqlitePools {
                write: pool(false)?,
                read: pool(true)?,
                search_merge: search_merge::SearchMerger::new(
                    config.search_merge_idle,
                    checkpoints.clone(),
                ),
                checkpoints,
            })
        };
        let config_fallback = config.follow_fallback;
        let changes = match &url {
            DatabaseUrl::Postgres { config, .. } => {
                super::changes::Changes::postgres((**config).clone(), config_fallback)
            }
            _ => super::changes::Changes::in_process(config_fallback),
        };
        Ok(Store {
            backend,
            url,
            users_versions: Arc::default(),
            changes,
        })
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
            Backend::Postgres(pools) => {
                publish("main", pools.main.status());
                publish("records", pools.record_reads.status());
            }
        }
    }
}

/// The pool of PostgreSQL connections that read one user's work records
/// (CountWorkRecords, ListWorkRecords): each plans a statement once,
/// without looking at its parameters, and keeps that plan. PostgreSQL's
/// default replans them at almost every call once the table's statistics
/// make the average owner look larger than the one asked about: 28–50 µs of
/// planning on a call whose execution takes about 160 µs
/// (docs/performance.md). A plan made for the average owner must still
/// suit every owner, so these connections also rule out what only pays for
/// a large one: with 10,000,000 records held by 100 users, the generic count
/// was a parallel scan compiled by JIT, 62 ms for a user of 1,000 records
/// (0.5 ms by the owner's index), and with a few owners it would read the
/// whole table. What is left is the owner's range of
/// `work_records_owner_idx`, whose cost follows the owner's own records.
/// Half the main pool's size (at least one): these reads are short and
/// never wait for a lock.
fn record_reads_pool(
    url: &str,
    config: &StoreConfig,
    timeouts: deadpool::managed::Timeouts,
) -> anyhow::Result<Pool<PgConn>> {
    use diesel_async::{AsyncConnection as _, SimpleAsyncConnection as _};
    let mut manager_config = ManagerConfig::<PgConn>::default();
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(|url| {
        let url = url.to_owned();
        async move {
            let mut conn = PgConn::establish(&url).await?;
            conn.batch_execute(
                "SET plan_cache_mode = force_generic_plan; \
                 SET max_parallel_workers_per_gather = 0; SET jit = off; \
                 SET enable_seqscan = off",
            )
            .await
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<PgConn>::new_with_config(url, manager_config);
    Ok(Pool::builder(manager)
        .max_size(record_reads_connections(config.max_connections))
        .timeouts(timeouts)
        .runtime(deadpool::Runtime::Tokio1)
        .build()?)
}

/// Connections of [`record_reads_pool`] for a main pool of `max_connections`.
fn record_reads_connections(max_connections: usize) -> usize {
    (max_connections / 2).max(1)
}

/// Coalesced reads of users out at once: one per shared connection, so a
/// burst of calls waits for the read before it and goes out as one query.
/// Two per connection measured no better in the bench (docs/performance.md).
fn coalesced_reads_in_flight(shared_connections: usize) -> usize {
    shared_connections
}

/// Write connections of a SQLite store (see [`Store::open`]).
const SQLITE_WRITE_CONNECTIONS: usize = 1;

pub(super) fn configure_sqlite(
    conn: &mut diesel::SqliteConnection,
    reads: bool,
) -> diesel::QueryResult<()> {
    use diesel::connection::SimpleConnection;
    // WAL lets readers run beside the writer; busy_timeout makes writers
    // queue for the lock instead of failing; foreign keys are off by default.
    // busy_timeout comes first: switching to WAL takes a lock that another
    // process opening the same file may hold for a moment.
    conn.batch_execute(
        "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )?;
    if !reads {
        // Checkpoints run beside the writer (see `checkpoint`); the writer
        // makes its own only if the log grows past this, and cuts the log
        // file back to about that size when it starts the log over.
        conn.batch_execute(&format!(
            "PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = {};",
            checkpoint::WRITER_BACKSTOP_PAGES,
            checkpoint::WAL_KEPT_BYTES
        ))?;
    }
    if reads {
        // Read connections serve small lookups; a 512 KiB page cache each
        // (SQLite's default is 2 MiB) keeps a full pool's memory bounded.
        conn.batch_execute("PRAGMA cache_size = -512;")?;
    }
    Ok(())
}
