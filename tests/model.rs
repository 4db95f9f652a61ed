//! Model-based test: a plain-Rust reference model of the spec's user and
//! seat rules, and random sequences of operations (add, disable with or
//! without a handover, reactivate, remove, bulk disable, record
//! registration, transfers, seat changes, recalculation, period rollover,
//! groups created and deleted, access roles created, given, edited and
//! deleted) run against the real server. After every step the server's
//! state must equal the model's: each user's status, group, access role and
//! rights, seat counts, the pending recalculation, who owns how many
//! records, and what CheckAccess answers for each user. A failure is shrunk
//! to a minimal sequence.
//!
//! Deterministic in CI (fixed seed, 8 cases per backend). Longer runs:
//!     ROSTER_MODEL_CASES=200 ROSTER_MODEL_SEED=7 cargo test --test model -- --nocapture

mod common;

use std::collections::BTreeSet;

use chrono::Duration;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

#[derive(Debug, Clone)]
enum Op {
    Add {
        admin: bool,
    },
    Disable {
        who: usize,
        target: Option<usize>,
    },
    Activate {
        who: usize,
    },
    Remove {
        who: usize,
        target: usize,
    },
    BulkDisable {
        who: Vec<usize>,
        target: usize,
    },
    Register {
        who: usize,
        records: u8,
    },
    SetSeats {
        seats: u8,
    },
    RequestRecalculation,
    CancelRecalculation,
    RollOver,
    Transfer {
        from: usize,
        to: usize,
    },
    CreateGroup,
    /// `group` None: out of any group.
    SetGroup {
        who: usize,
        group: Option<usize>,
    },
    DeleteGroup {
        group: usize,
        to: Option<usize>,
    },
    /// A role whose every lead right is `level`.
    CreateRole {
        level: usize,
    },
    /// `role` None: individual rights at `level`.
    SetRights {
        who: usize,
        role: Option<usize>,
        level: usize,
    },
    EditRole {
        role: usize,
        level: usize,
    },
    DeleteRole {
        role: usize,
        replacement: Option<usize>,
    },
}

/// Lead rights levels the model uses, by index.
const LEVELS: [pb::PermissionLevel; 4] = [
    pb::PermissionLevel::All,
    pb::PermissionLevel::Group,
    pb::PermissionLevel::Own,
    pb::PermissionLevel::Denied,
];

fn uniform(level: usize) -> pb::Permissions {
    let l = LEVELS[level] as i32;
    let rights = Some(pb::EntityRights {
        view: l,
        edit: l,
        add: l,
        delete: l,
        export: l,
    });
    pb::Permissions {
        leads: rights,
        contacts: rights,
        companies: rights,
        tasks: rights,
        ..Default::default()
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<bool>().prop_map(|admin| Op::Add { admin }),
        3 => (0..8usize, proptest::option::of(0..8usize))
            .prop_map(|(who, target)| Op::Disable { who, target }),
        2 => (0..8usize).prop_map(|who| Op::Activate { who }),
        2 => (0..8usize, 0..8usize).prop_map(|(who, target)| Op::Remove { who, target }),
        1 => (proptest::collection::vec(0..8usize, 1..3), 0..8usize)
            .prop_map(|(who, target)| Op::BulkDisable { who, target }),
        3 => (0..8usize, 1..4u8).prop_map(|(who, records)| Op::Register { who, records }),
        1 => (0..8u8).prop_map(|seats| Op::SetSeats { seats }),
        1 => Just(Op::RequestRecalculation),
        1 => Just(Op::CancelRecalculation),
        1 => Just(Op::RollOver),
        2 => (0..8usize, 0..8usize).prop_map(|(from, to)| Op::Transfer { from, to }),
        1 => Just(Op::CreateGroup),
        2 => (0..8usize, proptest::option::of(0..4usize))
            .prop_map(|(who, group)| Op::SetGroup { who, group }),
        1 => (0..4usize, proptest::option::of(0..4usize))
            .prop_map(|(group, to)| Op::DeleteGroup { group, to }),
        1 => (0..4usize).prop_map(|level| Op::CreateRole { level }),
        2 => (0..8usize, proptest::option::of(0..4usize), 0..4usize)
            .prop_map(|(who, role, level)| Op::SetRights { who, role, level }),
        1 => (0..4usize, 0..4usize).prop_map(|(role, level)| Op::EditRole { role, level }),
        1 => (0..4usize, proptest::option::of(0..4usize))
            .prop_map(|(role, replacement)| Op::DeleteRole { role, replacement }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Active,
    Disabled,
    Removed,
}

#[derive(Debug, Clone)]
struct User {
    id: String,
    admin: bool,
    status: Status,
    records: i64,
    group: Option<usize>,
    /// The access role held, by index into `Model::roles`.
    role: Option<usize>,
    /// Individual rights: every lead right at this level (an index of LEVELS).
    level: usize,
}

#[derive(Debug, Clone)]
struct Group {
    id: String,
    deleted: bool,
}

#[derive(Debug, Clone)]
struct Role {
    id: String,
    level: usize,
    deleted: bool,
}

/// The reference model.
#[derive(Debug, Clone)]
struct Model {
    strict: bool,
    seats: i32,
    pending: Option<i32>,
    users: Vec<User>,
    groups: Vec<Group>,
    roles: Vec<Role>,
}

/// What the model expects of one call: success, or a refusal with one of
/// these reasons (several rules can be broken at once; any may be named).
#[derive(Debug)]
enum Expect {
    Ok,
    Refused(BTreeSet<&'static str>),
}

impl Model {
    fn active(&self) -> i32 {
        self.users
            .iter()
            .filter(|u| u.status == Status::Active)
            .count() as i32
    }

    fn active_admins(&self) -> usize {
        self.users
            .iter()
            .filter(|u| u.admin && u.status == Status::Active)
            .count()
    }

    /// Rules of a disable/remove of `who` handing over to `target`.
    fn leave_refusals(
        &self,
        who: usize,
        target: Option<usize>,
        remove: bool,
    ) -> BTreeSet<&'static str> {
        let mut refused = BTreeSet::new();
        let user = &self.users[who];
        match user.status {
            Status::Removed => {
                refused.insert("USER_NOT_FOUND");
            }
            Status::Disabled if !remove => {
                refused.insert("INVALID_STATUS");
            }
            _ => {}
        }
        if user.status == Status::Active && user.admin && self.active_admins() == 1 {
            refused.insert("LAST_ADMIN");
        }
        if let Some(t) = target {
            if t == who {
                refused.insert("TARGET_IS_SUBJECT");
            } else if self.users[t].status != Status::Active {
                refused.insert("TARGET_NOT_ACTIVE");
                if self.users[t].status == Status::Removed {
                    refused.insert("USER_NOT_FOUND");
                }
            }
        }
        refused
    }

    /// The level of every lead right the user has now.
    fn level(&self, user: &User) -> usize {
        user.role.map_or(user.level, |r| self.roles[r].level)
    }

    /// CheckAccess: may `who` view a lead owned by user 0 (the first admin)?
    fn may_view_admins_lead(&self, who: usize) -> Result<bool, pb::AccessBasis> {
        let user = &self.users[who];
        match user.status {
            Status::Removed => return Err(pb::AccessBasis::UserNotFound),
            Status::Disabled => return Err(pb::AccessBasis::UserInactive),
            Status::Active => {}
        }
        let owner = &self.users[0];
        let owner_exists = owner.status != Status::Removed;
        Ok(match LEVELS[self.level(user)] {
            pb::PermissionLevel::All => true,
            pb::PermissionLevel::Own => who == 0,
            pb::PermissionLevel::Group => {
                who == 0 || (owner_exists && user.group.is_some() && user.group == owner.group)
            }
            _ => false,
        })
    }

    fn take_seat(&mut self) -> bool {
        if self.active() < self.seats {
            true
        } else if self.strict {
            false
        } else {
            self.seats += 1;
            true
        }
    }

    fn hand_over(&mut self, who: usize, target: Option<usize>) {
        if let Some(t) = target {
            let moved = std::mem::take(&mut self.users[who].records);
            self.users[t].records += moved;
        }
    }

    /// Applies `op` to the model; returns what the server should answer.
    fn apply(&mut self, op: &Op, new_id: Option<String>) -> Expect {
        let refused = |reasons: BTreeSet<&'static str>| {
            if reasons.is_empty() {
                None
            } else {
                Some(Expect::Refused(reasons))
            }
        };
        match op {
            Op::Add { admin } => {
                if !self.take_seat() {
                    return Expect::Refused(["SEAT_LIMIT_REACHED"].into());
                }
                self.users.push(User {
                    id: new_id.unwrap_or_default(),
                    admin: *admin,
                    status: Status::Active,
                    records: 0,
                    group: None,
                    role: None,
                    // The defaults: admins view ALL, members view ALL too.
                    level: 0,
                });
                Expect::Ok
            }
            Op::Disable { who, target } => {
                if let Some(e) = refused(self.leave_refusals(*who, *target, false)) {
                    return e;
                }
                self.hand_over(*who, *target);
                self.users[*who].status = Status::Disabled;
                Expect::Ok
            }
            Op::Activate { who } => {
                match self.users[*who].status {
                    Status::Removed => return Expect::Refused(["USER_NOT_FOUND"].into()),
                    Status::Active => return Expect::Refused(["INVALID_STATUS"].into()),
                    Status::Disabled => {}
                }
                if !self.take_seat() {
                    return Expect::Refused(["SEAT_LIMIT_REACHED"].into());
                }
                self.users[*who].status = Status::Active;
                Expect::Ok
            }
            Op::Remove { who, target } => {
                if let Some(e) = refused(self.leave_refusals(*who, Some(*target), true)) {
                    return e;
                }
                self.hand_over(*who, Some(*target));
                self.users[*who].status = Status::Removed;
                Expect::Ok
            }
            // Checked per user by the job; the model applies them in order.
            Op::BulkDisable { who, target } => {
                for w in who {
                    if self.leave_refusals(*w, Some(*target), false).is_empty() {
                        self.hand_over(*w, Some(*target));
                        self.users[*w].status = Status::Disabled;
                    }
                }
                Expect::Ok
            }
            Op::Register { who, records } => {
                self.users[*who].records += i64::from(*records);
                Expect::Ok
            }
            Op::SetSeats { seats } => {
                if i32::from(*seats) < self.active().max(1) {
                    return Expect::Refused(["INVALID_ARGUMENT"].into());
                }
                self.seats = i32::from(*seats);
                Expect::Ok
            }
            Op::RequestRecalculation => {
                self.pending = Some(self.active().max(1));
                Expect::Ok
            }
            Op::CancelRecalculation => {
                self.pending = None;
                Expect::Ok
            }
            Op::RollOver => {
                if let Some(pending) = self.pending.take() {
                    self.seats = pending.max(self.active()).max(1);
                }
                Expect::Ok
            }
            Op::Transfer { from, to } => {
                let mut reasons = BTreeSet::new();
                match self.users[*from].status {
                    Status::Removed => {
                        return Expect::Refused(["USER_NOT_FOUND"].into());
                    }
                    Status::Disabled => {
                        reasons.insert("INVALID_STATUS");
                    }
                    Status::Active => {}
                }
                if to == from {
                    reasons.insert("TARGET_IS_SUBJECT");
                } else if self.users[*to].status != Status::Active {
                    reasons.insert("TARGET_NOT_ACTIVE");
                }
                if let Some(e) = refused(reasons) {
                    return e;
                }
                self.hand_over(*from, Some(*to));
                Expect::Ok
            }
            Op::CreateGroup => {
                self.groups.push(Group {
                    id: new_id.unwrap_or_default(),
                    deleted: false,
                });
                Expect::Ok
            }
            Op::SetGroup { who, group } => {
                if self.users[*who].status == Status::Removed {
                    return Expect::Refused(["USER_NOT_FOUND"].into());
                }
                self.users[*who].group = *group;
                Expect::Ok
            }
            Op::DeleteGroup { group, to } => {
                for user in &mut self.users {
                    if user.group == Some(*group) && user.status != Status::Removed {
                        user.group = *to;
                    }
                }
                self.groups[*group].deleted = true;
                Expect::Ok
            }
            Op::CreateRole { level } => {
                self.roles.push(Role {
                    id: new_id.unwrap_or_default(),
                    level: *level,
                    deleted: false,
                });
                Expect::Ok
            }
            Op::SetRights { who, role, level } => {
                if self.users[*who].status == Status::Removed {
                    return Expect::Refused(["USER_NOT_FOUND"].into());
                }
                let user = &mut self.users[*who];
                user.role = *role;
                if role.is_none() {
                    user.level = *level;
                }
                Expect::Ok
            }
            Op::EditRole { role, level } => {
                self.roles[*role].level = *level;
                Expect::Ok
            }
            Op::DeleteRole { role, replacement } => {
                let held = self
                    .users
                    .iter()
                    .any(|u| u.role == Some(*role) && u.status != Status::Removed);
                if held && replacement.is_none() {
                    return Expect::Refused(["ACCESS_ROLE_IN_USE"].into());
                }
                for user in &mut self.users {
                    if user.role == Some(*role) && user.status != Status::Removed {
                        user.role = *replacement;
                    }
                }
                self.roles[*role].deleted = true;
                Expect::Ok
            }
        }
    }
}

struct Run<'a> {
    app: &'a TestApp,
    account_id: String,
    service: String,
    serial: usize,
}

fn check(
    expect: &Expect,
    result: Result<(), tonic::Status>,
    step: &str,
) -> Result<(), TestCaseError> {
    match (expect, result) {
        (Expect::Ok, Ok(())) => Ok(()),
        (Expect::Refused(reasons), Err(status)) if reasons.contains(reason(&status).as_str()) => {
            Ok(())
        }
        (expect, got) => Err(TestCaseError::fail(format!(
            "{step}: model expected {expect:?}, server said {:?}",
            got.map_err(|s| (s.code(), reason(&s), s.message().to_owned()))
        ))),
    }
}

impl Run<'_> {
    /// Sends `op` to the server; returns the new user's id for adds.
    async fn send(
        &mut self,
        model: &Model,
        op: &Op,
    ) -> (Result<(), tonic::Status>, Option<String>) {
        let mut users = self.app.users();
        let mut seats = self.app.seats();
        let id = |i: usize| model.users[i].id.clone();
        // A service token: an admin's own token would die with the admin.
        let admin = self.service.clone();
        let account_id = self.account_id.clone();
        self.serial += 1;
        let result = match op {
            Op::Add { admin: is_admin } => {
                let role = if *is_admin {
                    pb::Role::Admin
                } else {
                    pb::Role::Member
                };
                let added = users
                    .add_user(authed(
                        pb::AddUserRequest {
                            account_id: account_id.clone(),
                            role: role as i32,
                            ..new_user(&unique_email("model"))
                        },
                        &admin,
                    ))
                    .await;
                return match added {
                    Ok(r) => (Ok(()), r.into_inner().user.map(|u| u.id)),
                    Err(status) => (Err(status), None),
                };
            }
            Op::Disable { who, target } => users
                .disable_user(authed(
                    pb::DisableUserRequest {
                        account_id: account_id.clone(),
                        user_id: id(*who),
                        reassignment: target.map(|t| pb::Reassignment {
                            target_user_id: id(t),
                            by_kind: vec![],
                        }),
                        ..Default::default()
                    },
                    &admin,
                ))
                .await
                .map(drop),
            Op::Activate { who } => users
                .activate_user(authed(
                    pb::ActivateUserRequest {
                        account_id: account_id.clone(),
                        user_id: id(*who),
                        ..Default::default()
                    },
                    &admin,
                ))
                .await
                .map(drop),
            Op::Remove { who, target } => users
                .remove_user(authed(
                    pb::RemoveUserRequest {
                        account_id: account_id.clone(),
                        user_id: id(*who),
                        reassignment: to(&id(*target)),
                        ..Default::default()
                    },
                    &admin,
                ))
                .await
                .map(drop),
            Op::BulkDisable { who, target } => {
                let started = users
                    .bulk_disable_users(authed(
                        pb::BulkDisableUsersRequest {
                            account_id: account_id.clone(),
                            user_ids: who.iter().map(|w| id(*w)).collect(),
                            reassignment: to(&id(*target)),
                            ..Default::default()
                        },
                        &admin,
                    ))
                    .await;
                match started {
                    Ok(stream) => {
                        use tokio_stream::StreamExt;
                        let mut stream = stream.into_inner();
                        let mut result = Ok(());
                        while let Some(item) = stream.next().await {
                            match item {
                                Ok(m) if m.update.as_ref().is_some_and(|u| u.r#final) => break,
                                Ok(_) => {}
                                Err(status) => {
                                    result = Err(status);
                                    break;
                                }
                            }
                        }
                        result
                    }
                    Err(status) => Err(status),
                }
            }
            Op::Register { who, records } => users
                .register_work_records(authed(
                    pb::RegisterWorkRecordsRequest {
                        account_id: account_id.clone(),
                        records: (0..*records)
                            .map(|i| pb::WorkRecordInput {
                                kind: pb::RecordKind::Lead as i32,
                                external_id: format!("m{}-{i}", self.serial),
                                owner_user_id: id(*who),
                                ..Default::default()
                            })
                            .collect(),
                    },
                    &admin,
                ))
                .await
                .map(drop),
            Op::SetSeats { seats: n } => seats
                .set_seats_purchased(authed(
                    pb::SetSeatsPurchasedRequest {
                        account_id: self.account_id.clone(),
                        seats_purchased: i32::from(*n),
                        reason: "model".into(),
                    },
                    &self.service,
                ))
                .await
                .map(drop),
            Op::RequestRecalculation => seats
                .request_seat_recalculation(authed(
                    pb::RequestSeatRecalculationRequest {
                        account_id: account_id.clone(),
                        reason: "model".into(),
                        ..Default::default()
                    },
                    &admin,
                ))
                .await
                .map(drop),
            Op::CancelRecalculation => seats
                .cancel_seat_recalculation(authed(
                    pb::CancelSeatRecalculationRequest {
                        account_id: account_id.clone(),
                    },
                    &admin,
                ))
                .await
                .map(drop),
            Op::RollOver => {
                self.app.clock.advance(Duration::days(32));
                seats
                    .roll_over_billing_periods(authed(
                        pb::RollOverBillingPeriodsRequest {
                            account_id: self.account_id.clone(),
                        },
                        &self.service,
                    ))
                    .await
                    .map(drop)
            }
            Op::Transfer { from, to } => users
                .transfer_records(authed(
                    pb::TransferRecordsRequest {
                        account_id: account_id.clone(),
                        from_user_id: id(*from),
                        to_user_id: id(*to),
                        ..Default::default()
                    },
                    &admin,
                ))
                .await
                .map(drop),
            Op::CreateGroup => {
                let created = users
                    .create_group(authed(
                        pb::CreateGroupRequest {
                            account_id: account_id.clone(),
                            name: format!("Group {}", self.serial),
                        },
                        &admin,
                    ))
                    .await;
                return match created {
                    Ok(r) => (Ok(()), r.into_inner().group.map(|g| g.id)),
                    Err(status) => (Err(status), None),
                };
            }
            Op::SetGroup { who, group } => {
                let group_id = group
                    .map(|g| model.groups[g].id.clone())
                    .unwrap_or_default();
                self.update_user(&admin, &id(*who), |request| {
                    request.group_id = Some(group_id);
                })
                .await
            }
            Op::DeleteGroup { group, to } => users
                .delete_group(authed(
                    pb::DeleteGroupRequest {
                        account_id: account_id.clone(),
                        group_id: model.groups[*group].id.clone(),
                        move_users_to_group_id: to
                            .map(|g| model.groups[g].id.clone())
                            .unwrap_or_default(),
                    },
                    &admin,
                ))
                .await
                .map(drop),
            Op::CreateRole { level } => {
                let created = users
                    .create_access_role(authed(
                        pb::CreateAccessRoleRequest {
                            account_id: account_id.clone(),
                            name: format!("Role {}", self.serial),
                            permissions: Some(uniform(*level)),
                            ..Default::default()
                        },
                        &admin,
                    ))
                    .await;
                return match created {
                    Ok(r) => (Ok(()), r.into_inner().access_role.map(|r| r.id)),
                    Err(status) => (Err(status), None),
                };
            }
            Op::SetRights { who, role, level } => {
                let role_id = role.map(|r| model.roles[r].id.clone());
                let permissions = role.is_none().then(|| uniform(*level));
                self.update_user(&admin, &id(*who), |request| {
                    request.access_role_id = role_id;
                    request.permissions = permissions;
                })
                .await
            }
            Op::EditRole { role, level } => {
                let role_id = model.roles[*role].id.clone();
                let read = users
                    .get_access_role(authed(
                        pb::GetAccessRoleRequest {
                            account_id: account_id.clone(),
                            access_role_id: role_id.clone(),
                        },
                        &admin,
                    ))
                    .await;
                match read {
                    Ok(r) => users
                        .update_access_role(authed(
                            pb::UpdateAccessRoleRequest {
                                account_id: account_id.clone(),
                                access_role_id: role_id,
                                etag: r
                                    .into_inner()
                                    .access_role
                                    .map(|r| r.etag)
                                    .unwrap_or_default(),
                                permissions: Some(uniform(*level)),
                                ..Default::default()
                            },
                            &admin,
                        ))
                        .await
                        .map(drop),
                    Err(status) => Err(status),
                }
            }
            Op::DeleteRole { role, replacement } => users
                .delete_access_role(authed(
                    pb::DeleteAccessRoleRequest {
                        account_id: account_id.clone(),
                        access_role_id: model.roles[*role].id.clone(),
                        replacement_role_id: replacement
                            .map(|r| model.roles[r].id.clone())
                            .unwrap_or_default(),
                        ..Default::default()
                    },
                    &admin,
                ))
                .await
                .map(drop),
        };
        (result, None)
    }

    /// UpdateUser with the user's current etag.
    async fn update_user(
        &self,
        token: &str,
        user_id: &str,
        change: impl FnOnce(&mut pb::UpdateUserRequest),
    ) -> Result<(), tonic::Status> {
        let mut users = self.app.users();
        let current = users
            .get_user(authed(
                pb::GetUserRequest {
                    account_id: self.account_id.clone(),
                    user_id: user_id.to_owned(),
                },
                token,
            ))
            .await?
            .into_inner()
            .user
            .unwrap_or_default();
        let mut request = pb::UpdateUserRequest {
            account_id: self.account_id.clone(),
            user_id: user_id.to_owned(),
            etag: current.etag,
            ..Default::default()
        };
        change(&mut request);
        users.update_user(authed(request, token)).await.map(drop)
    }

    /// The server's state must equal the model's.
    async fn compare(&self, model: &Model, step: &str) -> Result<(), TestCaseError> {
        let fail = |what: String| TestCaseError::fail(format!("{step}: {what}"));
        let usage = self
            .app
            .seats()
            .get_seat_usage(authed(
                pb::GetSeatUsageRequest {
                    account_id: self.account_id.clone(),
                },
                &self.service,
            ))
            .await
            .map_err(|s| fail(format!("usage: {s:?}")))?
            .into_inner()
            .usage
            .ok_or_else(|| fail("no usage".into()))?;
        if (usage.active_users, usage.seats_purchased) != (model.active(), model.seats) {
            return Err(fail(format!(
                "active/seats: server {}/{}, model {}/{}",
                usage.active_users,
                usage.seats_purchased,
                model.active(),
                model.seats
            )));
        }
        let pending = usage.pending_change.map(|p| p.seats_purchased_after);
        if pending != model.pending {
            return Err(fail(format!(
                "pending: server {pending:?}, model {:?}",
                model.pending
            )));
        }
        for user in &model.users {
            let got = self
                .app
                .users()
                .get_user(authed(
                    pb::GetUserRequest {
                        account_id: self.account_id.clone(),
                        user_id: user.id.clone(),
                    },
                    &self.service,
                ))
                .await;
            let (status, found) = match got {
                Ok(r) => {
                    let found = r.into_inner().user;
                    match found.as_ref().map(|u| u.status) {
                        Some(s) if s == pb::UserStatus::Active as i32 => (Status::Active, found),
                        Some(s) if s == pb::UserStatus::Inactive as i32 => {
                            (Status::Disabled, found)
                        }
                        other => return Err(fail(format!("{}: status {other:?}", user.id))),
                    }
                }
                Err(s) if s.code() == Code::NotFound => (Status::Removed, None),
                Err(s) => return Err(fail(format!("{}: {s:?}", user.id))),
            };
            if status != user.status {
                return Err(fail(format!(
                    "{}: server {status:?}, model {:?}",
                    user.id, user.status
                )));
            }
            if let Some(found) = found {
                let group = user
                    .group
                    .map(|g| model.groups[g].id.clone())
                    .unwrap_or_default();
                let role = user
                    .role
                    .map(|r| model.roles[r].id.clone())
                    .unwrap_or_default();
                let view = found
                    .permissions
                    .and_then(|p| p.leads)
                    .map(|r| r.view)
                    .unwrap_or_default();
                let want = LEVELS[model.level(user)] as i32;
                if (&found.group_id, &found.access_role_id, view) != (&group, &role, want) {
                    return Err(fail(format!(
                        "{}: group/role/lead view: server {:?}/{:?}/{view}, model {group:?}/{role:?}/{want}",
                        user.id, found.group_id, found.access_role_id
                    )));
                }
            }
            let owned = self
                .app
                .sql_count(&format!(
                    "SELECT COUNT(*) AS n FROM work_records WHERE owner_user_id = '{}'",
                    user.id
                ))
                .await;
            if owned != user.records {
                return Err(fail(format!(
                    "{} owns {owned}, model {}",
                    user.id, user.records
                )));
            }
        }
        // What CheckAccess answers for every user: may they view a lead of
        // the first admin?
        let checks = model
            .users
            .iter()
            .map(|u| pb::AccessCheck {
                user_id: u.id.clone(),
                action: pb::AccessAction::View as i32,
                kind: pb::RecordKind::Lead as i32,
                owner_user_id: model.users[0].id.clone(),
                stage_id: String::new(),
            })
            .collect();
        let decisions = self
            .app
            .access()
            .batch_check_access(authed(
                pb::BatchCheckAccessRequest {
                    account_id: self.account_id.clone(),
                    checks,
                },
                &self.service,
            ))
            .await
            .map_err(|s| fail(format!("checks: {s:?}")))?
            .into_inner()
            .decisions;
        for (i, decision) in decisions.iter().enumerate() {
            let got = match decision.basis() {
                pb::AccessBasis::Level => Ok(decision.allowed),
                other => Err(other),
            };
            let want = model.may_view_admins_lead(i);
            if got != want {
                return Err(fail(format!(
                    "check of user {i}: server {got:?} ({decision:?}), model {want:?}"
                )));
            }
        }
        Ok(())
    }
}

async fn run_case(app: &TestApp, strict: bool, ops: &[Op]) -> Result<(), TestCaseError> {
    let policy = if strict {
        pb::SeatPolicy::Strict
    } else {
        pb::SeatPolicy::AutoExpand
    };
    let ws = app.account(pb::Plan::Base, policy, 3).await;
    let mut model = Model {
        strict,
        seats: 3,
        pending: None,
        users: vec![User {
            id: ws.admin.id.clone(),
            admin: true,
            status: Status::Active,
            records: 0,
            group: None,
            role: None,
            level: 0,
        }],
        groups: Vec::new(),
        roles: Vec::new(),
    };
    let mut run = Run {
        app,
        account_id: ws.account.id.clone(),
        service: app.service_token(),
        serial: 0,
    };
    for (n, op) in ops.iter().enumerate() {
        // Indices pick among the users so far; a Register of a user who is
        // not active is skipped (owners must be active users).
        let len = model.users.len();
        let op = match op.clone() {
            Op::Disable { who, target } => Op::Disable {
                who: who % len,
                target: target.map(|t| t % len),
            },
            Op::Activate { who } => Op::Activate { who: who % len },
            Op::Remove { who, target } => Op::Remove {
                who: who % len,
                target: target % len,
            },
            Op::BulkDisable { who, target } => {
                // Distinct subjects, and a valid heir (a bulk call with a bad
                // heir is refused as a whole, which Disable already covers).
                let mut distinct: Vec<usize> = Vec::new();
                for w in who.into_iter().map(|w| w % len) {
                    if !distinct.contains(&w) {
                        distinct.push(w);
                    }
                }
                let target = target % len;
                if distinct.contains(&target) || model.users[target].status != Status::Active {
                    continue;
                }
                Op::BulkDisable {
                    who: distinct,
                    target,
                }
            }
            Op::Register { who, records } => {
                if model.users[who % len].status != Status::Active {
                    continue;
                }
                Op::Register {
                    who: who % len,
                    records,
                }
            }
            Op::Transfer { from, to } => Op::Transfer {
                from: from % len,
                to: to % len,
            },
            Op::SetGroup { who, group } => Op::SetGroup {
                who: who % len,
                group: live(&model.groups, group, |g| g.deleted),
            },
            Op::DeleteGroup { group, to } => {
                let Some(group) = live(&model.groups, Some(group), |g| g.deleted) else {
                    continue;
                };
                let to = live(&model.groups, to, |g| g.deleted).filter(|t| *t != group);
                Op::DeleteGroup { group, to }
            }
            Op::SetRights { who, role, level } => Op::SetRights {
                who: who % len,
                role: live(&model.roles, role, |r| r.deleted),
                level,
            },
            Op::EditRole { role, level } => {
                let Some(role) = live(&model.roles, Some(role), |r| r.deleted) else {
                    continue;
                };
                Op::EditRole { role, level }
            }
            Op::DeleteRole { role, replacement } => {
                let Some(role) = live(&model.roles, Some(role), |r| r.deleted) else {
                    continue;
                };
                let replacement =
                    live(&model.roles, replacement, |r| r.deleted).filter(|r| *r != role);
                Op::DeleteRole { role, replacement }
            }
            other => other,
        };
        let step = format!("step {n} {op:?}");
        let (result, new_id) = run.send(&model, &op).await;
        let expect = model.apply(&op, new_id);
        check(&expect, result, &step)?;
        run.compare(&model, &step).await?;
    }
    Ok(())
}

/// The `pick`-th (modulo) of `items` that is not deleted; None when there
/// is none or nothing was picked.
fn live<T>(items: &[T], pick: Option<usize>, deleted: impl Fn(&T) -> bool) -> Option<usize> {
    let alive: Vec<usize> = (0..items.len()).filter(|i| !deleted(&items[*i])).collect();
    let pick = pick?;
    (!alive.is_empty()).then(|| alive[pick % alive.len()])
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn server_matches_the_model(db: Db) {
    let app = TestApp::spawn(db).await;
    let cases = env_number("ROSTER_MODEL_CASES", 8) as u32;
    let seed = env_number("ROSTER_MODEL_SEED", 1);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            max_shrink_iters: 200,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let handle = tokio::runtime::Handle::current();
    let strategy = (any::<bool>(), proptest::collection::vec(op(), 1..25));
    let result = tokio::task::block_in_place(|| {
        runner.run(&strategy, |(strict, ops)| {
            handle.block_on(run_case(&app, strict, &ops))
        })
    });
    if let Err(e) = result {
        panic!("{db:?}: {e}");
    }
}

both_backends!(server_matches_the_model);
