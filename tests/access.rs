//! Access checks and access roles over gRPC, on SQLite and PostgreSQL: the
//! rights table (every action × kind × level × owner relation), stage
//! rights, inactive/unknown/removed users, and changes (role edits, group
//! moves, disabling) seen by the very next check, on another replica too.

mod common;

use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

both_backends!(
    rights_table,
    stage_rights_narrow_leads_in_their_stage,
    changes_are_seen_by_the_next_check_on_any_replica,
    kept_users_decide_only_while_the_account_is_unchanged,
    role_edits_reach_every_holder,
    roles_in_use_move_to_a_replacement_on_delete,
    role_names_etags_and_requests,
    users_take_a_role_or_individual_rights,
    bad_checks_name_their_field,
);

use pb::PermissionLevel as L;

const ACTIONS: [pb::AccessAction; 5] = [
    pb::AccessAction::View,
    pb::AccessAction::Edit,
    pb::AccessAction::Add,
    pb::AccessAction::Delete,
    pb::AccessAction::Export,
];
const KINDS: [pb::RecordKind; 4] = [
    pb::RecordKind::Lead,
    pb::RecordKind::Contact,
    pb::RecordKind::Company,
    pb::RecordKind::Task,
];

/// Who owns the record, seen from the checked user.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Owner {
    Itself,
    SameGroup,
    OtherGroup,
    /// A user removed from the account.
    Former,
    /// No owner at all.
    Nobody,
}

/// The rights table: level × owner → allowed, and the relation reported.
const TABLE: &[(L, Owner, bool, pb::OwnerRelation)] = &[
    (L::All, Owner::Itself, true, pb::OwnerRelation::Unspecified),
    (
        L::All,
        Owner::SameGroup,
        true,
        pb::OwnerRelation::Unspecified,
    ),
    (
        L::All,
        Owner::OtherGroup,
        true,
        pb::OwnerRelation::Unspecified,
    ),
    (L::All, Owner::Former, true, pb::OwnerRelation::Unspecified),
    (L::All, Owner::Nobody, true, pb::OwnerRelation::Unspecified),
    (L::Group, Owner::Itself, true, pb::OwnerRelation::Self_),
    (
        L::Group,
        Owner::SameGroup,
        true,
        pb::OwnerRelation::SameGroup,
    ),
    (L::Group, Owner::OtherGroup, false, pb::OwnerRelation::Other),
    (L::Group, Owner::Former, false, pb::OwnerRelation::None),
    (L::Group, Owner::Nobody, false, pb::OwnerRelation::None),
    (L::Own, Owner::Itself, true, pb::OwnerRelation::Self_),
    (
        L::Own,
        Owner::SameGroup,
        false,
        pb::OwnerRelation::SameGroup,
    ),
    (L::Own, Owner::OtherGroup, false, pb::OwnerRelation::Other),
    (L::Own, Owner::Former, false, pb::OwnerRelation::None),
    (L::Own, Owner::Nobody, false, pb::OwnerRelation::None),
    (
        L::Denied,
        Owner::Itself,
        false,
        pb::OwnerRelation::Unspecified,
    ),
    (
        L::Denied,
        Owner::SameGroup,
        false,
        pb::OwnerRelation::Unspecified,
    ),
    (
        L::Denied,
        Owner::OtherGroup,
        false,
        pb::OwnerRelation::Unspecified,
    ),
    (
        L::Denied,
        Owner::Former,
        false,
        pb::OwnerRelation::Unspecified,
    ),
    (
        L::Denied,
        Owner::Nobody,
        false,
        pb::OwnerRelation::Unspecified,
    ),
];

fn every(level: L) -> Option<pb::EntityRights> {
    let l = level as i32;
    Some(pb::EntityRights {
        view: l,
        edit: l,
        add: l,
        delete: l,
        export: l,
    })
}

fn uniform(level: L) -> pb::Permissions {
    pb::Permissions {
        leads: every(level),
        contacts: every(level),
        companies: every(level),
        tasks: every(level),
        ..Default::default()
    }
}

async fn group(app: &TestApp, ws: &Workspace, name: &str) -> String {
    app.users()
        .create_group(authed(
            pb::CreateGroupRequest {
                account_id: String::new(),
                name: name.into(),
            },
            &ws.admin_token,
        ))
        .await
        .expect("group")
        .into_inner()
        .group
        .expect("group")
        .id
}

async fn add(
    app: &TestApp,
    ws: &Workspace,
    name: &str,
    group_id: &str,
    permissions: Option<pb::Permissions>,
) -> pb::User {
    app.users()
        .add_user(authed(
            pb::AddUserRequest {
                group_id: group_id.into(),
                permissions,
                ..new_user(&unique_email(name))
            },
            &ws.admin_token,
        ))
        .await
        .expect("add user")
        .into_inner()
        .user
        .expect("user")
}

fn check(
    user_id: &str,
    action: pb::AccessAction,
    kind: pb::RecordKind,
    owner: &str,
) -> pb::AccessCheck {
    pb::AccessCheck {
        user_id: user_id.into(),
        action: action as i32,
        kind: kind as i32,
        owner_user_id: owner.into(),
        stage_id: String::new(),
    }
}

async fn decide(
    app: &TestApp,
    account_id: &str,
    token: &str,
    c: pb::AccessCheck,
) -> pb::AccessDecision {
    app.access()
        .check_access(authed(
            pb::CheckAccessRequest {
                account_id: account_id.into(),
                check: Some(c),
            },
            token,
        ))
        .await
        .expect("check")
        .into_inner()
        .decision
        .expect("decision")
}

async fn decide_all(
    app: &TestApp,
    account_id: &str,
    token: &str,
    checks: Vec<pb::AccessCheck>,
) -> Vec<pb::AccessDecision> {
    let n = checks.len();
    let decisions = app
        .access()
        .batch_check_access(authed(
            pb::BatchCheckAccessRequest {
                account_id: account_id.into(),
                checks,
            },
            token,
        ))
        .await
        .expect("batch")
        .into_inner()
        .decisions;
    assert_eq!(decisions.len(), n, "one decision per check");
    decisions
}

async fn remove(app: &TestApp, ws: &Workspace, user_id: &str, heir: &str) {
    app.users()
        .remove_user(authed(
            pb::RemoveUserRequest {
                user_id: user_id.into(),
                reassignment: to(heir),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("remove");
}

async fn rights_table(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 30)
        .await;
    let g1 = group(&app, &ws, "North").await;
    let g2 = group(&app, &ws, "South").await;
    let mate = add(&app, &ws, "mate", &g1, None).await;
    let stranger = add(&app, &ws, "stranger", &g2, None).await;
    let former = add(&app, &ws, "former", &g1, None).await;
    remove(&app, &ws, &former.id, &mate.id).await;

    let mut checked = 0;
    for level in [L::All, L::Group, L::Own, L::Denied] {
        let me = add(&app, &ws, "me", &g1, Some(uniform(level))).await;
        let owner_id = |owner: Owner| match owner {
            Owner::Itself => me.id.clone(),
            Owner::SameGroup => mate.id.clone(),
            Owner::OtherGroup => stranger.id.clone(),
            Owner::Former => former.id.clone(),
            Owner::Nobody => String::new(),
        };
        let rows: Vec<_> = TABLE.iter().filter(|row| row.0 == level).collect();
        assert_eq!(rows.len(), 5, "every owner relation for {level:?}");
        let mut checks = Vec::new();
        let mut want = Vec::new();
        for (_, owner, allowed, relation) in &rows {
            for action in ACTIONS {
                for kind in KINDS {
                    checks.push(check(&me.id, action, kind, &owner_id(*owner)));
                    want.push((
                        *allowed,
                        *relation,
                        format!("{level:?} {owner:?} {action:?} {kind:?}"),
                    ));
                }
            }
        }
        // Asked by a service in one batch, and one by one by a member.
        let decisions =
            decide_all(&app, &ws.account.id, &app.service_token(), checks.clone()).await;
        let member_token = app.user_token(&mate.id, &ws.account.id);
        for (i, (c, d)) in checks.into_iter().zip(decisions).enumerate() {
            let (allowed, relation, what) = &want[i];
            assert_eq!(d.allowed, *allowed, "{what}");
            assert_eq!(d.basis(), pb::AccessBasis::Level, "{what}");
            assert_eq!(d.level(), level, "{what}");
            assert_eq!(d.source(), pb::RightsSource::User, "{what}");
            assert_eq!(d.owner_relation(), *relation, "{what}");
            assert!(!d.from_stage_rights, "{what}");
            if i % 7 == 0 {
                assert_eq!(
                    decide(&app, &ws.account.id, &member_token, c).await,
                    d,
                    "{what}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, TABLE.len() * ACTIONS.len() * KINDS.len());

    // Whatever their rights, inactive, removed and unknown users are denied.
    let admin_all = add(&app, &ws, "off", &g1, Some(uniform(L::All))).await;
    app.users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: admin_all.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("disable");
    let unknown = uuid::Uuid::new_v4().to_string();
    let decisions = decide_all(
        &app,
        &ws.account.id,
        &ws.admin_token,
        vec![
            check(
                &admin_all.id,
                pb::AccessAction::View,
                pb::RecordKind::Lead,
                "",
            ),
            check(
                &former.id,
                pb::AccessAction::View,
                pb::RecordKind::Lead,
                &former.id,
            ),
            check(&unknown, pb::AccessAction::View, pb::RecordKind::Lead, ""),
            check(
                &ws.admin.id,
                pb::AccessAction::Export,
                pb::RecordKind::Task,
                &unknown,
            ),
        ],
    )
    .await;
    assert!(!decisions[0].allowed);
    assert_eq!(decisions[0].basis(), pb::AccessBasis::UserInactive);
    assert!(!decisions[1].allowed);
    assert_eq!(decisions[1].basis(), pb::AccessBasis::UserNotFound);
    assert!(!decisions[2].allowed);
    assert_eq!(decisions[2].basis(), pb::AccessBasis::UserNotFound);
    // The account's admin has ALL by default, so even unowned records.
    assert!(decisions[3].allowed);
    // A user of another account is not a user of this one.
    let other = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 3)
        .await;
    let d = decide(
        &app,
        &ws.account.id,
        &app.service_token(),
        pb::AccessCheck {
            ..check(
                &other.admin.id,
                pb::AccessAction::View,
                pb::RecordKind::Lead,
                "",
            )
        },
    )
    .await;
    assert_eq!(d.basis(), pb::AccessBasis::UserNotFound);
}

async fn stage_rights_narrow_leads_in_their_stage(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let g = group(&app, &ws, "Team").await;
    let mate = add(&app, &ws, "mate", &g, None).await;
    let permissions = pb::Permissions {
        lead_stage_rights: vec![
            pb::StageRights {
                stage_id: "won".into(),
                rights: Some(pb::EntityRights {
                    edit: L::Denied as i32,
                    view: L::Group as i32,
                    ..Default::default()
                }),
            },
            pb::StageRights {
                stage_id: "new".into(),
                rights: None,
            },
        ],
        ..uniform(L::All)
    };
    let me = add(&app, &ws, "me", &g, Some(permissions)).await;
    // Unset stage levels took the lead rights.
    let stages = &me
        .permissions
        .as_ref()
        .expect("permissions")
        .lead_stage_rights;
    assert_eq!(stages.len(), 2);
    let won = stages.iter().find(|s| s.stage_id == "won").expect("won");
    assert_eq!(
        won.rights,
        Some(pb::EntityRights {
            view: L::Group as i32,
            edit: L::Denied as i32,
            add: L::All as i32,
            delete: L::All as i32,
            export: L::All as i32,
        })
    );
    let stranger = add(&app, &ws, "stranger", "", None).await;
    let staged = |action, owner: &str, stage: &str| pb::AccessCheck {
        stage_id: stage.into(),
        ..check(&me.id, action, pb::RecordKind::Lead, owner)
    };
    let d = decide_all(
        &app,
        &ws.account.id,
        &ws.admin_token,
        vec![
            staged(pb::AccessAction::Edit, &mate.id, "won"),
            staged(pb::AccessAction::Edit, &mate.id, "open"),
            staged(pb::AccessAction::View, &mate.id, "won"),
            staged(pb::AccessAction::View, &stranger.id, "won"),
            staged(pb::AccessAction::Edit, &stranger.id, "new"),
            staged(pb::AccessAction::Edit, &stranger.id, ""),
            // Stages mean nothing for contacts.
            pb::AccessCheck {
                stage_id: "won".into(),
                ..check(
                    &me.id,
                    pb::AccessAction::Edit,
                    pb::RecordKind::Contact,
                    &mate.id,
                )
            },
        ],
    )
    .await;
    let got: Vec<(bool, bool)> = d.iter().map(|d| (d.allowed, d.from_stage_rights)).collect();
    assert_eq!(
        got,
        vec![
            (false, true),
            (true, false),
            (true, true),
            (false, true),
            (true, true),
            (true, false),
            (true, false),
        ]
    );
    assert_eq!(d[0].level(), L::Denied);
    assert_eq!(d[3].owner_relation(), pb::OwnerRelation::Other);
}

async fn set_group(app: &TestApp, ws: &Workspace, user: &pb::User, group_id: &str) -> pb::User {
    app.users()
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: user.id.clone(),
                etag: user.etag.clone(),
                group_id: Some(group_id.into()),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("move")
        .into_inner()
        .user
        .expect("user")
}

/// An account with a group "One" holding `me` (GROUP rights everywhere)
/// and `mate` (a member's defaults): (workspace, group id, me, mate).
async fn mates(app: &TestApp) -> (Workspace, String, pb::User, pb::User) {
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let g1 = group(app, &ws, "One").await;
    let me = add(app, &ws, "me", &g1, Some(uniform(L::Group))).await;
    let mate = add(app, &ws, "mate", &g1, None).await;
    (ws, g1, me, mate)
}

/// May `me` edit a lead of `mate`'s?
fn edit_lead(me: &pb::User, mate: &pb::User) -> pb::AccessCheck {
    check(
        &me.id,
        pb::AccessAction::Edit,
        pb::RecordKind::Lead,
        &mate.id,
    )
}

async fn changes_are_seen_by_the_next_check_on_any_replica(db: Db) {
    let app = TestApp::spawn(db).await;
    let shared_url = app.database_url.clone();
    let replica = TestApp::spawn_with(db, |s| {
        s.database_url = shared_url.parse().expect("database url")
    })
    .await;
    let (ws, g1, me, mate) = mates(&app).await;
    let g2 = group(&app, &ws, "Two").await;
    let service = app.service_token();
    let edit = || edit_lead(&me, &mate);
    for server in [&app, &replica] {
        assert!(
            decide(server, &ws.account.id, &service, edit())
                .await
                .allowed
        );
    }
    // The owner moves to another group: the next check on either replica
    // sees it, and again when it comes back.
    let mate = set_group(&app, &ws, &mate, &g2).await;
    for server in [&replica, &app] {
        let d = decide(server, &ws.account.id, &service, edit()).await;
        assert!(!d.allowed);
        assert_eq!(d.owner_relation(), pb::OwnerRelation::Other);
    }
    let _mate = set_group(&replica, &ws, &mate, &g1).await;
    for server in [&app, &replica] {
        assert!(
            decide(server, &ws.account.id, &service, edit())
                .await
                .allowed
        );
    }
    // Rights changed on one replica are seen on the other.
    let me = app
        .users()
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: me.id.clone(),
                etag: me.etag.clone(),
                permissions: Some(uniform(L::Own)),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("rights")
        .into_inner()
        .user
        .expect("user");
    let d = decide(&replica, &ws.account.id, &service, edit()).await;
    assert!(!d.allowed);
    assert_eq!(d.level(), L::Own);
    // A role given on the replica decides the next check on the first.
    let role = create_role(&replica, &ws, "Closers", uniform(L::All)).await;
    let me = hold(&replica, &ws, &me, &role.id).await;
    let d = decide(&app, &ws.account.id, &service, edit()).await;
    assert!(d.allowed);
    assert_eq!(d.source(), pb::RightsSource::Role);
    assert_eq!(d.access_role_id, role.id);
    // Disabled on one replica: denied by the next check on the other.
    replica
        .users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: me.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("disable");
    let d = decide(&app, &ws.account.id, &service, edit()).await;
    assert!(!d.allowed);
    assert_eq!(d.basis(), pb::AccessBasis::UserInactive);
}

/// A change by hand (an operator's SQL) is seen by the next check: the
/// users a check keeps in memory serve only while the account's
/// `users_version` is the one read before them. With the trigger gone the
/// version stays and the kept users decide, which shows they are kept.
async fn kept_users_decide_only_while_the_account_is_unchanged(db: Db) {
    let app = TestApp::spawn(db).await;
    let (ws, g1, me, mate) = mates(&app).await;
    let account = ws.account.id.as_str();
    let service = app.service_token();
    let edit = || edit_lead(&me, &mate);
    let relation = async || {
        let d = decide(&app, account, &service, edit()).await;
        assert_eq!(
            d.allowed,
            d.owner_relation() == pb::OwnerRelation::SameGroup
        );
        d.owner_relation()
    };
    assert_eq!(relation().await, pb::OwnerRelation::SameGroup);
    let move_by_hand = |group: &str| {
        format!(
            "UPDATE users SET group_id = {group} WHERE id = '{}'",
            mate.id
        )
    };

    app.sql(&move_by_hand("NULL")).await;
    assert_eq!(relation().await, pb::OwnerRelation::Other);

    app.sql(db.drop_users_version_trigger()).await;
    app.sql(&move_by_hand(&format!("'{g1}'"))).await;
    assert_eq!(relation().await, pb::OwnerRelation::Other, "kept");
    app.sql(&format!(
        "UPDATE accounts SET users_version = users_version + 1 WHERE id = '{account}'"
    ))
    .await;
    assert_eq!(relation().await, pb::OwnerRelation::SameGroup);

    // Without the cache the same change by hand shows at once.
    let uncached = TestApp::spawn_with(db, |s| {
        s.database_url = app.database_url.parse().expect("database url");
        s.access_cache_users = 0;
    })
    .await;
    let d = decide(&uncached, account, &service, edit()).await;
    assert!(d.allowed);
    app.sql(&move_by_hand("NULL")).await;
    let d = decide(&uncached, account, &service, edit()).await;
    assert!(!d.allowed);
    assert_eq!(d.owner_relation(), pb::OwnerRelation::Other);
}

async fn create_role(
    app: &TestApp,
    ws: &Workspace,
    name: &str,
    permissions: pb::Permissions,
) -> pb::AccessRole {
    app.users()
        .create_access_role(authed(
            pb::CreateAccessRoleRequest {
                name: name.into(),
                permissions: Some(permissions),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("create role")
        .into_inner()
        .access_role
        .expect("role")
}

async fn hold(app: &TestApp, ws: &Workspace, user: &pb::User, role_id: &str) -> pb::User {
    app.users()
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: user.id.clone(),
                etag: user.etag.clone(),
                access_role_id: Some(role_id.into()),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("hold role")
        .into_inner()
        .user
        .expect("user")
}

async fn get_user(app: &TestApp, ws: &Workspace, id: &str) -> pb::User {
    app.users()
        .get_user(authed(
            pb::GetUserRequest {
                account_id: String::new(),
                user_id: id.into(),
            },
            &ws.admin_token,
        ))
        .await
        .expect("get")
        .into_inner()
        .user
        .expect("user")
}

async fn role_edits_reach_every_holder(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let role = create_role(&app, &ws, "Sales", uniform(L::Own)).await;
    assert_eq!(role.user_count, 0);
    let a = hold(&app, &ws, &member(&app, &ws, "ann").await, &role.id).await;
    let b = hold(&app, &ws, &member(&app, &ws, "ben").await, &role.id).await;
    let outsider = member(&app, &ws, "oli").await;
    assert_eq!(a.access_role_id, role.id);
    assert_eq!(a.permissions, role.permissions);
    let token = app.user_token(&a.id, &ws.account.id);
    let edit_others = |u: &pb::User| {
        check(
            &u.id,
            pb::AccessAction::Edit,
            pb::RecordKind::Contact,
            &outsider.id,
        )
    };
    for u in [&a, &b] {
        let d = decide(&app, &ws.account.id, &token, edit_others(u)).await;
        assert!(!d.allowed);
        assert_eq!(d.source(), pb::RightsSource::Role);
        assert_eq!(d.access_role_id, role.id);
    }
    let updated = app
        .users()
        .update_access_role(authed(
            pb::UpdateAccessRoleRequest {
                access_role_id: role.id.clone(),
                etag: role.etag.clone(),
                permissions: Some(uniform(L::All)),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("update role")
        .into_inner()
        .access_role
        .expect("role");
    assert_eq!(updated.user_count, 2);
    assert_ne!(updated.etag, role.etag);
    // The very next check of each holder, and each holder's record.
    for u in [&a, &b] {
        assert!(
            decide(&app, &ws.account.id, &token, edit_others(u))
                .await
                .allowed
        );
        let now = get_user(&app, &ws, &u.id).await;
        assert_eq!(now.permissions, updated.permissions);
        assert_ne!(now.etag, u.etag, "a holder's etag changes with its rights");
    }
    // An outsider's rights did not move.
    assert_eq!(
        get_user(&app, &ws, &outsider.id).await.permissions,
        outsider.permissions
    );
    // A rename alone keeps the holders' records as they were.
    let renamed = app
        .users()
        .update_access_role(authed(
            pb::UpdateAccessRoleRequest {
                access_role_id: role.id.clone(),
                etag: updated.etag.clone(),
                name: Some("Sales team".into()),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("rename")
        .into_inner()
        .access_role
        .expect("role");
    assert_eq!(renamed.name, "Sales team");
    assert_eq!(renamed.permissions, updated.permissions);
    let listed = app
        .users()
        .list_access_roles(authed(pb::ListAccessRolesRequest::default(), &token))
        .await
        .expect("list")
        .into_inner()
        .access_roles;
    assert_eq!(listed, vec![renamed]);
}

async fn roles_in_use_move_to_a_replacement_on_delete(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let old = create_role(&app, &ws, "Old", uniform(L::Own)).await;
    let new = create_role(&app, &ws, "New", uniform(L::Group)).await;
    let a = hold(&app, &ws, &member(&app, &ws, "ann").await, &old.id).await;
    let delete = |role_id: &str, replacement: &str| {
        let mut users = app.users();
        let request = authed(
            pb::DeleteAccessRoleRequest {
                access_role_id: role_id.into(),
                replacement_role_id: replacement.into(),
                ..Default::default()
            },
            &ws.admin_token,
        );
        async move { users.delete_access_role(request).await }
    };
    let status = delete(&old.id, "").await.expect_err("held");
    assert_error(&status, Code::FailedPrecondition, "ACCESS_ROLE_IN_USE");
    assert_eq!(get_user(&app, &ws, &a.id).await.access_role_id, old.id);
    let status = delete(&old.id, &old.id).await.expect_err("itself");
    assert_eq!(bad_fields(&status), vec!["replacement_role_id"]);
    let status = delete(&old.id, &uuid::Uuid::new_v4().to_string())
        .await
        .expect_err("unknown replacement");
    assert_eq!(bad_fields(&status), vec!["replacement_role_id"]);
    let moved = delete(&old.id, &new.id).await.expect("delete").into_inner();
    assert_eq!(moved.moved_users, 1);
    let a = get_user(&app, &ws, &a.id).await;
    assert_eq!(a.access_role_id, new.id);
    assert_eq!(a.permissions, new.permissions);
    let status = app
        .users()
        .get_access_role(authed(
            pb::GetAccessRoleRequest {
                account_id: String::new(),
                access_role_id: old.id.clone(),
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("gone");
    assert_error(&status, Code::NotFound, "ACCESS_ROLE_NOT_FOUND");
    // The moved holder is checked with the replacement's rights.
    let d = decide(
        &app,
        &ws.account.id,
        &ws.admin_token,
        check(&a.id, pb::AccessAction::View, pb::RecordKind::Task, ""),
    )
    .await;
    assert_eq!(
        (d.level(), d.access_role_id.as_str()),
        (L::Group, new.id.as_str())
    );
    // A role no one holds goes without a replacement; events say so.
    let spare = create_role(&app, &ws, "Spare", uniform(L::Denied)).await;
    assert_eq!(
        delete(&spare.id, "")
            .await
            .expect("delete")
            .into_inner()
            .moved_users,
        0
    );
    let count = |event_type: &str| {
        format!(
            "SELECT count(*) AS n FROM events WHERE account_id = '{}' AND event_type = '{event_type}'",
            ws.account.id
        )
    };
    assert_eq!(app.sql_count(&count("ACCESS_ROLE_CREATED")).await, 3);
    assert_eq!(app.sql_count(&count("ACCESS_ROLE_DELETED")).await, 2);
}

async fn role_names_etags_and_requests(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let role = create_role(&app, &ws, "Support", uniform(L::Own)).await;
    let status = app
        .users()
        .create_access_role(authed(
            pb::CreateAccessRoleRequest {
                name: "  SUPPORT ".into(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("taken");
    assert_error(&status, Code::AlreadyExists, "ACCESS_ROLE_NAME_TAKEN");
    let other = create_role(&app, &ws, "Billing", uniform(L::Own)).await;
    let status = app
        .users()
        .update_access_role(authed(
            pb::UpdateAccessRoleRequest {
                access_role_id: other.id.clone(),
                etag: other.etag.clone(),
                name: Some("support".into()),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("taken on rename");
    assert_error(&status, Code::AlreadyExists, "ACCESS_ROLE_NAME_TAKEN");
    let status = app
        .users()
        .update_access_role(authed(
            pb::UpdateAccessRoleRequest {
                access_role_id: role.id.clone(),
                etag: "v0".into(),
                name: Some("Helpdesk".into()),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("stale");
    assert_error(&status, Code::Aborted, "ETAG_MISMATCH");
    // Unset levels take a member's defaults.
    let defaults = create_role(&app, &ws, "Defaults", pb::Permissions::default()).await;
    let leads = defaults.permissions.expect("p").leads.expect("leads");
    assert_eq!(
        (leads.view(), leads.edit(), leads.export()),
        (L::All, L::Own, L::Denied)
    );
    // A retry with the same request id answers the first result.
    let create = || {
        let mut users = app.users();
        let request = authed(
            pb::CreateAccessRoleRequest {
                name: "Once".into(),
                request_id: "role-once".into(),
                ..Default::default()
            },
            &ws.admin_token,
        );
        async move { users.create_access_role(request).await }
    };
    let first = create().await.expect("first").into_inner();
    let again = create().await.expect("again").into_inner();
    assert_eq!(first, again);
    // Members read roles but cannot write them.
    let mia = member(&app, &ws, "mia").await;
    let token = app.user_token(&mia.id, &ws.account.id);
    let status = app
        .users()
        .create_access_role(authed(
            pb::CreateAccessRoleRequest {
                name: "Mine".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect_err("member");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = app
        .users()
        .create_access_role(authed(
            pb::CreateAccessRoleRequest {
                name: String::new(),
                permissions: Some(pb::Permissions {
                    leads: Some(pb::EntityRights {
                        view: 9,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("bad");
    assert_eq!(bad_fields(&status), vec!["name", "permissions.leads.view"]);
}

async fn users_take_a_role_or_individual_rights(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let role = create_role(&app, &ws, "Viewers", uniform(L::Group)).await;
    let status = app
        .users()
        .add_user(authed(
            pb::AddUserRequest {
                access_role_id: role.id.clone(),
                permissions: Some(uniform(L::All)),
                ..new_user(&unique_email("both"))
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("both");
    assert_eq!(bad_fields(&status), vec!["permissions"]);
    let status = app
        .users()
        .add_user(authed(
            pb::AddUserRequest {
                access_role_id: uuid::Uuid::new_v4().to_string(),
                ..new_user(&unique_email("ghost"))
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("unknown role");
    assert_eq!(bad_fields(&status), vec!["access_role_id"]);
    let holder = app
        .users()
        .add_user(authed(
            pb::AddUserRequest {
                access_role_id: role.id.clone(),
                ..new_user(&unique_email("holder"))
            },
            &ws.admin_token,
        ))
        .await
        .expect("add with role")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(holder.access_role_id, role.id);
    assert_eq!(holder.permissions, role.permissions);
    // Becoming an admin keeps the role's rights.
    let admin = app
        .users()
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: holder.id.clone(),
                etag: holder.etag.clone(),
                role: Some(pb::Role::Admin as i32),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("promote")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(
        (admin.access_role_id.as_str(), &admin.permissions),
        (role.id.as_str(), &role.permissions)
    );
    // Leaving the role keeps its rights as individual ones.
    let left = app
        .users()
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: admin.id.clone(),
                etag: admin.etag.clone(),
                access_role_id: Some(String::new()),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("leave")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(
        (left.access_role_id.as_str(), &left.permissions),
        ("", &role.permissions)
    );
    let d = decide(
        &app,
        &ws.account.id,
        &ws.admin_token,
        check(&left.id, pb::AccessAction::View, pb::RecordKind::Lead, ""),
    )
    .await;
    assert_eq!(d.source(), pb::RightsSource::User);
    // Individual rights given to a holder take it out of the role.
    let back = hold(&app, &ws, &left, &role.id).await;
    let own = app
        .users()
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: back.id.clone(),
                etag: back.etag.clone(),
                permissions: Some(uniform(L::Own)),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("individual")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(own.access_role_id, "");
    assert_eq!(own.permissions, Some(uniform(L::Own)));
    let status = app
        .users()
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: own.id.clone(),
                etag: own.etag.clone(),
                access_role_id: Some(role.id.clone()),
                permissions: Some(uniform(L::All)),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("both");
    assert_eq!(bad_fields(&status), vec!["permissions"]);
}

async fn bad_checks_name_their_field(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 3)
        .await;
    let status = app
        .access()
        .batch_check_access(authed(
            pb::BatchCheckAccessRequest {
                account_id: String::new(),
                checks: vec![
                    check(
                        &ws.admin.id,
                        pb::AccessAction::View,
                        pb::RecordKind::Lead,
                        "",
                    ),
                    pb::AccessCheck {
                        user_id: "nope".into(),
                        action: 0,
                        kind: pb::RecordKind::Note as i32,
                        owner_user_id: "x".into(),
                        stage_id: "s".repeat(65),
                    },
                ],
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("bad");
    assert_eq!(
        bad_fields(&status),
        vec![
            "checks[1].user_id",
            "checks[1].action",
            "checks[1].kind",
            "checks[1].owner_user_id",
            "checks[1].stage_id",
        ]
    );
    for n in [0, 1001] {
        let status = app
            .access()
            .batch_check_access(authed(
                pb::BatchCheckAccessRequest {
                    account_id: String::new(),
                    checks: vec![
                        check(
                            &ws.admin.id,
                            pb::AccessAction::View,
                            pb::RecordKind::Lead,
                            ""
                        );
                        n
                    ],
                },
                &ws.admin_token,
            ))
            .await
            .expect_err("count");
        assert_eq!(bad_fields(&status), vec!["checks"]);
    }
    let full = decide_all(
        &app,
        &ws.account.id,
        &ws.admin_token,
        vec![
            check(
                &ws.admin.id,
                pb::AccessAction::Export,
                pb::RecordKind::Company,
                ""
            );
            1000
        ],
    )
    .await;
    assert!(full.iter().all(|d| d.allowed));
    let status = app
        .access()
        .check_access(authed(pb::CheckAccessRequest::default(), &ws.admin_token))
        .await
        .expect_err("no check");
    assert_eq!(bad_fields(&status), vec!["check"]);
}
