//! Shared by the benchmarks: dataset and server options, errors, the throwaway databases, an
//! in-process node, latency percentiles.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::synthetic::{GeneratorConfig, SyntheticError};
use clap::Args;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use indicatif::{ProgressBar, ProgressStyle};
use kgnode::config::Settings;
use kgnode::startup::Application;
use kgnode::startup::NodeHandle;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokio_postgres::{Client, NoTls};
use url::Url;
use uuid::Uuid;

/// Slug of the convergence every benchmark loads into.
pub(crate) const SLUG: &str = "bench";

/// What browsers and Python `requests` accept, so that the benchmarks see what real clients
/// see: compressed answers and their cost.
pub(crate) const BROWSER_ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// Which `Accept-Encoding` a benchmark client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Encoding {
    /// [`BROWSER_ACCEPT_ENCODING`], answers decoded by the client (the default of every run).
    Browser,
    /// `identity`: uncompressed answers, reported beside the browser figures.
    Identity,
}

impl Encoding {
    pub(crate) fn header(self) -> &'static str {
        match self {
            Self::Browser => BROWSER_ACCEPT_ENCODING,
            Self::Identity => "identity",
        }
    }
}

/// A keep-alive HTTP client sending `encoding`'s `Accept-Encoding` on every request.
pub(crate) fn http_client(encoding: Encoding) -> Result<reqwest::Client, BenchError> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT_ENCODING,
        reqwest::header::HeaderValue::from_static(encoding.header()),
    );
    // Idle connections are let go before the node's 5 s keep-alive closes them, so that no
    // request is sent on a connection the server is closing.
    let builder = reqwest::Client::builder()
        .default_headers(headers)
        .pool_idle_timeout(Duration::from_secs(2));
    let builder = match encoding {
        Encoding::Browser => builder,
        Encoding::Identity => builder.no_gzip().no_brotli().no_zstd().no_deflate(),
    };
    Ok(builder.build()?)
}

/// The synthetic data set, shared by every benchmark.
#[derive(Debug, Args)]
pub(crate) struct DatasetArgs {
    /// Number of artifacts to generate.
    #[arg(long, short = 'n')]
    pub(crate) artifacts: usize,
    /// Seed of the generator; the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Mean number of relationships each artifact starts.
    #[arg(long, default_value_t = crate::synthetic::DEFAULT_RELATIONSHIPS_PER_ARTIFACT)]
    pub(crate) relationships_per_artifact: f64,
}

impl DatasetArgs {
    pub(crate) fn config(&self) -> GeneratorConfig {
        GeneratorConfig {
            relationships_per_artifact: self.relationships_per_artifact,
            ..GeneratorConfig::new(self.seed, self.artifacts)
        }
    }
}

/// The PostgreSQL server the throwaway databases are created on.
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// Any URL of the server; its database part is replaced by the throwaway databases' names
    /// (and by `postgres` to create and drop them).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@localhost:5432/postgres"
    )]
    pub(crate) database_url: String,
    /// Keep the databases instead of dropping them at the end.
    #[arg(long)]
    pub(crate) keep: bool,
}

/// Why a benchmark failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    /// `--database-url` is not a URL.
    #[error("invalid database URL: {0}")]
    Url(#[from] url::ParseError),
    /// The node's settings could not be built.
    #[error(transparent)]
    Settings(#[from] kgnode::config::SettingsError),
    /// The node did not start.
    #[error("the node did not start: {0}")]
    Startup(#[from] kgnode::startup::StartupError),
    /// A diesel connection could not be opened.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[from] diesel::ConnectionError),
    /// The node-wide token could not be created.
    #[error("cannot create a token: {0}")]
    Token(#[from] kgnode::auth::TokenError),
    /// Migrating the COPY database failed.
    #[error(transparent)]
    Migration(#[from] kgnode::db::MigrationError),
    /// A PostgreSQL statement failed.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// An HTTP request failed.
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The node answered with an unexpected status.
    #[error("{request} answered {status}: {body}")]
    Status {
        /// Which request.
        request: &'static str,
        /// The HTTP status.
        status: u16,
        /// The response body.
        body: String,
    },
    /// The node's answer does not match the request.
    #[error("batch {batch}: sent {sent} artifacts, the node answered with {received}")]
    BatchMismatch {
        /// Which batch, from 0.
        batch: usize,
        /// Artifacts sent.
        sent: usize,
        /// Ids received.
        received: usize,
    },
    /// The two loads stored different numbers of rows.
    #[error("the HTTP and COPY databases hold different row counts: {http} vs {copy}")]
    RowCounts {
        /// Counts in the HTTP database.
        http: String,
        /// Counts in the COPY database.
        copy: String,
    },
    /// The generator rejected its configuration or could not build a request.
    #[error(transparent)]
    Synthetic(#[from] SyntheticError),
    /// The progress bar template is invalid.
    #[error("progress bar: {0}")]
    Progress(#[from] indicatif::style::TemplateError),
    /// `search` needs at least one artifact.
    #[error("the search benchmark needs at least one artifact")]
    NoArtifacts,
    /// `graph` needs at least two artifacts (a path has two ends).
    #[error("the graph benchmark needs at least 2 artifacts, not {0}")]
    TooFewArtifacts(usize),
    /// Every word of the vocabulary is a PostgreSQL stop word: no query term to pick.
    #[error("no query term: every word of the vocabulary is a PostgreSQL stop word")]
    NoQueryTerms,
    /// The node's search index stopped growing before holding every artifact.
    #[error(
        "the search index stopped growing at {indexed} of {expected} documents \
         (nothing new for {waited:?})"
    )]
    IndexBuildStalled {
        /// Documents a blank search counted last.
        indexed: u64,
        /// Artifacts loaded.
        expected: u64,
        /// How long it had not grown.
        waited: Duration,
    },
    /// A created artifact did not become searchable in time.
    #[error("write {write}: artifact {id} was not searchable after {waited:?}")]
    NotSearchable {
        /// Which write, from 0.
        write: usize,
        /// The artifact created.
        id: Uuid,
        /// How long it was polled for.
        waited: Duration,
    },
    /// The node did not become ready (or its search index did not fill) in time.
    #[error("the node was not ready after {0:?}")]
    NotReady(Duration),
    /// The graph crate refused a computation.
    #[error("graph: {0}")]
    Graph(#[from] kg_graph::Error),
    /// A statement of the benchmark's own failed.
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    /// The node process could not be started or measured.
    #[error("node process: {0}")]
    NodeProcess(String),
    /// An event stream broke.
    #[error("event stream: {0}")]
    Stream(String),
    /// A node operation (export, import) failed.
    #[error("node: {0}")]
    Node(#[from] kgnode::error::Error),
    /// The node's connection pool could not be set up.
    #[error(transparent)]
    Pool(#[from] kgnode::db::ConnectError),
    /// A local file operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The report could not be serialized.
    #[error("benchmark setup: {0}")]
    Setup(String),
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

/// Where the throwaway databases live.
pub(crate) struct Server {
    pub(crate) url: Url,
}

impl Server {
    pub(crate) fn new(raw: &str) -> Result<Self, BenchError> {
        Ok(Self {
            url: Url::parse(raw)?,
        })
    }

    /// The URL of database `name` on this server.
    pub(crate) fn database_url(&self, name: &str) -> String {
        let mut url = self.url.clone();
        url.set_path(&format!("/{name}"));
        url.to_string()
    }

    /// A connection to database `name`, its driver task spawned. JIT compilation is off, as
    /// on the node's own connections: PostgreSQL baselines run as an OLTP deployment would
    /// run them, without hundreds of milliseconds of compilation on costly-looking plans.
    pub(crate) async fn connect(&self, name: &str) -> Result<Client, BenchError> {
        let (client, connection) = tokio_postgres::connect(&self.database_url(name), NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                eprintln!("kgnode-bench: PostgreSQL connection closed: {error}");
            }
        });
        client.batch_execute("SET jit = off").await?;
        Ok(client)
    }

    pub(crate) async fn create_database(&self, name: &str) -> Result<(), BenchError> {
        let admin = self.connect("postgres").await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {}", quote_identifier(name)))
            .await?;
        Ok(())
    }

    pub(crate) async fn drop_database(&self, name: &str) -> Result<(), BenchError> {
        let admin = self.connect("postgres").await?;
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_identifier(name)
            ))
            .await?;
        Ok(())
    }
}

pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) fn progress(label: &'static str, total: usize) -> Result<ProgressBar, BenchError> {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(ProgressStyle::with_template(
        "{prefix:>4} [{elapsed_precise}] {wide_bar} {pos}/{len} artifacts ({per_sec}, eta {eta})",
    )?);
    bar.set_prefix(label);
    Ok(bar)
}

/// An artifact's id in an answer of the node.
#[derive(Debug, Deserialize)]
pub(crate) struct CreatedArtifact {
    pub(crate) id: Uuid,
}

/// What `/readyz` says, ready (200, `{"status": "ok"}`) or not (503, with what is missing).
#[derive(Debug, Deserialize)]
pub(crate) struct Readiness {
    status: String,
    #[serde(default)]
    graph_loaded: bool,
    #[serde(default)]
    search_built: bool,
    /// Documents written and in all while the search index is being filled.
    #[serde(default)]
    pub(crate) search_progress: Option<SearchProgress>,
}

/// `search_progress` of `/readyz`.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchProgress {
    pub(crate) written: u64,
    pub(crate) total: u64,
}

impl Readiness {
    pub(crate) fn ready(&self) -> bool {
        self.status == "ok"
    }

    pub(crate) fn graph_loaded(&self) -> bool {
        self.ready() || self.graph_loaded
    }

    pub(crate) fn search_built(&self) -> bool {
        self.ready() || self.search_built
    }
}

/// A node serving in this process on a free port of 127.0.0.1.
pub(crate) struct RunningNode {
    /// `http://127.0.0.1:{port}/api/v1`.
    pub(crate) base: String,
    /// `http://localhost:{port}`, its public URL (ActivityPub refuses IP-address hosts).
    pub(crate) public_url: String,
    pub(crate) handle: NodeHandle,
    pub(crate) task: tokio::task::JoinHandle<std::io::Result<()>>,
    pub(crate) data_dir: PathBuf,
}

impl RunningNode {
    /// Asks `/readyz`.
    pub(crate) async fn readiness(&self, http: &reqwest::Client) -> Result<Readiness, BenchError> {
        let url = self.base.replace("/api/v1", "/readyz");
        Ok(http.get(url).send().await?.json().await?)
    }

    /// Starts a node on the database at `database_url` with its state in `data_dir`, from the
    /// default settings (logging at `warn`) changed by `tune`.
    pub(crate) async fn start(
        database_url: &str,
        data_dir: PathBuf,
        tune: impl FnOnce(&mut Settings),
    ) -> Result<Self, BenchError> {
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let port = listener.local_addr()?.port();
        let mut settings = Settings::defaults()?;
        settings.database.url = SecretString::from(database_url.to_owned());
        settings.http.bind = SocketAddr::from(([127, 0, 0, 1], port));
        settings.node.public_url = Url::parse(&format!("http://localhost:{port}"))?;
        settings.node.data_dir = data_dir.clone();
        settings.log.filter = "warn".into();
        // Several nodes run at once: none takes the default metrics port.
        settings.metrics.bind = None;
        tune(&mut settings);
        kgnode::telemetry::init(&settings.log, std::io::stderr);
        let app = Application::build_on(settings, listener).await?;
        let base = format!("http://127.0.0.1:{}/api/v1", app.port());
        let handle = app.handle();
        let task = tokio::spawn(app.run_until_stopped());
        Ok(Self {
            public_url: format!("http://localhost:{port}"),
            base,
            handle,
            task,
            data_dir,
        })
    }

    /// Stops the server, waits for its followers, and returns the data directory.
    pub(crate) async fn stop(self) -> PathBuf {
        self.handle.stop(true).await;
        if let Ok(Err(error)) = self.task.await {
            eprintln!("kgnode-bench: the node stopped with an error: {error}");
        }
        self.data_dir
    }
}

/// Drops a benchmark's database and removes its data directory, or says where they were kept.
pub(crate) async fn clean_up(
    server: &Server,
    database: &str,
    data_dir: &std::path::Path,
    keep: bool,
) -> Result<(), BenchError> {
    if keep {
        eprintln!(
            "kept database {} and data directory {}",
            server.database_url(database),
            data_dir.display()
        );
        return Ok(());
    }
    if data_dir.exists() {
        remove_dir(data_dir.to_path_buf());
    }
    server.drop_database(database).await
}

/// Prints a report, as JSON on stdout or as its table.
pub(crate) fn print_report(
    report: &(impl Serialize + std::fmt::Display),
    json: bool,
) -> Result<(), BenchError> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

pub(crate) fn remove_dir(dir: PathBuf) {
    if let Err(error) = std::fs::remove_dir_all(&dir) {
        eprintln!("kgnode-bench: could not remove {}: {error}", dir.display());
    }
}

/// Creates a node-wide token directly in the database at `database_url`.
pub(crate) async fn node_token(database_url: &str) -> Result<String, BenchError> {
    let mut conn = AsyncPgConnection::establish(database_url).await?;
    let (_, token) = kgnode::auth::create_token(
        &mut conn,
        &kgnode::auth::TokenRequest::node_admin("kgnode-bench"),
    )
    .await?;
    Ok(token)
}

pub(crate) async fn expect_status(
    response: reqwest::Response,
    status: u16,
    request: &'static str,
) -> Result<reqwest::Response, BenchError> {
    if response.status().as_u16() == status {
        return Ok(response);
    }
    let actual = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Err(BenchError::Status {
        request,
        status: actual,
        body,
    })
}

/// Time and rates of one load.
#[derive(Debug, Serialize)]
pub(crate) struct Phase {
    pub(crate) seconds: f64,
    pub(crate) artifacts_per_second: f64,
    pub(crate) relationships_per_second: f64,
}

impl Phase {
    pub(crate) fn new(elapsed: Duration, artifacts: usize, relationships: u64) -> Self {
        let seconds = elapsed.as_secs_f64();
        let rate = |count: f64| if seconds > 0.0 { count / seconds } else { 0.0 };
        Self {
            seconds,
            artifacts_per_second: rate(artifacts as f64),
            relationships_per_second: rate(relationships as f64),
        }
    }
}

/// Parses a count of at least 1.
pub(crate) fn parse_positive(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(count) if count >= 1 => Ok(count),
        _ => Err("use a whole number of at least 1".to_owned()),
    }
}

/// The load average (1, 5 and 15 minutes), as `/proc/loadavg` shows it.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Busy share of all cores together under which the machine counts as quiet.
const QUIET_BUSY: f64 = 0.10;
/// Window over which the busy share is measured.
const QUIET_WINDOW: Duration = Duration::from_secs(2);
/// Longest wait for a quiet machine; the measurements start anyway after it.
const QUIET_MAX_WAIT: Duration = Duration::from_secs(600);

/// Busy and total CPU time of all cores so far, in clock ticks, from `/proc/stat`.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((total - idle, total))
}

/// Waits until the machine is quiet (all cores together busy less than 10% over 2 s), at most
/// 10 minutes, so that work left behind by an earlier phase (index merges, autovacuum after a
/// load) does not compete with the measurements. Returns the load average with the wait, for
/// the report.
pub(crate) async fn load_average_once_quiet() -> String {
    let started = Instant::now();
    let mut busy_share = f64::NAN;
    while started.elapsed() < QUIET_MAX_WAIT {
        let Some((busy_before, total_before)) = cpu_ticks() else {
            break;
        };
        tokio::time::sleep(QUIET_WINDOW).await;
        let Some((busy_after, total_after)) = cpu_ticks() else {
            break;
        };
        busy_share = quotient(
            busy_after.saturating_sub(busy_before) as f64,
            total_after.saturating_sub(total_before) as f64,
        );
        if busy_share < QUIET_BUSY {
            break;
        }
    }
    format!(
        "{} (after waiting {:.0} s for a quiet machine: {:.0}% busy)",
        load_average(),
        started.elapsed().as_secs_f64(),
        busy_share * 100.0
    )
}

/// `a / b`, or 0 when `b` is 0.
pub(crate) fn quotient(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Latency percentiles of a run, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Latency {
    pub(crate) samples: usize,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) mean_ms: f64,
    pub(crate) max_ms: f64,
}

impl Latency {
    pub(crate) fn of(samples: &[Duration]) -> Self {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        Self {
            samples: ms.len(),
            p50_ms: percentile(&ms, 0.50),
            p99_ms: percentile(&ms, 0.99),
            mean_ms: quotient(ms.iter().sum(), ms.len() as f64),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// Nearest-rank percentile `p` (0 to 1) of sorted values; 0 when there are none.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or(0.0)
}

/// The load average at one point of the run.
#[derive(Debug, Serialize)]
pub(crate) struct LoadAverage {
    pub(crate) when: &'static str,
    /// 1, 5 and 15 minutes.
    pub(crate) value: String,
}

pub(crate) fn mebibytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Resident memory of this process, from `/proc/self/status` (0 if unknown).
pub(crate) fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}
