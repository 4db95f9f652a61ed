//! Parsing of request fields into domain values; every bad field is added
//! to the call's [`Violations`], so one INVALID_ARGUMENT names them all.

use std::fmt;

use crate::domain::permissions::{Level, RequestedPermissions, RequestedRights};
use crate::domain::records::Targets;
use crate::domain::{BillingCycle, Plan, Role, SeatPolicy, UserStatus};
use crate::error::Violations;
use crate::proto::v1 as pb;
use crate::store::UserOrder;

use super::enums::record_kind_from_proto;

/// None for UNSPECIFIED; a violation for unknown numbers.
pub fn plan_from_proto(v: &mut Violations, field: &str, value: i32) -> Option<Plan> {
    match pb::Plan::try_from(value) {
        Ok(pb::Plan::Unspecified) => None,
        Ok(pb::Plan::Trial) => Some(Plan::Trial),
        Ok(pb::Plan::Base) => Some(Plan::Base),
        Ok(pb::Plan::Advanced) => Some(Plan::Advanced),
        Ok(pb::Plan::Pro) => Some(Plan::Pro),
        Ok(pb::Plan::Enterprise) => Some(Plan::Enterprise),
        Err(_) => {
            v.add(field, "unknown plan");
            None
        }
    }
}

pub fn cycle_from_proto(v: &mut Violations, field: &str, value: i32) -> Option<BillingCycle> {
    match pb::BillingCycle::try_from(value) {
        Ok(pb::BillingCycle::Unspecified) => None,
        Ok(pb::BillingCycle::Monthly) => Some(BillingCycle::Monthly),
        Ok(pb::BillingCycle::Semiannual) => Some(BillingCycle::Semiannual),
        Ok(pb::BillingCycle::Annual) => Some(BillingCycle::Annual),
        Err(_) => {
            v.add(field, "unknown billing cycle");
            None
        }
    }
}

pub fn policy_from_proto(v: &mut Violations, field: &str, value: i32) -> Option<SeatPolicy> {
    match pb::SeatPolicy::try_from(value) {
        Ok(pb::SeatPolicy::Unspecified) => None,
        Ok(pb::SeatPolicy::AutoExpand) => Some(SeatPolicy::AutoExpand),
        Ok(pb::SeatPolicy::Strict) => Some(SeatPolicy::Strict),
        Err(_) => {
            v.add(field, "unknown seat policy");
            None
        }
    }
}

pub fn role_from_proto(v: &mut Violations, field: impl fmt::Display, value: i32) -> Option<Role> {
    match pb::Role::try_from(value) {
        Ok(pb::Role::Unspecified) => None,
        Ok(pb::Role::Admin) => Some(Role::Admin),
        Ok(pb::Role::Member) => Some(Role::Member),
        Err(_) => {
            v.add(field, "unknown role");
            None
        }
    }
}

pub fn user_order_from_proto(v: &mut Violations, value: i32) -> UserOrder {
    match pb::UserOrder::try_from(value) {
        Ok(pb::UserOrder::Unspecified) => UserOrder::Created,
        Ok(pb::UserOrder::Name) => UserOrder::Name,
        Ok(pb::UserOrder::Email) => UserOrder::Email,
        Err(_) => {
            v.add("order_by", "unknown order");
            UserOrder::Created
        }
    }
}

pub fn status_from_proto(v: &mut Violations, field: &str, value: i32) -> Option<UserStatus> {
    match pb::UserStatus::try_from(value) {
        Ok(pb::UserStatus::Unspecified) => None,
        Ok(pb::UserStatus::Active) => Some(UserStatus::Active),
        Ok(pb::UserStatus::Inactive) => Some(UserStatus::Inactive),
        Err(_) => {
            v.add(field, "unknown status");
            None
        }
    }
}

pub(super) fn level_from_proto(v: &mut Violations, field: &str, value: i32) -> Option<Level> {
    match pb::PermissionLevel::try_from(value) {
        Ok(pb::PermissionLevel::Unspecified) => None,
        Ok(pb::PermissionLevel::All) => Some(Level::All),
        Ok(pb::PermissionLevel::Group) => Some(Level::Group),
        Ok(pb::PermissionLevel::Own) => Some(Level::Own),
        Ok(pb::PermissionLevel::Denied) => Some(Level::Denied),
        Err(_) => {
            v.add(field, "unknown permission level");
            None
        }
    }
}

pub(super) fn rights_from_proto(
    v: &mut Violations,
    field: &str,
    rights: Option<&pb::EntityRights>,
) -> RequestedRights {
    let Some(r) = rights else {
        return RequestedRights::default();
    };
    RequestedRights {
        view: level_from_proto(v, &format!("{field}.view"), r.view),
        edit: level_from_proto(v, &format!("{field}.edit"), r.edit),
        add: level_from_proto(v, &format!("{field}.add"), r.add),
        delete: level_from_proto(v, &format!("{field}.delete"), r.delete),
        export: level_from_proto(v, &format!("{field}.export"), r.export),
    }
}

/// The permissions a request carries (None: none); unset levels are left
/// for the service to resolve against the user's final role.
pub fn permissions_from_proto(
    v: &mut Violations,
    field: impl fmt::Display,
    permissions: Option<&pb::Permissions>,
) -> Option<RequestedPermissions> {
    let p = permissions?;
    if p.lead_stage_rights.len() > RequestedPermissions::MAX_STAGES {
        v.add(
            format!("{field}.lead_stage_rights"),
            format!("at most {} stages", RequestedPermissions::MAX_STAGES),
        );
    }
    let mut lead_stages: Vec<(String, RequestedRights)> = Vec::new();
    for (i, stage) in p.lead_stage_rights.iter().enumerate() {
        let at = format!("{field}.lead_stage_rights[{i}]");
        let id = stage.stage_id.trim();
        if id.is_empty() || id.chars().count() > RequestedPermissions::MAX_STAGE_ID {
            v.add(
                format!("{at}.stage_id"),
                format!(
                    "required, 1 to {} characters",
                    RequestedPermissions::MAX_STAGE_ID
                ),
            );
        } else if lead_stages.iter().any(|(seen, _)| seen == id) {
            v.add(format!("{at}.stage_id"), "named twice");
        }
        let rights = rights_from_proto(v, &format!("{at}.rights"), stage.rights.as_ref());
        lead_stages.push((id.to_owned(), rights));
    }
    Some(RequestedPermissions {
        lead_stages,
        leads: rights_from_proto(v, &format!("{field}.leads"), p.leads.as_ref()),
        contacts: rights_from_proto(v, &format!("{field}.contacts"), p.contacts.as_ref()),
        companies: rights_from_proto(v, &format!("{field}.companies"), p.companies.as_ref()),
        tasks: rights_from_proto(v, &format!("{field}.tasks"), p.tasks.as_ref()),
        mail_access: p.mail_access,
        catalog_access: p.catalog_access,
    })
}

/// An id field that must hold a UUID. Every id of every request is parsed
/// by this function or the two below.
pub fn id(v: &mut Violations, field: impl fmt::Display, value: &str) -> Option<String> {
    match id_problem(value) {
        Some(problem) => {
            v.add(field, problem);
            None
        }
        None => Some(value.to_owned()),
    }
}

/// What is wrong with a required id, if anything.
pub fn id_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        Some("required")
    } else if value.len() > 64 || uuid::Uuid::parse_str(value).is_err() {
        Some("must be a UUID")
    } else {
        None
    }
}

/// An id field that may be empty (None).
pub fn optional_id(v: &mut Violations, field: impl fmt::Display, value: &str) -> Option<String> {
    if value.is_empty() {
        None
    } else {
        id(v, field, value)
    }
}

/// `account_id`: a UUID, or empty for the caller's own account.
pub fn account_id(v: &mut Violations, value: &str) -> String {
    if !value.is_empty() && uuid::Uuid::parse_str(value).is_err() {
        v.add("account_id", "must be a UUID or empty");
    }
    value.to_owned()
}

/// A Reassignment message; an absent one means "no targets".
pub fn targets_from_proto(v: &mut Violations, reassignment: Option<&pb::Reassignment>) -> Targets {
    let Some(r) = reassignment else {
        return Targets::default();
    };
    let default = if r.target_user_id.is_empty() {
        None
    } else {
        id(v, "reassignment.target_user_id", &r.target_user_id)
    };
    let mut by_kind = Vec::new();
    for (i, entry) in r.by_kind.iter().enumerate() {
        let kind = record_kind_from_proto(entry.kind);
        if kind.is_none() {
            v.add(
                format!("reassignment.by_kind[{i}].kind"),
                "required: a record kind",
            );
        }
        let target = id(
            v,
            format!("reassignment.by_kind[{i}].target_user_id"),
            &entry.target_user_id,
        );
        if let (Some(kind), Some(target)) = (kind, target) {
            by_kind.push((kind, target));
        }
    }
    match Targets::new(default, by_kind) {
        Ok(targets) => targets,
        Err((i, e)) => {
            v.add(format!("reassignment.by_kind[{i}].kind"), e.to_string());
            Targets::default()
        }
    }
}
