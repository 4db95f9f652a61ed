//! Domain enumerations to proto enum numbers and back. Every match is
//! exhaustive, so a new variant on either side fails to compile here.

use crate::domain::access::{Action, Decision, OwnerRelation, RightsKind, RightsSource};
use crate::domain::permissions::Level;
use crate::domain::records::RecordKind;
use crate::domain::{
    BillingCycle, BulkMode, EventType, JobKind, JobState, LedgerKind, Plan, SeatPolicy, UserOutcome,
};
use crate::error::{Reason, Violations};
use crate::proto::v1 as pb;

pub fn plan_to_proto(plan: Plan) -> i32 {
    (match plan {
        Plan::Trial => pb::Plan::Trial,
        Plan::Base => pb::Plan::Base,
        Plan::Advanced => pb::Plan::Advanced,
        Plan::Pro => pb::Plan::Pro,
        Plan::Enterprise => pb::Plan::Enterprise,
    }) as i32
}

pub fn cycle_to_proto(cycle: BillingCycle) -> i32 {
    (match cycle {
        BillingCycle::Monthly => pb::BillingCycle::Monthly,
        BillingCycle::Semiannual => pb::BillingCycle::Semiannual,
        BillingCycle::Annual => pb::BillingCycle::Annual,
    }) as i32
}

pub fn policy_to_proto(policy: SeatPolicy) -> i32 {
    (match policy {
        SeatPolicy::AutoExpand => pb::SeatPolicy::AutoExpand,
        SeatPolicy::Strict => pb::SeatPolicy::Strict,
    }) as i32
}

pub(super) fn level_to_proto(level: Level) -> i32 {
    (match level {
        Level::All => pb::PermissionLevel::All,
        Level::Group => pb::PermissionLevel::Group,
        Level::Own => pb::PermissionLevel::Own,
        Level::Denied => pb::PermissionLevel::Denied,
    }) as i32
}

pub fn record_kind_from_proto(value: i32) -> Option<RecordKind> {
    match pb::RecordKind::try_from(value).ok()? {
        pb::RecordKind::Unspecified => None,
        pb::RecordKind::Lead => Some(RecordKind::Lead),
        pb::RecordKind::Contact => Some(RecordKind::Contact),
        pb::RecordKind::Customer => Some(RecordKind::Customer),
        pb::RecordKind::Task => Some(RecordKind::Task),
        pb::RecordKind::Conversation => Some(RecordKind::Conversation),
        pb::RecordKind::Note => Some(RecordKind::Note),
        pb::RecordKind::Company => Some(RecordKind::Company),
    }
}

pub fn rights_kind_from_proto(value: i32) -> Option<RightsKind> {
    match pb::RecordKind::try_from(value).ok()? {
        pb::RecordKind::Lead => Some(RightsKind::Lead),
        pb::RecordKind::Contact => Some(RightsKind::Contact),
        pb::RecordKind::Company => Some(RightsKind::Company),
        pb::RecordKind::Task => Some(RightsKind::Task),
        pb::RecordKind::Unspecified
        | pb::RecordKind::Customer
        | pb::RecordKind::Conversation
        | pb::RecordKind::Note => None,
    }
}

pub fn action_from_proto(value: i32) -> Option<Action> {
    match pb::AccessAction::try_from(value).ok()? {
        pb::AccessAction::Unspecified => None,
        pb::AccessAction::View => Some(Action::View),
        pb::AccessAction::Edit => Some(Action::Edit),
        pb::AccessAction::Add => Some(Action::Add),
        pb::AccessAction::Delete => Some(Action::Delete),
        pb::AccessAction::Export => Some(Action::Export),
    }
}

fn owner_relation_to_proto(relation: Option<OwnerRelation>) -> i32 {
    (match relation {
        None => pb::OwnerRelation::Unspecified,
        Some(OwnerRelation::SelfOwned) => pb::OwnerRelation::Self_,
        Some(OwnerRelation::SameGroup) => pb::OwnerRelation::SameGroup,
        Some(OwnerRelation::Other) => pb::OwnerRelation::Other,
        Some(OwnerRelation::Nobody) => pb::OwnerRelation::None,
    }) as i32
}

pub fn decision_to_proto(decision: &Decision) -> pb::AccessDecision {
    match decision {
        Decision::UserNotFound => pb::AccessDecision {
            basis: pb::AccessBasis::UserNotFound as i32,
            ..Default::default()
        },
        Decision::UserInactive => pb::AccessDecision {
            basis: pb::AccessBasis::UserInactive as i32,
            ..Default::default()
        },
        Decision::ByLevel {
            allowed,
            level,
            source,
            from_stage_rights,
            owner,
        } => pb::AccessDecision {
            allowed: *allowed,
            basis: pb::AccessBasis::Level as i32,
            level: level_to_proto(*level),
            source: (match source {
                RightsSource::Role(_) => pb::RightsSource::Role,
                RightsSource::User => pb::RightsSource::User,
            }) as i32,
            access_role_id: match source {
                RightsSource::Role(id) => id.clone(),
                RightsSource::User => String::new(),
            },
            from_stage_rights: *from_stage_rights,
            owner_relation: owner_relation_to_proto(*owner),
        },
    }
}

pub fn record_kind_to_proto(kind: Option<RecordKind>) -> i32 {
    (match kind {
        None => pb::RecordKind::Unspecified,
        Some(RecordKind::Lead) => pb::RecordKind::Lead,
        Some(RecordKind::Contact) => pb::RecordKind::Contact,
        Some(RecordKind::Customer) => pb::RecordKind::Customer,
        Some(RecordKind::Task) => pb::RecordKind::Task,
        Some(RecordKind::Conversation) => pb::RecordKind::Conversation,
        Some(RecordKind::Note) => pb::RecordKind::Note,
        Some(RecordKind::Company) => pb::RecordKind::Company,
    }) as i32
}

pub(super) fn reason_to_proto(reason: Option<Reason>) -> i32 {
    reason
        .and_then(|r| pb::ErrorReason::from_str_name(&format!("ERROR_REASON_{}", r.as_str())))
        .unwrap_or(pb::ErrorReason::Unspecified) as i32
}

pub(super) fn ledger_kind_to_proto(kind: LedgerKind) -> i32 {
    (match kind {
        LedgerKind::SeatAutoExpanded => pb::LedgerEntryKind::SeatAutoExpanded,
        LedgerKind::SeatsSet => pb::LedgerEntryKind::SeatsSet,
        LedgerKind::PlanChanged => pb::LedgerEntryKind::PlanChanged,
        LedgerKind::RecalculationRequested => pb::LedgerEntryKind::RecalculationRequested,
        LedgerKind::RecalculationApplied => pb::LedgerEntryKind::RecalculationApplied,
        LedgerKind::PeriodRolledOver => pb::LedgerEntryKind::PeriodRolledOver,
        LedgerKind::AccountCreated => pb::LedgerEntryKind::AccountCreated,
        LedgerKind::RecalculationCancelled => pb::LedgerEntryKind::RecalculationCancelled,
    }) as i32
}

pub(super) fn event_type_to_proto(event_type: EventType) -> i32 {
    (match event_type {
        EventType::AccountCreated => pb::EventType::AccountCreated,
        EventType::UserAdded => pb::EventType::UserAdded,
        EventType::UserUpdated => pb::EventType::UserUpdated,
        EventType::UserDisabled => pb::EventType::UserDisabled,
        EventType::UserActivated => pb::EventType::UserActivated,
        EventType::UserRemoved => pb::EventType::UserRemoved,
        EventType::RecordsReassigned => pb::EventType::RecordsReassigned,
        EventType::SeatsChanged => pb::EventType::SeatsChanged,
        EventType::PlanChanged => pb::EventType::PlanChanged,
        EventType::Recalculation => pb::EventType::Recalculation,
        EventType::GroupCreated => pb::EventType::GroupCreated,
        EventType::JobStateChanged => pb::EventType::JobStateChanged,
        EventType::PasswordChanged => pb::EventType::PasswordChanged,
        EventType::AccessRoleCreated => pb::EventType::AccessRoleCreated,
        EventType::AccessRoleUpdated => pb::EventType::AccessRoleUpdated,
        EventType::AccessRoleDeleted => pb::EventType::AccessRoleDeleted,
        EventType::GroupUpdated => pb::EventType::GroupUpdated,
        EventType::GroupDeleted => pb::EventType::GroupDeleted,
        EventType::UserEmailChanged => pb::EventType::UserEmailChanged,
    }) as i32
}

pub(super) fn job_kind_to_proto(kind: JobKind) -> i32 {
    (match kind {
        JobKind::BulkDisable => pb::JobKind::BulkDisable,
        JobKind::BulkRemove => pb::JobKind::BulkRemove,
        JobKind::Disable => pb::JobKind::Disable,
        JobKind::Remove => pb::JobKind::Remove,
    }) as i32
}

pub(super) fn job_state_to_proto(state: JobState) -> i32 {
    (match state {
        JobState::Queued => pb::JobState::Queued,
        JobState::Running => pb::JobState::Running,
        JobState::Succeeded => pb::JobState::Succeeded,
        JobState::Failed => pb::JobState::Failed,
        JobState::Cancelled => pb::JobState::Cancelled,
    }) as i32
}

pub(super) fn mode_to_proto(mode: BulkMode) -> i32 {
    (match mode {
        BulkMode::BestEffort => pb::BulkMode::BestEffort,
        BulkMode::AllOrNothing => pb::BulkMode::AllOrNothing,
    }) as i32
}

pub(super) fn outcome_to_proto(outcome: UserOutcome) -> i32 {
    (match outcome {
        UserOutcome::Pending => pb::UserOutcome::Pending,
        UserOutcome::Running => pb::UserOutcome::Running,
        UserOutcome::Done => pb::UserOutcome::Done,
        UserOutcome::Skipped => pb::UserOutcome::Skipped,
        UserOutcome::Failed => pb::UserOutcome::Failed,
    }) as i32
}

/// Event types a request names; unknown or unset ones are violations of
/// `field[i]`.
pub fn event_types_from_proto(v: &mut Violations, field: &str, values: &[i32]) -> Vec<EventType> {
    use strum::VariantArray as _;
    let mut types = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        match EventType::VARIANTS
            .iter()
            .find(|t| event_type_to_proto(**t) == *value)
        {
            Some(t) if !types.contains(t) => types.push(*t),
            Some(_) => v.add(format!("{field}[{i}]"), "listed twice"),
            None => v.add(format!("{field}[{i}]"), "unknown or unset event type"),
        }
    }
    types
}
