//! Seat and plan changes: the ledger, recalculation requests, period
//! rollover, plan, seat and policy changes (SPEC rule 7).

use chrono::NaiveDateTime;

use super::seats::SeatUsage;
use super::{BillingService, ensure_writable, locked_account, paging};
use crate::auth::principal::{Grant, ServiceGrant};
use crate::domain::{
    Account, BillingCycle, EventType, LedgerEntry, LedgerKind, NewEvent, Plan, SeatPolicy,
};
use crate::error::{Error, Result};
use crate::store::Repo;
use crate::store::prelude::*;

fn ledger(account: &Account, kind: LedgerKind, actor: &str, now: NaiveDateTime) -> LedgerEntry {
    LedgerEntry::about(account, kind, actor, now)
}

fn seats_event(actor: &str, before: i32, after: i32, detail: &str) -> NewEvent {
    NewEvent {
        seats_before: Some(before),
        seats_after: Some(after),
        amount_minor: Some(0),
        detail: detail.to_owned(),
        ..NewEvent::new(EventType::SeatsChanged, actor)
    }
}

/// Validated input of ChangePlan.
pub struct PlanChange {
    pub plan: Option<Plan>,
    pub cycle: Option<BillingCycle>,
    pub enterprise_seat_price_minor: Option<i64>,
    pub reason: String,
}

/// Starts the periods that have begun by `now`, applying a due pending
/// recalculation as max(pending, active users, 1). Returns whether a
/// recalculation was applied. Call with the account locked.
async fn roll_over_locked<R: Repo>(
    conn: &mut R,
    account: &Account,
    actor: &str,
    now: NaiveDateTime,
) -> Result<bool> {
    let mut change = account.clone();
    while change.period_end <= now {
        change.period_start = change.period_end;
        change.period_end = account.billing_cycle.period_end(change.period_start);
    }
    let mut entry = ledger(account, LedgerKind::PeriodRolledOver, actor, now);
    entry.reason = format!(
        "new {} period",
        account.billing_cycle.as_str().to_lowercase()
    );
    entry.effective_at = Some(change.period_start);
    conn.insert_ledger_entry(&entry).await?;
    let mut applied = false;
    if let (Some(pending), Some(effective)) = (change.pending_seats, change.pending_effective_at)
        && effective <= change.period_start
    {
        let active = conn.count_users(&account.id).await?.active;
        let seats = i64::from(pending).max(active).max(1) as i32;
        change.seats_purchased = seats;
        change.pending_seats = None;
        change.pending_effective_at = None;
        change.pending_requested_by = None;
        change.pending_requested_at = None;
        let mut entry = ledger(account, LedgerKind::RecalculationApplied, actor, now);
        entry.seats_after = seats;
        entry.reason = format!("recalculation requested for {pending} seats applied at period end");
        entry.effective_at = Some(change.period_start);
        conn.insert_ledger_entry(&entry).await?;
        conn.append_event(
            &account.id,
            seats_event(
                actor,
                account.seats_purchased,
                seats,
                "RECALCULATION_APPLIED",
            ),
            now,
        )
        .await?;
        applied = true;
    }
    conn.save_account_terms(&change, now).await?;
    Ok(applied)
}

impl BillingService {
    pub async fn list_ledger(
        &self,
        grant: &Grant,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<LedgerEntry>, String)> {
        let account_id = grant.account_id().to_owned();
        let limit = paging::page_size(page_size, 50)?;
        let before = match paging::decode_token(page_token, &account_id)? {
            Some(key) => Some(
                key.parse::<i64>()
                    .map_err(|_| Error::invalid("page_token", "malformed"))?,
            ),
            None => None,
        };
        let mut rows = self
            .store
            .read(async |conn| {
                conn.find_account(&account_id)
                    .await?
                    .ok_or_else(Error::account_not_found)?;
                conn.list_ledger(&account_id, before, limit + 1).await
            })
            .await?;
        let next = paging::finish_page(&mut rows, limit, &account_id, |r| r.id.to_string());
        Ok((rows, next))
    }

    /// Records seats_purchased = max(active, 1) as pending until the period
    /// ends; replaces an earlier pending change.
    pub async fn request_recalculation(
        &self,
        grant: &Grant,
        reason: &str,
        validate_only: bool,
    ) -> Result<SeatUsage> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                ensure_writable(&account, now)?;
                let counts = conn.count_users(&account_id).await?;
                let seats = counts.active.max(1) as i32;
                let mut updated = account.clone();
                updated.pending_seats = Some(seats);
                updated.pending_effective_at = Some(account.period_end);
                updated.pending_requested_by = Some(actor.clone());
                updated.pending_requested_at = Some(now);
                if !validate_only {
                    conn.save_account_terms(&updated, now).await?;
                    let mut entry =
                        ledger(&account, LedgerKind::RecalculationRequested, &actor, now);
                    entry.seats_after = seats;
                    entry.reason = reason.to_owned();
                    entry.effective_at = Some(account.period_end);
                    conn.insert_ledger_entry(&entry).await?;
                    conn.append_event(
                        &account_id,
                        NewEvent {
                            seats_before: Some(account.seats_purchased),
                            seats_after: Some(seats),
                            detail: "REQUESTED".into(),
                            ..NewEvent::new(EventType::Recalculation, &actor)
                        },
                        now,
                    )
                    .await?;
                }
                Ok::<_, Error>(SeatUsage {
                    seat_price_monthly_minor: 0,
                    account: updated,
                    counts,
                })
            })
            .await
            .map(|usage| self.priced(usage))
    }

    pub async fn cancel_recalculation(&self, grant: &Grant) -> Result<SeatUsage> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                let counts = conn.count_users(&account_id).await?;
                let mut updated = account.clone();
                if let Some(pending) = account.pending_seats {
                    updated.pending_seats = None;
                    updated.pending_effective_at = None;
                    updated.pending_requested_by = None;
                    updated.pending_requested_at = None;
                    conn.save_account_terms(&updated, now).await?;
                    let mut entry =
                        ledger(&account, LedgerKind::RecalculationCancelled, &actor, now);
                    entry.reason = format!("pending change to {pending} seats withdrawn");
                    conn.insert_ledger_entry(&entry).await?;
                    conn.append_event(
                        &account_id,
                        NewEvent {
                            detail: "CANCELLED".into(),
                            ..NewEvent::new(EventType::Recalculation, &actor)
                        },
                        now,
                    )
                    .await?;
                }
                Ok::<_, Error>(SeatUsage {
                    seat_price_monthly_minor: 0,
                    account: updated,
                    counts,
                })
            })
            .await
            .map(|usage| self.priced(usage))
    }

    /// Rolls over every account whose period has ended (or just one).
    /// Returns (accounts rolled over, recalculations applied).
    pub async fn roll_over_periods(
        &self,
        grant: &ServiceGrant,
        account_id: &str,
    ) -> Result<(i32, i32)> {
        let actor = grant.actor();
        let now = self.now();
        let due: Vec<String> = if account_id.is_empty() {
            self.store
                .read(async |conn| conn.accounts_due_for_rollover(now, 10_000).await)
                .await?
        } else {
            vec![account_id.to_owned()]
        };
        let (mut rolled, mut applied) = (0, 0);
        for id in due {
            let result = self
                .store
                .write(async |conn| {
                    let account = locked_account(conn, &id).await?;
                    // Re-checked under the lock: another replica may have done it.
                    if account.plan == Plan::Trial || account.period_end > now {
                        return Ok::<_, Error>(None);
                    }
                    roll_over_locked(conn, &account, &actor, now)
                        .await
                        .map(Some)
                })
                .await?;
            if let Some(was_applied) = result {
                rolled += 1;
                applied += i32::from(was_applied);
            }
        }
        Ok((rolled, applied))
    }

    pub async fn change_plan(&self, grant: &Grant, change: PlanChange) -> Result<Account> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                let plan = change.plan.unwrap_or(account.plan);
                let cycle = change.cycle.unwrap_or(account.billing_cycle);
                let price = match plan {
                    Plan::Enterprise => change
                        .enterprise_seat_price_minor
                        .or(account.enterprise_seat_price_minor),
                    _ => account.enterprise_seat_price_minor,
                };
                if plan == Plan::Enterprise && price.unwrap_or(0) <= 0 {
                    return Err(Error::invalid(
                        "enterprise_seat_price_minor",
                        "required (> 0) for the ENTERPRISE plan",
                    ));
                }
                let mut updated = account.clone();
                updated.plan = plan;
                updated.billing_cycle = cycle;
                updated.enterprise_seat_price_minor = price;
                // Leaving the trial or changing the cycle starts a new period now.
                if account.plan == Plan::Trial && plan != Plan::Trial
                    || cycle != account.billing_cycle
                {
                    updated.period_start = now;
                    updated.period_end = cycle.period_end(now);
                    if updated.pending_seats.is_some() {
                        updated.pending_effective_at = Some(updated.period_end);
                    }
                }
                conn.save_account_terms(&updated, now).await?;
                let mut entry = ledger(&account, LedgerKind::PlanChanged, &actor, now);
                entry.plan_after = updated.plan;
                entry.reason = if change.reason.is_empty() {
                    format!(
                        "{} {} -> {} {}",
                        account.plan, account.billing_cycle, updated.plan, updated.billing_cycle
                    )
                } else {
                    change.reason.clone()
                };
                conn.insert_ledger_entry(&entry).await?;
                conn.append_event(
                    &account_id,
                    NewEvent {
                        detail: format!("{} {}", updated.plan, updated.billing_cycle),
                        ..NewEvent::new(EventType::PlanChanged, &actor)
                    },
                    now,
                )
                .await?;
                Ok::<_, Error>(Account {
                    updated_at: now,
                    ..updated
                })
            })
            .await
    }

    pub async fn set_seats(&self, grant: &Grant, seats: i32, reason: &str) -> Result<SeatUsage> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                let counts = conn.count_users(&account_id).await?;
                let floor = counts.active.max(1);
                if i64::from(seats) < floor {
                    return Err(Error::invalid(
                        "seats_purchased",
                        format!("must be at least the {floor} active user(s)"),
                    ));
                }
                conn.set_seats_purchased(&account_id, seats, now).await?;
                let mut entry = ledger(&account, LedgerKind::SeatsSet, &actor, now);
                entry.seats_after = seats;
                entry.reason = reason.to_owned();
                conn.insert_ledger_entry(&entry).await?;
                conn.append_event(
                    &account_id,
                    seats_event(&actor, account.seats_purchased, seats, "SET"),
                    now,
                )
                .await?;
                Ok::<_, Error>(SeatUsage {
                    seat_price_monthly_minor: 0,
                    account: Account {
                        seats_purchased: seats,
                        updated_at: now,
                        ..account
                    },
                    counts,
                })
            })
            .await
            .map(|usage| self.priced(usage))
    }

    pub async fn set_seat_policy(&self, grant: &Grant, policy: SeatPolicy) -> Result<SeatUsage> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                ensure_writable(&account, now)?;
                let updated = Account {
                    seat_policy: policy,
                    updated_at: now,
                    ..account
                };
                conn.save_account_terms(&updated, now).await?;
                conn.append_event(
                    &account_id,
                    NewEvent {
                        seats_before: Some(updated.seats_purchased),
                        seats_after: Some(updated.seats_purchased),
                        detail: format!("SEAT_POLICY {}", policy.as_str()),
                        ..NewEvent::new(EventType::SeatsChanged, &actor)
                    },
                    now,
                )
                .await?;
                let counts = conn.count_users(&account_id).await?;
                Ok::<_, Error>(SeatUsage {
                    seat_price_monthly_minor: 0,
                    account: updated,
                    counts,
                })
            })
            .await
            .map(|usage| self.priced(usage))
    }

    /// Fills in the seat price from the price list.
    fn priced(&self, mut usage: SeatUsage) -> SeatUsage {
        usage.seat_price_monthly_minor = self.prices.monthly_seat_price(
            usage.account.plan,
            usage.account.enterprise_seat_price_minor,
        );
        usage
    }
}
