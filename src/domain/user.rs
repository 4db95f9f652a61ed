//! User roles and statuses.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Member => "MEMBER",
        }
    }

    pub fn from_db(s: &str) -> Option<Role> {
        match s {
            "ADMIN" => Some(Role::Admin),
            "MEMBER" => Some(Role::Member),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Inactive,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "ACTIVE",
            UserStatus::Inactive => "INACTIVE",
        }
    }

    pub fn from_db(s: &str) -> Option<UserStatus> {
        match s {
            "ACTIVE" => Some(UserStatus::Active),
            "INACTIVE" => Some(UserStatus::Inactive),
            _ => None,
        }
    }
}

/// The text `ListUsers.query` searches: name and email, lower-cased.
pub fn search_text(name: &str, email: &str) -> String {
    format!("{}\n{}", name.to_lowercase(), email.to_lowercase())
}
