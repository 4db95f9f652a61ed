//! Reads of users by id, coalesced on PostgreSQL.
//!
//! Every user-token call reads its caller's row, and GetUser reads one
//! more. As one query each, those cost PostgreSQL a Bind/Execute/Sync and a
//! row lookup per call, and the server the SQL building and socket work of
//! a query per call: at 8–32 calls in flight that was most of GetUser's cost
//! next to Health/Check. Here calls that arrive while reads are in flight
//! wait for one to finish and then go out together as one query (an index
//! lookup per id, see `pg::users_by_ids`): one query for many calls (a
//! DataLoader).
//!
//! Revocation stays immediate: a call's rows come from a query sent after
//! the call arrived, so it sees everything committed before the call (a
//! user disabled, a password changed) exactly as a query of its own would.
//! A call never waits behind more than the reads already in flight.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use tokio::sync::{mpsc, oneshot};

use super::models::UserRow;
use super::pg::users_by_ids;
use super::pipelined::{PipelinedReads, on_shared};
use crate::error::{Error, Result};

/// Most ids in one query: a burst larger than this goes out as several.
const MOST_IDS_PER_READ: usize = 512;

/// Hands reads of users by id to one task that sends them together.
pub struct UserLoader {
    reads: Arc<PipelinedReads>,
    most_in_flight: usize,
    /// Started on first use (a runtime is there then, not at `Store::open`).
    queue: OnceLock<mpsc::UnboundedSender<Lookup>>,
}

/// A user row and, when asked for, its account's `users_version`, read in
/// the same statement.
pub type VersionedUser = (UserRow, Option<i64>);

/// One call's ids, whether it needs the versions, and where its rows go.
struct Lookup {
    ids: Vec<String>,
    versioned: bool,
    reply: oneshot::Sender<Result<Vec<VersionedUser>>>,
}

impl UserLoader {
    /// Reads go through `reads`, at most `most_in_flight` at a time.
    pub fn new(reads: Arc<PipelinedReads>, most_in_flight: usize) -> Self {
        UserLoader {
            reads,
            most_in_flight: most_in_flight.max(1),
            queue: OnceLock::new(),
        }
    }

    /// The users with these ids (any account; missing ids are left out),
    /// read by a query sent after this call; `versioned`: each with its
    /// account's `users_version` (a batch reads the versions when any of
    /// its calls asks).
    pub async fn load(&self, ids: Vec<String>, versioned: bool) -> Result<Vec<VersionedUser>> {
        let queue = self.queue.get_or_init(|| {
            let (queue, lookups) = mpsc::unbounded_channel();
            tokio::spawn(drive(lookups, self.reads.clone(), self.most_in_flight));
            queue
        });
        let (reply, rows) = oneshot::channel();
        queue
            .send(Lookup {
                ids,
                versioned,
                reply,
            })
            .map_err(|_| Error::unavailable())?;
        rows.await.map_err(|_| Error::unavailable())?
    }
}

/// Sends what waits whenever fewer than `most_in_flight` reads are out;
/// ends when the loader is dropped and everything queued is answered.
async fn drive(
    mut lookups: mpsc::UnboundedReceiver<Lookup>,
    reads: Arc<PipelinedReads>,
    most_in_flight: usize,
) {
    let mut in_flight = FuturesUnordered::new();
    let mut waiting = VecDeque::new();
    let mut open = true;
    loop {
        tokio::select! {
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            lookup = lookups.recv(), if open => match lookup {
                Some(lookup) => waiting.push_back(lookup),
                None => open = false,
            },
            else => break,
        }
        while let Ok(lookup) = lookups.try_recv() {
            waiting.push_back(lookup);
        }
        while !waiting.is_empty() && in_flight.len() < most_in_flight {
            in_flight.push(answer(reads.clone(), next_batch(&mut waiting)));
        }
    }
}

/// The oldest waiting lookups, up to [`MOST_IDS_PER_READ`] ids (at least one
/// lookup).
fn next_batch(waiting: &mut VecDeque<Lookup>) -> Vec<Lookup> {
    let mut batch = Vec::new();
    let mut ids = 0;
    while let Some(lookup) = waiting.pop_front() {
        if !batch.is_empty() && ids + lookup.ids.len() > MOST_IDS_PER_READ {
            waiting.push_front(lookup);
            break;
        }
        ids += lookup.ids.len();
        batch.push(lookup);
    }
    batch
}

/// One query for the whole batch; each lookup gets its own rows.
async fn answer(reads: Arc<PipelinedReads>, batch: Vec<Lookup>) {
    let mut ids: Vec<&str> = batch
        .iter()
        .flat_map(|lookup| lookup.ids.iter().map(String::as_str))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    // Calls per query is the second over the first.
    metrics::counter!("roster_coalesced_reads_total").increment(1);
    metrics::counter!("roster_coalesced_lookups_total").increment(batch.len() as u64);
    let versioned = batch.iter().any(|lookup| lookup.versioned);
    match read_by_ids(&reads, &ids, versioned).await {
        Ok(rows) => {
            for lookup in batch {
                let mine = rows
                    .iter()
                    .filter(|(row, _)| lookup.ids.contains(&row.id))
                    .cloned()
                    .collect();
                // The caller may have gone (deadline, cancel): nothing to do.
                let _ = lookup.reply.send(Ok(mine));
            }
        }
        Err(e) => {
            for lookup in batch {
                let _ = lookup.reply.send(Err(e.clone()));
            }
        }
    }
}

/// On a shared connection (see [`on_shared`]).
async fn read_by_ids(
    reads: &PipelinedReads,
    ids: &[&str],
    versioned: bool,
) -> Result<Vec<VersionedUser>> {
    on_shared!(reads, |conn| users_by_ids(conn, ids, versioned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(ids: usize) -> Lookup {
        let (reply, _) = oneshot::channel();
        Lookup {
            ids: (0..ids).map(|i| i.to_string()).collect(),
            versioned: false,
            reply,
        }
    }

    #[test]
    fn batches_take_the_oldest_lookups_up_to_the_id_limit() {
        let mut waiting: VecDeque<Lookup> = (0..300).map(|_| lookup(2)).collect();
        let first = next_batch(&mut waiting);
        assert_eq!(first.len(), MOST_IDS_PER_READ / 2);
        assert_eq!(waiting.len(), 300 - MOST_IDS_PER_READ / 2);
        let second = next_batch(&mut waiting);
        assert_eq!(second.len(), 300 - MOST_IDS_PER_READ / 2);
        assert!(waiting.is_empty());
        assert!(next_batch(&mut waiting).is_empty());
    }

    #[test]
    fn a_lookup_over_the_limit_still_goes_out_alone() {
        let mut waiting: VecDeque<Lookup> = [lookup(1), lookup(MOST_IDS_PER_READ + 1), lookup(1)]
            .into_iter()
            .collect();
        assert_eq!(next_batch(&mut waiting).len(), 1);
        let big = next_batch(&mut waiting);
        assert_eq!(big.len(), 1);
        assert_eq!(big[0].ids.len(), MOST_IDS_PER_READ + 1);
        assert_eq!(next_batch(&mut waiting).len(), 1);
    }
}
