//! `roster.v1.UserManagementService`: thin adapters over the use cases,
//! one file per area; the trait impl below only routes each RPC to its file.

mod access_roles;
mod accounts;
mod bulk_add;
mod events;
mod groups;
mod jobs;
mod lifecycle;
mod passwords;
mod records;
mod users;

use crate::error::Violations;
use crate::proto::v1::user_management_service_server::UserManagementService;
use crate::service::Roster;
use crate::service::auth::Authenticator;
use std::pin::Pin;
use tokio_stream::Stream;

use tonic::{Request, Response, Status};

use crate::domain::{DisplayName, Email, Password};
use crate::proto::v1 as pb;

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
        v.check(format!("{prefix}name"), DisplayName::parse(name)),
        v.check(format!("{prefix}email"), Email::parse(email)),
        v.check(format!("{prefix}password"), Password::parse(password)),
    )
}

#[tonic::async_trait]
impl UserManagementService for UserManagementApi {
    type BulkDisableUsersStream = ResponseStream<pb::BulkDisableUsersResponse>;
    type BulkRemoveUsersStream = ResponseStream<pb::BulkRemoveUsersResponse>;
    type WatchJobStream = ResponseStream<pb::WatchJobResponse>;
    type StreamEventsStream = ResponseStream<pb::StreamEventsResponse>;
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::CreateAccountResponse>, Status> {
        accounts::create_account(self, request).await
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::GetAccountResponse>, Status> {
        accounts::get_account(self, request).await
    }

    async fn create_group(
        &self,
        request: Request<pb::CreateGroupRequest>,
    ) -> Result<Response<pb::CreateGroupResponse>, Status> {
        groups::create_group(self, request).await
    }

    async fn list_groups(
        &self,
        request: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        groups::list_groups(self, request).await
    }

    async fn update_group(
        &self,
        request: Request<pb::UpdateGroupRequest>,
    ) -> Result<Response<pb::UpdateGroupResponse>, Status> {
        groups::update_group(self, request).await
    }

    async fn delete_group(
        &self,
        request: Request<pb::DeleteGroupRequest>,
    ) -> Result<Response<pb::DeleteGroupResponse>, Status> {
        groups::delete_group(self, request).await
    }

    async fn change_user_email(
        &self,
        request: Request<pb::ChangeUserEmailRequest>,
    ) -> Result<Response<pb::ChangeUserEmailResponse>, Status> {
        users::change_user_email(self, request).await
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        events::list_events(self, request).await
    }

    async fn list_reassignments(
        &self,
        request: Request<pb::ListReassignmentsRequest>,
    ) -> Result<Response<pb::ListReassignmentsResponse>, Status> {
        records::list_reassignments(self, request).await
    }

    async fn transfer_records(
        &self,
        request: Request<pb::TransferRecordsRequest>,
    ) -> Result<Response<pb::TransferRecordsResponse>, Status> {
        records::transfer_records(self, request).await
    }

    async fn create_access_role(
        &self,
        request: Request<pb::CreateAccessRoleRequest>,
    ) -> Result<Response<pb::CreateAccessRoleResponse>, Status> {
        access_roles::create_access_role(self, request).await
    }

    async fn get_access_role(
        &self,
        request: Request<pb::GetAccessRoleRequest>,
    ) -> Result<Response<pb::GetAccessRoleResponse>, Status> {
        access_roles::get_access_role(self, request).await
    }

    async fn list_access_roles(
        &self,
        request: Request<pb::ListAccessRolesRequest>,
    ) -> Result<Response<pb::ListAccessRolesResponse>, Status> {
        access_roles::list_access_roles(self, request).await
    }

    async fn update_access_role(
        &self,
        request: Request<pb::UpdateAccessRoleRequest>,
    ) -> Result<Response<pb::UpdateAccessRoleResponse>, Status> {
        access_roles::update_access_role(self, request).await
    }

    async fn delete_access_role(
        &self,
        request: Request<pb::DeleteAccessRoleRequest>,
    ) -> Result<Response<pb::DeleteAccessRoleResponse>, Status> {
        access_roles::delete_access_role(self, request).await
    }

    async fn add_user(
        &self,
        request: Request<pb::AddUserRequest>,
    ) -> Result<Response<pb::AddUserResponse>, Status> {
        users::add_user(self, request).await
    }

    async fn bulk_add_users(
        &self,
        request: Request<pb::BulkAddUsersRequest>,
    ) -> Result<Response<pb::BulkAddUsersResponse>, Status> {
        bulk_add::bulk_add_users(self, request).await
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::GetUserResponse>, Status> {
        users::get_user(self, request).await
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        users::list_users(self, request).await
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::UpdateUserResponse>, Status> {
        users::update_user(self, request).await
    }

    async fn disable_user(
        &self,
        request: Request<pb::DisableUserRequest>,
    ) -> Result<Response<pb::DisableUserResponse>, Status> {
        lifecycle::disable_user(self, request).await
    }

    async fn activate_user(
        &self,
        request: Request<pb::ActivateUserRequest>,
    ) -> Result<Response<pb::ActivateUserResponse>, Status> {
        lifecycle::activate_user(self, request).await
    }

    async fn remove_user(
        &self,
        request: Request<pb::RemoveUserRequest>,
    ) -> Result<Response<pb::RemoveUserResponse>, Status> {
        lifecycle::remove_user(self, request).await
    }

    async fn bulk_disable_users(
        &self,
        request: Request<pb::BulkDisableUsersRequest>,
    ) -> Result<Response<Self::BulkDisableUsersStream>, Status> {
        jobs::bulk_disable_users(self, request).await
    }

    async fn bulk_remove_users(
        &self,
        request: Request<pb::BulkRemoveUsersRequest>,
    ) -> Result<Response<Self::BulkRemoveUsersStream>, Status> {
        jobs::bulk_remove_users(self, request).await
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::GetJobResponse>, Status> {
        jobs::get_job(self, request).await
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        jobs::list_jobs(self, request).await
    }

    async fn watch_job(
        &self,
        request: Request<pb::WatchJobRequest>,
    ) -> Result<Response<Self::WatchJobStream>, Status> {
        jobs::watch_job(self, request).await
    }

    async fn cancel_job(
        &self,
        request: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        jobs::cancel_job(self, request).await
    }

    async fn register_work_records(
        &self,
        request: Request<pb::RegisterWorkRecordsRequest>,
    ) -> Result<Response<pb::RegisterWorkRecordsResponse>, Status> {
        records::register_work_records(self, request).await
    }

    async fn list_work_records(
        &self,
        request: Request<pb::ListWorkRecordsRequest>,
    ) -> Result<Response<pb::ListWorkRecordsResponse>, Status> {
        records::list_work_records(self, request).await
    }

    async fn count_work_records(
        &self,
        request: Request<pb::CountWorkRecordsRequest>,
    ) -> Result<Response<pb::CountWorkRecordsResponse>, Status> {
        records::count_work_records(self, request).await
    }

    async fn stream_events(
        &self,
        request: Request<pb::StreamEventsRequest>,
    ) -> Result<Response<Self::StreamEventsStream>, Status> {
        events::stream_events(self, request).await
    }

    async fn verify_password(
        &self,
        request: Request<pb::VerifyPasswordRequest>,
    ) -> Result<Response<pb::VerifyPasswordResponse>, Status> {
        passwords::verify_password(self, request).await
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        passwords::change_password(self, request).await
    }

    async fn reset_password(
        &self,
        request: Request<pb::ResetPasswordRequest>,
    ) -> Result<Response<pb::ResetPasswordResponse>, Status> {
        passwords::reset_password(self, request).await
    }
}
