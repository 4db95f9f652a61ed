//! TransferRecords: records moved between two active users of an account,
//! journaled and evented as a hand-over is, in one transaction.

use serde::{Deserialize, Serialize};

use super::handover::{Moving, Refusal, check_targets, reassign};
use super::idempotency::{self, Key};
use super::{RecordService, ensure_writable, locked_account};
use crate::auth::principal::Grant;
use crate::domain::RequestId;
use crate::domain::records::{RecordCounts, RecordKind, Targets};
use crate::error::{Error, Reason, Result};
use crate::store::prelude::*;

/// A validated TransferRecords.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub from_user_id: String,
    pub to_user_id: String,
    /// Movable kinds, distinct; empty: all of them.
    pub kinds: Vec<RecordKind>,
    pub validate_only: bool,
    pub request_id: Option<RequestId>,
}

/// What moved (or would move), and with validate_only why it would not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferOutcome {
    pub moved: RecordCounts,
    #[serde(skip)]
    pub refusals: Vec<Refusal>,
}

impl RecordService {
    pub async fn transfer_records(&self, grant: &Grant, t: Transfer) -> Result<TransferOutcome> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        let threshold = self.jobs.single_user_threshold;
        let targets = if t.kinds.is_empty() {
            Targets::new(Some(t.to_user_id.clone()), Vec::new())
        } else {
            Targets::new(
                None,
                t.kinds.iter().map(|k| (*k, t.to_user_id.clone())).collect(),
            )
        }
        .map_err(|(i, e)| Error::invalid(format!("kinds[{i}]"), e.to_string()))?;
        let kinds: Vec<&str> = t.kinds.iter().map(|k| k.as_str()).collect();
        let key = t
            .request_id
            .as_ref()
            .filter(|_| !t.validate_only)
            .map(|request_id| Key {
                namespace: &account_id,
                operation: "TransferRecords",
                request_id,
                fingerprint: idempotency::fingerprint(&[
                    &t.from_user_id,
                    &t.to_user_id,
                    &kinds.join(","),
                ]),
            });
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                if let Some(key) = &key
                    && let Some(done) = idempotency::replay(conn, key).await?
                {
                    return Ok(done);
                }
                let from = conn
                    .find_user(&account_id, &t.from_user_id)
                    .await?
                    .ok_or_else(Error::user_not_found)?;
                let mut refusals = Vec::new();
                if let Err(e) = ensure_writable(&account, now) {
                    refusals.push(Refusal::new(&from.id, Reason::TrialExpired, e.message));
                }
                if !from.is_active() {
                    refusals.push(Refusal::new(
                        &from.id,
                        Reason::InvalidStatus,
                        "records are transferred from an active user; an inactive user's go with DisableUser or RemoveUser",
                    ));
                }
                refusals.extend(check_targets(conn, &account_id, &[from.id.as_str()], &targets).await?);
                let held = conn.count_records(&from.id).await?;
                let by_parent = conn.count_conversations_by_parent(&from.id).await?;
                let would_move = targets.moved(&held, &by_parent);
                if would_move.total() > threshold {
                    refusals.push(Refusal::new(
                        &from.id,
                        Reason::TransferTooLarge,
                        format!(
                            "{} records would move, more than the {threshold} one call moves; transfer fewer kinds at a time",
                            would_move.total()
                        ),
                    ));
                }
                if t.validate_only {
                    return Ok(TransferOutcome {
                        moved: would_move,
                        refusals,
                    });
                }
                if !refusals.is_empty() {
                    return Err(refusals.remove(0).into_error());
                }
                let moving = Moving {
                    account_id: &account_id,
                    targets: &targets,
                    actor: &actor,
                    job_id: None,
                    now,
                };
                let moved = reassign(conn, &moving, &from.id).await?;
                let outcome = TransferOutcome {
                    moved,
                    refusals: Vec::new(),
                };
                if let Some(key) = &key {
                    idempotency::remember(conn, key, &outcome, None, now).await?;
                }
                Ok::<_, Error>(outcome)
            })
            .await
    }
}
