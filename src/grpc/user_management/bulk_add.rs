//! BulkAddUsers: parses the batch (every field named `users[i].…`) and
//! answers each user's outcome.

use std::collections::HashMap;

use super::UserManagementApi;
use crate::auth::principal::{Access, Scope};
use crate::domain::password::ImportedHash;
use crate::domain::{BulkMode, DisplayName, Email, Password, RequestId, Role};
use crate::error::Violations;
use crate::grpc::{convert, principal};
use crate::proto::v1 as pb;
use crate::service::bulk_add::{BulkAdd, BulkAddOutcome, Credential, MAX_BULK_ADD_USERS};
use crate::service::users::NewUser;
use tonic::{Request, Response, Status};

pub(super) async fn bulk_add_users(
    api: &UserManagementApi,
    request: Request<pb::BulkAddUsersRequest>,
) -> Result<Response<pb::BulkAddUsersResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let mut v = Violations::new();
    convert::account_id(&mut v, &r.account_id);
    if r.users.is_empty() || r.users.len() > MAX_BULK_ADD_USERS {
        v.add("users", format!("1 to {MAX_BULK_ADD_USERS} users"));
    }
    let mut users = Vec::with_capacity(r.users.len().min(MAX_BULK_ADD_USERS));
    let mut first_with_email: HashMap<String, usize> = HashMap::new();
    for (i, input) in r.users.iter().enumerate().take(MAX_BULK_ADD_USERS) {
        if let Some(user) = parse_user(&mut v, i, input) {
            if let Some(first) = first_with_email.insert(user.email.as_str().to_owned(), i) {
                v.add(
                    format!("users[{i}].email"),
                    format!("the same address as users[{first}].email"),
                );
            }
            users.push(user);
        }
    }
    let mode = match pb::BulkMode::try_from(r.mode) {
        Ok(pb::BulkMode::AllOrNothing) => BulkMode::AllOrNothing,
        Ok(_) => BulkMode::BestEffort,
        Err(_) => {
            v.add("mode", "unknown bulk mode");
            BulkMode::BestEffort
        }
    };
    let request_id = v
        .check("request_id", RequestId::parse_optional(&r.request_id))
        .flatten();
    v.into_result()?;
    let done = api
        .roster
        .users
        .bulk_add_users(
            &grant,
            BulkAdd {
                users,
                mode,
                validate_only: r.validate_only,
                request_id,
            },
        )
        .await?;
    let added_count = done.added_count() as i32;
    let results = done
        .outcomes
        .into_iter()
        .enumerate()
        .map(|(i, outcome)| {
            let index = i as i32;
            match outcome {
                BulkAddOutcome::Added { id, user } => pb::BulkAddUserResult {
                    index,
                    outcome: pb::UserOutcome::Done as i32,
                    user: Some(match user {
                        Some(mut user) if r.validate_only => pb::User {
                            etag: String::new(),
                            ..convert::take_user(&mut user)
                        },
                        Some(mut user) => convert::take_user(&mut user),
                        None => pb::User {
                            id,
                            ..Default::default()
                        },
                    }),
                    refusal: None,
                },
                BulkAddOutcome::Refused(refusal) => pb::BulkAddUserResult {
                    index,
                    outcome: pb::UserOutcome::Failed as i32,
                    user: None,
                    refusal: convert::refusals(std::slice::from_ref(&refusal)).pop(),
                },
                BulkAddOutcome::Skipped => pb::BulkAddUserResult {
                    index,
                    outcome: pb::UserOutcome::Skipped as i32,
                    user: None,
                    refusal: None,
                },
            }
        })
        .collect();
    Ok(Response::new(pb::BulkAddUsersResponse {
        results,
        seat_effect: Some(convert::seat_effect(&done.seat_effect)),
        added_count,
    }))
}

/// One user of the batch; None when a field is invalid (named in `v`).
fn parse_user(
    v: &mut Violations,
    i: usize,
    input: &pb::BulkAddUserInput,
) -> Option<NewUser<Credential>> {
    let field = |name| UserField(i, name);
    let name = v.check(field("name"), DisplayName::parse(&input.name));
    let email = v.check(field("email"), Email::parse(&input.email));
    let password = match (input.password.is_empty(), input.password_hash.is_empty()) {
        (false, true) => v
            .check(field("password"), Password::parse(&input.password))
            .map(Credential::Password),
        (true, false) => v
            .check(
                field("password_hash"),
                ImportedHash::parse(&input.password_hash),
            )
            .map(Credential::Hash),
        (true, true) => {
            v.add(
                field("password"),
                "a password or a password_hash is required",
            );
            None
        }
        (false, false) => {
            v.add(
                field("password_hash"),
                "send a password or a password_hash, not both",
            );
            None
        }
    };
    let group_id = convert::optional_id(v, field("group_id"), &input.group_id);
    let role = convert::role_from_proto(v, field("role"), input.role).unwrap_or(Role::Member);
    let permissions =
        convert::permissions_from_proto(v, field("permissions"), input.permissions.as_ref())
            .map(|p| p.resolve(role));
    let access_role_id = convert::optional_id(v, field("access_role_id"), &input.access_role_id);
    if access_role_id.is_some() && permissions.is_some() {
        v.add(
            field("permissions"),
            "a user with an access role takes its rights: send access_role_id or permissions, not both",
        );
    }
    Some(NewUser {
        name: name?,
        email: email?,
        password: password?,
        group_id,
        role,
        permissions,
        access_role_id,
    })
}

/// `users[i].name`: written out only if a violation names it.
#[derive(Clone, Copy)]
struct UserField(usize, &'static str);

impl std::fmt::Display for UserField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "users[{}].{}", self.0, self.1)
    }
}
