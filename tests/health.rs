use serde_json::json;

use crate::harness::{As, spawn_node};

#[tokio::test]
async fn health_readiness_and_docs_are_served() {
    let node = spawn_node().await;
    let health = node.get("/healthz").await.expect(200);
    assert_eq!(health.body["status"], "ok");
    assert!(health.header("x-request-id").is_some());
    node.get("/readyz").await.expect(200);

    let spec = node.get("/api/v1/openapi.json").await.expect(200).body;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/convergences",
        "/api/v1/convergences/{slug}/artifacts",
        "/api/v1/convergences/{slug}/batch",
        "/api/v1/convergences/{slug}/dimensions",
        "/api/v1/artifacts/{id}",
        "/api/v1/artifacts/{id}/relationships",
        "/api/v1/relationships",
        "/api/v1/relationships/{id}",
        "/healthz",
        "/readyz",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }

    // The docs page and its assets come from the node itself, never from a CDN; `/docs`
    // leads there too.
    let page = node.client.get(node.url("/docs")).send().await.unwrap();
    assert_eq!(page.url().path(), "/docs/");
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for remote in ["src=\"http", "href=\"http", "src='http", "href='http"] {
        assert!(
            !html.contains(remote),
            "docs page loads remote assets: {html}"
        );
    }
    let script = node
        .client
        .get(node.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
}

#[tokio::test]
async fn readiness_reports_pending_migrations() {
    let node = spawn_node().await;
    kgnode::db::revert(&node.database.url, Some(1))
        .await
        .unwrap();
    let reply = node.get("/readyz").await.expect(503);
    assert_eq!(reply.body["status"], "not_ready");
    assert_eq!(
        reply.body["pending_migrations"].as_array().unwrap().len(),
        1
    );
    kgnode::db::run_pending(&node.database.url).await.unwrap();
    node.get("/readyz").await.expect(200);
}

#[tokio::test]
async fn projections_report_their_position_in_the_change_log() {
    let node = spawn_node().await;
    node.get("/api/v1/admin/projections")
        .await
        .expect_error(401, "unauthenticated");
    node.convergence("c1", "public").await;
    node.artifact("c1", json!({"kind": "idea", "title": "counted"}))
        .await;
    node.settle().await;
    let state = node
        .get_as("/api/v1/admin/projections", As::Admin)
        .await
        .expect(200)
        .body;
    let head = state["log_head"].as_i64().expect("log_head");
    assert!(head >= 2, "{state}");
    let names: Vec<&str> = state["projections"]
        .as_array()
        .expect("projections")
        .iter()
        .map(|projection| projection["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["search", "graph", "realtime", "federation"]);
    for projection in state["projections"].as_array().expect("projections") {
        assert_eq!(projection["lag"], 0, "{state}");
    }
}
