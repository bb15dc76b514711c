use serde_json::{Value, json};

use crate::harness::{As, TestNode, eventually, reply, spawn_node};

/// Searches as `who` until the hits' ids are `expected` (in order); returns the last body.
async fn search_until(node: &TestNode, query: &str, who: As<'_>, expected: &[&str]) -> Value {
    let path = format!("/api/v1/search?{query}");
    eventually(
        &format!("search {query} to return {expected:?}"),
        || async {
            let body = node.get_as(&path, who).await.expect(200).body;
            (ids(&body) == expected).then_some(body)
        },
    )
    .await
}

fn ids(body: &Value) -> Vec<String> {
    body["hits"]
        .as_array()
        .map(|hits| {
            hits.iter()
                .map(|h| h["id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn search_ranks_filters_facets_and_follows_writes() {
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    let title = node
        .artifact(
            "c1",
            json!({"kind": "proposal", "title": "Community garden proposal",
            "body": "Raised beds on the north lot.", "dimensions": {"food": 0.9}}),
        )
        .await;
    let body = node
        .artifact("c1", json!({"kind": "idea", "title": "Water rota",
            "body": "Someone must water the garden every evening.", "dimensions": {"food": 0.2, "water": 1}}))
        .await;
    let other = node
        .artifact(
            "c1",
            json!({"kind": "question", "title": "Who fixes the fence?"}),
        )
        .await;

    // A title match beats a body match; hits carry the documented fields.
    let found = search_until(&node, "q=garden", As::Anonymous, &[&title, &body]).await;
    let hit = &found["hits"][0];
    assert_eq!(hit["title"], "Community garden proposal");
    assert_eq!(hit["kind"], "proposal");
    assert_eq!(hit["convergence"], "c1");
    assert!(hit["score"].as_f64().unwrap() > found["hits"][1]["score"].as_f64().unwrap());
    assert!(
        hit["snippet"].as_str().unwrap().contains("<b>garden</b>"),
        "{hit}"
    );
    assert_eq!(found["estimated_total"], 2);
    assert_eq!(found["facets"]["kind"], json!({"idea": 1, "proposal": 1}));
    assert_eq!(found["facets"]["dimension"], json!({"food": 2, "water": 1}));
    assert!(found["took_ms"].as_f64().is_some());

    // Stemming, AND by default, phrases, exclusion, filters, pages.
    search_until(&node, "q=proposals", As::Anonymous, &[&title]).await;
    search_until(&node, "q=garden+evening", As::Anonymous, &[&body]).await;
    search_until(&node, "q=%22north+lot%22", As::Anonymous, &[&title]).await;
    search_until(&node, "q=garden+-rota", As::Anonymous, &[&title]).await;
    search_until(&node, "q=garden&kind=idea", As::Anonymous, &[&body]).await;
    search_until(&node, "q=garden&dimension=water", As::Anonymous, &[&body]).await;
    search_until(
        &node,
        "q=garden&convergence=c1&limit=1&offset=1",
        As::Anonymous,
        &[&body],
    )
    .await;

    // Updates and deletes are followed.
    node.patch(
        &format!("/api/v1/artifacts/{other}"),
        json!({"version": 1, "title": "Garden fence"}),
    )
    .await
    .expect(200);
    search_until(&node, "q=fence", As::Anonymous, &[&other]).await;
    node.delete(&format!("/api/v1/artifacts/{title}"))
        .await
        .expect(204);
    search_until(&node, "q=garden", As::Anonymous, &[&other, &body]).await;
}

#[tokio::test]
async fn private_artifacts_are_found_only_with_a_token_for_them() {
    let node = spawn_node().await;
    node.convergence("open", "public").await;
    node.convergence("closed", "private").await;
    let token = node.convergence_token("closed").await;
    let public = node
        .artifact("open", json!({"kind": "idea", "title": "Shared compost"}))
        .await;
    let private = node
        .artifact("closed", json!({"kind": "idea", "title": "Secret compost"}))
        .await;

    let mut both = vec![public.as_str(), private.as_str()];
    both.sort();
    let for_token = eventually("both compost artifacts", || async {
        let body = node
            .get_as("/api/v1/search?q=compost", As::Token(&token))
            .await
            .expect(200)
            .body;
        let mut found = ids(&body);
        found.sort();
        (found == both).then_some(found)
    })
    .await;
    assert_eq!(for_token.len(), 2);
    let anonymous = node.get("/api/v1/search?q=compost").await.expect(200).body;
    assert_eq!(ids(&anonymous), vec![public.clone()]);
    assert_eq!(anonymous["facets"]["kind"], json!({"idea": 1}));
    node.get("/api/v1/search?q=compost&convergence=closed")
        .await
        .expect_error(404, "not_found");

    // Opening the convergence makes its artifacts public.
    node.patch(
        "/api/v1/convergences/closed",
        json!({"visibility": "public"}),
    )
    .await
    .expect(200);
    eventually("the opened convergence to be searchable", || async {
        let body = node.get("/api/v1/search?q=compost").await.expect(200).body;
        (ids(&body).len() == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn malformed_queries_and_parameters_are_400() {
    let node = spawn_node().await;
    for query in ["q=title:", "q=%22unbalanced", "q=body:[a+TO+b]"] {
        let reply = node.get(&format!("/api/v1/search?{query}")).await;
        assert_eq!(reply.status.as_u16(), 400, "{query}: {}", reply.body);
        assert_eq!(reply.body["error"]["code"], "invalid_query", "{query}");
    }
    for query in [
        "limit=0",
        "limit=101",
        "kind=memo",
        "offset=x",
        "offset=10000",
        "colour=red",
    ] {
        node.get(&format!("/api/v1/search?q=a&{query}"))
            .await
            .expect_error(400, "invalid_parameter");
    }
    // Invalid UTF-8 once percent-decoded (it would otherwise match everything).
    node.get("/api/v1/search?q=%ff%fe")
        .await
        .expect_error(400, "invalid_parameter");
    let long = "a".repeat(10_000);
    let reply = reply(
        node.client
            .get(node.url("/api/v1/search"))
            .query(&[("q", long)]),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
}

#[tokio::test]
async fn a_missing_index_is_rebuilt_on_start_and_verify_agrees() {
    let mut node = spawn_node().await;
    node.convergence("c1", "public").await;
    let mut artifacts: Vec<Value> = (0..30)
        .map(|i| json!({"key": format!("k{i}"), "kind": "idea", "title": format!("seedling {i}")}))
        .collect();
    artifacts[3]["title"] = json!("different");
    node.post(
        "/api/v1/convergences/c1/batch",
        json!({"artifacts": artifacts}),
    )
    .await
    .expect(201);
    eventually("29 seedlings", || async {
        let body = node
            .get("/api/v1/search?q=seedling&limit=100")
            .await
            .expect(200)
            .body;
        (body["estimated_total"] == 29).then_some(())
    })
    .await;

    node.stop().await;
    std::fs::remove_dir_all(node.data_dir.join("search")).unwrap();
    node.restart().await;
    eventually("the rebuilt index", || async {
        let body = node
            .get("/api/v1/search?q=seedling&limit=100")
            .await
            .expect(200)
            .body;
        (body["estimated_total"] == 29).then_some(())
    })
    .await;

    let verify = crate::cli::run_kgnode(&node.database, &node.data_dir, &["index", "verify"]).await;
    assert!(verify.is_ok(), "{verify:?}");
}

#[tokio::test]
async fn two_nodes_on_one_database_both_converge() {
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    let (sibling_base, sibling) = node.sibling().await;
    let id = node
        .artifact(
            "c1",
            json!({"kind": "insight", "title": "Mycelium networks"}),
        )
        .await;
    search_until(&node, "q=mycelium", As::Anonymous, &[&id]).await;
    eventually("the sibling to index it", || async {
        let body = reply(
            node.client
                .get(format!("{sibling_base}/api/v1/search?q=mycelium")),
        )
        .await
        .body;
        (ids(&body) == [id.clone()]).then_some(())
    })
    .await;
    sibling.stop().await;
}

#[tokio::test]
async fn the_index_survives_kill_9_mid_load_and_verifies() {
    use crate::harness::{NodeProcess, TestDatabase};

    let database = TestDatabase::new();
    database.create().await;
    kgnode::db::run_pending(&database.url).await.unwrap();
    let mut conn = database.connect().await;
    let (_, token) =
        kgnode::auth::create_token(&mut conn, &kgnode::auth::TokenRequest::node_admin("crash"))
            .await
            .unwrap();
    let data_dir = std::env::temp_dir().join(format!("{}-crash", database.name));
    let client = reqwest::Client::new();

    let node = NodeProcess::start(&database, &data_dir).await;
    let created = client
        .post(format!("{}/api/v1/convergences", node.base))
        .bearer_auth(&token)
        .json(&json!({"slug": "c1", "name": "c1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // Many batches in flight; kill the node after a few have landed.
    let batch = |n: usize| {
        let artifacts: Vec<Value> = (0..400)
            .map(|i| {
                json!({"key": format!("k{i}"), "kind": "idea",
                            "title": format!("harvest {n} {i}"), "body": "compost and seeds"})
            })
            .collect();
        client
            .post(format!("{}/api/v1/convergences/c1/batch", node.base))
            .bearer_auth(&token)
            .json(&json!({"artifacts": artifacts}))
            .send()
    };
    let mut in_flight: futures_util::stream::FuturesUnordered<_> = (0..12).map(batch).collect();
    let mut landed = 0;
    while let Some(result) = futures_util::StreamExt::next(&mut in_flight).await {
        if result.is_ok_and(|response| response.status() == 201) {
            landed += 1;
        }
        if landed == 4 {
            break;
        }
    }
    node.kill();
    drop(in_flight);
    assert!(landed >= 4);

    // Restart: the follower resumes from the index's last commit and catches up.
    let node = NodeProcess::start(&database, &data_dir).await;
    let stored = count_live(&database).await;
    assert!(stored >= 1600, "{stored}");
    eventually("the index to hold every stored artifact", || async {
        let body = reply(client.get(format!("{}/api/v1/search?q=harvest&limit=1", node.base)))
            .await
            .body;
        (body["estimated_total"].as_i64() == Some(stored)).then_some(())
    })
    .await;
    let verify = crate::cli::run_kgnode(&database, &data_dir, &["index", "verify"]).await;
    assert!(verify.is_ok(), "{verify:?}");
    node.kill();
    let _ = std::fs::remove_dir_all(&data_dir);
}

async fn count_live(database: &crate::harness::TestDatabase) -> i64 {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = database.connect().await;
    diesel::sql_query("SELECT count(*) AS n FROM artifacts WHERE deleted_at IS NULL")
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .n
}

#[tokio::test]
async fn reindex_swaps_in_a_rebuilt_index_and_verify_reports_differences() {
    use diesel_async::RunQueryDsl;

    let mut node = spawn_node().await;
    node.convergence("c1", "public").await;
    let kept = node
        .artifact("c1", json!({"kind": "idea", "title": "orchard"}))
        .await;
    let doomed = node
        .artifact("c1", json!({"kind": "idea", "title": "orchard pests"}))
        .await;
    search_until(&node, "q=orchard", As::Anonymous, &[&kept, &doomed]).await;
    node.stop().await;

    // A change made behind the change log's back: the index now disagrees with PostgreSQL.
    let mut conn = node.database.connect().await;
    diesel::sql_query("UPDATE artifacts SET version = version + 5 WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(uuid::Uuid::parse_str(&kept).unwrap())
        .execute(&mut conn)
        .await
        .unwrap();
    diesel::sql_query("DELETE FROM artifacts WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(uuid::Uuid::parse_str(&doomed).unwrap())
        .execute(&mut conn)
        .await
        .unwrap();
    let verify = crate::cli::run_kgnode(&node.database, &node.data_dir, &["index", "verify"]).await;
    assert!(
        matches!(verify, Err(kgnode::cli::CliError::IndexDiffers(2))),
        "{verify:?}"
    );

    let output = crate::cli::run_kgnode(&node.database, &node.data_dir, &["reindex"])
        .await
        .unwrap();
    assert!(output.contains("rebuilt"), "{output}");
    assert!(!node.data_dir.join("search.new").exists());
    crate::cli::run_kgnode(&node.database, &node.data_dir, &["index", "verify"])
        .await
        .unwrap();
    node.restart().await;
    search_until(&node, "q=orchard", As::Anonymous, &[&kept]).await;
}

#[tokio::test]
async fn an_unreadable_index_is_rebuilt_on_start() {
    let mut node = spawn_node().await;
    node.convergence("c1", "public").await;
    let id = node
        .artifact("c1", json!({"kind": "idea", "title": "beehives"}))
        .await;
    search_until(&node, "q=beehives", As::Anonymous, &[&id]).await;
    node.stop().await;
    std::fs::write(
        node.data_dir.join("search").join("meta.json"),
        b"{ not json",
    )
    .unwrap();
    node.restart().await;
    search_until(&node, "q=beehives", As::Anonymous, &[&id]).await;
}

/// A node whose index must be rebuilt is not ready, and does not answer searches, until the
/// whole index is there: never a silently partial count.
#[tokio::test]
async fn readiness_waits_for_the_search_index_to_be_rebuilt() {
    let mut node = spawn_node().await;
    node.convergence("c1", "public").await;
    for chunk in 0..3 {
        let artifacts: Vec<_> = (0..1000)
            .map(|i| {
                json!({"key": format!("k{i}"), "kind": "idea",
                            "title": format!("seedling {chunk} {i}")})
            })
            .collect();
        node.post(
            "/api/v1/convergences/c1/batch",
            json!({"artifacts": artifacts}),
        )
        .await
        .expect(201);
    }
    node.stop().await;
    std::fs::remove_dir_all(node.data_dir.join("search")).unwrap();
    // `restart` returns once `/readyz` answers 200.
    node.restart().await;
    let body = node
        .get("/api/v1/search?q=seedling&facets=false&limit=1")
        .await
        .expect(200)
        .body;
    assert_eq!(body["estimated_total"], 3000, "{body}");
}
