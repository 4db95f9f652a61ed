//! Bearer-token settings: where the HS256 secret comes from, and the
//! development secret a SQLite setup generates when none is given.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::store::DatabaseUrl;

/// How tokens are signed (bootstrap, token) and verified (serve).
#[derive(Debug, Clone, Args)]
pub struct JwtArgs {
    /// HS256 secret for bearer tokens (at least 32 bytes). Without it (and
    /// without --jwt-secret-file or public keys) a SQLite setup generates
    /// one next to the database file: fine for development only.
    #[arg(long, env = "ROSTER_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// File holding the HS256 secret.
    #[arg(long, env = "ROSTER_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// Expected `iss` claim.
    #[arg(long, env = "ROSTER_JWT_ISSUER", default_value = "roster")]
    pub jwt_issuer: String,
    /// Expected `aud` claim.
    #[arg(long, env = "ROSTER_JWT_AUDIENCE", default_value = "roster")]
    pub jwt_audience: String,
}

impl JwtArgs {
    /// The HS256 secret: the flag, the file, or (SQLite only, without
    /// public keys) a development secret generated next to the database.
    pub fn secret(
        &self,
        database: &DatabaseUrl,
        has_public_keys: bool,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        use anyhow::Context;
        let secret = if let Some(secret) = &self.jwt_secret {
            Some(secret.as_bytes().to_vec())
        } else if let Some(path) = &self.jwt_secret_file {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!(
                    "cannot read the JWT secret file {} (--jwt-secret-file / ROSTER_JWT_SECRET_FILE)",
                    path.display()
                )
            })?;
            Some(text.trim().as_bytes().to_vec())
        } else if let (false, Some(path)) = (has_public_keys, database.sqlite_path()) {
            Some(dev_secret(path)?)
        } else {
            None
        };
        if let Some(s) = &secret {
            anyhow::ensure!(
                s.len() >= 32,
                "the JWT secret must be at least 32 bytes (ROSTER_JWT_SECRET)"
            );
        }
        Ok(secret)
    }
}

/// Reads or creates `<database dir>/jwt-secret` (mode 0600).
fn dev_secret(db_path: &str) -> anyhow::Result<Vec<u8>> {
    let dir = Path::new(db_path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let path = dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(existing.trim().as_bytes().to_vec());
    }
    let secret = hex::encode(rand::random::<[u8; 32]>());
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(secret.as_bytes())?;
    }
    #[cfg(not(unix))]
    std::fs::write(&path, &secret)?;
    tracing::warn!(path = %path.display(), "generated a development JWT secret; set ROSTER_JWT_SECRET in production");
    Ok(secret.into_bytes())
}
