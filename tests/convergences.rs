use serde_json::json;

use crate::harness::{As, spawn_node};

#[tokio::test]
async fn create_read_list_and_patch_convergences() {
    let node = spawn_node().await;
    let created = node
        .post(
            "/api/v1/convergences",
            json!({"slug": "boulder-2026", "name": "ETHBoulder 2026",
                   "description": "Three days", "visibility": "public"}),
        )
        .await
        .expect(201);
    assert_eq!(
        created.header("location"),
        Some(node.url("/api/v1/convergences/boulder-2026").as_str())
    );
    let body = &created.body;
    assert_eq!(body["slug"], "boulder-2026");
    assert_eq!(body["name"], "ETHBoulder 2026");
    assert_eq!(body["description"], "Three days");
    assert_eq!(body["visibility"], "public");
    uuid::Uuid::parse_str(body["id"].as_str().unwrap()).unwrap();
    chrono_like(&body["created_at"]);

    let read = node
        .get("/api/v1/convergences/boulder-2026")
        .await
        .expect(200);
    assert_eq!(read.body, created.body);

    let patched = node
        .patch(
            "/api/v1/convergences/boulder-2026",
            json!({"name": "Boulder"}),
        )
        .await
        .expect(200);
    assert_eq!(patched.body["name"], "Boulder");
    assert_eq!(patched.body["description"], "Three days");

    node.post(
        "/api/v1/convergences",
        json!({"slug": "boulder-2026", "name": "again"}),
    )
    .await
    .expect_error(409, "conflict");
    node.get("/api/v1/convergences/nowhere")
        .await
        .expect_error(404, "not_found");
}

fn chrono_like(value: &serde_json::Value) {
    let text = value.as_str().expect("timestamp string");
    assert!(
        text.contains('T') && (text.ends_with('Z') || text.contains('+')),
        "{text}"
    );
}

#[tokio::test]
async fn convergence_list_pages_by_slug() {
    let node = spawn_node().await;
    for slug in ["c", "a", "e", "b", "d"] {
        node.convergence(slug, "public").await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/convergences?limit=2".to_owned();
    loop {
        let page = node.get(&path).await.expect(200).body;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["slug"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/convergences?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
}

#[tokio::test]
async fn creating_convergences_needs_a_node_wide_token() {
    let node = spawn_node().await;
    node.convergence("home", "public").await;
    let scoped = node.convergence_token("home").await;
    let body = json!({"slug": "other", "name": "Other"});
    node.send(
        reqwest::Method::POST,
        "/api/v1/convergences",
        As::Anonymous,
        Some(&body),
    )
    .await
    .expect_error(401, "unauthenticated");
    node.send(
        reqwest::Method::POST,
        "/api/v1/convergences",
        As::Token(&scoped),
        Some(&body),
    )
    .await
    .expect_error(403, "forbidden");
    // A convergence token may change its own convergence.
    node.send(
        reqwest::Method::PATCH,
        "/api/v1/convergences/home",
        As::Token(&scoped),
        Some(&json!({"description": "ours"})),
    )
    .await
    .expect(200);
}
