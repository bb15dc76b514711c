use serde_json::{Value, json};

use crate::harness::{As, TestNode, eventually, spawn_node};

/// A, B, C in `c1`, D alone in `c1`, E in private `c2`:
/// A -supports 0.5-> B -extends 1.0-> C, A -relates_to 0.1-> C, A -part_of-> E.
struct Fixture {
    a: String,
    b: String,
    c: String,
    d: String,
    e: String,
    ab: String,
}

async fn fixture(node: &TestNode) -> Fixture {
    node.convergence("c1", "public").await;
    node.convergence("c2", "private").await;
    let artifact = |title: &str| json!({"kind": "claim", "title": title});
    let a = node.artifact("c1", artifact("A")).await;
    let b = node.artifact("c1", artifact("B")).await;
    let c = node.artifact("c1", artifact("C")).await;
    let d = node.artifact("c1", artifact("D")).await;
    let e = node.artifact("c2", artifact("E")).await;
    let edge = |s: &str, t: &str, kind: &str, weight: f64| json!({"source": s, "target": t, "kind": kind, "weight": weight});
    let ab = node
        .post("/api/v1/relationships", edge(&a, &b, "supports", 0.5))
        .await
        .expect(201)
        .id();
    node.post("/api/v1/relationships", edge(&b, &c, "extends", 1.0))
        .await
        .expect(201);
    node.post("/api/v1/relationships", edge(&a, &c, "relates_to", 0.1))
        .await
        .expect(201);
    node.post("/api/v1/relationships", edge(&a, &e, "part_of", 1.0))
        .await
        .expect(201);
    Fixture { a, b, c, d, e, ab }
}

fn node_ids(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .map(|n| n["id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
    ids.sort();
    ids
}

/// Waits until the graph holds `edges` relationships visible to the admin.
async fn wait_for_edges(node: &TestNode, edges: usize) {
    eventually(&format!("{edges} relationships in the graph"), || async {
        let body = node
            .get_as("/api/v1/graph/export?format=json", As::Admin)
            .await
            .expect(200)
            .body;
        (body["edges"].as_array().map(Vec::len) == Some(edges)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn traversals_on_a_hand_made_graph() {
    let node = spawn_node().await;
    let f = fixture(&node).await;
    wait_for_edges(&node, 4).await;

    let around_a = node
        .get(&format!(
            "/api/v1/graph/neighborhood/{}?depth=1&direction=out",
            f.a
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(
        node_ids(&around_a),
        sorted(&[&f.a, &f.b, &f.c]),
        "E is private"
    );
    assert_eq!(
        around_a["nodes"][0]["id"],
        f.a.as_str(),
        "the centre comes first"
    );
    assert_eq!(around_a["nodes"][0]["depth"], 0);
    assert_eq!(around_a["nodes"][0]["convergence"], "c1");
    assert_eq!(around_a["edges"].as_array().unwrap().len(), 3);
    let only_supports = node
        .get(&format!(
            "/api/v1/graph/neighborhood/{}?kinds=supports",
            f.a
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(node_ids(&only_supports), sorted(&[&f.a, &f.b]));
    let into_c = node
        .get(&format!(
            "/api/v1/graph/neighborhood/{}?direction=in&depth=2",
            f.c
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(node_ids(&into_c), sorted(&[&f.a, &f.b, &f.c]));

    // Fewest hops: A -> C directly. Least cost: A -> B -> C costs 2 + 1 < 10.
    let hops = node
        .get(&format!("/api/v1/graph/path?from={}&to={}", f.a, f.c))
        .await
        .expect(200)
        .body;
    assert_eq!(hops["hops"], 1);
    assert!((hops["cost"].as_f64().unwrap() - 10.0).abs() < 1e-9);
    let cheap = node
        .get(&format!(
            "/api/v1/graph/path?from={}&to={}&weighted=true",
            f.a, f.c
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(cheap["hops"], 2);
    assert!((cheap["cost"].as_f64().unwrap() - 3.0).abs() < 1e-9);
    assert_eq!(cheap["nodes"][1]["id"], f.b.as_str());
    node.get(&format!("/api/v1/graph/path?from={}&to={}", f.c, f.a))
        .await
        .expect_error(404, "not_found");
    node.get(&format!(
        "/api/v1/graph/path?from={}&to={}&direction=both",
        f.c, f.a
    ))
    .await
    .expect(200);
    node.get(&format!("/api/v1/graph/path?from={}&to={}", f.a, f.d))
        .await
        .expect_error(404, "not_found");

    let components = node
        .get("/api/v1/graph/components?convergence=c1")
        .await
        .expect(200)
        .body;
    assert_eq!(components["count"], 2);
    assert_eq!(components["sizes"], json!([3, 1]));
    assert_eq!(components["components"][1], json!([f.d]));

    let degree = node
        .get("/api/v1/graph/centrality?algorithm=degree&top=1")
        .await
        .expect(200)
        .body;
    assert_eq!(degree["top"][0]["id"], f.a.as_str());
    assert_eq!(degree["top"][0]["out_degree"], 2);
    let ranks = node
        .get("/api/v1/graph/centrality?algorithm=pagerank&top=10")
        .await
        .expect(200)
        .body;
    assert_eq!(ranks["artifacts"], 4);
    let total: f64 = ranks["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["score"].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-6, "{ranks}");
    assert_eq!(
        ranks["top"][0]["id"],
        f.c.as_str(),
        "C collects the most rank"
    );

    let graphml = node
        .client
        .get(node.url("/api/v1/graph/export?format=graphml"))
        .send()
        .await
        .unwrap();
    assert_eq!(graphml.headers()["content-type"], "application/graphml+xml");
    let graphml = graphml.text().await.unwrap();
    assert!(graphml.contains("<graphml") && graphml.contains(&f.a) && !graphml.contains(&f.e));
    // Convergences are named by slug, as in the rest of the API.
    assert!(
        graphml.contains("<data key=\"n_convergence\">c1</data>"),
        "{graphml}"
    );
    let nodes = node
        .client
        .get(node.url("/api/v1/graph/export?format=csv_nodes"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        nodes.contains(&format!("{},\"A\",claim,c1", f.a)),
        "{nodes}"
    );
    let csv = node
        .client
        .get(node.url("/api/v1/graph/export?format=csv"))
        .send()
        .await
        .unwrap();
    assert!(
        csv.text()
            .await
            .unwrap()
            .starts_with("id,source,target,kind,weight")
    );
}

#[tokio::test]
async fn private_artifacts_and_edges_need_a_token() {
    let node = spawn_node().await;
    let f = fixture(&node).await;
    wait_for_edges(&node, 4).await;
    let token = node.convergence_token("c2").await;
    node.get(&format!("/api/v1/graph/neighborhood/{}", f.e))
        .await
        .expect_error(404, "not_found");
    let seen = node
        .get_as(
            &format!("/api/v1/graph/neighborhood/{}", f.a),
            As::Token(&token),
        )
        .await
        .expect(200)
        .body;
    assert!(node_ids(&seen).contains(&f.e));
    node.get(&format!("/api/v1/graph/path?from={}&to={}", f.a, f.e))
        .await
        .expect(404);
    node.get_as(
        &format!("/api/v1/graph/path?from={}&to={}", f.a, f.e),
        As::Token(&token),
    )
    .await
    .expect(200);
    node.get("/api/v1/graph/components?convergence=c2")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn writes_are_followed_and_a_restart_reloads_the_graph() {
    let mut node = spawn_node().await;
    let f = fixture(&node).await;
    wait_for_edges(&node, 4).await;
    node.delete(&format!("/api/v1/relationships/{}", f.ab))
        .await
        .expect(204);
    wait_for_edges(&node, 3).await;
    let cheap = node
        .get(&format!(
            "/api/v1/graph/path?from={}&to={}&weighted=true",
            f.a, f.c
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(cheap["hops"], 1, "only the direct edge is left");
    node.delete(&format!("/api/v1/artifacts/{}", f.c))
        .await
        .expect(204);
    eventually("C to leave the graph", || async {
        let reply = node
            .get(&format!("/api/v1/graph/neighborhood/{}", f.c))
            .await;
        (reply.status == 404).then_some(())
    })
    .await;

    node.restart().await;
    let around_a = node
        .get_as(&format!("/api/v1/graph/neighborhood/{}", f.a), As::Admin)
        .await
        .expect(200)
        .body;
    assert_eq!(node_ids(&around_a), sorted(&[&f.a, &f.e]));
}

#[tokio::test]
async fn readers_see_whole_batches_only() {
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    // Each batch writes a chain of 300 artifacts in one transaction (599 changes): readers must
    // see all of a chain or none of it, never part of one.
    let chain = |n: usize| {
        let artifacts: Vec<Value> = (0..300)
            .map(|i| json!({"key": format!("k{i}"), "kind": "idea", "title": format!("{n}-{i}")}))
            .collect();
        let relationships: Vec<Value> = (0..299)
            .map(|i| json!({"source": format!("k{i}"), "target": format!("k{}", i + 1), "kind": "extends"}))
            .collect();
        json!({"artifacts": artifacts, "relationships": relationships})
    };
    let writer = async {
        for n in 0..8 {
            node.post("/api/v1/convergences/c1/batch", chain(n))
                .await
                .expect(201);
        }
    };
    let reader = async {
        let mut observations = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "the graph did not show all 8 batches within 60 s"
            );
            let body = node
                .get("/api/v1/graph/components?limit=1000")
                .await
                .expect(200)
                .body;
            let sizes: Vec<u64> = body["sizes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_u64().unwrap())
                .collect();
            assert!(
                sizes.iter().all(|size| *size == 300),
                "a partial batch was visible: {sizes:?}"
            );
            observations += 1;
            if sizes.len() == 8 {
                return observations;
            }
        }
    };
    let ((), observations) = tokio::join!(writer, reader);
    assert!(observations > 1);
}

#[tokio::test]
async fn bad_graph_parameters_are_4xx() {
    let node = spawn_node().await;
    let f = fixture(&node).await;
    wait_for_edges(&node, 4).await;
    let unknown = uuid::Uuid::now_v7();
    let cases = [
        (format!("/api/v1/graph/neighborhood/{}?depth=0", f.a), 400),
        (format!("/api/v1/graph/neighborhood/{}?depth=10", f.a), 400),
        (
            format!("/api/v1/graph/neighborhood/{}?direction=sideways", f.a),
            400,
        ),
        (
            format!("/api/v1/graph/neighborhood/{}?kinds=likes", f.a),
            400,
        ),
        (format!("/api/v1/graph/neighborhood/{}?limit=0", f.a), 400),
        (format!("/api/v1/graph/neighborhood/{unknown}"), 404),
        ("/api/v1/graph/neighborhood/not-a-uuid".to_owned(), 400),
        (format!("/api/v1/graph/path?from={}&to={unknown}", f.a), 404),
        (format!("/api/v1/graph/path?from={}", f.a), 400),
        (
            "/api/v1/graph/centrality?algorithm=betweenness".to_owned(),
            400,
        ),
        ("/api/v1/graph/centrality?top=0".to_owned(), 400),
        ("/api/v1/graph/centrality?convergence=nope".to_owned(), 404),
        ("/api/v1/graph/export?format=gexf".to_owned(), 400),
        ("/api/v1/graph/components?limit=0".to_owned(), 400),
    ];
    for (path, status) in cases {
        let reply = node.get(&path).await;
        assert_eq!(reply.status.as_u16(), status, "{path}: {}", reply.body);
        assert!(
            reply.body["error"]["code"].is_string(),
            "{path}: {}",
            reply.body
        );
    }
}
