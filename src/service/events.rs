//! The per-account event log as a resumable stream.

use tokio::sync::mpsc;

use super::EventService;
use crate::auth::principal::Grant;
use crate::domain::Event;
use crate::error::{Error, Result};
use crate::store::EventFilter;
use crate::store::prelude::*;

const BATCH: i64 = 500;

impl EventService {
    /// Events with a sequence above `after`, in order; with `follow`, then
    /// every new event as it commits. Sequences are per account, gap-free and
    /// allocated under the account lock, so resuming after the last sequence
    /// seen misses nothing and repeats nothing. A cursor older than the
    /// oldest event kept (the event retention pruned what follows it) is
    /// refused with OUT_OF_RANGE rather than answered with a gap.
    ///
    /// With a `filter`, the stream reads the log as without one and sends
    /// only the events it matches, so the cursor, the gap check and
    /// resuming work the same (resume after the last sequence received).
    pub async fn stream_events(
        &self,
        grant: &Grant,
        after: i64,
        follow: bool,
        filter: EventFilter,
    ) -> Result<mpsc::Receiver<Result<Event>>> {
        let account_id = grant.account_id().to_owned();
        if after < 0 {
            return Err(Error::invalid("after_sequence", "must not be negative"));
        }
        // Taken before the first read, so no commit after it goes unheard.
        let mut changes = self.store.changes().waiter(&account_id);
        let account = self
            .store
            .read(async |conn| conn.find_account(&account_id).await)
            .await?
            .ok_or_else(Error::account_not_found)?;
        if after < account.event_seq {
            let oldest = self
                .store
                .read(async |conn| conn.oldest_event_sequence(&account_id).await)
                .await?
                // Every event was pruned: the next one will be the oldest.
                .unwrap_or(account.event_seq + 1);
            if after + 1 < oldest {
                return Err(Error::cursor_expired(after, oldest));
            }
        }
        let (tx, rx) = mpsc::channel(BATCH as usize);
        let store = self.store.clone();
        let stopping = self.stopping.clone();
        tokio::spawn(async move {
            let mut cursor = after;
            loop {
                let batch = async {
                    store
                        .read(async |conn| conn.list_events(&account_id, cursor, BATCH).await)
                        .await
                }
                .await;
                match batch {
                    Ok(events) => {
                        // Pruned while this stream was behind.
                        if let Some(first) = events.first()
                            && first.sequence > cursor + 1
                        {
                            let _ = tx
                                .send(Err(Error::cursor_expired(cursor, first.sequence)))
                                .await;
                            return;
                        }
                        let full = events.len() as i64 == BATCH;
                        for event in events {
                            cursor = event.sequence;
                            if !filter.matches(&event) {
                                continue;
                            }
                            if tx.send(Ok(event)).await.is_err() {
                                return; // the client left
                            }
                        }
                        if full {
                            continue;
                        }
                        if !follow || *stopping.borrow() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
                // A commit of the account wakes the stream (on any replica);
                // it reads anyway after the fallback interval.
                tokio::select! {
                    _ = changes.wait() => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(rx)
    }
}

impl EventService {
    /// A page of the log after `after` (or after the page token's place),
    /// only the events `filter` matches.
    pub async fn list_events(
        &self,
        grant: &Grant,
        after: i64,
        page_size: i32,
        page_token: &str,
        filter: &EventFilter,
    ) -> Result<(Vec<Event>, String)> {
        let account_id = grant.account_id().to_owned();
        if after < 0 {
            return Err(Error::invalid("after_sequence", "must not be negative"));
        }
        let limit = super::paging::page_size(page_size, 100)?;
        let filters = format!("{account_id}|{filter:?}");
        let after = match super::paging::decode_token(page_token, &filters)? {
            Some(key) => key
                .parse::<i64>()
                .map_err(|_| Error::invalid("page_token", "not a page token of this listing"))?,
            None => after,
        };
        let mut events = self
            .store
            .read(async |conn| {
                conn.list_events_matching(&account_id, after, limit + 1, filter)
                    .await
            })
            .await?;
        let next =
            super::paging::finish_page(&mut events, limit, &filters, |e| e.sequence.to_string());
        Ok((events, next))
    }
}
