//! Fuzzing the request path of the write RPCs through the real server
//! (decoding, validation, authorization, the store): arbitrary bytes as the
//! message body, and well-formed messages full of arbitrary strings and
//! numbers, on both backends. No input may crash or hang the server, or get
//! INTERNAL/UNKNOWN; every INVALID_ARGUMENT names its fields, except the one
//! for bytes that are not protobuf at all.
//!
//! CI runs a fixed seed; a longer run:
//!     ROSTER_FUZZ_CASES=5000 ROSTER_FUZZ_SEED=3 cargo test --release --test fuzz

mod common;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use prost::Message;
use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

const WRITE_RPCS: [&str; 12] = [
    "/roster.v1.UserManagementService/AddUser",
    "/roster.v1.UserManagementService/UpdateUser",
    "/roster.v1.UserManagementService/DisableUser",
    "/roster.v1.UserManagementService/ActivateUser",
    "/roster.v1.UserManagementService/RemoveUser",
    "/roster.v1.UserManagementService/CreateGroup",
    "/roster.v1.UserManagementService/RegisterWorkRecords",
    "/roster.v1.UserManagementService/ResetPassword",
    "/roster.v1.UserManagementService/CreateAccount",
    "/roster.v1.SeatsService/SetSeatsPurchased",
    "/roster.v1.SeatsService/ChangePlan",
    "/roster.v1.SeatsService/UpdateSeatPolicy",
];

/// Strings a validator should worry about.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[ -~]{0,40}",
        "\\PC{0,80}",
        "[a-z]{1,10}@[a-z]{1,10}\\.[a-z]{2,3}",
        Just("x".repeat(300)),
        Just("\u{0}\u{202e}admin\u{feff}".to_owned()),
        Just("' OR 1=1; --".to_owned()),
        Just("00000000-0000-0000-0000-000000000000".to_owned()),
    ]
}

fn message_for(rpc: usize) -> impl Strategy<Value = Vec<u8>> {
    let s = nasty_string;
    match rpc % 6 {
        0 => (s(), s(), s(), s(), any::<i32>())
            .prop_map(|(a, n, e, p, role)| {
                pb::AddUserRequest {
                    account_id: a,
                    name: n,
                    email: e,
                    password: p,
                    role,
                    ..Default::default()
                }
                .encode_to_vec()
            })
            .boxed(),
        1 => (s(), s(), s(), proptest::option::of(s()), any::<i32>())
            .prop_map(|(a, u, etag, name, role)| {
                pb::UpdateUserRequest {
                    account_id: a,
                    user_id: u,
                    etag,
                    name,
                    role: Some(role),
                    ..Default::default()
                }
                .encode_to_vec()
            })
            .boxed(),
        2 => (s(), s(), s(), any::<bool>())
            .prop_map(|(a, u, t, validate_only)| {
                pb::DisableUserRequest {
                    account_id: a,
                    user_id: u,
                    reassignment: Some(pb::Reassignment {
                        target_user_id: t,
                        by_kind: vec![],
                    }),
                    validate_only,
                    ..Default::default()
                }
                .encode_to_vec()
            })
            .boxed(),
        3 => (
            s(),
            proptest::collection::vec((any::<i32>(), s(), s()), 0..20),
        )
            .prop_map(|(a, records)| {
                pb::RegisterWorkRecordsRequest {
                    account_id: a,
                    records: records
                        .into_iter()
                        .map(|(kind, external_id, owner_user_id)| pb::WorkRecordInput {
                            kind,
                            external_id,
                            owner_user_id,
                            ..Default::default()
                        })
                        .collect(),
                }
                .encode_to_vec()
            })
            .boxed(),
        4 => (s(), any::<i32>(), s())
            .prop_map(|(a, seats, reason)| {
                pb::SetSeatsPurchasedRequest {
                    account_id: a,
                    seats_purchased: seats,
                    reason,
                }
                .encode_to_vec()
            })
            .boxed(),
        _ => proptest::collection::vec(any::<u8>(), 0..200).boxed(),
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn write_rpcs_survive_arbitrary_input(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let tokens = [ws.admin_token.clone(), app.service_token()];
    let seed = env_number("ROSTER_FUZZ_SEED", 1);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: env_number("ROSTER_FUZZ_CASES", 300) as u32,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = (0..WRITE_RPCS.len(), 0..6usize, any::<bool>())
        .prop_flat_map(|(rpc, shape, service)| (Just(rpc), message_for(shape), Just(service)));
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::block_in_place(|| {
        runner.run(&strategy, |(rpc, body, service)| {
            handle.block_on(async {
                let path = WRITE_RPCS[rpc];
                let token = &tokens[usize::from(service)];
                let call = raw::unary(&app, path, body.clone(), token);
                let answer = tokio::time::timeout(std::time::Duration::from_secs(10), call)
                    .await
                    .map_err(|_| TestCaseError::fail(format!("{path}: hung on {body:?}")))?;
                let Err(status) = answer else {
                    return Ok(());
                };
                if matches!(status.code(), Code::Internal | Code::Unknown) {
                    return Err(TestCaseError::fail(format!(
                        "{path}: {status:?} for {body:?}"
                    )));
                }
                let undecodable = status.message().contains("not a valid protobuf message");
                if status.code() == Code::InvalidArgument
                    && bad_fields(&status).is_empty()
                    && !undecodable
                {
                    return Err(TestCaseError::fail(format!(
                        "{path}: INVALID_ARGUMENT without a field: {status:?}"
                    )));
                }
                Ok(())
            })
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // Still serving.
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("alive");
}

both_backends!(write_rpcs_survive_arbitrary_input);
