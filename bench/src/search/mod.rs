//! `kgnode-bench search`: the node's tantivy index, through its HTTP endpoint, against
//! PostgreSQL full-text search on the same database.

mod postgres;
mod report;
pub(crate) mod workload;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::synthetic::{Generator, GeneratorConfig};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use kgnode::service::batch::MAX_BATCH_ARTIFACTS;
use serde::Deserialize;
use serde_json::json;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::common::{
    BenchError, CreatedArtifact, DatasetArgs, Encoding, Latency, LoadAverage, Phase, RunningNode,
    SLUG, Server, ServerArgs, clean_up, expect_status, http_client, load_average,
    load_average_once_quiet, node_token, parse_positive, percentile, print_report, quotient,
};
use crate::copy::load_with_copy;
use postgres::{PgSearcher, PgSide, build_postgres_baseline, check_matches};
use report::{IndexBuild, QueryTypeReport, SearchReport, WriteLatency};
use workload::{BenchQuery, PhraseCollector, QuerySet, TermPicker, build_workload, stop_words};

// `search`: the node's tantivy index, through its HTTP endpoint, against PostgreSQL full-text
// search on the same database.

/// Measured queries per query type when `--queries` is not given.
pub(crate) const DEFAULT_QUERIES: usize = 1_000;

/// Hits per page, on both sides.
pub(crate) const TOP_K: usize = 20;

/// Unfiltered queries per type whose matches PostgreSQL also counts (outside the timings).
pub(crate) const MATCH_CHECK_SAMPLE: usize = 20;

/// Queries per type shown in the report with both match counts.
pub(crate) const MATCH_EXAMPLES: usize = 3;

/// How often a write is looked for in the search endpoint.
pub(crate) const PROBE_POLL: Duration = Duration::from_millis(5);

/// Longest wait for one write to become searchable.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest wait without progress while the node builds its index.
pub(crate) const BUILD_STALL: Duration = Duration::from_secs(600);

/// How the query terms are chosen, for the report.
pub(crate) const TERM_SELECTION: &str = "each term: with probability 1/2 a frequent word (vocabulary Zipf \
    ranks 10-199), else a mid-frequency word (ranks 200-4999), uniform by rank within the band, \
    PostgreSQL English stop words skipped; multi-term: 2 or 3 distinct such terms (AND); \
    phrase: two adjacent words of one sentence of the body of a generated artifact picked \
    uniformly (neither a stop word); filtered: one term, a kind drawn uniformly from the 8, a \
    dimension drawn uniformly among the 20 most used names; warm-up queries are other draws \
    from the same distributions";
/// What the node computes per query, for the report.
pub(crate) const TANTIVY_COMPUTES: &str = "GET /api/v1/search?q=..&limit=20 plus \
    &facets=false (single, multi-term, phrase) or &kind=..&dimension=.. (filtered), anonymous \
    (public artifacts only), one keep-alive connection, sequential, Accept-Encoding: gzip, deflate, br, zstd as browsers \
    and Python requests send it (the answer gzip-compressed and decoded by the client; the \
    identity column: Accept-Encoding: identity): the top 20 by BM25 (title \
    x3; x(1 + dimension weight) when filtered) with stored fields and HTML snippets and the \
    exact match count; for the filtered type also kind and dimension facet counts (top 20 \
    values) over all matches; serialized to JSON and read whole by the client";
/// What PostgreSQL computes per query, for the report.
pub(crate) const POSTGRES_COMPUTES: &str = "one tokio-postgres connection, prepared statements, \
    sequential, jit off, otherwise server defaults. Single and multi-term: \
    plainto_tsquery('english', words), phrase: phraseto_tsquery('english', words); matches \
    are live artifacts of public convergences whose generated column fts = \
    setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', body), \
    'B') matches (GIN index); they return id, title, kind of the top 20 by ts_rank(fts, query) \
    DESC, id (lean: no count, no snippets) or, full, also ts_headline('english', body, query, \
    'StartSel=<b>, StopSel=</b>, MaxWords=35, MinWords=15') of each of the 20 and the exact \
    match count over a MATERIALIZED CTE of the matches. Filtered + faceted, in one statement over a \
    MATERIALIZED CTE of the matches (term, kind = $2, tagged with dimension $3 via \
    artifact_dimensions): the top 20 by ts_rank x (1 + that dimension's weight), the exact \
    match count (full: and each hit's ts_headline), and the top 20 kinds and top 20 dimensions (all tags of the matches, via \
    artifact_dimensions) by count with GROUP BY";

/// Options of `search`.
#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    #[command(flatten)]
    pub(crate) dataset: DatasetArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Measured queries per query type, on each side.
    #[arg(long, default_value_t = DEFAULT_QUERIES, value_parser = parse_positive)]
    pub(crate) queries: usize,
    /// Warm-up queries per query type, run on each side before it is measured (other draws
    /// from the same distributions).
    #[arg(long, default_value_t = 100)]
    pub(crate) warmup: usize,
    /// Artifacts created one at a time to time write-to-searchable.
    #[arg(long, default_value_t = 200)]
    pub(crate) writes: usize,
    /// Run the node with typo tolerance on (its default setting). Off unless given:
    /// PostgreSQL full-text search has none, and both sides should match the same documents.
    #[arg(long)]
    pub(crate) typo_tolerance: bool,
    /// Run the node without word-pair fields (`search.phrase_pairs = false`): phrases are
    /// then searched through word positions.
    #[arg(long)]
    pub(crate) no_phrase_pairs: bool,
    /// Print `EXPLAIN (ANALYZE, BUFFERS)` of the first measured PostgreSQL query of each type
    /// on stderr.
    #[arg(long)]
    pub(crate) explain: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `kgnode-bench search`: the run, the report, the clean-up.
pub(crate) async fn search_command(args: SearchArgs) -> Result<(), BenchError> {
    let config = args.dataset.config();
    config.validate()?;
    if config.artifacts == 0 {
        return Err(BenchError::NoArtifacts);
    }
    let server = Server::new(&args.server.database_url)?;
    let database = format!("kgbench_{}_search", Uuid::new_v4().simple());
    let data_dir = std::env::temp_dir().join(&database);
    let outcome = search_bench(&args, &config, &server, &database, &data_dir).await;
    let cleanup = clean_up(&server, &database, &data_dir, args.server.keep).await;
    let mut report = outcome?;
    cleanup?;
    report.kept = args.server.keep;
    print_report(&report, args.json)
}

/// Number of segments of the tantivy index in `dir`, from its `meta.json` (0 if unreadable).
pub(crate) fn index_segments(dir: &Path) -> usize {
    std::fs::read(dir.join("meta.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|meta| meta.get("segments")?.as_array().map(Vec::len))
        .unwrap_or(0)
}

/// Total size of the files under `dir`.
pub(crate) fn directory_bytes(dir: &Path) -> u64 {
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
pub(crate) async fn search_bench(
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
    let phrase_pairs = !args.no_phrase_pairs;
    let started = Instant::now();
    let node = RunningNode::start(&url, data_dir.to_path_buf(), |settings| {
        settings.search.typo_tolerance = typo_tolerance;
        settings.search.phrase_pairs = phrase_pairs;
    })
    .await?;
    let http = http_client(Encoding::Browser)?;
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
pub(crate) async fn measure_node_side(
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
    loads.push((
        "before the tantivy queries",
        load_average_once_quiet().await,
    ));

    let index_segments = index_segments(&node.data_dir.join("search"));
    let browser = NodeSearcher {
        client: http.clone(),
        url: search_url.clone(),
    };
    let identity = NodeSearcher {
        client: http_client(Encoding::Identity)?,
        url: search_url.clone(),
    };
    let mut tantivy_runs = Vec::new();
    for set in workload {
        for query in &set.warmup {
            browser.run(query).await?;
            identity.run(query).await?;
        }
        tantivy_runs.push((
            browser.run_all(set, Encoding::Browser).await?,
            identity.run_all(set, Encoding::Identity).await?,
        ));
    }
    loads.push((
        "before the PostgreSQL queries",
        load_average_once_quiet().await,
    ));

    let postgres = PgSearcher::prepare(client).await?;
    let mut postgres_runs = Vec::new();
    for set in workload {
        for query in &set.warmup {
            postgres.run(set.query_type, PgSide::Lean, query).await?;
            postgres.run(set.query_type, PgSide::Full, query).await?;
        }
        postgres_runs.push((
            postgres.run_all(set, PgSide::Lean).await?,
            postgres.run_all(set, PgSide::Full).await?,
        ));
    }
    loads.push(("after the queries", load_average()));

    let mut query_types = Vec::new();
    for ((set, (tantivy, tantivy_identity)), (pg, pg_full)) in
        workload.iter().zip(&tantivy_runs).zip(&postgres_runs)
    {
        let check = check_matches(&postgres, set, tantivy, pg_full).await?;
        if args.explain
            && let Some(query) = set.measured.first()
        {
            postgres.explain(set.query_type, query).await?;
        }
        let tantivy_latency = Latency::of(&tantivy.latencies);
        let postgres_latency = Latency::of(&pg.latencies);
        let postgres_full = Latency::of(&pg_full.latencies);
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
            tantivy_identity: Latency::of(&tantivy_identity.latencies),
            tantivy_engine_p50_ms: percentile(&engine, 0.50),
            tantivy_engine_p99_ms: percentile(&engine, 0.99),
            postgres: postgres_latency,
            postgres_full,
            ratio_p50: quotient(postgres_latency.p50_ms, tantivy_latency.p50_ms),
            ratio_p99: quotient(postgres_latency.p99_ms, tantivy_latency.p99_ms),
            full_ratio_p50: quotient(postgres_full.p50_ms, tantivy_latency.p50_ms),
            full_ratio_p99: quotient(postgres_full.p99_ms, tantivy_latency.p99_ms),
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
        phrase_pairs: !args.no_phrase_pairs,
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

/// The search endpoint's answer, as far as the benchmark reads it.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchReply {
    pub(crate) hits: Vec<CreatedArtifact>,
    pub(crate) estimated_total: u64,
    #[serde(default)]
    pub(crate) facets: FacetMaps,
    pub(crate) took_ms: f64,
}

/// Facet counts by kind and by dimension.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct FacetMaps {
    pub(crate) kind: BTreeMap<String, u64>,
    pub(crate) dimension: BTreeMap<String, u64>,
}

/// What one side answered to one query.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// Matches counted, when the side counts them for this query type.
    pub(crate) total: Option<u64>,
    /// Facets, when the side computes them for this query type.
    pub(crate) facets: Option<FacetMaps>,
}

/// One side's measured run of one query type.
pub(crate) struct SideRun {
    pub(crate) latencies: Vec<Duration>,
    pub(crate) answers: Vec<Answer>,
    /// The node's own `took_ms` (tantivy side only).
    pub(crate) engine_ms: Vec<f64>,
}

/// Sends queries to the node's search endpoint.
pub(crate) struct NodeSearcher {
    pub(crate) client: reqwest::Client,
    pub(crate) url: String,
}

impl NodeSearcher {
    /// One query: the time from sending it to having read the whole answer, and the answer.
    pub(crate) async fn run(
        &self,
        query: &BenchQuery,
    ) -> Result<(Duration, SearchReply), BenchError> {
        let limit = TOP_K.to_string();
        let mut params: Vec<(&str, &str)> = vec![("q", &query.q), ("limit", &limit)];
        if let Some(kind) = query.kind {
            params.push(("kind", kind));
        }
        if let Some(dimension) = &query.dimension {
            params.push(("dimension", dimension));
        }
        if !query.facets {
            params.push(("facets", "false"));
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

    pub(crate) async fn run_all(
        &self,
        set: &QuerySet,
        encoding: Encoding,
    ) -> Result<SideRun, BenchError> {
        let mut run = SideRun {
            latencies: Vec::with_capacity(set.measured.len()),
            answers: Vec::with_capacity(set.measured.len()),
            engine_ms: Vec::with_capacity(set.measured.len()),
        };
        let side = match encoding {
            Encoding::Browser => "tantivy",
            Encoding::Identity => "tantivy identity",
        };
        let bar = query_progress(side, set)?;
        for query in &set.measured {
            let (elapsed, reply) = self.run(query).await?;
            run.latencies.push(elapsed);
            run.engine_ms.push(reply.took_ms);
            run.answers.push(Answer {
                total: Some(reply.estimated_total),
                facets: query.facets.then_some(reply.facets),
            });
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(run)
    }
}

pub(crate) fn query_progress(side: &str, set: &QuerySet) -> Result<ProgressBar, BenchError> {
    let bar = ProgressBar::new(set.measured.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "{prefix:>36} [{elapsed_precise}] {wide_bar} {pos}/{len} queries (eta {eta})",
    )?);
    bar.set_prefix(format!("{side}: {}", set.query_type.label()));
    Ok(bar)
}

/// Polls `/readyz` until the search index is built (its progress shown) and the node is ready
/// (its graph loaded too), then checks that a blank search (which matches everything) counts
/// `expected` documents.
pub(crate) async fn wait_for_index(
    http: &reqwest::Client,
    node: &RunningNode,
    expected: u64,
    started: Instant,
) -> Result<IndexBuild, BenchError> {
    let bar = ProgressBar::new(expected);
    bar.set_style(ProgressStyle::with_template(
        "index [{elapsed_precise}] {wide_bar} {pos}/{len} documents ({per_sec}, eta {eta})",
    )?);
    let mut indexed = 0;
    let mut grown = Instant::now();
    let mut built: Option<Duration> = None;
    let ready = loop {
        let readiness = node.readiness(http).await?;
        if built.is_none() && readiness.search_built() {
            built = Some(started.elapsed());
            bar.set_position(expected);
        }
        if readiness.ready() {
            break started.elapsed();
        }
        if let Some(progress) = readiness.search_progress
            && progress.written > indexed
        {
            indexed = progress.written;
            grown = Instant::now();
            bar.set_length(progress.total);
            bar.set_position(indexed);
        }
        if built.is_none() && grown.elapsed() > BUILD_STALL {
            bar.abandon();
            return Err(BenchError::IndexBuildStalled {
                indexed,
                expected,
                waited: grown.elapsed(),
            });
        }
        // Poll often enough for a 1% resolution, rarely enough not to slow the build down.
        tokio::time::sleep(
            (started.elapsed() / 100).clamp(Duration::from_millis(20), Duration::from_secs(1)),
        )
        .await;
    };
    bar.finish_and_clear();
    let response = http
        .get(format!("{}/search", node.base))
        .query(&[("q", ""), ("limit", "1")])
        .send()
        .await?;
    let reply: SearchReply = expect_status(response, 200, "GET /search")
        .await?
        .json()
        .await?;
    if reply.estimated_total != expected {
        return Err(BenchError::IndexBuildStalled {
            indexed: reply.estimated_total,
            expected,
            waited: grown.elapsed(),
        });
    }
    let seconds = built.map_or(0.0, |d| d.as_secs_f64());
    Ok(IndexBuild {
        seconds,
        documents_per_second: quotient(expected as f64, seconds),
        ready_seconds: ready.as_secs_f64(),
    })
}

/// Creates `writes` artifacts one at a time, each with a unique word in its title, and times
/// how long after the creation's response the search endpoint finds it.
pub(crate) async fn time_writes(
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
