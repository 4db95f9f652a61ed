//! Work records: registration, counts, and moves with their journal.

use super::*;
use crate::domain::WorkRecord;
use crate::domain::records::JournalEntry;
use crate::domain::records::RecordCounts;

impl RecordQueries for Conn {
    async fn list_journal(
        &mut self,
        account_id: &str,
        filter: &MoveFilter,
        after_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<JournalEntry>> {
        let mut query = record_moves::table
            .filter(record_moves::account_id.eq(account_id))
            .order(record_moves::id.asc())
            .limit(limit)
            .select(RecordMoveRow::as_select())
            .into_boxed();
        if let Some(after) = after_id {
            query = query.filter(record_moves::id.gt(after));
        }
        if let Some(from) = &filter.from_user_id {
            query = query.filter(record_moves::from_user_id.eq(from.clone()));
        }
        if let Some(to) = &filter.to_user_id {
            query = query.filter(record_moves::to_user_id.eq(to.clone()));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(record_moves::kind.eq(kind.as_str()));
        }
        if let Some(job_id) = &filter.job_id {
            query = query.filter(record_moves::job_id.eq(job_id.clone()));
        }
        if let Some(at) = filter.moved_after {
            query = query.filter(record_moves::moved_at.ge(at));
        }
        if let Some(at) = filter.moved_before {
            query = query.filter(record_moves::moved_at.lt(at));
        }
        let rows: Vec<RecordMoveRow> = query.load(self).await?;
        rows.into_iter().map(convert::journal_entry).collect()
    }

    async fn external_ids(&mut self, account_id: &str, ids: &[i64]) -> Result<Vec<(i64, String)>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(5000) {
            let rows: Vec<(i64, String)> = work_records::table
                .filter(work_records::account_id.eq(account_id))
                .filter(work_records::id.eq_any(chunk))
                .select((work_records::id, work_records::external_id))
                .load(self)
                .await?;
            found.extend(rows);
        }
        Ok(found)
    }

    async fn find_record_ids(
        &mut self,
        account_id: &str,
        kind: RecordKind,
        external_ids: &[String],
    ) -> Result<Vec<(String, i64)>> {
        Ok(work_records::table
            .filter(work_records::account_id.eq(account_id))
            .filter(work_records::kind.eq(kind.as_str()))
            .filter(work_records::external_id.eq_any(external_ids))
            .select((work_records::external_id, work_records::id))
            .load(self)
            .await?)
    }

    async fn register_records(&mut self, records: &[NewRecord]) -> Result<(i64, i64)> {
        // New rows take ids above every id there is now (SQLite's
        // AUTOINCREMENT and PostgreSQL's sequence, whose default cache of 1
        // keeps values in order across sessions, hand ids out in increasing
        // order; and the caller holds the account's lock, so every record of
        // the account that a row can meet is already committed): an id above
        // the newest is a record the call created, any other one it
        // re-pointed. One upsert does what a lookup of the keys, an INSERT
        // of the new ones and an UPDATE of the known ones did, at about
        // 0.7 of the cost on SQLite (docs/performance.md).
        let newest: Option<i64> = work_records::table
            .select(diesel::dsl::max(work_records::id))
            .first(self)
            .await?;
        let rows: Vec<NewWorkRecord> = records.iter().map(convert::new_record_row).collect();
        let ids = self.upsert_record_rows(rows).await?;
        let created = ids
            .iter()
            .filter(|&&id| newest.is_none_or(|newest| id > newest))
            .count() as i64;
        Ok((created, ids.len() as i64 - created))
    }

    async fn list_records(
        &mut self,
        owner_user_id: &str,
        kind: RecordKind,
        after_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WorkRecord>> {
        let rows: Vec<WorkRecordRow> = work_records::table
            .filter(work_records::owner_user_id.eq(owner_user_id))
            .filter(work_records::kind.eq(kind.as_str()))
            .filter(work_records::id.gt(after_id.unwrap_or(0)))
            .order(work_records::id.asc())
            .limit(limit)
            .select(WorkRecordRow::as_select())
            .load(self)
            .await?;
        rows.into_iter().map(WorkRecord::try_from).collect()
    }

    async fn count_records(&mut self, owner_user_id: &str) -> Result<RecordCounts> {
        let rows: Vec<(String, i64)> = work_records::table
            .filter(work_records::owner_user_id.eq(owner_user_id))
            .group_by(work_records::kind)
            .select((work_records::kind, diesel::dsl::count_star()))
            .load(self)
            .await?;
        let mut held = RecordCounts::default();
        for (kind, n) in convert::kind_counts(rows) {
            held.add(kind, n);
        }
        Ok(held)
    }

    async fn count_conversations_by_parent(
        &mut self,
        owner_user_id: &str,
    ) -> Result<Vec<(RecordKind, i64)>> {
        let rows: Vec<(Option<String>, i64)> = work_records::table
            .filter(work_records::owner_user_id.eq(owner_user_id))
            .filter(work_records::kind.eq(RecordKind::Conversation.as_str()))
            .group_by(work_records::parent_kind)
            .select((work_records::parent_kind, diesel::dsl::count_star()))
            .load(self)
            .await?;
        Ok(convert::kind_counts(
            rows.into_iter()
                .filter_map(|(k, n)| k.map(|k| (k, n)))
                .collect(),
        ))
    }

    async fn move_records(&mut self, mv: &Move<'_>) -> Result<i64> {
        let ids: Vec<i64> = diesel::update(
            work_records::table
                .filter(work_records::owner_user_id.eq(mv.from_user_id))
                .filter(work_records::kind.eq(mv.kind.as_str())),
        )
        .set((
            work_records::owner_user_id.eq(mv.to_user_id),
            work_records::updated_at.eq(mv.now),
        ))
        .returning(work_records::id)
        .get_results(self)
        .await?;
        journal(self, mv, &ids).await?;
        Ok(ids.len() as i64)
    }

    async fn move_conversations(&mut self, mv: &Move<'_>) -> Result<i64> {
        let ids: Vec<i64> = diesel::update(
            work_records::table
                .filter(work_records::owner_user_id.eq(mv.from_user_id))
                .filter(work_records::kind.eq(RecordKind::Conversation.as_str()))
                .filter(work_records::parent_kind.eq(mv.kind.as_str())),
        )
        .set((
            work_records::owner_user_id.eq(mv.to_user_id),
            work_records::updated_at.eq(mv.now),
        ))
        .returning(work_records::id)
        .get_results(self)
        .await?;
        let journalled = Move {
            kind: RecordKind::Conversation,
            ..*mv
        };
        journal(self, &journalled, &ids).await?;
        Ok(ids.len() as i64)
    }

    async fn journal_receivers(&mut self, from_user_id: &str) -> Result<Vec<String>> {
        Ok(record_moves::table
            .filter(record_moves::from_user_id.eq(from_user_id))
            .select(record_moves::to_user_id)
            .distinct()
            .load(self)
            .await?)
    }

    async fn restore_records(&mut self, mv: &Move<'_>) -> Result<i64> {
        // Records the journal says went from the restored user (mv.to) to
        // the holder (mv.from), and that the holder still has. Restores are
        // rare and bounded by what was taken, so the ids are loaded.
        let lists: Vec<String> = record_moves::table
            .filter(record_moves::from_user_id.eq(mv.to_user_id))
            .filter(record_moves::to_user_id.eq(mv.from_user_id))
            .filter(record_moves::kind.eq(mv.kind.as_str()))
            .select(record_moves::record_ids)
            .load(self)
            .await?;
        let mut ids: Vec<i64> = lists.iter().flat_map(|l| journal_ids(l)).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut moved = 0;
        for chunk in ids.chunks(5000) {
            let restored: Vec<i64> = diesel::update(
                work_records::table
                    .filter(work_records::id.eq_any(chunk))
                    .filter(work_records::owner_user_id.eq(mv.from_user_id)),
            )
            .set((
                work_records::owner_user_id.eq(mv.to_user_id),
                work_records::updated_at.eq(mv.now),
            ))
            .returning(work_records::id)
            .get_results(self)
            .await?;
            journal(self, mv, &restored).await?;
            moved += restored.len() as i64;
        }
        Ok(moved)
    }

    async fn orphan_notes(&mut self, user_id: &str, now: NaiveDateTime) -> Result<i64> {
        let orphaned = diesel::update(
            work_records::table
                .filter(work_records::owner_user_id.eq(user_id))
                .filter(work_records::kind.eq(RecordKind::Note.as_str())),
        )
        .set((
            work_records::owner_user_id.eq(None::<String>),
            work_records::owner_is_former.eq(true),
            work_records::updated_at.eq(now),
        ))
        .execute(self)
        .await?;
        Ok(orphaned as i64)
    }

    async fn move_batch(
        &mut self,
        mv: &PassMove<'_>,
        after: i64,
        limit: i64,
    ) -> Result<MovedBatch> {
        // The next `limit` ids of each kind after `after` by the (owner,
        // kind, id) index; the first `limit` of them all are the batch (the
        // batch's records of any kind are among its own kind's first
        // `limit`). Starting after the last batch matters on PostgreSQL:
        // the index entries of rows already moved stay until vacuum, and a
        // scan from the start would step over all of them every batch.
        // Moved records no longer match, so a resumed job (after = 0)
        // simply continues: nothing is moved twice.
        let mut ids: Vec<i64> = Vec::new();
        for kind in mv.kinds {
            let next: Vec<i64> = work_records::table
                .filter(work_records::owner_user_id.eq(mv.from_user_id))
                .filter(work_records::kind.eq(kind.as_str()))
                .filter(work_records::id.gt(after))
                .order(work_records::id.asc())
                .limit(limit)
                .select(work_records::id)
                .load(self)
                .await?;
            ids.extend(next);
        }
        if !mv.conversation_parents.is_empty() {
            let parents: Vec<&str> = mv.conversation_parents.iter().map(|k| k.as_str()).collect();
            let next: Vec<i64> = work_records::table
                .filter(work_records::owner_user_id.eq(mv.from_user_id))
                .filter(work_records::kind.eq(RecordKind::Conversation.as_str()))
                .filter(work_records::parent_kind.eq_any(parents))
                .filter(work_records::id.gt(after))
                .order(work_records::id.asc())
                .limit(limit)
                .select(work_records::id)
                .load(self)
                .await?;
            ids.extend(next);
        }
        ids.sort_unstable();
        ids.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let Some(last) = ids.last().copied() else {
            return Ok(MovedBatch::default());
        };
        let moved: Vec<(i64, String)> = diesel::update(
            work_records::table
                .filter(work_records::id.eq_any(&ids))
                .filter(work_records::owner_user_id.eq(mv.from_user_id)),
        )
        .set((
            work_records::owner_user_id.eq(mv.to_user_id),
            work_records::updated_at.eq(mv.now),
        ))
        .returning((work_records::id, work_records::kind))
        .get_results(self)
        .await?;
        let mut by_kind: std::collections::BTreeMap<RecordKind, Vec<i64>> = Default::default();
        for (id, kind) in moved {
            let kind = RecordKind::from_db(&kind).ok_or_else(crate::error::Error::internal)?;
            by_kind.entry(kind).or_default().push(id);
        }
        let mut counted = RecordCounts::default();
        for (kind, ids) in by_kind {
            let journalled = Move {
                account_id: mv.account_id,
                from_user_id: mv.from_user_id,
                to_user_id: mv.to_user_id,
                kind,
                job_id: Some(mv.job_id),
                now: mv.now,
            };
            journal(self, &journalled, &ids).await?;
            counted.add(kind, ids.len() as i64);
        }
        Ok(MovedBatch {
            moved: counted,
            last: Some(last),
        })
    }
}
