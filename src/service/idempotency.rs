//! `request_id` replay: the first result of a call is stored in the same
//! transaction as its change; a retry gets that result back and changes
//! nothing.

use chrono::NaiveDateTime;
use serde::{Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

use crate::domain::RequestId;
use crate::error::{Error, Reason, Result};
use crate::store::{Insert, Repo, StoredReply};

/// Identifies one idempotent call: who may replay it, which RPC, which id,
/// and a fingerprint of its arguments (secrets excluded).
pub struct Key<'a> {
    pub namespace: &'a str,
    pub operation: &'a str,
    pub request_id: &'a RequestId,
    pub fingerprint: String,
}

/// A stable fingerprint of the call's arguments.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part.as_bytes());
    }
    hex::encode(digest.finalize())
}

/// The stored result of an earlier call with the same key, if any. The same
/// id with different arguments is refused.
pub async fn replay<R: Repo, T: DeserializeOwned>(
    conn: &mut R,
    key: &Key<'_>,
) -> Result<Option<T>> {
    let Some(row) = conn
        .find_idempotency_key(key.namespace, key.operation, key.request_id.as_str())
        .await?
    else {
        return Ok(None);
    };
    if row.fingerprint != key.fingerprint {
        return Err(Error::precondition(
            Reason::RequestIdReused,
            "request_id was already used for a different request",
        ));
    }
    serde_json::from_slice(&row.response)
        .map(Some)
        .map_err(|e| {
            tracing::error!(error = %e, "unreadable idempotent response");
            Error::internal()
        })
}

/// Stores the result of a call (in its transaction). `subject_user_id` names
/// the user whose personal data the result holds, so removal can delete it.
pub async fn remember<R: Repo, T: Serialize>(
    conn: &mut R,
    key: &Key<'_>,
    value: &T,
    subject_user_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<()> {
    let response = serde_json::to_vec(value).map_err(|_| Error::internal())?;
    let reply = StoredReply {
        namespace: key.namespace.to_owned(),
        operation: key.operation.to_owned(),
        request_id: key.request_id.as_str().to_owned(),
        fingerprint: key.fingerprint.clone(),
        response,
        created_at: now,
        subject_user_id: subject_user_id.map(str::to_owned),
    };
    match conn.insert_idempotency_key(&reply).await? {
        Insert::Done => Ok(()),
        Insert::Duplicate => Err(Error::precondition(
            Reason::RequestIdReused,
            "request_id is being used by a concurrent request",
        )),
    }
}
