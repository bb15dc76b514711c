use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::harness::{TestNode, spawn_node};

/// The counters recomputed from the artifacts themselves.
async fn recomputed(node: &TestNode) -> Vec<(String, i64, f64)> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        dimension: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
        #[diesel(sql_type = diesel::sql_types::Double)]
        w: f64,
    }
    let mut conn = node.database.connect().await;
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT d.dimension, count(*) AS n, sum(d.weight) AS w FROM artifact_dimensions d \
         JOIN artifacts a ON a.id = d.artifact_id WHERE a.deleted_at IS NULL \
         GROUP BY d.dimension ORDER BY count(*) DESC, d.dimension",
    )
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|r| (r.dimension, r.n, r.w)).collect()
}

async fn served(node: &TestNode) -> Vec<(String, i64, f64)> {
    let body = node
        .get("/api/v1/convergences/c1/dimensions")
        .await
        .expect(200)
        .body;
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["dimension"].as_str().unwrap().to_owned(),
                d["artifact_count"].as_i64().unwrap(),
                d["weight_sum"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[track_caller]
fn assert_same(left: &[(String, i64, f64)], right: &[(String, i64, f64)]) {
    assert_eq!(left.len(), right.len(), "{left:?} vs {right:?}");
    for (l, r) in left.iter().zip(right) {
        assert_eq!((&l.0, l.1), (&r.0, r.1));
        assert!((l.2 - r.2).abs() < 1e-9, "{l:?} vs {r:?}");
    }
}

#[tokio::test]
async fn counters_are_exact_right_after_every_write() {
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    let a = node
        .artifact(
            "c1",
            json!({"kind": "idea", "title": "a",
        "dimensions": {"water": 0.5, "food": 0.25}}),
        )
        .await;
    let b = node
        .artifact(
            "c1",
            json!({"kind": "idea", "title": "b", "dimensions": {"water": 1}}),
        )
        .await;
    assert_same(
        &served(&node).await,
        &[("water".into(), 2, 1.5), ("food".into(), 1, 0.25)],
    );

    node.patch(
        &format!("/api/v1/artifacts/{a}"),
        json!({"version": 1,
        "dimensions": {"water": 0.1, "energy": 0.3}}),
    )
    .await
    .expect(200);
    assert_same(&served(&node).await, &recomputed(&node).await);
    assert_same(
        &served(&node).await,
        &[("water".into(), 2, 1.1), ("energy".into(), 1, 0.3)],
    );

    node.delete(&format!("/api/v1/artifacts/{b}"))
        .await
        .expect(204);
    assert_same(&served(&node).await, &recomputed(&node).await);
    node.post(
        "/api/v1/convergences/c1/batch",
        json!({"artifacts": [
        {"key": "x", "kind": "idea", "title": "x", "dimensions": {"food": 0.5}},
        {"key": "y", "kind": "idea", "title": "y", "dimensions": {"food": 0.5, "water": 0.2}}]}),
    )
    .await
    .expect(201);
    assert_same(&served(&node).await, &recomputed(&node).await);

    // Paging through the counters.
    let first = node
        .get("/api/v1/convergences/c1/dimensions?limit=1")
        .await
        .expect(200)
        .body;
    assert_eq!(first["items"][0]["dimension"], "food");
    assert_eq!(first["items"][0]["mean_weight"], 0.5);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = node
        .get(&format!(
            "/api/v1/convergences/c1/dimensions?limit=1&cursor={cursor}"
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(second["items"][0]["dimension"], "water");
}
