//! Accounts, their terms and kept user counts, and the billing ledger.

use super::*;
use crate::domain::account::UserCounts;
use crate::domain::{Account, LedgerEntry, Plan};

impl AccountQueries for Conn {
    async fn lock_account(&mut self, id: &str) -> Result<Option<Account>> {
        convert::account(self.lock_account_row(id).await?)
    }

    async fn find_account(&mut self, id: &str) -> Result<Option<Account>> {
        let row = accounts::table
            .find(id)
            .select(AccountRow::as_select())
            .first(self)
            .await
            .optional()?;
        convert::account(row)
    }

    async fn insert_account(&mut self, account: &Account) -> Result<()> {
        diesel::insert_into(accounts::table)
            .values(AccountRow::from(account))
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

    async fn save_account_terms(&mut self, account: &Account, now: NaiveDateTime) -> Result<()> {
        diesel::update(accounts::table.find(&account.id))
            .set(convert::terms_change(account, now))
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
            .filter(accounts::plan.ne(Plan::Trial.as_str()))
            .select(accounts::id)
            .order(accounts::id.asc())
            .limit(limit)
            .load(self)
            .await?)
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

    async fn insert_ledger_entry(&mut self, entry: &LedgerEntry) -> Result<LedgerEntry> {
        let row: LedgerRow = diesel::insert_into(ledger_entries::table)
            .values(convert::new_ledger_entry(entry))
            .returning(LedgerRow::as_returning())
            .get_result(self)
            .await?;
        row.try_into()
    }

    async fn list_ledger(
        &mut self,
        account_id: &str,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<LedgerEntry>> {
        let rows: Vec<LedgerRow> = ledger_entries::table
            .filter(ledger_entries::account_id.eq(account_id))
            .filter(ledger_entries::id.lt(before_id.unwrap_or(i64::MAX)))
            .order(ledger_entries::id.desc())
            .limit(limit)
            .select(LedgerRow::as_select())
            .load(self)
            .await?;
        rows.into_iter().map(LedgerEntry::try_from).collect()
    }
}
