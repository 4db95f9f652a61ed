//! SQLite checkpoints off the write path.
//!
//! In WAL mode a commit appends its pages to the log; a checkpoint copies
//! them into the database file and syncs it. SQLite's own automatic
//! checkpoint runs inside the commit that takes the log past 1,000 pages,
//! on the single writer, so the calls queued behind it wait for the copy
//! and the `fsync` (in a BulkAddUsers of 1,000 users, a sixth of the writer's
//! CPU time went to it, the sync not counted). Here a thread of its own,
//! with a connection of its own, checkpoints after commits, `PASSIVE` (it
//! never waits for the writer or a reader, and runs beside the next write
//! transaction), at most once per [`INTERVAL`]. Not on a read connection:
//! those run on the calling Tokio worker, which the copy and the sync would
//! block, and whose malloc arena would keep what the checkpoint allocated.
//! The write connection still checkpoints by itself past
//! [`WRITER_BACKSTOP_PAGES`], so the log stays bounded if this thread
//! cannot keep up.

use std::sync::mpsc;
use std::time::Duration;

use diesel::Connection as _;
use diesel::connection::SimpleConnection as _;

/// Log pages past which the writer checkpoints in its own commit (SQLite's
/// default is 1,000): 40 MiB of 4 KiB pages.
pub(super) const WRITER_BACKSTOP_PAGES: u32 = 10_000;

/// The size the log file is cut back to once its pages are in the database
/// file (`journal_size_limit`, on the writer): the size past which the
/// writer checkpoints by itself. SQLite otherwise keeps the file at the
/// largest it ever grew to (after a load of a million users by SQL, 1.8 GB).
pub(super) const WAL_KEPT_BYTES: u64 = WRITER_BACKSTOP_PAGES as u64 * 4096;

/// The shortest time between two background checkpoints: a steady stream
/// of small commits syncs the file at most this often.
const INTERVAL: Duration = Duration::from_millis(100);

/// Wakes the checkpoint thread after commits; the thread ends when the
/// last clone is dropped.
#[derive(Clone)]
pub(super) struct Checkpointer {
    wake: mpsc::SyncSender<()>,
}

impl Checkpointer {
    /// Starts the thread for the database file at `path`; it connects at
    /// the first commit (the file exists by then).
    pub(super) fn start(path: String) -> std::io::Result<Self> {
        // One pending wake is enough: the commits made while a checkpoint
        // runs are all covered by the next one.
        let (wake, woken) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut conn = None;
                while woken.recv().is_ok() {
                    if let Err(e) = checkpoint(&mut conn, &path) {
                        // The next commit tries again, on a new connection;
                        // the writer's own checkpoint bounds the log meanwhile.
                        tracing::warn!(error = %e, "background WAL checkpoint failed");
                        conn = None;
                    }
                    std::thread::sleep(INTERVAL);
                }
            })?;
        Ok(Checkpointer { wake })
    }

    /// After a commit: a checkpoint soon.
    pub(super) fn committed(&self) {
        let _ = self.wake.try_send(());
    }
}

/// Copies what the log holds into the database file, as far as readers
/// allow, without waiting for any lock.
fn checkpoint(
    conn: &mut Option<diesel::SqliteConnection>,
    path: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let conn = match conn {
        Some(conn) => conn,
        None => {
            let mut opened = diesel::SqliteConnection::establish(path)?;
            super::open::configure_sqlite(&mut opened, true)?;
            conn.insert(opened)
        }
    };
    conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")?;
    metrics::counter!("roster_sqlite_checkpoints_total").increment(1);
    Ok(())
}
