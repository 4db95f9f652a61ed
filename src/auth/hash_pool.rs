//! The threads that run argon2: at most `limit` at once, each going from
//! one queued hash straight to the next.
//!
//! A hash handed to tokio's blocking pool one at a time behind a semaphore
//! left a core idle at every hand-off: the finished thread woke an async
//! task, which released its permit, which woke the next caller's task,
//! which spawned the next hash. At ~200 hashes/s on 2 cores that idle time
//! was about 7% of the machine (`perf record -a` during AddUser). Here a
//! runner takes the next job from the queue itself and only wakes the
//! caller whose hash it finished.
//!
//! A runner also keeps its argon2 memory (19 MiB at the default cost) from
//! one hash to the next instead of allocating and zeroing it per hash; the
//! last runner of a burst frees it and hands it back to the operating
//! system, so an idle server holds none.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};

use argon2::Block;
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// A queued hash: runs with the runner's argon2 memory, sends its result.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

struct Queue {
    jobs: VecDeque<Job>,
    /// Runners alive now: each is running a job or about to take one.
    runners: usize,
}

pub(super) struct HashPool {
    queue: Mutex<Queue>,
    limit: usize,
}

impl HashPool {
    pub(super) fn new(limit: usize) -> Arc<Self> {
        Arc::new(HashPool {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                runners: 0,
            }),
            limit: limit.max(1),
        })
    }

    /// Hashes running now (runners alive; a runner lives only while jobs
    /// are queued).
    pub(super) fn running(&self) -> usize {
        self.lock().runners
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // Jobs run outside the lock, so it is never held by a panicking job.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `work` on a runner with reusable argon2 memory. A caller that
    /// stops waiting (its call was cancelled) before its job starts costs
    /// no hash.
    pub(super) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Vec<Block>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (done, result) = oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move |memory| {
            if done.is_closed() {
                return;
            }
            let _ = done.send(span.in_scope(|| work(memory)));
        });
        let start_runner = {
            let mut queue = self.lock();
            queue.jobs.push_back(job);
            let start = queue.runners < self.limit;
            if start {
                queue.runners += 1;
            }
            start
        };
        if start_runner {
            let pool = Arc::clone(self);
            tokio::task::spawn_blocking(move || pool.serve());
        }
        metrics::gauge!("roster_password_hash_slots").set(self.limit as f64);
        metrics::gauge!("roster_password_hashes_in_use").set(self.running() as f64);
        result.await.map_err(|_| {
            tracing::error!("a hashing job ended without an answer");
            Error::internal()
        })?
    }

    /// A runner: takes jobs until the queue is empty.
    fn serve(&self) {
        let mut memory: Vec<Block> = Vec::new();
        loop {
            let job = {
                let mut queue = self.lock();
                match queue.jobs.pop_front() {
                    Some(job) => job,
                    None => {
                        queue.runners -= 1;
                        let last = queue.runners == 0;
                        drop(queue);
                        drop(memory);
                        if last {
                            crate::memory::release_free_memory();
                        }
                        return;
                    }
                }
            };
            // A panicking job drops its sender (its caller gets an internal
            // error) and must not take the runner, and its count, with it.
            if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory))).is_err() {
                tracing::error!("a hashing job panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_the_limit_at_once_and_every_job_answered() {
        let pool = HashPool::new(2);
        let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jobs = (0..12).map(|i| {
            let (pool, now, peak) = (pool.clone(), now.clone(), peak.clone());
            async move {
                pool.run(move |_| {
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(running, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    now.fetch_sub(1, Ordering::SeqCst);
                    Ok(i)
                })
                .await
            }
        });
        let answers = futures::future::try_join_all(jobs).await.unwrap();
        assert_eq!(answers, (0..12).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        // The last runner leaves once the queue is empty.
        for _ in 0..200 {
            if pool.running() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(pool.running(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_is_kept_between_the_jobs_of_a_burst() {
        let pool = HashPool::new(1);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move |memory| {
                    memory.resize(8, Block::default());
                    wait.recv().map_err(|_| Error::internal())?;
                    Ok(())
                })
                .await
            }
        });
        while pool.running() == 0 {
            tokio::task::yield_now().await;
        }
        // Queued behind the first: the same runner, the same memory.
        let second = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(|memory| Ok(memory.len())).await }
        });
        while pool.lock().jobs.is_empty() {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        assert_eq!(second.await.unwrap().unwrap(), 8);
        first.await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_whose_caller_left_is_skipped_and_a_panic_is_an_error() {
        let pool = HashPool::new(1);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let blocker = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move |_| {
                    wait.recv().map_err(|_| Error::internal())?;
                    Ok(())
                })
                .await
            }
        });
        while pool.running() == 0 {
            tokio::task::yield_now().await;
        }
        let ran = Arc::new(AtomicBool::new(false));
        let abandoned = tokio::spawn({
            let (pool, ran) = (pool.clone(), ran.clone());
            async move {
                pool.run(move |_| {
                    ran.store(true, Ordering::SeqCst);
                    Ok(())
                })
                .await
            }
        });
        // Let the abandoned call queue its job, then cancel it.
        while pool.lock().jobs.is_empty() {
            tokio::task::yield_now().await;
        }
        abandoned.abort();
        let _ = abandoned.await;
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        let panicked: Result<()> = pool.run(|_| panic!("broken job")).await;
        assert!(panicked.is_err());
        // The runner survived the panic and still answers.
        assert_eq!(pool.run(|_| Ok(7)).await.unwrap(), 7);
        assert!(!ran.load(Ordering::SeqCst));
    }
}
