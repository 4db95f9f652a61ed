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
//! one hash to the next instead of zeroing fresh memory per hash. That
//! memory is mapped straight from the kernel and unmapped when the runner
//! leaves (its queue is empty): taken from the allocator instead, it stayed
//! resident for seconds after a burst, in the allocator's caches.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};

use argon2::Block;
use memmap2::{MmapMut, MmapOptions};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// A queued hash: runs with the runner's argon2 memory, sends its result.
type Job = Box<dyn FnOnce(&mut Scratch) + Send>;

/// A runner's argon2 memory: an anonymous mapping, grown on demand, given
/// back to the kernel when dropped.
#[derive(Default)]
pub(super) struct Scratch {
    map: Option<MmapMut>,
}

impl Scratch {
    /// `count` blocks to hash in. Their contents are whatever the last hash
    /// left (zeros when new): argon2 writes every block before reading it.
    pub(super) fn blocks(&mut self, count: usize) -> std::io::Result<&mut [Block]> {
        let len = count * std::mem::size_of::<Block>();
        if self.map.as_ref().is_none_or(|map| map.len() < len) {
            // Unmap the smaller one first, so both are never resident.
            self.map = None;
            let map = MmapOptions::new().len(len.max(1)).map_anon()?;
            // Huge pages: the first hash of a burst takes ten page faults
            // instead of ~5,000. Only a hint; without it, small pages.
            #[cfg(target_os = "linux")]
            let _ = map.advise(memmap2::Advice::HugePage);
            self.map = Some(map);
        }
        let Some(map) = self.map.as_mut() else {
            return Err(std::io::Error::other("argon2 memory was not mapped"));
        };
        // SAFETY: the mapping is at least `len` bytes, page-aligned (a page
        // is a multiple of Block's 64-byte alignment), and any bytes are a
        // valid Block (an array of u64). The slice borrows `self`, so the
        // mapping outlives it and nothing else aliases it.
        Ok(unsafe { std::slice::from_raw_parts_mut(map.as_mut_ptr().cast::<Block>(), count) })
    }
}

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
        work: impl FnOnce(&mut Scratch) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (done, result) = oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move |memory| {
            if done.is_closed() {
                return;
            }
            let _ = done.send(span.in_scope(|| work(memory)));
        });
        // The runner count is read under the same lock that queues the job.
        let (start_runner, running) = {
            let mut queue = self.lock();
            queue.jobs.push_back(job);
            let start = queue.runners < self.limit;
            if start {
                queue.runners += 1;
            }
            (start, queue.runners)
        };
        if start_runner {
            let pool = Arc::clone(self);
            tokio::task::spawn_blocking(move || pool.serve());
        }
        metrics::gauge!("roster_password_hash_slots").set(self.limit as f64);
        metrics::gauge!("roster_password_hashes_in_use").set(running as f64);
        result.await.map_err(|_| {
            tracing::error!("a hashing job ended without an answer");
            Error::internal()
        })?
    }

    /// A runner: takes jobs until the queue is empty.
    fn serve(&self) {
        let mut memory = Scratch::default();
        loop {
            let job = {
                let mut queue = self.lock();
                match queue.jobs.pop_front() {
                    Some(job) => job,
                    None => {
                        queue.runners -= 1;
                        let running = queue.runners;
                        drop(queue);
                        drop(memory);
                        metrics::gauge!("roster_password_hashes_in_use").set(running as f64);
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
                    let blocks = memory.blocks(8).map_err(|_| Error::internal())?;
                    blocks[7] = Block::new();
                    blocks[7].as_mut()[0] = 42;
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
            async move {
                pool.run(|memory| {
                    let blocks = memory.blocks(8).map_err(|_| Error::internal())?;
                    Ok(blocks[7].as_ref()[0])
                })
                .await
            }
        });
        while pool.lock().jobs.is_empty() {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        assert_eq!(second.await.unwrap().unwrap(), 42);
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
