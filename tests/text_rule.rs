//! The text rule (proto comments of both services): every string field of
//! every request, nested and repeated ones included, refuses control and
//! bidirectional formatting characters with INVALID_ARGUMENT naming the
//! field. The field list comes from the served descriptor set, so a field
//! added to the protos is tested without touching this file.

mod common;

use std::collections::HashMap;

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};
use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

/// NUL, a lone control character, DEL, a C1 control and a bidi override.
const BAD: [&str; 5] = ["ab\u{0}cd", "\u{7}", "x\u{7f}", "\u{85}y", "abc\u{202E}fed"];

/// One step of a field path: the field's number, name and whether it is
/// repeated (its path then names element 0).
#[derive(Clone, Debug)]
struct Step {
    number: i32,
    name: String,
    repeated: bool,
}

struct Rpc {
    path: String,
    server_streaming: bool,
    input: String,
}

fn descriptors() -> (Vec<Rpc>, HashMap<String, DescriptorProto>) {
    let set = FileDescriptorSet::decode(roster::proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    let mut messages = HashMap::new();
    fn add(scope: &str, m: &DescriptorProto, into: &mut HashMap<String, DescriptorProto>) {
        let name = format!("{scope}.{}", m.name());
        for nested in &m.nested_type {
            add(&name, nested, into);
        }
        into.insert(name, m.clone());
    }
    let mut rpcs = Vec::new();
    for file in &set.file {
        for m in &file.message_type {
            add(&format!(".{}", file.package()), m, &mut messages);
        }
        if file.package() != "roster.v1" {
            continue;
        }
        for service in &file.service {
            for method in &service.method {
                assert!(
                    !method.client_streaming(),
                    "client streaming needs a case here"
                );
                rpcs.push(Rpc {
                    path: format!("/roster.v1.{}/{}", service.name(), method.name()),
                    server_streaming: method.server_streaming(),
                    input: method.input_type().to_owned(),
                });
            }
        }
    }
    (rpcs, messages)
}

/// Every path from `message` to a string field.
fn string_paths(
    message: &str,
    messages: &HashMap<String, DescriptorProto>,
    prefix: &mut Vec<Step>,
    out: &mut Vec<Vec<Step>>,
) {
    let descriptor = &messages[message];
    for field in &descriptor.field {
        let step = Step {
            number: field.number(),
            name: field.name().to_owned(),
            repeated: field.label() == Label::Repeated,
        };
        match field.r#type() {
            Type::String => {
                prefix.push(step);
                out.push(prefix.clone());
                prefix.pop();
            }
            Type::Message if prefix.len() < 4 => {
                prefix.push(step);
                string_paths(field.type_name(), messages, prefix, out);
                prefix.pop();
            }
            _ => {}
        }
    }
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A message with only `value` set, at `path` (length-delimited all the way).
fn encode(path: &[Step], value: &str) -> Vec<u8> {
    let mut payload = value.as_bytes().to_vec();
    for step in path.iter().rev() {
        let mut wrapped = Vec::new();
        varint(((step.number as u64) << 3) | 2, &mut wrapped);
        varint(payload.len() as u64, &mut wrapped);
        wrapped.extend_from_slice(&payload);
        payload = wrapped;
    }
    payload
}

fn render(path: &[Step]) -> String {
    path.iter()
        .map(|s| {
            if s.repeated {
                format!("{}[0]", s.name)
            } else {
                s.name.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

async fn call(app: &TestApp, rpc: &Rpc, body: Vec<u8>, token: &str) -> Result<(), tonic::Status> {
    if rpc.server_streaming {
        raw::server_streaming(app, &rpc.path, body, token)
            .await
            .map(drop)
    } else {
        raw::unary(app, &rpc.path, body, token).await.map(drop)
    }
}

async fn every_string_field_refuses_control_characters(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let (rpcs, messages) = descriptors();
    assert!(
        rpcs.len() >= 30,
        "only {} RPCs in the descriptor",
        rpcs.len()
    );
    let mut cases = 0;
    for rpc in &rpcs {
        let mut paths = Vec::new();
        string_paths(&rpc.input, &messages, &mut Vec::new(), &mut paths);
        for path in &paths {
            let field = render(path);
            for bad in BAD {
                let status = call(&app, rpc, encode(path, bad), &ws.admin_token)
                    .await
                    .expect_err(&format!("{} accepted {bad:?} in {field}", rpc.path));
                assert_eq!(
                    status.code(),
                    Code::InvalidArgument,
                    "{} {field} {bad:?}: {status:?}",
                    rpc.path
                );
                assert_eq!(reason(&status), "INVALID_ARGUMENT", "{}", rpc.path);
                assert_eq!(
                    bad_fields(&status),
                    vec![field.clone()],
                    "{} {bad:?}",
                    rpc.path
                );
                cases += 1;
            }
        }
    }
    // Every request's strings, nested ones included (AddUser's permissions,
    // RegisterWorkRecords' records, the reassignment maps).
    assert!(cases >= 5 * 60, "only {cases} cases");

    // The same fields with clean text are not refused for their text.
    let clean = rpcs
        .iter()
        .find(|r| r.path.ends_with("/ListUsers"))
        .expect("ListUsers");
    let ok = call(
        &app,
        clean,
        encode(
            &[Step {
                number: field_number(&messages, ".roster.v1.ListUsersRequest", "query"),
                name: "query".into(),
                repeated: false,
            }],
            "Ada \u{200F}",
        ),
        &ws.admin_token,
    )
    .await;
    assert!(ok.is_ok(), "{ok:?}");

    // Nothing refused was stored: no user, group or record was created.
    let account = &ws.account.id;
    assert_eq!(
        app.sql_count(&format!(
            "SELECT COUNT(*) AS n FROM users WHERE account_id = '{account}'"
        ))
        .await,
        1
    );
    assert_eq!(app.sql_count("SELECT COUNT(*) AS n FROM groups").await, 0);
    assert_eq!(
        app.sql_count("SELECT COUNT(*) AS n FROM work_records")
            .await,
        0
    );
}

fn field_number(messages: &HashMap<String, DescriptorProto>, message: &str, field: &str) -> i32 {
    messages[message]
        .field
        .iter()
        .find(|f| f.name() == field)
        .map(|f| f.number())
        .expect("field")
}

/// A request that is not protobuf at all (a string that is not UTF-8) is
/// the caller's fault, not INTERNAL.
async fn undecodable_requests_are_invalid_argument(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    // ListUsersRequest.query (field 5 or wherever) as invalid UTF-8.
    let (_, messages) = descriptors();
    let number = field_number(&messages, ".roster.v1.ListUsersRequest", "query");
    let mut body = Vec::new();
    varint(((number as u64) << 3) | 2, &mut body);
    body.extend_from_slice(&[2, 0xff, 0xfe]);
    let status = raw::unary(
        &app,
        "/roster.v1.UserManagementService/ListUsers",
        body,
        &ws.admin_token,
    )
    .await
    .expect_err("invalid UTF-8 accepted");
    assert_error(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
}

both_backends!(
    every_string_field_refuses_control_characters,
    undecodable_requests_are_invalid_argument
);
