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

/// SPEC rule 2 for a batch of new active users, decided once for all of
/// them (BulkAddUsers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchAdmission {
    /// How many of the batch get a seat, counted from its start: free
    /// seats first, then (AUTO_EXPAND) bought ones.
    pub admitted: i64,
    /// Seats AUTO_EXPAND buys for them.
    pub seats_bought: i64,
}

/// SPEC rule 2 for `wanted` more active users at once: free seats are
/// taken first; then AUTO_EXPAND buys the rest and STRICT admits no more.
pub fn admit_batch(
    policy: SeatPolicy,
    active_users: i64,
    seats_purchased: i64,
    wanted: i64,
) -> BatchAdmission {
    let free = (seats_purchased - active_users).max(0);
    let wanted = wanted.max(0);
    match policy {
        SeatPolicy::AutoExpand => BatchAdmission {
            admitted: wanted,
            seats_bought: (wanted - free).max(0),
        },
        SeatPolicy::Strict => BatchAdmission {
            admitted: wanted.min(free),
            seats_bought: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_admission_agrees_with_admitting_one_by_one() {
        for policy in [SeatPolicy::Strict, SeatPolicy::AutoExpand] {
            for active in 0..6 {
                for purchased in 0..6 {
                    for wanted in 0..8 {
                        let batch = admit_batch(policy, active, purchased, wanted);
                        let (mut admitted, mut bought, mut seats) = (0, 0, purchased);
                        for _ in 0..wanted {
                            match admit_one(policy, active + admitted, seats) {
                                SeatDecision::UseFreeSeat => admitted += 1,
                                SeatDecision::BuySeat => {
                                    admitted += 1;
                                    bought += 1;
                                    seats += 1;
                                }
                                SeatDecision::Refuse => break,
                            }
                        }
                        assert_eq!(
                            batch,
                            BatchAdmission {
                                admitted,
                                seats_bought: bought
                            },
                            "{policy:?} active={active} purchased={purchased} wanted={wanted}"
                        );
                    }
                }
            }
        }
    }

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
