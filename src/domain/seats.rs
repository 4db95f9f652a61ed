//! Seat accounting: whether one more active user fits, and at what cost.

super::named_enum! {
    pub enum SeatPolicy {
        AutoExpand,
        Strict,
    }
}

/// What happens when one more user becomes active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatDecision {
    /// A free purchased seat is taken.
    UseFreeSeat,
    /// AUTO_EXPAND buys one more seat.
    BuySeat,
    /// STRICT and every seat is taken.
    Refuse,
}

/// SPEC rule 2: decide for one more active user, given the active users now.
pub fn admit_one(policy: SeatPolicy, active_users: i64, seats_purchased: i64) -> SeatDecision {
    if active_users < seats_purchased {
        SeatDecision::UseFreeSeat
    } else {
        match policy {
            SeatPolicy::AutoExpand => SeatDecision::BuySeat,
            SeatPolicy::Strict => SeatDecision::Refuse,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission() {
        assert_eq!(
            admit_one(SeatPolicy::Strict, 2, 3),
            SeatDecision::UseFreeSeat
        );
        assert_eq!(admit_one(SeatPolicy::Strict, 3, 3), SeatDecision::Refuse);
        assert_eq!(
            admit_one(SeatPolicy::AutoExpand, 3, 3),
            SeatDecision::BuySeat
        );
        assert_eq!(
            admit_one(SeatPolicy::AutoExpand, 1, 3),
            SeatDecision::UseFreeSeat
        );
    }
}
