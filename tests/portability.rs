//! Export and import between real nodes: a convergence leaves node A as JSON-LD (and NDJSON),
//! lands on node B with every field, comes back out of B equal to A's export, and a second
//! import changes nothing; bad files are refused naming their item, with nothing stored.

use serde_json::{Value, json};

use crate::harness::{
    As, NodeProcess, TestDatabase, TestNode, eventually, spawn_node, spawn_node_with,
};

const LD_JSON: &str = "application/ld+json";
const NDJSON: &str = "application/x-ndjson";

/// A's export of `slug`, as text.
async fn export(node: &TestNode, slug: &str, format: &str) -> String {
    let response = node
        .client
        .get(format!(
            "{}/api/v1/convergences/{slug}/export?format={format}",
            node.base
        ))
        .bearer_auth(&node.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// Posts `file` to `/api/v1/import` with the node token; returns status and body.
async fn import(node: &TestNode, file: &str, content_type: &str, query: &str) -> (u16, Value) {
    let response = node
        .client
        .post(format!("{}/api/v1/import{query}", node.base))
        .bearer_auth(&node.admin_token)
        .header("Content-Type", content_type)
        .body(file.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The document with the exporting node's URL replaced by a fixed one and the log position left
/// out: what another node's export of the same data must equal.
fn comparable(document: &str) -> Value {
    let parsed: Value = serde_json::from_str(document).unwrap();
    let base = parsed["exportedFrom"]
        .as_str()
        .unwrap()
        .trim_end_matches('/');
    let mut value: Value =
        serde_json::from_str(&document.replace(base, "https://node.example")).unwrap();
    value.as_object_mut().unwrap().remove("logPosition");
    value
}

/// Node A with two convergences: `garden` (artifacts with dimensions, an edited one, a deleted
/// one, an edge inside and an edge into `tools`).
async fn node_a() -> TestNode {
    let a = spawn_node().await;
    a.convergence("garden", "public").await;
    a.convergence("tools", "public").await;
    let barrels = a
        .artifact(
            "garden",
            json!({"kind": "proposal", "title": "Rain barrels", "body": "On **every** shed.",
                   "author": "Ana", "dimensions": {"water": 0.8, "sheds": 0.3}}),
        )
        .await;
    let question = a
        .artifact(
            "garden",
            json!({"kind": "question", "title": "Who waters in August?"}),
        )
        .await;
    let gone = a
        .artifact("garden", json!({"kind": "idea", "title": "Forgotten"}))
        .await;
    let hose = a
        .artifact(
            "tools",
            json!({"kind": "resource", "title": "The long hose"}),
        )
        .await;
    a.patch(
        &format!("/api/v1/artifacts/{question}"),
        json!({"title": "Who waters the beds in August?", "version": 1}),
    )
    .await
    .expect(200);
    a.delete(&format!("/api/v1/artifacts/{gone}")).await;
    for (source, target, kind) in [
        (&barrels, &question, "answers"),
        (&question, &hose, "depends_on"),
    ] {
        a.post(
            "/api/v1/relationships",
            json!({"source": source, "target": target, "kind": kind, "weight": 0.7}),
        )
        .await
        .expect(201);
    }
    // A contribution, extracted into artifacts that carry it as their provenance.
    let text = "We should plant clover by the beds. Bees need it because the beans flower late.";
    let contribution =
        crate::contributions::contribute(&a, "garden", json!({"text": text, "author": "Ben"}))
            .await;
    crate::contributions::until_status(&a, &contribution, "complete").await;
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_convergence_round_trips_between_nodes_and_a_second_import_changes_nothing() {
    let a = node_a().await;
    let b = spawn_node().await;
    let garden = export(&a, "garden", "jsonld").await;
    let tools = export(&a, "tools", "jsonld").await;
    let document: Value = serde_json::from_str(&garden).unwrap();
    assert_eq!(document["type"], "Export");
    let count = |name: &str| document[name].as_array().unwrap().len() as u64;
    let (artifacts, relationships) = (count("artifacts"), count("relationships"));
    assert_eq!(count("contributions"), 1);
    assert!(!garden.contains("Forgotten"), "the deleted one is left out");
    let extracted = document["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|artifact| artifact["contribution"] == document["contributions"][0]["id"])
        .count() as u64;
    assert!(extracted > 0);
    assert_eq!(extracted, artifacts - 2);
    let edited = document["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|artifact| artifact["artifactKind"] == "question")
        .unwrap();
    assert_eq!(edited["version"], 2);

    // tools first: its edge from garden cannot resolve yet, and says so.
    let (status, report) = import(&b, &tools, LD_JSON, "").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["artifacts"]["created"], 1, "{report}");
    assert_eq!(
        report["unresolved"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    assert!(
        report["unresolved"][0]["end"]
            .as_str()
            .unwrap()
            .contains("/artifacts/")
    );

    let (status, report) = import(&b, &garden, LD_JSON, "").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["convergence_created"], true);
    assert_eq!(report["contributions"]["created"], 1, "{report}");
    assert_eq!(report["artifacts"]["created"], artifacts, "{report}");
    assert_eq!(
        report["relationships"]["created"], relationships,
        "{report}"
    );
    assert_eq!(report["unresolved"], json!([]), "{report}");

    // B's exports equal A's, IRIs aside.
    assert_eq!(
        comparable(&export(&b, "garden", "jsonld").await),
        comparable(&garden)
    );
    assert_eq!(
        comparable(&export(&b, "tools", "jsonld").await),
        comparable(&tools)
    );

    // Search and graph follow the change log on B.
    b.settle().await;
    let hits = b.get("/api/v1/search?q=barrels").await.expect(200);
    assert_eq!(
        hits.body["hits"][0]["title"], "Rain barrels",
        "{}",
        hits.body
    );
    let barrels = hits.body["hits"][0]["id"].as_str().unwrap().to_owned();
    let around = b
        .get(&format!("/api/v1/graph/neighborhood/{barrels}?depth=2"))
        .await
        .expect(200);
    assert_eq!(
        around.body["nodes"].as_array().unwrap().len(),
        3,
        "{}",
        around.body
    );

    // Again: nothing changes, not even the change log.
    let log = b.count("change_log").await;
    let (status, report) = import(&b, &garden, LD_JSON, "").await;
    assert_eq!(status, 200);
    assert_eq!(
        report["artifacts"],
        json!({"created": 0, "updated": 0, "unchanged": artifacts})
    );
    assert_eq!(report["contributions"]["unchanged"], 1, "{report}");
    assert_eq!(
        report["relationships"]["unchanged"], relationships,
        "{report}"
    );
    assert_eq!(b.count("change_log").await, log);

    // The NDJSON export, into another slug: ids taken by `garden` become the UUIDv5 of their
    // IRI, and the copy holds the same artifacts and edges.
    let lines = export(&a, "garden", "ndjson").await;
    assert_eq!(
        lines.lines().count() as u64,
        1 + 1 + artifacts + relationships
    );
    let (status, report) = import(&b, &lines, NDJSON, "?as=garden-copy&dry_run=true").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["artifacts"]["created"], artifacts, "{report}");
    assert_eq!(b.count("change_log").await, log, "a dry run writes nothing");
    let (status, report) = import(&b, &lines, NDJSON, "?as=garden-copy").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["relationships"]["created"], relationships,
        "{report}"
    );
    let copy: Value = serde_json::from_str(&export(&b, "garden-copy", "jsonld").await).unwrap();
    let titles = |doc: &Value| -> Vec<String> {
        let mut titles: Vec<String> = doc["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect();
        titles.sort();
        titles
    };
    assert_eq!(titles(&copy), titles(&document));
    assert_ne!(copy["artifacts"][0]["id"], document["artifacts"][0]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_import_files_are_refused_naming_the_item_and_store_nothing() {
    let a = node_a().await;
    let b = spawn_node_with(|settings| settings.http.max_import_bytes = 20_000).await;
    let garden = export(&a, "garden", "jsonld").await;
    let document: Value = serde_json::from_str(&garden).unwrap();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut copy = document.clone();
        change(&mut copy);
        copy.to_string()
    };
    let cases: Vec<(String, u16, &str)> = vec![
        ("{\"type\": \"Export\",".to_owned(), 400, "malformed_json"),
        (garden[..garden.len() / 2].to_owned(), 400, "malformed_json"),
        (
            with(&|d| drop(d.as_object_mut().unwrap().remove("@context"))),
            422,
            "@context",
        ),
        (
            with(&|d| d["@context"] = json!(["https://example.org/other"])),
            422,
            "@context",
        ),
        (
            with(&|d| d["artifacts"][1]["type"] = json!("Note")),
            422,
            "artifacts[1].type",
        ),
        (
            with(&|d| d["artifacts"][0]["artifactKind"] = json!("musing")),
            422,
            "artifacts[0].artifactKind",
        ),
        (
            with(&|d| d["relationships"][0]["weight"] = json!("heavy")),
            422,
            "relationships[0].weight",
        ),
        (
            with(&|d| d["relationships"][1]["weight"] = json!(7.5)),
            422,
            "relationships[1].weight",
        ),
        (
            with(&|d| d["artifacts"][0]["colour"] = json!("red")),
            400,
            "artifacts[0].colour",
        ),
        (
            with(&|d| d["artifacts"][1]["id"] = d["artifacts"][0]["id"].clone()),
            422,
            "appears twice",
        ),
        (
            with(&|d| d["formatVersion"] = json!(9)),
            422,
            "formatVersion",
        ),
        ("x".repeat(30_000), 413, "payload_too_large"),
    ];
    for (file, status, named) in cases {
        let (got, error) = import(&b, &file, LD_JSON, "").await;
        assert_eq!(got, status, "{named}: {error}");
        assert!(error.to_string().contains(named), "{named}: {error}");
    }
    let lines = export(&a, "garden", "ndjson").await;
    let broken: Vec<String> = lines
        .lines()
        .enumerate()
        .map(|(index, line)| {
            if index == 2 {
                line.replace("\"Article\"", "\"Note\"")
            } else {
                line.to_owned()
            }
        })
        .collect();
    let (status, error) = import(&b, &broken.join("\n"), NDJSON, "").await;
    assert_eq!(status, 422, "{error}");
    assert!(error.to_string().contains("line 3"), "{error}");
    let (status, _) = import(&b, &garden, "text/plain", "").await;
    assert_eq!(status, 415);

    // Only the node token imports.
    let anonymous = b
        .client
        .post(format!("{}/api/v1/import", b.base))
        .header("Content-Type", LD_JSON)
        .body(garden.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    b.convergence("elsewhere", "private").await;
    let scoped = b.convergence_token("elsewhere").await;
    let refused = b
        .client
        .post(format!("{}/api/v1/import", b.base))
        .bearer_auth(scoped)
        .header("Content-Type", LD_JSON)
        .body(garden.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(b.count("artifacts").await, 0);
    assert_eq!(b.count("convergences").await, 1);
    // A private convergence is exported to whoever may read it, and to nobody else.
    a.convergence("secret", "private").await;
    let hidden = a.get("/api/v1/convergences/secret/export").await;
    hidden.expect(404);
    a.get_as("/api/v1/convergences/secret/export", As::Admin)
        .await
        .expect(200);
}

/// Runs a PostgreSQL client tool, failing the test with its output when it fails.
fn pg_tool(program: &str, args: &[&str]) {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program} ({error})"));
    assert!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restored_from_pg_dump_serves_its_data_with_a_rebuilt_index() {
    let a = node_a().await;
    let before = export(&a, "garden", "jsonld").await;
    let dump = std::env::temp_dir().join(format!("{}.dump", a.database.name));
    let dump_arg = dump.display().to_string();
    pg_tool("pg_dump", &["-Fc", "-f", &dump_arg, &a.database.url]);

    // A fresh database and an empty data directory: the node rebuilds its search index and
    // graph from PostgreSQL; its keys and tokens live in the database.
    let restored = TestDatabase::new();
    restored.create().await;
    pg_tool(
        "pg_restore",
        &["--no-owner", "-d", &restored.url, &dump_arg],
    );
    std::fs::remove_file(&dump).unwrap();
    let data_dir = std::env::temp_dir().join(&restored.name);
    let mut node = NodeProcess::start(&restored, &data_dir).await;
    let client = reqwest::Client::new();
    let hits = eventually("the rebuilt index to answer", || async {
        let hits: Value = client
            .get(format!("{}/api/v1/search?q=barrels", node.base))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (hits["hits"].as_array()?.len() == 1).then_some(hits)
    })
    .await;
    assert_eq!(hits["hits"][0]["title"], "Rain barrels");
    let after = client
        .get(format!("{}/api/v1/convergences/garden/export", node.base))
        .bearer_auth(&a.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(comparable(&after), comparable(&before));
    assert!(
        node.terminate()
            .await
            .is_some_and(|status| status.success())
    );
    let verified = crate::cli::run_kgnode(&restored, &data_dir, &["index", "verify"])
        .await
        .unwrap();
    assert!(verified.contains("matches PostgreSQL"), "{verified}");
}
