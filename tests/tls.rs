//! TLS and mutual TLS on the gRPC listener, with certificates generated for
//! the test (rcgen): a client trusting the CA gets in; a plaintext client,
//! a client trusting another CA, and (under mTLS) a client without a
//! certificate or with one from a foreign CA are refused.
//! (Each call is a health check: the handshake is what is under test.)

mod common;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use common::*;
use roster::app::TlsSettings;

/// A CA that can issue server and client certificates.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA"),
        }
    }

    fn pem(&self) -> Vec<u8> {
        self.issuer.pem().into_bytes()
    }

    /// (certificate PEM, key PEM) for these names.
    fn issue(&self, names: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &self.issuer)
            .expect("sign");
        (cert.pem().into_bytes(), key.serialize_pem().into_bytes())
    }
}

async fn tls_server(ca: &TestCa, client_ca: Option<&TestCa>) -> TestApp {
    let (cert_pem, key_pem) = ca.issue(&["localhost"]);
    let client_ca_pem = client_ca.map(TestCa::pem);
    TestApp::spawn_with(Db::Sqlite, |s| {
        s.tls = Some(TlsSettings {
            cert_pem,
            key_pem,
            client_ca_pem,
        })
    })
    .await
}

/// Connects over TLS trusting `trust`, optionally with a client identity,
/// and makes one authenticated call.
async fn call(
    app: &TestApp,
    trust: &TestCa,
    identity: Option<(Vec<u8>, Vec<u8>)>,
) -> Result<(), String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(trust.pem()))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Channel::from_shared(format!("https://{}", app.addr))
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .map(|_| ())
        .map_err(|status| format!("{:?}: {}", status.code(), status.message()))
}

async fn plaintext_call(app: &TestApp) -> Result<(), String> {
    let channel = Channel::from_shared(format!("http://{}", app.addr))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .map(|_| ())
        .map_err(|status| format!("{:?}: {}", status.code(), status.message()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tls_serves_clients_that_trust_its_ca() {
    let ca = TestCa::new();
    let app = tls_server(&ca, None).await;
    call(&app, &ca, None).await.expect("TLS call");
    let stranger = TestCa::new();
    let refused = call(&app, &stranger, None).await;
    assert!(
        refused.is_err(),
        "a client trusting another CA: {refused:?}"
    );
    let refused = plaintext_call(&app).await;
    assert!(refused.is_err(), "a plaintext client: {refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mutual_tls_requires_a_client_certificate_from_the_client_ca() {
    let ca = TestCa::new();
    let clients = TestCa::new();
    let app = tls_server(&ca, Some(&clients)).await;
    call(&app, &ca, Some(clients.issue(&["billing-service"])))
        .await
        .expect("client with a certificate from the client CA");
    let refused = call(&app, &ca, None).await;
    assert!(refused.is_err(), "no client certificate: {refused:?}");
    let foreign = TestCa::new();
    let refused = call(&app, &ca, Some(foreign.issue(&["intruder"]))).await;
    assert!(
        refused.is_err(),
        "certificate from a foreign CA: {refused:?}"
    );
}
