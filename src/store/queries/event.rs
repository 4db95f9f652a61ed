//! The account's event log.

use super::*;
use crate::domain::{Event, NewEvent};

impl EventQueries for Conn {
    async fn append_event(
        &mut self,
        account_id: &str,
        event: NewEvent,
        now: NaiveDateTime,
    ) -> Result<i64> {
        // The row's sequence is ignored: the insert takes the account's next.
        let row = convert::event_row(account_id, event, now);
        let sequence = self.insert_next_event(row).await?;
        // Counted when written; a transaction that rolls back after this
        // still counts (the rate is what dashboards want).
        metrics::counter!("roster_events_appended_total").increment(1);
        Ok(sequence)
    }

    async fn append_events(
        &mut self,
        account_id: &str,
        events: Vec<NewEvent>,
        now: NaiveDateTime,
    ) -> Result<()> {
        let count = events.len() as i64;
        if count == 0 {
            return Ok(());
        }
        // One update reserves the sequences of all of them.
        let last: i64 = diesel::update(accounts::table.find(account_id))
            .set(accounts::event_seq.eq(accounts::event_seq + count))
            .returning(accounts::event_seq)
            .get_result(self)
            .await?;
        let rows: Vec<EventRow> = events
            .into_iter()
            .zip(last - count + 1..)
            .map(|(event, sequence)| EventRow {
                sequence,
                ..convert::event_row(account_id, event, now)
            })
            .collect();
        self.insert_event_rows(rows).await?;
        metrics::counter!("roster_events_appended_total").increment(count as u64);
        Ok(())
    }

    async fn list_events(
        &mut self,
        account_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Event>> {
        let rows: Vec<EventRow> = events::table
            .filter(events::account_id.eq(account_id))
            .filter(events::sequence.gt(after))
            .order(events::sequence.asc())
            .limit(limit)
            .select(EventRow::as_select())
            .load(self)
            .await?;
        rows.into_iter().map(Event::try_from).collect()
    }

    async fn list_events_matching(
        &mut self,
        account_id: &str,
        after: i64,
        limit: i64,
        filter: &EventFilter,
    ) -> Result<Vec<Event>> {
        let mut query = events::table
            .filter(events::account_id.eq(account_id))
            .filter(events::sequence.gt(after))
            .order(events::sequence.asc())
            .limit(limit)
            .select(EventRow::as_select())
            .into_boxed();
        if !filter.types.is_empty() {
            let types: Vec<&str> = filter.types.iter().map(|t| t.as_str()).collect();
            query = query.filter(events::event_type.eq_any(types));
        }
        if let Some(user_id) = &filter.user_id {
            query = query.filter(
                events::user_id
                    .eq(user_id.clone())
                    .or(events::target_user_id.eq(user_id.clone())),
            );
        }
        let rows: Vec<EventRow> = query.load(self).await?;
        rows.into_iter().map(Event::try_from).collect()
    }

    async fn oldest_event_sequence(&mut self, account_id: &str) -> Result<Option<i64>> {
        Ok(events::table
            .filter(events::account_id.eq(account_id))
            .select(diesel::dsl::min(events::sequence))
            .first(self)
            .await?)
    }
}
