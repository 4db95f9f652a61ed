//! Writes and lookups of users beyond the hot reads (those are in `mod.rs`),
//! and the login throttle.

use super::*;
use crate::domain::user::search_text;

impl UserQueries for Conn {
    async fn email_taken(&mut self, email: &str) -> Result<bool> {
        let found: Option<String> = users::table
            .filter(users::email.eq(email))
            .select(users::id)
            .first(self)
            .await
            .optional()?;
        Ok(found.is_some())
    }

    async fn insert_user(&mut self, user: &User) -> Result<Insert> {
        // The only unique key besides the random id is the email.
        inserted(
            diesel::insert_into(users::table)
                .values(UserRow::from(user))
                .execute(self)
                .await,
        )
    }

    async fn insert_new_users(&mut self, users: &[&User]) -> Result<Vec<String>> {
        self.insert_user_rows(convert::new_user_rows(users)).await
    }

    async fn taken_emails(&mut self, emails: &[String]) -> Result<Vec<String>> {
        let mut taken = Vec::new();
        for chunk in emails.chunks(1000) {
            taken.extend(
                users::table
                    .filter(users::email.eq_any(chunk))
                    .select(users::email)
                    .load::<String>(self)
                    .await?,
            );
        }
        Ok(taken)
    }

    async fn find_user_by_email(&mut self, email: &str) -> Result<Option<User>> {
        let row = users::table
            .filter(users::email.eq(email))
            .select(UserRow::as_select())
            .first(self)
            .await
            .optional()?;
        convert::user(row)
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

    async fn update_user_profile(&mut self, user: &User) -> Result<()> {
        diesel::update(users::table.find(&user.id))
            .set(convert::profile_change(user))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn count_active_admins(&mut self, account_id: &str) -> Result<i64> {
        Ok(users::table
            .filter(users::account_id.eq(account_id))
            .filter(users::status.eq(UserStatus::Active.as_str()))
            .filter(users::role.eq(Role::Admin.as_str()))
            .count()
            .get_result(self)
            .await?)
    }

    async fn set_user_status(&mut self, user: &User) -> Result<()> {
        diesel::update(users::table.find(&user.id))
            .set(convert::status_change(user))
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

    async fn set_user_email(&mut self, user: &User) -> Result<Insert> {
        inserted(
            diesel::update(users::table.find(&user.id))
                .set((
                    users::email.eq(&user.email),
                    users::search_text.eq(search_text(&user.name, &user.email)),
                    users::tokens_valid_after.eq(user.tokens_valid_after),
                    users::version.eq(user.version),
                    users::updated_at.eq(user.updated_at),
                ))
                .execute(self)
                .await,
        )
    }

    async fn find_users(&mut self, account_id: &str, user_ids: &[String]) -> Result<Vec<User>> {
        let rows: Vec<UserRow> = users::table
            .filter(users::account_id.eq(account_id))
            .filter(users::id.eq_any(user_ids))
            .select(UserRow::as_select())
            .load(self)
            .await?;
        convert::users(rows)
    }

    async fn find_search_entries(
        &mut self,
        account_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(SearchEntry, Option<i64>)>> {
        let mut query = users::table
            .filter(users::account_id.eq(account_id))
            .select((UserRow::as_select(), users_version_of!(account_id)))
            .order(users::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(users::id.gt(after));
        }
        let rows: Vec<(UserRow, Option<i64>)> = query.load(self).await?;
        rows.into_iter()
            .map(|(row, version)| Ok((search_entry(row)?, version)))
            .collect()
    }

    async fn find_user_changes(
        &mut self,
        account_id: &str,
        after_version: i64,
        limit: i64,
    ) -> Result<LoggedChanges> {
        let rows: Vec<(i64, String, Option<i64>)> = user_changes::table
            .filter(user_changes::account_id.eq(account_id))
            .filter(user_changes::users_version.gt(after_version))
            .order((
                user_changes::users_version.asc(),
                user_changes::user_id.asc(),
            ))
            .select((
                user_changes::users_version,
                user_changes::user_id,
                users_version_of!(account_id),
            ))
            .limit(limit)
            .load(self)
            .await?;
        let first = <[_]>::first(&rows).map(|(_, _, now)| *now);
        let users_version = version_read_with(self, first, account_id).await?;
        Ok(LoggedChanges {
            changes: rows
                .into_iter()
                .map(|(version, user_id, _)| (version, user_id))
                .collect(),
            users_version,
        })
    }

    async fn find_search_entries_of(
        &mut self,
        account_id: &str,
        user_ids: &[String],
    ) -> Result<(Vec<SearchEntry>, Option<i64>)> {
        let rows: Vec<(UserRow, Option<i64>)> = users::table
            .filter(users::account_id.eq(account_id))
            .filter(users::id.eq_any(user_ids))
            .select((UserRow::as_select(), users_version_of!(account_id)))
            .order(users::id.asc())
            .load(self)
            .await?;
        let first = <[_]>::first(&rows).map(|(_, now)| *now);
        let now = version_read_with(self, first, account_id).await?;
        let entries = rows
            .into_iter()
            .map(|(row, _)| search_entry(row))
            .collect::<Result<_>>()?;
        Ok((entries, now))
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
            self.lock_login_throttle_row(email).await?;
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
}

/// A row as the search index holds it: its searched text apart.
fn search_entry(mut row: UserRow) -> Result<SearchEntry> {
    let search_text = std::mem::take(&mut row.search_text);
    let user = User::try_from(row)?;
    Ok(SearchEntry { search_text, user })
}

/// The account's `users_version` read with the first row of a statement
/// (`first`), or read on its own when the statement found no row.
async fn version_read_with(
    conn: &mut Conn,
    first: Option<Option<i64>>,
    account_id: &str,
) -> Result<Option<i64>> {
    match first {
        Some(now) => Ok(now),
        None => conn.find_users_version(account_id).await,
    }
}
