//! `roster.v1.UserManagementService`: thin adapters over the use cases.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{bearer, convert, principal};
use crate::auth::Principal;
use crate::auth::principal::{Access, Scope};
use crate::domain::records::RecordKind;
use crate::domain::{
    BillingCycle, DisplayName, Email, GroupName, Password, Plan, RequestId, Role, SeatPolicy,
};
use crate::error::{Error, Violations};
use crate::proto::v1 as pb;
use crate::proto::v1::user_management_service_server::UserManagementService;
use crate::service::Roster;
use crate::service::accounts::NewAccount;
use crate::service::auth::{Authenticator, Bearer};
use crate::service::jobs::{BulkRequest, JobView, MAX_BULK_USERS};
use crate::service::lifecycle::{Change, LifecycleChange};
use crate::service::records::{MAX_RECORDS_PER_CALL, RecordInput};
use crate::service::users::{ListUsers, NewUser, UserUpdate};
use tokio_stream::StreamExt as _;

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Largest seats_purchased accepted on input.
pub const MAX_SEATS: i32 = 100_000;

pub struct UserManagementApi {
    pub roster: Roster,
    pub auth: Authenticator,
}

/// Parses a new user's fields; `prefix` is the path of the message holding
/// them ("" for AddUserRequest, "admin." for CreateAccountRequest.admin).
fn parse_new_user(
    v: &mut Violations,
    prefix: &str,
    name: &str,
    email: &str,
    password: &str,
) -> (Option<DisplayName>, Option<Email>, Option<Password>) {
    (
        v.check(&format!("{prefix}name"), DisplayName::parse(name)),
        v.check(&format!("{prefix}email"), Email::parse(email)),
        v.check(&format!("{prefix}password"), Password::parse(password)),
    )
}

fn parse_id(v: &mut Violations, field: &str, value: &str) -> Option<String> {
    if value.is_empty() {
        v.add(field, "required");
        None
    } else if value.len() > 64 || uuid::Uuid::parse_str(value).is_err() {
        v.add(field, "must be a UUID");
        None
    } else {
        Some(value.to_owned())
    }
}

/// An account id field: empty means "the caller's own".
fn parse_account_id(v: &mut Violations, value: &str) -> String {
    if !value.is_empty() && uuid::Uuid::parse_str(value).is_err() {
        v.add("account_id", "must be a UUID or empty");
    }
    value.to_owned()
}

fn parse_optional_group(v: &mut Violations, value: &str) -> Option<String> {
    if value.is_empty() {
        None
    } else {
        parse_id(v, "group_id", value)
    }
}

/// Parses the fields shared by DisableUser and RemoveUser.
fn parse_change(
    account_id: &str,
    user_id: &str,
    reassignment: Option<&pb::Reassignment>,
    request_id: &str,
    validate_only: bool,
) -> Result<LifecycleChange, Status> {
    let mut v = Violations::new();
    parse_account_id(&mut v, account_id);
    let user_id = parse_id(&mut v, "user_id", user_id);
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

/// Parses the fields shared by both bulk calls.
fn parse_bulk(
    account_id: &str,
    user_ids: &[String],
    reassignment: Option<&pb::Reassignment>,
    mode: i32,
    request_id: &str,
    validate_only: bool,
    change: Change,
) -> Result<BulkRequest, Status> {
    let mut v = Violations::new();
    parse_account_id(&mut v, account_id);
    if user_ids.is_empty() || user_ids.len() > MAX_BULK_USERS {
        v.add("user_ids", format!("1 to {MAX_BULK_USERS} user ids"));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, id) in user_ids.iter().enumerate().take(MAX_BULK_USERS) {
        if parse_id(&mut v, &format!("user_ids[{i}]"), id).is_some() && !seen.insert(id.as_str()) {
            v.add(&format!("user_ids[{i}]"), "listed twice");
        }
    }
    let targets = convert::targets_from_proto(&mut v, reassignment);
    let all_or_nothing = match pb::BulkMode::try_from(mode) {
        Ok(pb::BulkMode::AllOrNothing) => true,
        Ok(_) => false,
        Err(_) => {
            v.add("mode", "unknown bulk mode");
            false
        }
    };
    let request_id = v
        .check("request_id", RequestId::parse_optional(request_id))
        .flatten();
    v.into_result()?;
    Ok(BulkRequest {
        change,
        user_ids: user_ids.to_vec(),
        targets,
        all_or_nothing,
        validate_only,
        request_id,
    })
}

/// Turns successive views of a job into progress messages.
fn updates_of(
    mut views: tokio::sync::mpsc::Receiver<crate::error::Result<JobView>>,
) -> impl tokio_stream::Stream<Item = Result<pb::JobUpdate, Status>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let mut previous: Option<JobView> = None;
        while let Some(view) = views.recv().await {
            match view {
                Ok(view) => {
                    for update in convert::job_updates(previous.as_ref(), &view) {
                        if tx.send(Ok(update)).await.is_err() {
                            return;
                        }
                    }
                    previous = Some(view);
                }
                Err(e) => {
                    let _ = tx.send(Err(Status::from(e))).await;
                    return;
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

impl UserManagementApi {
    /// Starts (or finds, by request_id) a bulk job and streams its progress;
    /// with validate_only, one final message with what would happen.
    async fn job_stream(
        &self,
        caller: &crate::auth::Principal,
        account_id: &str,
        bulk: BulkRequest,
    ) -> Result<ResponseStream<pb::JobUpdate>, Status> {
        let validate_only = bulk.validate_only;
        let view = self.roster.start_bulk(caller, account_id, bulk).await?;
        if validate_only {
            let update = pb::JobUpdate {
                job: Some(convert::job(&view, true)),
                r#final: true,
                moved: Some(convert::counts(&view.moved())),
                records_total: view.job.records_total,
                state: convert::job(&view, false).state,
                ..Default::default()
            };
            return Ok(Box::pin(tokio_stream::once(Ok(update))));
        }
        let views = self
            .roster
            .watch_job(caller, &view.job.account_id, &view.job.id)
            .await?;
        Ok(Box::pin(updates_of(views)))
    }
}

#[tonic::async_trait]
impl UserManagementService for UserManagementApi {
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::CreateAccountResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        // Authorization comes before validation: an unauthorized caller
        // learns nothing about what a valid request looks like.
        caller.require_service_scope(Scope::AccountsCreate)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let name = v.check("name", DisplayName::parse(&r.name));
        let plan = convert::plan_from_proto(&mut v, "plan", r.plan).unwrap_or(Plan::Trial);
        let cycle = convert::cycle_from_proto(&mut v, "billing_cycle", r.billing_cycle)
            .unwrap_or(BillingCycle::Monthly);
        let policy = convert::policy_from_proto(&mut v, "seat_policy", r.seat_policy)
            .unwrap_or(SeatPolicy::AutoExpand);
        let seats = match r.seats_purchased {
            0 => 1,
            n if (1..=MAX_SEATS).contains(&n) => n,
            _ => {
                v.add(
                    "seats_purchased",
                    format!("must be between 0 and {MAX_SEATS}"),
                );
                1
            }
        };
        let currency = if r.currency.is_empty() {
            "USD".to_owned()
        } else {
            r.currency.clone()
        };
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            v.add(
                "currency",
                "must be an ISO 4217 code of three upper-case letters",
            );
        }
        let enterprise_price = match (plan, r.enterprise_seat_price_minor) {
            (Plan::Enterprise, p) if p > 0 => Some(p),
            (Plan::Enterprise, _) => {
                v.add(
                    "enterprise_seat_price_minor",
                    "required (> 0) for the ENTERPRISE plan",
                );
                None
            }
            (_, 0) => None,
            (_, p) if p < 0 => {
                v.add("enterprise_seat_price_minor", "must not be negative");
                None
            }
            (_, p) => Some(p),
        };
        let admin = r.admin.unwrap_or_default();
        let (admin_name, admin_email, admin_password) =
            parse_new_user(&mut v, "admin.", &admin.name, &admin.email, &admin.password);
        let request_id = v
            .check("request_id", RequestId::parse_optional(&r.request_id))
            .flatten();
        v.into_result()?;
        let (Some(name), Some(admin_name), Some(email), Some(password)) =
            (name, admin_name, admin_email, admin_password)
        else {
            return Err(Error::internal().into());
        };
        let created = self
            .roster
            .create_account(
                &caller,
                NewAccount {
                    name,
                    plan,
                    cycle,
                    policy,
                    seats_purchased: seats,
                    currency,
                    enterprise_seat_price_minor: enterprise_price,
                    admin: NewUser {
                        name: admin_name,
                        email,
                        password,
                        group_id: None,
                        role: Role::Admin,
                        permissions: None,
                    },
                    request_id,
                },
            )
            .await?;
        Ok(Response::new(pb::CreateAccountResponse {
            account: Some(convert::account(&created.account, &self.roster.prices)),
            admin: Some(convert::user(&created.admin)),
        }))
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::GetAccountResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        v.into_result()?;
        let account = self.roster.get_account(&caller, &account_id).await?;
        Ok(Response::new(pb::GetAccountResponse {
            account: Some(convert::account(&account, &self.roster.prices)),
        }))
    }

    async fn create_group(
        &self,
        request: Request<pb::CreateGroupRequest>,
    ) -> Result<Response<pb::CreateGroupResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        let name = v.check("name", GroupName::parse(&r.name));
        v.into_result()?;
        let Some(name) = name else {
            return Err(Error::internal().into());
        };
        let group = self.roster.create_group(&caller, &account_id, name).await?;
        Ok(Response::new(pb::CreateGroupResponse {
            group: Some(convert::group(&group)),
        }))
    }

    async fn list_groups(
        &self,
        request: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        v.into_result()?;
        let (groups, next_page_token) = self
            .roster
            .list_groups(&caller, &account_id, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(pb::ListGroupsResponse {
            groups: groups.iter().map(convert::group).collect(),
            next_page_token,
        }))
    }

    async fn add_user(
        &self,
        request: Request<pb::AddUserRequest>,
    ) -> Result<Response<pb::AddUserResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        let (name, email, password) = parse_new_user(&mut v, "", &r.name, &r.email, &r.password);
        let group_id = parse_optional_group(&mut v, &r.group_id);
        let role = convert::role_from_proto(&mut v, "role", r.role).unwrap_or(Role::Member);
        let permissions =
            convert::permissions_from_proto(&mut v, "permissions", r.permissions.as_ref())
                .map(|p| p.resolve(role));
        let request_id = v
            .check("request_id", RequestId::parse_optional(&r.request_id))
            .flatten();
        v.into_result()?;
        let (Some(name), Some(email), Some(password)) = (name, email, password) else {
            return Err(Error::internal().into());
        };
        let added = self
            .roster
            .add_user(
                &caller,
                &account_id,
                NewUser {
                    name,
                    email,
                    password,
                    group_id,
                    role,
                    permissions,
                },
                request_id,
            )
            .await?;
        Ok(Response::new(pb::AddUserResponse {
            user: Some(convert::user(&added.user)),
            seat_effect: Some(convert::seat_effect(&added.seat_effect)),
        }))
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::GetUserResponse>, Status> {
        let bearer = bearer(&self.auth, &request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        let user_id = parse_id(&mut v, "user_id", &r.user_id).unwrap_or_default();
        if let Err(invalid) = v.into_result() {
            // A revoked token hears UNAUTHENTICATED first, as on every RPC.
            self.auth.principal(bearer).await?;
            return Err(invalid.into());
        }
        let user = match &bearer {
            Bearer::User(claims) if claims.acts_on(&account_id) => {
                self.roster.get_user_as(claims, &user_id).await?
            }
            _ => {
                let caller = self.auth.principal(bearer).await?;
                self.roster.get_user(&caller, &account_id, &user_id).await?
            }
        };
        Ok(Response::new(pb::GetUserResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let bearer = bearer(&self.auth, &request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        let status = convert::status_from_proto(&mut v, "status", r.status);
        let role = convert::role_from_proto(&mut v, "role", r.role);
        let group_id = parse_optional_group(&mut v, &r.group_id);
        let query = r.query.trim();
        if query.chars().count() > 200 {
            v.add("query", "must be at most 200 characters");
        }
        if let Err(invalid) = v.into_result() {
            // A revoked token hears UNAUTHENTICATED first, as on every RPC.
            self.auth.principal(bearer).await?;
            return Err(invalid.into());
        }
        let request = ListUsers {
            status,
            group_id,
            role,
            query: (!query.is_empty()).then(|| query.to_owned()),
            page_size: r.page_size,
            page_token: r.page_token,
        };
        let page = match &bearer {
            Bearer::User(claims) if claims.acts_on(&account_id) && request.query.is_none() => {
                self.roster.list_users_as(claims, request).await?
            }
            _ => {
                let caller = self.auth.principal(bearer).await?;
                self.roster
                    .list_users(&caller, &account_id, request)
                    .await?
            }
        };
        Ok(Response::new(pb::ListUsersResponse {
            users: page.users.iter().map(convert::user).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::UpdateUserResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        let user_id = parse_id(&mut v, "user_id", &r.user_id);
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
            .map(|g| parse_optional_group(&mut v, g));
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
        v.into_result()?;
        let user = self
            .roster
            .update_user(
                &caller,
                &account_id,
                &user_id.unwrap_or_default(),
                UserUpdate {
                    etag: r.etag,
                    name,
                    group_id,
                    role,
                    permissions,
                },
            )
            .await?;
        Ok(Response::new(pb::UpdateUserResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn disable_user(
        &self,
        request: Request<pb::DisableUserRequest>,
    ) -> Result<Response<pb::DisableUserResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
        let change = parse_change(
            &r.account_id,
            &r.user_id,
            r.reassignment.as_ref(),
            &r.request_id,
            r.validate_only,
        )?;
        let outcome = self
            .roster
            .disable_user(&caller, &r.account_id, change)
            .await?;
        Ok(Response::new(pb::DisableUserResponse {
            user: Some(convert::user(&outcome.user)),
            moved: Some(convert::counts(&outcome.moved)),
            seat_effect: Some(convert::seat_effect(&outcome.seat_effect)),
            job_id: outcome.job_id.clone().unwrap_or_default(),
            refusals: convert::refusals(&outcome.refusals),
        }))
    }

    async fn activate_user(
        &self,
        request: Request<pb::ActivateUserRequest>,
    ) -> Result<Response<pb::ActivateUserResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        let user_id = parse_id(&mut v, "user_id", &r.user_id);
        let request_id = v
            .check("request_id", RequestId::parse_optional(&r.request_id))
            .flatten();
        v.into_result()?;
        let outcome = self
            .roster
            .activate_user(
                &caller,
                &account_id,
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

    async fn remove_user(
        &self,
        request: Request<pb::RemoveUserRequest>,
    ) -> Result<Response<pb::RemoveUserResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
        let change = parse_change(
            &r.account_id,
            &r.user_id,
            r.reassignment.as_ref(),
            &r.request_id,
            r.validate_only,
        )?;
        let outcome = self
            .roster
            .remove_user(&caller, &r.account_id, change)
            .await?;
        Ok(Response::new(pb::RemoveUserResponse {
            user_id: outcome.user.id.clone(),
            moved: Some(convert::counts(&outcome.moved)),
            seat_effect: Some(convert::seat_effect(&outcome.seat_effect)),
            job_id: outcome.job_id.clone().unwrap_or_default(),
            refusals: convert::refusals(&outcome.refusals),
        }))
    }

    type BulkDisableUsersStream = ResponseStream<pb::BulkDisableUsersResponse>;

    async fn bulk_disable_users(
        &self,
        request: Request<pb::BulkDisableUsersRequest>,
    ) -> Result<Response<Self::BulkDisableUsersStream>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
        let bulk = parse_bulk(
            &r.account_id,
            &r.user_ids,
            r.reassignment.as_ref(),
            r.mode,
            &r.request_id,
            r.validate_only,
            Change::Disable,
        )?;
        let updates = self.job_stream(&caller, &r.account_id, bulk).await?;
        Ok(Response::new(Box::pin(updates.map(|u| {
            u.map(|update| pb::BulkDisableUsersResponse {
                update: Some(update),
            })
        }))))
    }

    type BulkRemoveUsersStream = ResponseStream<pb::BulkRemoveUsersResponse>;

    async fn bulk_remove_users(
        &self,
        request: Request<pb::BulkRemoveUsersRequest>,
    ) -> Result<Response<Self::BulkRemoveUsersStream>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
        let bulk = parse_bulk(
            &r.account_id,
            &r.user_ids,
            r.reassignment.as_ref(),
            r.mode,
            &r.request_id,
            r.validate_only,
            Change::Remove,
        )?;
        let updates = self.job_stream(&caller, &r.account_id, bulk).await?;
        Ok(Response::new(Box::pin(updates.map(|u| {
            u.map(|update| pb::BulkRemoveUsersResponse {
                update: Some(update),
            })
        }))))
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::GetJobResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        let job_id = parse_id(&mut v, "job_id", &r.job_id);
        v.into_result()?;
        let view = self
            .roster
            .get_job(&caller, &account_id, &job_id.unwrap_or_default())
            .await?;
        Ok(Response::new(pb::GetJobResponse {
            job: Some(convert::job(&view, true)),
        }))
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        v.into_result()?;
        let (jobs, next_page_token) = self
            .roster
            .list_jobs(&caller, &account_id, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(pb::ListJobsResponse {
            jobs: jobs
                .into_iter()
                .map(|job| {
                    convert::job(
                        &JobView {
                            job,
                            users: Vec::new(),
                        },
                        false,
                    )
                })
                .collect(),
            next_page_token,
        }))
    }

    type WatchJobStream = ResponseStream<pb::WatchJobResponse>;

    async fn watch_job(
        &self,
        request: Request<pb::WatchJobRequest>,
    ) -> Result<Response<Self::WatchJobStream>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        let job_id = parse_id(&mut v, "job_id", &r.job_id);
        v.into_result()?;
        let views = self
            .roster
            .watch_job(&caller, &account_id, &job_id.unwrap_or_default())
            .await?;
        Ok(Response::new(Box::pin(updates_of(views).map(|u| {
            u.map(|update| pb::WatchJobResponse {
                update: Some(update),
            })
        }))))
    }

    async fn cancel_job(
        &self,
        request: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        let job_id = parse_id(&mut v, "job_id", &r.job_id);
        v.into_result()?;
        let view = self
            .roster
            .cancel_job(&caller, &account_id, &job_id.unwrap_or_default())
            .await?;
        Ok(Response::new(pb::CancelJobResponse {
            job: Some(convert::job(&view, true)),
        }))
    }

    async fn register_work_records(
        &self,
        request: Request<pb::RegisterWorkRecordsRequest>,
    ) -> Result<Response<pb::RegisterWorkRecordsResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        caller.authorize(&r.account_id, Access::Write(Scope::RecordsWrite))?;
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        if r.records.is_empty() || r.records.len() > MAX_RECORDS_PER_CALL {
            v.add(
                "records",
                format!("1 to {MAX_RECORDS_PER_CALL} records per call"),
            );
        }
        let mut records = Vec::with_capacity(r.records.len());
        let mut seen = std::collections::HashSet::new();
        for (i, record) in r.records.iter().enumerate().take(MAX_RECORDS_PER_CALL) {
            let field = |name: &str| format!("records[{i}].{name}");
            let kind = convert::record_kind_from_proto(record.kind);
            if kind.is_none() {
                v.add(&field("kind"), "required: a record kind");
            }
            let external_id = record.external_id.trim();
            if external_id.is_empty() || external_id.chars().count() > 128 {
                v.add(&field("external_id"), "1 to 128 characters");
            }
            let owner = convert::uuid_field(&mut v, &field("owner_user_id"), &record.owner_user_id);
            let parent_kind = convert::record_kind_from_proto(record.parent_kind);
            let parent = match (kind, parent_kind) {
                (Some(RecordKind::Conversation), Some(p)) if RecordKind::PARENTS.contains(&p) => {
                    if record.parent_external_id.trim().is_empty() {
                        v.add(&field("parent_external_id"), "required for conversations");
                    }
                    Some((p, record.parent_external_id.trim().to_owned()))
                }
                (Some(RecordKind::Conversation), _) => {
                    v.add(
                        &field("parent_kind"),
                        "conversations attach to a LEAD or CONTACT",
                    );
                    None
                }
                (_, None) if record.parent_external_id.is_empty() => None,
                _ => {
                    v.add(&field("parent_kind"), "only conversations have a parent");
                    None
                }
            };
            if let (Some(kind), Some(owner)) = (kind, owner) {
                if !seen.insert((kind, external_id.to_owned())) {
                    v.add(&field("external_id"), "listed twice in this call");
                }
                records.push(RecordInput {
                    kind,
                    external_id: external_id.to_owned(),
                    owner_user_id: owner,
                    parent,
                });
            }
        }
        v.into_result()?;
        let registered = self
            .roster
            .register_records(&caller, &account_id, records)
            .await?;
        Ok(Response::new(pb::RegisterWorkRecordsResponse {
            created: registered.created,
            updated: registered.updated,
        }))
    }

    async fn list_work_records(
        &self,
        request: Request<pb::ListWorkRecordsRequest>,
    ) -> Result<Response<pb::ListWorkRecordsResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        let user_id = parse_id(&mut v, "user_id", &r.user_id);
        let kind = convert::record_kind_from_proto(r.kind);
        if kind.is_none() {
            v.add("kind", "required: a record kind");
        }
        v.into_result()?;
        let (Some(user_id), Some(kind)) = (user_id, kind) else {
            return Err(Error::internal().into());
        };
        let (rows, next_page_token) = self
            .roster
            .list_records(
                &caller,
                &account_id,
                &user_id,
                kind,
                r.page_size,
                &r.page_token,
            )
            .await?;
        Ok(Response::new(pb::ListWorkRecordsResponse {
            records: rows.iter().map(convert::work_record).collect(),
            next_page_token,
        }))
    }

    async fn count_work_records(
        &self,
        request: Request<pb::CountWorkRecordsRequest>,
    ) -> Result<Response<pb::CountWorkRecordsResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        let user_id = parse_id(&mut v, "user_id", &r.user_id);
        v.into_result()?;
        let counts = self
            .roster
            .count_records(&caller, &account_id, &user_id.unwrap_or_default())
            .await?;
        Ok(Response::new(pb::CountWorkRecordsResponse {
            counts: Some(convert::counts(&counts)),
        }))
    }

    type StreamEventsStream = ResponseStream<pb::StreamEventsResponse>;

    async fn stream_events(
        &self,
        request: Request<pb::StreamEventsRequest>,
    ) -> Result<Response<Self::StreamEventsStream>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        v.into_result()?;
        let events = self
            .roster
            .stream_events(&caller, &account_id, r.after_sequence, r.follow)
            .await?;
        let stream = tokio_stream::wrappers::ReceiverStream::new(events).map(|item| {
            item.map(|row| pb::StreamEventsResponse {
                event: Some(convert::event(&row)),
            })
            .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn verify_password(
        &self,
        request: Request<pb::VerifyPasswordRequest>,
    ) -> Result<Response<pb::VerifyPasswordResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        // Who may ask comes before what was asked.
        caller.require_service_scope(Scope::PasswordsVerify)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let email = v.check("email", Email::parse(&r.email));
        check_password_given(&mut v, "password", &r.password);
        v.into_result()?;
        let email = email.ok_or_else(Error::internal)?;
        let user = self
            .roster
            .verify_password(&caller, &email, &r.password)
            .await?;
        Ok(Response::new(pb::VerifyPasswordResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
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
        let user = self
            .roster
            .change_password(&caller, &r.current_password, &new)
            .await?;
        Ok(Response::new(pb::ChangePasswordResponse {
            user: Some(convert::user(&user)),
        }))
    }

    async fn reset_password(
        &self,
        request: Request<pb::ResetPasswordRequest>,
    ) -> Result<Response<pb::ResetPasswordResponse>, Status> {
        let caller = principal(&self.auth, &request).await?;
        let r = request.into_inner();
        caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
        let mut v = Violations::new();
        let account_id = parse_account_id(&mut v, &r.account_id);
        let user_id = parse_id(&mut v, "user_id", &r.user_id);
        let new = v.check("new_password", Password::parse(&r.new_password));
        v.into_result()?;
        let (user_id, new) = user_id.zip(new).ok_or_else(Error::internal)?;
        let user = self
            .roster
            .reset_password(&caller, &account_id, &user_id, &new)
            .await?;
        Ok(Response::new(pb::ResetPasswordResponse {
            user: Some(convert::user(&user)),
        }))
    }
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
