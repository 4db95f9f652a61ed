//! Bulk jobs: BulkDisableUsers, BulkRemoveUsers, GetJob, ListJobs, WatchJob, CancelJob.

use super::{ResponseStream, UserManagementApi};
use crate::auth::principal::{Access, Grant, Scope};
use crate::domain::Change;
use crate::domain::RequestId;
use crate::error::Violations;
use crate::grpc::{convert, principal};
use crate::proto::v1 as pb;
use crate::service::jobs::{BulkRequest, JobView, MAX_BULK_USERS};
use tokio_stream::StreamExt as _;
use tonic::{Request, Response, Status};

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
    convert::account_id(&mut v, account_id);
    if user_ids.is_empty() || user_ids.len() > MAX_BULK_USERS {
        v.add("user_ids", format!("1 to {MAX_BULK_USERS} user ids"));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, id) in user_ids.iter().enumerate().take(MAX_BULK_USERS) {
        if convert::id(&mut v, format!("user_ids[{i}]"), id).is_some() && !seen.insert(id.as_str())
        {
            v.add(format!("user_ids[{i}]"), "listed twice");
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
        grant: &Grant,
        bulk: BulkRequest,
    ) -> Result<ResponseStream<pb::JobUpdate>, Status> {
        let validate_only = bulk.validate_only;
        let view = self.roster.jobs.start_bulk(grant, bulk).await?;
        if validate_only {
            let update = pb::JobUpdate {
                job: Some(convert::job(&view, true)),
                r#final: true,
                moved: Some(convert::counts(&view.job.moved)),
                records_total: view.job.records_total,
                state: convert::job(&view, false).state,
                ..Default::default()
            };
            return Ok(Box::pin(tokio_stream::once(Ok(update))));
        }
        let views = self.roster.jobs.watch_job(grant, &view.job.id).await?;
        Ok(Box::pin(updates_of(views)))
    }
}

pub(super) async fn bulk_disable_users(
    api: &UserManagementApi,
    request: Request<pb::BulkDisableUsersRequest>,
) -> Result<Response<ResponseStream<pb::BulkDisableUsersResponse>>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let bulk = parse_bulk(
        &r.account_id,
        &r.user_ids,
        r.reassignment.as_ref(),
        r.mode,
        &r.request_id,
        r.validate_only,
        Change::Disable,
    )?;
    let updates = api.job_stream(&grant, bulk).await?;
    Ok(Response::new(Box::pin(updates.map(|u| {
        u.map(|update| pb::BulkDisableUsersResponse {
            update: Some(update),
        })
    }))))
}

pub(super) async fn bulk_remove_users(
    api: &UserManagementApi,
    request: Request<pb::BulkRemoveUsersRequest>,
) -> Result<Response<ResponseStream<pb::BulkRemoveUsersResponse>>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let bulk = parse_bulk(
        &r.account_id,
        &r.user_ids,
        r.reassignment.as_ref(),
        r.mode,
        &r.request_id,
        r.validate_only,
        Change::Remove,
    )?;
    let updates = api.job_stream(&grant, bulk).await?;
    Ok(Response::new(Box::pin(updates.map(|u| {
        u.map(|update| pb::BulkRemoveUsersResponse {
            update: Some(update),
        })
    }))))
}

pub(super) async fn get_job(
    api: &UserManagementApi,
    request: Request<pb::GetJobRequest>,
) -> Result<Response<pb::GetJobResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let account_id = convert::account_id(&mut v, &r.account_id);
    let job_id = convert::id(&mut v, "job_id", &r.job_id);
    v.into_result()?;
    let view = api
        .roster
        .jobs
        .get_job(
            &caller.authorize(&account_id, Access::Read)?,
            &job_id.unwrap_or_default(),
        )
        .await?;
    Ok(Response::new(pb::GetJobResponse {
        job: Some(convert::job(&view, true)),
    }))
}

pub(super) async fn list_jobs(
    api: &UserManagementApi,
    request: Request<pb::ListJobsRequest>,
) -> Result<Response<pb::ListJobsResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let account_id = convert::account_id(&mut v, &r.account_id);
    v.into_result()?;
    let (jobs, next_page_token) = api
        .roster
        .jobs
        .list_jobs(
            &caller.authorize(&account_id, Access::Read)?,
            r.page_size,
            &r.page_token,
        )
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

pub(super) async fn watch_job(
    api: &UserManagementApi,
    request: Request<pb::WatchJobRequest>,
) -> Result<Response<ResponseStream<pb::WatchJobResponse>>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let account_id = convert::account_id(&mut v, &r.account_id);
    let job_id = convert::id(&mut v, "job_id", &r.job_id);
    v.into_result()?;
    let views = api
        .roster
        .jobs
        .watch_job(
            &caller.authorize(&account_id, Access::Read)?,
            &job_id.unwrap_or_default(),
        )
        .await?;
    Ok(Response::new(Box::pin(updates_of(views).map(|u| {
        u.map(|update| pb::WatchJobResponse {
            update: Some(update),
        })
    }))))
}

pub(super) async fn cancel_job(
    api: &UserManagementApi,
    request: Request<pb::CancelJobRequest>,
) -> Result<Response<pb::CancelJobResponse>, Status> {
    let caller = principal(&api.auth, &request).await?;
    let r = request.into_inner();
    let grant = caller.authorize(&r.account_id, Access::Write(Scope::UsersWrite))?;
    let mut v = Violations::new();
    convert::account_id(&mut v, &r.account_id);
    let job_id = convert::id(&mut v, "job_id", &r.job_id);
    v.into_result()?;
    let view = api
        .roster
        .jobs
        .cancel_job(&grant, &job_id.unwrap_or_default())
        .await?;
    Ok(Response::new(pb::CancelJobResponse {
        job: Some(convert::job(&view, true)),
    }))
}
