//! Domain enumerations to proto enum numbers and back. Every match is
//! exhaustive, so a new variant on either side fails to compile here.

use crate::domain::permissions::Level;
use crate::domain::records::RecordKind;
use crate::domain::{
    BillingCycle, BulkMode, EventType, JobKind, JobState, LedgerKind, Plan, SeatPolicy, UserOutcome,
};
use crate::error::Reason;
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
