//! The rules of a disable or remove as a pure function of what was read
//! under the account lock (SPEC rules 3, 5, 6, 8): no I/O, unit-tested here.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::domain::records::{RecordCounts, RecordKind, Targets};
use crate::domain::{Account, Change, User};
use crate::error::{Code, Error, Reason};

/// Why a change is (or would be) refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub user_id: String,
    pub reason: Reason,
    pub message: String,
}

impl Refusal {
    pub fn new(user_id: &str, reason: Reason, message: impl Into<String>) -> Self {
        Refusal {
            user_id: user_id.to_owned(),
            reason,
            message: message.into(),
        }
    }

    /// The error a real (not validate-only) call fails with.
    pub fn into_error(self) -> Error {
        match self.reason {
            Reason::ReassignmentRequired => Error {
                reason: Reason::ReassignmentRequired,
                ..Error::invalid("reassignment", self.message)
            },
            reason @ (Reason::TargetNotActive
            | Reason::TargetIsSubject
            | Reason::LastAdmin
            | Reason::TrialExpired
            | Reason::InvalidStatus
            | Reason::SeatLimitReached
            | Reason::TransferTooLarge) => Error::precondition(reason, self.message),
            _ => Error::new(
                Code::FailedPrecondition,
                Reason::InvalidStatus,
                self.message,
            ),
        }
    }
}

/// What a disable or remove needs to know about the subject's records.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    pub held: RecordCounts,
    pub conversations_by_parent: Vec<(RecordKind, i64)>,
}

impl Holdings {
    /// What `targets` would move of these holdings.
    pub fn moved_by(&self, targets: &Targets) -> RecordCounts {
        targets.moved(&self.held, &self.conversations_by_parent)
    }
}

/// One disable or remove call (or job) as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct ChangeCheck<'a> {
    pub account: &'a Account,
    pub targets: &'a Targets,
    pub change: Change,
    /// Every user the same call changes.
    pub subjects: &'a [&'a str],
    /// Active admins of the same call accepted before this user.
    pub admins_leaving: i64,
    pub now: NaiveDateTime,
}

/// What the rules need to know about one user of the call.
pub struct ChangeFacts<'a> {
    pub user: &'a User,
    /// Active admins of the account now (read only when `user` is one).
    pub active_admins: i64,
    /// Refusals of the call's targets (missing, inactive, or a subject).
    pub target_refusals: Vec<Refusal>,
    pub holdings: &'a Holdings,
}

/// Every refusal of one user's disable or remove, in the order a call
/// reports them (the first is the error of a real call): trial over,
/// already inactive (disable), last active admin, bad targets, records
/// without a target (remove).
pub fn change_refusals(check: &ChangeCheck<'_>, facts: ChangeFacts<'_>) -> Vec<Refusal> {
    let user = facts.user;
    let mut refusals = Vec::new();
    if check.account.trial_expired(check.now) {
        refusals.push(Refusal::new(
            &user.id,
            Reason::TrialExpired,
            super::TRIAL_EXPIRED,
        ));
    }
    if check.change == Change::Disable && !user.is_active() {
        refusals.push(Refusal::new(
            &user.id,
            Reason::InvalidStatus,
            "the user is already inactive",
        ));
    }
    if user.is_active_admin() && facts.active_admins - check.admins_leaving <= 1 {
        refusals.push(Refusal::new(
            &user.id,
            Reason::LastAdmin,
            "the account's last active admin cannot be disabled or removed",
        ));
    }
    refusals.extend(facts.target_refusals);
    if check.change == Change::Remove {
        let held = facts.holdings;
        let uncovered = check
            .targets
            .uncovered(&held.held, &held.conversations_by_parent);
        if !uncovered.is_empty() {
            let kinds: Vec<&str> = uncovered.iter().map(|k| k.as_str()).collect();
            refusals.push(Refusal::new(
                &user.id,
                Reason::ReassignmentRequired,
                format!("records of these kinds need a target: {}", kinds.join(", ")),
            ));
        }
    }
    refusals
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::{BillingCycle, Permissions, Plan, Role, SeatPolicy, UserStatus};

    fn at(day: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, day)
            .and_then(|d| d.and_hms_opt(9, 0, 0))
            .unwrap_or_default()
    }

    fn account(plan: Plan) -> Account {
        Account {
            id: "a".into(),
            name: "A".into(),
            plan,
            billing_cycle: BillingCycle::Monthly,
            seat_policy: SeatPolicy::Strict,
            seats_purchased: 5,
            currency: "USD".into(),
            enterprise_seat_price_minor: None,
            period_start: at(1),
            period_end: at(30),
            trial_ends_at: at(15),
            pending_seats: None,
            pending_effective_at: None,
            pending_requested_by: None,
            pending_requested_at: None,
            event_seq: 0,
            created_at: at(1),
            updated_at: at(1),
            active_users: 2,
            inactive_users: 0,
        }
    }

    fn user(role: Role, status: UserStatus) -> User {
        User {
            id: "u".into(),
            account_id: "a".into(),
            name: "U".into(),
            email: "u@example.com".into(),
            password_hash: String::new(),
            group_id: None,
            role,
            access_role_id: None,
            permissions: Permissions::default_for(role),
            status,
            version: 1,
            tokens_valid_after: None,
            created_at: at(1),
            updated_at: at(1),
            disabled_at: None,
        }
    }

    fn reasons(
        account: &Account,
        change: Change,
        user: &User,
        active_admins: i64,
        holdings: &Holdings,
        targets: &Targets,
    ) -> Vec<Reason> {
        let check = ChangeCheck {
            account,
            targets,
            change,
            subjects: &[],
            admins_leaving: 0,
            now: at(20),
        };
        let facts = ChangeFacts {
            user,
            active_admins,
            target_refusals: Vec::new(),
            holdings,
        };
        change_refusals(&check, facts)
            .into_iter()
            .map(|r| r.reason)
            .collect()
    }

    #[test]
    fn each_rule_refuses_on_its_own() {
        let paid = account(Plan::Base);
        let none = Targets::default();
        let empty = Holdings::default();
        let member = user(Role::Member, UserStatus::Active);
        assert!(reasons(&paid, Change::Disable, &member, 1, &empty, &none).is_empty());
        let inactive = user(Role::Member, UserStatus::Inactive);
        assert_eq!(
            reasons(&paid, Change::Disable, &inactive, 1, &empty, &none),
            [Reason::InvalidStatus]
        );
        // Removing an inactive user is allowed.
        assert!(reasons(&paid, Change::Remove, &inactive, 1, &empty, &none).is_empty());
        let admin = user(Role::Admin, UserStatus::Active);
        assert_eq!(
            reasons(&paid, Change::Disable, &admin, 1, &empty, &none),
            [Reason::LastAdmin]
        );
        assert!(reasons(&paid, Change::Disable, &admin, 2, &empty, &none).is_empty());
        let trial = account(Plan::Trial);
        assert_eq!(
            reasons(&trial, Change::Disable, &member, 1, &empty, &none),
            [Reason::TrialExpired]
        );
        let mut leads = Holdings::default();
        leads.held.add(RecordKind::Lead, 3);
        assert_eq!(
            reasons(&paid, Change::Remove, &member, 1, &leads, &none),
            [Reason::ReassignmentRequired]
        );
        assert!(reasons(&paid, Change::Disable, &member, 1, &leads, &none).is_empty());
    }

    #[test]
    fn refusals_come_in_the_order_calls_report_them() {
        let admin = user(Role::Admin, UserStatus::Inactive);
        let active_admin = user(Role::Admin, UserStatus::Active);
        let mut leads = Holdings::default();
        leads.held.add(RecordKind::Lead, 1);
        let trial = account(Plan::Trial);
        let none = Targets::default();
        assert_eq!(
            reasons(&trial, Change::Disable, &admin, 1, &leads, &none),
            [Reason::TrialExpired, Reason::InvalidStatus]
        );
        assert_eq!(
            reasons(&trial, Change::Remove, &active_admin, 1, &leads, &none),
            [
                Reason::TrialExpired,
                Reason::LastAdmin,
                Reason::ReassignmentRequired
            ]
        );
    }
}
