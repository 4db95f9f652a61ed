//! Plans, billing cycles, prices and proration. Money is integer minor units.

use chrono::{Months, NaiveDateTime};

/// Length of the free trial.
pub const TRIAL_DAYS: i64 = 14;

super::named_enum! {
    pub enum Plan {
        Trial,
        Base,
        Advanced,
        Pro,
        Enterprise,
    }
}

super::named_enum! {
    pub enum BillingCycle {
        Monthly,
        Semiannual,
        Annual,
    }
}

impl BillingCycle {
    pub fn months(self) -> u32 {
        match self {
            BillingCycle::Monthly => 1,
            BillingCycle::Semiannual => 6,
            BillingCycle::Annual => 12,
        }
    }

    /// The end (exclusive) of a period starting at `start`.
    pub fn period_end(self, start: NaiveDateTime) -> NaiveDateTime {
        start
            .checked_add_months(Months::new(self.months()))
            // Only fails beyond year 262143; fall back to a 30-day month.
            .unwrap_or(start + chrono::Duration::days(30 * i64::from(self.months())))
    }
}

/// Seat prices per month in minor units, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceList {
    pub base: i64,
    pub advanced: i64,
    pub pro: i64,
}

impl Default for PriceList {
    fn default() -> Self {
        PriceList {
            base: 1500,
            advanced: 2500,
            pro: 4500,
        }
    }
}

impl PriceList {
    /// Monthly seat price for a plan; Enterprise uses the account's own.
    pub fn monthly_seat_price(&self, plan: Plan, enterprise_price: Option<i64>) -> i64 {
        match plan {
            Plan::Trial => 0,
            Plan::Base => self.base,
            Plan::Advanced => self.advanced,
            Plan::Pro => self.pro,
            Plan::Enterprise => enterprise_price.unwrap_or(0),
        }
    }
}

/// The prorated charge for one extra seat bought at `now` in the period
/// `[period_start, period_end)`: price of the period × remaining days / days
/// of the period, rounded half-up to a minor unit. Days are calendar days
/// (UTC); a seat bought on the first day of the period costs the full
/// period, one bought on its last day costs one day.
pub fn prorated_seat_charge(
    monthly_price: i64,
    cycle: BillingCycle,
    period_start: NaiveDateTime,
    period_end: NaiveDateTime,
    now: NaiveDateTime,
) -> i64 {
    let period_days = (period_end.date() - period_start.date()).num_days();
    if period_days <= 0 || monthly_price <= 0 {
        return 0;
    }
    let remaining = (period_end.date() - now.date())
        .num_days()
        .clamp(0, period_days);
    let period_price = i128::from(monthly_price) * i128::from(cycle.months());
    let numerator = period_price * i128::from(remaining);
    let denominator = i128::from(period_days);
    // Half-up for non-negative amounts: floor((2n + d) / 2d).
    let rounded = (2 * numerator + denominator) / (2 * denominator);
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
    }

    #[test]
    fn monthly_proration_by_hand() {
        // November has 30 days; from the 21st, 10 days remain: 1500 * 10 / 30.
        let charge = prorated_seat_charge(
            1500,
            BillingCycle::Monthly,
            at(2026, 11, 1),
            at(2026, 12, 1),
            at(2026, 11, 21),
        );
        assert_eq!(charge, 500);
        // 7 of 30 days of 25.00: 583.33 -> 583.
        let charge = prorated_seat_charge(
            2500,
            BillingCycle::Monthly,
            at(2026, 11, 1),
            at(2026, 12, 1),
            at(2026, 11, 24),
        );
        assert_eq!(charge, 583);
        // First day: whole month.
        let charge = prorated_seat_charge(
            1500,
            BillingCycle::Monthly,
            at(2026, 11, 1),
            at(2026, 12, 1),
            at(2026, 11, 1),
        );
        assert_eq!(charge, 1500);
    }

    #[test]
    fn annual_proration_by_hand() {
        // 12 * 15.00 = 180.00 for 365 days; 34 days remain: 18000*34/365 = 1676.71 -> 1677.
        let charge = prorated_seat_charge(
            1500,
            BillingCycle::Annual,
            at(2026, 1, 1),
            at(2027, 1, 1),
            at(2026, 11, 28),
        );
        assert_eq!(charge, 1677);
    }

    #[test]
    fn half_up_rounding() {
        // 45.00 * 1 / 30 * ... pick 3 of 8 days of 100: 37.5 -> 38.
        let charge = prorated_seat_charge(
            100,
            BillingCycle::Monthly,
            at(2026, 1, 1),
            at(2026, 1, 9),
            at(2026, 1, 6),
        );
        assert_eq!(charge, 38);
    }

    #[test]
    fn free_and_degenerate() {
        assert_eq!(
            prorated_seat_charge(
                0,
                BillingCycle::Monthly,
                at(2026, 1, 1),
                at(2026, 2, 1),
                at(2026, 1, 5)
            ),
            0
        );
        assert_eq!(
            prorated_seat_charge(
                1500,
                BillingCycle::Monthly,
                at(2026, 1, 1),
                at(2026, 2, 1),
                at(2026, 3, 5)
            ),
            0
        );
    }

    #[test]
    fn period_end_uses_calendar_months() {
        assert_eq!(
            BillingCycle::Monthly.period_end(at(2026, 1, 31)),
            at(2026, 2, 28)
        );
        assert_eq!(
            BillingCycle::Semiannual.period_end(at(2026, 1, 15)),
            at(2026, 7, 15)
        );
        assert_eq!(
            BillingCycle::Annual.period_end(at(2026, 1, 15)),
            at(2027, 1, 15)
        );
    }
}
