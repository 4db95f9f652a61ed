//! A TCP relay in front of PostgreSQL that tests cut and restore: to the
//! server it looks exactly like a database restart (every connection
//! reset, new ones refused), without disturbing the shared PostgreSQL
//! other tests use.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// Forwards connections to `upstream` while `open`; when closed it drops
/// every connection and refuses new ones.
pub async fn relay(listener: TcpListener, upstream: String, open: Arc<AtomicBool>) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            return;
        };
        if !open.load(Ordering::SeqCst) {
            continue; // dropped: refused
        }
        let upstream = upstream.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                return;
            };
            let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
            let cut = async {
                while open.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            };
            tokio::select! {
                _ = copy => {}
                _ = cut => {}
            }
        });
    }
}

/// Starts a relay to the PostgreSQL behind `direct_url`; returns the URL
/// through the relay and its switch.
pub async fn through_relay(direct_url: &str) -> (String, Arc<AtomicBool>) {
    let url = url_parts::parse(direct_url);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let relay_addr = listener.local_addr().expect("addr");
    let open = Arc::new(AtomicBool::new(true));
    tokio::spawn(relay(listener, url.host_port.clone(), open.clone()));
    (
        direct_url.replacen(&url.host_port, &relay_addr.to_string(), 1),
        open,
    )
}

pub mod url_parts {
    pub struct Url {
        pub host_port: String,
    }

    /// The `host:port` of a `postgres://user@host:port/db?…` URL.
    pub fn parse(url: &str) -> Url {
        let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        let authority = rest.split(['/', '?']).next().unwrap_or(rest);
        let host_port = authority
            .rsplit_once('@')
            .map(|(_, h)| h)
            .unwrap_or(authority);
        Url {
            host_port: host_port.to_owned(),
        }
    }
}
