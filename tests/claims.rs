//! Claims of the API that only unit tests or SQL shortcuts covered, checked
//! over gRPC on both backends: permissions round trips, token revocation by
//! RemoveUser, request_id replays, dry-run charges, Enterprise/semiannual
//! proration, reflection, and personal data in stored replies.

mod common;

use chrono::{Datelike, NaiveDate};
use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

const ALL: i32 = pb::PermissionLevel::All as i32;
const GROUP: i32 = pb::PermissionLevel::Group as i32;
const OWN: i32 = pb::PermissionLevel::Own as i32;
const DENIED: i32 = pb::PermissionLevel::Denied as i32;

fn rights(view: i32, edit: i32, add: i32, delete: i32, export: i32) -> pb::EntityRights {
    pb::EntityRights {
        view,
        edit,
        add,
        delete,
        export,
    }
}

async fn get(app: &TestApp, token: &str, user_id: &str) -> Result<pb::User, tonic::Status> {
    Ok(app
        .users()
        .get_user(authed(
            pb::GetUserRequest {
                user_id: user_id.into(),
                ..Default::default()
            },
            token,
        ))
        .await?
        .into_inner()
        .user
        .expect("user"))
}

async fn listed(app: &TestApp, token: &str, user_id: &str) -> pb::User {
    app.users()
        .list_users(authed(
            pb::ListUsersRequest {
                page_size: 100,
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("list")
        .into_inner()
        .users
        .into_iter()
        .find(|u| u.id == user_id)
        .expect("listed")
}

async fn permissions_round_trip_and_role_defaults_fill_the_rest(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let token = &ws.admin_token;
    // A member with some lead rights set, the rest left to the role.
    let sent = pb::Permissions {
        leads: Some(rights(GROUP, OWN, 0, 0, DENIED)),
        tasks: Some(rights(OWN, DENIED, OWN, DENIED, DENIED)),
        mail_access: false,
        catalog_access: true,
        ..Default::default()
    };
    let added = app
        .users()
        .add_user(authed(
            pb::AddUserRequest {
                role: pb::Role::Member as i32,
                permissions: Some(sent),
                ..new_user(&unique_email("rights"))
            },
            token,
        ))
        .await
        .expect("add")
        .into_inner()
        .user
        .expect("user");
    let member_defaults = rights(ALL, OWN, ALL, OWN, DENIED);
    let expected = pb::Permissions {
        leads: Some(rights(GROUP, OWN, ALL, OWN, DENIED)),
        contacts: Some(member_defaults),
        companies: Some(member_defaults),
        tasks: Some(rights(OWN, DENIED, OWN, DENIED, DENIED)),
        mail_access: false,
        catalog_access: true,
        lead_stage_rights: vec![],
    };
    assert_eq!(added.permissions.as_ref(), Some(&expected));
    assert_eq!(
        get(&app, token, &added.id).await.expect("get").permissions,
        Some(expected.clone())
    );
    assert_eq!(
        listed(&app, token, &added.id).await.permissions,
        Some(expected)
    );

    // An admin's rights narrowed without a role change: unset levels keep
    // the admin defaults (not the member ones).
    let admin2 = app
        .users()
        .add_user(authed(
            pb::AddUserRequest {
                role: pb::Role::Admin as i32,
                ..new_user(&unique_email("admin2"))
            },
            token,
        ))
        .await
        .expect("add admin")
        .into_inner()
        .user
        .expect("user");
    let updated = app
        .users()
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: admin2.id.clone(),
                etag: admin2.etag.clone(),
                permissions: Some(pb::Permissions {
                    companies: Some(rights(0, 0, 0, DENIED, 0)),
                    mail_access: true,
                    catalog_access: true,
                    ..Default::default()
                }),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("update")
        .into_inner()
        .user
        .expect("user");
    let admin_defaults = rights(ALL, ALL, ALL, ALL, ALL);
    let expected = pb::Permissions {
        leads: Some(admin_defaults),
        contacts: Some(admin_defaults),
        companies: Some(rights(ALL, ALL, ALL, DENIED, ALL)),
        tasks: Some(admin_defaults),
        mail_access: true,
        catalog_access: true,
        lead_stage_rights: vec![],
    };
    assert_eq!(updated.permissions.as_ref(), Some(&expected));
    assert_eq!(
        get(&app, token, &admin2.id).await.expect("get").permissions,
        Some(expected.clone())
    );
    assert_eq!(
        listed(&app, token, &admin2.id).await.permissions,
        Some(expected)
    );

    // A role change without permissions: the new role's defaults.
    let demoted = app
        .users()
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: admin2.id.clone(),
                etag: updated.etag.clone(),
                role: Some(pb::Role::Member as i32),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("demote")
        .into_inner()
        .user
        .expect("user");
    let permissions = demoted.permissions.expect("permissions");
    assert_eq!(permissions.leads, Some(member_defaults));
    assert!(!permissions.catalog_access);
}

async fn remove_user_ends_its_tokens(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let leaver = member(&app, &ws, "leaver").await;
    let heir = member(&app, &ws, "heir").await;
    let token = app.user_token(&leaver.id, &ws.account.id);
    get(&app, &token, &leaver.id).await.expect("token works");
    app.users()
        .remove_user(authed(
            pb::RemoveUserRequest {
                user_id: leaver.id.clone(),
                reassignment: to(&heir.id),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("remove");
    let status = get(&app, &token, &heir.id).await.expect_err("revoked");
    assert_error(&status, Code::Unauthenticated, "TOKEN_INVALID");
}

async fn events(app: &TestApp) -> i64 {
    app.sql_count("SELECT COUNT(*) AS n FROM events").await
}

async fn request_ids_replay_lifecycle_calls(db: Db) {
    let app = TestApp::spawn(db).await;
    let service = app.service_token();
    let create = pb::CreateAccountRequest {
        name: "Replay".into(),
        plan: pb::Plan::Base as i32,
        billing_cycle: pb::BillingCycle::Monthly as i32,
        seat_policy: pb::SeatPolicy::AutoExpand as i32,
        seats_purchased: 5,
        currency: "USD".into(),
        admin: Some(pb::NewAdmin {
            name: "Ada".into(),
            email: unique_email("ada"),
            password: PASSWORD.into(),
        }),
        request_id: "create-1".into(),
        ..Default::default()
    };
    let first = app
        .users()
        .create_account(authed(create.clone(), &service))
        .await
        .expect("create")
        .into_inner();
    let again = app
        .users()
        .create_account(authed(create, &service))
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(first, again);
    assert_eq!(app.sql_count("SELECT COUNT(*) AS n FROM accounts").await, 1);

    let account = first.account.expect("account");
    let admin = first.admin.expect("admin");
    let ws = Workspace {
        admin_token: app.user_token(&admin.id, &account.id),
        account,
        admin,
    };
    let token = ws.admin_token.clone();
    let user = member(&app, &ws, "subject").await;
    let heir = member(&app, &ws, "heir").await;

    let disable = pb::DisableUserRequest {
        user_id: user.id.clone(),
        request_id: "disable-1".into(),
        ..Default::default()
    };
    let first = app
        .users()
        .disable_user(authed(disable.clone(), &token))
        .await
        .expect("disable")
        .into_inner();
    let logged = events(&app).await;
    let again = app
        .users()
        .disable_user(authed(disable, &token))
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(first, again);
    assert_eq!(events(&app).await, logged, "a replay changes nothing");

    let activate = pb::ActivateUserRequest {
        user_id: user.id.clone(),
        request_id: "activate-1".into(),
        ..Default::default()
    };
    let first = app
        .users()
        .activate_user(authed(activate.clone(), &token))
        .await
        .expect("activate")
        .into_inner();
    let logged = events(&app).await;
    let again = app
        .users()
        .activate_user(authed(activate, &token))
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(first, again);
    assert_eq!(events(&app).await, logged);

    let remove = pb::RemoveUserRequest {
        user_id: user.id.clone(),
        reassignment: to(&heir.id),
        request_id: "remove-1".into(),
        ..Default::default()
    };
    let first = app
        .users()
        .remove_user(authed(remove.clone(), &token))
        .await
        .expect("remove")
        .into_inner();
    let logged = events(&app).await;
    let again = app
        .users()
        .remove_user(authed(remove.clone(), &token))
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(first, again);
    assert_eq!(events(&app).await, logged);

    // The same id with another request is refused.
    let status = app
        .users()
        .remove_user(authed(
            pb::RemoveUserRequest {
                user_id: heir.id.clone(),
                ..remove
            },
            &token,
        ))
        .await
        .expect_err("reused id");
    assert_error(&status, Code::FailedPrecondition, "REQUEST_ID_REUSED");
}

/// Half-up rounding of price × remaining days / period days.
fn prorate(period_price: i64, remaining: i64, period_days: i64) -> i64 {
    (2 * period_price * remaining + period_days) / (2 * period_days)
}

fn date_of(ts: &Option<prost_types::Timestamp>) -> NaiveDate {
    let ts = ts.as_ref().expect("timestamp");
    chrono::DateTime::from_timestamp(ts.seconds, 0)
        .expect("time")
        .date_naive()
}

async fn dry_run_charge_is_the_real_charge(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Advanced, pb::SeatPolicy::AutoExpand, 2)
        .await;
    let token = &ws.admin_token;
    let returning = member(&app, &ws, "returning").await;
    app.users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: returning.id.clone(),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("disable");
    member(&app, &ws, "newcomer").await; // takes the freed seat
    app.clock.advance(chrono::Duration::days(9));
    let activate = pb::ActivateUserRequest {
        user_id: returning.id.clone(),
        ..Default::default()
    };
    let dry = app
        .users()
        .activate_user(authed(
            pb::ActivateUserRequest {
                validate_only: true,
                ..activate.clone()
            },
            token,
        ))
        .await
        .expect("dry run")
        .into_inner();
    let dry_charge = dry.seat_effect.as_ref().expect("effect").charge_minor;
    assert!(dry.refusals.is_empty(), "{:?}", dry.refusals);
    assert_eq!(
        dry.user.as_ref().map(|u| u.status),
        Some(pb::UserStatus::Inactive as i32)
    );
    let real = app
        .users()
        .activate_user(authed(activate, token))
        .await
        .expect("activate")
        .into_inner();
    assert_eq!(real.seat_effect, dry.seat_effect);
    let entry = ledger(&app, token).await.into_iter().next().expect("entry");
    assert_eq!(entry.kind, pb::LedgerEntryKind::SeatAutoExpanded as i32);
    assert_eq!(entry.amount_minor, dry_charge);
    assert_eq!(entry.user_id, returning.id);
    // 25.00 a month, bought on 2026-11-10 of a November period: 21 of 30 days.
    assert_eq!(dry_charge, prorate(2500, 21, 30));
    assert_eq!(dry_charge, 1750);
}

async fn ledger(app: &TestApp, token: &str) -> Vec<pb::LedgerEntry> {
    app.seats()
        .list_ledger_entries(authed(
            pb::ListLedgerEntriesRequest {
                page_size: 50,
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("ledger")
        .into_inner()
        .entries
}

async fn enterprise_semiannual_proration(db: Db) {
    let app = TestApp::spawn(db).await;
    let created = app
        .users()
        .create_account(authed(
            pb::CreateAccountRequest {
                name: "Big Co".into(),
                plan: pb::Plan::Enterprise as i32,
                billing_cycle: pb::BillingCycle::Semiannual as i32,
                seat_policy: pb::SeatPolicy::AutoExpand as i32,
                seats_purchased: 1,
                currency: "EUR".into(),
                enterprise_seat_price_minor: 9_900,
                admin: Some(pb::NewAdmin {
                    name: "Ada".into(),
                    email: unique_email("ent"),
                    password: PASSWORD.into(),
                }),
                request_id: String::new(),
            },
            &app.service_token(),
        ))
        .await
        .expect("create")
        .into_inner();
    let account = created.account.expect("account");
    let admin = created.admin.expect("admin");
    let token = app.user_token(&admin.id, &account.id);
    let (start, end) = (date_of(&account.period_start), date_of(&account.period_end));
    // Six calendar months from 2026-11-01.
    assert_eq!((start.year(), start.month(), start.day()), (2026, 11, 1));
    assert_eq!((end.year(), end.month(), end.day()), (2027, 5, 1));
    app.clock.advance(chrono::Duration::days(40)); // 2026-12-11
    let added = app
        .users()
        .add_user(authed(new_user(&unique_email("extra")), &token))
        .await
        .expect("add")
        .into_inner();
    let entries = ledger(&app, &token).await;
    let entry = entries.first().expect("entry");
    // 99.00 × 6 months for 181 days; 141 days remain: 59400 × 141 / 181 = 46272.93.
    assert_eq!(entry.kind, pb::LedgerEntryKind::SeatAutoExpanded as i32);
    assert_eq!(entry.amount_minor, prorate(59_400, 141, 181));
    assert_eq!(entry.amount_minor, 46_273);
    assert_eq!(entry.currency, "EUR");
    assert_eq!((entry.seats_before, entry.seats_after), (1, 2));
    assert_eq!(entry.user_id, added.user.expect("user").id);
    assert_eq!(entry.plan_after, pb::Plan::Enterprise as i32);
    // Days 0 and 40 both count: on the last day of the period, one day.
    app.clock.set(
        NaiveDate::from_ymd_opt(2027, 4, 30)
            .and_then(|d| d.and_hms_opt(23, 0, 0))
            .expect("date"),
    );
    app.users()
        .add_user(authed(new_user(&unique_email("late")), &token))
        .await
        .expect("add late");
    let entry = ledger(&app, &token)
        .await
        .into_iter()
        .next()
        .expect("entry");
    assert_eq!(entry.amount_minor, prorate(59_400, 1, 181));
    assert_eq!(entry.amount_minor, 328);
}

async fn reflection_lists_every_service(db: Db) {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let app = TestApp::spawn(db).await;
    let mut client = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = stream.message().await.expect("answer").expect("a message");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected answer {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "roster.v1.UserManagementService",
        "roster.v1.SeatsService",
        "roster.v1.AccessService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    // And a service's file can be fetched, as grpcurl does.
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "roster.v1.SeatsService".into(),
        )),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = stream.message().await.expect("answer").expect("a message");
    assert!(matches!(
        response.message_response,
        Some(MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()
    ));
}

/// Stored replies holding the removed user's name or email.
async fn replies_mentioning(app: &TestApp, text: &str) -> i64 {
    let query = match app.db {
        Db::Postgres => format!(
            "SELECT COUNT(*) AS n FROM idempotency_keys WHERE position(convert_to('{text}', 'UTF8') in response) > 0"
        ),
        Db::Sqlite => format!(
            "SELECT COUNT(*) AS n FROM idempotency_keys WHERE instr(response, CAST('{text}' AS BLOB)) > 0"
        ),
    };
    app.sql_count(&query).await
}

async fn removing_a_user_forgets_replies_with_its_personal_data(db: Db) {
    let app = TestApp::spawn(db).await;
    let service = app.service_token();
    let admin_email = unique_email("founder");
    let created = app
        .users()
        .create_account(authed(
            pb::CreateAccountRequest {
                name: "Forgetful".into(),
                plan: pb::Plan::Base as i32,
                billing_cycle: pb::BillingCycle::Monthly as i32,
                seat_policy: pb::SeatPolicy::AutoExpand as i32,
                seats_purchased: 5,
                currency: "USD".into(),
                admin: Some(pb::NewAdmin {
                    name: "Founder Person".into(),
                    email: admin_email.clone(),
                    password: PASSWORD.into(),
                }),
                request_id: "create-forget".into(),
                ..Default::default()
            },
            &service,
        ))
        .await
        .expect("create")
        .into_inner();
    let account = created.account.expect("account");
    let founder = created.admin.expect("admin");
    let founder_token = app.user_token(&founder.id, &account.id);
    // A second admin who will remove the founder.
    let successor = app
        .users()
        .add_user(authed(
            pb::AddUserRequest {
                role: pb::Role::Admin as i32,
                ..new_user(&unique_email("successor"))
            },
            &founder_token,
        ))
        .await
        .expect("add admin")
        .into_inner()
        .user
        .expect("user");
    let token = app.user_token(&successor.id, &account.id);
    let email = unique_email("leaver");
    let leaver = app
        .users()
        .add_user(authed(
            pb::AddUserRequest {
                name: "Lea Leaver".into(),
                request_id: "add-leaver".into(),
                ..new_user(&email)
            },
            &token,
        ))
        .await
        .expect("add")
        .into_inner()
        .user
        .expect("user");
    app.users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: leaver.id.clone(),
                request_id: "disable-leaver".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("disable");
    app.users()
        .activate_user(authed(
            pb::ActivateUserRequest {
                user_id: leaver.id.clone(),
                request_id: "activate-leaver".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("activate");
    assert!(replies_mentioning(&app, &email).await >= 3);
    assert!(replies_mentioning(&app, "Lea Leaver").await >= 3);
    assert!(replies_mentioning(&app, &admin_email).await >= 1);
    for user in [&leaver.id, &founder.id] {
        app.users()
            .remove_user(authed(
                pb::RemoveUserRequest {
                    user_id: user.clone(),
                    reassignment: to(&successor.id),
                    ..Default::default()
                },
                &token,
            ))
            .await
            .expect("remove");
    }
    assert_eq!(replies_mentioning(&app, &email).await, 0);
    assert_eq!(replies_mentioning(&app, "Lea Leaver").await, 0);
    assert_eq!(replies_mentioning(&app, &admin_email).await, 0);
    assert_eq!(replies_mentioning(&app, "Founder Person").await, 0);
}

both_backends!(
    permissions_round_trip_and_role_defaults_fill_the_rest,
    remove_user_ends_its_tokens,
    request_ids_replay_lifecycle_calls,
    dry_run_charge_is_the_real_charge,
    enterprise_semiannual_proration,
    reflection_lists_every_service,
    removing_a_user_forgets_replies_with_its_personal_data
);
