//! Users, their roles and statuses, and groups.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::Permissions;
use super::permissions::stored_text;

super::named_enum! {
    /// Account administration: admins manage users, seats and billing.
    pub enum Role {
        Admin,
        Member,
    }
}

super::named_enum! {
    /// Only active users hold a seat and may sign in.
    pub enum UserStatus {
        Active,
        Inactive,
    }
}

/// A user of an account. `Serialize` is for stored idempotent replies; the
/// password hash is never serialized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub email: String,
    #[serde(skip)]
    pub password_hash: String,
    pub group_id: Option<String>,
    pub role: Role,
    /// The access role the rights come from; None for individual rights.
    /// (Absent in replies stored before access roles existed.)
    #[serde(default)]
    pub access_role_id: Option<String>,
    /// The effective rights: the access role's when there is one. Kept as
    /// JSON text in stored replies, as the database keeps it.
    #[serde(with = "stored_text")]
    pub permissions: Permissions,
    pub status: UserStatus,
    /// Bumped by every change; the etag is made from it.
    pub version: i64,
    /// Tokens issued before this instant are refused.
    pub tokens_valid_after: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub disabled_at: Option<NaiveDateTime>,
}

impl User {
    /// An active user of account `a` with the role's default rights, for
    /// unit tests to adjust.
    #[cfg(test)]
    pub fn example(id: &str, role: Role) -> User {
        User {
            id: id.into(),
            account_id: "a".into(),
            name: id.into(),
            email: format!("{id}@example.com"),
            password_hash: String::new(),
            group_id: None,
            role,
            access_role_id: None,
            permissions: Permissions::default_for(role),
            status: UserStatus::Active,
            version: 1,
            tokens_valid_after: None,
            created_at: chrono::NaiveDateTime::default(),
            updated_at: chrono::NaiveDateTime::default(),
            disabled_at: None,
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }

    /// An active admin: the account's administration rests on these.
    pub fn is_active_admin(&self) -> bool {
        self.role == Role::Admin && self.is_active()
    }

    /// The opaque etag of UpdateUser.
    pub fn etag(&self) -> String {
        etag_of(self.version)
    }
}

/// The etag of version `version`: "v" and the number.
fn etag_of(version: i64) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(version);
    let mut etag = String::with_capacity(1 + digits.len());
    etag.push('v');
    etag.push_str(digits);
    etag
}

/// A group of users in an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub created_at: NaiveDateTime,
}

impl Group {
    /// What uniqueness of names is checked on, and groups are listed by.
    pub fn name_key(&self) -> String {
        super::names::group_name_key(&self.name)
    }
}

/// The text `ListUsers.query` searches: name and email, lower-cased.
pub fn search_text(name: &str, email: &str) -> String {
    format!("{}\n{}", name.to_lowercase(), email.to_lowercase())
}

/// A named rights template of an account (Kommo's roles). Its holders'
/// `permissions` are a copy of its own, rewritten with every edit in the
/// same transaction, so reading a user never needs the role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRole {
    pub id: String,
    pub account_id: String,
    pub name: String,
    #[serde(with = "stored_text")]
    pub permissions: Permissions,
    /// Bumped by every change; the etag is made from it.
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl AccessRole {
    /// What uniqueness of names is checked on, and roles are listed by.
    pub fn name_key(&self) -> String {
        super::names::group_name_key(&self.name)
    }

    pub fn etag(&self) -> String {
        etag_of(self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::etag_of;

    #[test]
    fn an_etag_is_v_and_the_version() {
        for version in [0, 7, 42, 1_000_001, i64::MAX] {
            assert_eq!(etag_of(version), format!("v{version}"));
        }
    }
}
