use serde_json::json;

use crate::harness::{TestNode, reply, spawn_node};

async fn raw(
    node: &TestNode,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> crate::harness::Reply {
    reply(
        node.client
            .post(node.url(path))
            .bearer_auth(&node.admin_token)
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_stores_nothing() {
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    let artifacts = "/api/v1/convergences/c1/artifacts";
    let json_type = "application/json";
    let before = node.count("change_log").await;

    raw(&node, artifacts, json_type, "{\"kind\": \"idea\",")
        .await
        .expect_error(400, "malformed_json");
    raw(&node, artifacts, json_type, "")
        .await
        .expect_error(400, "malformed_json");
    raw(&node, artifacts, "text/plain", "{}")
        .await
        .expect_error(415, "unsupported_media_type");

    let wrong_type = raw(
        &node,
        artifacts,
        json_type,
        r#"{"kind": "idea", "title": 5}"#,
    )
    .await;
    let wrong_type = wrong_type.expect_error(422, "invalid_body");
    assert_eq!(wrong_type.body["error"]["field"], "title");
    let unknown = raw(
        &node,
        artifacts,
        json_type,
        r#"{"kind": "idea", "title": "t", "colour": "red"}"#,
    )
    .await;
    assert!(
        unknown.expect_error(422, "invalid_body").body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
    raw(
        &node,
        artifacts,
        json_type,
        r#"{"kind": "memo", "title": "t"}"#,
    )
    .await
    .expect_error(422, "invalid_body");
    raw(
        &node,
        artifacts,
        json_type,
        r#"{"kind": "idea", "title": ""}"#,
    )
    .await
    .expect_error(422, "invalid_body");
    raw(
        &node,
        artifacts,
        json_type,
        r#"{"kind": "idea", "title": "t", "dimensions": {"a": -0.1}}"#,
    )
    .await
    .expect_error(422, "invalid_body");
    raw(
        &node,
        artifacts,
        json_type,
        r#"{"kind": "idea", "title": "t", "dimensions": {"A": 0.1, "a ": 0.2}}"#,
    )
    .await
    .expect_error(422, "invalid_body");
    raw(
        &node,
        "/api/v1/relationships",
        json_type,
        r#"{"source": "x", "target": "y", "kind": "supports"}"#,
    )
    .await
    .expect_error(422, "invalid_body");
    raw(
        &node,
        "/api/v1/convergences",
        json_type,
        r#"{"slug": "Not A Slug", "name": "n"}"#,
    )
    .await
    .expect_error(422, "invalid_body");
    raw(
        &node,
        "/api/v1/convergences",
        json_type,
        r#"{"slug": "ok", "name": "n", "visibility": "secret"}"#,
    )
    .await
    .expect_error(422, "invalid_body");

    node.post(artifacts, json!({"kind": "idea", "title": "nul\u{0}byte"}))
        .await
        .expect_error(422, "invalid_body");
    node.get("/api/v1/convergences/%00/artifacts")
        .await
        .expect_error(404, "not_found");
    node.get("/api/v1/convergences/c1/artifacts?dimension=%00")
        .await
        .expect_error(400, "invalid_parameter");

    // Oversized bodies.
    let huge = format!(
        r#"{{"kind": "idea", "title": "t", "body": "{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    raw(&node, artifacts, json_type, huge)
        .await
        .expect_error(413, "payload_too_large");
    let long_body = json!({"kind": "idea", "title": "t", "body": "y".repeat(100_001)});
    node.post(artifacts, long_body)
        .await
        .expect_error(422, "invalid_body");

    // Bad ids, parameters and cursors.
    node.get("/api/v1/artifacts/not-a-uuid")
        .await
        .expect_error(400, "invalid_parameter");
    node.delete("/api/v1/relationships/123")
        .await
        .expect_error(400, "invalid_parameter");
    node.get(&format!("/api/v1/artifacts/{}", uuid::Uuid::now_v7()))
        .await
        .expect_error(404, "not_found");
    node.get("/api/v1/convergences/c1/artifacts?limit=0")
        .await
        .expect_error(400, "invalid_parameter");
    node.get("/api/v1/convergences/c1/artifacts?limit=501")
        .await
        .expect_error(400, "invalid_parameter");
    node.get("/api/v1/convergences/c1/artifacts?limit=ten")
        .await
        .expect_error(400, "invalid_parameter");
    node.get("/api/v1/convergences/c1/artifacts?kind=memo")
        .await
        .expect_error(400, "invalid_parameter");
    node.get("/api/v1/convergences/c1/artifacts?cursor=garbage")
        .await
        .expect_error(400, "invalid_parameter");
    node.get("/api/v1/convergences/c1/artifacts?colour=red")
        .await
        .expect_error(400, "invalid_parameter");
    node.get("/api/v1/nothing-here")
        .await
        .expect_error(404, "route_not_found");
    node.send(
        reqwest::Method::PUT,
        "/api/v1/convergences",
        crate::harness::As::Admin,
        None,
    )
    .await
    .expect_error(405, "method_not_allowed");
    let bad_if_match = reply(
        node.client
            .patch(node.url(&format!("/api/v1/artifacts/{}", uuid::Uuid::now_v7())))
            .bearer_auth(&node.admin_token)
            .header("If-Match", "*")
            .json(&json!({"title": "x"})),
    )
    .await;
    bad_if_match.expect_error(400, "invalid_parameter");

    assert_eq!(node.count("artifacts").await, 0);
    assert_eq!(node.count("change_log").await, before);
}
