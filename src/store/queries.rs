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
use crate::store::schema::{
    accounts, events, groups, idempotency_keys, job_users, jobs, ledger_entries, login_throttle,
    record_moves, removed_users, users, work_records,
};

/// Journals one move: the ids of the records that just went from
/// `mv.from_user_id` to `mv.to_user_id`, as one row.
async fn journal(conn: &mut Conn, mv: &Move<'_>, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    let record_ids = sorted
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    diesel::insert_into(record_moves::table)
        .values((
            record_moves::account_id.eq(mv.account_id),
            record_moves::kind.eq(mv.kind),
            record_moves::from_user_id.eq(mv.from_user_id),
            record_moves::to_user_id.eq(mv.to_user_id),
            record_moves::job_id.eq(mv.job_id),
            record_moves::moved_at.eq(mv.now),
            record_moves::record_count.eq(sorted.len() as i64),
            record_moves::record_ids.eq(record_ids),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes about `$limit` of the oldest rows of `$table` whose `created_at`
/// is before `$before`: the creation time of the limit-th oldest expired row
/// bounds the batch, so one indexed statement deletes it on both backends
/// (rows created in the same instant go together).
macro_rules! prune_oldest {
    ($conn:expr, $table:ident, $before:expr, $limit:expr) => {{
        use $table::created_at;
        let bound: Option<NaiveDateTime> = $table::table
            .filter(created_at.lt($before))
            .order(created_at.asc())
            .select(created_at)
            .offset($limit.max(1) - 1)
            .limit(1)
            .first($conn)
            .await
            .optional()?;
        let expired = $table::table.filter(created_at.lt($before));
        Ok(match bound {
            Some(bound) => {
                diesel::delete(expired.filter(created_at.le(bound)))
                    .execute($conn)
                    .await?
            }
            None => diesel::delete(expired).execute($conn).await?,
        })
    }};
}

/// Parses a journal row's id list (written by [`journal`]).
fn journal_ids(text: &str) -> impl Iterator<Item = i64> + '_ {
    text.split(',').filter_map(|id| id.parse().ok())
}

/// `impl UserReads` for a connection type; written once, used for `Conn`
/// and, on PostgreSQL, for a shared connection (`&Conn`).
macro_rules! user_reads {
    (@impl [$($lt:lifetime)?] $conn:ty) => {
        impl<$($lt)?> crate::store::UserReads for $conn {
            async fn find_user_by_id(&mut self, user_id: &str) -> Result<Option<UserRow>> {
                let query = users::table
                    .find(user_id.to_owned())
                    .select(UserRow::as_select());
                Ok(load_rows!(self, query)?.pop())
            }

            async fn find_user(
                &mut self,
                account_id: &str,
                user_id: &str,
            ) -> Result<Option<UserRow>> {
                let query = users::table
                    .filter(users::id.eq(user_id.to_owned()))
                    .filter(users::account_id.eq(account_id.to_owned()))
                    .select(UserRow::as_select());
                Ok(load_rows!(self, query)?.pop())
            }

            async fn find_caller_and_user(
                &mut self,
                account_id: &str,
                caller_id: &str,
                user_id: &str,
            ) -> Result<Vec<UserRow>> {
                // Two primary-key lookups glued by UNION ALL: with `id = ? OR id = ?`
                // PostgreSQL's generic plan scans the whole account (and its custom
                // plans re-plan every call); `eq_any` defeats SQLite's statement
                // cache. This shape is planned once on both.
                let by_id = |id: &str| {
                    users::table
                        .filter(users::account_id.eq(account_id.to_owned()))
                        .filter(users::id.eq(id.to_owned()))
                        .select(UserRow::as_select())
                };
                load_rows!(self, by_id(caller_id).union_all(by_id(user_id)))
            }

            async fn find_user_with_users_version(
                &mut self,
                user_id: &str,
            ) -> Result<Option<(UserRow, i64)>> {
                let query = users::table
                    .inner_join(accounts::table)
                    .filter(users::id.eq(user_id.to_owned()))
                    .select((UserRow::as_select(), accounts::users_version));
                Ok(load_rows!(self, query)?.pop())
            }

            async fn find_users_version(&mut self, account_id: &str) -> Result<Option<i64>> {
                let query = accounts::table
                    .find(account_id.to_owned())
                    .select(accounts::users_version);
                Ok(load_rows!(self, query)?.pop())
            }

            async fn list_users(
                &mut self,
                account_id: &str,
                filter: &UserFilter,
                after_id: Option<&str>,
                limit: i64,
            ) -> Result<UsersAtVersion> {
                // The version comes from the same statement (one snapshot) as
                // the rows, so a page is never kept under a later version
                // than the state it shows. A scalar subquery runs once per
                // statement (a join costs a lookup per row on PostgreSQL).
                let users_version = accounts::table
                    .filter(accounts::id.eq(account_id.to_owned()))
                    .select(accounts::users_version)
                    .single_value();
                let mut query = users::table
                    .filter(users::account_id.eq(account_id.to_owned()))
                    .select((UserRow::as_select(), users_version))
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
                    query = query.filter(users::group_id.eq(group_id.clone()));
                }
                if let Some(text) = &filter.query {
                    query = query.filter(users::search_text.like(like_pattern(text)).escape('\\'));
                }
                if let Some(after) = after_id {
                    query = query.filter(users::id.gt(after.to_owned()));
                }
                // `as_slice`: on a Vec, `first` would name diesel's query method.
                let rows: Vec<(UserRow, Option<i64>)> = load_rows!(self, query)?;
                let users_version = rows.as_slice().first().and_then(|(_, version)| *version);
                Ok(UsersAtVersion {
                    users: rows.into_iter().map(|(user, _)| user).collect(),
                    users_version,
                })
            }

            user_reads!(@together $($lt)?);
        }
    };
    // A pooled connection: the trait's default, one query after the other.
    (@together) => {};
    // A shared (pipelined) connection: both queries in flight at once.
    (@together $lt:lifetime) => {
        async fn find_caller_and_list_users(
            &mut self,
            caller_id: &str,
            account_id: &str,
            filter: &UserFilter,
            after_id: Option<&str>,
            limit: i64,
        ) -> Result<(Option<UserRow>, UsersAtVersion)> {
            let (mut for_caller, mut for_page) = (*self, *self);
            futures::try_join!(
                for_caller.find_user_by_id(caller_id),
                for_page.list_users(account_id, filter, after_id, limit),
            )
        }
    };
    ($conn:ty) => {
        user_reads!(@impl [] $conn);
    };
    ($conn:ty, $lt:lifetime) => {
        user_reads!(@impl [$lt] $conn);
    };
}

user_reads!(Conn);
also_for_shared_connections!(user_reads);

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
        let row = EventRow {
            account_id: account_id.to_owned(),
            // The next of the account's sequence, taken by the insert.
            sequence: 0,
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
        let sequence = super::insert_next_event(self, row).await?;
        // Counted when written; a transaction that rolls back after this
        // still counts (the rate is what dashboards want).
        metrics::counter!("roster_events_appended_total").increment(1);
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

    async fn find_user_by_email(&mut self, email: &str) -> Result<Option<UserRow>> {
        Ok(users::table
            .filter(users::email.eq(email))
            .select(UserRow::as_select())
            .first(self)
            .await
            .optional()?)
    }

    async fn lock_login_throttle(
        &mut self,
        email: &str,
        now: NaiveDateTime,
    ) -> Result<crate::domain::login::ThrottleState> {
        diesel::insert_into(login_throttle::table)
            .values((
                login_throttle::email.eq(email),
                login_throttle::failures.eq(0_i64),
                login_throttle::window_started_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(self)
            .await?;
        let (failures, window_started_at, locked_until) =
            super::lock_login_throttle_row(self, email).await?;
        Ok(crate::domain::login::ThrottleState {
            failures,
            window_started_at,
            locked_until,
        })
    }

    async fn save_login_throttle(
        &mut self,
        email: &str,
        state: &crate::domain::login::ThrottleState,
    ) -> Result<()> {
        diesel::update(login_throttle::table.find(email))
            .set((
                login_throttle::failures.eq(state.failures),
                login_throttle::window_started_at.eq(state.window_started_at),
                login_throttle::locked_until.eq(state.locked_until),
            ))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn clear_login_throttle(&mut self, email: &str) -> Result<()> {
        diesel::delete(login_throttle::table.find(email))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn set_password_hash(
        &mut self,
        user_id: &str,
        password_hash: &str,
        revoke: bool,
        now: NaiveDateTime,
    ) -> Result<()> {
        let target = users::table.find(user_id);
        if revoke {
            diesel::update(target)
                .set((
                    users::password_hash.eq(password_hash),
                    users::tokens_valid_after.eq(now),
                    users::updated_at.eq(now),
                    users::version.eq(users::version + 1),
                ))
                .execute(self)
                .await?;
        } else {
            // A transparent rehash: nothing the user sees changes.
            diesel::update(target)
                .set(users::password_hash.eq(password_hash))
                .execute(self)
                .await?;
        }
        Ok(())
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
        // Kept in the account row by the users trigger: no scan of the users.
        let (active, inactive): (i64, i64) = accounts::table
            .find(account_id)
            .select((accounts::active_users, accounts::inactive_users))
            .first(self)
            .await
            .optional()?
            .unwrap_or_default();
        Ok(UserCounts { active, inactive })
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

    async fn set_user_status(&mut self, user_id: &str, change: &UserStatusChange) -> Result<()> {
        diesel::update(users::table.find(user_id))
            .set(change)
            .execute(self)
            .await?;
        Ok(())
    }

    async fn delete_user(&mut self, user_id: &str, now: NaiveDateTime) -> Result<()> {
        diesel::delete(users::table.find(user_id))
            .execute(self)
            .await?;
        diesel::insert_into(removed_users::table)
            .values((
                removed_users::user_id.eq(user_id),
                removed_users::removed_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(self)
            .await?;
        Ok(())
    }

    async fn forget_replies_about(&mut self, user_id: &str) -> Result<()> {
        diesel::delete(
            idempotency_keys::table.filter(idempotency_keys::subject_user_id.eq(user_id)),
        )
        .execute(self)
        .await?;
        Ok(())
    }

    async fn existing_user_ids(
        &mut self,
        account_id: &str,
        user_ids: &[String],
    ) -> Result<Vec<String>> {
        Ok(users::table
            .filter(users::account_id.eq(account_id))
            .filter(users::id.eq_any(user_ids))
            .select(users::id)
            .load(self)
            .await?)
    }

    async fn find_record_ids(
        &mut self,
        account_id: &str,
        kind: &str,
        external_ids: &[String],
    ) -> Result<Vec<(String, i64)>> {
        Ok(work_records::table
            .filter(work_records::account_id.eq(account_id))
            .filter(work_records::kind.eq(kind))
            .filter(work_records::external_id.eq_any(external_ids))
            .select((work_records::external_id, work_records::id))
            .load(self)
            .await?)
    }

    async fn insert_records(&mut self, rows: &[NewWorkRecord]) -> Result<usize> {
        super::insert_record_rows(self, rows).await
    }

    async fn set_records_owner(
        &mut self,
        ids: &[i64],
        owner_user_id: &str,
        now: NaiveDateTime,
    ) -> Result<usize> {
        let mut updated = 0;
        for chunk in ids.chunks(5000) {
            updated += diesel::update(work_records::table.filter(work_records::id.eq_any(chunk)))
                .set((
                    work_records::owner_user_id.eq(owner_user_id),
                    work_records::owner_is_former.eq(false),
                    work_records::updated_at.eq(now),
                ))
                .execute(self)
                .await?;
        }
        Ok(updated)
    }

    async fn list_records(
        &mut self,
        owner_user_id: &str,
        kind: &str,
        after_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WorkRecordRow>> {
        Ok(work_records::table
            .filter(work_records::owner_user_id.eq(owner_user_id))
            .filter(work_records::kind.eq(kind))
            .filter(work_records::id.gt(after_id.unwrap_or(0)))
            .order(work_records::id.asc())
            .limit(limit)
            .select(WorkRecordRow::as_select())
            .load(self)
            .await?)
    }

    async fn count_records(&mut self, owner_user_id: &str) -> Result<Vec<(String, i64)>> {
        Ok(work_records::table
            .filter(work_records::owner_user_id.eq(owner_user_id))
            .group_by(work_records::kind)
            .select((work_records::kind, diesel::dsl::count_star()))
            .load(self)
            .await?)
    }

    async fn count_conversations_by_parent(
        &mut self,
        owner_user_id: &str,
    ) -> Result<Vec<(String, i64)>> {
        let rows: Vec<(Option<String>, i64)> = work_records::table
            .filter(work_records::owner_user_id.eq(owner_user_id))
            .filter(work_records::kind.eq("CONVERSATION"))
            .group_by(work_records::parent_kind)
            .select((work_records::parent_kind, diesel::dsl::count_star()))
            .load(self)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, n)| k.map(|k| (k, n)))
            .collect())
    }

    async fn move_records(&mut self, mv: &Move<'_>) -> Result<i64> {
        let ids: Vec<i64> = diesel::update(
            work_records::table
                .filter(work_records::owner_user_id.eq(mv.from_user_id))
                .filter(work_records::kind.eq(mv.kind)),
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
                .filter(work_records::kind.eq("CONVERSATION"))
                .filter(work_records::parent_kind.eq(mv.kind)),
        )
        .set((
            work_records::owner_user_id.eq(mv.to_user_id),
            work_records::updated_at.eq(mv.now),
        ))
        .returning(work_records::id)
        .get_results(self)
        .await?;
        let journalled = Move {
            kind: "CONVERSATION",
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
            .filter(record_moves::kind.eq(mv.kind))
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
                .filter(work_records::kind.eq("NOTE")),
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

    async fn list_ledger(
        &mut self,
        account_id: &str,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<LedgerRow>> {
        Ok(ledger_entries::table
            .filter(ledger_entries::account_id.eq(account_id))
            .filter(ledger_entries::id.lt(before_id.unwrap_or(i64::MAX)))
            .order(ledger_entries::id.desc())
            .limit(limit)
            .select(LedgerRow::as_select())
            .load(self)
            .await?)
    }

    async fn save_account_terms(
        &mut self,
        account_id: &str,
        change: &AccountTermsChange,
    ) -> Result<()> {
        diesel::update(accounts::table.find(account_id))
            .set(change)
            .execute(self)
            .await?;
        Ok(())
    }

    async fn accounts_due_for_rollover(
        &mut self,
        now: NaiveDateTime,
        limit: i64,
    ) -> Result<Vec<String>> {
        Ok(accounts::table
            .filter(accounts::period_end.le(now))
            .filter(accounts::plan.ne("TRIAL"))
            .select(accounts::id)
            .order(accounts::id.asc())
            .limit(limit)
            .load(self)
            .await?)
    }

    async fn count_stalled_jobs(&mut self, now: NaiveDateTime) -> Result<i64> {
        Ok(jobs::table
            .filter(jobs::state.eq("RUNNING"))
            .filter(jobs::lease_expires_at.lt(now))
            .count()
            .get_result(self)
            .await?)
    }

    async fn oldest_event_sequence(&mut self, account_id: &str) -> Result<Option<i64>> {
        Ok(events::table
            .filter(events::account_id.eq(account_id))
            .select(diesel::dsl::min(events::sequence))
            .first(self)
            .await?)
    }

    async fn prune_idempotency_keys(&mut self, before: NaiveDateTime, limit: i64) -> Result<usize> {
        prune_oldest!(self, idempotency_keys, before, limit)
    }

    async fn prune_events(&mut self, before: NaiveDateTime, limit: i64) -> Result<usize> {
        prune_oldest!(self, events, before, limit)
    }

    async fn prune_finished_jobs(&mut self, before: NaiveDateTime, limit: i64) -> Result<usize> {
        let ids: Vec<String> = jobs::table
            .filter(jobs::finished_at.lt(before))
            .order(jobs::finished_at.asc())
            .select(jobs::id)
            .limit(limit)
            .load(self)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        diesel::delete(job_users::table.filter(job_users::job_id.eq_any(&ids)))
            .execute(self)
            .await?;
        Ok(diesel::delete(jobs::table.filter(jobs::id.eq_any(&ids)))
            .execute(self)
            .await?)
    }

    async fn prune_journal(&mut self, limit: i64) -> Result<usize> {
        let removed: Vec<String> = removed_users::table
            .order(removed_users::removed_at.asc())
            .select(removed_users::user_id)
            .limit(limit)
            .load(self)
            .await?;
        let mut deleted = 0;
        for user_id in removed {
            let left = limit - deleted as i64;
            if left <= 0 {
                break;
            }
            let of_user = record_moves::from_user_id
                .eq(&user_id)
                .or(record_moves::to_user_id.eq(&user_id));
            let ids: Vec<i64> = record_moves::table
                .filter(of_user)
                .select(record_moves::id)
                .limit(left)
                .load(self)
                .await?;
            let count = ids.len();
            if !ids.is_empty() {
                diesel::delete(record_moves::table.filter(record_moves::id.eq_any(&ids)))
                    .execute(self)
                    .await?;
            }
            deleted += count;
            if (count as i64) < left {
                diesel::delete(removed_users::table.find(&user_id))
                    .execute(self)
                    .await?;
            }
        }
        Ok(deleted)
    }

    async fn prune_login_throttle(
        &mut self,
        window_before: NaiveDateTime,
        now: NaiveDateTime,
        limit: i64,
    ) -> Result<usize> {
        use login_throttle::{email, locked_until, window_started_at};
        let emails: Vec<String> = login_throttle::table
            .filter(window_started_at.lt(window_before))
            .filter(locked_until.is_null().or(locked_until.lt(now)))
            .select(email)
            .limit(limit)
            .load(self)
            .await?;
        if emails.is_empty() {
            return Ok(0);
        }
        // The conditions again: a check may have renewed a row since it was
        // read (PostgreSQL re-evaluates them on the row it waited for).
        Ok(diesel::delete(
            login_throttle::table
                .filter(email.eq_any(&emails))
                .filter(window_started_at.lt(window_before))
                .filter(locked_until.is_null().or(locked_until.lt(now))),
        )
        .execute(self)
        .await?)
    }

    async fn list_events(
        &mut self,
        account_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>> {
        Ok(events::table
            .filter(events::account_id.eq(account_id))
            .filter(events::sequence.gt(after))
            .order(events::sequence.asc())
            .limit(limit)
            .select(EventRow::as_select())
            .load(self)
            .await?)
    }

    async fn insert_job(&mut self, job: &JobRow, users: &[JobUserRow]) -> Result<()> {
        diesel::insert_into(jobs::table)
            .values(job)
            .execute(self)
            .await?;
        // One row at a time: diesel has no multi-row insert for SQLite, and
        // a job has at most 1,000 users.
        for user in users {
            diesel::insert_into(job_users::table)
                .values(user)
                .execute(self)
                .await?;
        }
        Ok(())
    }

    async fn find_job(&mut self, account_id: &str, job_id: &str) -> Result<Option<JobRow>> {
        Ok(jobs::table
            .filter(jobs::id.eq(job_id))
            .filter(jobs::account_id.eq(account_id))
            .select(JobRow::as_select())
            .first(self)
            .await
            .optional()?)
    }

    async fn find_job_by_request(
        &mut self,
        account_id: &str,
        request_id: &str,
    ) -> Result<Option<JobRow>> {
        Ok(jobs::table
            .filter(jobs::account_id.eq(account_id))
            .filter(jobs::request_id.eq(request_id))
            .select(JobRow::as_select())
            .first(self)
            .await
            .optional()?)
    }

    async fn job_users(&mut self, job_id: &str) -> Result<Vec<JobUserRow>> {
        Ok(job_users::table
            .filter(job_users::job_id.eq(job_id))
            .order(job_users::position.asc())
            .select(JobUserRow::as_select())
            .load(self)
            .await?)
    }

    async fn list_jobs(
        &mut self,
        account_id: &str,
        before_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<JobRow>> {
        let mut query = jobs::table
            .filter(jobs::account_id.eq(account_id))
            .order(jobs::id.desc())
            .limit(limit)
            .select(JobRow::as_select())
            .into_boxed();
        if let Some(before) = before_id {
            query = query.filter(jobs::id.lt(before));
        }
        Ok(query.load(self).await?)
    }

    async fn claim_job(
        &mut self,
        owner: &str,
        lease_until: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Result<Option<JobRow>> {
        let runnable = || {
            jobs::table
                .filter(jobs::state.eq_any(["QUEUED", "RUNNING"]))
                .filter(
                    jobs::lease_expires_at
                        .is_null()
                        .or(jobs::lease_expires_at.lt(now)),
                )
        };
        let candidate: Option<String> = runnable()
            .order(jobs::created_at.asc())
            .select(jobs::id)
            .first(self)
            .await
            .optional()?;
        let Some(id) = candidate else { return Ok(None) };
        // The same condition again: of two racing processes only one
        // updates the row.
        let won = diesel::update(runnable().filter(jobs::id.eq(&id)))
            .set((
                jobs::state.eq("RUNNING"),
                jobs::lease_owner.eq(owner),
                jobs::lease_expires_at.eq(lease_until),
                jobs::updated_at.eq(now),
            ))
            .execute(self)
            .await?;
        if won == 0 {
            return Ok(None);
        }
        Ok(jobs::table
            .find(&id)
            .select(JobRow::as_select())
            .first(self)
            .await
            .optional()?)
    }

    async fn record_job_progress(&mut self, p: &JobProgress<'_>) -> Result<bool> {
        let updated = diesel::update(
            jobs::table
                .filter(jobs::id.eq(p.job_id))
                .filter(jobs::lease_owner.eq(p.lease_owner)),
        )
        .set((
            jobs::records_moved.eq(p.records_moved),
            jobs::moved.eq(&p.moved),
            jobs::lease_expires_at.eq(p.lease_expires_at),
            jobs::updated_at.eq(p.now),
        ))
        .execute(self)
        .await?;
        Ok(updated == 1)
    }

    async fn set_job_user(&mut self, row: &JobUserRow) -> Result<()> {
        diesel::update(job_users::table.find((&row.job_id, row.position)))
            .set((
                job_users::outcome.eq(&row.outcome),
                job_users::reason.eq(&row.reason),
                job_users::message.eq(&row.message),
                job_users::moved.eq(&row.moved),
            ))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn finish_job(
        &mut self,
        job_id: &str,
        owner: &str,
        state: &str,
        error_message: &str,
        now: NaiveDateTime,
    ) -> Result<bool> {
        let updated = diesel::update(
            jobs::table
                .filter(jobs::id.eq(job_id))
                .filter(jobs::lease_owner.eq(owner)),
        )
        .set((
            jobs::state.eq(state),
            jobs::error_message.eq(error_message),
            jobs::lease_owner.eq(None::<String>),
            jobs::lease_expires_at.eq(None::<NaiveDateTime>),
            jobs::finished_at.eq(now),
            jobs::updated_at.eq(now),
        ))
        .execute(self)
        .await?;
        Ok(updated == 1)
    }

    async fn release_job(&mut self, job_id: &str, owner: &str, now: NaiveDateTime) -> Result<()> {
        diesel::update(
            jobs::table
                .filter(jobs::id.eq(job_id))
                .filter(jobs::lease_owner.eq(owner)),
        )
        .set((
            jobs::lease_owner.eq(None::<String>),
            jobs::lease_expires_at.eq(None::<NaiveDateTime>),
            jobs::updated_at.eq(now),
        ))
        .execute(self)
        .await?;
        Ok(())
    }

    async fn request_job_cancel(&mut self, job_id: &str, now: NaiveDateTime) -> Result<()> {
        diesel::update(jobs::table.find(job_id))
            .set((jobs::cancel_requested.eq(true), jobs::updated_at.eq(now)))
            .execute(self)
            .await?;
        Ok(())
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
                .filter(work_records::kind.eq(*kind))
                .filter(work_records::id.gt(after))
                .order(work_records::id.asc())
                .limit(limit)
                .select(work_records::id)
                .load(self)
                .await?;
            ids.extend(next);
        }
        if !mv.conversation_parents.is_empty() {
            let next: Vec<i64> = work_records::table
                .filter(work_records::owner_user_id.eq(mv.from_user_id))
                .filter(work_records::kind.eq("CONVERSATION"))
                .filter(work_records::parent_kind.eq_any(mv.conversation_parents))
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
        let mut by_kind: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
        for (id, kind) in moved {
            by_kind.entry(kind).or_default().push(id);
        }
        let mut counted = Vec::with_capacity(by_kind.len());
        for (kind, ids) in by_kind {
            let journalled = Move {
                account_id: mv.account_id,
                from_user_id: mv.from_user_id,
                to_user_id: mv.to_user_id,
                kind: &kind,
                job_id: Some(mv.job_id),
                now: mv.now,
            };
            journal(self, &journalled, &ids).await?;
            counted.push((kind, ids.len() as i64));
        }
        Ok(MovedBatch {
            by_kind: counted,
            last: Some(last),
        })
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
