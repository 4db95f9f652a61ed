//! The journal, readable, on SQLite and PostgreSQL: ListReassignments after
//! a bulk job and a restore, TransferRecords (conservation, dry run,
//! refusals, idempotency), and the event log filtered by type and user
//! (ListEvents and StreamEvents alike).

mod common;

use tokio_stream::StreamExt;
use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

both_backends!(
    reassignments_after_a_bulk_job_and_a_restore,
    transfers_conserve_records_and_are_journaled,
    transfers_are_refused_as_handovers_are,
    events_filter_by_type_and_user,
);

fn record(kind: pb::RecordKind, id: &str, owner: &str) -> pb::WorkRecordInput {
    pb::WorkRecordInput {
        kind: kind as i32,
        external_id: id.to_owned(),
        owner_user_id: owner.to_owned(),
        ..Default::default()
    }
}

fn conversation(
    id: &str,
    owner: &str,
    parent: pb::RecordKind,
    parent_id: &str,
) -> pb::WorkRecordInput {
    pb::WorkRecordInput {
        kind: pb::RecordKind::Conversation as i32,
        external_id: id.to_owned(),
        owner_user_id: owner.to_owned(),
        parent_kind: parent as i32,
        parent_external_id: parent_id.to_owned(),
    }
}

/// 2 leads, 1 contact, 1 company, 1 task, a conversation on a lead and one
/// on the company, and a note.
fn portfolio(p: &str, owner: &str) -> Vec<pb::WorkRecordInput> {
    use pb::RecordKind::*;
    vec![
        record(Lead, &format!("{p}-l1"), owner),
        record(Lead, &format!("{p}-l2"), owner),
        record(Contact, &format!("{p}-c1"), owner),
        record(Company, &format!("{p}-co1"), owner),
        record(Task, &format!("{p}-t1"), owner),
        conversation(&format!("{p}-v1"), owner, Lead, &format!("{p}-l1")),
        conversation(&format!("{p}-v2"), owner, Company, &format!("{p}-co1")),
        record(Note, &format!("{p}-n1"), owner),
    ]
}

async fn journal(
    app: &TestApp,
    ws: &Workspace,
    request: pb::ListReassignmentsRequest,
) -> pb::ListReassignmentsResponse {
    app.users()
        .list_reassignments(authed(request, &ws.admin_token))
        .await
        .expect("journal")
        .into_inner()
}

async fn counts(app: &TestApp, ws: &Workspace, user_id: &str) -> pb::RecordCounts {
    app.users()
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
        .expect("counts")
}

fn total(c: &pb::RecordCounts) -> i64 {
    c.leads + c.contacts + c.companies + c.customers + c.tasks + c.conversations + c.notes
}

async fn reassignments_after_a_bulk_job_and_a_restore(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let (a, b) = (member(&app, &ws, "a").await, member(&app, &ws, "b").await);
    register(&app, &ws, portfolio("a", &a.id)).await;
    let mut stream = app
        .users()
        .bulk_disable_users(authed(
            pb::BulkDisableUsersRequest {
                user_ids: vec![a.id.clone()],
                reassignment: to(&b.id),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("bulk")
        .into_inner();
    let mut job_id = String::new();
    while let Some(item) = stream.next().await {
        let update = item.expect("update").update.expect("update");
        job_id = update.job.map(|j| j.id).unwrap_or(job_id);
        if update.r#final {
            break;
        }
    }
    assert!(!job_id.is_empty());

    let handed = journal(
        &app,
        &ws,
        pb::ListReassignmentsRequest {
            from_user_id: a.id.clone(),
            include_external_ids: true,
            ..Default::default()
        },
    )
    .await;
    assert!(handed.next_page_token.is_empty());
    let mut seen: Vec<(i32, String)> = Vec::new();
    for m in &handed.moves {
        assert_eq!(
            (m.from_user_id.as_str(), m.to_user_id.as_str()),
            (a.id.as_str(), b.id.as_str())
        );
        assert_eq!(m.job_id, job_id);
        assert_eq!(m.record_count, m.external_ids.len() as i64);
        assert!(m.move_time.is_some());
        for id in &m.external_ids {
            seen.push((m.kind, id.clone()));
        }
    }
    seen.sort();
    use pb::RecordKind as K;
    let mut want: Vec<(i32, String)> = [
        (K::Lead, "a-l1"),
        (K::Lead, "a-l2"),
        (K::Contact, "a-c1"),
        (K::Company, "a-co1"),
        (K::Task, "a-t1"),
        (K::Conversation, "a-v1"),
        (K::Conversation, "a-v2"),
    ]
    .into_iter()
    .map(|(k, id)| (k as i32, id.to_owned()))
    .collect();
    want.sort();
    assert_eq!(seen, want, "every moved record once, notes never");
    let ids: Vec<i64> = handed.moves.iter().map(|m| m.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "journal order");

    // The restore is journaled too, back from B to A, in the call (no job).
    app.clock.advance(chrono::Duration::seconds(5));
    let restored = app
        .users()
        .activate_user(authed(
            pb::ActivateUserRequest {
                user_id: a.id.clone(),
                restore_records: true,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("activate")
        .into_inner()
        .restored
        .expect("restored");
    let back = journal(
        &app,
        &ws,
        pb::ListReassignmentsRequest {
            from_user_id: b.id.clone(),
            to_user_id: a.id.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        back.moves.iter().map(|m| m.record_count).sum::<i64>(),
        total(&restored)
    );
    assert!(back.moves.iter().all(|m| m.job_id.is_empty()));
    // Filters: kind, job, time.
    let leads = journal(
        &app,
        &ws,
        pb::ListReassignmentsRequest {
            kind: K::Lead as i32,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        leads.moves.iter().map(|m| m.record_count).sum::<i64>(),
        4,
        "2 out, 2 back"
    );
    let of_job = journal(
        &app,
        &ws,
        pb::ListReassignmentsRequest {
            job_id: job_id.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(of_job.moves.len(), handed.moves.len());
    let restore_time = back.moves[0].move_time.expect("time");
    let before_restore = journal(
        &app,
        &ws,
        pb::ListReassignmentsRequest {
            moved_before: Some(restore_time),
            ..Default::default()
        },
    )
    .await;
    let after_restore = journal(
        &app,
        &ws,
        pb::ListReassignmentsRequest {
            moved_after: Some(restore_time),
            ..Default::default()
        },
    )
    .await;
    let all = journal(&app, &ws, pb::ListReassignmentsRequest::default()).await;
    assert_eq!(
        before_restore.moves.len() + after_restore.moves.len(),
        all.moves.len()
    );
    assert!(after_restore.moves.iter().all(|m| m.to_user_id == a.id));
    // Paging, one move a page, gives the same moves.
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = journal(
            &app,
            &ws,
            pb::ListReassignmentsRequest {
                page_size: 1,
                page_token: token.clone(),
                ..Default::default()
            },
        )
        .await;
        paged.extend(page.moves);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(paged, all.moves);
    // A token is tied to its filters; bad input names its field.
    let first = journal(
        &app,
        &ws,
        pb::ListReassignmentsRequest {
            page_size: 1,
            ..Default::default()
        },
    )
    .await;
    let status = app
        .users()
        .list_reassignments(authed(
            pb::ListReassignmentsRequest {
                page_size: 1,
                page_token: first.next_page_token,
                kind: K::Lead as i32,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("other filters");
    assert_eq!(bad_fields(&status), vec!["page_token"]);
    let status = app
        .users()
        .list_reassignments(authed(
            pb::ListReassignmentsRequest {
                from_user_id: "x".into(),
                kind: K::Note as i32,
                page_size: 51,
                include_external_ids: true,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("bad");
    assert_eq!(bad_fields(&status), vec!["kind", "from_user_id"]);
}

async fn transfer(
    app: &TestApp,
    ws: &Workspace,
    request: pb::TransferRecordsRequest,
) -> Result<pb::TransferRecordsResponse, tonic::Status> {
    app.users()
        .transfer_records(authed(request, &ws.admin_token))
        .await
        .map(|r| r.into_inner())
}

async fn transfers_conserve_records_and_are_journaled(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let (a, b) = (member(&app, &ws, "a").await, member(&app, &ws, "b").await);
    register(&app, &ws, portfolio("a", &a.id)).await;
    register(&app, &ws, portfolio("b", &b.id)).await;
    let before = (
        counts(&app, &ws, &a.id).await,
        counts(&app, &ws, &b.id).await,
    );
    let leads_and_companies = || pb::TransferRecordsRequest {
        from_user_id: a.id.clone(),
        to_user_id: b.id.clone(),
        kinds: vec![pb::RecordKind::Lead as i32, pb::RecordKind::Company as i32],
        ..Default::default()
    };
    let dry = transfer(
        &app,
        &ws,
        pb::TransferRecordsRequest {
            validate_only: true,
            ..leads_and_companies()
        },
    )
    .await
    .expect("dry run");
    assert!(dry.refusals.is_empty());
    assert_eq!(
        (
            counts(&app, &ws, &a.id).await,
            counts(&app, &ws, &b.id).await
        ),
        before.clone(),
        "a dry run moves nothing"
    );
    let done = transfer(
        &app,
        &ws,
        pb::TransferRecordsRequest {
            request_id: "move-leads".into(),
            ..leads_and_companies()
        },
    )
    .await
    .expect("transfer");
    assert_eq!(done.moved, dry.moved);
    let moved = done.moved.expect("moved");
    assert_eq!(
        (moved.leads, moved.companies, moved.conversations),
        (2, 1, 2)
    );
    assert_eq!((moved.contacts, moved.tasks, moved.notes), (0, 0, 0));
    let after = (
        counts(&app, &ws, &a.id).await,
        counts(&app, &ws, &b.id).await,
    );
    assert_eq!(
        total(&after.0) + total(&after.1),
        total(&before.0) + total(&before.1),
        "conserved"
    );
    assert_eq!(after.0.leads + after.0.companies, 0);
    assert_eq!(after.0.contacts, before.0.contacts);
    assert_eq!(after.1.leads, before.1.leads + 2);
    // A retry with the same request id answers the first result and moves
    // nothing new, even when there is something new to move.
    register(&app, &ws, vec![record(pb::RecordKind::Lead, "a-l9", &a.id)]).await;
    let again = transfer(
        &app,
        &ws,
        pb::TransferRecordsRequest {
            request_id: "move-leads".into(),
            ..leads_and_companies()
        },
    )
    .await
    .expect("retry");
    assert_eq!(again.moved, done.moved);
    assert_eq!(counts(&app, &ws, &a.id).await.leads, 1);
    // Journaled in the call, and evented.
    let moves = journal(
        &app,
        &ws,
        pb::ListReassignmentsRequest {
            from_user_id: a.id.clone(),
            ..Default::default()
        },
    )
    .await
    .moves;
    assert_eq!(moves.iter().map(|m| m.record_count).sum::<i64>(), 5);
    assert!(
        moves
            .iter()
            .all(|m| m.job_id.is_empty() && m.to_user_id == b.id)
    );
    let events = app
        .users()
        .list_events(authed(
            pb::ListEventsRequest {
                event_types: vec![pb::EventType::RecordsReassigned as i32],
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("events")
        .into_inner()
        .events;
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].user_id.as_str(),
            events[0].target_user_id.as_str()
        ),
        (a.id.as_str(), b.id.as_str())
    );
    assert_eq!(events[0].moved, done.moved);
    // Every kind by default; both users stay active.
    let rest = transfer(
        &app,
        &ws,
        pb::TransferRecordsRequest {
            from_user_id: a.id.clone(),
            to_user_id: b.id.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("the rest");
    let rest = rest.moved.expect("moved");
    assert_eq!(
        (rest.leads, rest.contacts, rest.tasks, rest.notes),
        (1, 1, 1, 0)
    );
    assert_eq!(
        total(&counts(&app, &ws, &a.id).await),
        1,
        "only the note stays"
    );
}

async fn transfers_are_refused_as_handovers_are(db: Db) {
    let app = TestApp::spawn_with(db, |s| s.jobs.single_user_threshold = 4).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let (a, b, off) = (
        member(&app, &ws, "a").await,
        member(&app, &ws, "b").await,
        member(&app, &ws, "off").await,
    );
    register(&app, &ws, portfolio("a", &a.id)).await;
    app.users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: off.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("disable");
    let before = counts(&app, &ws, &a.id).await;
    let ask =
        |from: &str, to: &str, kinds: Vec<i32>, validate_only: bool| pb::TransferRecordsRequest {
            from_user_id: from.into(),
            to_user_id: to.into(),
            kinds,
            validate_only,
            ..Default::default()
        };
    let lead = vec![pb::RecordKind::Lead as i32];
    for (request, code, reason) in [
        (
            ask(&a.id, &off.id, lead.clone(), false),
            Code::FailedPrecondition,
            "TARGET_NOT_ACTIVE",
        ),
        (
            ask(&a.id, &a.id, lead.clone(), false),
            Code::FailedPrecondition,
            "TARGET_IS_SUBJECT",
        ),
        (
            ask(&off.id, &b.id, lead.clone(), false),
            Code::FailedPrecondition,
            "INVALID_STATUS",
        ),
        // 2 leads + 1 company + 1 contact + 1 task + 2 conversations > 4.
        (
            ask(&a.id, &b.id, vec![], false),
            Code::FailedPrecondition,
            "TRANSFER_TOO_LARGE",
        ),
    ] {
        let status = transfer(&app, &ws, request).await.expect_err("refused");
        assert_error(&status, code, reason);
    }
    let status = transfer(
        &app,
        &ws,
        ask(
            &uuid::Uuid::new_v4().to_string(),
            &b.id,
            lead.clone(),
            false,
        ),
    )
    .await
    .expect_err("no such user");
    assert_error(&status, Code::NotFound, "USER_NOT_FOUND");
    assert_eq!(counts(&app, &ws, &a.id).await, before, "nothing moved");
    // As data with validate_only.
    let dry = transfer(&app, &ws, ask(&a.id, &off.id, vec![], true))
        .await
        .expect("dry");
    let reasons: Vec<i32> = dry.refusals.iter().map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        [
            pb::ErrorReason::TargetNotActive as i32,
            pb::ErrorReason::TransferTooLarge as i32
        ]
    );
    // Within the limit it goes through.
    transfer(&app, &ws, ask(&a.id, &b.id, lead.clone(), false))
        .await
        .expect("leads");
    let status = transfer(
        &app,
        &ws,
        ask(
            &a.id,
            &b.id,
            vec![
                pb::RecordKind::Note as i32,
                pb::RecordKind::Task as i32,
                pb::RecordKind::Task as i32,
            ],
            false,
        ),
    )
    .await
    .expect_err("bad kinds");
    assert_eq!(bad_fields(&status), vec!["kinds[0]", "kinds[2]"]);
}

async fn events_filter_by_type_and_user(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let (a, b) = (member(&app, &ws, "a").await, member(&app, &ws, "b").await);
    register(&app, &ws, portfolio("a", &a.id)).await;
    app.users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: a.id.clone(),
                reassignment: to(&b.id),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("disable");
    let list = |request: pb::ListEventsRequest| {
        let mut users = app.users();
        let request = authed(request, &ws.admin_token);
        async move { users.list_events(request).await.expect("list").into_inner() }
    };
    let everything = list(pb::ListEventsRequest::default()).await.events;
    let about_b = list(pb::ListEventsRequest {
        user_id: b.id.clone(),
        ..Default::default()
    })
    .await
    .events;
    let expected: Vec<_> = everything
        .iter()
        .filter(|e| e.user_id == b.id || e.target_user_id == b.id)
        .cloned()
        .collect();
    assert_eq!(about_b, expected);
    let types: Vec<i32> = about_b.iter().map(|e| e.r#type).collect();
    assert_eq!(
        types,
        [
            pb::EventType::UserAdded as i32,
            pb::EventType::RecordsReassigned as i32
        ],
        "added, then received A's records"
    );
    let a_disabled = list(pb::ListEventsRequest {
        user_id: a.id.clone(),
        event_types: vec![
            pb::EventType::UserDisabled as i32,
            pb::EventType::UserActivated as i32,
        ],
        ..Default::default()
    })
    .await
    .events;
    assert_eq!(a_disabled.len(), 1);
    assert_eq!(a_disabled[0].r#type, pb::EventType::UserDisabled as i32);
    // Paging with a filter, and after_sequence.
    let first = list(pb::ListEventsRequest {
        user_id: a.id.clone(),
        page_size: 1,
        ..Default::default()
    })
    .await;
    assert_eq!(first.events.len(), 1);
    let second = list(pb::ListEventsRequest {
        user_id: a.id.clone(),
        page_size: 1,
        page_token: first.next_page_token.clone(),
        ..Default::default()
    })
    .await;
    assert!(second.events[0].sequence > first.events[0].sequence);
    let later = list(pb::ListEventsRequest {
        after_sequence: everything[2].sequence,
        ..Default::default()
    })
    .await
    .events;
    assert_eq!(later, everything[3..].to_vec());
    // StreamEvents sends exactly what ListEvents lists, with the same filter.
    let streamed: Vec<pb::Event> = app
        .users()
        .stream_events(authed(
            pb::StreamEventsRequest {
                user_id: b.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("stream")
        .into_inner()
        .map(|item| item.expect("event").event.expect("event"))
        .collect()
        .await;
    assert_eq!(streamed, about_b);
    let status = app
        .users()
        .list_events(authed(
            pb::ListEventsRequest {
                event_types: vec![0, 99],
                user_id: "nope".into(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("bad");
    assert_eq!(
        bad_fields(&status),
        vec!["event_types[0]", "event_types[1]", "user_id"]
    );
}
