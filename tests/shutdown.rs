//! A graceful stop of a real `kgnode serve` process: SIGTERM in the middle of batch writes
//! lets the batches in flight finish (no 5xx, no half batch) and the process exits 0, saying
//! what it waited for; a job still running after the grace time goes back to the queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel_async::AsyncPgConnection;
use serde_json::{Value, json};

use crate::fake_openai::{FakeOpenAi, Reply};
use crate::harness::{NodeProcess, TestDatabase, eventually};

const WRITERS: usize = 4;
const BATCH: usize = 50;
/// A bound on each writer's loop; the stop ends it long before.
const MAX_ROUNDS: usize = 2_000;

/// What one batch got: its HTTP answer (status and body), or the transport error once the
/// node no longer took connections.
struct Sent {
    prefix: String,
    answer: Result<(u16, String), String>,
}

/// Posts batches of [`BATCH`] artifacts titled `{prefix}#{n}` until the node stops answering.
async fn write_batches(
    base: String,
    token: String,
    writer: usize,
    answered: Arc<AtomicUsize>,
) -> Vec<Sent> {
    let client = reqwest::Client::new();
    let mut sent = Vec::new();
    for round in 0..MAX_ROUNDS {
        let prefix = format!("w{writer}-r{round}");
        let artifacts: Vec<Value> = (0..BATCH)
            .map(|n| json!({"key": format!("k{n}"), "kind": "idea", "title": format!("{prefix}#{n}")}))
            .collect();
        let response = client
            .post(format!("{base}/api/v1/convergences/load/batch"))
            .bearer_auth(&token)
            .json(&json!({ "artifacts": artifacts }))
            .send()
            .await;
        let answer = match response {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.text().await {
                    Ok(body) => Ok((status, body)),
                    Err(error) => Err(error.to_string()),
                }
            }
            Err(error) => Err(error.to_string()),
        };
        let stopped = answer.is_err();
        if answer.is_ok() {
            answered.fetch_add(1, Ordering::AcqRel);
        }
        sent.push(Sent { prefix, answer });
        if stopped {
            break;
        }
    }
    sent
}

/// Artifacts stored per batch prefix.
async fn stored_per_prefix(conn: &mut AsyncPgConnection) -> HashMap<String, i64> {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct PrefixCount {
        #[diesel(sql_type = diesel::sql_types::Text)]
        prefix: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(
        "SELECT split_part(title, '#', 1) AS prefix, count(*) AS n FROM artifacts GROUP BY 1",
    )
    .load::<PrefixCount>(conn)
    .await
    .unwrap()
    .into_iter()
    .map(|row| (row.prefix, row.n))
    .collect()
}

/// The job queue: state, attempts and lease owner of each job.
async fn jobs(conn: &mut AsyncPgConnection) -> Vec<Job> {
    use diesel_async::RunQueryDsl;
    diesel::sql_query("SELECT state, attempts, lease_owner FROM jobs")
        .load(conn)
        .await
        .unwrap()
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Job {
    #[diesel(sql_type = diesel::sql_types::Text)]
    state: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    attempts: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    lease_owner: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_batches_in_flight_finish_and_exits_zero() {
    let database = TestDatabase::new();
    let data_dir = std::env::temp_dir().join(format!("{}-shutdown", database.name));
    let env = [
        // More HTTP workers than writers: those without a connection stop at once, and the
        // pooled connections they had opened used to close under the others' requests in
        // flight (500 `connection closed`).
        ("KGNODE_HTTP__WORKERS", "8"),
        (
            "KGNODE_LOG__FILTER",
            "error,kgnode::startup=info,kgnode::jobs=info",
        ),
    ];
    let mut node = NodeProcess::start_with(&database, &data_dir, &env).await;
    let mut conn = database.connect().await;
    let (_, token) = kgnode::auth::create_token(
        &mut conn,
        &kgnode::auth::TokenRequest::node_admin("shutdown"),
    )
    .await
    .unwrap();
    let created = reqwest::Client::new()
        .post(format!("{}/api/v1/convergences", node.base))
        .bearer_auth(&token)
        .json(&json!({"slug": "load", "name": "load"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let answered = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            tokio::spawn(write_batches(
                node.base.clone(),
                token.clone(),
                writer,
                answered.clone(),
            ))
        })
        .collect();
    eventually("two batches per writer", || async {
        (answered.load(Ordering::Acquire) >= 2 * WRITERS).then_some(())
    })
    .await;
    let exited = node.terminate().await;
    let mut sent = Vec::new();
    for writer in writers {
        sent.extend(writer.await.unwrap());
    }

    let refused: Vec<String> = sent
        .iter()
        .filter_map(|batch| match &batch.answer {
            Ok((status, body)) if *status != 201 => {
                Some(format!("{}: {status} {body}", batch.prefix))
            }
            _ => None,
        })
        .collect();
    assert!(
        refused.is_empty(),
        "batches answered other than 201: {refused:#?}"
    );
    assert!(
        exited.is_some_and(|status| status.success()),
        "the process exits 0 on SIGTERM: {exited:?}"
    );

    let counts = stored_per_prefix(&mut conn).await;
    for batch in &sent {
        let stored = counts.get(&batch.prefix).copied().unwrap_or(0);
        match batch.answer {
            Ok(_) => assert_eq!(stored, BATCH as i64, "{} was answered 201", batch.prefix),
            Err(_) => assert!(
                stored == 0 || stored == BATCH as i64,
                "{} is half stored: {stored} of {BATCH}",
                batch.prefix
            ),
        }
    }
    assert!(
        counts
            .keys()
            .all(|prefix| sent.iter().any(|batch| &batch.prefix == prefix)),
        "only the writers' batches are stored"
    );

    let stopping = eventually("the stop to be logged", || async {
        node.logged("stopping: no new connections; waiting for requests in flight")
            .first()
            .cloned()
    })
    .await;
    assert!(
        stopping["fields"]["in_flight"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "batches were in flight at SIGTERM: {stopping}"
    );
    for step in [
        "stopped HTTP server: no request in flight",
        "stopped search projection",
        "stopped graph projection",
        "stopped job workers",
    ] {
        eventually(&format!("'{step}' in the log"), || async {
            (!node.logged(step).is_empty()).then_some(())
        })
        .await;
    }
    drop(node);
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_still_running_after_the_grace_time_goes_back_to_the_queue() {
    let model = FakeOpenAi::start();
    // Far slower than the grace time.
    model.script([Reply::Slow(
        Duration::from_secs(120),
        json!({"units": [], "links": []}),
    )]);
    let database = TestDatabase::new();
    let data_dir = std::env::temp_dir().join(format!("{}-lease", database.name));
    let env = [
        ("KGNODE_EXTRACTION__EXTRACTOR", "openai"),
        (
            "KGNODE_EXTRACTION__OPENAI__BASE_URL",
            model.base_url.as_str(),
        ),
        ("KGNODE_EXTRACTION__OPENAI__TIMEOUT_SECS", "300"),
        ("KGNODE_HTTP__SHUTDOWN_GRACE_SECS", "1"),
        (
            "KGNODE_LOG__FILTER",
            "error,kgnode::startup=info,kgnode::jobs=info",
        ),
    ];
    let mut node = NodeProcess::start_with(&database, &data_dir, &env).await;
    let mut conn = database.connect().await;
    let (_, token) =
        kgnode::auth::create_token(&mut conn, &kgnode::auth::TokenRequest::node_admin("lease"))
            .await
            .unwrap();
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/api/v1/convergences", node.base))
        .bearer_auth(&token)
        .json(&json!({"slug": "slow", "name": "slow"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let contributed = client
        .post(format!(
            "{}/api/v1/convergences/slow/contributions",
            node.base
        ))
        .bearer_auth(&token)
        .json(&json!({"text": "We could share the tools of the garden."}))
        .send()
        .await
        .unwrap();
    assert_eq!(contributed.status(), 202);
    eventually("the model to be asked", || async {
        (!model.requests().is_empty()).then_some(())
    })
    .await;

    let exited = node.terminate().await;
    assert!(
        exited.is_some_and(|status| status.success()),
        "the process exits 0 after the grace time: {exited:?}"
    );
    assert_eq!(
        jobs(&mut conn).await,
        vec![Job {
            state: "queued".to_owned(),
            attempts: 0,
            lease_owner: None,
        }],
        "queued again, its interrupted attempt not counted, claimable at once"
    );
    let stopped = eventually("the job workers' stop to be logged", || async {
        node.logged("stopped job workers").first().cloned()
    })
    .await;
    assert_eq!(stopped["fields"]["released"], 1, "{stopped}");
    drop(node);
    let _ = std::fs::remove_dir_all(&data_dir);
}
