//! Trace export over OTLP/gRPC: the real binary sends its spans to a
//! receiver built from the OpenTelemetry protocol's own service definitions
//! (opentelemetry-proto), and an RPC's span arrives with its method, gRPC
//! code and request id.

mod common;

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use common::*;
use roster::auth::{Scope, TokenIssuer};
use roster::proto::v1 as pb;

struct Receiver(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let _ = self.0.send(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
        .map(|v| match v {
            Value::StringValue(s) => s.clone(),
            other => format!("{other:?}"),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpc_span_arrives_with_method_code_and_request_id() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let receiver_addr = listener.local_addr().expect("addr");
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Receiver(tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("roster.db");
    let endpoint = format!("http://{receiver_addr}");
    let mut server = process::Server::spawn_with_env(
        &db.to_string_lossy(),
        "otlp",
        &["--otlp-endpoint", &endpoint],
        &[("RUST_LOG", "info")],
    );
    server.wait_serving().await;

    let issuer = TokenIssuer::hs256(SECRET, "roster", "roster");
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    let token = issuer
        .sign(&issuer.claims_for_service("otlp-test", &scopes, chrono::Utc::now().timestamp(), 600))
        .expect("sign");
    let request_id = format!("otlp-{}", uuid::Uuid::new_v4().simple());
    let mut request = authed(
        pb::GetAccountRequest {
            account_id: uuid::Uuid::now_v7().to_string(),
        },
        &token,
    );
    request
        .metadata_mut()
        .insert("x-request-id", request_id.parse().expect("header"));
    let status = server
        .users()
        .await
        .get_account(request)
        .await
        .expect_err("no such account");
    assert_eq!(status.code(), tonic::Code::NotFound);

    // A graceful stop flushes the spans still batched.
    assert!(server.terminate().success());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let span = loop {
        let batch = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("no span of the call arrived")
            .expect("receiver open");
        let found = batch
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .find(|s| attribute(s, "request_id").as_deref() == Some(request_id.as_str()))
            .cloned();
        if let Some(span) = found {
            break span;
        }
    };
    assert_eq!(span.name, "rpc");
    assert_eq!(
        attribute(&span, "method").as_deref(),
        Some("/roster.v1.UserManagementService/GetAccount")
    );
    assert_eq!(attribute(&span, "code").as_deref(), Some("NotFound"));
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
}
