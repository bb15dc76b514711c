//! `kgnode-bench load`: the batch endpoint against COPY.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::synthetic::{Generator, GeneratorConfig, batch_request};
use clap::Args;
use kgnode::service::batch::MAX_BATCH_ARTIFACTS;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::common::{
    BenchError, CreatedArtifact, DatasetArgs, Encoding, Phase, RunningNode, SLUG, Server,
    ServerArgs, expect_status, http_client, node_token, print_report, progress, remove_dir,
};
use crate::copy::{COPY_LOADS, Pass, load_with_copy, next_batch};

/// Options of `load`.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    #[command(flatten)]
    pub(crate) dataset: DatasetArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Artifacts per batch request (and per COPY transaction); at most 1000. A batch is cut
    /// earlier when its relationships would exceed the endpoint's 5000.
    #[arg(long, default_value_t = MAX_BATCH_ARTIFACTS, value_parser = parse_batch_size)]
    pub(crate) batch_size: usize,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Parses `--batch-size`: 1 to the endpoint's limit.
pub(crate) fn parse_batch_size(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(size) if (1..=MAX_BATCH_ARTIFACTS).contains(&size) => Ok(size),
        _ => Err(format!(
            "use a whole number from 1 to {MAX_BATCH_ARTIFACTS}"
        )),
    }
}

/// `kgnode-bench load`: both loads, the report, the clean-up.
pub(crate) async fn load_command(args: LoadArgs) -> Result<(), BenchError> {
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
    print_report(&report, args.json)
}

/// Names of the two throwaway databases.
pub(crate) struct Databases {
    pub(crate) http: String,
    pub(crate) copy: String,
}

pub(crate) async fn load(
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
            http: http_rows.to_string(),
            copy: copy_rows.to_string(),
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

/// Generation alone, to show how much of each load's time it accounts for.
pub(crate) fn generate_only(
    config: &GeneratorConfig,
    batch_size: usize,
) -> Result<Pass, BenchError> {
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
pub(crate) struct BatchResponse {
    pub(crate) artifacts: Vec<CreatedArtifact>,
    pub(crate) relationships: Vec<serde::de::IgnoredAny>,
}

/// Starts a node on `database`, then loads every artifact through the batch endpoint.
pub(crate) async fn load_over_http(
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

pub(crate) async fn drive_http(
    config: &GeneratorConfig,
    batch_size: usize,
    database_url: &str,
    base: &str,
) -> Result<Pass, BenchError> {
    let token = node_token(database_url).await?;
    let client = http_client(Encoding::Browser)?;
    create_convergence(&client, &token, base).await?;
    post_batches(config, batch_size, &client, &token, base).await
}

/// Creates the public convergence every benchmark loads into.
pub(crate) async fn create_convergence(
    client: &reqwest::Client,
    token: &str,
    base: &str,
) -> Result<(), BenchError> {
    let response = client
        .post(format!("{base}/convergences"))
        .bearer_auth(token)
        .json(&json!({"slug": SLUG, "name": "Benchmark", "visibility": "public"}))
        .send()
        .await?;
    expect_status(response, 201, "POST /convergences").await?;
    Ok(())
}

/// Posts every generated artifact (and its relationships) through the batch endpoint.
pub(crate) async fn post_batches(
    config: &GeneratorConfig,
    batch_size: usize,
    client: &reqwest::Client,
    token: &str,
    base: &str,
) -> Result<Pass, BenchError> {
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
            .bearer_auth(token)
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

/// Rows stored by a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct RowCounts {
    pub(crate) artifacts: usize,
    pub(crate) artifact_dimensions: usize,
    pub(crate) artifact_relationships: usize,
    pub(crate) change_log: usize,
    pub(crate) dimension_counters: usize,
    /// Sum of `dimension_counters.artifact_count`: equals `artifact_dimensions` when consistent.
    pub(crate) counted_tags: usize,
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

pub(crate) async fn count_rows(client: &Client) -> Result<RowCounts, BenchError> {
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

pub(crate) fn ratio(http: Duration, copy: Duration) -> f64 {
    if copy.is_zero() {
        0.0
    } else {
        http.as_secs_f64() / copy.as_secs_f64()
    }
}

/// The outcome of `load`.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) artifacts: usize,
    pub(crate) seed: u64,
    pub(crate) batch_size: usize,
    pub(crate) batches: usize,
    pub(crate) relationships: u64,
    pub(crate) dimension_tags: u64,
    pub(crate) distinct_dimensions: usize,
    /// Generating the data alone (both loads include it).
    pub(crate) generator: Phase,
    pub(crate) http: Phase,
    pub(crate) copy: Phase,
    /// COPY artifacts/s divided by HTTP artifacts/s.
    pub(crate) copy_to_http_ratio: f64,
    pub(crate) copy_loads: &'static str,
    /// Seconds spent in the COPY statements of each table (the rest is generation and
    /// formatting, client side).
    pub(crate) copy_seconds_by_table: BTreeMap<&'static str, f64>,
    /// Rows in each database (equal, or the run fails).
    pub(crate) rows: RowCounts,
    pub(crate) http_database: String,
    pub(crate) copy_database: String,
    pub(crate) databases_kept: bool,
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
