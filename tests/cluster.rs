//! Several `kgnode serve` processes on one database: one of them runs the singleton work (the
//! federation outbox projection); when it is killed another takes over within
//! `cluster.takeover_secs`, and nothing is queued, delivered or run twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::fake_mastodon::FakeMastodon;
use crate::harness::{NodeProcess, TestDatabase, eventually};

/// The takeover time the processes are started with.
const TAKEOVER_SECS: u64 = 4;

/// Each process's role in the outbox singleton, by index.
async fn roles(client: &reqwest::Client, processes: &[NodeProcess]) -> Vec<String> {
    let mut roles = Vec::new();
    for process in processes {
        let ready: Value = client
            .get(format!("{}/readyz", process.base))
            .send()
            .await
            .expect("readyz")
            .json()
            .await
            .expect("readyz body");
        roles.push(
            ready["singletons"]["federation_outbox"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    roles
}

/// The index of the one process that owns the outbox, once exactly one does and the others
/// stand by.
async fn owner(client: &reqwest::Client, processes: &[NodeProcess]) -> usize {
    eventually("exactly one owner of the outbox", || async {
        let roles = roles(client, processes).await;
        let owners: Vec<usize> = (0..roles.len()).filter(|&n| roles[n] == "owner").collect();
        let standing_by = roles.iter().filter(|role| *role == "standby").count();
        (owners.len() == 1 && standing_by == roles.len() - 1).then(|| owners[0])
    })
    .await
}

/// Creates an artifact through `process`; returns its id.
async fn artifact(
    client: &reqwest::Client,
    process: &NodeProcess,
    token: &str,
    title: &str,
) -> String {
    let created: Value = client
        .post(format!(
            "{}/api/v1/convergences/shared/artifacts",
            process.base
        ))
        .bearer_auth(token)
        .json(&json!({"kind": "idea", "title": title}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("created");
    created["id"].as_str().expect("an id").to_owned()
}

/// Waits until the delivery queue has nothing left for anyone.
async fn queue_drained(client: &reqwest::Client, process: &NodeProcess, token: &str) {
    eventually("the delivery queue to drain", || async {
        let overview: Value = client
            .get(format!("{}/api/v1/admin/federation", process.base))
            .bearer_auth(token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (overview["total_backlog"] == 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_three_processes_owns_the_outbox_and_another_takes_over_when_it_is_killed() {
    let database = TestDatabase::new();
    let mastodon = FakeMastodon::start().await;
    // The processes share one public URL, as behind a load balancer; the peer only posts to
    // the inbox of one of them and receives from all.
    let takeover = TAKEOVER_SECS.to_string();
    let env = [
        ("KGNODE_CLUSTER__TAKEOVER_SECS", takeover.as_str()),
        ("KGNODE_NODE__PUBLIC_URL", "http://localhost:1"),
        ("KGNODE_FEDERATION__ALLOW_LOCAL_NETWORK", "true"),
        ("KGNODE_FEDERATION__POLL_MS", "50"),
        ("KGNODE_FEDERATION__RETRY_BASE_MS", "100"),
        ("KGNODE_FEDERATION__RETRY_MAX_SECS", "1"),
        ("KGNODE_JOBS__POLL_MS", "100"),
        ("KGNODE_DATABASE__MAX_CONNECTIONS", "4"),
    ];
    let dirs: Vec<_> = (0..3)
        .map(|n| std::env::temp_dir().join(format!("{}-{n}", database.name)))
        .collect();
    // The first creates and migrates the database; then the others join it.
    let mut processes = vec![NodeProcess::start_with(&database, &dirs[0], &env).await];
    for dir in &dirs[1..] {
        processes.push(NodeProcess::start_with(&database, dir, &env).await);
    }
    let mut conn = database.connect().await;
    let (_, token) = kgnode::auth::create_token(
        &mut conn,
        &kgnode::auth::TokenRequest::node_admin("cluster"),
    )
    .await
    .expect("token");
    let client = reqwest::Client::new();
    let first_owner = owner(&client, &processes).await;

    let created = client
        .post(format!("{}/api/v1/convergences", processes[1].base))
        .bearer_auth(&token)
        .json(&json!({"slug": "shared", "name": "shared", "visibility": "public"}))
        .send()
        .await
        .expect("create convergence");
    assert_eq!(created.status(), 201);
    let follow = format!("{}/{}", mastodon.base, uuid::Uuid::new_v4());
    mastodon
        .send(
            json!({
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": follow,
                "type": "Follow",
                "actor": mastodon.alice(),
                "object": "http://localhost:1/c/shared",
            }),
            &format!("{}/inbox", processes[2].base),
        )
        .await;
    mastodon.first_received("Accept").await;

    // Writes through every process, and contributions whose extraction jobs any may run.
    let mut ids = Vec::new();
    for n in 0..9 {
        ids.push(artifact(&client, &processes[n % 3], &token, &format!("before {n}")).await);
    }
    for (n, process) in processes.iter().enumerate() {
        let response = client
            .post(format!(
                "{}/api/v1/convergences/shared/contributions",
                process.base
            ))
            .bearer_auth(&token)
            .json(&json!({"text": format!("Contribution number {n} proposes composting.")}))
            .send()
            .await
            .expect("contribute");
        assert_eq!(response.status(), 202);
    }
    eventually("the extractions to finish", || async {
        let runs = job_runs(&database).await;
        (runs.done == 3).then_some(())
    })
    .await;
    queue_drained(&client, &processes[0], &token).await;

    // Killed while idle: nothing it held is half-sent. Another process owns the outbox within
    // the takeover time.
    let killed_at = Instant::now();
    processes.remove(first_owner).kill();
    let second_owner = owner(&client, &processes).await;
    assert!(
        killed_at.elapsed() < Duration::from_secs(TAKEOVER_SECS),
        "took over after {:?}",
        killed_at.elapsed()
    );
    for n in 0..6 {
        let process = &processes[(second_owner + n) % 2];
        ids.push(artifact(&client, process, &token, &format!("after {n}")).await);
    }
    eventually("every artifact to reach the peer", || async {
        let creates = created_per_object(&mastodon);
        ids.iter()
            .all(|id| creates.contains_key(id.as_str()))
            .then_some(())
    })
    .await;
    queue_drained(&client, &processes[0], &token).await;

    let creates = created_per_object(&mastodon);
    let twice: Vec<_> = creates.iter().filter(|(_, count)| **count != 1).collect();
    assert!(twice.is_empty(), "announced more than once: {twice:?}");
    let received = mastodon.received_ids();
    let mut distinct = received.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        received.len(),
        "an activity was delivered twice"
    );
    let runs = job_runs(&database).await;
    assert_eq!((runs.jobs, runs.once), (3, 3), "each extraction ran once");
    drop(conn);
    drop(processes);
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[derive(diesel::QueryableByName)]
struct JobRuns {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    jobs: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    done: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    once: i64,
}

/// The jobs, those succeeded, and those succeeded at their first attempt.
async fn job_runs(database: &TestDatabase) -> JobRuns {
    let mut conn = database.connect().await;
    diesel::sql_query(
        "SELECT count(*) AS jobs, count(*) FILTER (WHERE state = 'succeeded') AS done, \
                count(*) FILTER (WHERE state = 'succeeded' AND attempts = 1) AS once FROM jobs",
    )
    .get_result(&mut conn)
    .await
    .expect("jobs")
}

/// How many `Announce`s of a `Create` the peer received per object id (artifacts by their
/// `/artifacts/{id}` URL's last segment).
fn created_per_object(mastodon: &FakeMastodon) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for object in mastodon.announced_creates() {
        let id = object.rsplit('/').next().unwrap_or_default().to_owned();
        *counts.entry(id).or_default() += 1;
    }
    counts
}
