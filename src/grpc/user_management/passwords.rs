//! Passwords: VerifyPassword, ChangePassword, ResetPassword.

use super::UserManagementApi;
use crate::auth::principal::{Access, Principal, Scope};
use crate::domain::{Email, Password};
use crate::error::{Error, Violations};
use crate::grpc::{convert, principal};
use crate::proto::v1 as pb;
use tonic::{Request, Response, Status};

pub(super) async fn verify_password(
    api: &UserManagementApi,
    request: Request<pb::VerifyPasswordRequest>,
) -> Result<Response<pb::VerifyPasswordResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    // Who may ask comes before what was asked.
    let grant = caller.require_service_scope(Scope::PasswordsVerify)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let email = v.check("email", Email::parse(&r.email));
    check_password_given(&mut v, "password", &r.password);
    v.into_result()?;
    let email = email.ok_or_else(Error::internal)?;
    let user = api
        .roster
        .passwords
        .verify_password(&grant, &email, &r.password)
        .await?;
    Ok(Response::new(pb::VerifyPasswordResponse {
        user: Some(convert::user(&user)),
    }))
}

pub(super) async fn change_password(
    api: &UserManagementApi,
    request: Request<pb::ChangePasswordRequest>,
) -> Result<Response<pb::ChangePasswordResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    if !matches!(caller, Principal::User { .. }) {
        return Err(Error::permission_denied(
            "only a user can change their own password; services use ResetPassword",
        )
        .into());
    }
    let r = request.into_inner();
    let mut v = Violations::new();
    check_password_given(&mut v, "current_password", &r.current_password);
    let new = v.check("new_password", Password::parse(&r.new_password));
    v.into_result()?;
    let new = new.ok_or_else(Error::internal)?;
    let user = api
        .roster
        .passwords
        .change_password(&caller, &r.current_password, &new)
        .await?;
    Ok(Response::new(pb::ChangePasswordResponse {
        user: Some(convert::user(&user)),
    }))
}

pub(super) async fn reset_password(
    api: &UserManagementApi,
    request: Request<pb::ResetPasswordRequest>,
) -> Result<Response<pb::ResetPasswordResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let mut v = Violations::new();
    convert::account_id(&mut v, &r.account_id);
    let user_id = convert::id(&mut v, "user_id", &r.user_id);
    let new = v.check("new_password", Password::parse(&r.new_password));
    v.into_result()?;
    let (user_id, new) = user_id.zip(new).ok_or_else(Error::internal)?;
    let user = api
        .roster
        .passwords
        .reset_password(&grant, &user_id, &new)
        .await?;
    Ok(Response::new(pb::ResetPasswordResponse {
        user: Some(convert::user(&user)),
    }))
}

/// A password to compare: present and not absurdly long (older rules may
/// have allowed shorter ones, so the minimum is not checked here).
fn check_password_given(v: &mut Violations, field: &str, password: &str) {
    if password.is_empty() {
        v.add(field, "required");
    } else if password.chars().count() > Password::MAX_LEN {
        v.add(field, format!("at most {} characters", Password::MAX_LEN));
    }
}
