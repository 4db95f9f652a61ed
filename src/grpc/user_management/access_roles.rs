//! Access roles: CreateAccessRole, GetAccessRole, ListAccessRoles,
//! UpdateAccessRole, DeleteAccessRole.

use super::UserManagementApi;
use crate::auth::principal::{Access, Scope};
use crate::domain::{RequestId, RoleName};
use crate::error::Violations;
use crate::grpc::{convert, principal};
use crate::proto::v1 as pb;
use crate::service::access_roles::{AccessRoleUpdate, HeldRole};
use tonic::{Request, Response, Status};

fn to_proto(held: &HeldRole) -> pb::AccessRole {
    convert::access_role(&held.role, held.user_count)
}

pub(super) async fn create_access_role(
    api: &UserManagementApi,
    request: Request<pb::CreateAccessRoleRequest>,
) -> Result<Response<pb::CreateAccessRoleResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let mut v = Violations::new();
    convert::account_id(&mut v, &r.account_id);
    let name = v.check("name", RoleName::parse(&r.name));
    let permissions =
        convert::permissions_from_proto(&mut v, "permissions", r.permissions.as_ref())
            .unwrap_or_default();
    let request_id = v
        .check("request_id", RequestId::parse_optional(&r.request_id))
        .flatten();
    let name = v.finish(name)?;
    let created = api
        .roster
        .access_roles
        .create_access_role(&grant, name, permissions, request_id)
        .await?;
    Ok(Response::new(pb::CreateAccessRoleResponse {
        access_role: Some(to_proto(&created)),
    }))
}

pub(super) async fn get_access_role(
    api: &UserManagementApi,
    request: Request<pb::GetAccessRoleRequest>,
) -> Result<Response<pb::GetAccessRoleResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let account_id = convert::account_id(&mut v, &r.account_id);
    let role_id = convert::id(&mut v, "access_role_id", &r.access_role_id);
    let role_id = v.finish(role_id)?;
    let grant = caller.authorize(&account_id, Access::Read)?;
    let held = api
        .roster
        .access_roles
        .get_access_role(&grant, &role_id)
        .await?;
    Ok(Response::new(pb::GetAccessRoleResponse {
        access_role: Some(to_proto(&held)),
    }))
}

pub(super) async fn list_access_roles(
    api: &UserManagementApi,
    request: Request<pb::ListAccessRolesRequest>,
) -> Result<Response<pb::ListAccessRolesResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let account_id = convert::account_id(&mut v, &r.account_id);
    v.into_result()?;
    let grant = caller.authorize(&account_id, Access::Read)?;
    let (roles, next_page_token) = api
        .roster
        .access_roles
        .list_access_roles(&grant, r.page_size, &r.page_token)
        .await?;
    Ok(Response::new(pb::ListAccessRolesResponse {
        access_roles: roles.iter().map(to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn update_access_role(
    api: &UserManagementApi,
    request: Request<pb::UpdateAccessRoleRequest>,
) -> Result<Response<pb::UpdateAccessRoleResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let mut v = Violations::new();
    convert::account_id(&mut v, &r.account_id);
    let role_id = convert::id(&mut v, "access_role_id", &r.access_role_id);
    if r.etag.is_empty() {
        v.add(
            "etag",
            "required: send the etag of the access role as last read",
        );
    }
    let name = r
        .name
        .as_deref()
        .and_then(|n| v.check("name", RoleName::parse(n)));
    let permissions =
        convert::permissions_from_proto(&mut v, "permissions", r.permissions.as_ref());
    let role_id = v.finish(role_id)?;
    let held = api
        .roster
        .access_roles
        .update_access_role(
            &grant,
            &role_id,
            AccessRoleUpdate {
                etag: r.etag,
                name,
                permissions,
            },
        )
        .await?;
    Ok(Response::new(pb::UpdateAccessRoleResponse {
        access_role: Some(to_proto(&held)),
    }))
}

pub(super) async fn delete_access_role(
    api: &UserManagementApi,
    request: Request<pb::DeleteAccessRoleRequest>,
) -> Result<Response<pb::DeleteAccessRoleResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let mut v = Violations::new();
    convert::account_id(&mut v, &r.account_id);
    let role_id = convert::id(&mut v, "access_role_id", &r.access_role_id);
    let replacement = convert::optional_id(&mut v, "replacement_role_id", &r.replacement_role_id);
    let role_id = v.finish(role_id)?;
    let moved_users = api
        .roster
        .access_roles
        .delete_access_role(&grant, &role_id, &r.etag, replacement.as_deref())
        .await?;
    Ok(Response::new(pb::DeleteAccessRoleResponse { moved_users }))
}
