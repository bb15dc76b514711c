//! `kgnode-bench scale`: read throughput of 1, 2 and 3 `kgnode serve` processes sharing one
//! primary and a streaming replica, the CPU time each request costs them, one process pinned to
//! one core, and write throughput beside.
//!
//! One run: a throwaway database is COPY-loaded with `--artifacts` synthetic artifacts, and the
//! replica (`--replica-url`, a server streaming from `--database-url`'s) is waited for until it
//! has replayed the load. Then, for each process count, that many processes start (each with
//! the replica in `database.replica_urls`), and for each workload (GET an artifact, a filtered
//! list page, a search, a 2-hop neighbourhood) `--clients` concurrent keep-alive clients send
//! `--requests` requests with a browser's `Accept-Encoding`, spread over the processes in turn
//! (the benchmark is its own round-robin load balancer). Reported per workload: requests per
//! second, latency percentiles, the processes' CPU seconds per request (user and system, from
//! `/proc/{pid}/stat`), and the share of requests the replica served. Last, `--writes` artifacts
//! are created through the same processes. A final run pins one process to core 0 with
//! `taskset -c 0`. The clients share the machine with the processes: on a small machine the
//! benchmark's own CPU is part of what limits throughput.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::common::{
    BenchError, DatasetArgs, Encoding, Latency, SLUG, Server, ServerArgs, http_client,
    load_average_once_quiet, node_token, parse_positive, print_report, quotient,
};
use crate::copy::load_with_copy;
use crate::process::NodeProcess;
use crate::search::workload::TermPicker;
use crate::synthetic::Generator;

/// Artifacts per COPY transaction.
const COPY_BATCH: usize = 1_000;
/// Requests each client sends before a workload is measured.
const WARMUP_PER_CLIENT: usize = 10;
/// The settings that turn every rate limit off (the clients are one address).
const UNLIMITED: [&str; 7] = [
    "KGNODE_LIMITS__ANONYMOUS_READS_PER_MINUTE",
    "KGNODE_LIMITS__ANONYMOUS_SEARCHES_PER_MINUTE",
    "KGNODE_LIMITS__READS_PER_MINUTE",
    "KGNODE_LIMITS__SEARCHES_PER_MINUTE",
    "KGNODE_LIMITS__WRITES_PER_MINUTE",
    "KGNODE_LIMITS__LOGINS_PER_MINUTE_PER_USERNAME",
    "KGNODE_LIMITS__LOGINS_PER_MINUTE_PER_IP",
];

/// Options of `scale`.
#[derive(Debug, Args)]
pub(crate) struct ScaleArgs {
    #[command(flatten)]
    pub(crate) dataset: DatasetArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Any URL of a streaming replica of the `--database-url` server (its database part is
    /// replaced); without it every read goes to the primary.
    #[arg(long)]
    pub(crate) replica_url: Option<String>,
    /// Process counts to run, one run each.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 3])]
    pub(crate) processes: Vec<usize>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32, value_parser = parse_positive)]
    pub(crate) clients: usize,
    /// Measured requests per workload.
    #[arg(long, default_value_t = 10_000, value_parser = parse_positive)]
    pub(crate) requests: usize,
    /// Artifacts created per run, to measure writes.
    #[arg(long, default_value_t = 2_000)]
    pub(crate) writes: usize,
    /// Skip the run of one process pinned to core 0.
    #[arg(long)]
    pub(crate) no_pinned: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// What a read workload asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// `GET /artifacts/{id}` of a random artifact (a lag-tolerant read: the replica).
    GetArtifact,
    /// `GET /convergences/bench/artifacts?dimension=..&limit=50` (the replica).
    ListPage,
    /// `GET /search?q=..&limit=20` (the process's own index).
    Search,
    /// `GET /graph/neighborhood/{id}?depth=2` (the process's own graph).
    Neighborhood,
}

impl Workload {
    fn label(self) -> &'static str {
        match self {
            Workload::GetArtifact => "get_artifact",
            Workload::ListPage => "list_page",
            Workload::Search => "search",
            Workload::Neighborhood => "neighborhood_2",
        }
    }
}

/// The label of the write workload: `POST /convergences/bench/artifacts` (the primary).
const CREATE_ARTIFACT: &str = "create_artifact";

const WORKLOADS: [Workload; 4] = [
    Workload::GetArtifact,
    Workload::ListPage,
    Workload::Search,
    Workload::Neighborhood,
];

/// The paths one workload requests, in order.
struct Paths {
    workload: Workload,
    paths: Vec<String>,
}

/// One workload at one process count.
#[derive(Debug, Serialize)]
struct Measured {
    workload: &'static str,
    requests: usize,
    requests_per_second: f64,
    latency: Latency,
    /// The node processes' CPU time (user + system) per request, in milliseconds.
    cpu_ms_per_request: f64,
    /// Requests answered with a status other than 200.
    failed: usize,
    /// Share of the requests whose database reads the replica served.
    replica_share: f64,
}

/// One process count.
#[derive(Debug, Serialize)]
struct Run {
    processes: usize,
    /// The `taskset` core list the processes ran on, if pinned.
    pinned: Option<&'static str>,
    reads: Vec<Measured>,
    writes: Measured,
    load_average: String,
}

#[derive(Debug, Serialize)]
struct Report {
    artifacts: usize,
    relationships: u64,
    clients: usize,
    replica: bool,
    runs: Vec<Run>,
}

/// `kgnode-bench scale`.
pub(crate) async fn scale_command(args: ScaleArgs) -> Result<(), BenchError> {
    let config = args.dataset.config();
    config.validate()?;
    let server = Server::new(&args.server.database_url)?;
    let replica = args.replica_url.as_deref().map(Server::new).transpose()?;
    let name = format!("kgbench_scale_{}", Uuid::now_v7().simple());
    server.create_database(&name).await?;
    let outcome = bench(&args, &server, replica.as_ref(), &name).await;
    if args.server.keep {
        eprintln!("kept database {}", server.database_url(&name));
    } else {
        server.drop_database(&name).await?;
    }
    print_report(&outcome?, args.json)
}

async fn bench(
    args: &ScaleArgs,
    server: &Server,
    replica: Option<&Server>,
    name: &str,
) -> Result<Report, BenchError> {
    let url = server.database_url(name);
    kgnode::db::run_pending(&url).await?;
    let config = args.dataset.config();
    let (pass, _) = load_with_copy(&config, COPY_BATCH, server, name, &mut |_| {}).await?;
    if let Some(replica) = replica {
        caught_up(server, replica, name).await?;
    }
    let token = node_token(&url).await?;
    let workloads = workloads(args, &pass.ids)?;
    let mut env: Vec<(&str, String)> = UNLIMITED.iter().map(|key| (*key, "0".to_owned())).collect();
    env.push((
        "KGNODE_NODE__PUBLIC_URL",
        "http://localhost:8080".to_owned(),
    ));
    if let Some(replica) = replica {
        env.push(("KGNODE_DATABASE__REPLICA_URLS", replica.database_url(name)));
    }
    let mut plans: Vec<(usize, Option<&'static str>)> =
        args.processes.iter().map(|&count| (count, None)).collect();
    if !args.no_pinned {
        plans.push((1, Some("0")));
    }
    let mut runs = Vec::new();
    for (count, pinned) in plans {
        eprintln!(
            "scale: {count} process(es){}",
            pinned.map_or("", |_| ", pinned to core 0")
        );
        let mut processes = Vec::with_capacity(count);
        for n in 0..count {
            let dir = std::env::temp_dir().join(format!("{name}-{}-{n}", runs.len()));
            processes.push(NodeProcess::start(&url, dir, &env, pinned).await?);
        }
        let load_average = load_average_once_quiet().await;
        let mut reads = Vec::new();
        for paths in &workloads {
            let measured = measure(args, &processes, paths).await?;
            eprintln!(
                "scale: {count} × {}: {:.0}/s, p50 {:.2} ms, {:.2} ms CPU per request",
                measured.workload,
                measured.requests_per_second,
                measured.latency.p50_ms,
                measured.cpu_ms_per_request
            );
            reads.push(measured);
        }
        let writes = write(args, &processes, &token).await?;
        for process in processes {
            process.stop();
        }
        runs.push(Run {
            processes: count,
            pinned,
            reads,
            writes,
            load_average,
        });
    }
    Ok(Report {
        artifacts: config.artifacts,
        relationships: pass.relationships,
        clients: args.clients,
        replica: replica.is_some(),
        runs,
    })
}

/// Waits until the replica has the database and has replayed everything written so far.
async fn caught_up(server: &Server, replica: &Server, name: &str) -> Result<(), BenchError> {
    let primary = server.connect(name).await?;
    let written: String = primary
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await?
        .get(0);
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if let Ok(standby) = replica.connect(name).await {
            let replayed: bool = standby
                .query_one(
                    "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                    &[&written],
                )
                .await?
                .get(0);
            if replayed {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(BenchError::NodeProcess(
        "the replica did not replay the load within 10 minutes".into(),
    ))
}

/// The request paths of each workload: the warm-up's, then the measured ones, seeded.
fn workloads(args: &ScaleArgs, ids: &[Uuid]) -> Result<Vec<Paths>, BenchError> {
    let generator = Generator::new(args.dataset.config())?;
    let terms = TermPicker::new(generator.vocabulary(), &HashSet::new())?;
    let dimensions = generator.dimension_names();
    let count = args.requests + args.clients * WARMUP_PER_CLIENT;
    let mut rng = ChaCha8Rng::seed_from_u64(args.dataset.seed);
    let id = |rng: &mut ChaCha8Rng| ids[rng.random_range(0..ids.len().max(1))];
    Ok(WORKLOADS
        .into_iter()
        .map(|workload| Paths {
            workload,
            paths: (0..count)
                .map(|_| match workload {
                    Workload::GetArtifact => format!("/api/v1/artifacts/{}", id(&mut rng)),
                    Workload::ListPage => {
                        let dimension = &dimensions[rng.random_range(0..dimensions.len().min(50))];
                        format!(
                            "/api/v1/convergences/{SLUG}/artifacts?dimension={dimension}&limit=50"
                        )
                    }
                    Workload::Search => {
                        format!("/api/v1/search?q={}&limit=20", terms.pick(&mut rng))
                    }
                    Workload::Neighborhood => {
                        format!("/api/v1/graph/neighborhood/{}?depth=2", id(&mut rng))
                    }
                })
                .collect(),
        })
        .collect())
}

/// The node processes' CPU time so far.
fn cpu_seconds(processes: &[NodeProcess]) -> Result<f64, BenchError> {
    processes.iter().map(NodeProcess::cpu_seconds).sum()
}

/// Reads the replica has served, over every process.
async fn replica_reads(
    http: &reqwest::Client,
    processes: &[NodeProcess],
) -> Result<u64, BenchError> {
    let mut reads = 0;
    for process in processes {
        let ready: serde_json::Value = http
            .get(process.api.replace("/api/v1", "/readyz"))
            .send()
            .await?
            .json()
            .await?;
        reads += ready["replicas"][0]["reads"].as_u64().unwrap_or(0);
    }
    Ok(reads)
}

/// Builds request `n` of a workload.
type Request = Arc<dyn Fn(usize) -> reqwest::RequestBuilder + Send + Sync>;

/// Sends requests `0..total` from `clients` concurrent clients, each taking the next number;
/// returns each request's latency and how many were not answered with `expected` (or not at
/// all).
async fn drive(
    clients: usize,
    total: usize,
    request: Request,
    expected: u16,
) -> Result<(Vec<Duration>, usize), BenchError> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (next, request) = (next.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return Ok::<_, BenchError>((latencies, failed));
                }
                let started = Instant::now();
                // A request the transport lost counts as failed, as a wrong status does.
                let answered = match request(n).send().await {
                    Ok(response) if response.status().as_u16() == expected => {
                        response.bytes().await.is_ok()
                    }
                    Ok(_) | Err(_) => false,
                };
                failed += usize::from(!answered);
                latencies.push(started.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for task in tasks {
        let (mine, failures) = task
            .await
            .map_err(|error| BenchError::NodeProcess(error.to_string()))??;
        latencies.extend(mine);
        failed += failures;
    }
    Ok((latencies, failed))
}

/// GETs of `paths`, request `n` to process `n % count` (a round-robin balancer).
fn reads(http: &reqwest::Client, processes: &[NodeProcess], paths: &[String]) -> Request {
    let bases: Vec<String> = processes
        .iter()
        .map(|process| process.api.trim_end_matches("/api/v1").to_owned())
        .collect();
    let (http, paths) = (http.clone(), paths.to_vec());
    Arc::new(move |n| http.get(format!("{}{}", bases[n % bases.len()], paths[n])))
}

/// Measures `request` over `total` requests: throughput, latency, the processes' CPU time and
/// the replica's share.
async fn measured(
    workload: &'static str,
    args: &ScaleArgs,
    processes: &[NodeProcess],
    (request, total, expected): (Request, usize, u16),
) -> Result<Measured, BenchError> {
    let http = http_client(Encoding::Browser)?;
    let replica_before = replica_reads(&http, processes).await?;
    let cpu_before = cpu_seconds(processes)?;
    let started = Instant::now();
    let (latencies, failed) = drive(args.clients, total, request, expected).await?;
    let elapsed = started.elapsed();
    let cpu = cpu_seconds(processes)? - cpu_before;
    let replica = replica_reads(&http, processes).await? - replica_before;
    Ok(Measured {
        workload,
        requests: total,
        requests_per_second: quotient(total as f64, elapsed.as_secs_f64()),
        latency: Latency::of(&latencies),
        cpu_ms_per_request: quotient(cpu * 1000.0, total as f64),
        failed,
        replica_share: quotient(replica as f64, total as f64),
    })
}

/// One read workload: a warm-up, then the measured requests.
async fn measure(
    args: &ScaleArgs,
    processes: &[NodeProcess],
    paths: &Paths,
) -> Result<Measured, BenchError> {
    let http = http_client(Encoding::Browser)?;
    let (warmup, rest) = paths.paths.split_at(args.clients * WARMUP_PER_CLIENT);
    drive(
        args.clients,
        warmup.len(),
        reads(&http, processes, warmup),
        200,
    )
    .await?;
    let request = reads(&http, processes, rest);
    let workload = paths.workload.label();
    measured(workload, args, processes, (request, rest.len(), 200)).await
}

/// Creates `--writes` artifacts, one per request, over the processes in turn.
async fn write(
    args: &ScaleArgs,
    processes: &[NodeProcess],
    token: &str,
) -> Result<Measured, BenchError> {
    let http = http_client(Encoding::Browser)?;
    let apis: Vec<String> = processes
        .iter()
        .map(|process| process.api.clone())
        .collect();
    let token = token.to_owned();
    let request: Request = Arc::new(move |n| {
        http.post(format!(
            "{}/convergences/{SLUG}/artifacts",
            apis[n % apis.len()]
        ))
        .bearer_auth(&token)
        .json(&json!({"kind": "idea", "title": format!("written {n}")}))
    });
    measured(
        CREATE_ARTIFACT,
        args,
        processes,
        (request, args.writes, 201),
    )
    .await
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "scale: {} artifacts, {} relationships, {} clients, {}",
            self.artifacts,
            self.relationships,
            self.clients,
            if self.replica {
                "primary + replica"
            } else {
                "primary only"
            }
        )?;
        writeln!(
            f,
            "{:<22} {:<14} {:>9} {:>9} {:>9} {:>10} {:>8} {:>7}",
            "processes", "workload", "req/s", "p50 ms", "p99 ms", "CPU ms/req", "replica", "failed"
        )?;
        for run in &self.runs {
            let label = match run.pinned {
                Some(cpus) => format!("{} (taskset -c {cpus})", run.processes),
                None => run.processes.to_string(),
            };
            for m in run.reads.iter().chain(std::iter::once(&run.writes)) {
                let workload = m.workload;
                writeln!(
                    f,
                    "{label:<22} {workload:<14} {:>9.0} {:>9.2} {:>9.2} {:>10.2} {:>7.0}% {:>7}",
                    m.requests_per_second,
                    m.latency.p50_ms,
                    m.latency.p99_ms,
                    m.cpu_ms_per_request,
                    m.replica_share * 100.0,
                    m.failed
                )?;
            }
            writeln!(f, "{label:<22} load average {}", run.load_average)?;
        }
        Ok(())
    }
}
