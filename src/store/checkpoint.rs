//! SQLite checkpoints off the write path.
//!
//! In WAL mode a commit appends its pages to the log; a checkpoint copies
//! them into the database file and syncs it. SQLite's own automatic
//! checkpoint runs inside the commit that takes the log past 1,000 pages,
//! on the single writer, so the calls queued behind it wait for the copy
//! and the `fsync` (in a BulkAddUsers of 1,000 users, 12% of the writer's
//! CPU time went to it, the sync not counted). Here a task checkpoints
//! after commits on a read connection, `PASSIVE` (it never waits for the
//! writer or a reader, and runs beside the next write transaction), at most
//! once per [`INTERVAL`]. The write connection still checkpoints by itself
//! past [`WRITER_BACKSTOP_PAGES`], so the log stays bounded if this task
//! cannot keep up.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use diesel_async::pooled_connection::deadpool::Pool;
use tokio::sync::mpsc;

use super::SqliteConn;

/// Log pages past which the writer checkpoints in its own commit (SQLite's
/// default is 1,000): 40 MiB of 4 KiB pages.
pub(super) const WRITER_BACKSTOP_PAGES: u32 = 10_000;

/// The shortest time between two background checkpoints: a steady stream
/// of small commits syncs the file at most this often.
const INTERVAL: Duration = Duration::from_millis(100);

/// Wakes the background checkpoint after commits. The task starts at the
/// first commit (a Tokio runtime is there then, not when the store opens)
/// and ends when the last clone is dropped.
#[derive(Clone)]
pub(super) struct Checkpointer {
    read: Pool<SqliteConn>,
    wake: Arc<OnceLock<mpsc::Sender<()>>>,
}

impl Checkpointer {
    /// Checkpoints on connections of `read`.
    pub(super) fn new(read: Pool<SqliteConn>) -> Self {
        Checkpointer {
            read,
            wake: Arc::default(),
        }
    }

    /// After a commit: a checkpoint soon.
    pub(super) fn committed(&self) {
        let wake = self.wake.get_or_init(|| start(self.read.clone()));
        let _ = wake.try_send(());
    }
}

fn start(read: Pool<SqliteConn>) -> mpsc::Sender<()> {
    // One pending wake is enough: the commits made while a checkpoint runs
    // are all covered by the next one.
    let (wake, mut woken) = mpsc::channel(1);
    tokio::spawn(async move {
        while woken.recv().await.is_some() {
            if let Err(e) = checkpoint(&read).await {
                // The next commit tries again; the writer's own checkpoint
                // bounds the log meanwhile.
                tracing::warn!(error = %e, "background WAL checkpoint failed");
            }
            tokio::time::sleep(INTERVAL).await;
        }
    });
    wake
}

/// Copies what the log holds into the database file, as far as readers
/// allow, without waiting for any lock.
async fn checkpoint(read: &Pool<SqliteConn>) -> anyhow::Result<()> {
    let mut conn = read.get().await?;
    conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)").await?;
    metrics::counter!("roster_sqlite_checkpoints_total").increment(1);
    Ok(())
}
