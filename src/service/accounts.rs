//! Creating and reading accounts.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::idempotency::{self, Key};
use super::users::NewUser;
use super::{AccountService, new_id};
use crate::auth::principal::{Grant, ServiceGrant};
use crate::domain::billing::TRIAL_DAYS;
use crate::domain::{
    Account, BillingCycle, DisplayName, EventType, LedgerEntry, LedgerKind, NewEvent, Plan,
    RequestId, Role, SeatPolicy, User,
};
use crate::error::{Error, Result};
use crate::store::Insert;
use crate::store::prelude::*;

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
    pub account: Account,
    pub admin: User,
}

impl AccountService {
    pub async fn create_account(
        &self,
        grant: &ServiceGrant,
        input: NewAccount,
    ) -> Result<CreatedAccount> {
        let actor = grant.actor();
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
            && let Some(done) = self
                .store
                .read(async |conn| idempotency::replay(conn, key).await)
                .await?
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
        let account = Account {
            id: new_id(),
            name: input.name.as_str().to_owned(),
            plan: input.plan,
            billing_cycle: input.cycle,
            seat_policy: input.policy,
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
            .into_user(&account.id, Role::Admin, password_hash, now);
        let result = self
            .store
            .write(async |conn| {
                if let Some(key) = &key
                    && let Some(done) = idempotency::replay(conn, key).await?
                {
                    return Ok(done);
                }
                if conn.email_taken(&admin.email).await? {
                    return Err(Error::email_taken());
                }
                conn.insert_account(&account).await?;
                if conn.insert_user(&admin).await? == Insert::Duplicate {
                    return Err(Error::email_taken());
                }
                conn.insert_ledger_entry(&LedgerEntry {
                    seats_before: 0,
                    reason: "account created".into(),
                    user_id: Some(admin.id.clone()),
                    ..LedgerEntry::about(&account, LedgerKind::AccountCreated, &actor, now)
                })
                .await?;
                conn.append_event(
                    &account.id,
                    NewEvent {
                        seats_after: Some(account.seats_purchased),
                        ..NewEvent::new(EventType::AccountCreated, &actor)
                    },
                    now,
                )
                .await?;
                conn.append_event(
                    &account.id,
                    NewEvent {
                        user_id: Some(admin.id.clone()),
                        ..NewEvent::new(EventType::UserAdded, &actor)
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
                    idempotency::remember(conn, key, &created, Some(&created.admin.id), now)
                        .await?;
                }
                Ok::<_, Error>(created)
            })
            .await;
        match (result, &key) {
            // A concurrent retry with the same request_id won the race.
            (Err(e), Some(key)) if e.reason == crate::error::Reason::RequestIdReused => self
                .store
                .read(async |conn| idempotency::replay(conn, key).await)
                .await?
                .ok_or(e),
            (result, _) => result,
        }
    }

    pub async fn get_account(&self, grant: &Grant) -> Result<Account> {
        let account_id = grant.account_id().to_owned();
        self.store
            .read(async |conn| conn.find_account(&account_id).await)
            .await?
            .ok_or_else(Error::account_not_found)
    }
}
