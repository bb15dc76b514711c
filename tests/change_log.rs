use diesel_async::RunQueryDsl;
use kgnode::db::ChangeEvent;
use serde_json::json;

use crate::harness::spawn_node;

#[derive(diesel::QueryableByName, Debug)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    entity: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    operation: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    entity_id: uuid::Uuid,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    payload: serde_json::Value,
}

async fn log(node: &crate::harness::TestNode) -> Vec<Row> {
    let mut conn = node.database.connect().await;
    diesel::sql_query(
        "SELECT seq, entity, operation, entity_id, payload FROM change_log ORDER BY seq",
    )
    .load(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_write_appends_to_the_change_log() {
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    let a = node
        .artifact(
            "c1",
            json!({"kind": "idea", "title": "A", "dimensions": {"x": 1}}),
        )
        .await;
    let b = node
        .artifact("c1", json!({"kind": "idea", "title": "B"}))
        .await;
    let r = node
        .post(
            "/api/v1/relationships",
            json!({"source": a, "target": b, "kind": "supports"}),
        )
        .await
        .expect(201)
        .id();
    node.patch(
        &format!("/api/v1/artifacts/{a}"),
        json!({"version": 1, "dimensions": {"y": 0.5}}),
    )
    .await
    .expect(200);
    node.delete(&format!("/api/v1/artifacts/{b}"))
        .await
        .expect(204);

    let rows = log(&node).await;
    let summary: Vec<(String, String, String)> = rows
        .iter()
        .map(|row| {
            (
                row.entity.clone(),
                row.operation.clone(),
                row.entity_id.to_string(),
            )
        })
        .collect();
    let c1 = rows[0].entity_id.to_string();
    let expected = [
        ("convergence", "insert", c1.as_str()),
        ("artifact", "insert", a.as_str()),
        ("artifact", "insert", b.as_str()),
        ("relationship", "insert", r.as_str()),
        ("artifact", "update", a.as_str()),
        ("relationship", "delete", r.as_str()),
        ("artifact", "delete", b.as_str()),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(e, o, id)| (e.to_string(), o.to_string(), id.to_string()))
        .collect();
    assert_eq!(summary, expected);
    assert!(
        rows.windows(2).all(|w| w[0].seq < w[1].seq),
        "sequence must increase"
    );
    assert_eq!(rows[4].payload["version"], 2);
    assert_eq!(rows[5].payload["source"], a.as_str());
    assert_eq!(rows[6].payload["version"], 2);

    // Failed writes append nothing.
    let before = rows.len();
    node.patch(
        &format!("/api/v1/artifacts/{a}"),
        json!({"version": 1, "title": "stale"}),
    )
    .await
    .expect(412);
    assert_eq!(log(&node).await.len(), before);
}

#[tokio::test]
async fn concurrent_writers_get_distinct_increasing_sequence_numbers() {
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    let writes = (0..40).map(|i| {
        let node = &node;
        async move {
            node.post(
                "/api/v1/convergences/c1/artifacts",
                json!({"kind": "idea", "title": format!("t{i}"), "dimensions": {"shared": 0.5}}),
            )
            .await
            .expect(201)
        }
    });
    futures_util::future::join_all(writes).await;
    let rows = log(&node).await;
    assert_eq!(rows.len(), 41);
    assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
    // The counter saw every write exactly once.
    let counts = node
        .get("/api/v1/convergences/c1/dimensions")
        .await
        .expect(200)
        .body;
    assert_eq!(counts["items"][0]["artifact_count"], 40);
    assert!((counts["items"][0]["weight_sum"].as_f64().unwrap() - 20.0).abs() < 1e-9);
}

#[tokio::test]
async fn a_follower_resumes_from_its_position_and_is_woken_by_new_changes() {
    use std::time::Duration;
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    let mut feed = kgnode::db::ChangeFeed::open(&node.database.url, 0, 100)
        .await
        .unwrap();
    let first = feed.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        matches!(
            first[0].event,
            ChangeEvent::ConvergenceChanged { created: true, .. }
        ),
        "{:?}",
        first[0].event
    );
    let position = feed.position();
    assert_eq!(position, first[0].seq);

    // Nothing new: a write arriving later wakes the feed long before its idle timeout.
    let writer = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        node.artifact("c1", json!({"kind": "idea", "title": "late"}))
            .await
    };
    let reader = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let changes = feed.next(Duration::from_secs(3600)).await.unwrap();
            if !changes.is_empty() {
                return changes;
            }
        }
    });
    let (id, changes) = tokio::join!(writer, reader);
    let changes = changes.expect("the notification woke the feed");
    assert!(
        matches!(changes[0].event, ChangeEvent::ArtifactUpserted { id: created, created: true, .. } if created.to_string() == id),
        "{:?}",
        changes[0].event
    );

    // A new feed resuming from the old position sees exactly what followed it.
    let mut resumed = kgnode::db::ChangeFeed::open(&node.database.url, position, 100)
        .await
        .unwrap();
    let again = resumed.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        again.iter().map(|c| c.seq).collect::<Vec<_>>(),
        changes.iter().map(|c| c.seq).collect::<Vec<_>>()
    );
}
