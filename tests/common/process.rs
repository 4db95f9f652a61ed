//! The real `roster` binary as a child process (crash, takeover and
//! start-up tests).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tonic::transport::Channel;

use roster::proto::v1::user_management_service_client::UserManagementServiceClient;

use super::SECRET;

/// A `roster serve` child process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    /// Starts `roster --database-url URL serve --listen <free port> ARGS`.
    pub fn spawn(database_url: &str, host: &str, args: &[&str]) -> Server {
        Self::spawn_with_env(database_url, host, args, &[])
    }

    /// As [`Server::spawn`], with extra environment variables (after the
    /// defaults, so they win: `RUST_LOG` is `warn` otherwise).
    pub fn spawn_with_env(
        database_url: &str,
        host: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            listener.local_addr().expect("addr").port()
        };
        let child = Command::new(env!("CARGO_BIN_EXE_roster"))
            .args([
                "--database-url",
                database_url,
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(args)
            .env(
                "ROSTER_JWT_SECRET",
                std::str::from_utf8(SECRET).expect("utf8"),
            )
            .env("HOSTNAME", host)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start roster");
        Server {
            child,
            addr: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Waits until the gRPC health service answers SERVING; panics if the
    /// process exits first or 30 s pass.
    pub async fn wait_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.serving().await {
                return;
            }
            assert!(Instant::now() < deadline, "roster did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the health service answers SERVING now.
    pub async fn serving(&self) -> bool {
        let Ok(channel) = Channel::from_shared(self.addr.clone())
            .expect("uri")
            .connect()
            .await
        else {
            return false;
        };
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(|r| r.into_inner().status)
            .ok();
        status == Some(tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    pub async fn users(&self) -> UserManagementServiceClient<Channel> {
        UserManagementServiceClient::new(
            Channel::from_shared(self.addr.clone())
                .expect("uri")
                .connect()
                .await
                .expect("connect"),
        )
    }

    /// SIGTERM: graceful shutdown; waits for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(sent.success());
        self.child.wait().expect("wait")
    }

    /// SIGKILL: no shutdown, no lease hand-back.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill");
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
