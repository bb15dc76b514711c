//! `kgnode-bench request-path`: what authentication, rate limiting and metrics cost a request.
//! One COPY-loaded public convergence; the node is started on it once per configuration, and
//! `--clients` keep-alive clients with a browser's `Accept-Encoding` GET random artifacts and
//! search for random title words, in the same run:
//!
//! - `bare`: anonymous requests, every rate limit off (0), metrics off;
//! - `full`: requests with a service token (looked up per request), every limit on with quotas
//!   no client reaches, metrics on.
//!
//! It also times logins (argon2id verification at the configured cost), one at a time.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use uuid::Uuid;

use crate::common::{
    BenchError, DatasetArgs, Encoding, Latency, RunningNode, Server, ServerArgs, expect_status,
    http_client, load_average, node_token, print_report, quotient,
};
use crate::copy::load_with_copy;

/// Options of `request-path`.
#[derive(Debug, Args)]
pub(crate) struct RequestPathArgs {
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    #[command(flatten)]
    pub(crate) dataset: DatasetArgs,
    /// Requests per endpoint and configuration (after as many warm-up requests / 10).
    #[arg(long, default_value_t = 20_000)]
    pub(crate) requests: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    pub(crate) clients: usize,
    /// Logins timed.
    #[arg(long, default_value_t = 50)]
    pub(crate) logins: usize,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// One endpoint under one configuration.
#[derive(Debug, Clone, Copy, Serialize)]
struct Throughput {
    requests_per_second: f64,
    latency: Latency,
}

/// Both endpoints under one configuration.
#[derive(Debug, Serialize)]
struct Run {
    configuration: &'static str,
    get_artifact: Throughput,
    search: Throughput,
}

#[derive(Debug, Serialize)]
struct RequestPathReport {
    artifacts: usize,
    clients: usize,
    requests: usize,
    runs: Vec<Run>,
    /// `full` throughput over `bare` throughput (means of their runs), per endpoint.
    get_artifact_ratio: f64,
    search_ratio: f64,
    login: Latency,
    argon2: String,
    load_average: Vec<String>,
}

/// A configuration of the node and its clients.
#[derive(Debug, Clone, Copy)]
struct Configuration {
    name: &'static str,
    layers_on: bool,
}

/// Alternated, twice each, so that whatever warms up during the run (the index files in the
/// page cache, PostgreSQL's buffers) favours neither.
const CONFIGURATIONS: [Configuration; 4] = [BARE, FULL, BARE, FULL];

const BARE: Configuration = Configuration {
    name: "bare",
    layers_on: false,
};

const FULL: Configuration = Configuration {
    name: "full",
    layers_on: true,
};

/// Quotas far above what the clients send, so that the limiter counts every request and
/// refuses none.
const UNREACHED_PER_MINUTE: u32 = 100_000_000;

pub(crate) async fn request_path_command(args: RequestPathArgs) -> Result<(), BenchError> {
    let server = Server::new(&args.server.database_url)?;
    let database = format!("kg_bench_request_path_{}", std::process::id());
    let data_dir = std::env::temp_dir().join(&database);
    let outcome = bench(&args, &server, &database, &data_dir).await;
    crate::common::clean_up(&server, &database, &data_dir, args.server.keep).await?;
    print_report(&outcome?, args.json)
}

async fn bench(
    args: &RequestPathArgs,
    server: &Server,
    database: &str,
    data_dir: &std::path::Path,
) -> Result<RequestPathReport, BenchError> {
    let mut loads = vec![format!("start: {}", load_average())];
    server.create_database(database).await?;
    let url = server.database_url(database);
    kgnode::db::run_pending(&url).await?;
    let config = args.dataset.config();
    let mut words: Vec<String> = Vec::new();
    let (pass, _) = load_with_copy(&config, 1000, server, database, &mut |artifact| {
        if words.len() < 1000 {
            words.extend(artifact.title.split_whitespace().map(str::to_lowercase));
        }
    })
    .await?;
    let ids = Arc::new(pass.ids);
    let words = Arc::new(words);
    let token = node_token(&url).await?;
    let mut runs = Vec::new();
    for configuration in CONFIGURATIONS {
        let node = RunningNode::start(&url, data_dir.to_path_buf(), |settings| {
            tune(settings, configuration.layers_on)
        })
        .await?;
        let http = http_client(Encoding::Browser)?;
        wait_until_ready(&node, &http).await?;
        let credentials = configuration.layers_on.then(|| token.clone());
        let client = Client {
            http,
            base: node.base.clone(),
            token: credentials,
        };
        let (ids, words) = (Arc::clone(&ids), Arc::clone(&words));
        let artifact = move |rng: &mut ChaCha8Rng| {
            format!("/artifacts/{}", ids[rng.random_range(0..ids.len())])
        };
        let search = move |rng: &mut ChaCha8Rng| {
            format!("/search?q={}", words[rng.random_range(0..words.len())])
        };
        let get_artifact = drive(&client, args, artifact).await?;
        let search = drive(&client, args, search).await?;
        runs.push(Run {
            configuration: configuration.name,
            get_artifact,
            search,
        });
        loads.push(format!("after {}: {}", configuration.name, load_average()));
        node.stop().await;
    }
    let login = time_logins(&url, data_dir, args.logins).await?;
    let defaults = kgnode::config::Settings::defaults()?.accounts;
    let mean = |name: &str, pick: fn(&Run) -> Throughput| {
        let rates: Vec<f64> = runs
            .iter()
            .filter(|run| run.configuration == name)
            .map(|run| pick(run).requests_per_second)
            .collect();
        quotient(rates.iter().sum(), rates.len() as f64)
    };
    let ratio =
        |pick: fn(&Run) -> Throughput| quotient(mean(FULL.name, pick), mean(BARE.name, pick));
    Ok(RequestPathReport {
        artifacts: config.artifacts,
        clients: args.clients,
        requests: args.requests,
        get_artifact_ratio: ratio(|run| run.get_artifact),
        search_ratio: ratio(|run| run.search),
        runs,
        login,
        argon2: format!(
            "argon2id m={} KiB, t={}, p={}",
            defaults.argon2_memory_kib, defaults.argon2_iterations, defaults.argon2_parallelism
        ),
        load_average: loads,
    })
}

fn tune(settings: &mut kgnode::config::Settings, layers_on: bool) {
    settings.federation.enabled = false;
    settings.metrics.bind = layers_on.then(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let per_minute = if layers_on { UNREACHED_PER_MINUTE } else { 0 };
    let limits = &mut settings.limits;
    limits.anonymous_reads_per_minute = per_minute;
    limits.anonymous_searches_per_minute = per_minute;
    limits.reads_per_minute = per_minute;
    limits.searches_per_minute = per_minute;
    limits.writes_per_minute = per_minute;
    limits.logins_per_minute_per_username = per_minute;
    limits.logins_per_minute_per_ip = per_minute;
}

async fn wait_until_ready(node: &RunningNode, http: &reqwest::Client) -> Result<(), BenchError> {
    let patience = Duration::from_secs(600);
    let deadline = Instant::now() + patience;
    while !node.readiness(http).await?.ready() {
        if Instant::now() > deadline {
            return Err(BenchError::NotReady(patience));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// A client of one configuration.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    async fn get(&self, path: &str) -> Result<(), BenchError> {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = expect_status(request.send().await?, 200, "GET").await?;
        response.bytes().await?;
        Ok(())
    }
}

/// Sends `args.requests` requests made by `path` from `args.clients` clients at once (after a
/// tenth as many to warm up); their throughput and latency.
async fn drive(
    client: &Client,
    args: &RequestPathArgs,
    path: impl Fn(&mut ChaCha8Rng) -> String + Clone + Send + 'static,
) -> Result<Throughput, BenchError> {
    run_clients(client, args.clients, args.requests / 10, path.clone()).await?;
    let started = Instant::now();
    let samples = run_clients(client, args.clients, args.requests, path).await?;
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Throughput {
        requests_per_second: quotient(samples.len() as f64, elapsed),
        latency: Latency::of(&samples),
    })
}

async fn run_clients(
    client: &Client,
    clients: usize,
    requests: usize,
    path: impl Fn(&mut ChaCha8Rng) -> String + Clone + Send + 'static,
) -> Result<Vec<Duration>, BenchError> {
    let mut tasks = Vec::with_capacity(clients);
    for n in 0..clients {
        let client = client.clone();
        let path = path.clone();
        let share = requests / clients + usize::from(n < requests % clients);
        tasks.push(tokio::spawn(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
            let mut samples = Vec::with_capacity(share);
            for _ in 0..share {
                let target = path(&mut rng);
                let started = Instant::now();
                client.get(&target).await?;
                samples.push(started.elapsed());
            }
            Ok::<_, BenchError>(samples)
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for task in tasks {
        all.extend(task.await.map_err(|e| BenchError::Setup(e.to_string()))??);
    }
    Ok(all)
}

/// Times `count` logins over HTTP, one after the other, against an account made like an
/// operator makes one.
async fn time_logins(
    url: &str,
    data_dir: &std::path::Path,
    count: usize,
) -> Result<Latency, BenchError> {
    let settings = kgnode::config::Settings::defaults()?;
    let hashing = kgnode::auth::PasswordHashing::new(&settings.accounts)
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let mut conn =
        <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(url).await?;
    let name = format!("bench_{}", Uuid::now_v7().simple())[..20].to_owned();
    let username =
        kgnode::domain::Username::try_from(name.clone()).map_err(|e| BenchError::Setup(e.0))?;
    let password = kgnode::domain::Password::try_from("correct horse battery".to_owned())
        .map_err(|e| BenchError::Setup(e.0))?;
    kgnode::service::accounts::create_by_admin(
        &mut conn,
        &kgnode::auth::Caller::system(),
        &hashing,
        &username,
        &password,
        false,
    )
    .await?;
    let node = RunningNode::start(url, data_dir.to_path_buf(), |settings| {
        tune(settings, false)
    })
    .await?;
    let http = http_client(Encoding::Browser)?;
    let body = serde_json::json!({"username": name, "password": "correct horse battery"});
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let response = http
            .post(format!("{}/sessions", node.base))
            .json(&body)
            .send()
            .await?;
        expect_status(response, 201, "POST /sessions").await?;
        samples.push(started.elapsed());
    }
    node.stop().await;
    Ok(Latency::of(&samples))
}

impl fmt::Display for RequestPathReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "request path: {} artifacts, {} clients, {} requests per endpoint and configuration",
            self.artifacts, self.clients, self.requests
        )?;
        writeln!(
            f,
            "{:<6} {:>14} {:>9} {:>9} {:>12} {:>9} {:>9}",
            "", "artifact req/s", "p50 ms", "p99 ms", "search req/s", "p50 ms", "p99 ms"
        )?;
        for run in &self.runs {
            writeln!(
                f,
                "{:<6} {:>14.0} {:>9.2} {:>9.2} {:>12.0} {:>9.2} {:>9.2}",
                run.configuration,
                run.get_artifact.requests_per_second,
                run.get_artifact.latency.p50_ms,
                run.get_artifact.latency.p99_ms,
                run.search.requests_per_second,
                run.search.latency.p50_ms,
                run.search.latency.p99_ms,
            )?;
        }
        writeln!(
            f,
            "full / bare throughput (means): GET artifact {:.3}, search {:.3}",
            self.get_artifact_ratio, self.search_ratio
        )?;
        writeln!(
            f,
            "login ({}): p50 {:.1} ms, p99 {:.1} ms",
            self.argon2, self.login.p50_ms, self.login.p99_ms
        )?;
        for load in &self.load_average {
            writeln!(f, "load average {load}")?;
        }
        Ok(())
    }
}
