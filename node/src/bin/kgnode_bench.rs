//! `kgnode-bench`: benchmarks of a kgnode against throwaway PostgreSQL databases.
//!
//! `kgnode-bench load --artifacts N` generates `N` synthetic artifacts (see
//! [`kgnode::synthetic`]) and loads them twice, each time into a fresh, migrated database: once
//! through the HTTP batch endpoint of an in-process node, once with `COPY … FROM STDIN` straight
//! into the tables. It reports both rates and their ratio, then drops both databases (unless
//! `--keep`).
//!
//! ```text
//! kgnode-bench load --artifacts 100000 --seed 42 --batch-size 1000 [--json] [--keep]
//! ```
//!
//! `kgnode-bench search --artifacts N` compares the node's full-text search (tantivy, through
//! `GET /api/v1/search`) with PostgreSQL full-text search on the same data, in one run:
//!
//! 1. creates a throwaway database, migrates it and loads `N` synthetic artifacts with the COPY
//!    loader of `load` (the change-log rows it writes are what a follower would have seen);
//! 2. starts a node on it with a fresh data directory and times its search follower building the
//!    index from PostgreSQL, until a blank search counts `N` documents;
//! 3. adds a PostgreSQL baseline to that database only: a stored generated `tsvector` column
//!    (title weight A, body weight B), a GIN index on it and a b-tree index on `kind`;
//! 4. runs the same query workload against both, sequentially and after a warm-up, and reports
//!    latency percentiles per query type side by side, with a check that both sides count the
//!    same matches;
//! 5. times write-to-searchable: artifacts created one at a time over HTTP, each polled for in
//!    the search endpoint every 5 ms until found;
//! 6. prints the report and drops the database and the data directory (unless `--keep`).
//!
//! ```text
//! kgnode-bench search --artifacts 100000 --seed 42 [--queries 1000] [--warmup 100]
//!                     [--writes 200] [--typo-tolerance] [--explain] [--json] [--keep]
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::Cursor;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use clap::{Args, Parser, Subcommand};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::{SinkExt, pin_mut};
use indicatif::{ProgressBar, ProgressStyle};
use kgnode::config::Settings;
use kgnode::domain::ArtifactKind;
use kgnode::service::batch::{MAX_BATCH_ARTIFACTS, MAX_BATCH_RELATIONSHIPS};
use kgnode::startup::Application;
use kgnode::synthetic::{
    Generator, GeneratorConfig, SyntheticArtifact, SyntheticError, batch_request,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::{Client, NoTls, Statement};
use url::Url;
use uuid::Uuid;

/// Slug of the convergence every benchmark loads into.
const SLUG: &str = "bench";
/// What the COPY load writes, for the report.
const COPY_LOADS: &str = "convergences, artifacts, artifact_dimensions, artifact_relationships, \
                          change_log (one row per convergence, artifact and relationship, as the \
                          API writes) and dimension_counters; one transaction per batch, into the \
                          migrated schema with all its indexes, foreign keys and CHECK \
                          constraints in place; uuids v7 made client-side";

/// Benchmarks of a kgnode against throwaway databases.
#[derive(Debug, Parser)]
#[command(name = "kgnode-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
enum Command {
    /// Load synthetic artifacts through the HTTP batch endpoint, then with COPY, and compare.
    Load(LoadArgs),
    /// Compare the node's search (tantivy, over HTTP) with PostgreSQL full-text search.
    Search(SearchArgs),
}

/// The synthetic data set, shared by every benchmark.
#[derive(Debug, Args)]
struct DatasetArgs {
    /// Number of artifacts to generate.
    #[arg(long, short = 'n')]
    artifacts: usize,
    /// Seed of the generator; the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Mean number of relationships each artifact starts.
    #[arg(long, default_value_t = kgnode::synthetic::DEFAULT_RELATIONSHIPS_PER_ARTIFACT)]
    relationships_per_artifact: f64,
}

impl DatasetArgs {
    fn config(&self) -> GeneratorConfig {
        GeneratorConfig {
            relationships_per_artifact: self.relationships_per_artifact,
            ..GeneratorConfig::new(self.seed, self.artifacts)
        }
    }
}

/// The PostgreSQL server the throwaway databases are created on.
#[derive(Debug, Args)]
struct ServerArgs {
    /// Any URL of the server; its database part is replaced by the throwaway databases' names
    /// (and by `postgres` to create and drop them).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@localhost:5432/postgres"
    )]
    database_url: String,
    /// Keep the databases instead of dropping them at the end.
    #[arg(long)]
    keep: bool,
}

/// Options of `load`.
#[derive(Debug, Args)]
struct LoadArgs {
    #[command(flatten)]
    dataset: DatasetArgs,
    #[command(flatten)]
    server: ServerArgs,
    /// Artifacts per batch request (and per COPY transaction); at most 1000. A batch is cut
    /// earlier when its relationships would exceed the endpoint's 5000.
    #[arg(long, default_value_t = MAX_BATCH_ARTIFACTS, value_parser = parse_batch_size)]
    batch_size: usize,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Parses `--batch-size`: 1 to the endpoint's limit.
fn parse_batch_size(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(size) if (1..=MAX_BATCH_ARTIFACTS).contains(&size) => Ok(size),
        _ => Err(format!(
            "use a whole number from 1 to {MAX_BATCH_ARTIFACTS}"
        )),
    }
}

/// Why a benchmark failed.
#[derive(Debug, thiserror::Error)]
enum BenchError {
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
        http: RowCounts,
        /// Counts in the COPY database.
        copy: RowCounts,
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
    /// A local file operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The report could not be serialized.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Load(args) => load_command(args).await,
        Command::Search(args) => search_command(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kgnode-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Where the throwaway databases live.
struct Server {
    url: Url,
}

impl Server {
    fn new(raw: &str) -> Result<Self, BenchError> {
        Ok(Self {
            url: Url::parse(raw)?,
        })
    }

    /// The URL of database `name` on this server.
    fn database_url(&self, name: &str) -> String {
        let mut url = self.url.clone();
        url.set_path(&format!("/{name}"));
        url.to_string()
    }

    /// A connection to database `name`, its driver task spawned.
    async fn connect(&self, name: &str) -> Result<Client, BenchError> {
        let (client, connection) = tokio_postgres::connect(&self.database_url(name), NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                eprintln!("kgnode-bench: PostgreSQL connection closed: {error}");
            }
        });
        Ok(client)
    }

    async fn create_database(&self, name: &str) -> Result<(), BenchError> {
        let admin = self.connect("postgres").await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {}", quote_identifier(name)))
            .await?;
        Ok(())
    }

    async fn drop_database(&self, name: &str) -> Result<(), BenchError> {
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

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `kgnode-bench load`: both loads, the report, the clean-up.
async fn load_command(args: LoadArgs) -> Result<(), BenchError> {
    let config = args.dataset.config();
    config.validate()?;
    let server = Server::new(&args.server.database_url)?;
    let run = Uuid::new_v4().simple().to_string();
    let databases = Databases {
        http: format!("kgbench_{run}_http"),
        copy: format!("kgbench_{run}_copy"),
    };
    let outcome = load(&args, &config, &server, &databases).await;
    let cleanup = if args.server.keep {
        eprintln!(
            "kept databases {} (HTTP) and {} (COPY)",
            server.database_url(&databases.http),
            server.database_url(&databases.copy)
        );
        Ok(())
    } else {
        let http = server.drop_database(&databases.http).await;
        let copy = server.drop_database(&databases.copy).await;
        http.and(copy)
    };
    let mut report = outcome?;
    cleanup?;
    report.databases_kept = args.server.keep;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

/// Names of the two throwaway databases.
struct Databases {
    http: String,
    copy: String,
}

async fn load(
    args: &LoadArgs,
    config: &GeneratorConfig,
    server: &Server,
    databases: &Databases,
) -> Result<Report, BenchError> {
    let batch_size = args.batch_size;
    let generation = generate_only(config, batch_size)?;
    server.create_database(&databases.http).await?;
    let http = load_over_http(config, batch_size, server, &databases.http).await?;
    server.create_database(&databases.copy).await?;
    kgnode::db::run_pending(&server.database_url(&databases.copy)).await?;
    let (copy, copy_by_table) =
        load_with_copy(config, batch_size, server, &databases.copy, &mut |_| {}).await?;
    let http_rows = count_rows(&server.connect(&databases.http).await?).await?;
    let copy_rows = count_rows(&server.connect(&databases.copy).await?).await?;
    if http_rows != copy_rows {
        return Err(BenchError::RowCounts {
            http: http_rows,
            copy: copy_rows,
        });
    }
    Ok(Report {
        artifacts: config.artifacts,
        seed: config.seed,
        batch_size,
        batches: http.batches,
        relationships: generation.relationships,
        dimension_tags: generation.dimension_tags,
        distinct_dimensions: copy_rows.dimension_counters,
        generator: Phase::new(
            generation.elapsed,
            config.artifacts,
            generation.relationships,
        ),
        http: Phase::new(http.elapsed, config.artifacts, http.relationships),
        copy: Phase::new(copy.elapsed, config.artifacts, copy.relationships),
        copy_to_http_ratio: ratio(http.elapsed, copy.elapsed),
        copy_loads: COPY_LOADS,
        copy_seconds_by_table: copy_by_table,
        rows: http_rows,
        http_database: databases.http.clone(),
        copy_database: databases.copy.clone(),
        databases_kept: false,
    })
}

/// What one pass over the generated data did.
#[derive(Default)]
struct Pass {
    elapsed: Duration,
    batches: usize,
    relationships: u64,
    dimension_tags: u64,
}

/// Cuts the next batch the way both loads do.
fn next_batch(generator: &mut Generator, batch_size: usize) -> Vec<SyntheticArtifact> {
    generator.next_batch(batch_size, MAX_BATCH_RELATIONSHIPS)
}

fn progress(label: &'static str, total: usize) -> Result<ProgressBar, BenchError> {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(ProgressStyle::with_template(
        "{prefix:>4} [{elapsed_precise}] {wide_bar} {pos}/{len} artifacts ({per_sec}, eta {eta})",
    )?);
    bar.set_prefix(label);
    Ok(bar)
}

/// Generation alone, to show how much of each load's time it accounts for.
fn generate_only(config: &GeneratorConfig, batch_size: usize) -> Result<Pass, BenchError> {
    let started = Instant::now();
    let mut generator = Generator::new(config.clone())?;
    let mut pass = Pass::default();
    loop {
        let batch = next_batch(&mut generator, batch_size);
        if batch.is_empty() {
            break;
        }
        pass.batches += 1;
        for artifact in &batch {
            pass.relationships += artifact.relationships.len() as u64;
            pass.dimension_tags += artifact.dimensions.len() as u64;
        }
    }
    pass.elapsed = started.elapsed();
    Ok(pass)
}

/// The ids the node gave a batch's artifacts.
#[derive(Deserialize)]
struct BatchResponse {
    artifacts: Vec<CreatedArtifact>,
    relationships: Vec<serde::de::IgnoredAny>,
}

/// An artifact's id in an answer of the node.
#[derive(Debug, Deserialize)]
struct CreatedArtifact {
    id: Uuid,
}

/// Starts a node on `database`, then loads every artifact through the batch endpoint.
async fn load_over_http(
    config: &GeneratorConfig,
    batch_size: usize,
    server: &Server,
    database: &str,
) -> Result<Pass, BenchError> {
    let url = server.database_url(database);
    let node = RunningNode::start(&url, std::env::temp_dir().join(database), |_| {}).await?;
    let outcome = drive_http(config, batch_size, &url, &node.base).await;
    let data_dir = node.stop().await;
    remove_dir(data_dir);
    outcome
}

/// A node serving in this process on a free port of 127.0.0.1.
struct RunningNode {
    /// `http://127.0.0.1:{port}/api/v1`.
    base: String,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    data_dir: PathBuf,
}

impl RunningNode {
    /// Starts a node on the database at `database_url` with its state in `data_dir`, from the
    /// default settings (logging at `warn`) changed by `tune`.
    async fn start(
        database_url: &str,
        data_dir: PathBuf,
        tune: impl FnOnce(&mut Settings),
    ) -> Result<Self, BenchError> {
        let mut settings = Settings::defaults()?;
        settings.database.url = SecretString::from(database_url.to_owned());
        settings.http.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        settings.node.data_dir = data_dir.clone();
        settings.log.filter = "warn".into();
        tune(&mut settings);
        kgnode::telemetry::init(&settings.log, std::io::stderr);
        let app = Application::build(settings).await?;
        let base = format!("http://127.0.0.1:{}/api/v1", app.port());
        let handle = app.handle();
        let task = tokio::spawn(app.run_until_stopped());
        Ok(Self {
            base,
            handle,
            task,
            data_dir,
        })
    }

    /// Stops the server, waits for its followers, and returns the data directory.
    async fn stop(self) -> PathBuf {
        self.handle.stop(true).await;
        if let Ok(Err(error)) = self.task.await {
            eprintln!("kgnode-bench: the node stopped with an error: {error}");
        }
        self.data_dir
    }
}

fn remove_dir(dir: PathBuf) {
    if let Err(error) = std::fs::remove_dir_all(&dir) {
        eprintln!("kgnode-bench: could not remove {}: {error}", dir.display());
    }
}

/// Creates a node-wide token directly in the database at `database_url`.
async fn node_token(database_url: &str) -> Result<String, BenchError> {
    let mut conn = AsyncPgConnection::establish(database_url).await?;
    let (_, token) = kgnode::auth::create_token(&mut conn, None, "kgnode-bench").await?;
    Ok(token)
}

async fn drive_http(
    config: &GeneratorConfig,
    batch_size: usize,
    database_url: &str,
    base: &str,
) -> Result<Pass, BenchError> {
    let token = node_token(database_url).await?;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/convergences"))
        .bearer_auth(&token)
        .json(&json!({"slug": SLUG, "name": "Benchmark", "visibility": "public"}))
        .send()
        .await?;
    expect_status(response, 201, "POST /convergences").await?;

    let batch_url = format!("{base}/convergences/{SLUG}/batch");
    let mut generator = Generator::new(config.clone())?;
    let mut ids: Vec<Uuid> = Vec::with_capacity(config.artifacts);
    let bar = progress("HTTP", config.artifacts)?;
    let mut pass = Pass::default();
    let started = Instant::now();
    loop {
        let batch = next_batch(&mut generator, batch_size);
        if batch.is_empty() {
            break;
        }
        let body = batch_request(&batch, |index| ids.get(index).copied())?;
        let response = client
            .post(&batch_url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?;
        let response = expect_status(response, 201, "POST /convergences/{slug}/batch").await?;
        let created: BatchResponse = response.json().await?;
        if created.artifacts.len() != batch.len() {
            return Err(BenchError::BatchMismatch {
                batch: pass.batches,
                sent: batch.len(),
                received: created.artifacts.len(),
            });
        }
        ids.extend(created.artifacts.iter().map(|a| a.id));
        pass.relationships += created.relationships.len() as u64;
        pass.dimension_tags += batch.iter().map(|a| a.dimensions.len() as u64).sum::<u64>();
        pass.batches += 1;
        bar.inc(batch.len() as u64);
    }
    pass.elapsed = started.elapsed();
    bar.finish_and_clear();
    Ok(pass)
}

async fn expect_status(
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

/// Rows for one table in PostgreSQL's COPY text format, sent a batch at a time.
struct CopyRows {
    table: &'static str,
    columns: &'static str,
    text: String,
    row_started: bool,
    /// Time spent in COPY statements for this table.
    spent: Duration,
}

impl CopyRows {
    fn new(table: &'static str, columns: &'static str) -> Self {
        Self {
            table,
            columns,
            text: String::new(),
            row_started: false,
            spent: Duration::ZERO,
        }
    }

    fn separator(&mut self) {
        if self.row_started {
            self.text.push('\t');
        }
        self.row_started = true;
    }

    /// A text column, escaped.
    fn text(&mut self, value: &str) -> &mut Self {
        self.separator();
        for c in value.chars() {
            match c {
                '\\' => self.text.push_str("\\\\"),
                '\n' => self.text.push_str("\\n"),
                '\r' => self.text.push_str("\\r"),
                '\t' => self.text.push_str("\\t"),
                other => self.text.push(other),
            }
        }
        self
    }

    fn uuid(&mut self, id: Uuid) -> &mut Self {
        self.separator();
        self.text
            .push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
        self
    }

    /// A number (or any value whose display needs no escaping).
    fn plain(&mut self, value: impl fmt::Display) -> &mut Self {
        self.separator();
        self.text.push_str(&value.to_string());
        self
    }

    fn end_row(&mut self) {
        self.text.push('\n');
        self.row_started = false;
    }

    /// Sends the buffered rows with one `COPY … FROM STDIN` in `tx` and empties the buffer.
    async fn copy(&mut self, tx: &tokio_postgres::Transaction<'_>) -> Result<(), BenchError> {
        if self.text.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let statement = format!("COPY {} ({}) FROM STDIN", self.table, self.columns);
        let sink = tx.copy_in::<_, Cursor<Vec<u8>>>(&statement).await?;
        pin_mut!(sink);
        sink.send(Cursor::new(std::mem::take(&mut self.text).into_bytes()))
            .await?;
        sink.as_mut().finish().await?;
        self.spent += started.elapsed();
        Ok(())
    }
}

/// Seconds spent in the COPY statements of each table.
type CopyTimes = BTreeMap<&'static str, f64>;

/// Counter of one dimension: artifacts tagged and the sum of their weights.
#[derive(Clone, Copy, Default)]
struct Counter {
    artifacts: i64,
    weight: f64,
}

/// Loads the same artifacts with COPY into the migrated, empty `database`, showing each one to
/// `observe` as it goes. Also returns the seconds spent in the COPY statements of each table.
async fn load_with_copy(
    config: &GeneratorConfig,
    batch_size: usize,
    server: &Server,
    database: &str,
    observe: &mut dyn FnMut(&SyntheticArtifact),
) -> Result<(Pass, CopyTimes), BenchError> {
    let mut client = server.connect(database).await?;
    let mut generator = Generator::new(config.clone())?;
    let mut counters = vec![Counter::default(); generator.dimension_names().len()];
    let mut ids: Vec<Uuid> = Vec::with_capacity(config.artifacts);
    let bar = progress("COPY", config.artifacts)?;
    let mut pass = Pass::default();
    let started = Instant::now();

    let convergence = Uuid::now_v7();
    let mut convergences = CopyRows::new("convergences", "id, slug, name, visibility");
    convergences
        .uuid(convergence)
        .text(SLUG)
        .text("Benchmark")
        .text("public")
        .end_row();
    let mut changes = CopyRows::new(
        "change_log",
        "entity, operation, entity_id, convergence_id, payload",
    );
    let payload = json!({"slug": SLUG, "visibility": "public"});
    changes
        .text("convergence")
        .text("insert")
        .uuid(convergence)
        .uuid(convergence)
        .text(&payload.to_string())
        .end_row();
    let tx = client.transaction().await?;
    convergences.copy(&tx).await?;
    changes.copy(&tx).await?;
    tx.commit().await?;

    let mut artifacts = CopyRows::new("artifacts", "id, convergence_id, kind, title, body, author");
    let mut tags = CopyRows::new("artifact_dimensions", "artifact_id, dimension, weight");
    let mut edges = CopyRows::new(
        "artifact_relationships",
        "id, source_id, target_id, kind, weight",
    );
    loop {
        let batch = next_batch(&mut generator, batch_size);
        if batch.is_empty() {
            break;
        }
        for artifact in &batch {
            observe(artifact);
            let id = Uuid::now_v7();
            ids.push(id);
            artifacts
                .uuid(id)
                .uuid(convergence)
                .text(artifact.kind.as_str())
                .text(&artifact.title)
                .text(&artifact.body)
                .text(&artifact.author)
                .end_row();
            for tag in &artifact.dimensions {
                tags.uuid(id).text(&tag.name).plain(tag.weight).end_row();
                if let Some(counter) = counters.get_mut(tag.rank) {
                    counter.artifacts += 1;
                    counter.weight += tag.weight;
                }
            }
            let payload = json!({"version": 1, "kind": artifact.kind.as_str()});
            changes
                .text("artifact")
                .text("insert")
                .uuid(id)
                .uuid(convergence)
                .text(&payload.to_string())
                .end_row();
            pass.dimension_tags += artifact.dimensions.len() as u64;
        }
        for edge in batch.iter().flat_map(|a| &a.relationships) {
            let (Some(&source), Some(&target)) = (ids.get(edge.source), ids.get(edge.target))
            else {
                return Err(SyntheticError::UnresolvedTarget {
                    from: edge.source,
                    to: edge.target,
                }
                .into());
            };
            let id = Uuid::now_v7();
            edges
                .uuid(id)
                .uuid(source)
                .uuid(target)
                .text(edge.kind.as_str())
                .plain(edge.weight)
                .end_row();
            let payload = json!({
                "source": source,
                "target": target,
                "kind": edge.kind.as_str(),
                "weight": edge.weight,
            });
            changes
                .text("relationship")
                .text("insert")
                .uuid(id)
                .uuid(convergence)
                .text(&payload.to_string())
                .end_row();
            pass.relationships += 1;
        }
        let tx = client.transaction().await?;
        artifacts.copy(&tx).await?;
        tags.copy(&tx).await?;
        edges.copy(&tx).await?;
        changes.copy(&tx).await?;
        tx.commit().await?;
        pass.batches += 1;
        bar.inc(batch.len() as u64);
    }

    let mut rows = CopyRows::new(
        "dimension_counters",
        "convergence_id, dimension, artifact_count, weight_sum",
    );
    for (name, counter) in generator.dimension_names().iter().zip(&counters) {
        if counter.artifacts > 0 {
            rows.uuid(convergence)
                .text(name)
                .plain(counter.artifacts)
                .plain(counter.weight)
                .end_row();
        }
    }
    let tx = client.transaction().await?;
    rows.copy(&tx).await?;
    tx.commit().await?;
    pass.elapsed = started.elapsed();
    bar.finish_and_clear();
    let by_table = [convergences, artifacts, tags, edges, changes, rows]
        .into_iter()
        .map(|table| (table.table, table.spent.as_secs_f64()))
        .collect();
    Ok((pass, by_table))
}

/// Rows stored by a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
struct RowCounts {
    artifacts: usize,
    artifact_dimensions: usize,
    artifact_relationships: usize,
    change_log: usize,
    dimension_counters: usize,
    /// Sum of `dimension_counters.artifact_count`: equals `artifact_dimensions` when consistent.
    counted_tags: usize,
}

impl fmt::Display for RowCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "artifacts {}, artifact_dimensions {}, artifact_relationships {}, change_log {}, \
             dimension_counters {} (counting {} tags)",
            self.artifacts,
            self.artifact_dimensions,
            self.artifact_relationships,
            self.change_log,
            self.dimension_counters,
            self.counted_tags
        )
    }
}

async fn count_rows(client: &Client) -> Result<RowCounts, BenchError> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM artifacts), \
                    (SELECT count(*) FROM artifact_dimensions), \
                    (SELECT count(*) FROM artifact_relationships), \
                    (SELECT count(*) FROM change_log), \
                    (SELECT count(*) FROM dimension_counters), \
                    (SELECT coalesce(sum(artifact_count), 0)::bigint FROM dimension_counters)",
            &[],
        )
        .await?;
    let count = |column: usize| -> Result<usize, BenchError> {
        Ok(usize::try_from(row.try_get::<_, i64>(column)?).unwrap_or(0))
    };
    Ok(RowCounts {
        artifacts: count(0)?,
        artifact_dimensions: count(1)?,
        artifact_relationships: count(2)?,
        change_log: count(3)?,
        dimension_counters: count(4)?,
        counted_tags: count(5)?,
    })
}

/// Time and rates of one load.
#[derive(Debug, Serialize)]
struct Phase {
    seconds: f64,
    artifacts_per_second: f64,
    relationships_per_second: f64,
}

impl Phase {
    fn new(elapsed: Duration, artifacts: usize, relationships: u64) -> Self {
        let seconds = elapsed.as_secs_f64();
        let rate = |count: f64| if seconds > 0.0 { count / seconds } else { 0.0 };
        Self {
            seconds,
            artifacts_per_second: rate(artifacts as f64),
            relationships_per_second: rate(relationships as f64),
        }
    }
}

fn ratio(http: Duration, copy: Duration) -> f64 {
    if copy.is_zero() {
        0.0
    } else {
        http.as_secs_f64() / copy.as_secs_f64()
    }
}

/// The outcome of `load`.
#[derive(Debug, Serialize)]
struct Report {
    artifacts: usize,
    seed: u64,
    batch_size: usize,
    batches: usize,
    relationships: u64,
    dimension_tags: u64,
    distinct_dimensions: usize,
    /// Generating the data alone (both loads include it).
    generator: Phase,
    http: Phase,
    copy: Phase,
    /// COPY artifacts/s divided by HTTP artifacts/s.
    copy_to_http_ratio: f64,
    copy_loads: &'static str,
    /// Seconds spent in the COPY statements of each table (the rest is generation and
    /// formatting, client side).
    copy_seconds_by_table: BTreeMap<&'static str, f64>,
    /// Rows in each database (equal, or the run fails).
    rows: RowCounts,
    http_database: String,
    copy_database: String,
    databases_kept: bool,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "kgnode-bench load: {} artifacts, seed {}, batch size {} ({} batches)",
            self.artifacts, self.seed, self.batch_size, self.batches
        )?;
        writeln!(
            f,
            "  data: {} relationships, {} dimension tags over {} dimensions",
            self.relationships, self.dimension_tags, self.distinct_dimensions
        )?;
        let line = |f: &mut fmt::Formatter<'_>, label: &str, phase: &Phase| {
            writeln!(
                f,
                "  {label:<22} {:>9.2} s {:>11.0} artifacts/s {:>11.0} relationships/s",
                phase.seconds, phase.artifacts_per_second, phase.relationships_per_second
            )
        };
        line(f, "generator alone", &self.generator)?;
        line(f, "HTTP batch endpoint", &self.http)?;
        line(f, "COPY FROM STDIN", &self.copy)?;
        writeln!(
            f,
            "  ratio COPY / HTTP      {:>9.1}x (artifacts/s)",
            self.copy_to_http_ratio
        )?;
        writeln!(f, "  COPY loads: {}", self.copy_loads)?;
        let by_table: Vec<String> = self
            .copy_seconds_by_table
            .iter()
            .map(|(table, seconds)| format!("{table} {seconds:.2} s"))
            .collect();
        writeln!(f, "  time in COPY statements: {}", by_table.join(", "))?;
        writeln!(f, "  rows in each database: {}", self.rows)?;
        if self.databases_kept {
            writeln!(
                f,
                "  databases kept: {} (HTTP), {} (COPY)",
                self.http_database, self.copy_database
            )?;
        }
        Ok(())
    }
}

// `search`: the node's tantivy index, through its HTTP endpoint, against PostgreSQL full-text
// search on the same database.

/// Measured queries per query type when `--queries` is not given.
const DEFAULT_QUERIES: usize = 1_000;
/// Hits per page, on both sides.
const TOP_K: usize = 20;
/// Zipf ranks (in the generator's vocabulary) of the frequent query terms. With the default
/// vocabulary, rank 10 is in about 60% of the artifacts and rank 199 in about 5%.
const FREQUENT_RANKS: Range<usize> = 10..200;
/// Zipf ranks of the mid-frequency query terms: from about 5% of the artifacts down to about
/// 0.2%.
const MID_RANKS: Range<usize> = 200..5_000;
/// Dimension filters use one of this many most used names (with the default generator, the
/// most used name tags about a third of the artifacts, the 20th about 2%).
const FILTER_DIMENSIONS: usize = 20;
/// Unfiltered queries per type whose matches PostgreSQL also counts (outside the timings).
const MATCH_CHECK_SAMPLE: usize = 20;
/// Queries per type shown in the report with both match counts.
const MATCH_EXAMPLES: usize = 3;
/// How often a write is looked for in the search endpoint.
const PROBE_POLL: Duration = Duration::from_millis(5);
/// Longest wait for one write to become searchable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait without progress while the node builds its index.
const BUILD_STALL: Duration = Duration::from_secs(600);
/// ChaCha stream of the query workload; the generator's streams have top bytes 0 to 2.
const WORKLOAD_STREAM: u64 = 0xFF << 56;
/// ChaCha stream of the phrase picks.
const PHRASE_STREAM: u64 = 0xFE << 56;
/// How the query terms are chosen, for the report.
const TERM_SELECTION: &str = "each term: with probability 1/2 a frequent word (vocabulary Zipf \
    ranks 10-199), else a mid-frequency word (ranks 200-4999), uniform by rank within the band, \
    PostgreSQL English stop words skipped; multi-term: 2 or 3 distinct such terms (AND); \
    phrase: two adjacent words of one sentence of the body of a generated artifact picked \
    uniformly (neither a stop word); filtered: one term, a kind drawn uniformly from the 8, a \
    dimension drawn uniformly among the 20 most used names; warm-up queries are other draws \
    from the same distributions";
/// What the node computes per query, for the report.
const TANTIVY_COMPUTES: &str = "GET /api/v1/search?q=..&limit=20[&kind=..&dimension=..], \
    anonymous (public artifacts only), one keep-alive connection, sequential: the top 20 by \
    BM25 (title x3; x(1 + dimension weight) when filtered) with stored fields and HTML \
    snippets, the exact match count, and kind and dimension facet counts (top 20 values) over \
    all matches, for every query type; serialized to JSON and read whole by the client";
/// What PostgreSQL computes per query, for the report.
const POSTGRES_COMPUTES: &str = "one tokio-postgres connection, prepared statements, \
    sequential, jit off, otherwise server defaults. Single and multi-term: \
    plainto_tsquery('english', words), phrase: phraseto_tsquery('english', words); matches \
    are live artifacts of public convergences whose generated column fts = \
    setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', body), \
    'B') matches (GIN index); they return id, title, kind of the top 20 by ts_rank(fts, query) \
    DESC, id (no count, no facets, no snippets). Filtered + faceted, in one statement over a \
    MATERIALIZED CTE of the matches (term, kind = $2, tagged with dimension $3 via \
    artifact_dimensions): the top 20 by ts_rank x (1 + that dimension's weight), the exact \
    match count, and the top 20 kinds and top 20 dimensions (all tags of the matches, via \
    artifact_dimensions) by count with GROUP BY";

/// Options of `search`.
#[derive(Debug, Args)]
struct SearchArgs {
    #[command(flatten)]
    dataset: DatasetArgs,
    #[command(flatten)]
    server: ServerArgs,
    /// Measured queries per query type, on each side.
    #[arg(long, default_value_t = DEFAULT_QUERIES, value_parser = parse_positive)]
    queries: usize,
    /// Warm-up queries per query type, run on each side before it is measured (other draws
    /// from the same distributions).
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// Artifacts created one at a time to time write-to-searchable.
    #[arg(long, default_value_t = 200)]
    writes: usize,
    /// Run the node with typo tolerance on (its default setting). Off unless given:
    /// PostgreSQL full-text search has none, and both sides should match the same documents.
    #[arg(long)]
    typo_tolerance: bool,
    /// Print `EXPLAIN (ANALYZE, BUFFERS)` of the first measured PostgreSQL query of each type
    /// on stderr.
    #[arg(long)]
    explain: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Parses a count of at least 1.
fn parse_positive(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(count) if count >= 1 => Ok(count),
        _ => Err("use a whole number of at least 1".to_owned()),
    }
}

/// `kgnode-bench search`: the run, the report, the clean-up.
async fn search_command(args: SearchArgs) -> Result<(), BenchError> {
    let config = args.dataset.config();
    config.validate()?;
    if config.artifacts == 0 {
        return Err(BenchError::NoArtifacts);
    }
    let server = Server::new(&args.server.database_url)?;
    let database = format!("kgbench_{}_search", Uuid::new_v4().simple());
    let data_dir = std::env::temp_dir().join(&database);
    let outcome = search_bench(&args, &config, &server, &database, &data_dir).await;
    let cleanup = if args.server.keep {
        eprintln!(
            "kept database {} and data directory {}",
            server.database_url(&database),
            data_dir.display()
        );
        Ok(())
    } else {
        if data_dir.exists() {
            remove_dir(data_dir.clone());
        }
        server.drop_database(&database).await
    };
    let mut report = outcome?;
    cleanup?;
    report.kept = args.server.keep;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

/// The kinds of queries compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum QueryType {
    /// One word.
    SingleTerm,
    /// Two or three words, all required.
    MultiTerm,
    /// Two adjacent words.
    Phrase,
    /// One word, a kind filter and a dimension filter, with facet counts.
    FilteredFaceted,
}

impl QueryType {
    const ALL: [QueryType; 4] = [
        QueryType::SingleTerm,
        QueryType::MultiTerm,
        QueryType::Phrase,
        QueryType::FilteredFaceted,
    ];

    fn label(self) -> &'static str {
        match self {
            QueryType::SingleTerm => "single term",
            QueryType::MultiTerm => "multi-term (AND)",
            QueryType::Phrase => "phrase (2 words)",
            QueryType::FilteredFaceted => "term+kind+dimension+facets",
        }
    }
}

/// One query of the workload, in both sides' terms.
#[derive(Debug, Clone)]
struct BenchQuery {
    /// The words, separated by spaces: PostgreSQL's input.
    words: String,
    /// The node's `q`: the words, or the phrase in double quotes.
    q: String,
    /// Kind filter.
    kind: Option<&'static str>,
    /// Dimension filter.
    dimension: Option<String>,
}

impl BenchQuery {
    fn words(words: String) -> Self {
        Self {
            q: words.clone(),
            words,
            kind: None,
            dimension: None,
        }
    }

    /// The query for the report: `q`, then its filters.
    fn describe(&self) -> String {
        let mut text = format!("q={}", self.q);
        if let Some(kind) = self.kind {
            text.push_str(&format!(" kind={kind}"));
        }
        if let Some(dimension) = &self.dimension {
            text.push_str(&format!(" dimension={dimension}"));
        }
        text
    }
}

/// The queries of one type: warm-up first, then measured.
struct QuerySet {
    query_type: QueryType,
    warmup: Vec<BenchQuery>,
    measured: Vec<BenchQuery>,
}

/// Picks query terms from the vocabulary; see [`TERM_SELECTION`].
struct TermPicker {
    frequent: Vec<String>,
    mid: Vec<String>,
}

impl TermPicker {
    fn new(vocabulary: &[String], stop_words: &HashSet<String>) -> Result<Self, BenchError> {
        let band = |ranks: Range<usize>| -> Vec<String> {
            let end = ranks.end.min(vocabulary.len());
            let start = ranks.start.min(end);
            vocabulary[start..end]
                .iter()
                .filter(|word| !stop_words.contains(*word))
                .cloned()
                .collect()
        };
        let mut frequent = band(FREQUENT_RANKS);
        let mut mid = band(MID_RANKS);
        if frequent.is_empty() && mid.is_empty() {
            // A tiny vocabulary: any word that is not a stop word.
            frequent = band(0..vocabulary.len());
        }
        if frequent.is_empty() {
            frequent = mid.clone();
        } else if mid.is_empty() {
            mid = frequent.clone();
        }
        if frequent.is_empty() {
            return Err(BenchError::NoQueryTerms);
        }
        Ok(Self { frequent, mid })
    }

    fn pick(&self, rng: &mut ChaCha8Rng) -> &str {
        let band = if rng.random_bool(0.5) {
            &self.frequent
        } else {
            &self.mid
        };
        &band[rng.random_range(0..band.len())]
    }

    /// `count` distinct terms (fewer only if the bands hold fewer words).
    fn pick_distinct(&self, rng: &mut ChaCha8Rng, count: usize) -> Vec<String> {
        let mut terms: Vec<String> = Vec::with_capacity(count);
        for _ in 0..count * 16 {
            if terms.len() == count {
                break;
            }
            let term = self.pick(rng);
            if !terms.iter().any(|t| t == term) {
                terms.push(term.to_owned());
            }
        }
        terms
    }
}

/// Collects phrases during the load: for each slot, two adjacent words of one sentence of the
/// body of an artifact drawn uniformly, neither a PostgreSQL stop word.
struct PhraseCollector<'a> {
    /// Slots wanting a phrase from the artifact of each index.
    wanted: HashMap<usize, Vec<usize>>,
    phrases: Vec<Option<String>>,
    stop_words: &'a HashSet<String>,
    rng: ChaCha8Rng,
}

impl<'a> PhraseCollector<'a> {
    fn new(seed: u64, slots: usize, artifacts: usize, stop_words: &'a HashSet<String>) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(PHRASE_STREAM);
        let mut wanted: HashMap<usize, Vec<usize>> = HashMap::new();
        for slot in 0..slots {
            wanted
                .entry(rng.random_range(0..artifacts))
                .or_default()
                .push(slot);
        }
        Self {
            wanted,
            phrases: vec![None; slots],
            stop_words,
            rng,
        }
    }

    fn observe(&mut self, artifact: &SyntheticArtifact) {
        let Some(slots) = self.wanted.remove(&artifact.index) else {
            return;
        };
        let pairs = adjacent_pairs(&artifact.body, self.stop_words);
        if pairs.is_empty() {
            return;
        }
        for slot in slots {
            let (first, second) = &pairs[self.rng.random_range(0..pairs.len())];
            if let Some(phrase) = self.phrases.get_mut(slot) {
                *phrase = Some(format!("{first} {second}"));
            }
        }
    }
}

/// Pairs of adjacent words within the sentences of `body`, lower-cased, without stop words.
fn adjacent_pairs(body: &str, stop_words: &HashSet<String>) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for sentence in body.split('.') {
        let words: Vec<String> = sentence.split_whitespace().map(str::to_lowercase).collect();
        for pair in words.windows(2) {
            if let [first, second] = pair
                && !stop_words.contains(first)
                && !stop_words.contains(second)
            {
                pairs.push((first.clone(), second.clone()));
            }
        }
    }
    pairs
}

/// Draws the workload: `warmup + measured` queries of each type (phrases as collected).
fn build_workload(
    seed: u64,
    picker: &TermPicker,
    phrases: Vec<Option<String>>,
    dimension_names: &[String],
    warmup: usize,
    measured: usize,
) -> Vec<QuerySet> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(WORKLOAD_STREAM);
    let dimensions = 0..FILTER_DIMENSIONS.min(dimension_names.len());
    let total = warmup + measured;
    let mut sets = Vec::new();
    for query_type in QueryType::ALL {
        let mut queries: Vec<BenchQuery> = match query_type {
            QueryType::SingleTerm => (0..total)
                .map(|_| BenchQuery::words(picker.pick(&mut rng).to_owned()))
                .collect(),
            QueryType::MultiTerm => (0..total)
                .map(|_| {
                    let count = rng.random_range(2..=3);
                    BenchQuery::words(picker.pick_distinct(&mut rng, count).join(" "))
                })
                .collect(),
            QueryType::Phrase => phrases
                .iter()
                .flatten()
                .map(|phrase| BenchQuery {
                    q: format!("\"{phrase}\""),
                    words: phrase.clone(),
                    kind: None,
                    dimension: None,
                })
                .collect(),
            QueryType::FilteredFaceted => (0..total)
                .map(|_| {
                    let term = picker.pick(&mut rng).to_owned();
                    let kind = ArtifactKind::ALL
                        .get(rng.random_range(0..ArtifactKind::ALL.len()))
                        .map(|kind| kind.as_str());
                    let dimension = if dimensions.is_empty() {
                        None
                    } else {
                        dimension_names
                            .get(rng.random_range(dimensions.clone()))
                            .cloned()
                    };
                    BenchQuery {
                        kind,
                        dimension,
                        ..BenchQuery::words(term)
                    }
                })
                .collect(),
        };
        let measured_queries = queries.split_off(warmup.min(queries.len()));
        sets.push(QuerySet {
            query_type,
            warmup: queries,
            measured: measured_queries,
        });
    }
    sets
}

/// The PostgreSQL English stop words among `words` (`to_tsvector` drops them).
async fn stop_words(client: &Client, words: &[String]) -> Result<HashSet<String>, BenchError> {
    let rows = client
        .query(
            "SELECT w FROM unnest($1::text[]) AS w WHERE length(to_tsvector('english', w)) = 0",
            &[&words],
        )
        .await?;
    rows.iter()
        .map(|row| row.try_get::<_, String>(0).map_err(BenchError::from))
        .collect()
}

/// The load average (1, 5 and 15 minutes), as `/proc/loadavg` shows it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Number of segments of the tantivy index in `dir`, from its `meta.json` (0 if unreadable).
fn index_segments(dir: &Path) -> usize {
    std::fs::read(dir.join("meta.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|meta| meta.get("segments")?.as_array().map(Vec::len))
        .unwrap_or(0)
}

/// Total size of the files under `dir`.
fn directory_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => directory_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The whole `search` run on `database`, which it creates.
async fn search_bench(
    args: &SearchArgs,
    config: &GeneratorConfig,
    server: &Server,
    database: &str,
    data_dir: &Path,
) -> Result<SearchReport, BenchError> {
    let mut loads = vec![("start", load_average())];
    server.create_database(database).await?;
    let url = server.database_url(database);
    kgnode::db::run_pending(&url).await?;
    let client = server.connect(database).await?;

    // The vocabulary, its stop words, and the phrases picked during the load.
    let generator = Generator::new(config.clone())?;
    let stop = stop_words(&client, generator.vocabulary()).await?;
    let picker = TermPicker::new(generator.vocabulary(), &stop)?;
    let slots = args.warmup + args.queries;
    let mut phrases = PhraseCollector::new(config.seed, slots, config.artifacts, &stop);
    let (load, _) = load_with_copy(
        config,
        MAX_BATCH_ARTIFACTS,
        server,
        database,
        &mut |artifact| phrases.observe(artifact),
    )
    .await?;
    let workload = build_workload(
        config.seed,
        &picker,
        phrases.phrases,
        generator.dimension_names(),
        args.warmup,
        args.queries,
    );
    drop(generator);

    loads.push(("before the index build", load_average()));
    let typo_tolerance = args.typo_tolerance;
    let started = Instant::now();
    let node = RunningNode::start(&url, data_dir.to_path_buf(), |settings| {
        settings.search.typo_tolerance = typo_tolerance;
    })
    .await?;
    let http = reqwest::Client::new();
    let outcome = measure_node_side(
        args, config, &http, &node, &client, &url, started, &workload, &mut loads,
    )
    .await;
    node.stop().await;
    let mut report = outcome?;
    report.load = Phase::new(load.elapsed, config.artifacts, load.relationships);
    report.relationships = load.relationships;
    report.dimension_tags = load.dimension_tags;
    report.stop_words_in_vocabulary = stop.len();
    report.database = database.to_owned();
    report.data_dir = data_dir.display().to_string();
    loads.push(("end", load_average()));
    report.load_average = loads
        .into_iter()
        .map(|(when, value)| LoadAverage { when, value })
        .collect();
    Ok(report)
}

/// Everything done while the node runs: its index build, the PostgreSQL baseline, both query
/// runs and the write-to-searchable probes.
#[allow(clippy::too_many_arguments)]
async fn measure_node_side(
    args: &SearchArgs,
    config: &GeneratorConfig,
    http: &reqwest::Client,
    node: &RunningNode,
    client: &Client,
    database_url: &str,
    started: Instant,
    workload: &[QuerySet],
    loads: &mut Vec<(&'static str, String)>,
) -> Result<SearchReport, BenchError> {
    let search_url = format!("{}/search", node.base);
    let index_build = wait_for_index(http, node, config.artifacts as u64, started).await?;
    let index_bytes = directory_bytes(&node.data_dir.join("search"));
    loads.push(("after the index build", load_average()));

    let postgres_build = build_postgres_baseline(client, config.artifacts).await?;
    loads.push(("before the tantivy queries", load_average()));

    let index_segments = index_segments(&node.data_dir.join("search"));
    let searcher = NodeSearcher {
        client: http.clone(),
        url: search_url.clone(),
    };
    let mut tantivy_runs = Vec::new();
    for set in workload {
        for query in &set.warmup {
            searcher.run(query).await?;
        }
        tantivy_runs.push(searcher.run_all(set).await?);
    }
    loads.push(("before the PostgreSQL queries", load_average()));

    let postgres = PgSearcher::prepare(client).await?;
    let mut postgres_runs = Vec::new();
    for set in workload {
        for query in &set.warmup {
            postgres.run(set.query_type, query).await?;
        }
        postgres_runs.push(postgres.run_all(set).await?);
    }
    loads.push(("after the queries", load_average()));

    let mut query_types = Vec::new();
    for ((set, tantivy), pg) in workload.iter().zip(&tantivy_runs).zip(&postgres_runs) {
        let check = check_matches(&postgres, set, tantivy, pg).await?;
        if args.explain
            && let Some(query) = set.measured.first()
        {
            postgres.explain(set.query_type, query).await?;
        }
        let tantivy_latency = Latency::of(&tantivy.latencies);
        let postgres_latency = Latency::of(&pg.latencies);
        let mut engine: Vec<f64> = tantivy.engine_ms.clone();
        engine.sort_by(f64::total_cmp);
        let mut totals: Vec<u64> = tantivy.answers.iter().filter_map(|a| a.total).collect();
        totals.sort_unstable();
        query_types.push(QueryTypeReport {
            query_type: set.query_type,
            label: set.query_type.label(),
            queries: set.measured.len(),
            warmup: set.warmup.len(),
            tantivy: tantivy_latency,
            tantivy_engine_p50_ms: percentile(&engine, 0.50),
            tantivy_engine_p99_ms: percentile(&engine, 0.99),
            postgres: postgres_latency,
            ratio_p50: quotient(postgres_latency.p50_ms, tantivy_latency.p50_ms),
            ratio_p99: quotient(postgres_latency.p99_ms, tantivy_latency.p99_ms),
            median_matches: totals.get(totals.len() / 2).copied().unwrap_or(0),
            matches: check,
        });
    }

    let token = node_token(database_url).await?;
    let writes = time_writes(http, &node.base, &token, args.writes).await?;
    Ok(SearchReport {
        artifacts: config.artifacts,
        seed: config.seed,
        typo_tolerance: args.typo_tolerance,
        relationships: 0,
        dimension_tags: 0,
        stop_words_in_vocabulary: 0,
        load: Phase::new(Duration::ZERO, 0, 0),
        index_build,
        index_bytes,
        index_segments,
        postgres_build,
        query_types,
        writes,
        term_selection: TERM_SELECTION,
        tantivy_computes: TANTIVY_COMPUTES,
        postgres_computes: POSTGRES_COMPUTES,
        load_average: Vec::new(),
        database: String::new(),
        data_dir: String::new(),
        kept: false,
    })
}

/// `a / b`, or 0 when `b` is 0.
fn quotient(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// The search endpoint's answer, as far as the benchmark reads it.
#[derive(Debug, Deserialize)]
struct SearchReply {
    hits: Vec<CreatedArtifact>,
    estimated_total: u64,
    facets: FacetMaps,
    took_ms: f64,
}

/// Facet counts by kind and by dimension.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
struct FacetMaps {
    kind: BTreeMap<String, u64>,
    dimension: BTreeMap<String, u64>,
}

/// What one side answered to one query.
#[derive(Debug, Clone)]
struct Answer {
    /// Matches counted, when the side counts them for this query type.
    total: Option<u64>,
    /// Facets, when the side computes them for this query type.
    facets: Option<FacetMaps>,
}

/// One side's measured run of one query type.
struct SideRun {
    latencies: Vec<Duration>,
    answers: Vec<Answer>,
    /// The node's own `took_ms` (tantivy side only).
    engine_ms: Vec<f64>,
}

/// Sends queries to the node's search endpoint.
struct NodeSearcher {
    client: reqwest::Client,
    url: String,
}

impl NodeSearcher {
    /// One query: the time from sending it to having read the whole answer, and the answer.
    async fn run(&self, query: &BenchQuery) -> Result<(Duration, SearchReply), BenchError> {
        let limit = TOP_K.to_string();
        let mut params: Vec<(&str, &str)> = vec![("q", &query.q), ("limit", &limit)];
        if let Some(kind) = query.kind {
            params.push(("kind", kind));
        }
        if let Some(dimension) = &query.dimension {
            params.push(("dimension", dimension));
        }
        let started = Instant::now();
        let response = self.client.get(&self.url).query(&params).send().await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        let elapsed = started.elapsed();
        if status != 200 {
            return Err(BenchError::Status {
                request: "GET /search",
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        Ok((elapsed, serde_json::from_slice(&body)?))
    }

    async fn run_all(&self, set: &QuerySet) -> Result<SideRun, BenchError> {
        let mut run = SideRun {
            latencies: Vec::with_capacity(set.measured.len()),
            answers: Vec::with_capacity(set.measured.len()),
            engine_ms: Vec::with_capacity(set.measured.len()),
        };
        let bar = query_progress("tantivy", set)?;
        for query in &set.measured {
            let (elapsed, reply) = self.run(query).await?;
            run.latencies.push(elapsed);
            run.engine_ms.push(reply.took_ms);
            run.answers.push(Answer {
                total: Some(reply.estimated_total),
                facets: Some(reply.facets),
            });
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(run)
    }
}

fn query_progress(side: &str, set: &QuerySet) -> Result<ProgressBar, BenchError> {
    let bar = ProgressBar::new(set.measured.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "{prefix:>36} [{elapsed_precise}] {wide_bar} {pos}/{len} queries (eta {eta})",
    )?);
    bar.set_prefix(format!("{side}: {}", set.query_type.label()));
    Ok(bar)
}

/// Polls a blank search (which matches everything) until it counts `expected` documents, and
/// `/readyz` until the node is ready (its graph loaded).
async fn wait_for_index(
    http: &reqwest::Client,
    node: &RunningNode,
    expected: u64,
    started: Instant,
) -> Result<IndexBuild, BenchError> {
    let url = format!("{}/search", node.base);
    let ready_url = node.base.replace("/api/v1", "/readyz");
    let bar = ProgressBar::new(expected);
    bar.set_style(ProgressStyle::with_template(
        "index [{elapsed_precise}] {wide_bar} {pos}/{len} documents ({per_sec}, eta {eta})",
    )?);
    let mut indexed = 0;
    let mut grown = Instant::now();
    let mut built: Option<Duration> = None;
    let mut ready: Option<Duration> = None;
    while built.is_none() || ready.is_none() {
        if built.is_none() {
            let response = http
                .get(&url)
                .query(&[("q", ""), ("limit", "1")])
                .send()
                .await?;
            let response = expect_status(response, 200, "GET /search").await?;
            let reply: SearchReply = response.json().await?;
            if reply.estimated_total > indexed {
                indexed = reply.estimated_total;
                grown = Instant::now();
                bar.set_position(indexed);
            }
            if indexed >= expected {
                built = Some(started.elapsed());
            } else if grown.elapsed() > BUILD_STALL {
                bar.abandon();
                return Err(BenchError::IndexBuildStalled {
                    indexed,
                    expected,
                    waited: grown.elapsed(),
                });
            }
        }
        if ready.is_none() && http.get(&ready_url).send().await?.status().is_success() {
            ready = Some(started.elapsed());
        }
        // Poll often enough for a 1% resolution, rarely enough not to slow the build down.
        let pause =
            (started.elapsed() / 100).clamp(Duration::from_millis(20), Duration::from_secs(1));
        if built.is_none() || ready.is_none() {
            tokio::time::sleep(pause).await;
        }
    }
    bar.finish_and_clear();
    let seconds = built.map_or(0.0, |d| d.as_secs_f64());
    Ok(IndexBuild {
        seconds,
        documents_per_second: quotient(expected as f64, seconds),
        ready_seconds: ready.map_or(0.0, |d| d.as_secs_f64()),
    })
}

/// The statements that add the PostgreSQL baseline, in order, with what they are for.
const BASELINE_STATEMENTS: [(&str, &str); 3] = [
    (
        "add_fts_column",
        "ALTER TABLE artifacts ADD COLUMN fts tsvector GENERATED ALWAYS AS \
         (setweight(to_tsvector('english', title), 'A') || \
          setweight(to_tsvector('english', body), 'B')) STORED",
    ),
    (
        "gin_index",
        "CREATE INDEX artifacts_fts ON artifacts USING gin (fts)",
    ),
    (
        "kind_index",
        "CREATE INDEX artifacts_live_kind ON artifacts (kind) WHERE deleted_at IS NULL",
    ),
];

/// Adds the full-text column and indexes to the throwaway database (never to the migrations),
/// then vacuums and analyzes. The dimension filter uses the migrations' index
/// `artifact_dimensions (dimension, artifact_id)`, the convergence join its primary key.
async fn build_postgres_baseline(
    client: &Client,
    artifacts: usize,
) -> Result<PostgresBuild, BenchError> {
    client
        .batch_execute("SET maintenance_work_mem = '1GB'")
        .await?;
    let mut seconds = BTreeMap::new();
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(250));
    for (step, statement) in BASELINE_STATEMENTS {
        bar.set_message(format!("PostgreSQL baseline: {step}"));
        let started = Instant::now();
        client.batch_execute(statement).await?;
        seconds.insert(step, started.elapsed().as_secs_f64());
    }
    bar.set_message("PostgreSQL baseline: vacuum_analyze");
    let started = Instant::now();
    for table in ["artifacts", "artifact_dimensions", "convergences"] {
        client
            .batch_execute(&format!("VACUUM (ANALYZE) {table}"))
            .await?;
    }
    seconds.insert("vacuum_analyze", started.elapsed().as_secs_f64());
    bar.finish_and_clear();
    let row = client
        .query_one(
            "SELECT pg_total_relation_size('artifacts'), pg_relation_size('artifacts_fts'), \
                    pg_total_relation_size('artifact_dimensions')",
            &[],
        )
        .await?;
    let size = |column: usize| -> Result<u64, BenchError> {
        Ok(u64::try_from(row.try_get::<_, i64>(column)?).unwrap_or(0))
    };
    let full_text = seconds.get("add_fts_column").copied().unwrap_or(0.0)
        + seconds.get("gin_index").copied().unwrap_or(0.0);
    Ok(PostgresBuild {
        documents_per_second: quotient(artifacts as f64, full_text),
        seconds,
        artifacts_bytes: size(0)?,
        gin_bytes: size(1)?,
        artifact_dimensions_bytes: size(2)?,
        settings: "maintenance_work_mem 1GB for the build session; server defaults otherwise",
    })
}

/// The ranked top-20 of the unfiltered types; `{}` is the tsquery constructor.
const PG_TOP: &str = "SELECT a.id::text, a.title, a.kind, ts_rank(a.fts, q.query) AS rank \
    FROM artifacts a JOIN convergences c ON c.id = a.convergence_id, \
         {}('english', $1) AS q(query) \
    WHERE a.fts @@ q.query AND a.deleted_at IS NULL AND c.visibility = 'public' \
    ORDER BY rank DESC, a.id LIMIT 20";

/// Count of the matches of the unfiltered types (match check only, never timed).
const PG_COUNT: &str = "SELECT count(*) \
    FROM artifacts a JOIN convergences c ON c.id = a.convergence_id, \
         {}('english', $1) AS q(query) \
    WHERE a.fts @@ q.query AND a.deleted_at IS NULL AND c.visibility = 'public'";

/// Filtered and faceted: top 20, count, kind and dimension facets, in one statement.
const PG_FILTERED: &str = "WITH m AS MATERIALIZED ( \
        SELECT a.id, a.title, a.kind, ts_rank(a.fts, q.query) * (1 + ad.weight) AS score \
        FROM artifacts a \
        JOIN convergences c ON c.id = a.convergence_id \
        JOIN artifact_dimensions ad ON ad.artifact_id = a.id AND ad.dimension = $3, \
             plainto_tsquery('english', $1) AS q(query) \
        WHERE a.fts @@ q.query AND a.kind = $2 AND a.deleted_at IS NULL \
          AND c.visibility = 'public'), \
    hits AS (SELECT id, title, score FROM m ORDER BY score DESC, id LIMIT 20), \
    kinds AS (SELECT kind, count(*) AS n FROM m GROUP BY kind ORDER BY n DESC, kind LIMIT 20), \
    dims AS (SELECT d.dimension, count(*) AS n FROM m \
             JOIN artifact_dimensions d ON d.artifact_id = m.id \
             GROUP BY d.dimension ORDER BY n DESC, d.dimension LIMIT 20) \
    SELECT 'hit', id::text, title, score::float8 FROM hits \
    UNION ALL SELECT 'total', NULL, NULL, count(*)::float8 FROM m \
    UNION ALL SELECT 'kind', NULL, kind, n::float8 FROM kinds \
    UNION ALL SELECT 'dimension', NULL, dimension, n::float8 FROM dims";

/// Runs the workload's queries on PostgreSQL with prepared statements.
struct PgSearcher<'a> {
    client: &'a Client,
    terms: Statement,
    phrase: Statement,
    filtered: Statement,
    count_terms: Statement,
    count_phrase: Statement,
}

impl<'a> PgSearcher<'a> {
    async fn prepare(client: &'a Client) -> Result<Self, BenchError> {
        client.batch_execute("SET jit = off").await?;
        let plain = "plainto_tsquery";
        let phrase = "phraseto_tsquery";
        Ok(Self {
            terms: client.prepare(&PG_TOP.replace("{}", plain)).await?,
            phrase: client.prepare(&PG_TOP.replace("{}", phrase)).await?,
            filtered: client.prepare(PG_FILTERED).await?,
            count_terms: client.prepare(&PG_COUNT.replace("{}", plain)).await?,
            count_phrase: client.prepare(&PG_COUNT.replace("{}", phrase)).await?,
            client,
        })
    }

    /// The statement and parameters of `query`.
    fn statement(&self, query_type: QueryType) -> &Statement {
        match query_type {
            QueryType::SingleTerm | QueryType::MultiTerm => &self.terms,
            QueryType::Phrase => &self.phrase,
            QueryType::FilteredFaceted => &self.filtered,
        }
    }

    /// One query: the time from sending it to having received every row, and the answer.
    async fn run(
        &self,
        query_type: QueryType,
        query: &BenchQuery,
    ) -> Result<(Duration, Answer), BenchError> {
        let kind = query.kind.unwrap_or_default();
        let dimension = query.dimension.as_deref().unwrap_or_default();
        let statement = self.statement(query_type);
        let started = Instant::now();
        let rows = if query_type == QueryType::FilteredFaceted {
            self.client
                .query(statement, &[&query.words, &kind, &dimension])
                .await?
        } else {
            self.client.query(statement, &[&query.words]).await?
        };
        let elapsed = started.elapsed();
        if query_type != QueryType::FilteredFaceted {
            return Ok((
                elapsed,
                Answer {
                    total: None,
                    facets: None,
                },
            ));
        }
        let mut total = None;
        let mut facets = FacetMaps::default();
        for row in &rows {
            let section: &str = row.try_get(0)?;
            let label: Option<String> = row.try_get(2)?;
            let value: f64 = row.try_get(3)?;
            let count = value as u64;
            match (section, label) {
                ("total", _) => total = Some(count),
                ("kind", Some(label)) => {
                    facets.kind.insert(label, count);
                }
                ("dimension", Some(label)) => {
                    facets.dimension.insert(label, count);
                }
                _ => {}
            }
        }
        Ok((
            elapsed,
            Answer {
                total,
                facets: Some(facets),
            },
        ))
    }

    async fn run_all(&self, set: &QuerySet) -> Result<SideRun, BenchError> {
        let mut run = SideRun {
            latencies: Vec::with_capacity(set.measured.len()),
            answers: Vec::with_capacity(set.measured.len()),
            engine_ms: Vec::new(),
        };
        let bar = query_progress("PostgreSQL", set)?;
        for query in &set.measured {
            let (elapsed, answer) = self.run(set.query_type, query).await?;
            run.latencies.push(elapsed);
            run.answers.push(answer);
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(run)
    }

    /// Matches of an unfiltered query (not timed).
    async fn count(&self, query_type: QueryType, query: &BenchQuery) -> Result<u64, BenchError> {
        let statement = if query_type == QueryType::Phrase {
            &self.count_phrase
        } else {
            &self.count_terms
        };
        let row = self.client.query_one(statement, &[&query.words]).await?;
        Ok(u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0))
    }

    /// Prints the plan of `query` with `EXPLAIN (ANALYZE, BUFFERS)` on stderr.
    async fn explain(&self, query_type: QueryType, query: &BenchQuery) -> Result<(), BenchError> {
        let kind = query.kind.unwrap_or_default();
        let dimension = query.dimension.as_deref().unwrap_or_default();
        let text = match query_type {
            QueryType::SingleTerm | QueryType::MultiTerm => PG_TOP.replace("{}", "plainto_tsquery"),
            QueryType::Phrase => PG_TOP.replace("{}", "phraseto_tsquery"),
            QueryType::FilteredFaceted => PG_FILTERED.to_owned(),
        };
        let explain = format!("EXPLAIN (ANALYZE, BUFFERS) {text}");
        let rows = if query_type == QueryType::FilteredFaceted {
            self.client
                .query(&explain, &[&query.words, &kind, &dimension])
                .await?
        } else {
            self.client.query(&explain, &[&query.words]).await?
        };
        eprintln!("--- {} ({}):", query_type.label(), query.describe());
        for row in rows {
            let line: String = row.try_get(0)?;
            eprintln!("{line}");
        }
        Ok(())
    }
}

/// Compares the match counts of both sides: for the filtered type on every measured query
/// (PostgreSQL counts them anyway), otherwise on the first [`MATCH_CHECK_SAMPLE`] queries,
/// which PostgreSQL counts again outside the timings.
async fn check_matches(
    postgres: &PgSearcher<'_>,
    set: &QuerySet,
    tantivy: &SideRun,
    pg: &SideRun,
) -> Result<MatchCheck, BenchError> {
    let mut check = MatchCheck::default();
    let filtered = set.query_type == QueryType::FilteredFaceted;
    let mut equal_facets = 0;
    for (position, query) in set.measured.iter().enumerate() {
        if !filtered && position >= MATCH_CHECK_SAMPLE {
            break;
        }
        let (Some(ours), Some(theirs)) = (tantivy.answers.get(position), pg.answers.get(position))
        else {
            break;
        };
        let Some(node_total) = ours.total else {
            continue;
        };
        let pg_total = match theirs.total {
            Some(total) => total,
            None => postgres.count(set.query_type, query).await?,
        };
        check.compared += 1;
        check.tantivy_matches += node_total;
        check.postgres_matches += pg_total;
        if node_total == pg_total {
            check.equal += 1;
        }
        let difference = node_total.abs_diff(pg_total) as f64 / pg_total.max(1) as f64;
        check.max_relative_difference = check.max_relative_difference.max(difference);
        if filtered && ours.facets.is_some() && ours.facets == theirs.facets {
            equal_facets += 1;
        }
        if check.examples.len() < MATCH_EXAMPLES {
            check.examples.push(MatchExample {
                query: query.describe(),
                tantivy: node_total,
                postgres: pg_total,
            });
        }
    }
    if filtered {
        check.equal_facets = Some(equal_facets);
    }
    Ok(check)
}

/// Creates `writes` artifacts one at a time, each with a unique word in its title, and times
/// how long after the creation's response the search endpoint finds it.
async fn time_writes(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    writes: usize,
) -> Result<WriteLatency, BenchError> {
    let create_url = format!("{base}/convergences/{SLUG}/artifacts");
    let search_url = format!("{base}/search");
    let run = Uuid::new_v4().simple().to_string();
    let run = run.get(..8).unwrap_or("run");
    let mut latencies = Vec::with_capacity(writes);
    let mut polls = 0usize;
    let bar = ProgressBar::new(writes as u64);
    bar.set_style(ProgressStyle::with_template(
        "writes [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta})",
    )?);
    for write in 0..writes {
        let word = format!("kgprobe{run}w{write:05}");
        let response = http
            .post(&create_url)
            .bearer_auth(token)
            .json(&json!({
                "kind": "idea",
                "title": format!("{word} write probe"),
                "body": "Created by kgnode-bench to time write-to-searchable.",
            }))
            .send()
            .await?;
        let response = expect_status(response, 201, "POST /convergences/{slug}/artifacts").await?;
        let created: CreatedArtifact = response.json().await?;
        let arrived = Instant::now();
        let mut ticks = tokio::time::interval(PROBE_POLL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            polls += 1;
            let response = http
                .get(&search_url)
                .query(&[("q", word.as_str()), ("limit", "5")])
                .send()
                .await?;
            let response = expect_status(response, 200, "GET /search").await?;
            let reply: SearchReply = response.json().await?;
            if reply.hits.iter().any(|hit| hit.id == created.id) {
                latencies.push(arrived.elapsed());
                break;
            }
            if arrived.elapsed() > PROBE_TIMEOUT {
                bar.abandon();
                return Err(BenchError::NotSearchable {
                    write,
                    id: created.id,
                    waited: arrived.elapsed(),
                });
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(WriteLatency {
        writes,
        poll_interval_ms: PROBE_POLL.as_secs_f64() * 1000.0,
        mean_polls: quotient(polls as f64, writes as f64),
        latency: Latency::of(&latencies),
    })
}

/// Latency percentiles of a run, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Latency {
    samples: usize,
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    max_ms: f64,
}

impl Latency {
    fn of(samples: &[Duration]) -> Self {
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
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or(0.0)
}

/// How long the node took to build its index at start.
#[derive(Debug, Serialize)]
struct IndexBuild {
    /// From the start of `Application::build` until a blank search counted every artifact.
    seconds: f64,
    documents_per_second: f64,
    /// Until `/readyz` answered 200 (the graph follower loads its snapshot meanwhile).
    ready_seconds: f64,
}

/// How long the PostgreSQL baseline took to build, and its size.
#[derive(Debug, Serialize)]
struct PostgresBuild {
    /// Seconds per step.
    seconds: BTreeMap<&'static str, f64>,
    /// Artifacts divided by the seconds of the column and the GIN index.
    documents_per_second: f64,
    /// `artifacts` with its TOAST and all its indexes.
    artifacts_bytes: u64,
    gin_bytes: u64,
    artifact_dimensions_bytes: u64,
    settings: &'static str,
}

/// Both sides' match counts for some queries of one type.
#[derive(Debug, Default, Serialize)]
struct MatchCheck {
    /// Queries counted on both sides.
    compared: usize,
    /// Of those, queries with the same count.
    equal: usize,
    tantivy_matches: u64,
    postgres_matches: u64,
    /// Largest `|tantivy - postgres| / postgres` among them.
    max_relative_difference: f64,
    /// Filtered type: queries whose kind and dimension facets were identical too.
    equal_facets: Option<usize>,
    examples: Vec<MatchExample>,
}

/// One query with both match counts.
#[derive(Debug, Serialize)]
struct MatchExample {
    query: String,
    tantivy: u64,
    postgres: u64,
}

/// One query type, both sides.
#[derive(Debug, Serialize)]
struct QueryTypeReport {
    query_type: QueryType,
    label: &'static str,
    queries: usize,
    warmup: usize,
    /// Client-side, through HTTP.
    tantivy: Latency,
    /// The node's own `took_ms` (the engine alone, no HTTP or JSON).
    tantivy_engine_p50_ms: f64,
    tantivy_engine_p99_ms: f64,
    postgres: Latency,
    /// PostgreSQL p50 / tantivy p50.
    ratio_p50: f64,
    /// PostgreSQL p99 / tantivy p99.
    ratio_p99: f64,
    /// Median of the node's match counts over the measured queries.
    median_matches: u64,
    matches: MatchCheck,
}

/// Write-to-searchable latency.
#[derive(Debug, Serialize)]
struct WriteLatency {
    writes: usize,
    poll_interval_ms: f64,
    mean_polls: f64,
    /// From the arrival of the creation's response to the arrival of the first search answer
    /// holding the artifact.
    latency: Latency,
}

/// The load average at one point of the run.
#[derive(Debug, Serialize)]
struct LoadAverage {
    when: &'static str,
    /// 1, 5 and 15 minutes.
    value: String,
}

/// The outcome of `search`.
#[derive(Debug, Serialize)]
struct SearchReport {
    artifacts: usize,
    seed: u64,
    typo_tolerance: bool,
    relationships: u64,
    dimension_tags: u64,
    stop_words_in_vocabulary: usize,
    /// The COPY load, generation included.
    load: Phase,
    index_build: IndexBuild,
    /// Size of the node's index directory after the build.
    index_bytes: u64,
    /// Segments of the index when the queries started (from its `meta.json`).
    index_segments: usize,
    postgres_build: PostgresBuild,
    query_types: Vec<QueryTypeReport>,
    writes: WriteLatency,
    term_selection: &'static str,
    tantivy_computes: &'static str,
    postgres_computes: &'static str,
    load_average: Vec<LoadAverage>,
    database: String,
    data_dir: String,
    kept: bool,
}

fn mebibytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl fmt::Display for SearchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "kgnode-bench search: {} artifacts, seed {}, node typo tolerance {}",
            self.artifacts,
            self.seed,
            if self.typo_tolerance { "on" } else { "off" }
        )?;
        writeln!(
            f,
            "  data: {} relationships, {} dimension tags; COPY load {:.1} s ({:.0} artifacts/s)",
            self.relationships,
            self.dimension_tags,
            self.load.seconds,
            self.load.artifacts_per_second
        )?;
        writeln!(
            f,
            "  tantivy index build at node start: {:.1} s, {:.0} docs/s (node ready, graph \
             loaded, after {:.1} s); index {:.0} MiB, {} segments when queried",
            self.index_build.seconds,
            self.index_build.documents_per_second,
            self.index_build.ready_seconds,
            mebibytes(self.index_bytes),
            self.index_segments
        )?;
        let build = &self.postgres_build;
        let steps: Vec<String> = build
            .seconds
            .iter()
            .map(|(step, seconds)| format!("{step} {seconds:.1} s"))
            .collect();
        writeln!(
            f,
            "  PostgreSQL baseline build: {}; {:.0} docs/s (column + GIN); artifacts {:.0} MiB \
             with GIN {:.0} MiB, artifact_dimensions {:.0} MiB",
            steps.join(", "),
            build.documents_per_second,
            mebibytes(build.artifacts_bytes),
            mebibytes(build.gin_bytes),
            mebibytes(build.artifact_dimensions_bytes)
        )?;
        writeln!(
            f,
            "  query latency in ms, sequential after warm-up (queries per type: {}, warm-up {}):",
            self.query_types.first().map_or(0, |t| t.queries),
            self.query_types.first().map_or(0, |t| t.warmup)
        )?;
        writeln!(
            f,
            "    {:<27} {:>21} {:>9} {:>21} {:>13} {:>8}",
            "", "tantivy via HTTP", "engine", "PostgreSQL", "PG / tantivy", "median"
        )?;
        writeln!(
            f,
            "    {:<27} {:>6} {:>7} {:>6} {:>9} {:>6} {:>7} {:>6} {:>6} {:>6} {:>8}",
            "query type",
            "p50",
            "p99",
            "mean",
            "p50",
            "p50",
            "p99",
            "mean",
            "p50",
            "p99",
            "matches"
        )?;
        for t in &self.query_types {
            writeln!(
                f,
                "    {:<27} {:>6.2} {:>7.2} {:>6.2} {:>9.2} {:>6.2} {:>7.2} {:>6.2} {:>5.1}x {:>5.1}x {:>8}",
                t.label,
                t.tantivy.p50_ms,
                t.tantivy.p99_ms,
                t.tantivy.mean_ms,
                t.tantivy_engine_p50_ms,
                t.postgres.p50_ms,
                t.postgres.p99_ms,
                t.postgres.mean_ms,
                t.ratio_p50,
                t.ratio_p99,
                t.median_matches
            )?;
        }
        writeln!(f, "  match counts, tantivy vs PostgreSQL:")?;
        for t in &self.query_types {
            let m = &t.matches;
            let facets = m
                .equal_facets
                .map(|n| format!(", identical facets {n}"))
                .unwrap_or_default();
            writeln!(
                f,
                "    {:<27} {} queries: {} equal, total {} vs {}, max difference {:.2}%{}",
                t.label,
                m.compared,
                m.equal,
                m.tantivy_matches,
                m.postgres_matches,
                m.max_relative_difference * 100.0,
                facets
            )?;
            for example in &m.examples {
                writeln!(
                    f,
                    "      {:<60} {:>8} vs {:>8}",
                    example.query, example.tantivy, example.postgres
                )?;
            }
        }
        let w = &self.writes;
        writeln!(
            f,
            "  write-to-searchable ({} writes, polled every {:.0} ms, {:.1} polls each): p50 \
             {:.1} ms, p99 {:.1} ms, mean {:.1} ms, max {:.1} ms",
            w.writes,
            w.poll_interval_ms,
            w.mean_polls,
            w.latency.p50_ms,
            w.latency.p99_ms,
            w.latency.mean_ms,
            w.latency.max_ms
        )?;
        let loads: Vec<String> = self
            .load_average
            .iter()
            .map(|l| format!("{} [{}]", l.when, l.value))
            .collect();
        writeln!(f, "  load average: {}", loads.join(", "))?;
        writeln!(f, "  terms: {}", self.term_selection)?;
        writeln!(f, "  tantivy side: {}", self.tantivy_computes)?;
        writeln!(f, "  PostgreSQL side: {}", self.postgres_computes)?;
        if self.kept {
            writeln!(
                f,
                "  kept: database {}, data directory {}",
                self.database, self.data_dir
            )?;
        }
        Ok(())
    }
}
