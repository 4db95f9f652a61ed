//! Lifecycle: DisableUser, ActivateUser, RemoveUser.

use super::UserManagementApi;
use crate::auth::principal::{Access, Scope};
use crate::domain::RequestId;
use crate::error::Violations;
use crate::grpc::{convert, principal};
use crate::proto::v1 as pb;
use crate::service::lifecycle::LifecycleChange;
use tonic::{Request, Response, Status};

/// Parses the fields shared by DisableUser and RemoveUser.
fn parse_change(
    account_id: &str,
    user_id: &str,
    reassignment: Option<&pb::Reassignment>,
    request_id: &str,
    validate_only: bool,
) -> Result<LifecycleChange, Status> {
    let mut v = Violations::new();
    convert::account_id(&mut v, account_id);
    let user_id = convert::id(&mut v, "user_id", user_id);
    let targets = convert::targets_from_proto(&mut v, reassignment);
    let request_id = v
        .check("request_id", RequestId::parse_optional(request_id))
        .flatten();
    v.into_result()?;
    Ok(LifecycleChange {
        user_id: user_id.unwrap_or_default(),
        targets,
        validate_only,
        request_id,
    })
}

pub(super) async fn disable_user(
    api: &UserManagementApi,
    request: Request<pb::DisableUserRequest>,
) -> Result<Response<pb::DisableUserResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let change = parse_change(
        &r.account_id,
        &r.user_id,
        r.reassignment.as_ref(),
        &r.request_id,
        r.validate_only,
    )?;
    let outcome = api.roster.lifecycle.disable_user(&grant, change).await?;
    Ok(Response::new(pb::DisableUserResponse {
        user: Some(convert::user(&outcome.user)),
        moved: Some(convert::counts(&outcome.moved)),
        seat_effect: Some(convert::seat_effect(&outcome.seat_effect)),
        job_id: outcome.job_id.clone().unwrap_or_default(),
        refusals: convert::refusals(&outcome.refusals),
    }))
}

pub(super) async fn activate_user(
    api: &UserManagementApi,
    request: Request<pb::ActivateUserRequest>,
) -> Result<Response<pb::ActivateUserResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let mut v = Violations::new();
    convert::account_id(&mut v, &r.account_id);
    let user_id = convert::id(&mut v, "user_id", &r.user_id);
    let request_id = v
        .check("request_id", RequestId::parse_optional(&r.request_id))
        .flatten();
    v.into_result()?;
    let outcome = api
        .roster
        .lifecycle
        .activate_user(
            &grant,
            &user_id.unwrap_or_default(),
            r.restore_records,
            r.validate_only,
            request_id,
        )
        .await?;
    Ok(Response::new(pb::ActivateUserResponse {
        user: Some(convert::user(&outcome.user)),
        seat_effect: Some(convert::seat_effect(&outcome.seat_effect)),
        restored: Some(convert::counts(&outcome.restored)),
        refusals: convert::refusals(&outcome.refusals),
    }))
}

pub(super) async fn remove_user(
    api: &UserManagementApi,
    request: Request<pb::RemoveUserRequest>,
) -> Result<Response<pb::RemoveUserResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let change = parse_change(
        &r.account_id,
        &r.user_id,
        r.reassignment.as_ref(),
        &r.request_id,
        r.validate_only,
    )?;
    let outcome = api.roster.lifecycle.remove_user(&grant, change).await?;
    Ok(Response::new(pb::RemoveUserResponse {
        user_id: outcome.user.id.clone(),
        moved: Some(convert::counts(&outcome.moved)),
        seat_effect: Some(convert::seat_effect(&outcome.seat_effect)),
        job_id: outcome.job_id.clone().unwrap_or_default(),
        refusals: convert::refusals(&outcome.refusals),
    }))
}
