use serde_json::{Value, json};

use crate::harness::{TestNode, spawn_node};

fn artifacts(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"key": format!("k{i}"), "kind": "idea", "title": format!("t{i}"),
                        "dimensions": {"d": 0.5}})
        })
        .collect()
}

async fn totals(node: &TestNode) -> (i64, i64, i64, i64) {
    (
        node.count("artifacts").await,
        node.count("artifact_dimensions").await,
        node.count("artifact_relationships").await,
        node.count("change_log").await,
    )
}

#[tokio::test]
async fn batch_writes_artifacts_and_relationships_by_key_and_id() {
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    let existing = node
        .artifact("c1", json!({"kind": "question", "title": "Why?"}))
        .await;
    let reply = node
        .post(
            "/api/v1/convergences/c1/batch",
            json!({
                "artifacts": artifacts(3),
                "relationships": [
                    {"source": "k0", "target": "k1", "kind": "extends", "weight": 0.5},
                    {"source": "k2", "target": existing, "kind": "answers"},
                ],
            }),
        )
        .await
        .expect(201);
    let created = reply.body["artifacts"].as_array().unwrap();
    assert_eq!(created.len(), 3);
    assert_eq!(created[1]["key"], "k1");
    assert_eq!(reply.body["relationships"].as_array().unwrap().len(), 2);
    let k2 = created[2]["id"].as_str().unwrap();
    let edges = node
        .get(&format!("/api/v1/artifacts/{k2}/relationships"))
        .await
        .expect(200)
        .body;
    assert_eq!(edges["items"][0]["target"], existing.as_str());
    assert_eq!(edges["items"][0]["kind"], "answers");
    let got = node
        .get(&format!("/api/v1/artifacts/{k2}"))
        .await
        .expect(200)
        .body;
    assert_eq!(got["dimensions"], json!({"d": 0.5}));
}

#[tokio::test]
async fn one_bad_item_rejects_the_whole_batch() {
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    node.artifact("c1", json!({"kind": "idea", "title": "seed"}))
        .await;
    let before = totals(&node).await;

    // A relationship to a key that does not exist, after 50 good artifacts and 9 good edges.
    let mut relationships: Vec<Value> = (0..9)
        .map(|i| json!({"source": format!("k{i}"), "target": format!("k{}", i + 1), "kind": "extends"}))
        .collect();
    relationships.push(json!({"source": "k1", "target": "nope", "kind": "extends"}));
    let reply = node
        .post(
            "/api/v1/convergences/c1/batch",
            json!({"artifacts": artifacts(50), "relationships": relationships}),
        )
        .await
        .expect_error(422, "unprocessable");
    assert_eq!(reply.body["error"]["item"], "relationships[9]");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nope")
    );
    assert_eq!(totals(&node).await, before);

    // An invalid artifact deep in the list.
    let mut items = artifacts(20);
    items[13]["dimensions"] = json!({"d": 7});
    let reply = node
        .post("/api/v1/convergences/c1/batch", json!({"artifacts": items}))
        .await
        .expect_error(422, "invalid_body");
    assert_eq!(reply.body["error"]["field"], "artifacts[13].dimensions.d");
    assert_eq!(totals(&node).await, before);

    // Duplicate keys, self loops and duplicate edges name their item.
    let mut items = artifacts(5);
    items[4]["key"] = json!("k1");
    node.post("/api/v1/convergences/c1/batch", json!({"artifacts": items}))
        .await
        .expect_error(422, "unprocessable");
    let reply = node
        .post(
            "/api/v1/convergences/c1/batch",
            json!({"artifacts": artifacts(2),
            "relationships": [{"source": "k0", "target": "k0", "kind": "supports"}]}),
        )
        .await
        .expect_error(422, "unprocessable");
    assert_eq!(reply.body["error"]["item"], "relationships[0]");
    let reply = node
        .post(
            "/api/v1/convergences/c1/batch",
            json!({"artifacts": artifacts(2),
            "relationships": [{"source": "k0", "target": "k1", "kind": "supports"},
                              {"source": "k0", "target": "k1", "kind": "supports"}]}),
        )
        .await
        .expect_error(409, "conflict");
    assert_eq!(reply.body["error"]["item"], "relationships[1]");
    let missing = uuid::Uuid::now_v7();
    let reply = node
        .post(
            "/api/v1/convergences/c1/batch",
            json!({"artifacts": artifacts(2),
            "relationships": [{"source": "k0", "target": missing, "kind": "supports"}]}),
        )
        .await
        .expect_error(404, "not_found");
    assert_eq!(reply.body["error"]["item"], "relationships[0]");

    // An edge between two existing artifacts that is already stored.
    let x = node
        .artifact("c1", json!({"kind": "idea", "title": "x"}))
        .await;
    let y = node
        .artifact("c1", json!({"kind": "idea", "title": "y"}))
        .await;
    node.post(
        "/api/v1/relationships",
        json!({"source": x, "target": y, "kind": "supports"}),
    )
    .await
    .expect(201);
    let before = totals(&node).await;
    let reply = node
        .post(
            "/api/v1/convergences/c1/batch",
            json!({"artifacts": artifacts(1),
            "relationships": [{"source": "k0", "target": x, "kind": "supports"},
                              {"source": y, "target": x, "kind": "supports"},
                              {"source": x, "target": y, "kind": "supports"}]}),
        )
        .await
        .expect_error(409, "conflict");
    assert_eq!(reply.body["error"]["item"], "relationships[2]");
    assert_eq!(totals(&node).await, before);

    // A key spelled as an existing artifact's id would shadow that artifact: refused.
    let mut items = artifacts(2);
    items[1]["key"] = json!(x);
    let reply = node
        .post(
            "/api/v1/convergences/c1/batch",
            json!({"artifacts": items,
            "relationships": [{"source": "k0", "target": x, "kind": "extends"}]}),
        )
        .await
        .expect_error(422, "unprocessable");
    assert_eq!(reply.body["error"]["item"], "artifacts[1]");
    assert_eq!(totals(&node).await, before);
}

#[tokio::test]
async fn batch_size_is_limited() {
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    node.post(
        "/api/v1/convergences/c1/batch",
        json!({"artifacts": artifacts(1001)}),
    )
    .await
    .expect_error(413, "too_many_items");
    node.post("/api/v1/convergences/c1/batch", json!({}))
        .await
        .expect_error(422, "unprocessable");
    let reply = node
        .post(
            "/api/v1/convergences/c1/batch",
            json!({"artifacts": artifacts(1000)}),
        )
        .await
        .expect(201);
    assert_eq!(reply.body["artifacts"].as_array().unwrap().len(), 1000);
    assert_eq!(node.count("artifacts").await, 1000);
}
