use reqwest::Method;
use serde_json::json;

use crate::harness::{As, reply, spawn_node};

#[tokio::test]
async fn artifact_lifecycle_with_optimistic_concurrency() {
    let node = spawn_node().await;
    node.convergence("boulder-2026", "public").await;
    let created = node
        .post(
            "/api/v1/convergences/boulder-2026/artifacts",
            json!({"kind": "proposal", "title": "Community garden on the north lot",
                   "body": "Plant *beans*.", "author": "ana",
                   "dimensions": {" Food-Security ": 0.8, "land-use": 0.4}}),
        )
        .await
        .expect(201);
    let id = created.id();
    assert_eq!(
        created.header("location"),
        Some(node.url(&format!("/api/v1/artifacts/{id}")).as_str())
    );
    assert_eq!(created.header("etag"), Some("\"1\""));
    let body = &created.body;
    assert_eq!(body["convergence"], "boulder-2026");
    assert_eq!(body["kind"], "proposal");
    assert_eq!(body["title"], "Community garden on the north lot");
    assert_eq!(body["body"], "Plant *beans*.");
    assert_eq!(body["author"], "ana");
    assert_eq!(
        body["dimensions"],
        json!({"food-security": 0.8, "land-use": 0.4})
    );
    assert_eq!(body["version"], 1);
    assert_eq!(body["created_at"], body["updated_at"]);

    let path = format!("/api/v1/artifacts/{id}");
    let read = node.get(&path).await.expect(200);
    assert_eq!(read.body["dimensions"], created.body["dimensions"]);
    assert_eq!(read.header("etag"), Some("\"1\""));
    // One precision (PostgreSQL's microseconds): what the write answered is what reads return.
    assert_eq!(read.body["created_at"], created.body["created_at"]);

    // PATCH with If-Match.
    let patched = node
        .client
        .patch(node.url(&path))
        .bearer_auth(&node.admin_token)
        .header("If-Match", "\"1\"")
        .json(&json!({"title": "Garden", "dimensions": {"food-security": 0.9}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_eq!(patched.headers()["etag"], "\"2\"");
    let patched: serde_json::Value = patched.json().await.unwrap();
    assert_eq!(patched["version"], 2);
    assert_eq!(patched["title"], "Garden");
    assert_eq!(patched["body"], "Plant *beans*.");
    assert_eq!(patched["dimensions"], json!({"food-security": 0.9}));

    // A stale version (in the body) is refused and changes nothing.
    node.patch(&path, json!({"version": 1, "title": "Lost update"}))
        .await
        .expect_error(412, "stale_version");
    // A version that cannot exist is invalid, not stale.
    node.patch(&path, json!({"version": -1, "title": "Nonsense"}))
        .await
        .expect_error(422, "unprocessable");
    // A subnormal weight cannot be stored faithfully.
    node.patch(&path, json!({"version": 2, "dimensions": {"tiny": 1e-320}}))
        .await
        .expect(422);
    // No version at all is refused too.
    node.patch(&path, json!({"title": "Blind update"}))
        .await
        .expect_error(428, "version_required");
    let after = node.get(&path).await.expect(200).body;
    assert_eq!(after["title"], "Garden");
    assert_eq!(after["version"], 2);

    // Delete (with a stale version first), then it is gone.
    node.delete(&format!("{path}?version=1"))
        .await
        .expect_error(412, "stale_version");
    node.delete(&path).await.expect(204);
    node.get(&path).await.expect_error(410, "deleted");
    node.patch(&path, json!({"version": 3, "title": "Zombie"}))
        .await
        .expect_error(410, "deleted");
    let listed = node
        .get("/api/v1/convergences/boulder-2026/artifacts")
        .await
        .expect(200);
    assert_eq!(listed.body["items"], json!([]));
}

#[tokio::test]
async fn listing_filters_by_kind_and_dimension_and_pages_stably() {
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let kind = if i % 2 == 0 { "idea" } else { "question" };
        let dimensions = if i % 3 == 0 {
            json!({"water": 0.5})
        } else {
            json!({})
        };
        ids.push(
            node.artifact(
                "c1",
                json!({"kind": kind, "title": format!("a{i}"), "dimensions": dimensions}),
            )
            .await,
        );
    }
    let collect = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    };

    // Pages of 3 walk all seven in creation order, with no repeats or gaps.
    let mut walked = Vec::new();
    let mut path = "/api/v1/convergences/c1/artifacts?limit=3".to_owned();
    loop {
        let page = node.get(&path).await.expect(200).body;
        walked.extend(collect(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/api/v1/convergences/c1/artifacts?limit=3&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(walked, ids);

    let ideas = node
        .get("/api/v1/convergences/c1/artifacts?kind=idea")
        .await
        .expect(200)
        .body;
    let expected: Vec<String> = ids.iter().step_by(2).cloned().collect();
    assert_eq!(collect(&ideas), expected);

    let water = node
        .get("/api/v1/convergences/c1/artifacts?dimension=Water")
        .await
        .expect(200)
        .body;
    let expected: Vec<String> = ids.iter().step_by(3).cloned().collect();
    assert_eq!(collect(&water), expected);

    let both = node
        .get("/api/v1/convergences/c1/artifacts?kind=idea&dimension=water")
        .await
        .expect(200)
        .body;
    assert_eq!(collect(&both), vec![ids[0].clone(), ids[6].clone()]);
}

#[tokio::test]
async fn writes_need_a_token_for_the_convergence() {
    let node = spawn_node().await;
    node.convergence("mine", "public").await;
    node.convergence("theirs", "public").await;
    let token = node.convergence_token("mine").await;
    let artifact = json!({"kind": "idea", "title": "t"});
    let anonymous = node
        .send(
            Method::POST,
            "/api/v1/convergences/mine/artifacts",
            As::Anonymous,
            Some(&artifact),
        )
        .await
        .expect_error(401, "unauthenticated");
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    let bogus = node
        .send(
            Method::POST,
            "/api/v1/convergences/mine/artifacts",
            As::Token("kgn_bogus"),
            Some(&artifact),
        )
        .await
        .expect_error(401, "invalid_token");
    assert_eq!(
        bogus.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
    // The scheme is case-insensitive.
    let lower = node
        .client
        .post(node.url("/api/v1/convergences/mine/artifacts"))
        .header("Authorization", format!("bearer {token}"))
        .json(&artifact);
    reply(lower).await.expect(201);
    let id = node
        .send(
            Method::POST,
            "/api/v1/convergences/mine/artifacts",
            As::Token(&token),
            Some(&artifact),
        )
        .await
        .expect(201)
        .id();
    node.send(
        Method::POST,
        "/api/v1/convergences/theirs/artifacts",
        As::Token(&token),
        Some(&artifact),
    )
    .await
    .expect_error(403, "forbidden");
    let theirs = node.artifact("theirs", artifact.clone()).await;
    node.send(
        Method::PATCH,
        &format!("/api/v1/artifacts/{theirs}"),
        As::Token(&token),
        Some(&json!({"version": 1, "title": "mine now"})),
    )
    .await
    .expect_error(403, "forbidden");
    node.send(
        Method::DELETE,
        &format!("/api/v1/artifacts/{theirs}"),
        As::Token(&token),
        None,
    )
    .await
    .expect_error(403, "forbidden");
    node.send(
        Method::DELETE,
        &format!("/api/v1/artifacts/{id}"),
        As::Token(&token),
        None,
    )
    .await
    .expect(204);
}
