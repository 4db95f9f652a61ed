//! Kommo's rights model. Stored as JSON; every level is resolved (role
//! defaults applied) before it is stored.

use serde::{Deserialize, Serialize};

use super::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    All,
    Group,
    Own,
    Denied,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRights {
    pub view: Level,
    pub edit: Level,
    pub add: Level,
    pub delete: Level,
    pub export: Level,
}

impl EntityRights {
    pub fn default_for(role: Role) -> Self {
        match role {
            Role::Admin => EntityRights {
                view: Level::All,
                edit: Level::All,
                add: Level::All,
                delete: Level::All,
                export: Level::All,
            },
            Role::Member => EntityRights {
                view: Level::All,
                edit: Level::Own,
                add: Level::All,
                delete: Level::Own,
                export: Level::Denied,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub leads: EntityRights,
    pub contacts: EntityRights,
    pub companies: EntityRights,
    pub tasks: EntityRights,
    pub mail_access: bool,
    pub catalog_access: bool,
}

impl Permissions {
    pub fn default_for(role: Role) -> Self {
        let rights = EntityRights::default_for(role);
        Permissions {
            leads: rights,
            contacts: rights,
            companies: rights,
            tasks: rights,
            mail_access: true,
            catalog_access: role == Role::Admin,
        }
    }

    pub fn to_json(&self) -> String {
        // Serializing plain enums and bools cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads stored JSON; unreadable rows fall back to the role's defaults
    /// (and are logged) rather than failing the read.
    pub fn from_json(json: &str, role: Role) -> Self {
        serde_json::from_str(json).unwrap_or_else(|e| {
            tracing::error!(error = %e, "unreadable permissions in database");
            Permissions::default_for(role)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let p = Permissions::default_for(Role::Member);
        assert_eq!(Permissions::from_json(&p.to_json(), Role::Admin), p);
    }
}
