//! `kgnode-bench`: benchmarks of a kgnode against throwaway PostgreSQL databases.
//!
//! `kgnode-bench load --artifacts N` generates `N` synthetic artifacts (see
//! [`crate::synthetic`]) and loads them twice, each time into a fresh, migrated database: once
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
//!    index from PostgreSQL, until `/readyz` says it is built and a blank search counts `N`
//!    documents;
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
//!
//! `kgnode-bench graph --artifacts N --relationships-per-artifact 5` compares the node's
//! in-memory graph (neighbourhoods and shortest paths through `GET /api/v1/graph/...`) with
//! PostgreSQL recursive CTEs on the same data, in one run, and times the graph load at node
//! start, its memory and PageRank over the whole graph (see the `graph` module):
//!
//! ```text
//! kgnode-bench graph --artifacts 1000000 --relationships-per-artifact 5 [--queries 300]
//!                    [--cte-queries 50] [--warmup 30] [--directions out,both]
//!                    [--statement-timeout-ms 10000] [--explain] [--json] [--keep]
//! ```
//!
//! `kgnode-bench federation --artifacts N --followers 1,3` creates `N` artifacts (with their
//! relationships) through the batch endpoint of an origin node followed by 1, then 3, follower
//! nodes in this process, and times delivery until every follower holds everything:
//!
//! ```text
//! kgnode-bench federation --artifacts 10000 --followers 1,3 [--json] [--keep]
//! ```
//!
//! `kgnode-bench realtime --subscribers 1,100,1000 --writes 5000` runs a `kgnode serve`
//! process (build it first: `cargo build --release -p kgnode`) and compares its event streams
//! with clients polling the artifact list once a second (see the `realtime` module):
//!
//! ```text
//! kgnode-bench realtime --subscribers 1,100,1000 --writes 5000 [--rate 100] [--no-polling]
//! ```
//!
//! `kgnode-bench extraction` measures the job queue (no-op jobs burnt down by 1, 2 and 4
//! workers; enqueue-to-start delay) and contributions through the built-in extractor:
//!
//! ```text
//! kgnode-bench extraction [--jobs 20000] [--workers 1,2,4] [--contributions 10000] [--rate 50]
//! ```
//!
//! `kgnode-bench portability -n 100000` COPY-loads a convergence, exports it through the node's
//! export, imports the file into a fresh database through the node's import, and times
//! `pg_dump -Fc` of the same tables:
//!
//! ```text
//! kgnode-bench portability -n 100000 [--json]
//! ```
//!
//! `kgnode-bench scale` runs 1, 2 and 3 `kgnode serve` processes (build the node first:
//! `cargo build --release -p kgnode`) on one primary and a streaming replica of it, and
//! measures read throughput at 32 clients, CPU time per request, and one process pinned to core
//! 0 (see the `scale` module):
//!
//! ```text
//! kgnode-bench scale -n 100000 --replica-url postgres://postgres@127.0.0.1:5433/postgres
//!                    [--processes 1,2,3] [--clients 32] [--requests 10000] [--writes 2000]
//!                    [--no-pinned] [--json] [--keep]
//! ```
//!
//! Modules: `synthetic` (the seeded data generator), `common` (options, errors, databases, the
//! in-process node, HTTP clients, percentiles), `copy` (the COPY loader), `process` (a
//! `kgnode serve` process), and one module per benchmark: `load`, `search`, `graph`,
//! `federation`, `realtime`, `extraction`, `portability`, `scale`. Every HTTP client sends the
//! `Accept-Encoding` of a browser or Python `requests`; search and graph also report
//! `Accept-Encoding: identity` figures beside.

mod common;
mod copy;
mod explorer;
mod extraction;
mod federation;
mod graph;
mod load;
mod portability;
mod process;
mod realtime;
mod request_path;
mod scale;
mod search;
mod synthetic;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use explorer::{ExplorerArgs, explorer_command};
use extraction::{ExtractionArgs, extraction_command};
use federation::{FederationArgs, federation_command};
use graph::{GraphArgs, graph_command};
use load::{LoadArgs, load_command};
use portability::{PortabilityArgs, portability_command};
use realtime::{RealtimeArgs, realtime_command};
use request_path::{RequestPathArgs, request_path_command};
use scale::{ScaleArgs, scale_command};
use search::{SearchArgs, search_command};

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
    /// Compare the node's in-memory graph (over HTTP) with PostgreSQL recursive CTEs, and time
    /// its load and PageRank.
    Graph(GraphArgs),
    /// Deliver artifacts and relationships from one node to 1 and to N followers on loopback.
    Federation(FederationArgs),
    /// Event streams against polling clients: delivery delay, losses, memory per subscriber.
    Realtime(RealtimeArgs),
    /// The job queue alone (no-op jobs), then contributions through the built-in extractor.
    Extraction(ExtractionArgs),
    /// Export and import of a convergence, next to pg_dump and COPY of the same rows.
    Portability(PortabilityArgs),
    /// The cost of authentication, rate limiting and metrics on reads; login time.
    RequestPath(RequestPathArgs),
    /// The web explorer in headless Chromium: first paint, search, a large graph drawn.
    Explorer(ExplorerArgs),
    /// Read throughput of 1, 2 and 3 `kgnode serve` processes on a primary and a replica, CPU
    /// per request, one process pinned to a core; write throughput beside.
    Scale(ScaleArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Load(args) => load_command(args).await,
        Command::Search(args) => search_command(args).await,
        Command::Graph(args) => graph_command(args).await,
        Command::Federation(args) => federation_command(args).await,
        Command::Realtime(args) => realtime_command(args).await,
        Command::Extraction(args) => extraction_command(args).await,
        Command::Portability(args) => portability_command(args).await,
        Command::RequestPath(args) => request_path_command(args).await,
        Command::Explorer(args) => explorer_command(args).await,
        Command::Scale(args) => scale_command(args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kgnode-bench: {error}");
            ExitCode::FAILURE
        }
    }
}
