//! `kgnode-bench explorer`: the web explorer in headless Chromium (Debian's, through
//! chromedriver) on loopback. A convergence with a hub artifact related to `--nodes - 1` others;
//! timed in the browser:
//!
//! - the convergence page's first contentful paint (a fresh navigation each time), and its
//!   transfer size cold (empty cache) and warm;
//! - search: from the last keystroke in the box to the results drawn (the page waits for typing
//!   to stop before it asks);
//! - the hub's neighbourhood (`--nodes` artifacts): from navigation start to laid out and drawn.

use std::fmt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use fantoccini::{Client, ClientBuilder};
use serde::Serialize;
use serde_json::{Value, json};

use crate::common::{
    BenchError, RunningNode, SLUG, Server, ServerArgs, expect_status, load_average, node_token,
    percentile, print_report,
};

/// Options of `explorer`.
#[derive(Debug, Args)]
pub(crate) struct ExplorerArgs {
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Artifacts in the hub's neighbourhood (the hub included).
    #[arg(long, default_value_t = 2000)]
    pub(crate) nodes: usize,
    /// Repetitions of each measurement (the median is reported).
    #[arg(long, default_value_t = 7)]
    pub(crate) runs: usize,
    /// The chromium binary.
    #[arg(long, default_value = "/usr/bin/chromium")]
    pub(crate) chromium: String,
    /// The chromedriver binary.
    #[arg(long, default_value = "/usr/bin/chromedriver")]
    pub(crate) chromedriver: String,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Median and worst of a measurement, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
struct Timing {
    median_ms: f64,
    max_ms: f64,
}

impl Timing {
    fn of(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        Self {
            median_ms: percentile(&samples, 0.5),
            max_ms: samples.last().copied().unwrap_or(0.0),
        }
    }
}

#[derive(Debug, Serialize)]
struct ExplorerReport {
    nodes: usize,
    runs: usize,
    first_contentful_paint: Timing,
    search_keystroke_to_results: Timing,
    neighbourhood_drawn: Timing,
    /// Bytes transferred for the convergence page with an empty cache, and again with it warm.
    page_weight_cold_bytes: f64,
    page_weight_warm_bytes: f64,
    /// Bytes of the page's files once decoded.
    page_decoded_bytes: f64,
    load_average: Vec<String>,
}

pub(crate) async fn explorer_command(args: ExplorerArgs) -> Result<(), BenchError> {
    let server = Server::new(&args.server.database_url)?;
    let database = format!("kg_bench_explorer_{}", std::process::id());
    let data_dir = std::env::temp_dir().join(&database);
    server.create_database(&database).await?;
    let outcome = bench(&args, &server.database_url(&database), &data_dir).await;
    crate::common::clean_up(&server, &database, &data_dir, args.server.keep).await?;
    print_report(&outcome?, args.json)
}

async fn bench(
    args: &ExplorerArgs,
    url: &str,
    data_dir: &std::path::Path,
) -> Result<ExplorerReport, BenchError> {
    let mut loads = vec![format!("start: {}", load_average())];
    kgnode::db::run_pending(url).await?;
    let token = node_token(url).await?;
    let node = RunningNode::start(url, data_dir.to_path_buf(), |settings| {
        settings.federation.enabled = false;
        settings.limits.anonymous_reads_per_minute = 0;
        settings.limits.anonymous_searches_per_minute = 0;
        settings.limits.writes_per_minute = 0;
    })
    .await?;
    let hub = load_hub(&node, &token, args.nodes).await?;
    let browser = Browser::open(args).await?;
    let page = node.public_url.clone();
    let outcome = measure(args, &browser, &page, &hub).await;
    browser.close().await;
    node.stop().await;
    let mut report = outcome?;
    loads.push(format!("end: {}", load_average()));
    report.load_average = loads;
    Ok(report)
}

/// A public convergence with a hub related to `nodes - 1` artifacts, loaded through the batch
/// endpoint; returns the hub's id once search and graph have it all.
async fn load_hub(node: &RunningNode, token: &str, nodes: usize) -> Result<String, BenchError> {
    let http = reqwest::Client::new();
    let post = |path: String, body: Value| {
        http.post(format!("{}{path}", node.base))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let created = post(
        "/convergences".into(),
        json!({"slug": SLUG, "name": "Explorer benchmark", "visibility": "public"}),
    )
    .await?;
    expect_status(created, 201, "POST /convergences").await?;
    let words = [
        "garden", "water", "rain", "soil", "compost", "seed", "harvest", "shade",
    ];
    let hub = post(
        format!("/convergences/{SLUG}/artifacts"),
        json!({"kind": "idea", "title": "The hub of everything"}),
    )
    .await?;
    let hub: Value = expect_status(hub, 201, "POST artifact")
        .await?
        .json()
        .await?;
    let hub = hub["id"].as_str().unwrap_or_default().to_owned();
    let mut made = 1;
    while made < nodes {
        let batch = (nodes - made).min(1000);
        let artifacts: Vec<Value> = (0..batch)
            .map(|i| {
                let n = made + i;
                json!({"key": format!("a{n}"), "kind": "claim",
                       "title": format!("{} {} number {n}", words[n % words.len()], words[(n / 8) % words.len()])})
            })
            .collect();
        let relationships: Vec<Value> = (0..batch)
            .map(|i| json!({"source": format!("a{}", made + i), "target": hub, "kind": "supports"}))
            .collect();
        let answer = post(
            format!("/convergences/{SLUG}/batch"),
            json!({"artifacts": artifacts, "relationships": relationships}),
        )
        .await?;
        expect_status(answer, 201, "POST batch").await?;
        made += batch;
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let neighbourhood: Value = http
            .get(format!(
                "{}/graph/neighborhood/{hub}?limit={nodes}",
                node.base
            ))
            .send()
            .await?
            .json()
            .await?;
        let drawn = neighbourhood["nodes"].as_array().map_or(0, Vec::len);
        let searched: Value = http
            .get(format!("{}/search?q=compost", node.base))
            .send()
            .await?
            .json()
            .await?;
        if drawn == nodes && searched["estimated_total"].as_u64().unwrap_or(0) > 0 {
            return Ok(hub);
        }
        if Instant::now() > deadline {
            return Err(BenchError::NotReady(Duration::from_secs(300)));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn measure(
    args: &ExplorerArgs,
    browser: &Browser,
    page: &str,
    hub: &str,
) -> Result<ExplorerReport, BenchError> {
    let convergence = format!("{page}/#/c/{SLUG}");
    // Cold: the browser's cache is empty on the first visit.
    browser.visit(&convergence, "view").await?;
    let cold = browser.transferred().await?;
    let mut paints = Vec::new();
    let mut warm = (0.0, 0.0);
    for _ in 0..args.runs {
        browser.visit(&convergence, "view").await?;
        paints.push(browser.number(FIRST_PAINT).await?);
        warm = browser.transferred().await?;
    }
    let mut searches = Vec::new();
    browser.visit(&format!("{page}/#/search"), "view").await?;
    for run in 0..args.runs {
        let term = [
            "garden", "water", "compost", "harvest", "shade", "seed", "rain",
        ][run % 7];
        searches.push(browser.search(term).await?);
    }
    let mut draws = Vec::new();
    let graph = format!("{page}/#/graph/{hub}?limit={}", args.nodes);
    for _ in 0..args.runs {
        browser.visit(&graph, "graph").await?;
        let drawn = browser.number(GRAPH_COUNT).await?;
        if drawn as usize != args.nodes {
            return Err(BenchError::Setup(format!(
                "the graph view drew {drawn} artifacts, not {}",
                args.nodes
            )));
        }
        draws.push(browser.number(GRAPH_DRAWN_AT).await?);
    }
    Ok(ExplorerReport {
        nodes: args.nodes,
        runs: args.runs,
        first_contentful_paint: Timing::of(paints),
        search_keystroke_to_results: Timing::of(searches),
        neighbourhood_drawn: Timing::of(draws),
        page_weight_cold_bytes: cold.0,
        page_weight_warm_bytes: warm.0,
        page_decoded_bytes: cold.1,
        load_average: Vec::new(),
    })
}

/// The page's first contentful paint, in ms after navigation start.
const FIRST_PAINT: &str = "const p = performance.getEntriesByName('first-contentful-paint')[0]; return p ? p.startTime : null;";
/// Artifacts in the drawn graph.
const GRAPH_COUNT: &str =
    "return Number(document.querySelector('[data-testid=graph-view]').dataset.nodeCount);";
/// When the graph view was drawn (its own performance mark), in ms after navigation start.
const GRAPH_DRAWN_AT: &str = "const m = performance.getEntriesByName('kgnode:graph-drawn')[0]; return m ? m.startTime : null;";

/// A chromedriver and its headless chromium session.
struct Browser {
    client: Client,
    driver: Child,
}

impl Browser {
    async fn open(args: &ExplorerArgs) -> Result<Self, BenchError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = Command::new(&args.chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": args.chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1400,900", "--no-first-run", "--disable-extensions"],
            },
        });
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        if let Some(map) = capabilities.as_object() {
            builder.capabilities(map.clone());
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match builder.connect(&format!("http://127.0.0.1:{port}")).await {
                Ok(client) => break client,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => return Err(BenchError::Setup(format!("chromedriver: {error}"))),
            }
        };
        Ok(Self { client, driver })
    }

    /// Navigates to `url` (a fresh document) and waits until `what` is drawn: the view
    /// (`main[data-ready]`) or the graph.
    async fn visit(&self, url: &str, what: &str) -> Result<(), BenchError> {
        self.client
            .goto("about:blank")
            .await
            .map_err(browser_error)?;
        self.client.goto(url).await.map_err(browser_error)?;
        let probe = match what {
            "graph" => {
                "return document.querySelector('[data-testid=graph-view][data-ready=true]') ? true : null;"
            }
            _ => {
                "const v = document.getElementById('view'); return v && v.dataset.ready === 'true' ? true : null;"
            }
        };
        self.until(probe, Duration::from_millis(20))
            .await
            .map(|_| ())
    }

    /// Types `term` into the search box and measures, in the page, from the last keystroke to
    /// the results for it drawn.
    async fn search(&self, term: &str) -> Result<f64, BenchError> {
        let script = r#"
            const [term, done] = arguments;
            const input = document.querySelector('[data-testid=search-input]');
            const view = document.getElementById('view');
            const before = view.dataset.searched;
            input.value = '';
            let typed = 0;
            const type = () => {
              input.value += term[typed++];
              input.dispatchEvent(new Event('input', { bubbles: true }));
              if (typed < term.length) { setTimeout(type, 60); return; }
              const stopped = performance.now();
              const wait = () => {
                if (view.dataset.searched !== before && document.querySelector('[data-testid=search-result]')) {
                  done(performance.now() - stopped);
                } else {
                  requestAnimationFrame(wait);
                }
              };
              wait();
            };
            type();
        "#;
        let value = self
            .client
            .execute_async(script, vec![json!(term)])
            .await
            .map_err(browser_error)?;
        value
            .as_f64()
            .ok_or_else(|| BenchError::Setup(format!("search timing: {value}")))
    }

    /// Bytes transferred for the current page and its files, and their decoded size.
    async fn transferred(&self) -> Result<(f64, f64), BenchError> {
        let value = self
            .client
            .execute(
                "const all = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]; return [all.reduce((s, e) => s + e.transferSize, 0), all.reduce((s, e) => s + e.decodedBodySize, 0)];",
                vec![],
            )
            .await
            .map_err(browser_error)?;
        let number = |at: usize| value[at].as_f64().unwrap_or(0.0);
        Ok((number(0), number(1)))
    }

    async fn number(&self, script: &str) -> Result<f64, BenchError> {
        let value = self.until(script, Duration::from_millis(20)).await?;
        value
            .as_f64()
            .ok_or_else(|| BenchError::Setup(format!("not a number: {value}")))
    }

    async fn until(&self, script: &str, every: Duration) -> Result<Value, BenchError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let value = self
                .client
                .execute(script, vec![])
                .await
                .map_err(browser_error)?;
            if !value.is_null() {
                return Ok(value);
            }
            if Instant::now() > deadline {
                return Err(BenchError::Setup(format!(
                    "the page never answered {script}"
                )));
            }
            tokio::time::sleep(every).await;
        }
    }

    async fn close(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn browser_error(error: impl fmt::Display) -> BenchError {
    BenchError::Setup(format!("browser: {error}"))
}

impl fmt::Display for ExplorerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "explorer in headless chromium: {} runs each (median, max)",
            self.runs
        )?;
        let line = |f: &mut fmt::Formatter<'_>, what: &str, t: Timing, goal: &str| {
            writeln!(
                f,
                "{what:<44} {:>8.1} ms {:>8.1} ms   goal {goal}",
                t.median_ms, t.max_ms
            )
        };
        line(
            f,
            "convergence page first contentful paint",
            self.first_contentful_paint,
            "< 500 ms",
        )?;
        line(
            f,
            "search: last keystroke to results",
            self.search_keystroke_to_results,
            "< 150 ms",
        )?;
        let drawn = format!("neighbourhood of {} artifacts drawn", self.nodes);
        line(f, &drawn, self.neighbourhood_drawn, "< 2000 ms")?;
        writeln!(
            f,
            "page weight: {:.0} KiB transferred cold, {:.0} KiB warm, {:.0} KiB decoded",
            self.page_weight_cold_bytes / 1024.0,
            self.page_weight_warm_bytes / 1024.0,
            self.page_decoded_bytes / 1024.0
        )?;
        for load in &self.load_average {
            writeln!(f, "load average {load}")?;
        }
        Ok(())
    }
}
