//! The reassignment journal, readable: ListReassignments.

use std::collections::HashMap;

use super::{RecordService, paging};
use crate::auth::principal::Grant;
use crate::domain::records::JournalEntry;
use crate::error::{Error, Result};
use crate::store::MoveFilter;
use crate::store::prelude::*;

/// One journal entry with, when asked for, its records' external ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedMove {
    pub entry: JournalEntry,
    /// Empty unless external ids were asked for.
    pub external_ids: Vec<String>,
}

/// A page of ListReassignments.
#[derive(Debug, Clone, Copy)]
pub struct JournalPage<'a> {
    pub filter: &'a MoveFilter,
    pub page_size: i32,
    pub page_token: &'a str,
    pub include_external_ids: bool,
}

impl RecordService {
    pub async fn list_reassignments(
        &self,
        grant: &Grant,
        page: JournalPage<'_>,
    ) -> Result<(Vec<ListedMove>, String)> {
        let account_id = grant.account_id().to_owned();
        let limit = if page.include_external_ids {
            if page.page_size > 50 {
                return Err(Error::invalid(
                    "page_size",
                    "at most 50 with include_external_ids",
                ));
            }
            paging::page_size(page.page_size, 20)?
        } else {
            paging::page_size(page.page_size, 100)?
        };
        let filters = format!(
            "{account_id}|{:?}|{}",
            page.filter, page.include_external_ids
        );
        let after = paging::decode_token(page.page_token, &filters)?
            .map(|key| key.parse::<i64>())
            .transpose()
            .map_err(|_| Error::invalid("page_token", "not a page token of this listing"))?;
        let (mut entries, names) = self
            .store
            .read(async |conn| {
                let entries = conn
                    .list_journal(&account_id, page.filter, after, limit + 1)
                    .await?;
                let names: HashMap<i64, String> = if page.include_external_ids {
                    let ids: Vec<i64> = entries
                        .iter()
                        .take(limit as usize)
                        .flat_map(|e| e.record_ids.iter().copied())
                        .collect();
                    conn.external_ids(&account_id, &ids)
                        .await?
                        .into_iter()
                        .collect()
                } else {
                    HashMap::new()
                };
                Ok::<_, Error>((entries, names))
            })
            .await?;
        let next = paging::finish_page(&mut entries, limit, &filters, |e| e.id.to_string());
        let moves = entries
            .into_iter()
            .map(|entry| ListedMove {
                external_ids: entry
                    .record_ids
                    .iter()
                    .filter_map(|id| names.get(id).cloned())
                    .collect(),
                entry,
            })
            .collect();
        Ok((moves, next))
    }
}
