//! The database URL, parsed once: PostgreSQL, or a SQLite file.

use std::fmt;
use std::time::Duration;

/// Where the data lives. Parsed from `--database-url` / `ROSTER_DATABASE_URL`
/// by [`DatabaseUrl::parse`]; the store keeps it.
#[derive(Clone)]
pub enum DatabaseUrl {
    /// `postgres://…` or `postgresql://…`, as given (the driver reads it
    /// again: the shared read connections are tokio-postgres's own).
    Postgres {
        url: String,
        config: Box<tokio_postgres::Config>,
    },
    /// A file path, given plainly or as `sqlite://path` / `sqlite:path`.
    Sqlite { path: String },
}

impl DatabaseUrl {
    /// Refuses a URL Roster cannot use, with a line saying why: a malformed
    /// PostgreSQL URL, or a scheme other than postgres/sqlite.
    pub fn parse(url: &str) -> anyhow::Result<DatabaseUrl> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let config = url.parse::<tokio_postgres::Config>().map_err(|e| {
                anyhow::anyhow!(
                    "the PostgreSQL database URL is malformed: {e} (--database-url / ROSTER_DATABASE_URL)"
                )
            })?;
            return Ok(DatabaseUrl::Postgres {
                url: url.to_owned(),
                config: Box::new(config),
            });
        }
        if let Some((scheme, _)) = url.split_once("://")
            && scheme != "sqlite"
        {
            anyhow::bail!(
                "unsupported database URL scheme `{scheme}`: use postgres://user@host:port/db or a SQLite file path (--database-url / ROSTER_DATABASE_URL)"
            );
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        Ok(DatabaseUrl::Sqlite {
            path: path.to_owned(),
        })
    }

    /// The URL as given (a PostgreSQL URL holds its password: not for logs).
    pub fn as_str(&self) -> &str {
        match self {
            DatabaseUrl::Postgres { url, .. } => url,
            DatabaseUrl::Sqlite { path } => path,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres { .. })
    }

    /// The SQLite file (None on PostgreSQL).
    pub fn sqlite_path(&self) -> Option<&str> {
        match self {
            DatabaseUrl::Sqlite { path } => Some(path),
            DatabaseUrl::Postgres { .. } => None,
        }
    }

    /// On PostgreSQL, fails with the host and port when no server answers
    /// there (rather than a driver error later, mid-migration).
    pub async fn ensure_reachable(&self) -> anyhow::Result<()> {
        use tokio_postgres::config::Host;
        let DatabaseUrl::Postgres { config, .. } = self else {
            return Ok(());
        };
        let ports = config.get_ports();
        let mut last_error = None;
        for (i, host) in config.get_hosts().iter().enumerate() {
            // A Unix socket is for the driver to try.
            let Host::Tcp(host) = host else {
                return Ok(());
            };
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            let connect = tokio::net::TcpStream::connect((host.as_str(), port));
            match tokio::time::timeout(Duration::from_secs(5), connect).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => {
                    last_error = Some(format!("cannot reach PostgreSQL at {host}:{port}: {e}"))
                }
                Err(_) => {
                    last_error = Some(format!(
                        "cannot reach PostgreSQL at {host}:{port}: no answer in 5 s"
                    ))
                }
            }
        }
        match last_error {
            Some(e) => anyhow::bail!("{e} (is it running? --database-url / ROSTER_DATABASE_URL)"),
            None => Ok(()),
        }
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = anyhow::Error;

    fn from_str(url: &str) -> anyhow::Result<DatabaseUrl> {
        DatabaseUrl::parse(url)
    }
}

/// Without the password: URLs end up in logs and panics.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Postgres { config, .. } => f
                .debug_struct("Postgres")
                .field("hosts", &config.get_hosts())
                .field("dbname", &config.get_dbname())
                .field("user", &config.get_user())
                .finish(),
            DatabaseUrl::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DatabaseUrl;

    #[test]
    fn sqlite_prefixes_name_the_same_file() {
        for url in ["data/r.db", "sqlite://data/r.db", "sqlite:data/r.db"] {
            let parsed = DatabaseUrl::parse(url).unwrap();
            assert_eq!(parsed.sqlite_path(), Some("data/r.db"), "{url}");
        }
    }

    #[test]
    fn postgres_urls_are_checked_once() {
        let url = DatabaseUrl::parse("postgres://u:secret@db:5432/roster").unwrap();
        assert!(url.is_postgres());
        assert!(!format!("{url:?}").contains("secret"));
        assert!(DatabaseUrl::parse("postgres://u@db:notaport/x").is_err());
        assert!(DatabaseUrl::parse("mysql://u@db/x").is_err());
    }
}
