//! `kgnode-bench graph`: the node's in-memory graph, through its HTTP endpoints, against
//! PostgreSQL recursive CTEs answering the same queries on the same database, in one run.
//!
//! 1. creates a throwaway database, migrates it and loads the synthetic artifacts and
//!    relationships with the COPY loader of `load`, keeping the out-adjacency by generator index;
//! 2. starts a node on it and times its graph load (until `/readyz` answers 200), reading the
//!    node's own memory estimate from its `graph loaded` log line; waits for the search index
//!    to finish building so that it does not compete with the measurements;
//! 3. draws the workload with a fixed seed: neighbourhood centres per depth and direction, and
//!    path pairs (near: the ends of a short random walk; random: any two artifacts);
//! 4. runs it, sequentially and after a warm-up, through HTTP, then the first queries of each
//!    type as recursive CTEs on one PostgreSQL connection with a statement timeout, and checks
//!    that both sides agree (node and edge counts, hop counts);
//! 5. times PageRank through the centrality endpoint and in the crate (both stopping rules);
//! 6. prints the report and drops the database and the data directory (unless `--keep`).

mod postgres;
mod report;
mod workload;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::synthetic::GeneratorConfig;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use kg_graph::{GraphSnapshot, PageRankParams};
use kgnode::config::{LogFormat, LogSettings};
use kgnode::service::batch::MAX_BATCH_ARTIFACTS;
use serde::Deserialize;
use tracing_subscriber::fmt::MakeWriter;
use uuid::Uuid;

use crate::common::{
    BenchError, DatasetArgs, Encoding, Latency, LoadAverage, Phase, RunningNode, Server,
    ServerArgs, clean_up, expect_status, http_client, load_average, load_average_once_quiet,
    parse_positive, print_report, quotient, resident_bytes,
};
use crate::copy::load_with_copy;
use postgres::CteRunner;
use report::{GraphLoad, GraphReport, PageRankRun, PageRankTimes, QueryKindReport, agreement_of};
use workload::{Adjacency, GraphQuery, QueryKind, build_workload};

/// Longest wait for `/readyz` and for the search index after the node starts.
const START_TIMEOUT: Duration = Duration::from_secs(1_800);

/// Which way a neighbourhood follows relationships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Way {
    /// Source to target.
    Out,
    /// Target to source.
    In,
    /// Either.
    Both,
}

impl Way {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Way::Out => "out",
            Way::In => "in",
            Way::Both => "both",
        }
    }
}

/// Options of `graph`.
#[derive(Debug, Args)]
pub(crate) struct GraphArgs {
    #[command(flatten)]
    pub(crate) dataset: DatasetArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Measured HTTP queries per query type.
    #[arg(long, default_value_t = 300, value_parser = parse_positive)]
    pub(crate) queries: usize,
    /// Measured CTE queries per query type: the first of the HTTP queries (the CTE is slow).
    #[arg(long, default_value_t = 50, value_parser = parse_positive)]
    pub(crate) cte_queries: usize,
    /// Warm-up queries per query type, on each side (other draws, not measured).
    #[arg(long, default_value_t = 30)]
    pub(crate) warmup: usize,
    /// Warm-up queries per query type on the CTE side (at most `--warmup`).
    #[arg(long, default_value_t = 5)]
    pub(crate) cte_warmup: usize,
    /// Neighbourhood directions to measure (comma-separated: out, in, both).
    #[arg(long, value_delimiter = ',', default_value = "out")]
    pub(crate) directions: Vec<Way>,
    /// Neighbourhood `limit` on both sides (the endpoint allows up to 10,000).
    #[arg(long, default_value_t = 10_000, value_parser = parse_positive)]
    pub(crate) limit: usize,
    /// PostgreSQL `statement_timeout` of each CTE query, in milliseconds.
    #[arg(long, default_value_t = 10_000, value_parser = parse_positive)]
    pub(crate) statement_timeout_ms: usize,
    /// Deepest level the path CTE explores (the in-memory search has no bound).
    #[arg(long, default_value_t = 10, value_parser = parse_positive)]
    pub(crate) path_max_hops: usize,
    /// PageRank runs per variant (the median is reported).
    #[arg(long, default_value_t = 3, value_parser = parse_positive)]
    pub(crate) pagerank_runs: usize,
    /// Print `EXPLAIN (ANALYZE, BUFFERS)` of the first measured CTE query of each type on
    /// stderr.
    #[arg(long)]
    pub(crate) explain: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `kgnode-bench graph`: the run, the report, the clean-up.
pub(crate) async fn graph_command(args: GraphArgs) -> Result<(), BenchError> {
    let config = args.dataset.config();
    config.validate()?;
    if config.artifacts < 2 {
        return Err(BenchError::TooFewArtifacts(config.artifacts));
    }
    let capture = LogCapture::default();
    // The node's graph follower logs its memory estimate at `info` (404s of paths not found
    // stay quiet); the first subscriber
    // installed wins, so the node started below logs here.
    kgnode::telemetry::init(
        &LogSettings {
            filter: "warn,tracing_actix_web=error,kgnode::graphing=info".to_owned(),
            format: LogFormat::Json,
        },
        capture.clone(),
    );
    let server = Server::new(&args.server.database_url)?;
    let database = format!("kgbench_graph_{}", Uuid::new_v4().simple());
    let data_dir = std::env::temp_dir().join(&database);
    let outcome = graph_bench(&args, &config, &server, &database, &data_dir, &capture).await;
    let cleanup = clean_up(&server, &database, &data_dir, args.server.keep).await;
    let mut report = outcome?;
    cleanup?;
    report.kept = args.server.keep;
    print_report(&report, args.json)
}

/// Log lines of the node, kept in memory; warnings and errors also go to stderr.
#[derive(Clone, Default)]
struct LogCapture {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl LogCapture {
    /// The fields of the last event whose message is `message`.
    fn last_event(&self, message: &str) -> Option<serde_json::Value> {
        let bytes = self.bytes.lock().unwrap_or_else(PoisonError::into_inner);
        let text = String::from_utf8_lossy(&bytes);
        text.lines()
            .rev()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|event| event["fields"]["message"] == message)
            .map(|event| event["fields"].clone())
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = String::from_utf8_lossy(buf);
        if line.contains("\"level\":\"WARN\"") || line.contains("\"level\":\"ERROR\"") {
            std::io::stderr().write_all(buf)?;
        }
        self.bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// `field: number` inside a `Debug` rendering such as `MemoryUsage { node_bytes: 12, .. }`.
fn debug_field(text: &str, field: &str) -> Option<u64> {
    let start = text.find(&format!("{field}: "))? + field.len() + 2;
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The whole `graph` run on `database`, which it creates.
async fn graph_bench(
    args: &GraphArgs,
    config: &GeneratorConfig,
    server: &Server,
    database: &str,
    data_dir: &Path,
    capture: &LogCapture,
) -> Result<GraphReport, BenchError> {
    let mut loads = vec![LoadAverage {
        when: "start",
        value: load_average(),
    }];
    server.create_database(database).await?;
    let url = server.database_url(database);
    kgnode::db::run_pending(&url).await?;
    let mut adjacency = Adjacency::with_capacity(config.artifacts);
    let (load, _) = load_with_copy(
        config,
        MAX_BATCH_ARTIFACTS,
        server,
        database,
        &mut |artifact| adjacency.observe(artifact),
    )
    .await?;
    let ids = load.ids.clone();
    let client = server.connect(database).await?;
    client
        .batch_execute("VACUUM (ANALYZE) artifacts, artifact_relationships, convergences")
        .await?;
    let workload = build_workload(args, config.seed, &adjacency, &ids);

    loads.push(LoadAverage {
        when: "before the node starts",
        value: load_average(),
    });
    let rss_before = resident_bytes();
    let started = Instant::now();
    let node = RunningNode::start(&url, data_dir.to_path_buf(), |_| {}).await?;
    let http = http_client(Encoding::Browser)?;
    let outcome = async {
        let ready = wait_until_ready(&http, &node, started).await?;
        let rss_ready = resident_bytes();
        let index_seconds = wait_for_search_index(&http, &node, config.artifacts as u64, started)
            .await?
            .as_secs_f64();
        let graph_load = graph_load(capture, ready, index_seconds, rss_ready, rss_before);
        loads.push(LoadAverage {
            when: "before the HTTP queries",
            value: load_average_once_quiet().await,
        });
        let browser = HttpRunner {
            client: http.clone(),
            base: node.base.clone(),
            limit: args.limit,
        };
        let identity = HttpRunner {
            client: http_client(Encoding::Identity)?,
            base: node.base.clone(),
            limit: args.limit,
        };
        let mut http_runs = Vec::new();
        for set in &workload {
            for query in &set.warmup {
                browser.run(query).await?;
                identity.run(query).await?;
            }
            http_runs.push((
                browser.run_all(set, "HTTP gzip").await?,
                identity.run_all(set, "HTTP identity").await?,
            ));
        }
        let pagerank_http = pagerank_over_http(&http, &node.base, args.pagerank_runs).await?;
        Ok::<_, BenchError>((graph_load, http_runs, pagerank_http))
    }
    .await;
    node.stop().await;
    let (graph_load, http_runs, pagerank_http) = outcome?;

    loads.push(LoadAverage {
        when: "before the CTE queries",
        value: load_average_once_quiet().await,
    });
    let cte = CteRunner::prepare(
        &client,
        args.statement_timeout_ms,
        args.limit,
        args.path_max_hops,
    )
    .await?;
    let mut query_kinds = Vec::new();
    for (set, (http_run, identity_run)) in workload.iter().zip(&http_runs) {
        let warm = set.warmup.len().min(args.cte_warmup);
        for query in &set.warmup[..warm] {
            cte.run(query).await?;
        }
        let measured = &set.measured[..set.measured.len().min(args.cte_queries)];
        let cte_run = cte.run_all(set.kind, measured).await?;
        if args.explain
            && let Some(query) = measured.first()
        {
            cte.explain(query).await?;
        }
        let mut sizes: Vec<u64> = http_run.answers.iter().map(|a| a.size()).collect();
        sizes.sort_unstable();
        let http_latency = Latency::of(&http_run.latencies);
        let cte_latency = Latency::of(&cte_run.latencies);
        query_kinds.push(QueryKindReport {
            kind: set.kind,
            label: set.kind.label(),
            http_queries: set.measured.len(),
            cte_queries: measured.len(),
            warmup: set.warmup.len(),
            cte_warmup: warm,
            http: http_latency,
            http_identity: Latency::of(&identity_run.latencies),
            cte: cte_latency,
            cte_timeouts: cte_run.timeouts,
            ratio_p50: quotient(cte_latency.p50_ms, http_latency.p50_ms),
            ratio_p99: quotient(cte_latency.p99_ms, http_latency.p99_ms),
            median_size: sizes.get(sizes.len() / 2).copied().unwrap_or(0),
            paths_found: paths_found(&http_run.answers, &cte_run.answers),
            agreement: agreement_of(&http_run.answers, &cte_run.answers, args.path_max_hops),
        });
    }
    loads.push(LoadAverage {
        when: "before PageRank in the crate",
        value: load_average(),
    });
    let pagerank_crate = pagerank_in_crate(&adjacency, &ids, args.pagerank_runs)?;
    loads.push(LoadAverage {
        when: "end",
        value: load_average(),
    });
    Ok(GraphReport {
        artifacts: config.artifacts,
        seed: config.seed,
        relationships_per_artifact: config.relationships_per_artifact,
        relationships: load.relationships,
        copy_load: Phase::new(load.elapsed, config.artifacts, load.relationships),
        graph_load,
        limit: args.limit,
        statement_timeout_ms: args.statement_timeout_ms,
        path_max_hops: args.path_max_hops,
        query_kinds,
        pagerank: PageRankTimes {
            http: pagerank_http,
            crate_runs: pagerank_crate,
        },
        load_average: loads,
        database: database.to_owned(),
        data_dir: data_dir.display().to_string(),
        kept: false,
    })
}

/// The graph load's figures, from the timings and the node's `graph loaded` log line.
fn graph_load(
    capture: &LogCapture,
    ready: Duration,
    index_seconds: f64,
    rss_ready: u64,
    rss_before: u64,
) -> GraphLoad {
    let event = capture.last_event("graph loaded");
    let memory = event
        .as_ref()
        .and_then(|fields| fields["memory"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let count = |key: &str| {
        event
            .as_ref()
            .and_then(|fields| fields[key].as_u64())
            .unwrap_or(0)
    };
    let field = |key: &str| debug_field(&memory, key).unwrap_or(0);
    let (artifacts, relationships) = (count("artifacts"), count("relationships"));
    let (node_bytes, edge_bytes) = (field("node_bytes"), field("edge_bytes"));
    GraphLoad {
        ready_seconds: ready.as_secs_f64(),
        artifacts,
        relationships,
        node_bytes,
        edge_bytes,
        convergence_bytes: field("convergence_bytes"),
        bytes_per_artifact: quotient(node_bytes as f64, artifacts as f64),
        bytes_per_relationship: quotient(edge_bytes as f64, relationships as f64),
        rss_growth_bytes: rss_ready.saturating_sub(rss_before),
        search_index_seconds: index_seconds,
    }
}

/// For path kinds: paths the node found, and paths the CTE found.
fn paths_found(http: &[GraphAnswer], cte: &[Option<GraphAnswer>]) -> Option<(usize, usize)> {
    let found = |answer: &GraphAnswer| matches!(answer, GraphAnswer::Path(Some(_)));
    if !matches!(http.first(), Some(GraphAnswer::Path(_))) {
        return None;
    }
    Some((
        http.iter().filter(|a| found(a)).count(),
        cte.iter().flatten().filter(|a| found(a)).count(),
    ))
}

/// Polls `/readyz` every 10 ms until it says the graph is loaded.
async fn wait_until_ready(
    http: &reqwest::Client,
    node: &RunningNode,
    started: Instant,
) -> Result<Duration, BenchError> {
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(250));
    bar.set_message("node loading its graph (until /readyz says graph_loaded)");
    loop {
        if node.readiness(http).await?.graph_loaded() {
            bar.finish_and_clear();
            return Ok(started.elapsed());
        }
        if started.elapsed() > START_TIMEOUT {
            bar.abandon();
            return Err(BenchError::NotReady(started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `/readyz` says the search index is built: the node's search follower builds it
/// at start, and would compete with the measurements.
async fn wait_for_search_index(
    http: &reqwest::Client,
    node: &RunningNode,
    expected: u64,
    started: Instant,
) -> Result<Duration, BenchError> {
    let bar = ProgressBar::new(expected);
    bar.set_style(ProgressStyle::with_template(
        "search index (built alongside, waited for) [{elapsed_precise}] {wide_bar} \
         {pos}/{len} ({per_sec}, eta {eta})",
    )?);
    loop {
        let readiness = node.readiness(http).await?;
        if readiness.search_built() {
            bar.finish_and_clear();
            return Ok(started.elapsed());
        }
        if let Some(progress) = readiness.search_progress {
            bar.set_length(progress.total);
            bar.set_position(progress.written);
        }
        if started.elapsed() > START_TIMEOUT {
            bar.abandon();
            return Err(BenchError::NotReady(started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What one side answered to one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GraphAnswer {
    /// A neighbourhood: artifacts (centre included), relationships among them, cut by the limit.
    Neighborhood {
        nodes: u64,
        edges: u64,
        truncated: bool,
    },
    /// A shortest path's hops, `None` when there is none.
    Path(Option<u64>),
}

impl GraphAnswer {
    /// Artifacts of a neighbourhood, hops of a path (0 when none).
    pub(crate) fn size(&self) -> u64 {
        match *self {
            GraphAnswer::Neighborhood { nodes, .. } => nodes,
            GraphAnswer::Path(hops) => hops.unwrap_or(0),
        }
    }
}

/// The queries of one kind: warm-up first, then measured.
pub(crate) struct QuerySet {
    pub(crate) kind: QueryKind,
    pub(crate) warmup: Vec<GraphQuery>,
    pub(crate) measured: Vec<GraphQuery>,
}

/// The HTTP side's measured run of one query kind.
struct HttpRun {
    latencies: Vec<Duration>,
    answers: Vec<GraphAnswer>,
}

/// The neighbourhood endpoint's answer, as far as the benchmark reads it.
#[derive(Deserialize)]
struct NeighborhoodReply {
    nodes: Vec<serde::de::IgnoredAny>,
    edges: Vec<serde::de::IgnoredAny>,
    truncated: bool,
}

/// The path endpoint's answer, as far as the benchmark reads it.
#[derive(Deserialize)]
struct PathReply {
    hops: u64,
}

/// Sends the workload to the node's graph endpoints, anonymously, on one keep-alive
/// connection.
struct HttpRunner {
    client: reqwest::Client,
    base: String,
    limit: usize,
}

impl HttpRunner {
    /// One query: the time from sending it to having read the whole answer, and the answer.
    async fn run(&self, query: &GraphQuery) -> Result<(Duration, GraphAnswer), BenchError> {
        let request = match *query {
            GraphQuery::Neighborhood {
                center,
                depth,
                direction,
            } => self
                .client
                .get(format!("{}/graph/neighborhood/{center}", self.base))
                .query(&[
                    ("depth", depth.to_string()),
                    ("direction", direction.as_str().to_owned()),
                    ("limit", self.limit.to_string()),
                ]),
            GraphQuery::Path { from, to } => self
                .client
                .get(format!("{}/graph/path", self.base))
                .query(&[
                    ("from", from.to_string()),
                    ("to", to.to_string()),
                    ("direction", "out".to_owned()),
                ]),
        };
        let started = Instant::now();
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        let elapsed = started.elapsed();
        let answer = match (query, status) {
            (GraphQuery::Neighborhood { .. }, 200) => {
                let reply: NeighborhoodReply = serde_json::from_slice(&body)?;
                GraphAnswer::Neighborhood {
                    nodes: reply.nodes.len() as u64,
                    edges: reply.edges.len() as u64,
                    truncated: reply.truncated,
                }
            }
            (GraphQuery::Path { .. }, 200) => {
                let reply: PathReply = serde_json::from_slice(&body)?;
                GraphAnswer::Path(Some(reply.hops))
            }
            (GraphQuery::Path { .. }, 404) => GraphAnswer::Path(None),
            _ => {
                return Err(BenchError::Status {
                    request: "GET /graph/...",
                    status,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
            }
        };
        Ok((elapsed, answer))
    }

    async fn run_all(&self, set: &QuerySet, side: &str) -> Result<HttpRun, BenchError> {
        let mut run = HttpRun {
            latencies: Vec::with_capacity(set.measured.len()),
            answers: Vec::with_capacity(set.measured.len()),
        };
        let bar = query_progress(side, set.kind, set.measured.len())?;
        for query in &set.measured {
            let (elapsed, answer) = self.run(query).await?;
            run.latencies.push(elapsed);
            run.answers.push(answer);
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(run)
    }
}

pub(crate) fn query_progress(
    side: &str,
    kind: QueryKind,
    total: usize,
) -> Result<ProgressBar, BenchError> {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(ProgressStyle::with_template(
        "{prefix:>40} [{elapsed_precise}] {wide_bar} {pos}/{len} queries (eta {eta})",
    )?);
    bar.set_prefix(format!("{side}: {}", kind.label()));
    Ok(bar)
}

/// The centrality endpoint's answer, as far as the benchmark reads it.
#[derive(Deserialize)]
struct CentralityReply {
    artifacts: u64,
    iterations: Option<u64>,
}

/// PageRank over the whole graph through `GET /graph/centrality?algorithm=pagerank&top=10`:
/// the node's default parameters (tolerance 1e-6 with networkx's rule).
async fn pagerank_over_http(
    http: &reqwest::Client,
    base: &str,
    runs: usize,
) -> Result<PageRankRun, BenchError> {
    let url = format!("{base}/graph/centrality");
    let mut seconds = Vec::with_capacity(runs);
    let mut iterations = 0;
    let mut artifacts = 0;
    let bar = ProgressBar::new(runs as u64);
    bar.set_style(ProgressStyle::with_template(
        "{prefix:>40} [{elapsed_precise}] {wide_bar} {pos}/{len} runs",
    )?);
    bar.set_prefix("HTTP: PageRank");
    for _ in 0..runs {
        let started = Instant::now();
        let response = http
            .get(&url)
            .query(&[("algorithm", "pagerank"), ("top", "10")])
            .send()
            .await?;
        let response = expect_status(response, 200, "GET /graph/centrality").await?;
        let reply: CentralityReply = response.json().await?;
        seconds.push(started.elapsed().as_secs_f64());
        iterations = reply.iterations.unwrap_or(0);
        artifacts = reply.artifacts;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(PageRankRun::new(
        "HTTP /graph/centrality (snapshot + CSR + iterations + JSON), default parameters",
        "networkx: L1 change < n x 1e-6",
        1,
        artifacts,
        iterations,
        seconds,
    ))
}

/// PageRank in the crate on the same graph (built from the generator's adjacency, in the
/// node's order): networkx's rule and the strict rule (total L1 change below 1e-6), on one
/// and two threads. Times include building the CSR.
fn pagerank_in_crate(
    adjacency: &Adjacency,
    ids: &[Uuid],
    runs: usize,
) -> Result<Vec<PageRankRun>, BenchError> {
    let snapshot = GraphSnapshot::from_edges(ids.to_vec(), adjacency.edges(), Vec::new())?;
    let n = snapshot.node_count();
    let mut out = Vec::new();
    let variants = [
        ("networkx: L1 change < n x 1e-6", 1e-6, 1),
        ("strict: L1 change < 1e-6", 1e-6 / n as f64, 1),
        ("strict: L1 change < 1e-6", 1e-6 / n as f64, 2),
    ];
    for (rule, tolerance, threads) in variants {
        let params = PageRankParams {
            tolerance,
            threads,
            max_iterations: 1_000,
            ..PageRankParams::default()
        };
        let mut seconds = Vec::with_capacity(runs);
        let mut iterations = 0;
        for _ in 0..runs {
            let started = Instant::now();
            let ranks = snapshot.pagerank(&params)?;
            seconds.push(started.elapsed().as_secs_f64());
            iterations = ranks.iterations() as u64;
        }
        out.push(PageRankRun::new(
            "kg-graph GraphSnapshot::pagerank (CSR build + iterations)",
            rule,
            threads,
            n as u64,
            iterations,
            seconds,
        ));
    }
    Ok(out)
}
