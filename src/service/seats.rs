//! Seat accounting inside write transactions, and seat usage reads.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::BillingService;
use crate::auth::principal::Grant;
use crate::domain::account::UserCounts;
use crate::domain::billing::prorated_seat_charge;
use crate::domain::seats::{admit_batch, admit_one};
use crate::domain::{
    Account, EventType, LedgerEntry, LedgerKind, NewEvent, Plan, PriceList, SeatDecision,
};
use crate::error::{Error, Reason, Result};
use crate::store::Repo;
use crate::store::prelude::*;

/// What a change did (or would do) to seats and billing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatEffect {
    pub active_before: i64,
    pub active_after: i64,
    pub seats_before: i32,
    pub seats_after: i32,
    pub charge_minor: i64,
    pub currency: String,
}

/// SPEC rule 2 for one more active user, without changing anything: the
/// decision and its effect (a STRICT refusal is an `Err`). `account` is the
/// row as `lock_account` read it, before the transaction changed a user:
/// its user counts are the ones the decision is about.
pub fn seat_preview(
    account: &Account,
    prices: &PriceList,
    now: NaiveDateTime,
) -> Result<(SeatDecision, SeatEffect)> {
    let counts = account.user_counts();
    let mut effect = SeatEffect {
        active_before: counts.active,
        active_after: counts.active + 1,
        seats_before: account.seats_purchased,
        seats_after: account.seats_purchased,
        charge_minor: 0,
        currency: account.currency.clone(),
    };
    let decision = admit_one(
        account.seat_policy,
        counts.active,
        i64::from(account.seats_purchased),
    );
    match decision {
        SeatDecision::UseFreeSeat => {}
        SeatDecision::Refuse => {
            return Err(Error::precondition(
                Reason::SeatLimitReached,
                format!(
                    "all {} purchased seats are taken and the seat policy is STRICT",
                    account.seats_purchased
                ),
            )
            .with_precondition(
                "SEATS",
                &format!("accounts/{}", account.id),
                format!(
                    "{} of {} seats used",
                    counts.active, account.seats_purchased
                ),
            ));
        }
        SeatDecision::BuySeat => {
            effect.seats_after = account.seats_purchased + 1;
            effect.charge_minor = seats_charge(account, prices, 1, now);
        }
    }
    Ok((decision, effect))
}

/// The prorated charge for `seats` seats bought now (none on a trial).
fn seats_charge(account: &Account, prices: &PriceList, seats: i64, now: NaiveDateTime) -> i64 {
    if account.plan == Plan::Trial || seats <= 0 {
        return 0;
    }
    let monthly = prices.monthly_seat_price(account.plan, account.enterprise_seat_price_minor);
    seats
        * prorated_seat_charge(
            monthly,
            account.billing_cycle,
            account.period_start,
            account.period_end,
            now,
        )
}

/// SPEC rule 2 for `added` more active users at once, the count the seat
/// policy admits (see [`admit_batch`]): the effect of adding them, bought
/// seats as one purchase. `account` as for [`seat_preview`].
pub fn batch_seat_effect(
    account: &Account,
    prices: &PriceList,
    added: i64,
    now: NaiveDateTime,
) -> SeatEffect {
    let counts = account.user_counts();
    let admission = admit_batch(
        account.seat_policy,
        counts.active,
        i64::from(account.seats_purchased),
        added,
    );
    let bought = i32::try_from(admission.seats_bought).unwrap_or(i32::MAX);
    SeatEffect {
        active_before: counts.active,
        active_after: counts.active + admission.admitted,
        seats_before: account.seats_purchased,
        seats_after: account.seats_purchased.saturating_add(bought),
        charge_minor: seats_charge(account, prices, admission.seats_bought, now),
        currency: account.currency.clone(),
    }
}

/// [`take_seat`] for `added` users at once (BulkAddUsers): the seats
/// AUTO_EXPAND buys for them are one purchase, one ledger entry and one
/// event. The caller admitted `added` by [`admit_batch`].
pub async fn take_seats<R: Repo>(
    conn: &mut R,
    account: &Account,
    prices: &PriceList,
    actor: &str,
    added: i64,
    now: NaiveDateTime,
) -> Result<SeatEffect> {
    let effect = batch_seat_effect(account, prices, added, now);
    let bought = effect.seats_after - effect.seats_before;
    if bought > 0 {
        let reason = format!("{bought} extra active users under AUTO_EXPAND, added together");
        record_purchase(conn, account, actor, &effect, None, reason, now).await?;
    }
    Ok(effect)
}

/// SPEC rule 2 for one more active user, inside a transaction holding the
/// account lock: takes a free seat, or (AUTO_EXPAND) buys one with a
/// prorated charge recorded in the ledger and the event log, or (STRICT)
/// refuses with SEAT_LIMIT_REACHED. `account` as for [`seat_preview`].
pub async fn take_seat<R: Repo>(
    conn: &mut R,
    account: &Account,
    prices: &PriceList,
    actor: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<SeatEffect> {
    let (decision, effect) = seat_preview(account, prices, now)?;
    if decision == SeatDecision::BuySeat {
        record_purchase(
            conn,
            account,
            actor,
            &effect,
            Some(user_id),
            "an extra active user under AUTO_EXPAND".into(),
            now,
        )
        .await?;
    }
    Ok(effect)
}

/// What AUTO_EXPAND buying `effect`'s seats writes: the account's seats,
/// one ledger entry and one SEATS_CHANGED event.
async fn record_purchase<R: Repo>(
    conn: &mut R,
    account: &Account,
    actor: &str,
    effect: &SeatEffect,
    user_id: Option<&str>,
    reason: String,
    now: NaiveDateTime,
) -> Result<()> {
    conn.set_seats_purchased(&account.id, effect.seats_after, now)
        .await?;
    conn.insert_ledger_entry(&LedgerEntry {
        seats_before: effect.seats_before,
        seats_after: effect.seats_after,
        amount_minor: effect.charge_minor,
        reason,
        user_id: user_id.map(str::to_owned),
        ..LedgerEntry::about(account, LedgerKind::SeatAutoExpanded, actor, now)
    })
    .await?;
    conn.append_event(
        &account.id,
        NewEvent {
            user_id: user_id.map(str::to_owned),
            seats_before: Some(effect.seats_before),
            seats_after: Some(effect.seats_after),
            amount_minor: Some(effect.charge_minor),
            detail: "AUTO_EXPAND".into(),
            ..NewEvent::new(EventType::SeatsChanged, actor)
        },
        now,
    )
    .await?;
    Ok(())
}

/// The seat picture of an account.
#[derive(Debug, Clone)]
pub struct SeatUsage {
    pub account: Account,
    pub counts: UserCounts,
    pub seat_price_monthly_minor: i64,
}

impl BillingService {
    pub async fn seat_usage(&self, grant: &Grant) -> Result<SeatUsage> {
        let account_id = grant.account_id().to_owned();
        let (account, counts) = self
            .store
            .read(async |conn| {
                let account = conn
                    .find_account(&account_id)
                    .await?
                    .ok_or_else(Error::account_not_found)?;
                let counts = conn.count_users(&account_id).await?;
                Ok::<_, Error>((account, counts))
            })
            .await?;
        Ok(SeatUsage {
            seat_price_monthly_minor: self
                .prices
                .monthly_seat_price(account.plan, account.enterprise_seat_price_minor),
            account,
            counts,
        })
    }
}
