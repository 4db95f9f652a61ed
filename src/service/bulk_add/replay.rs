//! BulkAddUsers' stored reply for `request_id`: ids, refusals and the seat
//! effect, no personal data; a replay reads the users again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{BulkAddOutcome, BulkAdded, MAX_BULK_ADD_USERS};
use crate::domain::User;
use crate::error::Result;
use crate::service::idempotency::{self, Key};
use crate::service::rules::Refusal;
use crate::service::seats::SeatEffect;
use crate::store::Repo;

/// What a replay needs, without personal data: the users are read again.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredBulkAdd {
    outcomes: Vec<StoredOutcome>,
    seat_effect: SeatEffect,
}

#[derive(Serialize, Deserialize)]
enum StoredOutcome {
    Added(String),
    Refused(Refusal),
    Skipped,
}

pub(super) fn stored(done: &BulkAdded) -> StoredBulkAdd {
    StoredBulkAdd {
        outcomes: done
            .outcomes
            .iter()
            .map(|o| match o {
                BulkAddOutcome::Added { id, .. } => StoredOutcome::Added(id.clone()),
                BulkAddOutcome::Refused(refusal) => StoredOutcome::Refused(refusal.clone()),
                BulkAddOutcome::Skipped => StoredOutcome::Skipped,
            })
            .collect(),
        seat_effect: done.seat_effect.clone(),
    }
}

/// The answer of an earlier call with the same key, its users as they are
/// now.
pub(super) async fn replay<R: Repo>(
    conn: &mut R,
    account_id: &str,
    key: &Key<'_>,
) -> Result<Option<BulkAdded>> {
    let Some(stored) = idempotency::replay::<_, StoredBulkAdd>(conn, key).await? else {
        return Ok(None);
    };
    let ids: Vec<String> = stored
        .outcomes
        .iter()
        .filter_map(|o| match o {
            StoredOutcome::Added(id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    let mut users: BTreeMap<String, User> = BTreeMap::new();
    for chunk in ids.chunks(MAX_BULK_ADD_USERS) {
        for mut user in conn.find_users(account_id, chunk).await? {
            user.password_hash = String::new();
            users.insert(user.id.clone(), user);
        }
    }
    Ok(Some(BulkAdded {
        outcomes: stored
            .outcomes
            .into_iter()
            .map(|o| match o {
                StoredOutcome::Added(id) => BulkAddOutcome::Added {
                    user: users.remove(&id).map(Box::new),
                    id,
                },
                StoredOutcome::Refused(refusal) => BulkAddOutcome::Refused(refusal),
                StoredOutcome::Skipped => BulkAddOutcome::Skipped,
            })
            .collect(),
        seat_effect: stored.seat_effect,
    }))
}
