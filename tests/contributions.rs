//! Contributions and their extraction: end to end with the built-in extractor, entity
//! resolution, atomic results, retries, bad input, a crash mid-extraction, two processes.

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::harness::{As, NodeProcess, TestDatabase, TestNode, eventually, spawn_node};

const TALK: &str = "How do we keep the gardens watered in August? We should build rain barrels \
                    on every shed. Rain barrels work because the shed roofs are large. \
                    Data shows 40% of tap water goes to gardens in summer.";

pub async fn contribute(node: &TestNode, slug: &str, body: Value) -> String {
    let reply = node
        .post(&format!("/api/v1/convergences/{slug}/contributions"), body)
        .await
        .expect(202);
    assert_eq!(reply.body["status"], "pending");
    let id = reply.id();
    let location = reply.header("location").unwrap();
    assert!(
        location.ends_with(&format!("/api/v1/contributions/{id}")),
        "{location}"
    );
    id
}

/// Waits until the contribution's status is `status`; returns it.
pub async fn until_status(node: &TestNode, id: &str, status: &str) -> Value {
    eventually(&format!("contribution {id} to be {status}"), || async {
        let body = node
            .get_as(&format!("/api/v1/contributions/{id}"), As::Admin)
            .await
            .expect(200)
            .body;
        (body["status"] == status).then_some(body)
    })
    .await
}

/// Sets or clears an artifact's `deleted_at` straight in the database, behind the back of the
/// change log (and so of the search index).
async fn set_deleted_behind_the_log(node: &TestNode, id: &str, deleted: bool) {
    use diesel_async::RunQueryDsl;
    let value = if deleted { "now()" } else { "NULL" };
    let mut conn = node.database.connect().await;
    diesel::sql_query(format!(
        "UPDATE artifacts SET deleted_at = {value} WHERE id = '{id}'"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
}

fn ids(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_contribution_becomes_artifacts_and_relationships() {
    let node = spawn_node().await;
    node.convergence("garden", "public").await;
    node.settle().await;
    let events = node
        .client
        .get(node.url(
            "/api/v1/convergences/garden/events?types=contribution.created,contribution.updated",
        ))
        .send()
        .await
        .unwrap();
    let mut events = events.bytes_stream().eventsource();
    let ready = events.next().await.unwrap().unwrap();
    assert_eq!(ready.event, "ready");
    let id = contribute(&node, "garden", json!({"text": TALK, "author": "maya"})).await;
    let done = until_status(&node, &id, "complete").await;
    // The stream shows it arrive and move on: created, then updates up to complete.
    let created = events.next().await.unwrap().unwrap();
    assert_eq!(created.event, "contribution.created");
    loop {
        let event = events.next().await.unwrap().unwrap();
        assert_eq!(event.event, "contribution.updated");
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(data["id"], id.as_str());
        if data["entity"]["status"] == "complete" {
            assert_eq!(data["entity"]["artifacts"], done["artifacts"]);
            break;
        }
    }
    assert_eq!(done["convergence"], "garden");
    assert_eq!(done["author"], "maya");
    assert_eq!(done["attempts"], 1);
    assert!(done["completed_at"].is_string());
    assert_eq!(done["reused"], json!([]));

    let artifacts = ids(&done["artifacts"]);
    let mut kinds = Vec::new();
    for artifact in &artifacts {
        let body = node
            .get(&format!("/api/v1/artifacts/{artifact}"))
            .await
            .expect(200)
            .body;
        assert_eq!(body["contribution"], id.as_str());
        assert_eq!(body["author"], "maya");
        assert!(!body["dimensions"].as_object().unwrap().is_empty());
        kinds.push(body["kind"].as_str().unwrap().to_owned());
    }
    assert_eq!(kinds, ["question", "proposal", "claim", "evidence"]);
    let relationships = ids(&done["relationships"]);
    assert_eq!(relationships.len(), 3);
    let answer = node
        .get(&format!("/api/v1/relationships/{}", relationships[0]))
        .await
        .expect(200)
        .body;
    assert_eq!(answer["kind"], "answers");
    assert_eq!(answer["target"], artifacts[0].as_str());
    assert_eq!(answer["contribution"], id.as_str());

    // Listed newest first, filtered by status; hand-made artifacts name no contribution.
    let second = contribute(&node, "garden", json!({"text": "Plant sunflowers."})).await;
    until_status(&node, &second, "complete").await;
    let page = node
        .get("/api/v1/convergences/garden/contributions?status=complete&limit=1")
        .await
        .expect(200)
        .body;
    assert_eq!(page["items"][0]["id"], second.as_str());
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = node
        .get(&format!(
            "/api/v1/convergences/garden/contributions?limit=1&cursor={cursor}"
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(next["items"][0]["id"], id.as_str());
    let by_hand = node
        .artifact("garden", json!({"kind": "idea", "title": "By hand"}))
        .await;
    let body = node
        .get(&format!("/api/v1/artifacts/{by_hand}"))
        .await
        .expect(200)
        .body;
    assert_eq!(body["contribution"], Value::Null);
}

#[tokio::test]
async fn a_unit_that_repeats_an_artifact_reuses_it() {
    let node = spawn_node().await;
    node.convergence("trees", "public").await;
    let existing = node
        .artifact(
            "trees",
            json!({"kind": "proposal", "title": "Plant more street trees"}),
        )
        .await;
    node.settle().await;
    let id = contribute(
        &node,
        "trees",
        json!({"text": "Plant more street trees! Shade from trees cools the streets."}),
    )
    .await;
    let done = until_status(&node, &id, "complete").await;
    assert_eq!(ids(&done["reused"]), std::slice::from_ref(&existing));
    let created = ids(&done["artifacts"]);
    assert_eq!(created.len(), 1, "the repeated unit is not created again");
    let edge = node
        .get(&format!(
            "/api/v1/relationships/{}",
            ids(&done["relationships"])[0]
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(edge["source"], created[0].as_str());
    assert_eq!(edge["target"], existing.as_str());
}

#[tokio::test]
async fn a_result_that_cannot_be_written_lands_nothing_and_fails_after_its_attempts() {
    let node = spawn_node().await;
    node.convergence("atomic", "public").await;
    let existing = node
        .artifact(
            "atomic",
            json!({"kind": "idea", "title": "Repair cafe every month"}),
        )
        .await;
    node.settle().await;
    // Gone from the database behind the index's back: the extraction links to it, and its
    // write fails (a relationship to a deleted artifact) after the other units were written.
    set_deleted_behind_the_log(&node, &existing, true).await;
    let before = node.count("artifacts").await;
    let id = contribute(
        &node,
        "atomic",
        json!({"text": "Repair cafe every month! Bring broken lamps."}),
    )
    .await;
    let failed = until_status(&node, &id, "failed").await;
    assert_eq!(failed["attempts"], 3);
    assert!(
        failed["error"].as_str().unwrap().contains("deleted"),
        "{failed}"
    );
    assert_eq!(
        node.count("artifacts").await,
        before,
        "no artifact of a failed result"
    );
    assert_eq!(failed["artifacts"], json!([]));

    // The administrator sees it in the queue, can retry it (it fails again: the cause is still
    // there) and discard it.
    let queue = node
        .get_as("/api/v1/admin/jobs?state=failed", As::Admin)
        .await
        .expect(200)
        .body;
    assert_eq!(queue["counts"]["failed"], 1);
    let job = queue["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(queue["items"][0]["payload"]["contribution"], id.as_str());
    assert!(
        queue["items"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("deleted")
    );
    node.get("/api/v1/admin/jobs")
        .await
        .expect_error(401, "unauthenticated");
    let token = node.convergence_token("atomic").await;
    node.get_as("/api/v1/admin/jobs", As::Token(&token))
        .await
        .expect_error(403, "forbidden");
    node.get_as("/api/v1/admin/jobs?state=stuck", As::Admin)
        .await
        .expect_error(400, "invalid_parameter");
    node.post(&format!("/api/v1/admin/jobs/{job}/retry"), json!({}))
        .await
        .expect(202);
    until_status(&node, &id, "failed").await;
    node.delete(&format!("/api/v1/admin/jobs/{job}"))
        .await
        .expect(204);
    node.delete(&format!("/api/v1/admin/jobs/{job}"))
        .await
        .expect_error(404, "not_found");
    let discarded = until_status(&node, &id, "failed").await;
    assert!(
        discarded["error"].as_str().unwrap().contains("discarded"),
        "{discarded}"
    );

    // Retry: 409 while it is not failed; after a fix, it completes.
    set_deleted_behind_the_log(&node, &existing, false).await;
    let retried = node
        .post(&format!("/api/v1/contributions/{id}/retry"), json!({}))
        .await
        .expect(202);
    assert_eq!(retried.body["status"], "pending");
    let done = until_status(&node, &id, "complete").await;
    assert_eq!(ids(&done["reused"]), [existing]);
    node.post(&format!("/api/v1/contributions/{id}/retry"), json!({}))
        .await
        .expect_error(409, "conflict");
}

#[tokio::test]
async fn bad_contributions_are_refused_and_store_nothing() {
    let node = spawn_node().await;
    node.convergence("open", "public").await;
    node.convergence("closed", "private").await;
    let path = "/api/v1/convergences/open/contributions";
    node.post(path, json!({"text": "  \n\t "}))
        .await
        .expect_error(422, "invalid_body");
    node.post(path, json!({"text": "a".repeat(50_001)}))
        .await
        .expect_error(422, "invalid_body");
    node.post(path, json!({"text": "fine", "mood": "happy"}))
        .await
        .expect_error(400, "unknown_field");
    node.post(path, json!({"author": "nobody"}))
        .await
        .expect(422);
    node.send(
        reqwest::Method::POST,
        path,
        As::Anonymous,
        Some(&json!({"text": "hi"})),
    )
    .await
    .expect_error(401, "unauthenticated");
    let token = node.convergence_token("open").await;
    node.send(
        reqwest::Method::POST,
        "/api/v1/convergences/closed/contributions",
        As::Token(&token),
        Some(&json!({"text": "hi"})),
    )
    .await
    .expect_error(404, "not_found");
    node.get("/api/v1/convergences/closed/contributions")
        .await
        .expect_error(404, "not_found");
    node.get("/api/v1/contributions/not-an-id")
        .await
        .expect(400);
    node.get(&format!("/api/v1/contributions/{}", uuid::Uuid::now_v7()))
        .await
        .expect_error(404, "not_found");
    node.get("/api/v1/convergences/open/contributions?status=done")
        .await
        .expect(400);
    // A read-only mirror of a remote convergence.
    {
        use diesel_async::RunQueryDsl;
        let mut conn = node.database.connect().await;
        diesel::sql_query(
            "INSERT INTO convergences (id, slug, name, visibility, origin_url) \
             VALUES (gen_random_uuid(), 'far@peer.example', 'far', 'public', \
                     'https://peer.example/c/far')",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    }
    node.post(
        "/api/v1/convergences/far@peer.example/contributions",
        json!({"text": "hello"}),
    )
    .await
    .expect_error(403, "forbidden");
    assert_eq!(node.count("contributions").await, 0);
    assert_eq!(node.count("jobs").await, 0);
}

/// A contribution of four units for the crash and two-process tests, its own word in each
/// sentence, so that no unit of one repeats a unit of another.
fn numbered_talk(n: usize) -> String {
    let word: String = format!("{n:03}")
        .chars()
        .map(|digit| char::from(b'k' + digit.to_digit(10).unwrap_or(0) as u8))
        .collect();
    format!(
        "Should the {word} street get a tool library? We should lend {word} drills. \
         The {word} drills sit idle because people rarely use them. \
         I learned that {word} neighbours share."
    )
}

/// Posts [`numbered_talk`] `n` to convergence `slug` of the node at `base`; returns its id.
async fn post_numbered(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    slug: &str,
    n: usize,
) -> String {
    let response = client
        .post(format!("{base}/api/v1/convergences/{slug}/contributions"))
        .bearer_auth(token)
        .json(&json!({"text": numbered_talk(n)}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// Every contribution is complete and holds exactly its four artifacts.
async fn all_complete_once(base: &str, token: &str, ids: &[String], database: &TestDatabase) {
    let client = reqwest::Client::new();
    for id in ids {
        eventually(&format!("contribution {id} to complete"), || async {
            let body: Value = client
                .get(format!("{base}/api/v1/contributions/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (body["status"] == "complete").then_some(())
        })
        .await;
    }
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = database.connect().await;
    let wrong: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM contributions c \
         WHERE (SELECT count(*) FROM artifacts a WHERE a.contribution_id = c.id) <> 4",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        wrong.n, 0,
        "every contribution has its 4 artifacts, none twice"
    );
    let jobs: Count =
        diesel::sql_query("SELECT count(*) AS n FROM jobs WHERE state <> 'succeeded'")
            .get_result(&mut conn)
            .await
            .unwrap();
    assert_eq!(jobs.n, 0);
}

#[tokio::test]
async fn a_crash_mid_extraction_loses_and_duplicates_nothing() {
    let database = TestDatabase::new();
    database.create().await;
    kgnode::db::run_pending(&database.url).await.unwrap();
    let mut conn = database.connect().await;
    let (_, token) =
        kgnode::auth::create_token(&mut conn, &kgnode::auth::TokenRequest::node_admin("crash"))
            .await
            .unwrap();
    let data_dir = std::env::temp_dir().join(format!("{}-crash", database.name));
    // A short lease: the jobs the killed process held run again two seconds later.
    let env = [
        ("KGNODE_JOBS__LEASE_SECS", "2"),
        ("KGNODE_JOBS__POLL_MS", "100"),
    ];
    let client = reqwest::Client::new();
    let node = NodeProcess::start_with(&database, &data_dir, &env).await;
    let response = client
        .post(format!("{}/api/v1/convergences", node.base))
        .bearer_auth(&token)
        .json(&json!({"slug": "crash", "name": "crash"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let mut ids = Vec::new();
    for n in 0..200 {
        ids.push(post_numbered(&client, &node.base, &token, "crash", n).await);
    }
    // Kill it while extractions run (some complete, some not).
    let last = ids.last().unwrap().clone();
    let status = client
        .get(format!("{}/api/v1/contributions/{last}", node.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_ne!(
        status["status"], "complete",
        "killed before the work was done"
    );
    node.kill();

    let node = NodeProcess::start_with(&database, &data_dir, &env).await;
    all_complete_once(&node.base, &token, &ids, &database).await;
    drop(node);
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test]
async fn two_processes_share_the_queue_and_run_each_job_once() {
    let node = spawn_node().await;
    node.convergence("shared", "public").await;
    let (sibling, _guard) = node.sibling().await;
    let mut ids = Vec::new();
    for n in 0..60 {
        let base = if n % 2 == 0 { &node.base } else { &sibling };
        ids.push(post_numbered(&node.client, base, &node.admin_token, "shared", n).await);
    }
    all_complete_once(&node.base, &node.admin_token, &ids, &node.database).await;
}
