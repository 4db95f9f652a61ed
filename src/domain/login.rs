//! Throttling password checks: after `max_failures` failed checks for one
//! email within `window`, further checks are refused until `lockout` has
//! passed. Each check is counted *before* the password is compared, so
//! parallel guesses cannot slip past the limit; a success clears the count.
//! Unknown emails are throttled exactly like known ones, so a lockout says
//! nothing about whether an account exists.

use chrono::{Duration, NaiveDateTime};

/// The limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub max_failures: i64,
    pub window: Duration,
    pub lockout: Duration,
}

impl Default for ThrottlePolicy {
    /// 5 failures in 15 minutes lock the email for 15 minutes.
    fn default() -> Self {
        ThrottlePolicy {
            max_failures: 5,
            window: Duration::minutes(15),
            lockout: Duration::minutes(15),
        }
    }
}

/// What the database holds for one email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    /// Checks counted in the current window (a success resets to none).
    pub failures: i64,
    pub window_started_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
}

/// The answer for one more check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Go on and compare; store this state first (the attempt is counted
    /// as a failure until it succeeds).
    Allowed(ThrottleState),
    /// Refused without comparing, until this time.
    Locked(NaiveDateTime),
}

impl ThrottlePolicy {
    pub fn attempt(&self, state: Option<ThrottleState>, now: NaiveDateTime) -> Attempt {
        if let Some(until) = state.and_then(|s| s.locked_until)
            && until > now
        {
            return Attempt::Locked(until);
        }
        let (failures, window_started_at) = match state {
            Some(s) if s.locked_until.is_none() && now - s.window_started_at < self.window => {
                (s.failures + 1, s.window_started_at)
            }
            // No history, an old window, or a lockout that has run out.
            _ => (1, now),
        };
        // The attempt that reaches the limit still gets its comparison; the
        // lock applies to the ones after it.
        let locked_until = (failures >= self.max_failures).then(|| now + self.lockout);
        Attempt::Allowed(ThrottleState {
            failures,
            window_started_at,
            locked_until,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_790_000_000 + minute * 60, 0)
            .map(|t| t.naive_utc())
            .unwrap_or_default()
    }

    fn allowed(attempt: Attempt) -> ThrottleState {
        match attempt {
            Attempt::Allowed(state) => state,
            Attempt::Locked(until) => panic!("locked until {until}"),
        }
    }

    #[test]
    fn five_failures_lock_the_sixth_attempt() {
        let policy = ThrottlePolicy::default();
        let mut state = None;
        for n in 1..=5 {
            let next = allowed(policy.attempt(state, at(n)));
            assert_eq!(next.failures, n);
            state = Some(next);
        }
        assert_eq!(policy.attempt(state, at(6)), Attempt::Locked(at(5 + 15)));
        // Still locked a minute before the end, open again after it.
        assert!(matches!(policy.attempt(state, at(19)), Attempt::Locked(_)));
        let reopened = allowed(policy.attempt(state, at(20)));
        assert_eq!(reopened.failures, 1);
        assert_eq!(reopened.locked_until, None);
    }

    #[test]
    fn failures_outside_the_window_start_over() {
        let policy = ThrottlePolicy::default();
        let state = ThrottleState {
            failures: 4,
            window_started_at: at(0),
            locked_until: None,
        };
        assert_eq!(allowed(policy.attempt(Some(state), at(14))).failures, 5);
        assert_eq!(allowed(policy.attempt(Some(state), at(15))).failures, 1);
    }
}
