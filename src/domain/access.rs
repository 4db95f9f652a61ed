//! Access decisions: may this user do this to that record. A pure function
//! of the checked user, the record's owner and the user's rights, so every
//! rule of the rights table is unit-tested here and the store only has to
//! load the two users.

use super::permissions::{EntityRights, Level};
use super::{Permissions, User};

super::named_enum! {
    /// What a user wants to do to a record.
    pub enum Action {
        View,
        Edit,
        Add,
        Delete,
        Export,
    }
}

super::named_enum! {
    /// The record kinds that carry rights.
    pub enum RightsKind {
        Lead,
        Contact,
        Company,
        Task,
    }
}

/// One question: may `user_id` do `action` to a record of `kind` owned by
/// `owner_user_id` (a lead in `stage_id`)?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub user_id: String,
    pub action: Action,
    pub kind: RightsKind,
    /// None: a record without an owner, which only ALL reaches.
    pub owner_user_id: Option<String>,
    /// Leads only; ignored for other kinds.
    pub stage_id: Option<String>,
}

/// Where the rights that decided came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RightsSource {
    /// The user's access role, by id.
    Role(String),
    /// The user's individual rights.
    User,
}

/// How the record's owner stands to the checked user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerRelation {
    SelfOwned,
    SameGroup,
    Other,
    /// Not a user of the account (removed, unknown) or no owner at all.
    Nobody,
}

/// The answer, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The checked user is not a user of the account.
    UserNotFound,
    /// The checked user is disabled: denied whatever the rights.
    UserInactive,
    /// The rights level decided.
    ByLevel {
        allowed: bool,
        level: Level,
        source: RightsSource,
        from_stage_rights: bool,
        /// Looked at only for GROUP and OWN.
        owner: Option<OwnerRelation>,
    },
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::ByLevel { allowed: true, .. })
    }
}

impl EntityRights {
    pub fn level(&self, action: Action) -> Level {
        match action {
            Action::View => self.view,
            Action::Edit => self.edit,
            Action::Add => self.add,
            Action::Delete => self.delete,
            Action::Export => self.export,
        }
    }
}

impl Permissions {
    /// The rights that judge a record of `kind` (a lead in `stage`): the
    /// stage's own rights when the permissions name the stage.
    pub fn rights_for(&self, kind: RightsKind, stage: Option<&str>) -> (&EntityRights, bool) {
        match kind {
            RightsKind::Lead => match stage.and_then(|s| self.lead_stages.get(s)) {
                Some(stage_rights) => (stage_rights, true),
                None => (&self.leads, false),
            },
            RightsKind::Contact => (&self.contacts, false),
            RightsKind::Company => (&self.companies, false),
            RightsKind::Task => (&self.tasks, false),
        }
    }
}

/// Decides `check`. `user` is the checked user if it is a user of the
/// account; `owner` is the record's owner if that is a user of the account
/// (it may be the same user).
pub fn decide(check: &Check, user: Option<&User>, owner: Option<&User>) -> Decision {
    let Some(user) = user else {
        return Decision::UserNotFound;
    };
    if !user.is_active() {
        return Decision::UserInactive;
    }
    let stage = match check.kind {
        RightsKind::Lead => check.stage_id.as_deref(),
        _ => None,
    };
    let (rights, from_stage_rights) = user.permissions.rights_for(check.kind, stage);
    let level = rights.level(check.action);
    let source = match &user.access_role_id {
        Some(role) => RightsSource::Role(role.clone()),
        None => RightsSource::User,
    };
    let (allowed, owner) = match level {
        Level::All => (true, None),
        Level::Denied => (false, None),
        Level::Own | Level::Group => {
            let relation = owner_relation(user, check.owner_user_id.as_deref(), owner);
            let allowed = match relation {
                OwnerRelation::SelfOwned => true,
                OwnerRelation::SameGroup => level == Level::Group,
                OwnerRelation::Other | OwnerRelation::Nobody => false,
            };
            (allowed, Some(relation))
        }
    };
    Decision::ByLevel {
        allowed,
        level,
        source,
        from_stage_rights,
        owner,
    }
}

fn owner_relation(user: &User, owner_id: Option<&str>, owner: Option<&User>) -> OwnerRelation {
    let Some(owner_id) = owner_id else {
        return OwnerRelation::Nobody;
    };
    if owner_id == user.id {
        return OwnerRelation::SelfOwned;
    }
    match owner {
        Some(owner) if owner.id == owner_id && owner.account_id == user.account_id => {
            match (&user.group_id, &owner.group_id) {
                (Some(mine), Some(theirs)) if mine == theirs => OwnerRelation::SameGroup,
                _ => OwnerRelation::Other,
            }
        }
        _ => OwnerRelation::Nobody,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Role, UserStatus};

    fn user(id: &str, group: Option<&str>, rights: EntityRights) -> User {
        let mut permissions = Permissions::default_for(Role::Member);
        permissions.leads = rights;
        permissions.contacts = rights;
        permissions.companies = rights;
        permissions.tasks = rights;
        User {
            group_id: group.map(Into::into),
            permissions,
            ..User::example(id, Role::Member)
        }
    }

    fn every(level: Level) -> EntityRights {
        EntityRights {
            view: level,
            edit: level,
            add: level,
            delete: level,
            export: level,
        }
    }

    fn check(action: Action, kind: RightsKind, owner: Option<&str>) -> Check {
        Check {
            user_id: "me".into(),
            action,
            kind,
            owner_user_id: owner.map(Into::into),
            stage_id: None,
        }
    }

    #[test]
    fn each_level_against_each_owner_relation() {
        let owners = [
            ("me", OwnerRelation::SelfOwned),
            ("mate", OwnerRelation::SameGroup),
            ("stranger", OwnerRelation::Other),
            ("gone", OwnerRelation::Nobody),
        ];
        let expected = |level: Level, relation: OwnerRelation| match level {
            Level::All => true,
            Level::Denied => false,
            Level::Group => matches!(
                relation,
                OwnerRelation::SelfOwned | OwnerRelation::SameGroup
            ),
            Level::Own => relation == OwnerRelation::SelfOwned,
        };
        let mate = user("mate", Some("g1"), every(Level::All));
        let stranger = user("stranger", Some("g2"), every(Level::All));
        for level in [Level::All, Level::Group, Level::Own, Level::Denied] {
            let me = user("me", Some("g1"), every(level));
            for (owner_id, relation) in owners {
                let owner = match owner_id {
                    "me" => Some(&me),
                    "mate" => Some(&mate),
                    "stranger" => Some(&stranger),
                    _ => None,
                };
                for action in [
                    Action::View,
                    Action::Edit,
                    Action::Add,
                    Action::Delete,
                    Action::Export,
                ] {
                    let d = decide(
                        &check(action, RightsKind::Contact, Some(owner_id)),
                        Some(&me),
                        owner,
                    );
                    assert_eq!(
                        d.allowed(),
                        expected(level, relation),
                        "{level:?} {owner_id}"
                    );
                }
            }
        }
    }

    #[test]
    fn no_group_means_no_group_mates() {
        let me = user("me", None, every(Level::Group));
        let other = user("other", None, every(Level::All));
        let d = decide(
            &check(Action::View, RightsKind::Task, Some("other")),
            Some(&me),
            Some(&other),
        );
        assert!(!d.allowed());
        assert!(matches!(
            d,
            Decision::ByLevel {
                owner: Some(OwnerRelation::Other),
                ..
            }
        ));
    }

    #[test]
    fn unknown_and_inactive_users_are_denied_whatever_their_rights() {
        let c = check(Action::View, RightsKind::Lead, None);
        assert_eq!(decide(&c, None, None), Decision::UserNotFound);
        let mut me = user("me", None, every(Level::All));
        me.status = UserStatus::Inactive;
        assert_eq!(decide(&c, Some(&me), None), Decision::UserInactive);
    }

    #[test]
    fn stage_rights_decide_leads_in_their_stage_only() {
        let mut me = user("me", None, every(Level::All));
        me.permissions
            .lead_stages
            .insert("won".into(), every(Level::Denied));
        let mut c = check(Action::Edit, RightsKind::Lead, None);
        assert!(decide(&c, Some(&me), None).allowed());
        c.stage_id = Some("won".into());
        let d = decide(&c, Some(&me), None);
        assert!(!d.allowed());
        assert!(matches!(
            d,
            Decision::ByLevel {
                from_stage_rights: true,
                level: Level::Denied,
                ..
            }
        ));
        // The stage means nothing for other kinds.
        c.kind = RightsKind::Contact;
        assert!(decide(&c, Some(&me), None).allowed());
    }

    #[test]
    fn the_source_names_the_access_role() {
        let mut me = user("me", None, every(Level::All));
        let c = check(Action::View, RightsKind::Company, None);
        assert!(matches!(
            decide(&c, Some(&me), None),
            Decision::ByLevel {
                source: RightsSource::User,
                ..
            }
        ));
        me.access_role_id = Some("r1".into());
        assert!(matches!(
            decide(&c, Some(&me), None),
            Decision::ByLevel { source: RightsSource::Role(r), .. } if r == "r1"
        ));
    }
}
