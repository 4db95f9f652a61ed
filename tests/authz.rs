//! The authorization matrix: every RPC of roster.v1 × every kind of caller,
//! with the expected status code derived from one table (RPC → access
//! rule). The table is checked against the service descriptors, so an RPC
//! added to the protos without a row fails this test. Runs on SQLite and
//! PostgreSQL.

mod common;

use std::collections::BTreeSet;

use chrono::Duration;
use prost::Message;
use tokio_stream::StreamExt;
use tonic::{Code, Request};

use common::*;
use roster::auth::TokenIssuer;
use roster::proto::v1 as pb;

both_backends!(
    every_rpc_for_every_caller,
    cross_tenant_answers_reveal_nothing
);

/// Who may call an RPC.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Any user of the account, or a service with users:read.
    Read,
    /// Admins of the account, or a service with the RPC's scope.
    Write,
    /// Only a service with the scope, on a named account.
    ServiceOnly,
    /// Only a service with the scope; not tied to one account.
    GlobalService,
    /// Only a user, acting on themself.
    OwnUser,
}

/// Every RPC, its rule, and the code an allowed caller gets for the
/// request [`call`] sends (OK, or a named non-authorization refusal).
const TABLE: &[(&str, Rule, Code)] = &[
    (
        "UserManagementService/CreateAccount",
        Rule::GlobalService,
        Code::Ok,
    ),
    ("UserManagementService/GetAccount", Rule::Read, Code::Ok),
    ("UserManagementService/CreateGroup", Rule::Write, Code::Ok),
    ("UserManagementService/ListGroups", Rule::Read, Code::Ok),
    // Renames to a name already taken: refused after authorization.
    (
        "UserManagementService/UpdateGroup",
        Rule::Write,
        Code::AlreadyExists,
    ),
    ("UserManagementService/DeleteGroup", Rule::Write, Code::Ok),
    // Sent with a stale etag: refused after authorization.
    (
        "UserManagementService/ChangeUserEmail",
        Rule::Write,
        Code::Aborted,
    ),
    (
        "UserManagementService/CreateAccessRole",
        Rule::Write,
        Code::Ok,
    ),
    ("UserManagementService/GetAccessRole", Rule::Read, Code::Ok),
    (
        "UserManagementService/ListAccessRoles",
        Rule::Read,
        Code::Ok,
    ),
    // Sent with a stale etag: refused after authorization.
    (
        "UserManagementService/UpdateAccessRole",
        Rule::Write,
        Code::Aborted,
    ),
    // The role is held and no replacement is named: refused after
    // authorization.
    (
        "UserManagementService/DeleteAccessRole",
        Rule::Write,
        Code::FailedPrecondition,
    ),
    ("AccessService/CheckAccess", Rule::Read, Code::Ok),
    ("AccessService/BatchCheckAccess", Rule::Read, Code::Ok),
    ("UserManagementService/AddUser", Rule::Write, Code::Ok),
    ("UserManagementService/BulkAddUsers", Rule::Write, Code::Ok),
    ("UserManagementService/GetUser", Rule::Read, Code::Ok),
    ("UserManagementService/ListUsers", Rule::Read, Code::Ok),
    ("UserManagementService/UpdateUser", Rule::Write, Code::Ok),
    ("UserManagementService/DisableUser", Rule::Write, Code::Ok),
    ("UserManagementService/ActivateUser", Rule::Write, Code::Ok),
    ("UserManagementService/RemoveUser", Rule::Write, Code::Ok),
    (
        "UserManagementService/BulkDisableUsers",
        Rule::Write,
        Code::Ok,
    ),
    (
        "UserManagementService/BulkRemoveUsers",
        Rule::Write,
        Code::Ok,
    ),
    ("UserManagementService/GetJob", Rule::Read, Code::Ok),
    ("UserManagementService/ListJobs", Rule::Read, Code::Ok),
    ("UserManagementService/WatchJob", Rule::Read, Code::Ok),
    // The job has finished: cancelling it is refused, after authorization.
    (
        "UserManagementService/CancelJob",
        Rule::Write,
        Code::FailedPrecondition,
    ),
    (
        "UserManagementService/RegisterWorkRecords",
        Rule::Write,
        Code::Ok,
    ),
    (
        "UserManagementService/ListWorkRecords",
        Rule::Read,
        Code::Ok,
    ),
    (
        "UserManagementService/CountWorkRecords",
        Rule::Read,
        Code::Ok,
    ),
    ("UserManagementService/StreamEvents", Rule::Read, Code::Ok),
    ("UserManagementService/ListEvents", Rule::Read, Code::Ok),
    (
        "UserManagementService/ListReassignments",
        Rule::Read,
        Code::Ok,
    ),
    (
        "UserManagementService/TransferRecords",
        Rule::Write,
        Code::Ok,
    ),
    (
        "UserManagementService/VerifyPassword",
        Rule::GlobalService,
        Code::Ok,
    ),
    // Sent with a wrong current password: refused after authorization.
    (
        "UserManagementService/ChangePassword",
        Rule::OwnUser,
        Code::InvalidArgument,
    ),
    ("UserManagementService/ResetPassword", Rule::Write, Code::Ok),
    ("SeatsService/GetSeatUsage", Rule::Read, Code::Ok),
    ("SeatsService/ListLedgerEntries", Rule::Read, Code::Ok),
    (
        "SeatsService/RequestSeatRecalculation",
        Rule::Write,
        Code::Ok,
    ),
    (
        "SeatsService/CancelSeatRecalculation",
        Rule::Write,
        Code::Ok,
    ),
    (
        "SeatsService/RollOverBillingPeriods",
        Rule::GlobalService,
        Code::Ok,
    ),
    ("SeatsService/ChangePlan", Rule::ServiceOnly, Code::Ok),
    (
        "SeatsService/SetSeatsPurchased",
        Rule::ServiceOnly,
        Code::Ok,
    ),
    ("SeatsService/UpdateSeatPolicy", Rule::Write, Code::Ok),
];

/// The kinds of caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoToken,
    Malformed,
    ForgedSignature,
    Expired,
    WrongAudience,
    WrongIssuer,
    /// A user token issued before the user was disabled.
    Revoked,
    Member,
    Admin,
    /// An admin of another account, naming this one.
    OtherAdmin,
    ServiceWithScopes,
    ServiceWithoutScopes,
}

const CALLERS: [Caller; 12] = [
    Caller::NoToken,
    Caller::Malformed,
    Caller::ForgedSignature,
    Caller::Expired,
    Caller::WrongAudience,
    Caller::WrongIssuer,
    Caller::Revoked,
    Caller::Member,
    Caller::Admin,
    Caller::OtherAdmin,
    Caller::ServiceWithScopes,
    Caller::ServiceWithoutScopes,
];

fn expected(rule: Rule, caller: Caller, allowed: Code) -> Code {
    use Caller::*;
    use Rule::*;
    match (caller, rule) {
        (
            NoToken | Malformed | ForgedSignature | Expired | WrongAudience | WrongIssuer | Revoked,
            _,
        ) => Code::Unauthenticated,
        (_, OwnUser) => match caller {
            Member | Admin | OtherAdmin => allowed,
            _ => Code::PermissionDenied,
        },
        (Member, Read) | (Admin, Read | Write) => allowed,
        (Member | Admin, _) => Code::PermissionDenied,
        (OtherAdmin, GlobalService) => Code::PermissionDenied,
        (OtherAdmin, _) => Code::NotFound,
        (ServiceWithScopes, _) => allowed,
        (ServiceWithoutScopes, _) => Code::PermissionDenied,
    }
}

/// Everything the calls refer to, in workspace A.
struct World {
    account_id: String,
    headers: Vec<(Caller, Option<String>)>,
    admin_email: String,
    target_id: String,
    heir_id: String,
    disabled_id: String,
    job_id: String,
    /// An access role `target_id` holds.
    role_id: String,
    /// Two groups of the account.
    group_ids: [String; 2],
}

async fn world(app: &TestApp) -> World {
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 20)
        .await;
    let other = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let member_user = member(app, &ws, "mia").await;
    let target = member(app, &ws, "tina").await;
    let heir = member(app, &ws, "hugo").await;
    let disabled = member(app, &ws, "dora").await;
    let leaver = member(app, &ws, "lea").await;
    let revoked_token = app.user_token_at_server_time(&disabled.id, &ws.account.id);
    app.clock.advance(Duration::seconds(1));
    app.users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: disabled.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("disable");
    // A finished job.
    let mut stream = app
        .users()
        .bulk_disable_users(authed(
            pb::BulkDisableUsersRequest {
                user_ids: vec![leaver.id.clone()],
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("bulk")
        .into_inner();
    let mut job_id = String::new();
    while let Some(item) = stream.next().await {
        let update = item.expect("update").update.expect("update");
        job_id = update.job.map(|j| j.id).unwrap_or(job_id);
        if update.r#final {
            break;
        }
    }
    assert!(!job_id.is_empty());
    let mut group_ids = Vec::new();
    for name in ["Alpha", "Beta"] {
        group_ids.push(
            app.users()
                .create_group(authed(
                    pb::CreateGroupRequest {
                        account_id: String::new(),
                        name: name.into(),
                    },
                    &ws.admin_token,
                ))
                .await
                .expect("group")
                .into_inner()
                .group
                .expect("group")
                .id,
        );
    }
    let role_id = app
        .users()
        .create_access_role(authed(
            pb::CreateAccessRoleRequest {
                name: "Sales".into(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("role")
        .into_inner()
        .access_role
        .expect("role")
        .id;
    app.users()
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: target.id.clone(),
                etag: target.etag.clone(),
                access_role_id: Some(role_id.clone()),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("hold the role");

    let now = app.now_secs();
    let issuer = &app.issuer;
    let sign = |issuer: &TokenIssuer, claims| issuer.sign(&claims).expect("sign");
    let admin_claims = || issuer.claims_for_user(&ws.admin.id, &ws.account.id, now, 600);
    let forged = TokenIssuer::hs256(b"another-secret-another-secret-1234", "roster", "roster");
    let headers = vec![
        (Caller::NoToken, None),
        (Caller::Malformed, Some("Bearer not-a-jwt".to_owned())),
        (Caller::ForgedSignature, Some(sign(&forged, admin_claims()))),
        (
            Caller::Expired,
            Some(sign(
                issuer,
                issuer.claims_for_user(&ws.admin.id, &ws.account.id, now - 7200, 600),
            )),
        ),
        (Caller::WrongAudience, {
            let wrong = TokenIssuer::hs256(SECRET, "roster", "someone-else");
            Some(sign(
                &wrong,
                wrong.claims_for_user(&ws.admin.id, &ws.account.id, now, 600),
            ))
        }),
        (Caller::WrongIssuer, {
            let wrong = TokenIssuer::hs256(SECRET, "mallory", "roster");
            Some(sign(
                &wrong,
                wrong.claims_for_user(&ws.admin.id, &ws.account.id, now, 600),
            ))
        }),
        (Caller::Revoked, Some(revoked_token)),
        (
            Caller::Member,
            Some(app.user_token(&member_user.id, &ws.account.id)),
        ),
        (Caller::Admin, Some(ws.admin_token.clone())),
        (Caller::OtherAdmin, Some(other.admin_token.clone())),
        (Caller::ServiceWithScopes, Some(app.service_token())),
        (
            Caller::ServiceWithoutScopes,
            Some(app.service_token_with(&[])),
        ),
    ]
    .into_iter()
    .map(|(caller, token)| {
        let header = token.map(|t| {
            if t.starts_with("Bearer ") {
                t
            } else {
                format!("Bearer {t}")
            }
        });
        (caller, header)
    })
    .collect();
    World {
        account_id: ws.account.id.clone(),
        headers,
        admin_email: ws.admin.email.clone(),
        target_id: target.id,
        heir_id: heir.id,
        disabled_id: disabled.id,
        job_id,
        role_id,
        group_ids: [group_ids[0].clone(), group_ids[1].clone()],
    }
}

fn request<T>(message: T, header: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(value) = header.and_then(|h| h.parse().ok()) {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

fn code<T>(result: Result<T, tonic::Status>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// Calls `rpc` with `header`; returns the status code. Requests are valid
/// and free of lasting effects where the API allows (validate_only).
async fn call(app: &TestApp, w: &World, rpc: &str, header: Option<&str>) -> Code {
    let mut users = app.users();
    let mut seats = app.seats();
    let acc = w.account_id.clone();
    let unique = uuid::Uuid::new_v4().simple().to_string();
    match rpc {
        "UserManagementService/CreateAccount" => code(
            users
                .create_account(request(
                    pb::CreateAccountRequest {
                        name: "Matrix".into(),
                        plan: pb::Plan::Base as i32,
                        seats_purchased: 2,
                        admin: Some(pb::NewAdmin {
                            name: "Max".into(),
                            email: format!("max-{unique}@example.com"),
                            password: PASSWORD.into(),
                        }),
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/GetAccount" => code(
            users
                .get_account(request(pb::GetAccountRequest { account_id: acc }, header))
                .await,
        ),
        "UserManagementService/CreateGroup" => code(
            users
                .create_group(request(
                    pb::CreateGroupRequest {
                        account_id: acc,
                        name: format!("Group {}", &unique[..8]),
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/ListGroups" => code(
            users
                .list_groups(request(
                    pb::ListGroupsRequest {
                        account_id: acc,
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/UpdateGroup" => code(
            users
                .update_group(request(
                    pb::UpdateGroupRequest {
                        account_id: acc,
                        group_id: w.group_ids[0].clone(),
                        name: "beta".into(),
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/DeleteGroup" => {
            // A new group each time, made by the account's admin.
            let admin = w
                .headers
                .iter()
                .find(|(c, _)| *c == Caller::Admin)
                .and_then(|(_, h)| h.clone());
            let group_id = users
                .create_group(request(
                    pb::CreateGroupRequest {
                        account_id: acc.clone(),
                        name: format!("Doomed {}", &unique[..8]),
                    },
                    admin.as_deref(),
                ))
                .await
                .expect("group")
                .into_inner()
                .group
                .expect("group")
                .id;
            code(
                users
                    .delete_group(request(
                        pb::DeleteGroupRequest {
                            account_id: acc,
                            group_id,
                            move_users_to_group_id: w.group_ids[1].clone(),
                        },
                        header,
                    ))
                    .await,
            )
        }
        "UserManagementService/ChangeUserEmail" => code(
            users
                .change_user_email(request(
                    pb::ChangeUserEmailRequest {
                        account_id: acc,
                        user_id: w.heir_id.clone(),
                        etag: "stale".into(),
                        email: format!("new-{unique}@example.com"),
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/CreateAccessRole" => code(
            users
                .create_access_role(request(
                    pb::CreateAccessRoleRequest {
                        account_id: acc,
                        name: format!("Role {}", &unique[..8]),
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/GetAccessRole" => code(
            users
                .get_access_role(request(
                    pb::GetAccessRoleRequest {
                        account_id: acc,
                        access_role_id: w.role_id.clone(),
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/ListAccessRoles" => code(
            users
                .list_access_roles(request(
                    pb::ListAccessRolesRequest {
                        account_id: acc,
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/UpdateAccessRole" => code(
            users
                .update_access_role(request(
                    pb::UpdateAccessRoleRequest {
                        account_id: acc,
                        access_role_id: w.role_id.clone(),
                        etag: "stale".into(),
                        name: Some("Renamed".into()),
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/DeleteAccessRole" => code(
            users
                .delete_access_role(request(
                    pb::DeleteAccessRoleRequest {
                        account_id: acc,
                        access_role_id: w.role_id.clone(),
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "AccessService/CheckAccess" => code(
            app.access()
                .check_access(request(
                    pb::CheckAccessRequest {
                        account_id: acc,
                        check: Some(pb::AccessCheck {
                            user_id: w.target_id.clone(),
                            action: pb::AccessAction::Edit as i32,
                            kind: pb::RecordKind::Lead as i32,
                            owner_user_id: w.heir_id.clone(),
                            stage_id: String::new(),
                        }),
                    },
                    header,
                ))
                .await,
        ),
        "AccessService/BatchCheckAccess" => code(
            app.access()
                .batch_check_access(request(
                    pb::BatchCheckAccessRequest {
                        account_id: acc,
                        checks: vec![pb::AccessCheck {
                            user_id: w.target_id.clone(),
                            action: pb::AccessAction::View as i32,
                            kind: pb::RecordKind::Company as i32,
                            ..Default::default()
                        }],
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/AddUser" => code(
            users
                .add_user(request(
                    pb::AddUserRequest {
                        account_id: acc,
                        ..new_user(&format!("new-{unique}@example.com"))
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/BulkAddUsers" => code(
            users
                .bulk_add_users(request(
                    pb::BulkAddUsersRequest {
                        account_id: acc,
                        users: vec![pb::BulkAddUserInput {
                            name: "Bulk Newcomer".into(),
                            email: format!("bulk-{unique}@example.com"),
                            password: PASSWORD.into(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/GetUser" => code(
            users
                .get_user(request(
                    pb::GetUserRequest {
                        account_id: acc,
                        user_id: w.target_id.clone(),
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/ListUsers" => code(
            users
                .list_users(request(
                    pb::ListUsersRequest {
                        account_id: acc,
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/UpdateUser" => {
            // The current etag, read with full rights.
            let etag = users
                .get_user(authed(
                    pb::GetUserRequest {
                        account_id: acc.clone(),
                        user_id: w.target_id.clone(),
                    },
                    &app.service_token(),
                ))
                .await
                .expect("read etag")
                .into_inner()
                .user
                .map(|u| u.etag)
                .unwrap_or_default();
            code(
                users
                    .update_user(request(
                        pb::UpdateUserRequest {
                            account_id: acc,
                            user_id: w.target_id.clone(),
                            etag,
                            name: Some(format!("Tina {}", &unique[..6])),
                            ..Default::default()
                        },
                        header,
                    ))
                    .await,
            )
        }
        "UserManagementService/DisableUser" => code(
            users
                .disable_user(request(
                    pb::DisableUserRequest {
                        account_id: acc,
                        user_id: w.target_id.clone(),
                        reassignment: to(&w.heir_id),
                        validate_only: true,
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/ActivateUser" => code(
            users
                .activate_user(request(
                    pb::ActivateUserRequest {
                        account_id: acc,
                        user_id: w.disabled_id.clone(),
                        validate_only: true,
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/RemoveUser" => code(
            users
                .remove_user(request(
                    pb::RemoveUserRequest {
                        account_id: acc,
                        user_id: w.target_id.clone(),
                        reassignment: to(&w.heir_id),
                        validate_only: true,
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/BulkDisableUsers" => code(
            users
                .bulk_disable_users(request(
                    pb::BulkDisableUsersRequest {
                        account_id: acc,
                        user_ids: vec![w.target_id.clone()],
                        reassignment: to(&w.heir_id),
                        validate_only: true,
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/BulkRemoveUsers" => code(
            users
                .bulk_remove_users(request(
                    pb::BulkRemoveUsersRequest {
                        account_id: acc,
                        user_ids: vec![w.target_id.clone()],
                        reassignment: to(&w.heir_id),
                        validate_only: true,
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/GetJob" => code(
            users
                .get_job(request(
                    pb::GetJobRequest {
                        account_id: acc,
                        job_id: w.job_id.clone(),
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/ListJobs" => code(
            users
                .list_jobs(request(
                    pb::ListJobsRequest {
                        account_id: acc,
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/WatchJob" => code(
            users
                .watch_job(request(
                    pb::WatchJobRequest {
                        account_id: acc,
                        job_id: w.job_id.clone(),
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/CancelJob" => code(
            users
                .cancel_job(request(
                    pb::CancelJobRequest {
                        account_id: acc,
                        job_id: w.job_id.clone(),
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/RegisterWorkRecords" => code(
            users
                .register_work_records(request(
                    pb::RegisterWorkRecordsRequest {
                        account_id: acc,
                        records: vec![pb::WorkRecordInput {
                            kind: pb::RecordKind::Lead as i32,
                            external_id: format!("lead-{unique}"),
                            owner_user_id: w.heir_id.clone(),
                            ..Default::default()
                        }],
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/ListWorkRecords" => code(
            users
                .list_work_records(request(
                    pb::ListWorkRecordsRequest {
                        account_id: acc,
                        user_id: w.heir_id.clone(),
                        kind: pb::RecordKind::Lead as i32,
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/CountWorkRecords" => code(
            users
                .count_work_records(request(
                    pb::CountWorkRecordsRequest {
                        account_id: acc,
                        user_id: w.heir_id.clone(),
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/StreamEvents" => code(
            users
                .stream_events(request(
                    pb::StreamEventsRequest {
                        account_id: acc,
                        after_sequence: 0,
                        follow: false,
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/ListEvents" => code(
            users
                .list_events(request(
                    pb::ListEventsRequest {
                        account_id: acc,
                        user_id: w.target_id.clone(),
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/ListReassignments" => code(
            users
                .list_reassignments(request(
                    pb::ListReassignmentsRequest {
                        account_id: acc,
                        include_external_ids: true,
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/TransferRecords" => code(
            users
                .transfer_records(request(
                    pb::TransferRecordsRequest {
                        account_id: acc,
                        from_user_id: w.target_id.clone(),
                        to_user_id: w.heir_id.clone(),
                        validate_only: true,
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/VerifyPassword" => code(
            users
                .verify_password(request(
                    pb::VerifyPasswordRequest {
                        email: w.admin_email.clone(),
                        password: PASSWORD.into(),
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/ChangePassword" => code(
            users
                .change_password(request(
                    pb::ChangePasswordRequest {
                        current_password: "not the current one".into(),
                        new_password: "a brand new secret".into(),
                    },
                    header,
                ))
                .await,
        ),
        "UserManagementService/ResetPassword" => code(
            users
                .reset_password(request(
                    pb::ResetPasswordRequest {
                        account_id: acc,
                        user_id: w.target_id.clone(),
                        new_password: "reset by the matrix".into(),
                    },
                    header,
                ))
                .await,
        ),
        "SeatsService/GetSeatUsage" => code(
            seats
                .get_seat_usage(request(pb::GetSeatUsageRequest { account_id: acc }, header))
                .await,
        ),
        "SeatsService/ListLedgerEntries" => code(
            seats
                .list_ledger_entries(request(
                    pb::ListLedgerEntriesRequest {
                        account_id: acc,
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "SeatsService/RequestSeatRecalculation" => code(
            seats
                .request_seat_recalculation(request(
                    pb::RequestSeatRecalculationRequest {
                        account_id: acc,
                        reason: "matrix".into(),
                        validate_only: true,
                    },
                    header,
                ))
                .await,
        ),
        "SeatsService/CancelSeatRecalculation" => code(
            seats
                .cancel_seat_recalculation(request(
                    pb::CancelSeatRecalculationRequest { account_id: acc },
                    header,
                ))
                .await,
        ),
        "SeatsService/RollOverBillingPeriods" => code(
            seats
                .roll_over_billing_periods(request(
                    pb::RollOverBillingPeriodsRequest { account_id: acc },
                    header,
                ))
                .await,
        ),
        "SeatsService/ChangePlan" => code(
            seats
                .change_plan(request(
                    pb::ChangePlanRequest {
                        account_id: acc,
                        plan: pb::Plan::Base as i32,
                        billing_cycle: pb::BillingCycle::Monthly as i32,
                        reason: "matrix".into(),
                        ..Default::default()
                    },
                    header,
                ))
                .await,
        ),
        "SeatsService/SetSeatsPurchased" => code(
            seats
                .set_seats_purchased(request(
                    pb::SetSeatsPurchasedRequest {
                        account_id: acc,
                        seats_purchased: 20,
                        reason: "matrix".into(),
                    },
                    header,
                ))
                .await,
        ),
        "SeatsService/UpdateSeatPolicy" => code(
            seats
                .update_seat_policy(request(
                    pb::UpdateSeatPolicyRequest {
                        account_id: acc,
                        seat_policy: pb::SeatPolicy::AutoExpand as i32,
                    },
                    header,
                ))
                .await,
        ),
        other => panic!("no call for {other}: add it to `call`"),
    }
}

/// Every method of the roster.v1 services, as "Service/Method".
fn contract_rpcs() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(roster::proto::FILE_DESCRIPTOR_SET)
        .expect("descriptor set");
    set.file
        .iter()
        .filter(|f| f.package() == "roster.v1")
        .flat_map(|f| f.service.iter())
        .flat_map(|s| {
            s.method
                .iter()
                .map(move |m| format!("{}/{}", s.name(), m.name()))
        })
        .collect()
}

async fn every_rpc_for_every_caller(db: Db) {
    let table: BTreeSet<String> = TABLE.iter().map(|(rpc, _, _)| rpc.to_string()).collect();
    assert_eq!(table.len(), TABLE.len(), "one row per RPC");
    assert_eq!(
        table,
        contract_rpcs(),
        "every RPC of the contract needs exactly one row in TABLE"
    );
    let app = TestApp::spawn(db).await;
    let w = world(&app).await;
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for (rpc, rule, allowed) in TABLE {
        for caller in CALLERS {
            let header = w
                .headers
                .iter()
                .find(|(c, _)| *c == caller)
                .and_then(|(_, h)| h.clone());
            let want = expected(*rule, caller, *allowed);
            let got = call(&app, &w, rpc, header.as_deref()).await;
            checked += 1;
            if got != want {
                mismatches.push(format!("{rpc} as {caller:?}: got {got:?}, want {want:?}"));
            }
        }
    }
    assert_eq!(checked, TABLE.len() * CALLERS.len());
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

async fn cross_tenant_answers_reveal_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let stranger = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let real = member(&app, &ws, "rita").await;
    let ask = |account_id: String, user_id: String| {
        let mut users = app.users();
        let token = stranger.admin_token.clone();
        async move {
            users
                .get_user(authed(
                    pb::GetUserRequest {
                        account_id,
                        user_id,
                    },
                    &token,
                ))
                .await
                .expect_err("not visible")
        }
    };
    // Another account's existing user, a missing user there, and a missing
    // account: the same answer, word for word.
    let existing = ask(ws.account.id.clone(), real.id.clone()).await;
    let missing = ask(ws.account.id.clone(), uuid::Uuid::new_v4().to_string()).await;
    let no_account = ask(uuid::Uuid::new_v4().to_string(), real.id.clone()).await;
    for status in [&existing, &missing, &no_account] {
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), existing.message());
        assert_eq!(reason(status), reason(&existing));
    }
    // Naming no account means the caller's own: the user is not there.
    let own = ask(String::new(), real.id.clone()).await;
    assert_error(&own, Code::NotFound, "USER_NOT_FOUND");
}
