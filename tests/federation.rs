//! Federation between real nodes on loopback, each with its own port, database and data
//! directory: follow/accept, create/update/delete of artifacts and relationships reaching the
//! follower's API, search and graph, read-only mirrors, replays and late updates, unsigned and
//! forged inbox posts, a follower that was down, an origin restarting with a queue.

use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::run_kgnode;
use crate::fake_mastodon::FakeMastodon;
use crate::harness::{As, TestNode, eventually, spawn_node};

const ACTIVITY_JSON: &str = "application/activity+json";

/// `follower` follows `origin`'s public convergence `slug`; returns the mirror's local name.
async fn follow(origin: &TestNode, follower: &TestNode, slug: &str) -> String {
    let target = format!("{}/c/{slug}", origin.base);
    let reply = follower
        .post("/api/v1/admin/follows", json!({"target": target}))
        .await
        .expect(202);
    let mirror = reply.body["convergence"]
        .as_str()
        .expect("mirror name")
        .to_owned();
    assert_eq!(mirror, format!("{slug}@localhost:{}", origin.port()));
    eventually("the follow to be accepted", || async {
        let follows = follower
            .get_as("/api/v1/admin/follows", As::Admin)
            .await
            .expect(200);
        (follows.body["items"][0]["state"] == "accepted").then_some(())
    })
    .await;
    // The origin queues what the convergence already holds (the backfill) shortly after it
    // accepts: let that finish, so that what a test writes next reaches the follower live only.
    eventually("the origin to queue the follower's backfill", || async {
        (origin.count("federation_backfills").await == 0).then_some(())
    })
    .await;
    mirror
}

/// The follower's copies in `mirror`, by title.
async fn titles(node: &TestNode, mirror: &str) -> Vec<String> {
    let reply = node
        .get(&format!(
            "/api/v1/convergences/{mirror}/artifacts?limit=500"
        ))
        .await
        .expect(200);
    let mut titles: Vec<String> = reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["title"].as_str().unwrap_or_default().to_owned())
        .collect();
    titles.sort();
    titles
}

/// The follower's copy of the artifact titled `title` in `mirror`.
async fn copy(node: &TestNode, mirror: &str, title: &str) -> Option<Value> {
    let reply = node
        .get(&format!(
            "/api/v1/convergences/{mirror}/artifacts?limit=500"
        ))
        .await
        .expect(200);
    reply.body["items"]
        .as_array()?
        .iter()
        .find(|item| item["title"] == title)
        .cloned()
}

/// The relationships of the node's artifact `id`, once there are any.
async fn arrived_relationships(node: &TestNode, id: &str) -> Vec<Value> {
    eventually("relationships to arrive", || async {
        let reply = node
            .get(&format!("/api/v1/artifacts/{id}/relationships"))
            .await
            .expect(200);
        let items = reply.body["items"].as_array()?.clone();
        (!items.is_empty()).then_some(items)
    })
    .await
}

/// Waits until `node` has delivered everything it queued (`what` names the wait).
async fn wait_for_empty_queue(node: &TestNode, what: &str) {
    eventually(what, || async {
        let queue = node
            .get_as("/api/v1/admin/federation", As::Admin)
            .await
            .expect(200);
        (queue.body["total_backlog"] == 0).then_some(())
    })
    .await;
}

async fn wait_for_titles(node: &TestNode, mirror: &str, expected: &[&str]) {
    let mut expected: Vec<String> = expected.iter().map(|t| (*t).to_owned()).collect();
    expected.sort();
    eventually(
        "the follower to hold exactly the origin's artifacts",
        || {
            let expected = expected.clone();
            async move { (titles(node, mirror).await == expected).then_some(()) }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_and_relationships_flow_to_a_follower_and_stay_read_only() {
    let origin = spawn_node().await;
    let follower = spawn_node().await;
    origin.convergence("ideas", "public").await;
    // What the convergence held before the follow is sent too (backfill).
    let planted = origin
        .artifact(
            "ideas",
            json!({"kind": "resource", "title": "Planted before"}),
        )
        .await;
    let mirror = follow(&origin, &follower, "ideas").await;
    wait_for_titles(&follower, &mirror, &["Planted before"]).await;
    origin
        .delete(&format!("/api/v1/artifacts/{planted}"))
        .await
        .expect(204);

    let solar = origin
        .artifact(
            "ideas",
            json!({"kind": "idea", "title": "Solar commons", "body": "Shared rooftop panels",
                   "author": "Ada", "dimensions": {"energy": 0.9}}),
        )
        .await;
    let grid = origin
        .artifact(
            "ideas",
            json!({"kind": "question", "title": "Who owns the grid?"}),
        )
        .await;
    let edge = origin
        .post(
            "/api/v1/relationships",
            json!({"source": solar, "target": grid, "kind": "answers", "weight": 0.5}),
        )
        .await
        .expect(201)
        .id();
    wait_for_titles(&follower, &mirror, &["Solar commons", "Who owns the grid?"]).await;

    let copy_of_solar = copy(&follower, &mirror, "Solar commons")
        .await
        .expect("copy");
    assert_eq!(copy_of_solar["dimensions"]["energy"], 0.9);
    assert_eq!(copy_of_solar["author"], "Ada");
    let local_solar = copy_of_solar["id"].as_str().expect("id").to_owned();
    let relationships = arrived_relationships(&follower, &local_solar).await;
    assert_eq!(relationships[0]["kind"], "answers");

    // Search and graph on the follower see the copies.
    eventually("the copy to be searchable", || async {
        let reply = follower.get("/api/v1/search?q=rooftop").await.expect(200);
        (reply.body["hits"][0]["title"] == "Solar commons").then_some(())
    })
    .await;
    eventually("the copy to be in the graph", || async {
        let reply = follower
            .get(&format!("/api/v1/graph/neighborhood/{local_solar}?depth=1"))
            .await;
        (reply.status == 200 && reply.body["nodes"].as_array()?.len() == 2).then_some(())
    })
    .await;

    // Copies are read-only for the follower's users, even with a node token.
    follower
        .send(
            Method::PATCH,
            &format!("/api/v1/artifacts/{local_solar}"),
            As::Admin,
            Some(&json!({"title": "Hijacked", "version": 1})),
        )
        .await
        .expect_error(403, "forbidden");
    follower
        .post(
            &format!("/api/v1/convergences/{mirror}/artifacts"),
            json!({"kind": "idea", "title": "Smuggled"}),
        )
        .await
        .expect_error(403, "forbidden");

    // An update on the origin reaches the copy with the origin's version.
    origin
        .patch(
            &format!("/api/v1/artifacts/{solar}"),
            json!({"title": "Solar commons, revised", "version": 1}),
        )
        .await
        .expect(200);
    wait_for_titles(
        &follower,
        &mirror,
        &["Solar commons, revised", "Who owns the grid?"],
    )
    .await;
    let revised = copy(&follower, &mirror, "Solar commons, revised")
        .await
        .expect("copy");
    assert_eq!(revised["version"], 2);

    // Deleting the relationship, then an artifact, reaches the follower too.
    origin
        .delete(&format!("/api/v1/relationships/{edge}"))
        .await
        .expect(204);
    eventually("the relationship to disappear", || async {
        let reply = follower
            .get(&format!("/api/v1/artifacts/{local_solar}/relationships"))
            .await
            .expect(200);
        reply.body["items"].as_array()?.is_empty().then_some(())
    })
    .await;
    origin
        .delete(&format!("/api/v1/artifacts/{grid}"))
        .await
        .expect(204);
    wait_for_titles(&follower, &mirror, &["Solar commons, revised"]).await;

    // The origin answers for deleted objects with a Tombstone.
    let tombstone = origin
        .client
        .get(format!("{}/artifacts/{grid}", origin.base))
        .header("Accept", ACTIVITY_JSON)
        .send()
        .await
        .expect("fetch");
    assert_eq!(tombstone.status(), 410);
    let body: Value = tombstone.json().await.expect("json");
    assert_eq!(body["type"], "Tombstone");
    let gone_edge = origin
        .client
        .get(format!("{}/relationships/{edge}", origin.base))
        .send()
        .await
        .expect("fetch");
    assert_eq!(gone_edge.status(), 410);

    // The origin's queue is drained.
    let queue = origin
        .get_as("/api/v1/admin/federation", As::Admin)
        .await
        .expect(200);
    assert_eq!(queue.body["total_backlog"], 0, "{}", queue.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_stale_updates_and_late_updates_after_delete_change_nothing() {
    let origin = spawn_node().await;
    let follower = spawn_node().await;
    origin.convergence("ideas", "public").await;
    let mirror = follow(&origin, &follower, "ideas").await;
    let kept = origin
        .artifact("ideas", json!({"kind": "idea", "title": "Kept v1"}))
        .await;
    let doomed = origin
        .artifact("ideas", json!({"kind": "idea", "title": "Doomed"}))
        .await;
    // The origin announces an object deleted before its change is processed by its `Delete`
    // alone: let both creations reach the follower first, so that four announces exist to replay.
    wait_for_titles(&follower, &mirror, &["Doomed", "Kept v1"]).await;
    origin
        .patch(
            &format!("/api/v1/artifacts/{kept}"),
            json!({"title": "Kept v2", "version": 1}),
        )
        .await
        .expect(200);
    origin
        .delete(&format!("/api/v1/artifacts/{doomed}"))
        .await
        .expect(204);
    wait_for_titles(&follower, &mirror, &["Kept v2"]).await;
    // Measure only once all four announces are queued and delivered.
    eventually("the origin to queue its four announces", || async {
        let queued = origin
            .count("federation_activities WHERE payload->>'type' = 'Announce'")
            .await;
        (queued == 4).then_some(())
    })
    .await;
    wait_for_empty_queue(&origin, "the origin to deliver its announces").await;
    let artifacts_before = follower.count("artifacts").await;
    let changes_before = follower.count("change_log").await;

    // Replay: the origin delivers its whole queue again, in order.
    let mut conn = origin.database.connect().await;
    use diesel_async::RunQueryDsl;
    diesel::sql_query("UPDATE federation_deliveries SET delivered_through = 0")
        .execute(&mut conn)
        .await
        .expect("rewind");
    // Stale and late: the first Create of "Kept" (version 1) and of "Doomed" (deleted since)
    // queued again under fresh activity ids, as a confused or malicious origin might.
    diesel::sql_query(
        "INSERT INTO federation_activities (activity_url, actor_path, convergence_id, payload) \
         SELECT activity_url || '-again', actor_path, convergence_id, \
                jsonb_set(jsonb_set(payload, '{id}', to_jsonb(activity_url || '-again')), \
                          '{object,id}', to_jsonb((payload->'object'->>'id') || '-again')) \
         FROM federation_activities \
         WHERE payload->'object'->>'type' = 'Create' AND payload->'object'->'object'->>'type' = 'Article' \
         ORDER BY id",
    )
    .execute(&mut conn)
    .await
    .expect("requeue");
    wait_for_empty_queue(&origin, "the origin to deliver everything again").await;
    assert_eq!(titles(&follower, &mirror).await, ["Kept v2"]);
    assert_eq!(follower.count("artifacts").await, artifacts_before);
    assert_eq!(
        follower.count("change_log").await,
        changes_before,
        "replayed, stale and late activities must not write anything"
    );
    let kept_copy = copy(&follower, &mirror, "Kept v2").await.expect("copy");
    assert_eq!(kept_copy["version"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_and_forged_inbox_posts_are_refused_and_store_nothing() {
    let origin = spawn_node().await;
    let follower = spawn_node().await;
    origin.convergence("ideas", "public").await;
    let mirror = follow(&origin, &follower, "ideas").await;
    let group = format!("{}/c/ideas", origin.base);
    let announce = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Announce",
        "id": format!("{}/activities/forged-1", origin.base),
        "actor": group,
        "object": {
            "type": "Create",
            "id": format!("{}/activities/forged-2", origin.base),
            "actor": group,
            "audience": group,
            "object": {
                "type": "Article", "id": format!("{}/artifacts/forged", origin.base),
                "name": "Forged", "artifactKind": "idea", "version": 1,
                "audience": group, "attributedTo": group,
                "published": "2026-01-01T00:00:00Z"
            }
        }
    });
    let body = announce.to_string();
    let inbox = format!("{}/inbox", follower.base);
    let unsigned = follower
        .client
        .post(&inbox)
        .header("Content-Type", ACTIVITY_JSON)
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(unsigned.status(), 401);

    use base64::Engine;
    use sha2::Digest;
    let digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&body));
    let date = httpdate();
    let forged = follower
        .client
        .post(&inbox)
        .header("Content-Type", ACTIVITY_JSON)
        .header("Date", date)
        .header("Digest", format!("SHA-256={digest}"))
        .header(
            "Signature",
            format!(
                "keyId=\"{group}#main-key\",algorithm=\"rsa-sha256\",\
                 headers=\"(request-target) host date digest\",signature=\"{}\"",
                base64::engine::general_purpose::STANDARD.encode([7u8; 256])
            ),
        )
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 401);
    let error: Value = forged.json().await.expect("json error");
    assert_eq!(error["error"]["code"], "invalid_signature");

    // A sender's fault is a 401 before anything is fetched, never a 5xx that senders retry:
    // no signature (with a digest, from an actor nobody can reach), a stale or future Date.
    let signature = format!(
        "keyId=\"{group}#main-key\",algorithm=\"rsa-sha256\",\
         headers=\"(request-target) host date digest\",signature=\"{}\"",
        base64::engine::general_purpose::STANDARD.encode([7u8; 256])
    );
    let mut unreachable = announce.clone();
    unreachable["actor"] = json!("http://localhost:9/users/nobody");
    let hour = chrono::Duration::hours(1);
    let dated = |offset: chrono::Duration| {
        (chrono::Utc::now() + offset)
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string()
    };
    let cases = [
        (unreachable.to_string(), None, httpdate()),
        (announce.to_string(), Some(&signature), dated(-hour * 2)),
        (announce.to_string(), Some(&signature), dated(hour * 2)),
        (
            announce.to_string(),
            Some(&signature),
            "yesterday".to_owned(),
        ),
    ];
    for (body, signature, date) in cases {
        let digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&body));
        let mut request = follower
            .client
            .post(&inbox)
            .header("Content-Type", ACTIVITY_JSON)
            .header("Date", &date)
            .header("Digest", format!("SHA-256={digest}"));
        if let Some(signature) = signature {
            request = request.header("Signature", signature);
        }
        let refused = request.body(body).send().await.expect("post");
        assert_eq!(refused.status(), 401, "Date {date}");
        let error: Value = refused.json().await.expect("json error");
        assert_eq!(error["error"]["code"], "invalid_signature", "{error}");
    }
    assert!(titles(&follower, &mirror).await.is_empty());
    assert_eq!(follower.count("received_activities").await, 0);
}

/// The current time as an HTTP date.
fn httpdate() -> String {
    chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_was_down_gets_everything_even_across_an_origin_restart() {
    let mut origin = spawn_node().await;
    let mut follower = spawn_node().await;
    origin.convergence("ideas", "public").await;
    let mirror = follow(&origin, &follower, "ideas").await;

    follower.stop().await;
    let items: Vec<Value> = (0..25)
        .map(|i| json!({"key": format!("a{i}"), "kind": "idea", "title": format!("Idea {i:02}")}))
        .collect();
    origin
        .post(
            "/api/v1/convergences/ideas/batch",
            json!({"artifacts": items}),
        )
        .await
        .expect(201);
    let failing = eventually("deliveries to fail while the follower is down", || async {
        let queue = origin
            .get_as("/api/v1/admin/federation", As::Admin)
            .await
            .expect(200);
        let peer = queue.body["peers"].as_array()?.first()?.clone();
        (peer["failures"].as_i64()? > 0 && peer["backlog"].as_i64()? > 0).then_some(peer)
    })
    .await;
    assert!(failing["last_error"].is_string(), "{failing}");

    // The origin restarts with a non-empty queue, then the follower comes back.
    origin.restart().await;
    follower.restart().await;
    let expected: Vec<String> = (0..25).map(|i| format!("Idea {i:02}")).collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    wait_for_titles(&follower, &mirror, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_answer_webfinger_nodeinfo_and_activity_json_and_private_ones_stay_hidden() {
    let node = spawn_node().await;
    node.convergence("ideas", "public").await;
    node.convergence("secret", "private").await;
    let one = node
        .artifact(
            "ideas",
            json!({"kind": "idea", "title": "One", "author": "Ada"}),
        )
        .await;
    // Private data is not counted for anonymous readers of NodeInfo.
    let hidden = node
        .artifact(
            "secret",
            json!({"kind": "idea", "title": "Two", "author": "Bob"}),
        )
        .await;
    node.post(
        "/api/v1/relationships",
        json!({"source": one, "target": hidden, "kind": "supports"}),
    )
    .await
    .expect(201);
    let host = format!("localhost:{}", node.port());

    let finger = node
        .get(&format!(
            "/.well-known/webfinger?resource=acct:ideas@{host}"
        ))
        .await
        .expect(200);
    let self_link = finger.body["links"]
        .as_array()
        .expect("links")
        .iter()
        .find(|link| link["rel"] == "self")
        .expect("self link")["href"]
        .as_str()
        .expect("href")
        .to_owned();
    assert_eq!(self_link, format!("{}/c/ideas", node.base));
    assert_eq!(
        finger.body["links"].as_array().map(Vec::len),
        Some(1),
        "no profile-page link while the actor has no HTML page: {}",
        finger.body
    );
    node.get(&format!(
        "/.well-known/webfinger?resource=acct:secret@{host}"
    ))
    .await
    .expect(404);
    assert_eq!(finger.header("access-control-allow-origin"), Some("*"));
    // Authors and the node's own actor (by its host, without the port) resolve too, as
    // Mastodon checks for every actor it meets; anything else is unknown, not malformed.
    for (name, path, kind) in [
        ("Ada", "/people/Ada", "Person"),
        ("localhost", "/actor", "Application"),
    ] {
        let finger = node
            .get(&format!(
                "/.well-known/webfinger?resource=acct:{name}@{host}"
            ))
            .await
            .expect(200);
        let link = &finger.body["links"][0];
        assert_eq!(
            link["href"],
            format!("{}{path}", node.base),
            "{}",
            finger.body
        );
        assert_eq!(
            link["properties"]["https://www.w3.org/ns/activitystreams#type"],
            kind
        );
        let actor = node.get(path).await.expect(200);
        assert_eq!(actor.body["preferredUsername"], name);
        let outbox = actor.body["outbox"]
            .as_str()
            .expect("every actor has an outbox");
        let outbox = node.client.get(outbox).send().await.expect("outbox");
        assert_eq!(outbox.status(), 200);
        let outbox: Value = outbox.json().await.expect("json");
        assert_eq!(outbox["type"], "OrderedCollection");
        assert_eq!(outbox["totalItems"], if kind == "Person" { 1 } else { 0 });
    }
    for resource in [
        format!("acct:nobody@{host}"),
        "acct:ideas@elsewhere.example".to_owned(),
        "https://elsewhere.example/users/x".to_owned(),
    ] {
        let unknown = node
            .get(&format!("/.well-known/webfinger?resource={resource}"))
            .await
            .expect(404);
        assert_eq!(unknown.header("access-control-allow-origin"), Some("*"));
    }
    let context = node.get("/ns/context.jsonld").await.expect(200);
    assert_eq!(
        context.body["@context"]["manuallyApprovesFollowers"]["@id"],
        "as:manuallyApprovesFollowers"
    );

    for accept in [
        ACTIVITY_JSON,
        "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"",
    ] {
        let response = node
            .client
            .get(&self_link)
            .header("Accept", accept)
            // A signed GET without a Digest header, as Mastodon sends: still answered.
            .header(
                "Signature",
                "keyId=\"https://elsewhere.example/actor#main-key\",signature=\"x\"",
            )
            .send()
            .await
            .expect("fetch");
        assert_eq!(response.status(), 200);
        let text = response.text().await.expect("body");
        assert!(
            !text.contains("PRIVATE KEY"),
            "private keys are never served"
        );
        let group: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(group["type"], "Group");
        assert_eq!(group["preferredUsername"], "ideas");
        assert!(
            group["publicKey"]["publicKeyPem"]
                .as_str()
                .expect("pem")
                .contains("PUBLIC KEY")
        );
        assert!(group["@context"].to_string().contains("/ns/context.jsonld"));
    }
    node.get("/c/secret").await.expect(404);
    let person = node.get("/people/Ada").await.expect(200);
    assert_eq!(person.body["type"], "Person");

    let discovery = node.get("/.well-known/nodeinfo").await.expect(200);
    let href = discovery.body["links"][0]["href"]
        .as_str()
        .expect("href")
        .to_owned();
    let info = node
        .client
        .get(href)
        .send()
        .await
        .expect("nodeinfo")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(info["version"], "2.1");
    assert_eq!(info["protocols"][0], "activitypub");
    assert!(
        info["software"].get("repository").is_none(),
        "no placeholder repository: {info}"
    );
    assert_eq!(info["usage"]["localPosts"], 1);
    assert_eq!(info["usage"]["users"]["total"], 1);
    assert_eq!(info["metadata"]["convergences"], 1);
    assert_eq!(info["metadata"]["relationships"], 0);

    let context = node.get("/ns/context.jsonld").await.expect(200);
    assert_eq!(
        context.body["@context"]["weight"]["@id"], "kg:weight",
        "{}",
        context.body
    );

    // Following a private convergence is impossible.
    let other = spawn_node().await;
    other
        .post(
            "/api/v1/admin/follows",
            json!({"target": format!("{}/c/secret", node.base)}),
        )
        .await
        .expect(422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_fetch_unknown_relationship_ends_and_an_unfollow_stops_delivery() {
    let origin = spawn_node().await;
    let first = spawn_node().await;
    let second = spawn_node().await;
    origin.convergence("ideas", "public").await;
    origin.convergence("other", "public").await;
    let mirror = follow(&origin, &first, "ideas").await;
    assert_eq!(follow(&origin, &second, "ideas").await, mirror);

    // The relationship's target lives in a convergence nobody follows: followers fetch it.
    let target = origin
        .artifact("other", json!({"kind": "evidence", "title": "Field data"}))
        .await;
    let source = origin
        .artifact("ideas", json!({"kind": "claim", "title": "Yields rise"}))
        .await;
    origin
        .post(
            "/api/v1/relationships",
            json!({"source": source, "target": target, "kind": "depends_on"}),
        )
        .await
        .expect(201);
    let other_mirror = format!("other@localhost:{}", origin.port());
    for follower in [&first, &second] {
        wait_for_titles(follower, &mirror, &["Yields rise"]).await;
        let claim = copy(follower, &mirror, "Yields rise").await.expect("copy");
        let id = claim["id"].as_str().expect("id").to_owned();
        let edges = arrived_relationships(follower, &id).await;
        assert_eq!(edges[0]["kind"], "depends_on");
        assert_eq!(titles(follower, &other_mirror).await, ["Field data"]);
    }

    // The second follower leaves; only the first receives what comes next.
    second
        .delete(&format!("/api/v1/admin/follows/{mirror}"))
        .await
        .expect(204);
    eventually("the origin to drop the follower", || async {
        (origin.count("federation_followers").await == 1).then_some(())
    })
    .await;
    origin
        .artifact(
            "ideas",
            json!({"kind": "idea", "title": "Only for the first"}),
        )
        .await;
    wait_for_titles(&first, &mirror, &["Only for the first", "Yields rise"]).await;
    wait_for_empty_queue(&origin, "the origin's queue to drain").await;
    assert_eq!(titles(&second, &mirror).await, ["Yields rise"]);
    second
        .delete(&format!("/api/v1/admin/follows/{mirror}"))
        .await
        .expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_convergence_updates_its_mirrors() {
    let origin = spawn_node().await;
    let follower = spawn_node().await;
    origin.convergence("ideas", "public").await;
    let mirror = follow(&origin, &follower, "ideas").await;
    origin
        .patch(
            "/api/v1/convergences/ideas",
            json!({"name": "Ideas, renamed", "description": "Now with a description"}),
        )
        .await
        .expect(200);
    let renamed = eventually("the mirror to take the new name", || async {
        let reply = follower
            .get(&format!("/api/v1/convergences/{mirror}"))
            .await
            .expect(200);
        (reply.body["name"] == "Ideas, renamed").then_some(reply.body)
    })
    .await;
    assert_eq!(renamed["description"], "Now with a description");
    assert_eq!(renamed["slug"], mirror);
    // The mirror stays read-only: the rename came from the origin, not from a local user.
    follower
        .patch(
            &format!("/api/v1/convergences/{mirror}"),
            json!({"name": "Local edit"}),
        )
        .await
        .expect(403);
}

/// Alice follows the convergence `slug` with a Follow shaped as Mastodon sends it (an id
/// without a path hierarchy, a Person actor); returns the Follow's id once it is accepted.
async fn mastodon_follows(node: &TestNode, mastodon: &FakeMastodon, slug: &str) -> String {
    let group = format!("{}/c/{slug}", node.base);
    let follow_id = format!("{}/{}", mastodon.base, uuid::Uuid::new_v4());
    mastodon
        .send(
            json!({
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": follow_id,
                "type": "Follow",
                "actor": mastodon.alice(),
                "object": group,
            }),
            &format!("{}/inbox", node.base),
        )
        .await;
    let accept = mastodon.first_received("Accept").await;
    assert_eq!(accept["actor"], group);
    assert_eq!(accept["object"]["id"], follow_id);
    follow_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_answering_401_then_503_gets_everything_and_a_400_is_parked_at_once() {
    let node = spawn_node().await;
    node.convergence("ideas", "public").await;
    let mastodon = FakeMastodon::start().await;
    mastodon_follows(&node, &mastodon, "ideas").await;

    // A receiver that cannot check our key yet answers 401, then it is busy: both are retried
    // until it accepts (two answers: fewer than the test settings' park_after_refusals, whichever
    // activity gets both).
    mastodon.answer_next(&[401, 503]);
    for title in ["First", "Second", "Third"] {
        node.artifact("ideas", json!({"kind": "idea", "title": title}))
            .await;
    }
    eventually("every Announce to reach Alice", || async {
        let names = mastodon.announced_names();
        ["First", "Second", "Third"]
            .iter()
            .all(|title| names.iter().any(|name| name == title))
            .then_some(())
    })
    .await;
    wait_for_empty_queue(&node, "the queue to drain").await;
    let overview = node
        .get_as("/api/v1/admin/federation", As::Admin)
        .await
        .expect(200);
    assert_eq!(overview.body["total_parked"], 0, "{}", overview.body);

    // A 400 would be the same answer every time: parked at once with the peer's status and
    // answer, where the administrator sees it, and the next activity is delivered.
    mastodon.answer_next(&[400]);
    node.artifact("ideas", json!({"kind": "idea", "title": "Refused"}))
        .await;
    let parked = eventually("the refused Announce to be parked", || async {
        let parked = node
            .get_as("/api/v1/admin/federation/parked", As::Admin)
            .await
            .expect(200);
        parked.body["items"].get(0).cloned()
    })
    .await;
    assert_eq!(parked["status"], 400, "{parked}");
    assert_eq!(parked["attempts"], 1, "{parked}");
    assert_eq!(parked["type"], "Announce", "{parked}");
    let error = parked["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("scripted answer 400"), "{parked}");
    node.artifact("ideas", json!({"kind": "idea", "title": "After"}))
        .await;
    eventually("the next Announce to reach Alice", || async {
        mastodon
            .announced_names()
            .contains(&"After".to_owned())
            .then_some(())
    })
    .await;
    assert!(!mastodon.announced_names().contains(&"Refused".to_owned()));
    let overview = node
        .get_as("/api/v1/admin/federation", As::Admin)
        .await
        .expect(200);
    assert_eq!(overview.body["total_parked"], 1, "{}", overview.body);
    let peers = overview.body["peers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let peer = peers.iter().find(|peer| peer["inbox"] == parked["inbox"]);
    assert_eq!(
        peer.map(|peer| &peer["parked"]),
        Some(&json!(1)),
        "{peers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mastodon_style_follower_is_accepted_and_receives_announces() {
    let node = spawn_node().await;
    node.convergence("ideas", "public").await;
    let mastodon = FakeMastodon::start().await;
    let group = format!("{}/c/ideas", node.base);

    // Authorized fetch: a signed GET without a Digest header.
    let fetched = mastodon.signed_get(&group).await;
    assert_eq!(fetched["type"], "Group");

    let follow_id = mastodon_follows(&node, &mastodon, "ideas").await;

    node.artifact("ideas", json!({"kind": "idea", "title": "Hello fediverse"}))
        .await;
    let announce = mastodon.first_received("Announce").await;
    assert_eq!(announce["object"]["type"], "Create");
    assert_eq!(announce["object"]["object"]["type"], "Article");
    assert_eq!(announce["object"]["object"]["name"], "Hello fediverse");
    // Both activity ids dereference, the inner Create's too.
    for id in [&announce["id"], &announce["object"]["id"]] {
        let fetched = mastodon.signed_get(id.as_str().unwrap()).await;
        assert_eq!(&fetched["id"], id);
        assert!(fetched["@context"].is_array(), "{fetched}");
    }

    // A rename reaches Alice as the Group's Update of itself, as Mastodon sends profile updates.
    node.patch("/api/v1/convergences/ideas", json!({"name": "Big ideas"}))
        .await
        .expect(200);
    let update = mastodon.first_received("Update").await;
    assert_eq!(update["actor"], group);
    assert_eq!(update["object"]["type"], "Group");
    assert_eq!(update["object"]["name"], "Big ideas");
    assert!(update["object"]["publicKey"]["publicKeyPem"].is_string());

    // An Undo ends the follow; replaying the old Follow afterwards changes nothing.
    let follow = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": follow_id,
        "type": "Follow",
        "actor": mastodon.alice(),
        "object": group,
    });
    mastodon
        .send(
            json!({
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": format!("{follow_id}#undo"),
                "type": "Undo",
                "actor": mastodon.alice(),
                "object": {"id": follow_id, "type": "Follow", "actor": mastodon.alice(), "object": group},
            }),
            &format!("{group}/inbox"),
        )
        .await;
    assert_eq!(node.count("federation_followers").await, 0);
    mastodon.send(follow, &format!("{}/inbox", node.base)).await;
    assert_eq!(node.count("federation_followers").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_of_authors_or_the_node_are_rejected_and_an_undo_may_name_its_follow() {
    let node = spawn_node().await;
    node.convergence("ideas", "public").await;
    node.artifact(
        "ideas",
        json!({"kind": "idea", "title": "Hi", "author": "Ada"}),
    )
    .await;
    let mastodon = FakeMastodon::start().await;
    let follow = |object: String| {
        json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": format!("{}/{}", mastodon.base, uuid::Uuid::new_v4()),
            "type": "Follow",
            "actor": mastodon.alice(),
            "object": object,
        })
    };

    // Only convergences can be followed: an author or the node itself answers with a Reject
    // from that actor, so the follower does not wait forever.
    for object in [
        format!("{}/people/Ada", node.base),
        format!("{}/actor", node.base),
    ] {
        let refused = follow(object.clone());
        let id = refused["id"].as_str().unwrap().to_owned();
        mastodon
            .send(refused, &format!("{}/inbox", node.base))
            .await;
        let reject = mastodon.received_about("Reject", &id).await;
        assert_eq!(reject["actor"], object, "{reject}");
        assert_eq!(reject["object"]["actor"], mastodon.alice().as_str());
    }
    assert_eq!(node.count("federation_followers").await, 0);

    // An Undo naming its Follow by id alone ends it.
    let accepted = follow(format!("{}/c/ideas", node.base));
    let follow_id = accepted["id"].as_str().unwrap().to_owned();
    mastodon
        .send(accepted, &format!("{}/inbox", node.base))
        .await;
    mastodon.received_about("Accept", &follow_id).await;
    assert_eq!(node.count("federation_followers").await, 1);
    mastodon
        .send(
            json!({
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": format!("{follow_id}#undo"),
                "type": "Undo",
                "actor": mastodon.alice(),
                "object": follow_id,
            }),
            &format!("{}/inbox", node.base),
        )
        .await;
    assert_eq!(node.count("federation_followers").await, 0);
}

/// Expands the objects at `urls` with PyLD (tests/jsonld/expand.py).
fn expand_with_pyld(urls: &[String]) -> Value {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/jsonld/expand.py");
    let output = std::process::Command::new(&python)
        .arg(script)
        .args(urls)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {python} ({error}); install Python 3"));
    assert!(
        output.status.success(),
        "JSON-LD expansion failed (needs `{python} -m pip install PyLD requests`):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("expanded JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_json_ld_processor_expands_our_objects_without_losing_terms() {
    let node = spawn_node().await;
    node.convergence("ideas", "public").await;
    let claim = node
        .artifact(
            "ideas",
            json!({"kind": "claim", "title": "Soil first", "dimensions": {"soil": 0.75}}),
        )
        .await;
    let evidence = node
        .artifact("ideas", json!({"kind": "evidence", "title": "Plot data"}))
        .await;
    let edge = node
        .post(
            "/api/v1/relationships",
            json!({"source": evidence, "target": claim, "kind": "supports", "weight": 0.5}),
        )
        .await
        .expect(201)
        .id();
    let urls = vec![
        format!("{}/artifacts/{claim}", node.base),
        format!("{}/relationships/{edge}", node.base),
    ];
    let expanded = tokio::task::spawn_blocking(move || expand_with_pyld(&urls))
        .await
        .expect("join");
    let kg = |term: &str| format!("https://kgnode.org/ns#{term}");
    let article = &expanded[0][0];
    assert_eq!(
        article["@type"][0],
        "https://www.w3.org/ns/activitystreams#Article"
    );
    assert_eq!(article[kg("artifactKind")][0]["@value"], "claim");
    assert_eq!(article[kg("version")][0]["@value"], 1);
    assert_eq!(
        article[kg("version")][0]["@type"],
        "http://www.w3.org/2001/XMLSchema#integer"
    );
    let dimension = &article[kg("dimensions")][0];
    assert_eq!(dimension["@type"][0], kg("Dimension"));
    assert_eq!(dimension[kg("weight")][0]["@value"], 0.75);
    assert_eq!(
        dimension["https://www.w3.org/ns/activitystreams#name"][0]["@value"],
        "soil"
    );
    let relationship = &expanded[1][0];
    assert_eq!(
        relationship["https://www.w3.org/ns/activitystreams#relationship"][0]["@id"],
        kg("supports")
    );
    assert_eq!(relationship[kg("weight")][0]["@value"], 0.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_instances_are_neither_fetched_nor_heard() {
    let origin = spawn_node().await;
    let follower = spawn_node().await;
    origin.convergence("ideas", "public").await;
    let origin_host = format!("localhost:{}", origin.port());
    let target = json!({"target": format!("{}/c/ideas", origin.base)});

    let blocked = follower
        .post(
            "/api/v1/admin/blocks",
            json!({"host": origin.base, "reason": "test"}),
        )
        .await
        .expect(201);
    assert_eq!(blocked.body["host"], origin_host);
    let listed = follower
        .get_as("/api/v1/admin/blocks?limit=1", As::Admin)
        .await
        .expect(200);
    assert_eq!(listed.body["items"][0]["host"], origin_host);
    assert_eq!(listed.body["next_cursor"], Value::Null);
    follower
        .post("/api/v1/admin/blocks", json!({"host": "not a host/x"}))
        .await
        .expect(422);
    follower
        .post("/api/v1/admin/follows", target.clone())
        .await
        .expect(422);

    follower
        .delete(&format!("/api/v1/admin/blocks/{origin_host}"))
        .await
        .expect(204);
    let mirror = follow(&origin, &follower, "ideas").await;
    origin
        .artifact("ideas", json!({"kind": "idea", "title": "Heard"}))
        .await;
    wait_for_titles(&follower, &mirror, &["Heard"]).await;

    // Blocked again: what the origin sends is refused (and not retried forever).
    follower
        .post("/api/v1/admin/blocks", json!({"host": origin_host}))
        .await
        .expect(201);
    origin
        .artifact("ideas", json!({"kind": "idea", "title": "Unheard"}))
        .await;
    // Once the projections have applied the write, its Announce is queued: only then does an
    // empty queue mean that it was sent and refused.
    origin.settle().await;
    wait_for_empty_queue(&origin, "the origin to give up on the refused activity").await;
    assert_eq!(titles(&follower, &mirror).await, ["Heard"]);
    let overview = follower
        .get_as("/api/v1/admin/federation", As::Admin)
        .await
        .expect(200);
    assert_eq!(overview.body["blocked"][0]["host"], origin_host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follow_command_queues_a_follow_that_the_running_node_delivers() {
    let origin = spawn_node().await;
    let follower = spawn_node().await;
    origin.convergence("ideas", "public").await;
    let config = std::env::temp_dir().join(format!("kgnode-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&config, "[federation]\nallow_local_network = true\n").expect("config");
    let config_path = config.display().to_string();
    let target = format!("{}/c/ideas", origin.base);
    let args = [
        "--config",
        config_path.as_str(),
        "--public-url",
        follower.base.as_str(),
        "follow",
        target.as_str(),
    ];
    let first = run_kgnode(&follower.database, &follower.data_dir, &args)
        .await
        .expect("follow");
    assert!(first.starts_with("now following"), "{first}");
    eventually("the running node to deliver the Follow", || async {
        let follows = follower
            .get_as("/api/v1/admin/follows", As::Admin)
            .await
            .expect(200);
        (follows.body["items"][0]["state"] == "accepted").then_some(())
    })
    .await;
    let again = run_kgnode(&follower.database, &follower.data_dir, &args)
        .await
        .expect("follow");
    assert!(again.starts_with("already following"), "{again}");
    let refused = run_kgnode(
        &follower.database,
        &follower.data_dir,
        &["--config", config_path.as_str(), "follow", "not-a-target"],
    )
    .await;
    assert!(refused.is_err());
    let _ = std::fs::remove_file(config);

    // Without `federation.allow_local_network`, the refusal names that setting; a host that
    // does not resolve is said to be one.
    let unfetched = target.replace("/c/ideas", "/c/elsewhere");
    let port = run_kgnode(
        &follower.database,
        &follower.data_dir,
        &["follow", &unfetched],
    )
    .await
    .expect_err("local peers are refused by default")
    .to_string();
    assert!(port.contains("federation.allow_local_network"), "{port}");
    assert!(!port.contains("DANGER"), "{port}");
    let unknown = run_kgnode(
        &follower.database,
        &follower.data_dir,
        &["follow", "https://no-such-host.invalid/c/ideas"],
    )
    .await
    .expect_err("an unknown host")
    .to_string();
    assert!(unknown.contains("does not resolve"), "{unknown}");
}

/// An edge from a public artifact to a private one is seen only by who may read both ends: it
/// is neither served as ActivityPub nor federated, so it cannot stall a follower's queue either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_into_a_private_convergence_is_neither_served_nor_federated() {
    let origin = spawn_node().await;
    let follower = spawn_node().await;
    origin.convergence("ideas", "public").await;
    origin.convergence("secret", "private").await;
    let mirror = follow(&origin, &follower, "ideas").await;
    let public = origin
        .artifact("ideas", json!({"kind": "idea", "title": "Open"}))
        .await;
    let hidden = origin
        .artifact("secret", json!({"kind": "idea", "title": "Closed"}))
        .await;
    let into_private = origin
        .post(
            "/api/v1/relationships",
            json!({"source": public, "target": hidden, "kind": "supports", "weight": 0.5}),
        )
        .await
        .expect(201)
        .id();
    let later = origin
        .artifact("ideas", json!({"kind": "idea", "title": "Later"}))
        .await;
    origin
        .post(
            "/api/v1/relationships",
            json!({"source": public, "target": later, "kind": "extends", "weight": 0.5}),
        )
        .await
        .expect(201);

    let response = origin
        .client
        .get(origin.url(&format!("/relationships/{into_private}")))
        .header("Accept", ACTIVITY_JSON)
        .send()
        .await
        .expect("fetch");
    assert_eq!(response.status(), 404);
    let text = response.text().await.expect("body");
    assert!(!text.contains(&hidden), "the private end leaked: {text}");

    wait_for_titles(&follower, &mirror, &["Later", "Open"]).await;
    wait_for_empty_queue(&origin, "the origin to deliver everything").await;
    let copy_of_open = copy(&follower, &mirror, "Open").await.expect("copy");
    let edges = arrived_relationships(&follower, copy_of_open["id"].as_str().expect("id")).await;
    assert_eq!(edges.len(), 1, "only the public edge arrives: {edges:?}");
    assert_eq!(edges[0]["kind"], "extends");

    // Its deletion is not announced either. The outgoing projection reads the log in order:
    // once an artifact written after the deletion has arrived, the deletion has been handled.
    origin
        .delete(&format!("/api/v1/relationships/{into_private}"))
        .await
        .expect(204);
    origin
        .artifact("ideas", json!({"kind": "idea", "title": "Last"}))
        .await;
    wait_for_titles(&follower, &mirror, &["Last", "Later", "Open"]).await;
    let mentions = origin
        .count(&format!(
            "federation_activities WHERE payload::text LIKE '%{into_private}%'"
        ))
        .await;
    assert_eq!(mentions, 0, "the private edge's id was federated");
}

/// Makes `node`'s database fail every insert of an artifact titled `title`, as a broken
/// receiver would: its inbox then answers that activity with 500, every time.
async fn refuse_artifacts_titled(node: &TestNode, title: &str) {
    use diesel_async::RunQueryDsl;
    let mut conn = node.database.connect().await;
    for statement in [
        format!(
            "CREATE FUNCTION refuse_for_test() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.title = '{title}' THEN RAISE EXCEPTION 'refused for the test'; END IF; \
             RETURN NEW; END $$"
        ),
        "CREATE TRIGGER refuse_for_test BEFORE INSERT ON artifacts \
         FOR EACH ROW EXECUTE FUNCTION refuse_for_test()"
            .to_owned(),
    ] {
        diesel::sql_query(statement)
            .execute(&mut conn)
            .await
            .expect("trigger");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_a_follower_keeps_refusing_is_parked_and_the_queue_moves_on() {
    let origin = spawn_node().await;
    let follower = spawn_node().await;
    origin.convergence("ideas", "public").await;
    let mirror = follow(&origin, &follower, "ideas").await;
    refuse_artifacts_titled(&follower, "Poison").await;
    for title in ["Poison", "Poison", "After"] {
        origin
            .artifact("ideas", json!({"kind": "idea", "title": title}))
            .await;
    }

    // The follower answers both poisoned ones with 500 every time: after three refusals each
    // (the test settings' `federation.park_after_refusals`) they are parked and the next one
    // arrives.
    wait_for_titles(&follower, &mirror, &["After"]).await;
    wait_for_empty_queue(&origin, "the origin to move past the parked activities").await;
    let overview = origin
        .get_as("/api/v1/admin/federation", As::Admin)
        .await
        .expect(200);
    assert_eq!(overview.body["total_parked"], 2, "{}", overview.body);
    assert_eq!(overview.body["peers"][0]["parked"], 2);
    let parked = origin
        .get_as("/api/v1/admin/federation/parked?limit=1", As::Admin)
        .await
        .expect(200);
    let discarded = parked.body["items"][0]["id"].as_i64().expect("id");
    let cursor = parked.body["next_cursor"].as_str().expect("a second page");
    origin
        .delete(&format!("/api/v1/admin/federation/parked/{discarded}"))
        .await
        .expect(204);
    let parked = origin
        .get_as(
            &format!("/api/v1/admin/federation/parked?limit=1&cursor={cursor}"),
            As::Admin,
        )
        .await
        .expect(200);
    let entry = &parked.body["items"][0];
    assert_eq!(entry["type"], "Announce", "{entry}");
    assert_eq!(entry["attempts"], 3);
    assert!(
        entry["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("500"),
        "{entry}"
    );
    assert_eq!(parked.body["next_cursor"], Value::Null);
    let id = entry["id"].as_i64().expect("id");

    // Once the follower is fixed, a retry delivers it; the entry is gone.
    {
        use diesel_async::RunQueryDsl;
        let mut conn = follower.database.connect().await;
        diesel::sql_query("DROP TRIGGER refuse_for_test ON artifacts")
            .execute(&mut conn)
            .await
            .expect("drop trigger");
    }
    let retry = format!("/api/v1/admin/federation/parked/{id}/retry");
    let retried = origin.send(Method::POST, &retry, As::Admin, None).await;
    retried.expect(202);
    wait_for_titles(&follower, &mirror, &["After", "Poison"]).await;
    assert_eq!(origin.count("federation_parked").await, 0);
    let again = origin.send(Method::POST, &retry, As::Admin, None).await;
    again.expect_error(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_follower_parks_nothing() {
    let origin = spawn_node().await;
    let mut follower = spawn_node().await;
    origin.convergence("ideas", "public").await;
    let mirror = follow(&origin, &follower, "ideas").await;
    follower.stop().await;
    origin
        .artifact("ideas", json!({"kind": "idea", "title": "While away"}))
        .await;
    eventually("several failed attempts", || async {
        let overview = origin
            .get_as("/api/v1/admin/federation", As::Admin)
            .await
            .expect(200);
        let failures = overview.body["peers"][0]["failures"].as_i64()?;
        (failures > 3).then_some(())
    })
    .await;
    assert_eq!(origin.count("federation_parked").await, 0);
    follower.restart().await;
    wait_for_titles(&follower, &mirror, &["While away"]).await;
}
