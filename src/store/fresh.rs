//! Point reads shared by concurrent callers without serving anyone an old
//! answer (on PostgreSQL, an account's `users_version`, read by every
//! CheckAccess and every ListUsers that could reuse a kept page).
//!
//! A caller joins only a read that started after it arrived, so what it gets
//! reflects every commit made before its call began, exactly as a read of
//! its own would. At most one read per key is out at a time: callers that
//! arrive while one is out wait for it to return, then one of them starts
//! the next read for all of them. Under load that is one query for many
//! calls; alone, a caller waits for nobody.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::error::Result;

/// Idle keys kept before the map is swept.
const MOST_IDLE_KEYS: usize = 4096;

/// Shared reads, by key.
pub struct FreshReads<V> {
    slots: Mutex<HashMap<String, Arc<Slot<V>>>>,
}

struct Slot<V> {
    state: Mutex<State<V>>,
    /// Woken when a read ends (returned, failed or was abandoned).
    ended: Notify,
}

struct State<V> {
    /// Reads started so far; the number of the latest.
    started: u64,
    /// The number of the latest read that returned or failed.
    finished: u64,
    /// Its value; None when it failed (each waiter then reads on its own,
    /// so each gets its own error).
    value: Option<V>,
    running: bool,
}

impl<V> Slot<V> {
    fn state(&self) -> MutexGuard<'_, State<V>> {
        // The state stays consistent even if a holder panicked.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<V: Clone> Default for FreshReads<V> {
    fn default() -> Self {
        FreshReads {
            slots: Mutex::default(),
        }
    }
}

impl<V: Clone> FreshReads<V> {
    fn slot(&self, key: &str) -> Arc<Slot<V>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(key) {
            return slot.clone();
        }
        if slots.len() >= MOST_IDLE_KEYS {
            // Only this map holds an idle slot.
            slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        let slot = Arc::new(Slot {
            state: Mutex::new(State {
                started: 0,
                finished: 0,
                value: None,
                running: false,
            }),
            ended: Notify::new(),
        });
        slots.insert(key.to_owned(), slot.clone());
        slot
    }

    /// The value of `key` as `read` finds it, from a read started after
    /// this call: this caller's own, or one it shares with callers that
    /// arrived at about the same time.
    pub async fn read(&self, key: &str, read: impl AsyncFnOnce() -> Result<V>) -> Result<V> {
        let slot = self.slot(key);
        let mut need = None;
        loop {
            let ended = slot.ended.notified();
            tokio::pin!(ended);
            // Registered before the state is looked at: no wake-up is missed.
            ended.as_mut().enable();
            let lead = {
                let mut state = slot.state();
                // The first read this caller may use: the next to start.
                let need = *need.get_or_insert(state.started + 1);
                if state.finished >= need {
                    match &state.value {
                        Some(value) => return Ok(value.clone()),
                        None => break,
                    }
                }
                if state.running {
                    None
                } else {
                    state.running = true;
                    state.started += 1;
                    Some(state.started)
                }
            };
            if let Some(number) = lead {
                let mut running = Running {
                    slot: &slot,
                    number,
                    value: None,
                    finished: false,
                };
                let result = read().await;
                running.value = result.as_ref().ok().cloned();
                running.finished = true;
                return result;
            }
            ended.await;
        }
        read().await
    }
}

/// A read this caller started. Dropped when it returns, or when the caller
/// goes away mid-read (its call cancelled): the waiters then start another.
struct Running<'a, V> {
    slot: &'a Slot<V>,
    number: u64,
    value: Option<V>,
    finished: bool,
}

impl<V> Drop for Running<'_, V> {
    fn drop(&mut self) {
        {
            let mut state = self.slot.state();
            state.running = false;
            if self.finished {
                state.finished = self.number;
                state.value = self.value.take();
            }
        }
        self.slot.ended.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::error::Error;

    #[tokio::test]
    async fn a_caller_alone_reads_on_its_own() {
        let reads = FreshReads::<u64>::default();
        let count = AtomicU64::new(0);
        for expected in 1..=3 {
            let got = reads
                .read("a", async || Ok(count.fetch_add(1, Ordering::SeqCst) + 1))
                .await;
            assert_eq!(got.ok(), Some(expected));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_reads_and_never_get_one_that_started_before_them() {
        let reads = Arc::new(FreshReads::<u64>::default());
        // The value is the number of reads started before this one returns:
        // a caller that arrived after read n started must get more than n.
        let started = Arc::new(AtomicU64::new(0));
        let mut calls = Vec::new();
        for _ in 0..64 {
            let (reads, started) = (reads.clone(), started.clone());
            calls.push(tokio::spawn(async move {
                let before = started.load(Ordering::SeqCst);
                let got = reads
                    .read("a", async || {
                        let number = started.fetch_add(1, Ordering::SeqCst) + 1;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        Ok(number)
                    })
                    .await?;
                Ok::<_, Error>((before, got))
            }));
        }
        for call in calls {
            match call.await {
                Ok(Ok((before, got))) => {
                    assert!(
                        got > before,
                        "got read {got}, which started before the call"
                    )
                }
                other => panic!("{other:?}"),
            }
        }
        let total = started.load(Ordering::SeqCst);
        assert!(total < 64, "{total} reads for 64 overlapping calls");
    }

    #[tokio::test]
    async fn a_failed_read_makes_each_waiter_read_on_its_own() {
        let reads = Arc::new(FreshReads::<u64>::default());
        let got = reads.read("a", async || Err(Error::internal())).await;
        assert!(got.is_err());
        let got = reads.read("a", async || Ok(7)).await;
        assert_eq!(got.ok(), Some(7));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_read_is_taken_over() {
        let reads = Arc::new(FreshReads::<u64>::default());
        let leader = {
            let reads = reads.clone();
            tokio::spawn(async move {
                reads
                    .read("a", async || {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        Ok(1)
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let waiter = {
            let reads = reads.clone();
            tokio::spawn(async move { reads.read("a", async || Ok(2)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        leader.abort();
        let got = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert!(matches!(got, Ok(Ok(Ok(2)))), "{got:?}");
    }
}
