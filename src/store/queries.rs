//! The SQL of every [`Repo`] method, written once. This file is compiled
//! twice: as `store::sqlite::queries` and as `store::pg::queries`, with
//! `super::Conn` naming that backend's connection type.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Conn;
use crate::error::{Error, Reason, Result};
use crate::store::Repo;
use crate::store::models::*;
use crate::store::schema::{accounts, events, groups, idempotency_keys, ledger_entries, users};

impl Repo for Conn {
    async fn lock_account(&mut self, id: &str) -> Result<Option<AccountRow>> {
        super::lock_account_row(self, id).await
    }

    async fn find_account(&mut self, id: &str) -> Result<Option<AccountRow>> {
        Ok(accounts::table
            .find(id)
            .select(AccountRow::as_select())
            .first(self)
            .await
            .optional()?)
    }

    async fn insert_account(&mut self, row: &AccountRow) -> Result<()> {
        diesel::insert_into(accounts::table)
            .values(row)
            .execute(self)
            .await?;
        Ok(())
    }

    async fn set_seats_purchased(
        &mut self,
        account_id: &str,
        seats: i32,
        now: NaiveDateTime,
    ) -> Result<()> {
        diesel::update(accounts::table.find(account_id))
            .set((
                accounts::seats_purchased.eq(seats),
                accounts::updated_at.eq(now),
            ))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn append_event(
        &mut self,
        account_id: &str,
        event: NewEvent,
        now: NaiveDateTime,
    ) -> Result<i64> {
        let sequence: i64 = diesel::update(accounts::table.find(account_id))
            .set(accounts::event_seq.eq(accounts::event_seq + 1))
            .returning(accounts::event_seq)
            .get_result(self)
            .await?;
        let row = EventRow {
            account_id: account_id.to_owned(),
            sequence,
            event_type: event.event_type.to_owned(),
            created_at: now,
            actor: event.actor,
            user_id: event.user_id,
            target_user_id: event.target_user_id,
            job_id: event.job_id,
            seats_before: event.seats_before,
            seats_after: event.seats_after,
            amount_minor: event.amount_minor,
            moved: event.moved,
            detail: event.detail,
        };
        diesel::insert_into(events::table)
            .values(&row)
            .execute(self)
            .await?;
        Ok(sequence)
    }

    async fn insert_ledger_entry(&mut self, entry: &NewLedgerEntry) -> Result<LedgerRow> {
        Ok(diesel::insert_into(ledger_entries::table)
            .values(entry)
            .returning(LedgerRow::as_returning())
            .get_result(self)
            .await?)
    }

    async fn find_idempotency_key(
        &mut self,
        namespace: &str,
        operation: &str,
        request_id: &str,
    ) -> Result<Option<IdempotencyRow>> {
        Ok(idempotency_keys::table
            .find((namespace, operation, request_id))
            .select(IdempotencyRow::as_select())
            .first(self)
            .await
            .optional()?)
    }

    async fn insert_idempotency_key(&mut self, row: &IdempotencyRow) -> Result<()> {
        diesel::insert_into(idempotency_keys::table)
            .values(row)
            .execute(self)
            .await
            .map_err(|e| {
                on_unique_violation(e, || {
                    Error::precondition(
                        Reason::RequestIdReused,
                        "request_id is being used by a concurrent request",
                    )
                })
            })?;
        Ok(())
    }

    async fn email_taken(&mut self, email: &str) -> Result<bool> {
        let found: Option<String> = users::table
            .filter(users::email.eq(email))
            .select(users::id)
            .first(self)
            .await
            .optional()?;
        Ok(found.is_some())
    }

    async fn insert_user(&mut self, row: &UserRow) -> Result<()> {
        // The only unique key besides the random id is the email.
        diesel::insert_into(users::table)
            .values(row)
            .execute(self)
            .await
            .map_err(|e| on_unique_violation(e, Error::email_taken))?;
        Ok(())
    }

    async fn find_user(&mut self, account_id: &str, user_id: &str) -> Result<Option<UserRow>> {
        Ok(users::table
            .filter(users::id.eq(user_id))
            .filter(users::account_id.eq(account_id))
            .select(UserRow::as_select())
            .first(self)
            .await
            .optional()?)
    }

    async fn find_user_by_id(&mut self, user_id: &str) -> Result<Option<UserRow>> {
        Ok(users::table
            .find(user_id)
            .select(UserRow::as_select())
            .first(self)
            .await
            .optional()?)
    }

    async fn update_user_profile(
        &mut self,
        user_id: &str,
        change: &UserProfileChange,
    ) -> Result<()> {
        diesel::update(users::table.find(user_id))
            .set(change)
            .execute(self)
            .await?;
        Ok(())
    }

    async fn count_users(&mut self, account_id: &str) -> Result<UserCounts> {
        let rows: Vec<(String, i64)> = users::table
            .filter(users::account_id.eq(account_id))
            .group_by(users::status)
            .select((users::status, diesel::dsl::count_star()))
            .load(self)
            .await?;
        let mut counts = UserCounts::default();
        for (status, n) in rows {
            match status.as_str() {
                "ACTIVE" => counts.active = n,
                _ => counts.inactive += n,
            }
        }
        Ok(counts)
    }

    async fn count_active_admins(&mut self, account_id: &str) -> Result<i64> {
        Ok(users::table
            .filter(users::account_id.eq(account_id))
            .filter(users::status.eq("ACTIVE"))
            .filter(users::role.eq("ADMIN"))
            .count()
            .get_result(self)
            .await?)
    }

    async fn list_users(
        &mut self,
        account_id: &str,
        filter: &UserFilter,
        after_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<UserRow>> {
        let mut query = users::table
            .filter(users::account_id.eq(account_id))
            .select(UserRow::as_select())
            .order(users::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(status) = filter.status {
            query = query.filter(users::status.eq(status));
        }
        if let Some(role) = filter.role {
            query = query.filter(users::role.eq(role));
        }
        if let Some(group_id) = &filter.group_id {
            query = query.filter(users::group_id.eq(group_id));
        }
        if let Some(text) = &filter.query {
            query = query.filter(users::search_text.like(like_pattern(text)).escape('\\'));
        }
        if let Some(after) = after_id {
            query = query.filter(users::id.gt(after));
        }
        Ok(query.load(self).await?)
    }

    async fn insert_group(&mut self, row: &GroupRow) -> Result<()> {
        diesel::insert_into(groups::table)
            .values(row)
            .execute(self)
            .await
            .map_err(|e| on_unique_violation(e, Error::group_name_taken))?;
        Ok(())
    }

    async fn group_exists(&mut self, account_id: &str, group_id: &str) -> Result<bool> {
        let found: Option<String> = groups::table
            .filter(groups::account_id.eq(account_id))
            .filter(groups::id.eq(group_id))
            .select(groups::id)
            .first(self)
            .await
            .optional()?;
        Ok(found.is_some())
    }

    async fn group_name_taken(&mut self, account_id: &str, name_key: &str) -> Result<bool> {
        let found: Option<String> = groups::table
            .filter(groups::account_id.eq(account_id))
            .filter(groups::name_key.eq(name_key))
            .select(groups::id)
            .first(self)
            .await
            .optional()?;
        Ok(found.is_some())
    }

    async fn list_groups(
        &mut self,
        account_id: &str,
        after_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<GroupRow>> {
        let mut query = groups::table
            .filter(groups::account_id.eq(account_id))
            .select(GroupRow::as_select())
            .order(groups::name_key.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after_key {
            query = query.filter(groups::name_key.gt(after));
        }
        Ok(query.load(self).await?)
    }
}

/// `%text%` with LIKE's special characters escaped by `\`.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Maps a unique-key violation to the caller-facing error `conflict`.
fn on_unique_violation(e: diesel::result::Error, conflict: impl FnOnce() -> Error) -> Error {
    match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => conflict(),
        other => Error::from(other),
    }
}
