//! Accounts (workspaces) and their billing ledger.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::{BillingCycle, Plan, SeatPolicy};

/// An account: its plan and billing terms, seats, and the user counts kept
/// with it. `Serialize` is for stored idempotent replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub plan: Plan,
    pub billing_cycle: BillingCycle,
    pub seat_policy: SeatPolicy,
    pub seats_purchased: i32,
    pub currency: String,
    pub enterprise_seat_price_minor: Option<i64>,
    pub period_start: NaiveDateTime,
    pub period_end: NaiveDateTime,
    pub trial_ends_at: NaiveDateTime,
    pub pending_seats: Option<i32>,
    pub pending_effective_at: Option<NaiveDateTime>,
    pub pending_requested_by: Option<String>,
    pub pending_requested_at: Option<NaiveDateTime>,
    pub event_seq: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The account's users by status when it was read. Exact for an
    /// account read with its lock, until the transaction changes a user.
    /// (Absent from replies stored before they existed: zero.)
    #[serde(default)]
    pub active_users: i64,
    #[serde(default)]
    pub inactive_users: i64,
}

/// Active and inactive user counts of an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserCounts {
    pub active: i64,
    pub inactive: i64,
}

impl Account {
    /// The counts read with the account (see [`Account::active_users`]).
    pub fn user_counts(&self) -> UserCounts {
        UserCounts {
            active: self.active_users,
            inactive: self.inactive_users,
        }
    }

    /// SPEC rule 8: the trial is over (writes are refused).
    pub fn trial_expired(&self, now: NaiveDateTime) -> bool {
        self.plan == Plan::Trial && now >= self.trial_ends_at
    }
}

super::named_enum! {
    /// Why a ledger entry was written.
    pub enum LedgerKind {
        SeatAutoExpanded,
        SeatsSet,
        PlanChanged,
        RecalculationRequested,
        RecalculationApplied,
        PeriodRolledOver,
        AccountCreated,
        RecalculationCancelled,
    }
}

/// One line of the billing ledger (`id` is given by the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: i64,
    pub account_id: String,
    pub kind: LedgerKind,
    pub actor: String,
    pub created_at: NaiveDateTime,
    pub seats_before: i32,
    pub seats_after: i32,
    pub plan_before: Plan,
    pub plan_after: Plan,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: String,
    pub user_id: Option<String>,
    pub effective_at: Option<NaiveDateTime>,
}

impl LedgerEntry {
    /// An entry about `account` as it is: no seat, plan or money change
    /// until the caller sets one.
    pub fn about(account: &Account, kind: LedgerKind, actor: &str, now: NaiveDateTime) -> Self {
        LedgerEntry {
            id: 0,
            account_id: account.id.clone(),
            kind,
            actor: actor.to_owned(),
            created_at: now,
            seats_before: account.seats_purchased,
            seats_after: account.seats_purchased,
            plan_before: account.plan,
            plan_after: account.plan,
            amount_minor: 0,
            currency: account.currency.clone(),
            reason: String::new(),
            user_id: None,
            effective_at: Some(now),
        }
    }
}
