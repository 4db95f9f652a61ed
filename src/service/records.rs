//! Work records: ownership rows that other services register.

use std::collections::BTreeSet;

use super::{RecordService, locked_account, paging};
use crate::auth::principal::Grant;
use crate::domain::WorkRecord;
use crate::domain::records::{RecordCounts, RecordKind};
use crate::error::{Error, Result, Violations};
use crate::store::NewRecord;
use crate::store::prelude::*;

/// Most records accepted by one RegisterWorkRecords call.
pub const MAX_RECORDS_PER_CALL: usize = 10_000;

/// One validated record to register.
#[derive(Debug, Clone)]
pub struct RecordInput {
    pub kind: RecordKind,
    pub external_id: String,
    pub owner_user_id: String,
    /// For conversations: the lead or contact it is attached to.
    pub parent: Option<(RecordKind, String)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Registered {
    pub created: i64,
    pub updated: i64,
}

impl RecordService {
    /// Creates records or re-points existing ones (same kind and external
    /// id) to the given owner, in one transaction.
    pub async fn register_records(
        &self,
        grant: &Grant,
        records: Vec<RecordInput>,
    ) -> Result<Registered> {
        let account_id = grant.account_id().to_owned();
        let now = self.now();
        self.store
            .write(async |conn| {
                locked_account(conn, &account_id).await?;
                // Owners must be users of this account (another account's users
                // look missing).
                let owners: Vec<String> = records
                    .iter()
                    .map(|r| r.owner_user_id.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let known: BTreeSet<String> = conn
                    .existing_user_ids(&account_id, &owners)
                    .await?
                    .into_iter()
                    .collect();
                let mut v = Violations::new();
                for (i, r) in records.iter().enumerate() {
                    if !known.contains(&r.owner_user_id) {
                        v.add(
                            format!("records[{i}].owner_user_id"),
                            "no such user in this account",
                        );
                    }
                }
                // Parents of conversations: registered earlier or in this call.
                let mut in_call: BTreeSet<(RecordKind, &str)> = BTreeSet::new();
                for r in &records {
                    in_call.insert((r.kind, r.external_id.as_str()));
                }
                for parent_kind in RecordKind::PARENTS {
                    let wanted: Vec<String> = records
                        .iter()
                        .filter_map(|r| r.parent.as_ref())
                        .filter(|(k, id)| {
                            *k == parent_kind && !in_call.contains(&(*k, id.as_str()))
                        })
                        .map(|(_, id)| id.clone())
                        .collect();
                    if wanted.is_empty() {
                        continue;
                    }
                    let found: BTreeSet<String> = conn
                        .find_record_ids(&account_id, parent_kind, &wanted)
                        .await?
                        .into_iter()
                        .map(|(id, _)| id)
                        .collect();
                    for (i, r) in records.iter().enumerate() {
                        if let Some((k, id)) = &r.parent
                            && *k == parent_kind
                            && !in_call.contains(&(*k, id.as_str()))
                            && !found.contains(id)
                        {
                            v.add(
                                format!("records[{i}].parent_external_id"),
                                "no such lead or contact registered",
                            );
                        }
                    }
                }
                v.into_result()?;

                // Rows go in grouped by kind, in the kinds' order (parents
                // before conversations), and new ones take their ids in that
                // order.
                let mut in_order: Vec<&RecordInput> = records.iter().collect();
                in_order.sort_by_key(|r| r.kind);
                let rows: Vec<NewRecord> = in_order
                    .into_iter()
                    .map(|r| NewRecord {
                        account_id: account_id.clone(),
                        kind: r.kind,
                        external_id: r.external_id.clone(),
                        owner_user_id: r.owner_user_id.clone(),
                        parent: r.parent.clone(),
                        now,
                    })
                    .collect();
                let (created, updated) = conn.register_records(&rows).await?;
                let result = Registered { created, updated };
                Ok::<_, Error>(result)
            })
            .await
    }

    pub async fn list_records(
        &self,
        grant: &Grant,
        user_id: &str,
        kind: RecordKind,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<WorkRecord>, String)> {
        let account_id = grant.account_id().to_owned();
        let limit = paging::page_size(page_size, 100)?;
        let filters = format!("{account_id}|{user_id}|{}", kind.as_str());
        let after = match paging::decode_token(page_token, &filters)? {
            Some(key) => Some(
                key.parse::<i64>()
                    .map_err(|_| Error::invalid("page_token", "malformed"))?,
            ),
            None => None,
        };
        let mut rows = self
            .store
            .read_records(async |conn| {
                conn.find_user(&account_id, user_id)
                    .await?
                    .ok_or_else(Error::user_not_found)?;
                conn.list_records(user_id, kind, after, limit + 1).await
            })
            .await?;
        let next = paging::finish_page(&mut rows, limit, &filters, |r| r.id.to_string());
        Ok((rows, next))
    }

    pub async fn count_records(&self, grant: &Grant, user_id: &str) -> Result<RecordCounts> {
        let account_id = grant.account_id().to_owned();
        self.store
            .read_records(async |conn| {
                conn.find_user(&account_id, user_id)
                    .await?
                    .ok_or_else(Error::user_not_found)?;
                conn.count_records(user_id).await
            })
            .await
    }
}
