//! The `openai` extractor against an OpenAI-compatible server started on loopback
//! ([`FakeOpenAi`], the stand-in for the paid service): what it sends, what it makes of valid
//! answers, the `json_object` fallback, and invalid answers, rate limits, server errors and
//! timeouts failing attempts that the job queue retries, with nothing half-written.

use std::time::Duration;

use kgnode::config::ExtractorChoice;
use serde_json::{Value, json};

use crate::contributions::{contribute, until_status};
use crate::fake_openai::{FakeOpenAi, Reply};
use crate::harness::{As, TestNode, spawn_node_with};

const KEY: &str = "sk-test-not-a-real-key";
const TEXT: &str = "How do we keep the gardens watered in August? We could collect rain from \
                    the shed roofs, like the rain barrel idea.";

/// A node whose extractor is the `openai` one, talking to `server` with [`KEY`] from a file.
async fn node_for(server: &FakeOpenAi) -> TestNode {
    let key_file = std::env::temp_dir().join(format!("kgnode-key-{}", uuid::Uuid::new_v4()));
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let base_url = server.base_url.parse().unwrap();
    let node = spawn_node_with(move |settings| {
        settings.extraction.extractor = ExtractorChoice::Openai;
        settings.extraction.openai.base_url = Clone::clone(&base_url);
        settings.extraction.openai.model = "test-model".to_owned();
        settings.extraction.openai.api_key_file = Some(key_file.clone());
        settings.extraction.openai.timeout_secs = 1;
    })
    .await;
    node.convergence("garden", "public").await;
    node
}

/// A valid answer: a question, a proposal answering it, and a link to `existing` when given.
fn answer(existing: Option<&str>) -> Value {
    let mut links =
        vec![json!({"source": "unit:1", "target": "unit:0", "kind": "answers", "weight": 0.8})];
    if let Some(id) = existing {
        links.push(json!({"source": "unit:1", "target": format!("artifact:{id}"), "kind": "extends", "weight": 0.6}));
    }
    json!({
        "units": [
            {"kind": "question", "title": "How do we water the gardens in August?", "body": "",
             "dimensions": [{"name": "water", "weight": 0.9}]},
            {"kind": "proposal", "title": "Collect rain from the shed roofs",
             "body": "Like the rain barrel idea.",
             "dimensions": [{"name": "water", "weight": 0.7}, {"name": "sheds", "weight": 0.4}]},
        ],
        "links": links,
    })
}

async fn get(node: &TestNode, path: &str) -> Value {
    node.get_as(path, As::Admin).await.expect(200).body
}

/// Artifacts of the convergence `garden`, by title.
async fn titles(node: &TestNode) -> Vec<String> {
    node.settle().await;
    let list = get(node, "/api/v1/convergences/garden/artifacts?limit=100").await;
    let mut titles: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    titles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_answer_becomes_artifacts_and_relationships_in_one_go() {
    let server = FakeOpenAi::start();
    let node = node_for(&server).await;
    let existing = node
        .artifact(
            "garden",
            json!({"kind": "idea", "title": "Rain barrel on every shed", "dimensions": {"water": 0.8}}),
        )
        .await;
    node.settle().await;
    server.script([Reply::Answer(answer(Some(&existing)))]);

    let id = contribute(&node, "garden", json!({"text": TEXT, "author": "ana"})).await;
    let done = until_status(&node, &id, "complete").await;
    assert_eq!(done["attempts"], 1, "{done}");
    assert_eq!(done["artifacts"].as_array().unwrap().len(), 2, "{done}");
    assert_eq!(done["relationships"].as_array().unwrap().len(), 2, "{done}");
    let proposal = get(
        &node,
        &format!(
            "/api/v1/artifacts/{}",
            done["artifacts"][1].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(proposal["kind"], "proposal");
    assert_eq!(proposal["title"], "Collect rain from the shed roofs");
    assert_eq!(proposal["author"], "ana");
    assert_eq!(proposal["contribution"], id.as_str());
    assert_eq!(proposal["dimensions"]["sheds"], 0.4);
    let links = get(
        &node,
        &format!("/api/v1/artifacts/{existing}/relationships?direction=in"),
    )
    .await;
    assert_eq!(links["items"][0]["kind"], "extends", "{links}");
    assert_eq!(links["items"][0]["source"], proposal["id"], "{links}");

    // What the server was asked: the model, structured output with the schema, the key, the
    // contribution and the existing artifact the search index found for it.
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(request.body["model"], "test-model");
    assert_eq!(request.body["max_tokens"], 4096);
    let format = &request.body["response_format"];
    assert_eq!(format["type"], "json_schema", "{format}");
    assert_eq!(format["json_schema"]["strict"], true);
    assert_eq!(
        format["json_schema"]["schema"]["required"],
        json!(["units", "links"])
    );
    let user: Value =
        serde_json::from_str(request.body["messages"][1]["content"].as_str().unwrap()).unwrap();
    assert_eq!(user["contribution"], TEXT);
    assert_eq!(
        user["existing_artifacts"][0]["id"],
        existing.as_str(),
        "{user}"
    );
    assert_eq!(user["existing_dimensions"], json!(["water"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_structured_outputs_is_asked_for_json_mode() {
    let server = FakeOpenAi::start();
    server.refuse_json_schema();
    let node = node_for(&server).await;
    server.script([Reply::Answer(answer(None)), Reply::Answer(answer(None))]);

    let first = contribute(&node, "garden", json!({"text": TEXT})).await;
    until_status(&node, &first, "complete").await;
    let second = contribute(
        &node,
        "garden",
        json!({"text": "Another thought on water."}),
    )
    .await;
    let done = until_status(&node, &second, "complete").await;
    assert_eq!(done["attempts"], 1, "{done}");

    // Refused once; then json_object with the schema in the instructions, also for the next
    // contribution without asking for json_schema again.
    let formats: Vec<Value> = server
        .requests()
        .iter()
        .map(|request| request.body["response_format"]["type"].clone())
        .collect();
    assert_eq!(
        formats,
        [
            json!("json_schema"),
            json!("json_object"),
            json!("json_object")
        ]
    );
    let fallback = &server.requests()[1].body;
    let instructions = fallback["messages"][0]["content"].as_str().unwrap();
    assert!(instructions.contains("JSON schema"), "{instructions}");
    assert!(
        instructions.contains("\"additionalProperties\":false"),
        "{instructions}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_schema_violating_answers_land_nothing_and_are_retried() {
    let server = FakeOpenAi::start();
    let node = node_for(&server).await;
    // The second answer is valid but for one link to an artifact the request never offered:
    // none of it may land.
    let mut violating = answer(None);
    violating["units"][0]["title"] = json!("Should not exist");
    violating["links"][0]["target"] = json!(format!("artifact:{}", uuid::Uuid::new_v4()));
    server.script([
        Reply::Content("{\"units\": [{\"kind\": ".to_owned()),
        Reply::Answer(violating),
        Reply::Answer(answer(None)),
    ]);

    let id = contribute(&node, "garden", json!({"text": TEXT})).await;
    let done = until_status(&node, &id, "complete").await;
    assert_eq!(done["attempts"], 3, "{done}");
    assert_eq!(done["error"], Value::Null, "{done}");
    assert_eq!(
        titles(&node).await,
        [
            "Collect rain from the shed roofs",
            "How do we water the gardens in August?"
        ]
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_wait_server_errors_and_timeouts_retry_then_fail_for_good() {
    let server = FakeOpenAi::start();
    let node = node_for(&server).await;

    // A 429 is retried after the pause it names (the test backoff alone is 50 ms).
    server.script([
        Reply::Error {
            status: 429,
            retry_after: Some(2),
        },
        Reply::Answer(answer(None)),
    ]);
    let id = contribute(&node, "garden", json!({"text": TEXT})).await;
    let done = until_status(&node, &id, "complete").await;
    assert_eq!(done["attempts"], 2, "{done}");
    let requests = server.requests();
    let pause = requests[1].at.duration_since(requests[0].at);
    assert!(pause >= Duration::from_secs(2), "retried after {pause:?}");

    // A 500, an answer slower than extraction.openai.timeout_secs, a 500: the three attempts
    // of the test settings are spent, and the contribution says why.
    server.script([
        Reply::Error {
            status: 500,
            retry_after: None,
        },
        Reply::Slow(Duration::from_secs(3), answer(None)),
        Reply::Error {
            status: 500,
            retry_after: None,
        },
    ]);
    let id = contribute(&node, "garden", json!({"text": "Do we share tools?"})).await;
    let failed = until_status(&node, &id, "failed").await;
    assert_eq!(failed["attempts"], 3, "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("answered 500"), "{error}");
    assert!(!error.contains(KEY), "{error}");
    assert_eq!(server.requests().len(), 5);

    // Retried by a person once the server is back: it completes.
    server.script([Reply::Answer(answer(None))]);
    node.post(&format!("/api/v1/contributions/{id}/retry"), json!({}))
        .await
        .expect(202);
    until_status(&node, &id, "complete").await;
}
