//! `kgnode-bench extraction`: the job queue alone, then contributions through the built-in
//! extractor.
//!
//! (a) The node's job runner with a no-op handler (its success committed with the job, as a
//! real handler's effects are), on a fresh database: `--jobs` jobs queued at once and burnt
//! down with 1, 2 and 4 workers (jobs/s), then jobs queued one at a time on the idle queue
//! (enqueue-to-start delay: the job row's `created_at`, PostgreSQL's clock, to the handler's
//! start). (b) An in-process node: `--contributions` contributions POSTed at `--rate` per second;
//! the delay from each one's `created_at` to its `completed_at` (both PostgreSQL's clock), and
//! contributions completed per second.

use std::fmt;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Args;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use kgnode::db::DbPool;
use kgnode::jobs::{Attempt, DbJob, Failure, JobError, JobHandler, JobKind, enqueue, start_jobs};
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;

use crate::common::{
    BenchError, Encoding, Latency, RunningNode, SLUG, Server, ServerArgs, expect_status,
    http_client, load_average, node_token, print_report, quotient,
};
use crate::load::create_convergence;

/// The benchmark's own job kind.
const NOOP: JobKind = JobKind::new("bench-noop");

/// Options of `extraction`.
#[derive(Debug, Args)]
pub(crate) struct ExtractionArgs {
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// No-op jobs burnt down per worker count.
    #[arg(long, default_value_t = 20_000)]
    pub(crate) jobs: usize,
    /// Worker counts of the burn-down.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 4])]
    pub(crate) workers: Vec<usize>,
    /// Jobs queued one at a time for the enqueue-to-start delay.
    #[arg(long, default_value_t = 1000)]
    pub(crate) latency_jobs: usize,
    /// Contributions sent through the built-in extractor.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) contributions: usize,
    /// Contributions per second.
    #[arg(long, default_value_t = 50)]
    pub(crate) rate: u64,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Serialize)]
struct BurnDown {
    workers: usize,
    jobs: usize,
    seconds: f64,
    jobs_per_second: f64,
    load_average: String,
}

#[derive(Debug, Serialize)]
struct Report {
    burn_down: Vec<BurnDown>,
    /// Enqueue-to-start delay on an idle queue (2 workers).
    enqueue_to_start: Latency,
    contributions: usize,
    rate: u64,
    /// POST (row created) to complete.
    contribution_to_complete: Latency,
    contributions_per_second: f64,
    artifacts_created: i64,
    load_average: String,
}

/// Commits each job's success at once and reports when it started.
struct NoopHandler {
    started: mpsc::UnboundedSender<(DateTime<Utc>, DateTime<Utc>)>,
}

impl JobHandler for NoopHandler {
    const KIND: JobKind = NOOP;

    async fn run(&self, pool: &DbPool, attempt: &Attempt) -> Result<(), JobError> {
        let _ = self.started.send((attempt.job.created_at, Utc::now()));
        let mut conn = pool
            .get()
            .await
            .map_err(|error| JobError::new(error.to_string()))?;
        conn.transaction(async |conn| {
            attempt.succeed(conn).await?;
            Ok::<_, JobError>(())
        })
        .await
    }

    async fn failed(
        &self,
        _: &mut AsyncPgConnection,
        _: &DbJob,
        _: Failure,
        _: &str,
    ) -> diesel::QueryResult<()> {
        Ok(())
    }
}

/// `kgnode-bench extraction`.
pub(crate) async fn extraction_command(args: ExtractionArgs) -> Result<(), BenchError> {
    let server = Server::new(&args.server.database_url)?;
    let mut burn_down = Vec::new();
    for &workers in &args.workers {
        let done = burn(&server, &args, workers).await?;
        eprintln!(
            "extraction: {} no-op jobs with {workers} worker(s): {:.0} jobs/s",
            done.jobs, done.jobs_per_second
        );
        burn_down.push(done);
    }
    let enqueue_to_start = idle_latency(&server, &args).await?;
    eprintln!(
        "extraction: enqueue-to-start p50 {:.1} ms, p99 {:.1} ms",
        enqueue_to_start.p50_ms, enqueue_to_start.p99_ms
    );
    let report = contributions(&server, &args, burn_down, enqueue_to_start).await?;
    print_report(&report, args.json)
}

/// A fresh, migrated database; its name and URL.
async fn fresh_database(server: &Server, what: &str) -> Result<(String, String), BenchError> {
    let name = format!("kgnode_bench_{what}_{}", uuid::Uuid::now_v7().simple());
    server.create_database(&name).await?;
    let url = server.database_url(&name);
    kgnode::db::run_pending(&url).await?;
    Ok((name, url))
}

fn queue_settings(url: &str, workers: usize) -> Result<kgnode::config::Settings, BenchError> {
    let mut settings = kgnode::config::Settings::defaults()?;
    settings.database.url = secrecy::SecretString::from(url.to_owned());
    settings.jobs.workers = workers;
    settings.log.filter = "warn".into();
    Ok(settings)
}

async fn burn(
    server: &Server,
    args: &ExtractionArgs,
    workers: usize,
) -> Result<BurnDown, BenchError> {
    let (name, url) = fresh_database(server, "jobs").await?;
    let mut conn = kgnode::db::establish(&url).await?;
    conn.transaction(async |conn| {
        for n in 0..args.jobs {
            enqueue(conn, NOOP, &json!({ "n": n }), 1).await?;
        }
        Ok::<_, diesel::result::Error>(())
    })
    .await?;
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let begun = Instant::now();
    let worker = start_jobs(
        &queue_settings(&url, workers)?,
        NoopHandler {
            started: started_tx,
        },
    )?;
    for _ in 0..args.jobs {
        started.recv().await;
    }
    // The last start is not the last success: wait until the queue is empty.
    loop {
        let left: Count =
            diesel::sql_query("SELECT count(*) AS n FROM jobs WHERE state <> 'succeeded'")
                .get_result(&mut conn)
                .await?;
        if left.n == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = begun.elapsed().as_secs_f64();
    let load = load_average();
    worker.stop().await;
    drop(conn);
    server.drop_database(&name).await?;
    Ok(BurnDown {
        workers,
        jobs: args.jobs,
        seconds,
        jobs_per_second: quotient(args.jobs as f64, seconds),
        load_average: load,
    })
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn idle_latency(server: &Server, args: &ExtractionArgs) -> Result<Latency, BenchError> {
    let (name, url) = fresh_database(server, "jobs").await?;
    let mut conn = kgnode::db::establish(&url).await?;
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let worker = start_jobs(
        &queue_settings(&url, 2)?,
        NoopHandler {
            started: started_tx,
        },
    )?;
    let mut delays = Vec::with_capacity(args.latency_jobs);
    for n in 0..args.latency_jobs {
        enqueue(&mut conn, NOOP, &json!({ "n": n }), 1).await?;
        if let Some((created, start)) = started.recv().await {
            delays.push((start - created).to_std().unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    worker.stop().await;
    drop(conn);
    server.drop_database(&name).await?;
    Ok(Latency::of(&delays))
}

async fn contributions(
    server: &Server,
    args: &ExtractionArgs,
    burn_down: Vec<BurnDown>,
    enqueue_to_start: Latency,
) -> Result<Report, BenchError> {
    let (name, url) = fresh_database(server, "extraction").await?;
    let token = node_token(&url).await?;
    let node = RunningNode::start(&url, std::env::temp_dir().join(&name), |_| {}).await?;
    let http = http_client(Encoding::Browser)?;
    create_convergence(&http, &token, &node.base).await?;
    let post = format!("{}/convergences/{SLUG}/contributions", node.base);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate.max(1) as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for n in 0..args.contributions {
        tick.tick().await;
        let response = http
            .post(&post)
            .bearer_auth(&token)
            .json(&json!({ "text": talk(n), "author": "bench" }))
            .send()
            .await?;
        expect_status(response, 202, "POST contribution").await?;
    }
    let mut conn = kgnode::db::establish(&url).await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let pending: Count =
            diesel::sql_query("SELECT count(*) AS n FROM contributions WHERE status <> 'complete'")
                .get_result(&mut conn)
                .await?;
        if pending.n == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let load = load_average();
    #[derive(diesel::QueryableByName)]
    struct Timing {
        #[diesel(sql_type = diesel::sql_types::Double)]
        ms: f64,
    }
    let timings: Vec<Timing> = diesel::sql_query(
        "SELECT EXTRACT(EPOCH FROM completed_at - created_at)::float8 * 1000 AS ms \
         FROM contributions WHERE completed_at IS NOT NULL",
    )
    .load(&mut conn)
    .await?;
    let delays: Vec<Duration> = timings
        .iter()
        .map(|t| Duration::from_secs_f64(t.ms.max(0.0) / 1000.0))
        .collect();
    #[derive(diesel::QueryableByName)]
    struct Span {
        #[diesel(sql_type = diesel::sql_types::Double)]
        seconds: f64,
    }
    let span: Span = diesel::sql_query(
        "SELECT EXTRACT(EPOCH FROM max(completed_at) - min(created_at))::float8 AS seconds \
         FROM contributions",
    )
    .get_result(&mut conn)
    .await?;
    let artifacts: Count = diesel::sql_query("SELECT count(*) AS n FROM artifacts")
        .get_result(&mut conn)
        .await?;
    drop(conn);
    let data_dir = node.stop().await;
    crate::common::clean_up(server, &name, &data_dir, args.server.keep).await?;
    Ok(Report {
        burn_down,
        enqueue_to_start,
        contributions: args.contributions,
        rate: args.rate,
        contribution_to_complete: Latency::of(&delays),
        contributions_per_second: quotient(delays.len() as f64, span.seconds),
        artifacts_created: artifacts.n,
        load_average: load,
    })
}

/// A contribution of three sentences, varied by `n`.
fn talk(n: usize) -> String {
    const TOPICS: [&str; 8] = [
        "rain barrels",
        "bike racks",
        "tool library",
        "seed swap",
        "repair cafe",
        "street trees",
        "night market",
        "solar roofs",
    ];
    let topic = TOPICS[n % TOPICS.len()];
    // A word of its own per contribution, so that its units are new rather than repeats.
    let word: String = format!("{n:05}")
        .chars()
        .map(|digit| char::from(b'k' + digit.to_digit(10).unwrap_or(0) as u8))
        .collect();
    format!(
        "Could the {topic} on {word} street open earlier? We should ask the {word} neighbours \
         about the {topic} first. People come because the {topic} saves {word} families money."
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "| no-op jobs | workers | seconds | jobs/s | load |")?;
        writeln!(f, "|---|---|---|---|---|")?;
        for run in &self.burn_down {
            writeln!(
                f,
                "| {} | {} | {:.2} | {:.0} | {} |",
                run.jobs, run.workers, run.seconds, run.jobs_per_second, run.load_average
            )?;
        }
        writeln!(
            f,
            "enqueue-to-start on an idle queue: p50 {:.2} ms, p99 {:.2} ms ({} jobs)",
            self.enqueue_to_start.p50_ms,
            self.enqueue_to_start.p99_ms,
            self.enqueue_to_start.samples
        )?;
        writeln!(
            f,
            "{} contributions at {}/s: POST to complete p50 {:.1} ms, p99 {:.1} ms; {:.1} contributions/s; {} artifacts; load {}",
            self.contributions,
            self.rate,
            self.contribution_to_complete.p50_ms,
            self.contribution_to_complete.p99_ms,
            self.contributions_per_second,
            self.artifacts_created,
            self.load_average
        )
    }
}
