//! The `roster` binary as an operator meets it: each subcommand's help lists
//! only its own flags, `--version` names the commit, and every start-up
//! failure is one line on stderr with what to do, and a non-zero exit.

mod common;

use std::process::{Command, Output};

use common::*;

fn roster(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_roster"));
    // Nothing from the caller's environment (ROSTER_*, RUST_LOG) leaks in.
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command.args(args).envs(env.iter().copied());
    command.output().expect("run roster")
}

fn help(subcommand: &str) -> String {
    let out = roster(&[subcommand, "--help"], &[]);
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("utf8")
}

#[test]
fn each_subcommand_lists_only_its_flags() {
    let serve = help("serve");
    for flag in [
        "--listen",
        "--argon2-memory-kib",
        "--price-base-minor",
        "--db-max-connections",
        "--job-batch-size",
        "--idempotency-retention-secs",
        "--jwt-public-key-files",
        "--otlp-endpoint",
        "--tls-cert-file",
    ] {
        assert!(serve.contains(flag), "serve --help lacks {flag}");
    }
    let token = help("token");
    for absent in [
        "argon2",
        "price",
        "db-max",
        "job-",
        "retention",
        "listen",
        "tls",
        "otlp",
    ] {
        assert!(
            !token.contains(absent),
            "token --help shows {absent}:\n{token}"
        );
    }
    assert!(token.contains("--jwt-secret") && token.contains("--service"));
    let migrate = help("migrate");
    for absent in ["argon2", "price", "jwt", "job-", "listen"] {
        assert!(!migrate.contains(absent), "migrate --help shows {absent}");
    }
    let bootstrap = help("bootstrap");
    assert!(bootstrap.contains("--argon2-memory-kib") && bootstrap.contains("--jwt-secret"));
    for absent in ["price", "db-max", "job-", "listen", "public-key"] {
        assert!(
            !bootstrap.contains(absent),
            "bootstrap --help shows {absent}"
        );
    }
}

#[test]
fn version_names_the_commit() {
    let out = roster(&["--version"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(
        text.starts_with(&format!("roster {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    let commit = text
        .trim()
        .trim_end_matches(')')
        .rsplit(' ')
        .next()
        .unwrap_or_default();
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{text}"
    );
}

/// The failure's single stderr line, after checking the exit status.
#[track_caller]
fn failure_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "not one line: {stderr}");
    assert!(lines[0].starts_with("roster: error: "), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    lines[0].to_owned()
}

const SECRET_ENV: (&str, &str) = ("ROSTER_JWT_SECRET", "0123456789abcdef0123456789abcdef");

#[test]
fn unreachable_postgres_names_host_and_port() {
    for subcommand in ["migrate", "serve", "bootstrap"] {
        let mut args = vec![
            "--database-url",
            "postgres://roster@127.0.0.1:1/roster",
            subcommand,
        ];
        if subcommand == "bootstrap" {
            args.extend([
                "--admin-email",
                "a@example.com",
                "--admin-password",
                PASSWORD,
            ]);
        }
        let line = failure_line(&roster(&args, &[SECRET_ENV]));
        assert!(
            line.contains("cannot reach PostgreSQL at 127.0.0.1:1"),
            "{line}"
        );
        assert!(line.contains("ROSTER_DATABASE_URL"), "{line}");
    }
}

#[test]
fn malformed_database_urls_are_named() {
    let line = failure_line(&roster(
        &[
            "--database-url",
            "postgres://roster@db:notaport/roster",
            "migrate",
        ],
        &[],
    ));
    assert!(line.contains("database URL is malformed"), "{line}");
    let line = failure_line(&roster(
        &["--database-url", "mysql://db/roster", "migrate"],
        &[],
    ));
    assert!(
        line.contains("unsupported database URL scheme `mysql`"),
        "{line}"
    );
}

#[test]
fn a_taken_port_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("roster.db");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let line = failure_line(&roster(
        &[
            "--database-url",
            &db.to_string_lossy(),
            "serve",
            "--listen",
            &addr,
        ],
        &[SECRET_ENV],
    ));
    assert!(line.contains(&format!("cannot listen on {addr}")), "{line}");
    assert!(line.contains("ROSTER_LISTEN"), "{line}");
    // Nothing was done before: the database file was not created.
    assert!(!db.exists());
}

#[tokio::test]
async fn postgres_without_a_token_key_says_which_settings() {
    let url = fresh_pg_schema().await;
    let line = failure_line(&roster(
        &["--database-url", &url, "serve", "--listen", "127.0.0.1:0"],
        &[],
    ));
    assert!(line.contains("no token key configured"), "{line}");
    assert!(line.contains("ROSTER_JWT_SECRET"), "{line}");
}

#[test]
fn unreadable_tls_files_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("roster.db");
    let cert = dir.path().join("missing-cert.pem");
    let key = dir.path().join("missing-key.pem");
    let line = failure_line(&roster(
        &[
            "--database-url",
            &db.to_string_lossy(),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert-file",
            &cert.to_string_lossy(),
            "--tls-key-file",
            &key.to_string_lossy(),
        ],
        &[SECRET_ENV],
    ));
    assert!(
        line.contains(&format!(
            "cannot read the TLS certificate file {}",
            cert.display()
        )),
        "{line}"
    );
    assert!(line.contains("ROSTER_TLS_CERT_FILE"), "{line}");
}
