//! Creating and reading accounts.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::idempotency::{self, Key};
use super::users::NewUser;
use super::{Roster, new_id};
use crate::auth::Principal;
use crate::auth::principal::{Access, Scope};
use crate::domain::billing::TRIAL_DAYS;
use crate::domain::{BillingCycle, DisplayName, Plan, RequestId, Role, SeatPolicy};
use crate::error::{Error, Result};
use crate::store::Repo;
use crate::store::models::{AccountRow, NewEvent, NewLedgerEntry, UserRow};
use crate::{read, write};

/// Validated input of CreateAccount.
pub struct NewAccount {
    pub name: DisplayName,
    pub plan: Plan,
    pub cycle: BillingCycle,
    pub policy: SeatPolicy,
    pub seats_purchased: i32,
    pub currency: String,
    pub enterprise_seat_price_minor: Option<i64>,
    pub admin: NewUser,
    pub request_id: Option<RequestId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedAccount {
    pub account: AccountRow,
    pub admin: UserRow,
}

impl Roster {
    pub async fn create_account(
        &self,
        caller: &Principal,
        input: NewAccount,
    ) -> Result<CreatedAccount> {
        caller.require_service_scope(Scope::AccountsCreate)?;
        let actor = caller.actor();
        let fingerprint = idempotency::fingerprint(&[
            input.name.as_str(),
            input.plan.as_str(),
            input.cycle.as_str(),
            input.policy.as_str(),
            &input.seats_purchased.to_string(),
            &input.currency,
            &format!("{:?}", input.enterprise_seat_price_minor),
            input.admin.name.as_str(),
            input.admin.email.as_str(),
        ]);
        let key = input.request_id.as_ref().map(|request_id| Key {
            namespace: &actor,
            operation: "CreateAccount",
            request_id,
            fingerprint: fingerprint.clone(),
        });
        if let Some(key) = &key
            && let Some(done) = read!(self.store, |conn| idempotency::replay(conn, key).await)?
        {
            return Ok(done);
        }
        let password_hash = self.hasher.hash(&input.admin.password).await?;
        let now = self.now();
        let trial_ends_at = now + Duration::days(TRIAL_DAYS);
        let period_end = if input.plan == Plan::Trial {
            trial_ends_at
        } else {
            input.cycle.period_end(now)
        };
        let account = AccountRow {
            id: new_id(),
            name: input.name.as_str().to_owned(),
            plan: input.plan.as_str().to_owned(),
            billing_cycle: input.cycle.as_str().to_owned(),
            seat_policy: input.policy.as_str().to_owned(),
            seats_purchased: input.seats_purchased,
            currency: input.currency.clone(),
            enterprise_seat_price_minor: input.enterprise_seat_price_minor,
            period_start: now,
            period_end,
            trial_ends_at,
            pending_seats: None,
            pending_effective_at: None,
            pending_requested_by: None,
            pending_requested_at: None,
            event_seq: 0,
            created_at: now,
            updated_at: now,
            // The trigger counts the admin in as the row is inserted.
            active_users: 0,
            inactive_users: 0,
        };
        let admin = input
            .admin
            .into_row(&account.id, Role::Admin, password_hash, now);
        let result = write!(self.store, |conn| {
            if let Some(key) = &key
                && let Some(done) = idempotency::replay(conn, key).await?
            {
                return Ok(done);
            }
            if conn.email_taken(&admin.email).await? {
                return Err(Error::email_taken());
            }
            conn.insert_account(&account).await?;
            conn.insert_user(&admin).await?;
            conn.insert_ledger_entry(&NewLedgerEntry {
                account_id: account.id.clone(),
                kind: "ACCOUNT_CREATED".into(),
                actor: actor.clone(),
                created_at: now,
                seats_before: 0,
                seats_after: account.seats_purchased,
                plan_before: account.plan.clone(),
                plan_after: account.plan.clone(),
                amount_minor: 0,
                currency: account.currency.clone(),
                reason: "account created".into(),
                user_id: Some(admin.id.clone()),
                effective_at: Some(now),
            })
            .await?;
            conn.append_event(
                &account.id,
                NewEvent {
                    event_type: "ACCOUNT_CREATED",
                    actor: actor.clone(),
                    seats_after: Some(account.seats_purchased),
                    ..NewEvent::default()
                },
                now,
            )
            .await?;
            conn.append_event(
                &account.id,
                NewEvent {
                    event_type: "USER_ADDED",
                    actor: actor.clone(),
                    user_id: Some(admin.id.clone()),
                    ..NewEvent::default()
                },
                now,
            )
            .await?;
            let mut created = CreatedAccount {
                account: account.clone(),
                admin: admin.clone(),
            };
            created.account.event_seq = 2;
            if let Some(key) = &key {
                idempotency::remember(conn, key, &created, Some(&created.admin.id), now).await?;
            }
            Ok::<_, Error>(created)
        });
        match (result, &key) {
            // A concurrent retry with the same request_id won the race.
            (Err(e), Some(key)) if e.reason == crate::error::Reason::RequestIdReused => {
                read!(self.store, |conn| idempotency::replay(conn, key).await)?.ok_or(e)
            }
            (result, _) => result,
        }
    }

    pub async fn get_account(&self, caller: &Principal, account_id: &str) -> Result<AccountRow> {
        let account_id = caller.authorize(account_id, Access::Read)?;
        read!(self.store, |conn| conn.find_account(&account_id).await)?
            .ok_or_else(Error::account_not_found)
    }
}
