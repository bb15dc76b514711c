//! Layered settings: `config/default.toml` (compiled in) < `--config FILE` < `KGNODE_*`
//! environment variables < command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// The defaults, compiled into the binary so that a node never depends on its working directory.
const DEFAULT_SETTINGS: &str = include_str!("../../config/default.toml");

/// Everything a node needs to start. Passed down explicitly; there is no global.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// PostgreSQL connection and pool.
    pub database: DatabaseSettings,
    /// HTTP listener and request limits.
    pub http: HttpSettings,
    /// Node identity and local state.
    pub node: NodeSettings,
    /// Structured logging.
    pub log: LogSettings,
}

/// PostgreSQL settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Connection URL; may hold a password, so it never prints itself.
    pub url: SecretString,
    /// Largest number of pooled connections.
    pub max_connections: usize,
    /// Seconds to wait for a pooled connection before giving up with 503.
    pub acquire_timeout_secs: u64,
    /// Create the database when it does not exist.
    pub create_if_missing: bool,
    /// Apply pending migrations on `serve`.
    pub migrate_on_start: bool,
}

/// HTTP listener settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Listen address; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Body size limit for ordinary requests, in bytes.
    pub max_body_bytes: usize,
    /// Body size limit for the batch endpoint, in bytes.
    pub max_batch_body_bytes: usize,
}

/// Node identity and local state.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// Directory for node-local state (search index, keys).
    pub data_dir: PathBuf,
    /// Base URL under which the node is reachable.
    pub public_url: Url,
}

/// Logging settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter directive such as `info,kgnode=debug`.
    pub filter: String,
    /// Output format.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, one event per line.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Values given on the command line; they win over every other layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--database-url` or `DATABASE_URL`.
    pub database_url: Option<String>,
    /// `--bind`.
    pub bind: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--public-url`.
    pub public_url: Option<String>,
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid settings: {0}")]
pub struct SettingsError(#[from] config::ConfigError);

impl Settings {
    /// Loads the layered settings: defaults, then `file`, then the environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, SettingsError> {
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_SETTINGS, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).required(true));
        }
        builder = builder.add_source(
            Environment::with_prefix("KGNODE")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true),
        );
        let flags = [
            ("database.url", overrides.database_url.clone()),
            ("http.bind", overrides.bind.clone()),
            (
                "node.data_dir",
                overrides
                    .data_dir
                    .as_ref()
                    .map(|dir| dir.display().to_string()),
            ),
            ("node.public_url", overrides.public_url.clone()),
        ];
        for (key, value) in flags {
            builder = builder.set_override_option(key, value)?;
        }
        Ok(builder.build()?.try_deserialize()?)
    }

    /// The defaults alone, as compiled into the binary.
    pub fn defaults() -> Result<Self, SettingsError> {
        Ok(Config::builder()
            .add_source(File::from_str(DEFAULT_SETTINGS, FileFormat::Toml))
            .build()?
            .try_deserialize()?)
    }
}
