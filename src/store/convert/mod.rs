//! Rows to the domain's entities and back: the only place where stored text
//! (enumerations by name, JSON of permissions, targets and counts) is
//! parsed or written. A stored value that does not parse is corruption:
//! logged, and answered INTERNAL.

use std::str::FromStr;

use chrono::NaiveDateTime;

use super::models::*;
use crate::domain::records::{RecordCounts, RecordKind};
use crate::domain::user::search_text;
use crate::domain::{AccessRole, Account, Group, Permissions, Role, User};
use crate::error::{Error, Result};

mod job;
mod log;

pub use job::*;
pub use log::*;

/// A stored enumeration by name.
fn parse<T: FromStr>(table: &str, id: &str, column: &str, text: &str) -> Result<T> {
    text.parse().map_err(|_| corrupt(table, id, column))
}

fn corrupt(table: &str, id: &str, column: &str) -> Error {
    tracing::error!(table, id, column, "unreadable value in the database");
    Error::internal()
}

fn kind(table: &str, id: &str, text: &str) -> Result<RecordKind> {
    RecordKind::from_db(text).ok_or_else(|| corrupt(table, id, "kind"))
}

/// Per-kind counts kept as JSON (empty text: none yet).
fn counts(table: &str, id: &str, json: &str) -> Result<RecordCounts> {
    if json.is_empty() {
        return Ok(RecordCounts::default());
    }
    serde_json::from_str(json).map_err(|_| corrupt(table, id, "moved"))
}

pub fn counts_text(counts: &RecordCounts) -> String {
    counts.to_json()
}

impl TryFrom<UserRow> for User {
    type Error = Error;

    fn try_from(row: UserRow) -> Result<User> {
        let role = parse("users", &row.id, "role", &row.role)?;
        let status = parse("users", &row.id, "status", &row.status)?;
        Ok(User {
            permissions: Permissions::from_json(&row.permissions, role),
            role,
            status,
            id: row.id,
            account_id: row.account_id,
            name: row.name,
            email: row.email,
            password_hash: row.password_hash,
            group_id: row.group_id,
            access_role_id: row.access_role_id,
            version: row.version,
            tokens_valid_after: row.tokens_valid_after,
            created_at: row.created_at,
            updated_at: row.updated_at,
            disabled_at: row.disabled_at,
        })
    }
}

impl From<&User> for UserRow {
    fn from(user: &User) -> UserRow {
        user_row(user, user.permissions.to_json())
    }
}

/// The rows of new users. Users of one batch mostly share their rights:
/// a user's are written as JSON only when they differ from the previous
/// user's (serializing them per user was 3% of the runtime threads' CPU
/// time in a profile of a 1,000-user import).
pub fn new_user_rows(users: &[&User]) -> Vec<UserRow> {
    let mut rows: Vec<UserRow> = Vec::with_capacity(users.len());
    let mut previous: Option<&User> = None;
    for &user in users {
        let json = match (previous, rows.last()) {
            (Some(before), Some(row)) if before.permissions == user.permissions => {
                row.permissions.clone()
            }
            _ => user.permissions.to_json(),
        };
        rows.push(user_row(user, json));
        previous = Some(user);
    }
    rows
}

fn user_row(user: &User, permissions: String) -> UserRow {
    UserRow {
        id: user.id.clone(),
        account_id: user.account_id.clone(),
        name: user.name.clone(),
        email: user.email.clone(),
        password_hash: user.password_hash.clone(),
        group_id: user.group_id.clone(),
        role: user.role.as_str().to_owned(),
        permissions,
        status: user.status.as_str().to_owned(),
        search_text: search_text(&user.name, &user.email),
        version: user.version,
        tokens_valid_after: user.tokens_valid_after,
        created_at: user.created_at,
        updated_at: user.updated_at,
        disabled_at: user.disabled_at,
        access_role_id: user.access_role_id.clone(),
    }
}

pub fn users(rows: Vec<UserRow>) -> Result<Vec<User>> {
    rows.into_iter().map(User::try_from).collect()
}

pub fn user(row: Option<UserRow>) -> Result<Option<User>> {
    row.map(User::try_from).transpose()
}

pub fn profile_change(user: &User) -> UserProfileChange {
    UserProfileChange {
        name: user.name.clone(),
        group_id: user.group_id.clone(),
        role: user.role.as_str().to_owned(),
        access_role_id: user.access_role_id.clone(),
        permissions: user.permissions.to_json(),
        search_text: search_text(&user.name, &user.email),
        version: user.version,
        updated_at: user.updated_at,
    }
}

impl From<AccessRoleRow> for AccessRole {
    fn from(row: AccessRoleRow) -> AccessRole {
        AccessRole {
            // A role's rights are resolved against a member's defaults.
            permissions: Permissions::from_json(&row.permissions, Role::Member),
            id: row.id,
            account_id: row.account_id,
            name: row.name,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl From<&AccessRole> for AccessRoleRow {
    fn from(role: &AccessRole) -> AccessRoleRow {
        AccessRoleRow {
            id: role.id.clone(),
            account_id: role.account_id.clone(),
            name: role.name.clone(),
            name_key: role.name_key(),
            permissions: role.permissions.to_json(),
            version: role.version,
            created_at: role.created_at,
            updated_at: role.updated_at,
        }
    }
}

pub fn status_change(user: &User) -> UserStatusChange {
    UserStatusChange {
        status: user.status.as_str().to_owned(),
        disabled_at: user.disabled_at,
        tokens_valid_after: user.tokens_valid_after,
        version: user.version,
        updated_at: user.updated_at,
    }
}

impl TryFrom<AccountRow> for Account {
    type Error = Error;

    fn try_from(row: AccountRow) -> Result<Account> {
        Ok(Account {
            plan: parse("accounts", &row.id, "plan", &row.plan)?,
            billing_cycle: parse("accounts", &row.id, "billing_cycle", &row.billing_cycle)?,
            seat_policy: parse("accounts", &row.id, "seat_policy", &row.seat_policy)?,
            id: row.id,
            name: row.name,
            seats_purchased: row.seats_purchased,
            currency: row.currency,
            enterprise_seat_price_minor: row.enterprise_seat_price_minor,
            period_start: row.period_start,
            period_end: row.period_end,
            trial_ends_at: row.trial_ends_at,
            pending_seats: row.pending_seats,
            pending_effective_at: row.pending_effective_at,
            pending_requested_by: row.pending_requested_by,
            pending_requested_at: row.pending_requested_at,
            event_seq: row.event_seq,
            created_at: row.created_at,
            updated_at: row.updated_at,
            active_users: row.active_users,
            inactive_users: row.inactive_users,
        })
    }
}

pub fn account(row: Option<AccountRow>) -> Result<Option<Account>> {
    row.map(Account::try_from).transpose()
}

impl From<&Account> for AccountRow {
    fn from(a: &Account) -> AccountRow {
        AccountRow {
            id: a.id.clone(),
            name: a.name.clone(),
            plan: a.plan.as_str().to_owned(),
            billing_cycle: a.billing_cycle.as_str().to_owned(),
            seat_policy: a.seat_policy.as_str().to_owned(),
            seats_purchased: a.seats_purchased,
            currency: a.currency.clone(),
            enterprise_seat_price_minor: a.enterprise_seat_price_minor,
            period_start: a.period_start,
            period_end: a.period_end,
            trial_ends_at: a.trial_ends_at,
            pending_seats: a.pending_seats,
            pending_effective_at: a.pending_effective_at,
            pending_requested_by: a.pending_requested_by.clone(),
            pending_requested_at: a.pending_requested_at,
            event_seq: a.event_seq,
            created_at: a.created_at,
            updated_at: a.updated_at,
            active_users: a.active_users,
            inactive_users: a.inactive_users,
        }
    }
}

pub fn terms_change(a: &Account, now: NaiveDateTime) -> AccountTermsChange {
    AccountTermsChange {
        plan: a.plan.as_str().to_owned(),
        billing_cycle: a.billing_cycle.as_str().to_owned(),
        seat_policy: a.seat_policy.as_str().to_owned(),
        seats_purchased: a.seats_purchased,
        enterprise_seat_price_minor: a.enterprise_seat_price_minor,
        period_start: a.period_start,
        period_end: a.period_end,
        pending_seats: a.pending_seats,
        pending_effective_at: a.pending_effective_at,
        pending_requested_by: a.pending_requested_by.clone(),
        pending_requested_at: a.pending_requested_at,
        updated_at: now,
    }
}

impl From<GroupRow> for Group {
    fn from(row: GroupRow) -> Group {
        Group {
            id: row.id,
            account_id: row.account_id,
            name: row.name,
            created_at: row.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    /// Each row holds its own user's rights, whether they repeat the
    /// previous user's or not.
    #[test]
    fn new_user_rows_write_each_users_rights() {
        let mut no_mail = User::example("c", Role::Member);
        no_mail.permissions.mail_access = false;
        let users = [
            User::example("a", Role::Member),
            User::example("b", Role::Member),
            no_mail,
            User::example("d", Role::Admin),
            User::example("e", Role::Member),
        ];
        let refs: Vec<&User> = users.iter().collect();
        let rows = new_user_rows(&refs);
        assert_eq!(rows.len(), users.len());
        for (row, user) in rows.iter().zip(&users) {
            assert_eq!(row.id, user.id);
            assert_eq!(row.permissions, user.permissions.to_json(), "{}", user.id);
        }
        assert_ne!(rows[1].permissions, rows[2].permissions);
        assert_ne!(rows[2].permissions, rows[3].permissions);
    }
}
