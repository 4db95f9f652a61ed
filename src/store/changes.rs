//! Commit notifications: a follower (StreamEvents, WatchJob) waits for a
//! commit that may concern its account instead of polling the database.
//!
//! - PostgreSQL: triggers on `events`, `jobs` and `job_users` call
//!   `pg_notify('roster_changes', account_id)`, which PostgreSQL delivers at
//!   commit to every replica listening. Each process keeps one `LISTEN`
//!   connection (started by its first follower) and relays what it hears.
//! - SQLite: one process owns the file; every committed write transaction
//!   wakes all followers (they read to learn whether it concerned them).
//!
//! Followers still read on a slow timer (`--follow-fallback-ms`), so a lost
//! notification (a dropped `LISTEN` connection, a write made by hand
//! without the triggers) delays an event by at most that interval. When the
//! `LISTEN` connection is lost or re-made, every follower is woken, since
//! notifications may have been missed meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast::{self, error::RecvError};

/// The PostgreSQL channel the triggers notify.
pub const CHANNEL: &str = "roster_changes";
/// How long a follower waits for a notification before reading anyway,
/// unless configured.
pub const DEFAULT_FOLLOW_FALLBACK: Duration = Duration::from_secs(2);
/// A notification for every follower.
const ANY: &str = "*";
/// Notifications buffered per follower; one that falls further behind is
/// woken (and reads) instead of losing any.
const BUFFER: usize = 1024;

/// The in-process hub of commit notifications.
#[derive(Clone)]
pub struct Changes {
    hub: Arc<broadcast::Sender<Arc<str>>>,
    /// PostgreSQL: where to listen, and whether the listener runs.
    listen: Option<(tokio_postgres::Config, Arc<AtomicBool>)>,
    fallback: Duration,
}

impl Changes {
    /// For SQLite: woken by [`Changes::committed_any`] after each commit.
    /// `fallback`: how long a follower waits before reading anyway.
    pub fn in_process(fallback: Duration) -> Self {
        let (hub, _) = broadcast::channel(BUFFER);
        Changes {
            hub: Arc::new(hub),
            listen: None,
            fallback,
        }
    }

    /// For PostgreSQL: woken by the notifications of the database.
    pub fn postgres(config: tokio_postgres::Config, fallback: Duration) -> Self {
        Changes {
            listen: Some((config, Arc::default())),
            ..Changes::in_process(fallback)
        }
    }

    /// Wakes every follower (a commit that may concern any account).
    pub fn committed_any(&self) {
        let _ = self.hub.send(ANY.into());
    }

    /// Whether commits are heard from the database (PostgreSQL), not only
    /// from this process.
    pub fn from_database(&self) -> bool {
        self.listen.is_some()
    }

    /// A waiter for the commits of one account. Take it before the first
    /// read: a commit after this call is never missed.
    pub fn waiter(&self, account_id: &str) -> ChangeWaiter {
        let rx = self.hub.subscribe();
        if let Some((config, started)) = &self.listen
            && !started.swap(true, Ordering::AcqRel)
        {
            tokio::spawn(listen(config.clone(), Arc::downgrade(&self.hub)));
        }
        ChangeWaiter {
            rx,
            account_id: account_id.to_owned(),
            fallback: self.fallback,
        }
    }
}

/// Waits for commits that may concern one account.
pub struct ChangeWaiter {
    rx: broadcast::Receiver<Arc<str>>,
    account_id: String,
    fallback: Duration,
}

impl ChangeWaiter {
    /// Returns when a commit may concern the account (true) or after the
    /// fallback interval (false). Notifications already waiting are taken
    /// with the first, so a burst of commits costs the follower one read.
    pub async fn wait(&mut self) -> bool {
        self.wait_at_most(self.fallback).await
    }

    /// [`ChangeWaiter::wait`], for at most `limit`.
    pub async fn wait_at_most(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::sleep(limit.min(self.fallback));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return false,
                got = self.rx.recv() => match got {
                    Ok(account) if self.concerns(&account) => break,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => {
                        deadline.await;
                        return false;
                    }
                },
            }
        }
        while self.rx.try_recv().is_ok() {}
        true
    }

    fn concerns(&self, account: &str) -> bool {
        account == ANY || account == self.account_id
    }
}

/// Relays the database's notifications into `hub` until every [`Changes`]
/// of it is dropped, connecting again after a failure.
async fn listen(config: tokio_postgres::Config, hub: Weak<broadcast::Sender<Arc<str>>>) {
    loop {
        match listen_once(&config, &hub).await {
            Ok(()) => return,
            Err(e) => {
                metrics::gauge!("roster_change_listener_up").set(0.0);
                tracing::warn!(error = %e, "change notifications lost; followers read on their fallback timer until the connection is back");
            }
        }
        match hub.upgrade() {
            // Notifications may have been missed while disconnected.
            Some(tx) => {
                let _ = tx.send(ANY.into());
            }
            None => return,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `Ok`: every [`Changes`] was dropped. `Err`: the connection was lost
/// (or never made), and why.
async fn listen_once(
    config: &tokio_postgres::Config,
    hub: &Weak<broadcast::Sender<Arc<str>>>,
) -> Result<(), String> {
    let mut config = config.clone();
    config.application_name("roster_change_listener");
    let (client, mut connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    let (heard_tx, mut heard) = tokio::sync::mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message?
                && heard_tx.send(n.payload().to_owned()).is_err()
            {
                break;
            }
        }
        Ok::<_, tokio_postgres::Error>(())
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(|e| e.to_string())?;
    metrics::gauge!("roster_change_listener_up").set(1.0);
    // Commits made before LISTEN took effect were not heard.
    match hub.upgrade() {
        Some(tx) => {
            let _ = tx.send(ANY.into());
        }
        None => return Ok(()),
    }
    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            payload = heard.recv() => match payload {
                Some(account) => match hub.upgrade() {
                    Some(tx) => {
                        let _ = tx.send(account.into());
                    }
                    None => return Ok(()),
                },
                // The connection ended: its error, if any, says why.
                None => break,
            },
            _ = check.tick() => {
                if hub.strong_count() == 0 {
                    return Ok(());
                }
            }
        }
    }
    drop(client);
    match driver.await {
        Ok(Err(e)) => Err(e.to_string()),
        _ => Err("the connection closed".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_hears_commits_after_it_was_taken() {
        let changes = Changes::in_process(Duration::from_secs(60));
        let mut waiter = changes.waiter("a");
        changes.committed_any();
        changes.committed_any();
        assert!(waiter.wait().await);
        // Both were taken by the first wait.
        assert!(!waiter.wait_at_most(Duration::from_millis(20)).await);
    }

    #[tokio::test]
    async fn other_accounts_do_not_wake_a_waiter() {
        let changes = Changes::in_process(Duration::from_secs(60));
        let mut waiter = changes.waiter("a");
        let _ = changes.hub.send("b".into());
        assert!(!waiter.wait_at_most(Duration::from_millis(20)).await);
        let _ = changes.hub.send("a".into());
        assert!(waiter.wait().await);
    }

    #[tokio::test]
    async fn a_waiter_that_fell_behind_is_woken() {
        let changes = Changes::in_process(Duration::from_secs(60));
        let mut waiter = changes.waiter("a");
        for _ in 0..BUFFER + 10 {
            let _ = changes.hub.send("b".into());
        }
        assert!(waiter.wait().await);
    }
}
