//! Kommo's rights model. Stored as JSON; every level is resolved (role
//! defaults applied) before it is stored.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub leads: EntityRights,
    pub contacts: EntityRights,
    pub companies: EntityRights,
    pub tasks: EntityRights,
    pub mail_access: bool,
    pub catalog_access: bool,
    /// Lead rights per pipeline stage (Kommo's status rights), by the
    /// CRM's opaque stage id. Left out of the stored JSON when empty, so
    /// sets stored before stage rights existed read unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lead_stages: BTreeMap<String, EntityRights>,
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
            lead_stages: BTreeMap::new(),
        }
    }

    pub fn to_json(&self) -> String {
        // Serializing plain enums and bools cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads stored JSON; unreadable rows fall back to the role's defaults
    /// (and are logged) rather than failing the read.
    pub fn from_json(json: &str, role: Role) -> Self {
        if let Some(known) = PARSED.with_borrow(|parsed| parsed.get(json).cloned()) {
            return known;
        }
        match serde_json::from_str::<Permissions>(json) {
            Ok(permissions) => {
                PARSED.with_borrow_mut(|parsed| {
                    if parsed.len() >= PARSED_PER_THREAD {
                        parsed.clear();
                    }
                    parsed.insert(json.to_owned(), permissions.clone());
                });
                permissions
            }
            Err(e) => {
                tracing::error!(error = %e, "unreadable permissions in database");
                Permissions::default_for(role)
            }
        }
    }
}

/// Rights as a request gives them: unset levels (None) take the defaults
/// of the role the user ends up with, which for UpdateUser without a role
/// is the role the user already has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestedRights {
    pub view: Option<Level>,
    pub edit: Option<Level>,
    pub add: Option<Level>,
    pub delete: Option<Level>,
    pub export: Option<Level>,
}

impl RequestedRights {
    pub fn resolve(&self, defaults: EntityRights) -> EntityRights {
        EntityRights {
            view: self.view.unwrap_or(defaults.view),
            edit: self.edit.unwrap_or(defaults.edit),
            add: self.add.unwrap_or(defaults.add),
            delete: self.delete.unwrap_or(defaults.delete),
            export: self.export.unwrap_or(defaults.export),
        }
    }
}

/// Permissions as a request gives them (see [`RequestedRights`]); an
/// entity left out entirely takes the role's defaults, and a stage's unset
/// levels take the resolved lead rights.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestedPermissions {
    pub leads: RequestedRights,
    pub contacts: RequestedRights,
    pub companies: RequestedRights,
    pub tasks: RequestedRights,
    pub mail_access: bool,
    pub catalog_access: bool,
    /// Distinct stage ids (the adapter refuses repeats).
    pub lead_stages: Vec<(String, RequestedRights)>,
}

impl RequestedPermissions {
    /// Most stages one set of permissions may name.
    pub const MAX_STAGES: usize = 100;
    /// Longest stage id.
    pub const MAX_STAGE_ID: usize = 64;

    pub fn resolve(&self, role: Role) -> Permissions {
        let d = Permissions::default_for(role);
        let leads = self.leads.resolve(d.leads);
        Permissions {
            leads,
            contacts: self.contacts.resolve(d.contacts),
            companies: self.companies.resolve(d.companies),
            tasks: self.tasks.resolve(d.tasks),
            mail_access: self.mail_access,
            catalog_access: self.catalog_access,
            lead_stages: self
                .lead_stages
                .iter()
                .map(|(stage, rights)| (stage.clone(), rights.resolve(leads)))
                .collect(),
        }
    }
}

/// How many parsed permission sets each thread remembers.
const PARSED_PER_THREAD: usize = 64;

thread_local! {
    /// Parsed permission sets by their stored JSON. A workspace's users
    /// share a handful of sets (mostly the role defaults), and parsing the
    /// JSON took a sixth of the CPU time of a 50-user ListUsers page.
    /// foldhash: SipHash of the ~300-byte key was 3% of that page's CPU
    /// time; the keys are JSON this service wrote, at most 64 a thread.
    static PARSED: RefCell<HashMap<String, Permissions, foldhash::fast::RandomState>> =
        RefCell::new(HashMap::default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_levels_take_the_final_roles_defaults() {
        let requested = RequestedPermissions {
            leads: RequestedRights {
                export: Some(Level::Denied),
                ..RequestedRights::default()
            },
            ..RequestedPermissions::default()
        };
        let admin = requested.resolve(Role::Admin);
        assert_eq!(admin.leads.export, Level::Denied);
        assert_eq!(admin.leads.edit, Level::All);
        assert_eq!(admin.tasks, EntityRights::default_for(Role::Admin));
        let member = requested.resolve(Role::Member);
        assert_eq!(member.leads.edit, Level::Own);
    }

    #[test]
    fn json_round_trip() {
        let p = Permissions::default_for(Role::Member);
        assert_eq!(Permissions::from_json(&p.to_json(), Role::Admin), p);
        // Sets stored before stage rights existed read unchanged.
        assert!(!p.to_json().contains("lead_stages"));
        let mut staged = p.clone();
        staged
            .lead_stages
            .insert("won".into(), EntityRights::default_for(Role::Admin));
        assert_eq!(
            Permissions::from_json(&staged.to_json(), Role::Admin),
            staged
        );
    }

    #[test]
    fn stage_levels_left_unset_take_the_resolved_lead_rights() {
        let requested = RequestedPermissions {
            leads: RequestedRights {
                edit: Some(Level::Group),
                ..RequestedRights::default()
            },
            lead_stages: vec![(
                "won".into(),
                RequestedRights {
                    delete: Some(Level::Denied),
                    ..RequestedRights::default()
                },
            )],
            ..RequestedPermissions::default()
        };
        let p = requested.resolve(Role::Member);
        let won = p.lead_stages["won"];
        assert_eq!(won.edit, Level::Group);
        assert_eq!(won.delete, Level::Denied);
        assert_eq!(won.view, Level::All);
    }

    #[test]
    fn remembered_sets_never_answer_for_another_json() {
        let mut sets = Vec::new();
        for i in 0..(PARSED_PER_THREAD * 2 + 3) {
            let mut p = Permissions::default_for(Role::Member);
            p.mail_access = i % 2 == 0;
            p.catalog_access = i % 3 == 0;
            p.leads.view = [Level::All, Level::Group, Level::Own, Level::Denied][i % 4];
            p.tasks.export = [Level::All, Level::Group, Level::Own, Level::Denied][(i / 4) % 4];
            sets.push(p);
        }
        // Twice over, past the per-thread bound: hits and misses alike.
        for _ in 0..2 {
            for p in &sets {
                assert_eq!(Permissions::from_json(&p.to_json(), Role::Admin), *p);
            }
        }
        assert_eq!(
            Permissions::from_json("{not json", Role::Member),
            Permissions::default_for(Role::Member)
        );
    }
}

/// Serde for [`Permissions`] as JSON text inside stored idempotent replies,
/// the shape replies have always had. Empty text (a removed user, in
/// replies stored before removed users carried their role's defaults)
/// reads as a member's defaults.
pub mod stored_text {
    use super::{Permissions, Role};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &Permissions, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&p.to_json())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Permissions, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(Permissions::default_for(Role::Member));
        }
        serde_json::from_str(&text).map_err(serde::de::Error::custom)
    }
}
