//! Groups: CreateGroup, ListGroups, UpdateGroup, DeleteGroup.

use super::UserManagementApi;
use crate::auth::principal::{Access, Scope};
use crate::domain::GroupName;
use crate::error::Violations;
use crate::grpc::{convert, principal};
use crate::proto::v1 as pb;
use tonic::{Request, Response, Status};

pub(super) async fn create_group(
    api: &UserManagementApi,
    request: Request<pb::CreateGroupRequest>,
) -> Result<Response<pb::CreateGroupResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let mut v = Violations::new();
    convert::account_id(&mut v, &r.account_id);
    let name = v.check("name", GroupName::parse(&r.name));
    let name = v.finish(name)?;
    let group = api.roster.groups.create_group(&grant, name).await?;
    Ok(Response::new(pb::CreateGroupResponse {
        group: Some(convert::group(&group)),
    }))
}

pub(super) async fn list_groups(
    api: &UserManagementApi,
    request: Request<pb::ListGroupsRequest>,
) -> Result<Response<pb::ListGroupsResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let account_id = convert::account_id(&mut v, &r.account_id);
    v.into_result()?;
    let (groups, next_page_token) = api
        .roster
        .groups
        .list_groups(
            &caller.authorize(&account_id, Access::Read)?,
            r.page_size,
            &r.page_token,
        )
        .await?;
    Ok(Response::new(pb::ListGroupsResponse {
        groups: groups.iter().map(convert::group).collect(),
        next_page_token,
    }))
}

pub(super) async fn update_group(
    api: &UserManagementApi,
    request: Request<pb::UpdateGroupRequest>,
) -> Result<Response<pb::UpdateGroupResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let mut v = Violations::new();
    convert::account_id(&mut v, &r.account_id);
    let group_id = convert::id(&mut v, "group_id", &r.group_id);
    let name = v.check("name", GroupName::parse(&r.name));
    let (group_id, name) = v.finish((group_id, name))?;
    let group = api
        .roster
        .groups
        .rename_group(&grant, &group_id, name)
        .await?;
    Ok(Response::new(pb::UpdateGroupResponse {
        group: Some(convert::group(&group)),
    }))
}

pub(super) async fn delete_group(
    api: &UserManagementApi,
    request: Request<pb::DeleteGroupRequest>,
) -> Result<Response<pb::DeleteGroupResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let mut v = Violations::new();
    convert::account_id(&mut v, &r.account_id);
    let group_id = convert::id(&mut v, "group_id", &r.group_id);
    let to = convert::optional_id(&mut v, "move_users_to_group_id", &r.move_users_to_group_id);
    let group_id = v.finish(group_id)?;
    let moved_users = api
        .roster
        .groups
        .delete_group(&grant, &group_id, to.as_deref())
        .await?;
    Ok(Response::new(pb::DeleteGroupResponse { moved_users }))
}
