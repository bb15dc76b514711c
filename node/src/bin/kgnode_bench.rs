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

use std::collections::BTreeMap;
use std::fmt;
use std::io::Cursor;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::{SinkExt, pin_mut};
use indicatif::{ProgressBar, ProgressStyle};
use kgnode::config::Settings;
use kgnode::service::batch::{MAX_BATCH_ARTIFACTS, MAX_BATCH_RELATIONSHIPS};
use kgnode::startup::Application;
use kgnode::synthetic::{
    Generator, GeneratorConfig, SyntheticArtifact, SyntheticError, batch_request,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::{Client, NoTls};
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
    let (copy, copy_by_table) = load_with_copy(config, batch_size, server, &databases.copy).await?;
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

#[derive(Deserialize)]
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
    let data_dir = std::env::temp_dir().join(database);
    let mut settings = Settings::defaults()?;
    settings.database.url = SecretString::from(url.clone());
    settings.http.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.node.data_dir = data_dir.clone();
    settings.log.filter = "warn".into();
    kgnode::telemetry::init(&settings.log, std::io::stderr);
    let app = Application::build(settings).await?;
    let base = format!("http://127.0.0.1:{}/api/v1", app.port());
    let handle = app.handle();
    let node = tokio::spawn(app.run_until_stopped());
    let outcome = drive_http(config, batch_size, &url, &base).await;
    handle.stop(true).await;
    if let Ok(Err(error)) = node.await {
        eprintln!("kgnode-bench: the node stopped with an error: {error}");
    }
    remove_dir(data_dir);
    outcome
}

fn remove_dir(dir: PathBuf) {
    if let Err(error) = std::fs::remove_dir_all(&dir) {
        eprintln!("kgnode-bench: could not remove {}: {error}", dir.display());
    }
}

async fn drive_http(
    config: &GeneratorConfig,
    batch_size: usize,
    database_url: &str,
    base: &str,
) -> Result<Pass, BenchError> {
    let mut conn = AsyncPgConnection::establish(database_url).await?;
    let (_, token) = kgnode::auth::create_token(&mut conn, None, "kgnode-bench").await?;
    drop(conn);
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

/// Counter of one dimension: artifacts tagged and the sum of their weights.
#[derive(Clone, Copy, Default)]
struct Counter {
    artifacts: i64,
    weight: f64,
}

/// Loads the same artifacts with COPY into the migrated, empty `database`. Also returns the
/// seconds spent in the COPY statements of each table.
async fn load_with_copy(
    config: &GeneratorConfig,
    batch_size: usize,
    server: &Server,
    database: &str,
) -> Result<(Pass, BTreeMap<&'static str, f64>), BenchError> {
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
