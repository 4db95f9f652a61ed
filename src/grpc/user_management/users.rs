//! Users: AddUser, GetUser, ListUsers, UpdateUser, ChangeUserEmail.

use super::{UserManagementApi, parse_new_user};
use crate::auth::principal::{Access, Scope};
use crate::domain::{DisplayName, Email, RequestId, Role};
use crate::error::Violations;
use crate::grpc::{bearer, convert, principal};
use crate::proto::v1 as pb;
use crate::service::auth::Bearer;
use crate::service::user_list::ListUsers;
use crate::service::users::{NewUser, UserUpdate};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub(super) async fn add_user(
    api: &UserManagementApi,
    request: Request<pb::AddUserRequest>,
) -> Result<Response<pb::AddUserResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let mut v = Violations::new();
    convert::account_id(&mut v, &r.account_id);
    let (name, email, password) = parse_new_user(&mut v, "", &r.name, &r.email, &r.password);
    let group_id = convert::optional_id(&mut v, "group_id", &r.group_id);
    let role = convert::role_from_proto(&mut v, "role", r.role).unwrap_or(Role::Member);
    let permissions =
        convert::permissions_from_proto(&mut v, "permissions", r.permissions.as_ref())
            .map(|p| p.resolve(role));
    let access_role_id = convert::optional_id(&mut v, "access_role_id", &r.access_role_id);
    if access_role_id.is_some() && permissions.is_some() {
        v.add(
            "permissions",
            "a user with an access role takes its rights: send access_role_id or permissions, not both",
        );
    }
    let request_id = v
        .check("request_id", RequestId::parse_optional(&r.request_id))
        .flatten();
    let (name, email, password) = v.finish((name, email, password))?;
    let user = NewUser {
        name,
        email,
        password,
        group_id,
        role,
        permissions,
        access_role_id,
    };
    if r.validate_only {
        let preview = api.roster.users.preview_add_user(&grant, user).await?;
        return Ok(Response::new(pb::AddUserResponse {
            user: Some(pb::User {
                etag: String::new(),
                ..convert::user(&preview.user)
            }),
            seat_effect: Some(convert::seat_effect(&preview.seat_effect)),
            refusals: convert::refusals(&preview.refusals),
        }));
    }
    let added = api.roster.users.add_user(&grant, user, request_id).await?;
    Ok(Response::new(pb::AddUserResponse {
        user: Some(convert::user(&added.user)),
        seat_effect: Some(convert::seat_effect(&added.seat_effect)),
        refusals: Vec::new(),
    }))
}

pub(super) async fn get_user(
    api: &UserManagementApi,
    request: Request<pb::GetUserRequest>,
) -> Result<Response<pb::GetUserResponse>, Status> {
    let bearer = bearer(&api.auth, &request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let account_id = convert::account_id(&mut v, &r.account_id);
    let user_id = convert::id(&mut v, "user_id", &r.user_id).unwrap_or_default();
    if let Err(invalid) = v.into_result() {
        // A revoked token hears UNAUTHENTICATED first, as on every RPC.
        api.auth.principal(bearer).await?;
        return Err(invalid.into());
    }
    let mut user = match &bearer {
        Bearer::User(claims) if claims.acts_on(&account_id) => {
            api.roster.users.get_user_as(claims, &user_id).await?
        }
        _ => {
            let caller = api.auth.principal(bearer).await?;
            api.roster
                .users
                .get_user(&caller.authorize(&account_id, Access::Read)?, &user_id)
                .await?
        }
    };
    Ok(Response::new(pb::GetUserResponse {
        user: Some(convert::take_user(&mut user)),
    }))
}

pub(super) async fn list_users(
    api: &UserManagementApi,
    request: Request<pb::ListUsersRequest>,
) -> Result<Response<pb::ListUsersResponse>, Status> {
    let bearer = bearer(&api.auth, &request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let account_id = convert::account_id(&mut v, &r.account_id);
    let status = convert::status_from_proto(&mut v, "status", r.status);
    let role = convert::role_from_proto(&mut v, "role", r.role);
    let group_id = convert::optional_id(&mut v, "group_id", &r.group_id);
    let order = convert::user_order_from_proto(&mut v, r.order_by);
    let query = r.query.trim();
    if query.chars().count() > 200 {
        v.add("query", "must be at most 200 characters");
    }
    if let Err(invalid) = v.into_result() {
        // A revoked token hears UNAUTHENTICATED first, as on every RPC.
        api.auth.principal(bearer).await?;
        return Err(invalid.into());
    }
    let request = ListUsers {
        status,
        group_id,
        role,
        query: (!query.is_empty()).then(|| query.to_owned()),
        order,
        page_size: r.page_size,
        page_token: r.page_token,
    };
    let mut page = match &bearer {
        Bearer::User(claims) if claims.acts_on(&account_id) => {
            api.roster.users.list_users_as(claims, request).await?
        }
        _ => {
            let caller = api.auth.principal(bearer).await?;
            api.roster
                .users
                .list_users(&caller.authorize(&account_id, Access::Read)?, request)
                .await?
        }
    };
    let users = match Arc::get_mut(&mut page.users) {
        // A page not kept for later calls: its rows' texts move.
        Some(rows) => rows.iter_mut().map(convert::take_user).collect(),
        None => page.users.iter().map(convert::user).collect(),
    };
    Ok(Response::new(pb::ListUsersResponse {
        users,
        next_page_token: page.next_page_token,
    }))
}

pub(super) async fn update_user(
    api: &UserManagementApi,
    request: Request<pb::UpdateUserRequest>,
) -> Result<Response<pb::UpdateUserResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let mut v = Violations::new();
    convert::account_id(&mut v, &r.account_id);
    let user_id = convert::id(&mut v, "user_id", &r.user_id);
    if r.etag.is_empty() {
        v.add("etag", "required: send the etag of the user as last read");
    }
    let name = r
        .name
        .as_deref()
        .and_then(|n| v.check("name", DisplayName::parse(n)));
    let group_id = r
        .group_id
        .as_deref()
        .map(|g| convert::optional_id(&mut v, "group_id", g));
    let role = r.role.and_then(|role| {
        let parsed = convert::role_from_proto(&mut v, "role", role);
        if parsed.is_none() {
            v.add("role", "must be ROLE_ADMIN or ROLE_MEMBER when set");
        }
        parsed
    });
    // Unset levels resolve in the service, against the new role or the
    // role the user already has.
    let permissions =
        convert::permissions_from_proto(&mut v, "permissions", r.permissions.as_ref());
    let access_role_id = r
        .access_role_id
        .as_deref()
        .map(|id| convert::optional_id(&mut v, "access_role_id", id));
    if access_role_id.is_some() && permissions.is_some() {
        v.add(
            "permissions",
            "a user with an access role takes its rights: send access_role_id or permissions, not both",
        );
    }
    v.into_result()?;
    let user = api
        .roster
        .users
        .update_user(
            &grant,
            &user_id.unwrap_or_default(),
            UserUpdate {
                etag: r.etag,
                name,
                group_id,
                role,
                permissions,
                access_role_id,
            },
        )
        .await?;
    Ok(Response::new(pb::UpdateUserResponse {
        user: Some(convert::user(&user)),
    }))
}

pub(super) async fn change_user_email(
    api: &UserManagementApi,
    request: Request<pb::ChangeUserEmailRequest>,
) -> Result<Response<pb::ChangeUserEmailResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let mut v = Violations::new();
    convert::account_id(&mut v, &r.account_id);
    let user_id = convert::id(&mut v, "user_id", &r.user_id);
    if r.etag.is_empty() {
        v.add("etag", "required: send the etag of the user as last read");
    }
    let email = v.check("email", Email::parse(&r.email));
    let (user_id, email) = v.finish((user_id, email))?;
    let user = api
        .roster
        .users
        .change_user_email(&grant, &user_id, &r.etag, email)
        .await?;
    Ok(Response::new(pb::ChangeUserEmailResponse {
        user: Some(convert::user(&user)),
    }))
}
