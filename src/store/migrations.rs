//! Schema migrations, embedded per backend, applied by one process at a time.

use diesel::Connection as _;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{DatabaseUrl, PgConn, Store};

pub(super) const SQLITE_MIGRATIONS: EmbeddedMigrations =
    embed_migrations!("src/store/migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("src/store/migrations/postgres");

impl Store {
    /// Applies pending migrations of the backend (idempotent). Processes
    /// started together (the replicas of a Deployment, `bootstrap` beside
    /// `serve`) take turns: on PostgreSQL a session advisory lock keyed by
    /// the schema the migrations go to, on SQLite an exclusive lock on a
    /// file next to the database. The one that waited finds nothing left to
    /// apply.
    pub async fn migrate(&self) -> anyhow::Result<usize> {
        let (url, postgres) = match self.url() {
            DatabaseUrl::Postgres { url, .. } => (url.clone(), true),
            DatabaseUrl::Sqlite { path } => (path.clone(), false),
        };
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
                super::open::configure_sqlite(&mut conn, false)?;
                conn.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?
                    .len()
            };
            Ok(applied)
        })
        .await?
    }
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
