//! Where SQLite's blocking calls run (one writer thread, inline readers)
//! and its write transactions (`BEGIN IMMEDIATE`).

use std::sync::Arc;

use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use futures::FutureExt;

use crate::error::Result;

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

    pub(super) fn run<'a, R: Send + 'static>(
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

pub(super) type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;

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

/// Commits on `Ok`, rolls back on `Err` (as diesel-async's `transaction`
/// does); returns `result`, or the commit's error.
pub async fn end_transaction<C, T>(conn: &mut C, result: Result<T>) -> Result<T>
where
    C: diesel_async::AsyncConnection,
{
    use diesel_async::TransactionManager as _;
    match result {
        Ok(value) => {
            C::TransactionManager::commit_transaction(conn).await?;
            Ok(value)
        }
        Err(e) => match C::TransactionManager::rollback_transaction(conn).await {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(rollback.into()),
        },
    }
}
