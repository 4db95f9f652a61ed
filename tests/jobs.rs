//! Bulk disable/remove as durable jobs, over real gRPC on SQLite and
//! PostgreSQL (in-process server; crash and takeover tests are in crash.rs).

mod common;

use std::time::Duration;

use tokio_stream::StreamExt;
use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

both_backends!(
    bulk_remove_streams_monotonic_progress_and_moves_everything,
    best_effort_reports_invalid_users_and_does_the_rest,
    all_or_nothing_changes_nothing_when_one_user_is_refused,
    request_id_replay_returns_the_same_job,
    watcher_attaching_mid_job_sees_the_rest,
    a_stalled_job_still_reports_every_second,
    cancel_stops_at_a_batch_boundary,
    large_single_user_change_runs_as_a_job,
    bulk_validate_only_answers_without_a_job,
    interleaved_kinds_reach_their_own_targets_in_small_batches,
);

/// `leads` leads, `tasks` tasks and a conversation on each of the first
/// `conversations` leads, all owned by `owner`.
async fn give(
    app: &TestApp,
    ws: &Workspace,
    owner: &str,
    leads: usize,
    tasks: usize,
    conversations: usize,
) {
    let mut records = Vec::new();
    for i in 0..leads {
        records.push(pb::WorkRecordInput {
            kind: pb::RecordKind::Lead as i32,
            external_id: format!("{owner}-lead-{i}"),
            owner_user_id: owner.to_owned(),
            ..Default::default()
        });
    }
    for i in 0..tasks {
        records.push(pb::WorkRecordInput {
            kind: pb::RecordKind::Task as i32,
            external_id: format!("{owner}-task-{i}"),
            owner_user_id: owner.to_owned(),
            ..Default::default()
        });
    }
    for i in 0..conversations {
        records.push(pb::WorkRecordInput {
            kind: pb::RecordKind::Conversation as i32,
            external_id: format!("{owner}-conv-{i}"),
            owner_user_id: owner.to_owned(),
            parent_kind: pb::RecordKind::Lead as i32,
            parent_external_id: format!("{owner}-lead-{i}"),
        });
    }
    for chunk in records.chunks(10_000) {
        register(app, ws, chunk.to_vec()).await;
    }
}

async fn total(app: &TestApp, ws: &Workspace, user_id: &str) -> i64 {
    let c = app
        .users()
        .count_work_records(authed(
            pb::CountWorkRecordsRequest {
                user_id: user_id.to_owned(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("count")
        .into_inner()
        .counts
        .expect("counts");
    c.leads + c.contacts + c.customers + c.tasks + c.conversations + c.notes
}

/// Reads a progress stream up to its final update.
async fn drain<T>(
    mut stream: tonic::Streaming<T>,
    update_of: fn(T) -> Option<pb::JobUpdate>,
) -> Result<Vec<pb::JobUpdate>, tonic::Status> {
    let mut updates = Vec::new();
    while let Some(item) = tokio::time::timeout(Duration::from_secs(60), stream.next())
        .await
        .expect("progress keeps coming")
    {
        let update = update_of(item?).expect("update");
        let last = update.r#final;
        updates.push(update);
        if last {
            break;
        }
    }
    Ok(updates)
}

async fn bulk_remove(
    app: &TestApp,
    ws: &Workspace,
    request: pb::BulkRemoveUsersRequest,
) -> Result<Vec<pb::JobUpdate>, tonic::Status> {
    let stream = app
        .users()
        .bulk_remove_users(authed(request, &ws.admin_token))
        .await?
        .into_inner();
    drain(stream, |r| r.update).await
}

async fn bulk_disable(
    app: &TestApp,
    ws: &Workspace,
    request: pb::BulkDisableUsersRequest,
) -> Result<Vec<pb::JobUpdate>, tonic::Status> {
    let stream = app
        .users()
        .bulk_disable_users(authed(request, &ws.admin_token))
        .await?
        .into_inner();
    drain(stream, |r| r.update).await
}

fn final_job(updates: &[pb::JobUpdate]) -> pb::Job {
    let last = updates.last().expect("an update");
    assert!(last.r#final, "the stream ends with a final update");
    last.job.clone().expect("final job")
}

fn outcomes(job: &pb::Job) -> Vec<i32> {
    job.users.iter().map(|u| u.outcome).collect()
}

async fn bulk_remove_streams_monotonic_progress_and_moves_everything(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let heir = member(&app, &ws, "heir").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let u = member(&app, &ws, &format!("leaver{i}")).await;
        give(&app, &ws, &u.id, 1000, 500, 200).await;
        ids.push(u.id);
    }
    let updates = bulk_remove(
        &app,
        &ws,
        pb::BulkRemoveUsersRequest {
            user_ids: ids.clone(),
            reassignment: to(&heir.id),
            request_id: "bulk-1".into(),
            ..Default::default()
        },
    )
    .await
    .expect("bulk remove");
    let first = updates
        .first()
        .expect("first")
        .job
        .clone()
        .expect("first carries the job");
    assert_eq!(first.records_total, 3 * 1700);
    let moved: Vec<i64> = updates.iter().map(|u| u.records_moved).collect();
    assert!(
        moved.windows(2).all(|w| w[0] <= w[1]),
        "monotonic: {moved:?}"
    );
    let percents: Vec<i32> = updates.iter().map(|u| u.percent_complete).collect();
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]),
        "monotonic: {percents:?}"
    );
    assert!(
        updates.len() > 5,
        "progress is streamed as batches commit ({} updates)",
        updates.len()
    );
    let job = final_job(&updates);
    // Every message says when its progress was recorded, never going back;
    // the last one is the job's own update_time.
    let times: Vec<(i64, i32)> = updates
        .iter()
        .map(|u| {
            let t = u.update_time.expect("every update has update_time");
            (t.seconds, t.nanos)
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "monotonic: {times:?}"
    );
    let job_time = job.update_time.expect("job update_time");
    assert_eq!(times.last(), Some(&(job_time.seconds, job_time.nanos)));
    assert_eq!(job.state, pb::JobState::Succeeded as i32);
    assert_eq!((job.records_moved, job.percent_complete), (3 * 1700, 100));
    let m = job.moved.expect("moved");
    assert_eq!((m.leads, m.tasks, m.conversations), (3000, 1500, 600));
    assert_eq!(outcomes(&job), vec![pb::UserOutcome::Done as i32; 3]);
    assert_eq!(total(&app, &ws, &heir.id).await, 3 * 1700);
    for id in &ids {
        let status = app
            .users()
            .get_user(authed(
                pb::GetUserRequest {
                    user_id: id.clone(),
                    ..Default::default()
                },
                &ws.admin_token,
            ))
            .await
            .expect_err("removed");
        assert_eq!(status.code(), Code::NotFound);
    }
    // Every record moved exactly once, and the job can be read back.
    assert_eq!(
        app.sql_count(&format!(
            "SELECT CAST(COALESCE(SUM(record_count), 0) AS BIGINT) AS n FROM record_moves WHERE job_id = '{}'",
            job.id
        ))
        .await,
        3 * 1700
    );
    let got = app
        .users()
        .get_job(authed(
            pb::GetJobRequest {
                job_id: job.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("get job")
        .into_inner()
        .job
        .expect("job");
    assert_eq!(got.state, pb::JobState::Succeeded as i32);
    let listed = app
        .users()
        .list_jobs(authed(pb::ListJobsRequest::default(), &ws.admin_token))
        .await
        .expect("list jobs")
        .into_inner()
        .jobs;
    assert_eq!(
        listed.iter().map(|j| &j.id).collect::<Vec<_>>(),
        vec![&job.id]
    );
}

async fn best_effort_reports_invalid_users_and_does_the_rest(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let other = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let (a, b, idle) = (
        member(&app, &ws, "a").await,
        member(&app, &ws, "b").await,
        member(&app, &ws, "idle").await,
    );
    let stranger = member(&app, &other, "stranger").await;
    app.users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: idle.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("disable idle");
    give(&app, &ws, &a.id, 120, 30, 10).await;
    give(&app, &ws, &b.id, 50, 0, 0).await;
    let updates = bulk_disable(
        &app,
        &ws,
        pb::BulkDisableUsersRequest {
            user_ids: vec![
                a.id.clone(),
                stranger.id.clone(),
                idle.id.clone(),
                b.id.clone(),
            ],
            reassignment: to(&ws.admin.id),
            ..Default::default()
        },
    )
    .await
    .expect("bulk disable");
    let job = final_job(&updates);
    assert_eq!(job.state, pb::JobState::Succeeded as i32);
    let results: Vec<(i32, i32)> = job.users.iter().map(|u| (u.outcome, u.reason)).collect();
    assert_eq!(
        results,
        vec![
            (pb::UserOutcome::Done as i32, 0),
            (
                pb::UserOutcome::Failed as i32,
                pb::ErrorReason::UserNotFound as i32
            ),
            (
                pb::UserOutcome::Skipped as i32,
                pb::ErrorReason::InvalidStatus as i32
            ),
            (pb::UserOutcome::Done as i32, 0),
        ]
    );
    assert_eq!(total(&app, &ws, &ws.admin.id).await, 210);
    // A target among the subjects refuses the whole call.
    let status = bulk_disable(
        &app,
        &ws,
        pb::BulkDisableUsersRequest {
            user_ids: vec![ws.admin.id.clone()],
            reassignment: to(&ws.admin.id),
            ..Default::default()
        },
    )
    .await
    .expect_err("target is a subject");
    assert_error(&status, Code::FailedPrecondition, "TARGET_IS_SUBJECT");
    assert_eq!(total(&app, &other, &stranger.id).await, 0);
    let inactive = app
        .users()
        .list_users(authed(
            pb::ListUsersRequest {
                status: pb::UserStatus::Inactive as i32,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("list")
        .into_inner()
        .users;
    assert_eq!(inactive.len(), 3);
}

async fn all_or_nothing_changes_nothing_when_one_user_is_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let (a, heir) = (
        member(&app, &ws, "a").await,
        member(&app, &ws, "heir").await,
    );
    give(&app, &ws, &a.id, 100, 0, 0).await;
    let updates = bulk_remove(
        &app,
        &ws,
        pb::BulkRemoveUsersRequest {
            user_ids: vec![a.id.clone(), uuid::Uuid::now_v7().to_string()],
            reassignment: to(&heir.id),
            mode: pb::BulkMode::AllOrNothing as i32,
            ..Default::default()
        },
    )
    .await
    .expect("bulk");
    let job = final_job(&updates);
    assert_eq!(job.state, pb::JobState::Failed as i32);
    assert_eq!(
        outcomes(&job),
        vec![
            pb::UserOutcome::Skipped as i32,
            pb::UserOutcome::Failed as i32
        ]
    );
    assert_eq!(total(&app, &ws, &a.id).await, 100, "nothing moved");
    assert_eq!(total(&app, &ws, &heir.id).await, 0);
}

async fn request_id_replay_returns_the_same_job(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let (a, heir) = (
        member(&app, &ws, "a").await,
        member(&app, &ws, "heir").await,
    );
    give(&app, &ws, &a.id, 300, 0, 0).await;
    let request = pb::BulkDisableUsersRequest {
        user_ids: vec![a.id.clone()],
        reassignment: to(&heir.id),
        request_id: "same-request".into(),
        ..Default::default()
    };
    let first = final_job(
        &bulk_disable(&app, &ws, request.clone())
            .await
            .expect("first"),
    );
    let again = final_job(
        &bulk_disable(&app, &ws, request.clone())
            .await
            .expect("retry"),
    );
    assert_eq!(first.id, again.id);
    assert_eq!(again.state, pb::JobState::Succeeded as i32);
    assert_eq!(app.sql_count("SELECT COUNT(*) AS n FROM jobs").await, 1);
    let status = bulk_disable(
        &app,
        &ws,
        pb::BulkDisableUsersRequest {
            user_ids: vec![heir.id.clone()],
            ..request
        },
    )
    .await
    .expect_err("same id, other request");
    assert_error(&status, Code::FailedPrecondition, "REQUEST_ID_REUSED");
}

/// A server whose jobs go slowly enough to watch and cancel mid-way.
async fn slow_app(db: Db) -> TestApp {
    TestApp::spawn_with(db, |s| {
        s.jobs.batch_size = 50;
        s.jobs.batch_pause = Duration::from_millis(30);
    })
    .await
}

/// Between two batches 2.5 s apart nothing changes, yet the stream repeats
/// the job's state about every second (a heartbeat), then ends normally.
async fn a_stalled_job_still_reports_every_second(db: Db) {
    let app = TestApp::spawn_with(db, |s| {
        s.jobs.batch_size = 1;
        s.jobs.batch_pause = Duration::from_millis(2500);
    })
    .await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let (a, heir) = (
        member(&app, &ws, "a").await,
        member(&app, &ws, "heir").await,
    );
    give(&app, &ws, &a.id, 2, 0, 0).await;
    let request = pb::BulkRemoveUsersRequest {
        user_ids: vec![a.id.clone()],
        reassignment: to(&heir.id),
        ..Default::default()
    };
    let updates = bulk_remove(&app, &ws, request).await.expect("bulk");
    let repeats = updates
        .windows(2)
        .filter(|w| {
            let (before, now) = (&w[0], &w[1]);
            !now.r#final
                && now.user.is_none()
                && (now.state, now.records_moved) == (before.state, before.records_moved)
        })
        .count();
    assert!(
        repeats >= 1,
        "no heartbeat while the job waited between batches: {updates:?}"
    );
    let job = final_job(&updates);
    assert_eq!(
        (job.state, job.records_moved),
        (pb::JobState::Succeeded as i32, 2)
    );
}

async fn watcher_attaching_mid_job_sees_the_rest(db: Db) {
    let app = slow_app(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let (a, heir) = (
        member(&app, &ws, "a").await,
        member(&app, &ws, "heir").await,
    );
    give(&app, &ws, &a.id, 1000, 0, 0).await;
    let mut stream = app
        .users()
        .bulk_remove_users(authed(
            pb::BulkRemoveUsersRequest {
                user_ids: vec![a.id.clone()],
                reassignment: to(&heir.id),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("bulk")
        .into_inner();
    let first = stream
        .next()
        .await
        .expect("first")
        .expect("ok")
        .update
        .expect("update");
    let job_id = first.job_id.clone();
    drop(stream); // the client leaves; the job goes on
    // Attach once some batches have committed.
    loop {
        let job = app
            .users()
            .get_job(authed(
                pb::GetJobRequest {
                    job_id: job_id.clone(),
                    ..Default::default()
                },
                &ws.admin_token,
            ))
            .await
            .expect("get job")
            .into_inner()
            .job
            .expect("job");
        if job.records_moved > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut watch = app
        .users()
        .watch_job(authed(
            pb::WatchJobRequest {
                job_id: job_id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("watch")
        .into_inner();
    let mut updates = Vec::new();
    while let Some(item) = tokio::time::timeout(Duration::from_secs(60), watch.next())
        .await
        .expect("progress")
    {
        let update = item.expect("ok").update.expect("update");
        let last = update.r#final;
        updates.push(update);
        if last {
            break;
        }
    }
    let current = updates[0]
        .job
        .clone()
        .expect("the watch starts with the current job");
    assert!(current.records_moved > 0, "attached mid-job");
    assert!(current.records_moved < 1000, "attached mid-job");
    assert!(updates.len() > 2);
    let job = final_job(&updates);
    assert_eq!(
        (job.state, job.records_moved),
        (pb::JobState::Succeeded as i32, 1000)
    );
    assert_eq!(total(&app, &ws, &heir.id).await, 1000);
}

async fn cancel_stops_at_a_batch_boundary(db: Db) {
    let app = slow_app(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let (a, heir) = (
        member(&app, &ws, "a").await,
        member(&app, &ws, "heir").await,
    );
    give(&app, &ws, &a.id, 2000, 0, 0).await;
    let mut stream = app
        .users()
        .bulk_remove_users(authed(
            pb::BulkRemoveUsersRequest {
                user_ids: vec![a.id.clone()],
                reassignment: to(&heir.id),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("bulk")
        .into_inner();
    let job_id = stream
        .next()
        .await
        .expect("first")
        .expect("ok")
        .update
        .expect("update")
        .job_id;
    // Wait for some progress, then cancel.
    loop {
        let update = stream
            .next()
            .await
            .expect("more")
            .expect("ok")
            .update
            .expect("update");
        if update.records_moved >= 200 {
            break;
        }
    }
    app.users()
        .cancel_job(authed(
            pb::CancelJobRequest {
                job_id: job_id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("cancel");
    let mut last = None;
    while let Some(item) = tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("ends")
    {
        let update = item.expect("ok").update.expect("update");
        if update.r#final {
            last = update.job;
            break;
        }
    }
    let job = last.expect("final job");
    assert_eq!(job.state, pb::JobState::Cancelled as i32);
    assert!(job.records_moved < 2000, "stopped early");
    assert_eq!(job.records_moved % 50, 0, "at a batch boundary");
    let (left, got) = (
        total(&app, &ws, &a.id).await,
        total(&app, &ws, &heir.id).await,
    );
    assert_eq!(left + got, 2000, "every record has exactly one owner");
    assert_eq!(got, job.records_moved);
    // The user was not removed; cancelling again is refused.
    assert!(
        app.users()
            .get_user(authed(
                pb::GetUserRequest {
                    user_id: a.id.clone(),
                    ..Default::default()
                },
                &ws.admin_token
            ))
            .await
            .is_ok()
    );
    let status = app
        .users()
        .cancel_job(authed(
            pb::CancelJobRequest {
                job_id,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("ended");
    assert_error(&status, Code::FailedPrecondition, "JOB_FINISHED");
}

async fn large_single_user_change_runs_as_a_job(db: Db) {
    let app = TestApp::spawn_with(db, |s| s.jobs.single_user_threshold = 100).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let (a, heir) = (
        member(&app, &ws, "a").await,
        member(&app, &ws, "heir").await,
    );
    give(&app, &ws, &a.id, 400, 100, 50).await;
    let answer = app
        .users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: a.id.clone(),
                reassignment: to(&heir.id),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("disable")
        .into_inner();
    assert!(!answer.job_id.is_empty(), "a job took over");
    let mut watch = app
        .users()
        .watch_job(authed(
            pb::WatchJobRequest {
                job_id: answer.job_id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("watch")
        .into_inner();
    let mut job = None;
    while let Some(item) = tokio::time::timeout(Duration::from_secs(60), watch.next())
        .await
        .expect("progress")
    {
        let update = item.expect("ok").update.expect("update");
        if update.r#final {
            job = update.job;
            break;
        }
    }
    let job = job.expect("job");
    assert_eq!(
        (job.kind, job.state),
        (pb::JobKind::Disable as i32, pb::JobState::Succeeded as i32)
    );
    assert_eq!(total(&app, &ws, &heir.id).await, 550);
    let user = app
        .users()
        .get_user(authed(
            pb::GetUserRequest {
                user_id: a.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("get")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(user.status, pb::UserStatus::Inactive as i32);
}

async fn bulk_validate_only_answers_without_a_job(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let (a, heir) = (
        member(&app, &ws, "a").await,
        member(&app, &ws, "heir").await,
    );
    give(&app, &ws, &a.id, 40, 10, 5).await;
    let updates = bulk_remove(
        &app,
        &ws,
        pb::BulkRemoveUsersRequest {
            user_ids: vec![a.id.clone(), ws.admin.id.clone()],
            reassignment: to(&heir.id),
            validate_only: true,
            ..Default::default()
        },
    )
    .await
    .expect("preview");
    assert_eq!(updates.len(), 1);
    let job = final_job(&updates);
    assert!(job.id.is_empty());
    assert_eq!(job.records_total, 55);
    assert_eq!(
        job.users
            .iter()
            .map(|u| (u.outcome, u.reason))
            .collect::<Vec<_>>(),
        vec![
            (pb::UserOutcome::Pending as i32, 0),
            (
                pb::UserOutcome::Failed as i32,
                pb::ErrorReason::LastAdmin as i32
            ),
        ]
    );
    assert_eq!(app.sql_count("SELECT COUNT(*) AS n FROM jobs").await, 0);
    assert_eq!(total(&app, &ws, &a.id).await, 55);
}

/// A job moves every kind that goes to one user in one pass over the
/// records by id (`Targets::passes`). Here kinds lie interleaved, leads go
/// to one user and the rest to another, and 7-record batches straddle kinds
/// and both passes: every record must reach its own kind's target (a
/// conversation its parent's), counted and journalled under its kind.
async fn interleaved_kinds_reach_their_own_targets_in_small_batches(db: Db) {
    let app = TestApp::spawn_with(db, |s| s.jobs.batch_size = 7).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let leaver = member(&app, &ws, "leaver").await;
    let lead_heir = member(&app, &ws, "lead-heir").await;
    let heir = member(&app, &ws, "heir").await;
    let record = |kind: pb::RecordKind, id: String| pb::WorkRecordInput {
        kind: kind as i32,
        external_id: id,
        owner_user_id: leaver.id.clone(),
        ..Default::default()
    };
    let mut records = Vec::new();
    for i in 0..60 {
        records.push(record(pb::RecordKind::Lead, format!("lead-{i}")));
        records.push(record(pb::RecordKind::Task, format!("task-{i}")));
        records.push(record(pb::RecordKind::Contact, format!("contact-{i}")));
        let (parent_kind, parent) = if i % 2 == 0 {
            (pb::RecordKind::Lead, format!("lead-{i}"))
        } else {
            (pb::RecordKind::Contact, format!("contact-{i}"))
        };
        records.push(pb::WorkRecordInput {
            parent_kind: parent_kind as i32,
            parent_external_id: parent,
            ..record(pb::RecordKind::Conversation, format!("conv-{i}"))
        });
    }
    register(&app, &ws, records).await;
    let updates = bulk_remove(
        &app,
        &ws,
        pb::BulkRemoveUsersRequest {
            user_ids: vec![leaver.id.clone()],
            reassignment: Some(pb::Reassignment {
                target_user_id: heir.id.clone(),
                by_kind: vec![pb::KindTarget {
                    kind: pb::RecordKind::Lead as i32,
                    target_user_id: lead_heir.id.clone(),
                }],
            }),
            ..Default::default()
        },
    )
    .await
    .expect("bulk remove");
    let job = final_job(&updates);
    assert_eq!(job.state, pb::JobState::Succeeded as i32);
    let m = job.moved.expect("moved");
    assert_eq!(
        (m.leads, m.contacts, m.tasks, m.conversations),
        (60, 60, 60, 60)
    );
    assert_eq!(job.records_moved, 240);
    let held = |owner: &str, kind: &str, parent: &str| {
        let parent = match parent {
            "" => "parent_kind IS NULL".to_owned(),
            p => format!("parent_kind = '{p}'"),
        };
        format!(
            "SELECT COUNT(*) AS n FROM work_records \
             WHERE owner_user_id = '{owner}' AND kind = '{kind}' AND {parent}"
        )
    };
    for (owner, kind, parent, want) in [
        (&lead_heir.id, "LEAD", "", 60),
        (&lead_heir.id, "CONVERSATION", "LEAD", 30),
        (&lead_heir.id, "CONVERSATION", "CONTACT", 0),
        (&lead_heir.id, "TASK", "", 0),
        (&heir.id, "TASK", "", 60),
        (&heir.id, "CONTACT", "", 60),
        (&heir.id, "CONVERSATION", "CONTACT", 30),
        (&heir.id, "CONVERSATION", "LEAD", 0),
        (&heir.id, "LEAD", "", 0),
    ] {
        let got = app.sql_count(&held(owner, kind, parent)).await;
        assert_eq!(got, want, "{kind} ({parent}) held by {owner}");
    }
    // The journal: per kind and receiver, what moved.
    for (to, kind, want) in [
        (&lead_heir.id, "LEAD", 60),
        (&lead_heir.id, "CONVERSATION", 30),
        (&heir.id, "CONVERSATION", 30),
        (&heir.id, "TASK", 60),
        (&heir.id, "CONTACT", 60),
    ] {
        let got = app
            .sql_count(&format!(
                "SELECT CAST(COALESCE(SUM(record_count), 0) AS BIGINT) AS n FROM record_moves \
                 WHERE job_id = '{}' AND to_user_id = '{to}' AND kind = '{kind}'",
                job.id
            ))
            .await;
        assert_eq!(got, want, "journal of {kind} to {to}");
    }
}
