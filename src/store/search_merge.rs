//! SQLite: merging the search table's segments while the writer is idle.
//!
//! Each write transaction that touches users adds a segment to the FTS5
//! table `users_search`, and segments must be merged or searches read more
//! and more of them. FTS5 merges inside the writes themselves by default;
//! a merge that reaches the segments holding the seeded users rewrites the
//! entry lists of trigrams nearly every user shares (an email domain's:
//! one entry per user) in that write's commit, 5–20 ms at 100,000 users,
//! and the single writer's queue waits behind it. Migration 000017 turns
//! that off (`automerge` = 0); this task does the same merging (FTS5's
//! `merge` command, the levels of at least four segments first) in steps
//! of [`STEP_PAGES`] pages, each its own transaction on the write
//! connection, once no write has committed for the idle time, and stops as
//! soon as one does. A write that arrives meanwhile waits for one step at
//! most. If the writer is never idle, FTS5's crisis merge (16 segments on
//! one level, inside a write) still bounds the segments.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use deadpool::managed::WeakPool;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::Pool;
use tokio::sync::watch;

use super::SqliteConn;
use super::checkpoint::Checkpointer;

/// How long the writer must go without a commit before merging starts.
pub const DEFAULT_SEARCH_MERGE_IDLE: Duration = Duration::from_millis(100);

/// Pages one merge step writes (about 64 KiB; a step writes a term's whole
/// entry list, so one with a common trigram writes more).
const STEP_PAGES: u32 = 16;

type Manager = AsyncDieselConnectionManager<SqliteConn>;

/// Hears the writer's commits; the merging task starts at the first one
/// (a Tokio runtime is there by then) and ends with the last clone.
#[derive(Clone)]
pub(super) struct SearchMerger {
    commits: Arc<watch::Sender<u64>>,
    started: Arc<OnceLock<()>>,
    idle: Duration,
    checkpoints: Checkpointer,
}

impl SearchMerger {
    pub(super) fn new(idle: Duration, checkpoints: Checkpointer) -> Self {
        SearchMerger {
            commits: Arc::new(watch::channel(0).0),
            started: Arc::default(),
            idle,
            checkpoints,
        }
    }

    /// After a write committed on `pool` (the write pool).
    pub(super) fn committed(&self, pool: &Pool<SqliteConn>) {
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
        self.started.get_or_init(|| {
            tokio::spawn(merge_when_idle(
                pool.weak(),
                self.commits.subscribe(),
                self.idle,
                self.checkpoints.clone(),
            ));
        });
    }
}

async fn merge_when_idle(
    pool: WeakPool<Manager>,
    mut commits: watch::Receiver<u64>,
    idle: Duration,
    checkpoints: Checkpointer,
) {
    // Each turn: a commit came; wait until none has for `idle`, then merge
    // step by step until there is nothing left or another commit comes.
    while commits.changed().await.is_ok() {
        loop {
            commits.borrow_and_update();
            tokio::time::sleep(idle).await;
            match commits.has_changed() {
                Ok(true) => continue,
                Ok(false) => break,
                Err(_) => return,
            }
        }
        loop {
            let Some(pool) = pool.upgrade() else {
                return;
            };
            match merge_step(&pool).await {
                Ok(true) => {
                    metrics::counter!("roster_sqlite_search_merge_steps_total").increment(1);
                    checkpoints.committed();
                }
                Ok(false) => break,
                Err(e) => {
                    // The next commit brings the next attempt.
                    tracing::warn!(error = %e, "search index merge step failed");
                    break;
                }
            }
            if commits.has_changed().unwrap_or(true) {
                break;
            }
        }
    }
}

/// One merge step; whether it did any work (FTS5's documented test: the
/// connection's total changes grow by two or more).
async fn merge_step(pool: &Pool<SqliteConn>) -> Result<bool, Box<dyn std::error::Error>> {
    let mut conn = pool.get().await?;
    let worked = conn
        .spawn_blocking(|inner| {
            use diesel::RunQueryDsl;
            let total_changes = diesel::dsl::sql::<diesel::sql_types::BigInt>("total_changes()");
            let before: i64 = diesel::select(total_changes.clone()).get_result(inner)?;
            diesel::sql_query(format!(
                "INSERT INTO users_search (users_search, rank) VALUES ('merge', {STEP_PAGES})"
            ))
            .execute(inner)?;
            let after: i64 = diesel::select(total_changes).get_result(inner)?;
            Ok::<_, diesel::result::Error>(after - before >= 2)
        })
        .await?;
    Ok(worked)
}
