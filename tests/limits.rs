//! Every documented limit is refused with a clear code and, where a field
//! is at fault, the field named; nothing is written. SQLite and PostgreSQL.

mod common;

use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

both_backends!(limits_name_the_field);

async fn limits_name_the_field(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let mut users = app.users();
    let token = &ws.admin_token;
    let users_before = app.sql_count("SELECT COUNT(*) AS n FROM users").await;

    // A request message over 4 MiB: refused before any work.
    let status = users
        .add_user(authed(
            pb::AddUserRequest {
                name: "n".repeat(5 * 1024 * 1024),
                ..new_user(&unique_email("huge"))
            },
            token,
        ))
        .await
        .expect_err("too big");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    // Field lengths.
    let status = users
        .add_user(authed(
            pb::AddUserRequest {
                name: "n".repeat(201),
                email: format!("{}@example.com", "e".repeat(250)),
                password: "p".repeat(257),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect_err("too long");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), vec!["name", "email", "password"]);
    let status = users
        .create_group(authed(
            pb::CreateGroupRequest {
                account_id: String::new(),
                name: "g".repeat(101),
            },
            token,
        ))
        .await
        .expect_err("group name");
    assert_eq!(bad_fields(&status), vec!["name"]);

    // Page size, bulk size, records per call, request id, seats.
    let status = users
        .list_users(authed(
            pb::ListUsersRequest {
                page_size: 1001,
                ..Default::default()
            },
            token,
        ))
        .await
        .expect_err("page");
    assert_eq!(bad_fields(&status), vec!["page_size"]);
    let status = users
        .bulk_disable_users(authed(
            pb::BulkDisableUsersRequest {
                user_ids: (0..1001)
                    .map(|_| uuid::Uuid::new_v4().to_string())
                    .collect(),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect_err("bulk");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), vec!["user_ids"]);
    let status = users
        .register_work_records(authed(
            pb::RegisterWorkRecordsRequest {
                account_id: String::new(),
                records: (0..10_001)
                    .map(|i| pb::WorkRecordInput {
                        kind: pb::RecordKind::Lead as i32,
                        external_id: format!("r{i}"),
                        owner_user_id: ws.admin.id.clone(),
                        ..Default::default()
                    })
                    .collect(),
            },
            token,
        ))
        .await
        .expect_err("records");
    assert_eq!(bad_fields(&status), vec!["records"]);
    let status = users
        .register_work_records(authed(
            pb::RegisterWorkRecordsRequest {
                account_id: String::new(),
                records: vec![pb::WorkRecordInput {
                    kind: pb::RecordKind::Lead as i32,
                    external_id: "x".repeat(129),
                    owner_user_id: ws.admin.id.clone(),
                    ..Default::default()
                }],
            },
            token,
        ))
        .await
        .expect_err("external id");
    assert_eq!(bad_fields(&status), vec!["records[0].external_id"]);
    let status = users
        .add_user(authed(
            pb::AddUserRequest {
                request_id: "r".repeat(129),
                ..new_user(&unique_email("rid"))
            },
            token,
        ))
        .await
        .expect_err("request id");
    assert_eq!(bad_fields(&status), vec!["request_id"]);
    let status = app
        .seats()
        .set_seats_purchased(authed(
            pb::SetSeatsPurchasedRequest {
                account_id: ws.account.id.clone(),
                seats_purchased: 100_001,
                reason: "r".repeat(501),
            },
            &app.service_token(),
        ))
        .await
        .expect_err("seats");
    assert_eq!(bad_fields(&status), vec!["seats_purchased", "reason"]);

    assert_eq!(
        app.sql_count("SELECT COUNT(*) AS n FROM users").await,
        users_before,
        "nothing written"
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) AS n FROM work_records")
            .await,
        0
    );
}
