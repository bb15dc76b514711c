//! Reads on PostgreSQL streaming replicas: lag-tolerant reads go to a healthy replica, a
//! client that sends back its write's `X-KG-Min-LSN` reads its writes, and a replica that stops
//! is skipped. A real replica streams from the test server; pausing its replay makes it serve
//! the past, which is how a read is seen to come from it.

use std::sync::Arc;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::harness::{TestNode, eventually, reply, spawn_node_with};
use crate::replica_server::{ReplicaServer, replay_lock, shared_replica};

/// A WAL position as a number, to compare positions.
fn lsn(text: &str) -> u64 {
    let (high, low) = text.split_once('/').expect("a WAL position");
    (u64::from_str_radix(high, 16).expect("hex") << 32) | u64::from_str_radix(low, 16).expect("hex")
}

/// A node reading from `replica` (whose URL `replica_url` derives from the primary's), which it
/// keeps using however long replay is paused.
async fn node_on(replica_url: impl Fn(&str) -> String + Send + Sync + 'static) -> TestNode {
    let node = spawn_node_with(move |settings| {
        let url = replica_url(settings.database.url.expose_secret());
        settings.database.replica_urls = vec![SecretString::from(url)];
        settings.database.replica_max_lag_secs = 600;
    })
    .await;
    replica_in_state(&node, "healthy").await;
    node
}

/// The replica as `/readyz` shows it, once it is in `state`.
async fn replica_in_state(node: &TestNode, state: &str) -> Value {
    eventually(&format!("the replica to be {state}"), || async {
        let ready = node.get("/readyz").await;
        let replica = ready.body["replicas"][0].clone();
        (ready.status == 200 && replica["state"] == state).then_some(replica)
    })
    .await
}

/// Reads the replica has served for `node`.
async fn replica_reads(node: &TestNode) -> u64 {
    node.get("/readyz").await.expect(200).body["replicas"][0]["reads"]
        .as_u64()
        .expect("a read count")
}

/// Waits until the replica has replayed `position` (a write's `X-KG-Min-LSN`).
async fn replayed(node: &TestNode, position: &str) {
    eventually("the replica to replay the write", || async {
        let replica = replica_in_state(node, "healthy").await;
        let at = replica["replay_lsn"].as_str()?;
        (lsn(at) >= lsn(position)).then_some(())
    })
    .await;
}

/// A GET that sends `position` back, as the header or as the cookie.
async fn get_after(node: &TestNode, path: &str, position: Echo<'_>) -> crate::harness::Reply {
    let request = node.client.request(Method::GET, node.url(path));
    let request = match position {
        Echo::Header(lsn) => request.header("X-KG-Min-LSN", lsn),
        Echo::Cookie(lsn) => request.header("Cookie", format!("theme=dark; kg_min_lsn={lsn}")),
    };
    reply(request).await
}

#[derive(Clone, Copy)]
enum Echo<'a> {
    Header(&'a str),
    Cookie(&'a str),
}

#[tokio::test]
async fn lag_tolerant_reads_are_served_by_a_healthy_replica() {
    let _replay = replay_lock().await;
    let replica = shared_replica().await;
    let node = node_on(|primary| replica.url_for(primary)).await;
    node.convergence("stale", "public").await;
    let first = node
        .artifact(
            "stale",
            json!({"kind": "idea", "title": "first title", "dimensions": {"soil": 0.5}}),
        )
        .await;
    let second = node
        .artifact("stale", json!({"kind": "question", "title": "second"}))
        .await;
    node.post(
        "/api/v1/relationships",
        json!({"source": first, "target": second, "kind": "supports"}),
    )
    .await
    .expect(201);
    let contribution = node
        .post(
            "/api/v1/convergences/stale/contributions",
            json!({"text": "Compost feeds the soil."}),
        )
        .await
        .expect(202)
        .id();
    eventually("the contribution to be extracted", || async {
        let read = node
            .get(&format!("/api/v1/contributions/{contribution}"))
            .await;
        (read.body["status"] == "complete").then_some(())
    })
    .await;
    // The extraction committed after the last answer's position: one more write to name it.
    let touched = node
        .patch(
            "/api/v1/convergences/stale",
            json!({"description": "before"}),
        )
        .await
        .expect(200);
    replayed(
        &node,
        touched.header("x-kg-min-lsn").expect("a write's position"),
    )
    .await;
    let paths = [
        format!("/api/v1/artifacts/{first}"),
        "/api/v1/convergences/stale/artifacts".to_owned(),
        "/api/v1/convergences/stale".to_owned(),
        "/api/v1/convergences".to_owned(),
        format!("/api/v1/artifacts/{first}/relationships"),
        "/api/v1/convergences/stale/dimensions".to_owned(),
        "/api/v1/convergences/stale/contributions".to_owned(),
    ];
    let mut before = Vec::new();
    for path in &paths {
        before.push(node.get(path).await.expect(200).body);
    }

    // From here on the replica serves the past: every change below stays on the primary.
    let paused = replica.pause_replay().await;
    node.patch(
        &format!("/api/v1/artifacts/{first}"),
        json!({"version": 1, "title": "new title"}),
    )
    .await
    .expect(200);
    node.patch("/api/v1/convergences/stale", json!({"name": "Renamed"}))
        .await
        .expect(200);
    let third = node
        .artifact(
            "stale",
            json!({"kind": "idea", "title": "third", "dimensions": {"fungi": 1.0}}),
        )
        .await;
    let late_edge = node
        .post(
            "/api/v1/relationships",
            json!({"source": first, "target": third, "kind": "relates_to"}),
        )
        .await
        .expect(201)
        .id();
    let late = node
        .post(
            "/api/v1/convergences/stale/contributions",
            json!({"text": "Fungi link roots."}),
        )
        .await
        .expect(202);
    let late_contribution = late.id();
    let position = late
        .header("x-kg-min-lsn")
        .expect("a write's position")
        .to_owned();

    let served = replica_reads(&node).await;
    for (path, old) in paths.iter().zip(&before) {
        let now = node.get(path).await.expect(200);
        assert_eq!(&now.body, old, "{path} answers as before the pause");
    }
    node.get(&format!("/api/v1/relationships/{late_edge}"))
        .await
        .expect(404);
    node.get(&format!("/api/v1/contributions/{late_contribution}"))
        .await
        .expect(404);
    let export = node
        .client
        .get(node.url("/api/v1/convergences/stale/export?format=ndjson"))
        .send()
        .await
        .expect("export");
    assert_eq!(export.status(), 200);
    let export = export.text().await.expect("export body");
    assert!(export.contains("first title") && !export.contains("new title"));
    assert!(!export.contains(&third));
    assert_eq!(
        replica_reads(&node).await - served,
        paths.len() as u64 + 3,
        "the replica served every one of these reads"
    );

    // The primary has it all: reads that name the newest position see it.
    for (path, old) in paths.iter().zip(&before) {
        let now = get_after(&node, path, Echo::Header(&position))
            .await
            .expect(200);
        assert_ne!(
            &now.body, old,
            "{path} shows the writes made during the pause"
        );
    }
    drop(paused);
}

#[tokio::test]
async fn a_client_that_sends_back_its_write_position_reads_its_writes() {
    let _replay = replay_lock().await;
    let replica = shared_replica().await;
    let node = node_on(|primary| replica.url_for(primary)).await;
    node.convergence("ryw", "public").await;
    let created = node
        .post(
            "/api/v1/convergences/ryw/artifacts",
            json!({"kind": "idea", "title": "v1"}),
        )
        .await
        .expect(201);
    let id = created.id();
    let position = created
        .header("x-kg-min-lsn")
        .expect("a write's position")
        .to_owned();
    let cookie = created
        .header("set-cookie")
        .expect("a cookie for browsers")
        .to_owned();
    assert!(
        cookie.starts_with(&format!("kg_min_lsn={position};")) && cookie.contains("Max-Age=601"),
        "{cookie}"
    );
    replayed(&node, &position).await;
    let path = format!("/api/v1/artifacts/{id}");

    let paused = replica.pause_replay().await;
    let updated = node
        .patch(&path, json!({"version": 1, "title": "v2"}))
        .await
        .expect(200);
    let position = updated
        .header("x-kg-min-lsn")
        .expect("a write's position")
        .to_owned();
    let before = replica_reads(&node).await;
    for echo in [Echo::Header(&position), Echo::Cookie(&position)] {
        let read = get_after(&node, &path, echo).await.expect(200);
        assert_eq!(read.body["title"], "v2", "the writer reads its write");
    }
    let list = get_after(
        &node,
        "/api/v1/convergences/ryw/artifacts",
        Echo::Header(&position),
    )
    .await
    .expect(200);
    assert_eq!(list.body["items"][0]["title"], "v2");
    assert_eq!(
        replica_reads(&node).await,
        before,
        "the primary served them"
    );
    let other = node.get(&path).await.expect(200);
    assert_eq!(
        other.body["title"], "v1",
        "a client without the position reads the replica"
    );
    assert_eq!(replica_reads(&node).await, before + 1);
    reply(
        node.client
            .get(node.url(&path))
            .header("X-KG-Min-LSN", "yesterday"),
    )
    .await
    .expect_error(400, "invalid_parameter");

    // Once the replica has replayed the write, the writer's reads go back to it.
    drop(paused);
    eventually("the writer's reads to return to the replica", || async {
        let before = replica_reads(&node).await;
        let read = get_after(&node, &path, Echo::Header(&position))
            .await
            .expect(200);
        assert_eq!(read.body["title"], "v2");
        (replica_reads(&node).await == before + 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_stopped_replica_is_skipped_and_reads_keep_succeeding() {
    let replica = Arc::new(
        tokio::task::spawn_blocking(ReplicaServer::start)
            .await
            .expect("replica start-up thread"),
    );
    let stopped = replica.clone();
    let node = node_on(move |primary| replica.url_for(primary)).await;
    node.convergence("down", "public").await;
    let created = node
        .post(
            "/api/v1/convergences/down/artifacts",
            json!({"kind": "idea", "title": "kept"}),
        )
        .await
        .expect(201);
    let id = created.id();
    replayed(&node, created.header("x-kg-min-lsn").expect("position")).await;
    node.get(&format!("/api/v1/artifacts/{id}"))
        .await
        .expect(200);
    assert!(replica_reads(&node).await >= 1);

    tokio::task::spawn_blocking(move || stopped.stop())
        .await
        .expect("replica stop thread");
    // Whether or not its monitor has noticed yet, a failed checkout sends the read to the primary.
    for _ in 0..3 {
        let read = node
            .get(&format!("/api/v1/artifacts/{id}"))
            .await
            .expect(200);
        assert_eq!(read.body["title"], "kept");
        node.get("/api/v1/convergences/down/artifacts")
            .await
            .expect(200);
        node.get("/api/v1/convergences/down/dimensions")
            .await
            .expect(200);
    }
    let skipped = replica_in_state(&node, "down").await;
    assert!(
        skipped["error"]
            .as_str()
            .is_some_and(|error| !error.is_empty()),
        "{skipped}"
    );
    node.artifact(
        "down",
        json!({"kind": "idea", "title": "written meanwhile"}),
    )
    .await;
    let list = node
        .get("/api/v1/convergences/down/artifacts")
        .await
        .expect(200);
    assert_eq!(list.body["items"].as_array().expect("items").len(), 2);
}
