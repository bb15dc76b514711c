//! `kgnode-bench federation`: delivery from one node to 1 and to N follower nodes on loopback.
//!
//! For each follower count: fresh databases, an origin node and the followers in this process
//! (each on its own port, database and data directory); every follower follows the origin's
//! convergence; then the synthetic artifacts (with their relationships) are created through the
//! origin's batch endpoint, and the clock runs until every follower holds every artifact and
//! relationship. Reported: the write time, each follower's completion time, and activities
//! delivered per second (one activity per artifact and per relationship, per follower).

use std::fmt;
use std::time::{Duration, Instant};

use clap::Args;
use kgnode::service::batch::MAX_BATCH_ARTIFACTS;
use serde::Serialize;
use serde_json::json;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::common::{
    BenchError, DatasetArgs, Encoding, RunningNode, SLUG, Server, ServerArgs, expect_status,
    http_client, load_average, node_token, print_report, quotient, remove_dir,
};
use crate::load::{create_convergence, post_batches};

/// How often the followers' counts are read: each read counts every copy a follower holds, so
/// reading often would load the PostgreSQL server the nodes share.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Options of `federation`.
#[derive(Debug, Args)]
pub(crate) struct FederationArgs {
    #[command(flatten)]
    pub(crate) dataset: DatasetArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Follower counts to run, one run each.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 3])]
    pub(crate) followers: Vec<usize>,
    /// The origin's `federation.deliveries_in_flight` values to run, one run each per follower
    /// count (1 = strict per-peer order).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8])]
    pub(crate) in_flight: Vec<usize>,
    /// Give up waiting for the followers after this many seconds.
    #[arg(long, default_value_t = 1800)]
    pub(crate) timeout_secs: u64,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// One run: an origin and `followers` followers.
#[derive(Debug, Serialize)]
struct Run {
    followers: usize,
    /// Deliveries to one inbox in flight at once.
    in_flight: usize,
    artifacts: u64,
    relationships: u64,
    /// Seconds to create everything through the origin's batch endpoint.
    write_seconds: f64,
    /// Seconds from the first write until each follower held everything.
    follower_seconds: Vec<f64>,
    /// Seconds from the first write until all followers held everything.
    all_seconds: f64,
    /// Activities (artifacts + relationships, per follower) delivered per second, overall.
    activities_per_second: f64,
    load_average: String,
}

/// The report.
#[derive(Debug, Serialize)]
struct Report {
    runs: Vec<Run>,
}

/// `kgnode-bench federation`.
pub(crate) async fn federation_command(args: FederationArgs) -> Result<(), BenchError> {
    let server = Server::new(&args.server.database_url)?;
    let mut runs = Vec::new();
    for &followers in &args.followers {
        for &in_flight in &args.in_flight {
            eprintln!("federation: 1 origin, {followers} follower(s), {in_flight} in flight");
            let done = run(&args, &server, followers, in_flight).await?;
            eprintln!(
                "federation: {followers} follower(s), {in_flight} in flight: all hold everything after {:.1} s, {:.0} activities/s",
                done.all_seconds, done.activities_per_second
            );
            runs.push(done);
        }
    }
    print_report(&Report { runs }, args.json)
}

/// A node of a run, with its database.
struct Member {
    database: String,
    node: RunningNode,
}

async fn start_member(
    server: &Server,
    name: String,
    in_flight: usize,
) -> Result<Member, BenchError> {
    server.create_database(&name).await?;
    let node = RunningNode::start(
        &server.database_url(&name),
        std::env::temp_dir().join(&name),
        |settings| {
            settings.federation.allow_local_network = true;
            settings.federation.poll_ms = 50;
            settings.federation.deliveries_in_flight = in_flight;
        },
    )
    .await?;
    Ok(Member {
        database: name,
        node,
    })
}

async fn run(
    args: &FederationArgs,
    server: &Server,
    followers: usize,
    in_flight: usize,
) -> Result<Run, BenchError> {
    let id = Uuid::new_v4().simple().to_string();
    let origin = start_member(server, format!("kgbench_{id}_origin"), in_flight).await?;
    let mut members = Vec::new();
    for n in 0..followers {
        members.push(start_member(server, format!("kgbench_{id}_follower{n}"), in_flight).await?);
    }
    let outcome = measure(args, server, &origin, &members)
        .await
        .map(|measured| Run {
            in_flight,
            ..measured
        });
    for member in std::iter::once(origin).chain(members) {
        remove_dir(member.node.stop().await);
        if !args.server.keep {
            server.drop_database(&member.database).await?;
        }
    }
    outcome
}

async fn measure(
    args: &FederationArgs,
    server: &Server,
    origin: &Member,
    followers: &[Member],
) -> Result<Run, BenchError> {
    let client = http_client(Encoding::Browser)?;
    let origin_token = node_token(&server.database_url(&origin.database)).await?;
    create_convergence(&client, &origin_token, &origin.node.base).await?;
    let target = format!("{}/c/{SLUG}", origin.node.public_url);
    let mut watchers = Vec::new();
    for follower in followers {
        let token = node_token(&server.database_url(&follower.database)).await?;
        let response = client
            .post(format!("{}/admin/follows", follower.node.base))
            .bearer_auth(&token)
            .json(&json!({"target": target}))
            .send()
            .await?;
        expect_status(response, 202, "POST /admin/follows").await?;
        watchers.push(server.connect(&follower.database).await?);
    }
    for watcher in &watchers {
        wait_accepted(watcher).await?;
    }
    let started = Instant::now();
    let pass = post_batches(
        &args.dataset.config(),
        MAX_BATCH_ARTIFACTS,
        &client,
        &origin_token,
        &origin.node.base,
    )
    .await?;
    let write_seconds = started.elapsed().as_secs_f64();
    let artifacts = args.dataset.artifacts as u64;
    let deadline = Duration::from_secs(args.timeout_secs);
    let mut follower_seconds = vec![None; followers.len()];
    while follower_seconds.iter().any(Option::is_none) {
        if started.elapsed() > deadline {
            return Err(BenchError::NotReady(deadline));
        }
        for (watcher, done) in watchers.iter().zip(follower_seconds.iter_mut()) {
            if done.is_none() && holds(watcher).await? == (artifacts, pass.relationships) {
                *done = Some(started.elapsed().as_secs_f64());
            }
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
    let follower_seconds: Vec<f64> = follower_seconds.into_iter().flatten().collect();
    let all_seconds = follower_seconds.iter().copied().fold(0.0, f64::max);
    let activities = (artifacts + pass.relationships) * followers.len() as u64;
    Ok(Run {
        followers: followers.len(),
        in_flight: 1,
        artifacts,
        relationships: pass.relationships,
        write_seconds,
        follower_seconds,
        all_seconds,
        activities_per_second: quotient(activities as f64, all_seconds),
        load_average: load_average(),
    })
}

async fn wait_accepted(watcher: &Client) -> Result<(), BenchError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = watcher
            .query_one(
                "SELECT count(*) FROM federation_follows WHERE state = 'accepted'",
                &[],
            )
            .await?;
        if row.get::<_, i64>(0) == 1 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::NotReady(Duration::from_secs(60)));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Remote artifacts (live) and relationships a follower holds.
async fn holds(watcher: &Client) -> Result<(u64, u64), BenchError> {
    let row = watcher
        .query_one(
            "SELECT (SELECT count(*) FROM artifacts \
                     WHERE origin_url IS NOT NULL AND deleted_at IS NULL), \
                    (SELECT count(*) FROM artifact_relationships WHERE origin_url IS NOT NULL)",
            &[],
        )
        .await?;
    let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or_default();
    Ok((count(0), count(1)))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "followers  in flight  artifacts  relationships  write s  until all hold s  activities/s  per follower s  load avg"
        )?;
        for run in &self.runs {
            let per: Vec<String> = run
                .follower_seconds
                .iter()
                .map(|s| format!("{s:.1}"))
                .collect();
            writeln!(
                f,
                "{:>9}  {:>9}  {:>9}  {:>13}  {:>7.1}  {:>15.1}  {:>12.0}  {:>14}  {}",
                run.followers,
                run.in_flight,
                run.artifacts,
                run.relationships,
                run.write_seconds,
                run.all_seconds,
                run.activities_per_second,
                per.join(" "),
                run.load_average
            )?;
        }
        Ok(())
    }
}
