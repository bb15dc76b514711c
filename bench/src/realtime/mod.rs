//! `kgnode-bench realtime`: event streams against polling, at 1, 100 and 1,000 clients.
//!
//! Each run starts a `kgnode serve` process on a fresh database, connects the clients, then
//! creates `--writes` artifacts through HTTP at `--rate` per second. With streams, every
//! subscriber follows `GET /convergences/{slug}/events`; in the baseline, every client polls the
//! keyset-paginated artifact list once a second. Reported per run: the delay from each
//! artifact's `created_at` (PostgreSQL's clock, in the writing transaction) to its receipt by
//! each client (p50/p99), events lost and duplicated, the node's resident memory per idle
//! subscriber, and PostgreSQL transactions per second during the writes.

mod clients;

use std::fmt;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::common::{
    BenchError, Encoding, Latency, Server, ServerArgs, http_client, load_average, node_token,
    print_report, quotient,
};
use crate::load::create_convergence;
use crate::process::NodeProcess;
use clients::{poll, subscribe, write};

/// How long clients may take, after the last write, to receive it.
const DRAIN: Duration = Duration::from_secs(60);
/// The baseline's polling interval.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// Options of `realtime`.
#[derive(Debug, Args)]
pub(crate) struct RealtimeArgs {
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Client counts to run, one run each (streams, then polling).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 100, 1000])]
    pub(crate) subscribers: Vec<usize>,
    /// Artifacts created per run.
    #[arg(long, default_value_t = 5000)]
    pub(crate) writes: usize,
    /// Writes per second.
    #[arg(long, default_value_t = 100)]
    pub(crate) rate: u64,
    /// Skip the polling baseline.
    #[arg(long)]
    pub(crate) no_polling: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// How the clients learn of new artifacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Stream,
    Poll,
}

/// One run.
#[derive(Debug, Serialize)]
struct Run {
    mode: Mode,
    clients: usize,
    writes: usize,
    /// Creation-to-receipt delay over every (client, artifact) pair received.
    delivery: Latency,
    /// Pairs never received.
    lost: usize,
    duplicated: usize,
    /// The writer's POST latency.
    write: Latency,
    /// The node's resident memory growth per connected, idle client, in KiB.
    rss_per_client_kib: f64,
    /// PostgreSQL transactions per second on the node's database while writing.
    postgres_tps: f64,
    load_average: String,
}

#[derive(Debug, Serialize)]
struct Report {
    rate: u64,
    runs: Vec<Run>,
}

/// `kgnode-bench realtime`.
pub(crate) async fn realtime_command(args: RealtimeArgs) -> Result<(), BenchError> {
    let server = Server::new(&args.server.database_url)?;
    let mut runs = Vec::new();
    let modes: &[Mode] = if args.no_polling {
        &[Mode::Stream]
    } else {
        &[Mode::Stream, Mode::Poll]
    };
    for &clients in &args.subscribers {
        for &mode in modes {
            eprintln!("realtime: {clients} client(s), {mode:?}");
            let done = run(&args, &server, mode, clients).await?;
            eprintln!(
                "realtime: {clients} {mode:?}: p50 {:.1} ms, p99 {:.1} ms, lost {}",
                done.delivery.p50_ms, done.delivery.p99_ms, done.lost
            );
            runs.push(done);
        }
    }
    print_report(
        &Report {
            rate: args.rate,
            runs,
        },
        args.json,
    )
}

async fn run(
    args: &RealtimeArgs,
    server: &Server,
    mode: Mode,
    clients: usize,
) -> Result<Run, BenchError> {
    let name = format!("kgnode_bench_realtime_{}", uuid::Uuid::now_v7().simple());
    server.create_database(&name).await?;
    let url = server.database_url(&name);
    kgnode::db::run_pending(&url).await?;
    let token = node_token(&url).await?;
    let limits = [(
        "KGNODE_REALTIME__MAX_SUBSCRIBERS",
        (clients + 10).to_string(),
    )];
    let node = NodeProcess::start(&url, std::env::temp_dir().join(&name), &limits, None).await?;
    let outcome = measure(args, server, &name, &node, &token, mode, clients).await;
    node.stop();
    if !args.server.keep {
        server.drop_database(&name).await?;
    }
    outcome
}

async fn measure(
    args: &RealtimeArgs,
    server: &Server,
    database: &str,
    node: &NodeProcess,
    token: &str,
    mode: Mode,
    clients: usize,
) -> Result<Run, BenchError> {
    let http = http_client(Encoding::Browser)?;
    create_convergence(&http, token, &node.api).await?;
    let idle = node.resident_bytes()?;
    let (stop_tx, stop) = watch::channel(false);
    let (ready_tx, mut ready) = mpsc::channel(clients.max(1));
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let client = http_client(Encoding::Browser)?;
        let api = node.api.clone();
        let stop = stop.clone();
        tasks.push(match mode {
            Mode::Stream => {
                tokio::spawn(subscribe(client, api, args.writes, ready_tx.clone(), stop))
            }
            Mode::Poll => tokio::spawn(poll(client, api, args.writes, POLL_EVERY, stop)),
        });
    }
    if mode == Mode::Stream {
        for _ in 0..clients {
            ready.recv().await;
        }
    }
    let connected = node.resident_bytes()?;
    let statistics = server.connect(database).await?;
    let before = transactions(&statistics, database).await?;
    let started = Instant::now();
    let writes = write(&http, &node.api, token, args.writes, args.rate).await?;
    let after = transactions(&statistics, database).await?;
    let postgres_tps = quotient((after - before) as f64, started.elapsed().as_secs_f64());
    let load = load_average();
    let drained = async {
        while !tasks.iter().all(|task| task.is_finished()) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    // Clients still waiting after the drain time stop with what they have: the rest is lost.
    let _ = tokio::time::timeout(DRAIN, drained).await;
    let _ = stop_tx.send(true);
    let mut seen = Vec::with_capacity(clients);
    for task in tasks {
        seen.push(
            task.await
                .map_err(|error| BenchError::Stream(error.to_string()))??,
        );
    }
    let memory = Memory { idle, connected };
    Ok(Run {
        mode,
        clients,
        writes: args.writes,
        delivery: Latency::of(
            &seen
                .iter()
                .flat_map(|s| s.delays.iter().copied())
                .collect::<Vec<_>>(),
        ),
        lost: seen
            .iter()
            .map(|s| args.writes.saturating_sub(s.distinct))
            .sum::<usize>()
            + args.writes * (clients - seen.len()),
        duplicated: seen.iter().map(|s| s.duplicates).sum(),
        write: Latency::of(&writes),
        rss_per_client_kib: memory.per_client_kib(clients),
        postgres_tps,
        load_average: load,
    })
}

/// The node's resident memory before and after the clients connected.
struct Memory {
    idle: u64,
    connected: u64,
}

impl Memory {
    fn per_client_kib(&self, clients: usize) -> f64 {
        quotient(
            self.connected.saturating_sub(self.idle) as f64 / 1024.0,
            clients as f64,
        )
    }
}

/// Committed transactions of `database` so far.
async fn transactions(client: &tokio_postgres::Client, database: &str) -> Result<i64, BenchError> {
    let row = client
        .query_one(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
            &[&database],
        )
        .await?;
    Ok(row.get(0))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "writes at {}/s; delay from created_at to receipt, per client",
            self.rate
        )?;
        writeln!(
            f,
            "| clients | mode | p50 ms | p99 ms | max ms | lost | duplicated | RSS/client KiB | PG tx/s | POST p50 ms | load |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|---|---|")?;
        for run in &self.runs {
            writeln!(
                f,
                "| {} | {:?} | {:.1} | {:.1} | {:.1} | {} | {} | {:.1} | {:.0} | {:.2} | {} |",
                run.clients,
                run.mode,
                run.delivery.p50_ms,
                run.delivery.p99_ms,
                run.delivery.max_ms,
                run.lost,
                run.duplicated,
                run.rss_per_client_kib,
                run.postgres_tps,
                run.write.p50_ms,
                run.load_average
            )?;
        }
        Ok(())
    }
}
