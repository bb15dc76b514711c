//! The Prometheus endpoint: served on a listener of its own and not on the API's, in the text
//! format as the reference Python client (`prometheus_client`) parses it, with every family,
//! and request counts by route template that move with the traffic.

use std::io::Write;

use serde_json::{Value, json};

use crate::harness::{NodeProcess, TestDatabase, TestNode, spawn_node_with};

/// Every family a node exposes (counters by their family name, without `_total`).
const FAMILIES: [&str; 20] = [
    "kgnode_http_requests",
    "kgnode_http_request_duration_seconds",
    "kgnode_http_requests_in_flight",
    "kgnode_db_pool_connections",
    "kgnode_db_pool_waiting",
    "kgnode_db_pool_max_connections",
    "kgnode_database_up",
    "kgnode_change_log_head_seq",
    "kgnode_projection_applied_seq",
    "kgnode_projection_lag_seq",
    "kgnode_projection_lag_seconds",
    "kgnode_jobs",
    "kgnode_federation_backlog",
    "kgnode_federation_failures",
    "kgnode_federation_parked",
    "kgnode_realtime_subscribers",
    "kgnode_search_documents",
    "kgnode_search_segments",
    "kgnode_graph_artifacts",
    "kgnode_graph_relationships",
];

/// Parses a scrape with `prometheus_client` (tests/metrics/families.py).
fn parse(text: String) -> Value {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/metrics/families.py");
    let mut child = std::process::Command::new(&python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {python} ({error}); install Python 3"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "prometheus_client refused the scrape (needs `{python} -m pip install prometheus_client`):\n{}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("families as JSON")
}

/// Scrapes `url` and parses the answer.
async fn scrape(url: &str) -> Value {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    tokio::task::spawn_blocking(move || parse(text))
        .await
        .unwrap()
}

/// The value of the sample `name` whose labels include `labels`; 0 when there is none.
fn sample(families: &Value, family: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    families[family]["samples"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|sample| {
            sample["name"] == name
                && labels
                    .iter()
                    .all(|(key, value)| sample["labels"][*key] == *value)
        })
        .and_then(|sample| sample["value"].as_f64())
        .unwrap_or(0.0)
}

/// A node with its metrics listener on a free port.
async fn metered_node() -> TestNode {
    spawn_node_with(|settings| {
        settings.metrics.bind = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_and_count_requests_by_route_template() {
    let node = metered_node().await;
    node.convergence("metered", "public").await;
    node.artifact(
        "metered",
        json!({"kind": "idea", "title": "Count the visits"}),
    )
    .await;
    node.settle().await;
    let before = scrape(&node.metrics_url()).await;
    for family in FAMILIES {
        assert!(
            before[family]["samples"]
                .as_array()
                .is_some_and(|samples| !samples.is_empty()),
            "family {family} is missing or empty: {before:#}"
        );
    }
    assert_eq!(before["kgnode_http_requests"]["type"], "counter");
    assert_eq!(
        before["kgnode_http_request_duration_seconds"]["type"],
        "histogram"
    );
    assert_eq!(before["kgnode_jobs"]["type"], "gauge");
    assert!(
        before["kgnode_http_requests"]["help"]
            .as_str()
            .is_some_and(|help| !help.is_empty())
    );

    let visits = 7;
    for _ in 0..visits {
        node.get("/api/v1/convergences/metered").await.expect(200);
    }
    node.get("/api/v1/convergences/nowhere").await.expect(404);
    node.get("/no/such/page").await.expect(404);
    let after = scrape(&node.metrics_url()).await;

    let route = [("route", "/api/v1/convergences/{slug}"), ("method", "GET")];
    let ok = [route[0], route[1], ("status", "200")];
    let count = |families: &Value, labels: &[(&str, &str)]| {
        sample(
            families,
            "kgnode_http_requests",
            "kgnode_http_requests_total",
            labels,
        )
    };
    assert_eq!(count(&after, &ok) - count(&before, &ok), f64::from(visits));
    let timed = |families: &Value| {
        sample(
            families,
            "kgnode_http_request_duration_seconds",
            "kgnode_http_request_duration_seconds_count",
            &ok,
        )
    };
    assert_eq!(timed(&after) - timed(&before), f64::from(visits));
    let missing = [route[0], route[1], ("status", "404")];
    assert_eq!(count(&after, &missing) - count(&before, &missing), 1.0);
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert_eq!(count(&after, &unmatched) - count(&before, &unmatched), 1.0);
    assert!(
        after["kgnode_http_requests"]["samples"]
            .as_array()
            .unwrap()
            .iter()
            .all(|sample| !sample["labels"]["route"]
                .as_str()
                .unwrap()
                .contains("metered")),
        "routes are templates, never paths"
    );

    let gauge = |name: &str, labels: &[(&str, &str)]| sample(&after, name, name, labels);
    assert_eq!(gauge("kgnode_database_up", &[]), 1.0);
    assert_eq!(gauge("kgnode_search_documents", &[]), 1.0);
    assert!(gauge("kgnode_search_segments", &[]) >= 1.0);
    assert_eq!(gauge("kgnode_graph_artifacts", &[]), 1.0);
    assert_eq!(gauge("kgnode_graph_relationships", &[]), 0.0);
    assert_eq!(gauge("kgnode_realtime_subscribers", &[]), 0.0);
    assert_eq!(gauge("kgnode_db_pool_max_connections", &[]), 8.0);
    let head = gauge("kgnode_change_log_head_seq", &[]);
    assert!(
        head >= 2.0,
        "a convergence and an artifact were logged: {head}"
    );
    for projection in ["search", "graph", "realtime", "federation"] {
        let labels = [("projection", projection)];
        assert_eq!(
            gauge("kgnode_projection_applied_seq", &labels),
            head,
            "{projection}"
        );
        assert_eq!(
            gauge("kgnode_projection_lag_seq", &labels),
            0.0,
            "{projection}"
        );
        assert_eq!(
            gauge("kgnode_projection_lag_seconds", &labels),
            0.0,
            "{projection}"
        );
    }
    for state in ["queued", "running", "failed"] {
        assert_eq!(gauge("kgnode_jobs", &[("state", state)]), 0.0, "{state}");
    }
    assert_eq!(
        gauge("kgnode_federation_backlog", &[("peer", "other")]),
        0.0
    );
}

#[tokio::test]
async fn the_api_listener_does_not_serve_metrics_nor_the_metrics_listener_the_api() {
    let node = metered_node().await;
    node.get("/metrics").await.expect(404);
    let metrics_base = node.metrics_url().replace("/metrics", "");
    let api_on_metrics = reqwest::get(format!("{metrics_base}/api/v1/convergences"))
        .await
        .unwrap();
    assert_eq!(api_on_metrics.status(), 404);
}

#[tokio::test]
async fn kgnode_serve_logs_the_metrics_address_and_serves_it() {
    let database = TestDatabase::new();
    let data_dir = std::env::temp_dir().join(format!("{}-metrics", database.name));
    let node = NodeProcess::start(&database, &data_dir).await;
    let url = node
        .metrics_url
        .clone()
        .expect("`metrics listening` is logged with its address");
    let families = scrape(&url).await;
    assert_eq!(
        sample(&families, "kgnode_database_up", "kgnode_database_up", &[]),
        1.0
    );
    let on_api = reqwest::get(format!("{}/metrics", node.base))
        .await
        .unwrap();
    assert_eq!(on_api.status(), 404);
    drop(node);
    let _ = std::fs::remove_dir_all(&data_dir);
}
