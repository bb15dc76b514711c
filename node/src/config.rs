//! Layered settings: `config/default.toml` (compiled in) < `--config FILE` < `KGNODE_*`
//! environment variables < command-line flags.

use std::collections::HashMap;
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
    /// The full-text index.
    pub search: SearchSettings,
    /// ActivityPub federation with peer nodes.
    pub federation: FederationSettings,
    /// The event streams.
    pub realtime: RealtimeSettings,
    /// The job queue.
    pub jobs: JobSettings,
    /// Turning contributions into artifacts.
    pub extraction: ExtractionSettings,
    /// Participants' accounts, sessions and passwords.
    pub accounts: AccountSettings,
    /// Request rate limits.
    pub limits: LimitSettings,
    /// The Prometheus metrics listener.
    pub metrics: MetricsSettings,
    /// Several node processes on one database.
    pub cluster: ClusterSettings,
}

/// Several node processes sharing one database: work that must run in one of them at a time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// Seconds within which another process takes over the singleton work (the federation
    /// outbox projection) after its owner dies or loses the database.
    pub takeover_secs: u64,
}

/// Who may register, and how sessions and passwords work.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// Who may create an account.
    pub registration: Registration,
    /// Days a session lasts after login.
    pub session_days: u64,
    /// Shortest accepted password, in characters.
    pub min_password_chars: usize,
    /// argon2id memory cost, in KiB.
    pub argon2_memory_kib: u32,
    /// argon2id passes over the memory.
    pub argon2_iterations: u32,
    /// argon2id lanes.
    pub argon2_parallelism: u32,
}

/// Who may create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Only with an invite code, which gives a role in its convergence.
    Invite,
    /// Anyone; an invite code, when given, still gives its role.
    Open,
    /// Nobody; accounts are made with `kgnode participant create`.
    Closed,
}

/// Requests per minute, per bucket; 0 disables a limit. Anonymous callers are counted per client
/// IP, others per token or participant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Reads (and anything that is neither a search nor a write) per anonymous client IP.
    pub anonymous_reads_per_minute: u32,
    /// Searches per anonymous client IP.
    pub anonymous_searches_per_minute: u32,
    /// Reads per token or participant.
    pub reads_per_minute: u32,
    /// Searches per token or participant.
    pub searches_per_minute: u32,
    /// Writes per token or participant.
    pub writes_per_minute: u32,
    /// Login attempts (and registrations) per username.
    pub logins_per_minute_per_username: u32,
    /// Login attempts and registrations per client IP.
    pub logins_per_minute_per_ip: u32,
}

/// Metrics settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Where `/metrics` is served, apart from the API so that it is never public; `None` (an
    /// empty string in the settings) serves no metrics.
    #[serde(deserialize_with = "optional_address")]
    pub bind: Option<SocketAddr>,
}

/// Reads an address, or nothing from an empty string.
fn optional_address<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.trim().parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "'{text}' is not an address such as 127.0.0.1:9898 (or empty for none)"
        ))
    })
}

/// Job-queue settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    /// Jobs one process runs at once (per kind).
    pub workers: usize,
    /// Attempts before a job fails for good.
    pub max_attempts: u32,
    /// Seconds a claimed job stays leased without renewal; a crashed worker's job is claimed
    /// again this long after its last renewal.
    pub lease_secs: u64,
    /// The first retry's pause, in milliseconds; doubles per attempt.
    pub backoff_base_ms: u64,
    /// The longest pause between attempts, in seconds.
    pub backoff_max_secs: u64,
    /// How often idle workers look for due jobs without a notification, in milliseconds.
    pub poll_ms: u64,
}

/// Which extractor turns contributions into artifacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExtractorChoice {
    /// Offline and deterministic: sentence cues and key terms.
    Builtin,
    /// A language model behind an OpenAI-compatible chat-completions API
    /// (`extraction.openai`).
    Openai,
}

/// Extraction settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractionSettings {
    /// The extractor.
    pub extractor: ExtractorChoice,
    /// Key-term overlap (0 to 1) from which a unit is the same as an existing artifact and is
    /// linked to it instead of created again.
    pub duplicate_similarity: f64,
    /// Key-term overlap from which a unit is linked (`relates_to`) to an existing artifact.
    pub related_similarity: f64,
    /// The model server, for `extractor = "openai"`.
    pub openai: OpenAiSettings,
}

/// An OpenAI-compatible chat-completions server (OpenAI, or a local vLLM, llama.cpp, Ollama).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiSettings {
    /// The API's base URL; requests go to `{base_url}/chat/completions`.
    pub base_url: Url,
    /// The model asked.
    pub model: String,
    /// The environment variable holding the API key.
    pub api_key_env: String,
    /// A file holding the API key (read at start; wins over the variable).
    pub api_key_file: Option<PathBuf>,
    /// Seconds one request may take before the attempt fails (and is retried).
    pub timeout_secs: u64,
    /// Longest answer asked for, in tokens.
    pub max_tokens: u32,
}

/// Event-stream settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealtimeSettings {
    /// Seconds between heartbeat comments on an idle stream; a revoked token's streams end at
    /// the next one.
    pub heartbeat_secs: u64,
    /// Events the process keeps for its slowest subscriber; a subscriber further behind is
    /// ended and resumes from the change log with `Last-Event-ID`.
    pub buffer: usize,
    /// Open streams per process; more are refused with 503.
    pub max_subscribers: usize,
}

/// Federation settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationSettings {
    /// Whether the node federates at all (serves actors, accepts follows, delivers).
    pub enabled: bool,
    /// Allow `http://` peers with explicit ports on loopback and private addresses. For local
    /// testing only: it lets a remote peer make this node fetch from internal addresses.
    pub allow_local_network: bool,
    /// Delay before the first retry of a failed delivery, in milliseconds; doubles per failure.
    pub retry_base_ms: u64,
    /// Longest delay between delivery retries, in seconds.
    pub retry_max_secs: u64,
    /// Refusals in a row (the peer answered with an error status) after which an activity is
    /// parked for the administrator and the peer's queue moves on.
    pub park_after_refusals: u32,
    /// How often the delivery queue looks for work, in milliseconds.
    pub poll_ms: u64,
    /// Timeout of one outgoing request, in seconds.
    pub request_timeout_secs: u64,
    /// Largest accepted inbox body, in bytes.
    pub max_inbox_bytes: usize,
    /// Deliveries to one inbox in flight at once. 1 delivers strictly in order; more start
    /// them in order but lets them arrive out of order (receivers are order-independent for
    /// content: versions, tombstones and fetched relationship ends decide).
    pub deliveries_in_flight: usize,
}

/// Full-text index settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSettings {
    /// Stemming language, e.g. `english`.
    pub language: String,
    /// Memory budget of the index writer, in MiB.
    pub writer_memory_mib: usize,
    /// Whether longer words also match words one edit away.
    pub typo_tolerance: bool,
    /// Whether pairs of adjacent words are indexed, for fast phrase queries.
    pub phrase_pairs: bool,
    /// Most changes applied per index commit.
    pub batch_size: i64,
    /// Least time between two index commits, in milliseconds: a change within this time of
    /// the previous commit waits for the interval to end and joins the next commit.
    pub commit_interval_ms: u64,
    /// Threads one search may use.
    pub threads: usize,
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
    /// PostgreSQL streaming replicas of `url`, for reads that tolerate a little lag; they may
    /// hold passwords, so they never print themselves.
    pub replica_urls: Vec<SecretString>,
    /// A replica further behind the primary than this many seconds is skipped.
    pub replica_max_lag_secs: u64,
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
    /// Body size limit for `POST /api/v1/import`, in bytes.
    pub max_import_bytes: usize,
    /// Longest wait for the next piece of a request body, in seconds, before 408.
    pub body_timeout_secs: u64,
    /// Reverse proxies (CIDRs) whose `X-Forwarded-For` names the client; empty: none.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Origins whose web pages may call the API (CORS); `"*"` for any; empty: none.
    pub cors_origins: Vec<String>,
    /// On SIGTERM or SIGINT: how long requests in flight (and running jobs) may take to
    /// finish before they are cut off, in seconds.
    pub shutdown_grace_secs: u64,
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
    /// Loads the layered settings: defaults, then `file`, then the process environment, then
    /// `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, SettingsError> {
        Self::load_with_environment(file, None, overrides)
    }

    /// Like [`Settings::load`], reading `KGNODE_*` variables from `environment` instead of the
    /// process environment when it is given.
    pub fn load_with_environment(
        file: Option<&Path>,
        environment: Option<HashMap<String, String>>,
        overrides: &Overrides,
    ) -> Result<Self, SettingsError> {
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_SETTINGS, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).required(true));
        }
        builder = builder.add_source(
            Environment::with_prefix("KGNODE")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("database.replica_urls")
                .source(environment),
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::Write;

    use secrecy::ExposeSecret;

    use super::*;

    /// A settings file in the system temp dir, removed on drop.
    struct TempFile(PathBuf);

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn file(contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("kgnode-{}.toml", uuid::Uuid::new_v4()));
        let mut handle = std::fs::File::create(&path).unwrap();
        handle.write_all(contents.as_bytes()).unwrap();
        TempFile(path)
    }

    #[test]
    fn layers_apply_in_order_default_file_environment_flags() {
        let config =
            file("[http]\nbind = \"127.0.0.1:9000\"\nworkers = 3\n[log]\nformat = \"json\"\n");
        let environment = HashMap::from([
            ("KGNODE_HTTP__WORKERS".to_owned(), "5".to_owned()),
            (
                "KGNODE_DATABASE__MAX_CONNECTIONS".to_owned(),
                "7".to_owned(),
            ),
            (
                "KGNODE_DATABASE__REPLICA_URLS".to_owned(),
                "postgres://r1/kg,postgres://r2/kg".to_owned(),
            ),
        ]);
        let flags = Overrides {
            bind: Some("127.0.0.1:9100".to_owned()),
            database_url: Some("postgres://flag@db/kg".to_owned()),
            ..Overrides::default()
        };
        let settings =
            Settings::load_with_environment(Some(&config.0), Some(environment), &flags).unwrap();
        assert_eq!(settings.http.bind.port(), 9100, "flag beats file");
        assert_eq!(settings.http.workers, 5, "environment beats file");
        assert_eq!(
            settings.database.max_connections, 7,
            "environment beats default"
        );
        assert_eq!(settings.log.format, LogFormat::Json, "file beats default");
        assert_eq!(
            settings.database.url.expose_secret(),
            "postgres://flag@db/kg"
        );
        assert_eq!(settings.http.max_body_bytes, 1_048_576, "default kept");
        let replicas: Vec<&str> = settings
            .database
            .replica_urls
            .iter()
            .map(ExposeSecret::expose_secret)
            .collect();
        assert_eq!(
            replicas,
            ["postgres://r1/kg", "postgres://r2/kg"],
            "a list from the environment"
        );
    }

    #[test]
    fn metrics_bind_is_an_address_or_empty_for_none() {
        let defaults = Settings::defaults().unwrap();
        assert_eq!(
            defaults.metrics.bind,
            Some("127.0.0.1:9898".parse().unwrap())
        );
        let load = |value: &str| {
            let environment =
                HashMap::from([("KGNODE_METRICS__BIND".to_owned(), value.to_owned())]);
            Settings::load_with_environment(None, Some(environment), &Overrides::default())
        };
        assert_eq!(load("").unwrap().metrics.bind, None);
        assert_eq!(
            load("0.0.0.0:9100").unwrap().metrics.bind,
            Some("0.0.0.0:9100".parse().unwrap())
        );
        let error = load("localhost").unwrap_err().to_string();
        assert!(error.contains("'localhost' is not an address"), "{error}");
        assert!(error.contains("metrics.bind"), "{error}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_and_secrets_do_not_print() {
        let typo = file("[http]\nbindd = \"x\"\n");
        assert!(
            Settings::load_with_environment(
                Some(&typo.0),
                Some(HashMap::new()),
                &Overrides::default()
            )
            .is_err()
        );
        let environment = HashMap::from([("KGNODE_HTTP__BIND".to_owned(), "nowhere".to_owned())]);
        assert!(
            Settings::load_with_environment(None, Some(environment), &Overrides::default())
                .is_err()
        );
        let flags = Overrides {
            database_url: Some("postgres://user:hunter2@db/kg".to_owned()),
            ..Overrides::default()
        };
        let settings = Settings::load_with_environment(None, Some(HashMap::new()), &flags).unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
