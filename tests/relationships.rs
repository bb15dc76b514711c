use serde_json::json;

use crate::harness::spawn_node;

#[tokio::test]
async fn relationships_are_created_listed_and_deleted() {
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    node.convergence("c2", "public").await;
    let a = node
        .artifact("c1", json!({"kind": "claim", "title": "A"}))
        .await;
    let b = node
        .artifact("c1", json!({"kind": "evidence", "title": "B"}))
        .await;
    let c = node
        .artifact("c2", json!({"kind": "idea", "title": "C"}))
        .await;

    let created = node
        .post(
            "/api/v1/relationships",
            json!({"source": b, "target": a, "kind": "supports", "weight": 0.7}),
        )
        .await
        .expect(201);
    let ab = created.id();
    assert_eq!(created.body["source"], b.as_str());
    assert_eq!(created.body["target"], a.as_str());
    assert_eq!(created.body["kind"], "supports");
    assert_eq!(created.body["weight"], 0.7);
    // Across convergences, weight defaulting to 1.
    let ac = node
        .post(
            "/api/v1/relationships",
            json!({"source": a, "target": c, "kind": "relates_to"}),
        )
        .await
        .expect(201);
    assert_eq!(ac.body["weight"], 1.0);
    let ac = ac.id();
    node.get(&format!("/api/v1/relationships/{ab}"))
        .await
        .expect(200);

    let ids = |page: serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let out = node
        .get(&format!(
            "/api/v1/artifacts/{a}/relationships?direction=out"
        ))
        .await
        .expect(200);
    assert_eq!(ids(out.body), vec![ac.clone()]);
    let incoming = node
        .get(&format!("/api/v1/artifacts/{a}/relationships?direction=in"))
        .await
        .expect(200);
    assert_eq!(ids(incoming.body), vec![ab.clone()]);
    let both = node
        .get(&format!(
            "/api/v1/artifacts/{a}/relationships?direction=both"
        ))
        .await
        .expect(200);
    assert_eq!(ids(both.body), vec![ab.clone(), ac.clone()]);

    node.post(
        "/api/v1/relationships",
        json!({"source": b, "target": a, "kind": "supports"}),
    )
    .await
    .expect_error(409, "conflict");
    node.post(
        "/api/v1/relationships",
        json!({"source": a, "target": a, "kind": "supports"}),
    )
    .await
    .expect_error(422, "unprocessable");
    let missing = uuid::Uuid::now_v7();
    node.post(
        "/api/v1/relationships",
        json!({"source": a, "target": missing, "kind": "supports"}),
    )
    .await
    .expect_error(404, "not_found");
    node.post(
        "/api/v1/relationships",
        json!({"source": a, "target": b, "kind": "supports", "weight": 0}),
    )
    .await
    .expect_error(422, "invalid_body");

    node.delete(&format!("/api/v1/relationships/{ab}"))
        .await
        .expect(204);
    node.delete(&format!("/api/v1/relationships/{ab}"))
        .await
        .expect_error(404, "not_found");

    // Deleting an artifact removes its relationships.
    node.delete(&format!("/api/v1/artifacts/{c}"))
        .await
        .expect(204);
    node.get(&format!("/api/v1/relationships/{ac}"))
        .await
        .expect_error(404, "not_found");
    let left = node
        .get(&format!(
            "/api/v1/artifacts/{a}/relationships?direction=both"
        ))
        .await
        .expect(200);
    assert_eq!(ids(left.body), Vec::<String>::new());
    node.post(
        "/api/v1/relationships",
        json!({"source": a, "target": c, "kind": "supports"}),
    )
    .await
    .expect_error(410, "deleted");
}

#[tokio::test]
async fn concurrent_edges_in_both_directions_never_deadlock() {
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(
            node.artifact("c1", json!({"kind": "idea", "title": format!("n{i}")}))
                .await,
        );
    }
    let mut requests = Vec::new();
    for a in &ids {
        for b in &ids {
            if a != b {
                requests.push(node.post(
                    "/api/v1/relationships",
                    json!({"source": a, "target": b, "kind": "relates_to"}),
                ));
            }
        }
    }
    let replies = futures_util::future::join_all(requests).await;
    for reply in replies {
        reply.expect(201);
    }
    assert_eq!(node.count("artifact_relationships").await, 56);
}
