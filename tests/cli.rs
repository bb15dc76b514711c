use clap::Parser;
use kgnode::cli::{Cli, run};
use serde_json::json;

use crate::harness::{As, TestDatabase, spawn_node};

async fn kgnode(database: &TestDatabase, args: &[&str]) -> String {
    let data_dir = std::env::temp_dir().join(&database.name);
    run_kgnode(database, &data_dir, args).await.unwrap()
}

/// Runs a `kgnode` command line in this process; returns what it printed, or its error.
pub async fn run_kgnode(
    database: &TestDatabase,
    data_dir: &std::path::Path,
    args: &[&str],
) -> Result<String, kgnode::cli::CliError> {
    let data_dir = data_dir.display().to_string();
    let mut argv = vec![
        "kgnode",
        "--database-url",
        database.url.as_str(),
        "--data-dir",
        &data_dir,
    ];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).unwrap();
    let mut out = Vec::new();
    run(cli, &mut out).await?;
    Ok(String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn token_create_prints_a_working_token_on_its_last_line() {
    let node = spawn_node().await;
    node.convergence("c1", "private").await;
    let output = kgnode(&node.database, &["token", "create", "--convergence", "c1"]).await;
    let token = output.lines().last().unwrap().trim().to_owned();
    assert!(token.starts_with("kgn_"), "{output}");
    node.get_as("/api/v1/convergences/c1", As::Token(&token))
        .await
        .expect(200);
    node.send(
        reqwest::Method::POST,
        "/api/v1/convergences/c1/artifacts",
        As::Token(&token),
        Some(&json!({"kind": "idea", "title": "t"})),
    )
    .await
    .expect(201);

    let node_wide = kgnode(&node.database, &["token", "create", "--label", "ops"]).await;
    let node_wide = node_wide.lines().last().unwrap().trim().to_owned();
    node.send(
        reqwest::Method::POST,
        "/api/v1/convergences",
        As::Token(&node_wide),
        Some(&json!({"slug": "c2", "name": "c2"})),
    )
    .await
    .expect(201);
}

#[tokio::test]
async fn migrate_subcommands_apply_report_and_revert() {
    let database = TestDatabase::new();
    kgnode(&database, &["migrate"]).await;
    let status = kgnode(&database, &["migrate", "status"]).await;
    assert!(
        status.lines().all(|line| line.ends_with("applied")),
        "{status}"
    );
    let data_dir = std::env::temp_dir().join(&database.name);
    for unconfirmed in [&["migrate", "revert", "--all"][..], &["migrate", "revert"]] {
        let refused = run_kgnode(&database, &data_dir, unconfirmed)
            .await
            .expect_err("a revert without --yes");
        assert!(refused.to_string().contains("--yes"), "{refused}");
    }
    let status = kgnode(&database, &["migrate", "status"]).await;
    assert!(
        !status.contains("pending"),
        "nothing was reverted: {status}"
    );
    kgnode(&database, &["migrate", "revert", "--steps", "2", "--yes"]).await;
    let status = kgnode(&database, &["migrate", "status"]).await;
    assert_eq!(
        status
            .lines()
            .filter(|line| line.ends_with("pending"))
            .count(),
        2,
        "{status}"
    );
    kgnode(&database, &["migrate", "run"]).await;
}

#[tokio::test]
async fn an_unreachable_database_is_named_with_the_cause() {
    let data_dir = std::env::temp_dir().join("kgnode-unreachable");
    let cli = Cli::try_parse_from([
        "kgnode",
        "--database-url",
        "postgres://postgres:hunter2@127.0.0.1:1/kgnode",
        "--data-dir",
        &data_dir.display().to_string(),
        "migrate",
        "status",
    ])
    .unwrap();
    let error = run(cli, &mut Vec::new())
        .await
        .expect_err("no server on port 1");
    let message = error.to_string();
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the password leaked: {message}"
    );
}

#[tokio::test]
async fn revoked_tokens_are_refused() {
    let node = spawn_node().await;
    let created = kgnode(&node.database, &["token", "create", "--label", "temp"]).await;
    let secret = created.lines().last().unwrap().trim().to_owned();
    let listing = kgnode(&node.database, &["token", "list"]).await;
    let line = listing.lines().find(|l| l.contains("  temp  ")).unwrap();
    assert!(line.ends_with("live"), "{listing}");
    assert!(!listing.contains(&secret), "secrets are never shown again");
    let id = line.split_whitespace().next().unwrap();

    let body = json!({"slug": "c9", "name": "c9"});
    node.send(
        reqwest::Method::POST,
        "/api/v1/convergences",
        As::Token(&secret),
        Some(&body),
    )
    .await
    .expect(201);
    kgnode(&node.database, &["token", "revoke", id]).await;
    // The command line is another process than the node: the node hears of the revocation
    // through PostgreSQL (NOTIFY), within moments.
    let body = json!({"slug": "c10", "name": "c10"});
    crate::harness::eventually("the revoked token to be refused", || async {
        let reply = node
            .send(
                reqwest::Method::POST,
                "/api/v1/convergences",
                As::Token(&secret),
                Some(&body),
            )
            .await;
        (reply.status == 401).then_some(())
    })
    .await;
    assert_eq!(node.count("convergences WHERE slug = 'c10'").await, 0);
    let listing = kgnode(&node.database, &["token", "list"]).await;
    assert!(listing.contains("revoked"), "{listing}");
}

#[tokio::test]
async fn a_taken_port_is_named() {
    let database = TestDatabase::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let data_dir = std::env::temp_dir().join(&database.name);
    let error = run_kgnode(&database, &data_dir, &["--bind", &address, "serve"])
        .await
        .expect_err("the port is taken");
    let message = error.to_string();
    assert!(message.contains(&address), "{message}");
    assert!(message.contains("http.bind"), "{message}");
}

#[tokio::test]
async fn jobs_list_retry_and_discard_from_the_command_line() {
    let node = spawn_node().await;
    node.convergence("cli-jobs", "public").await;
    let id = node
        .post(
            "/api/v1/convergences/cli-jobs/contributions",
            json!({"text": "We should map the bike racks."}),
        )
        .await
        .expect(202)
        .id();
    let listed = crate::harness::eventually("the job to succeed", || async {
        let output = kgnode(&node.database, &["jobs", "list"]).await;
        output.contains("succeeded: 1").then_some(output)
    })
    .await;
    let job = listed
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert!(
        listed.contains("extraction  succeeded  attempt 1/3"),
        "{listed}"
    );
    let data_dir = std::env::temp_dir().join(&node.database.name);
    let refused = run_kgnode(&node.database, &data_dir, &["jobs", "retry", &job]).await;
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("only a failed job")
    );
    let discarded = kgnode(&node.database, &["jobs", "discard", &job]).await;
    assert!(discarded.contains("discarded"), "{discarded}");
    // A complete contribution keeps its status and products when its job is discarded.
    let body = node
        .get(&format!("/api/v1/contributions/{id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(body["status"], "complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_commands_round_trip_a_convergence() {
    let a = spawn_node().await;
    let b = spawn_node().await;
    a.convergence("garden", "public").await;
    let first = a
        .artifact("garden", json!({"kind": "idea", "title": "Rain barrels"}))
        .await;
    let second = a
        .artifact(
            "garden",
            json!({"kind": "question", "title": "Who waters?"}),
        )
        .await;
    a.post(
        "/api/v1/relationships",
        json!({"source": first, "target": second, "kind": "answers"}),
    )
    .await
    .expect(201);
    let file = std::env::temp_dir().join(format!("{}.ndjson", a.database.name));
    let file_arg = file.display().to_string();
    let data_dir = std::env::temp_dir().join(&a.database.name);
    run_kgnode(
        &a.database,
        &data_dir,
        &[
            "--public-url",
            &a.base,
            "export",
            "--convergence",
            "garden",
            "--format",
            "ndjson",
            "--out",
            &file_arg,
        ],
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 4);

    let dry = kgnode(&b.database, &["import", &file_arg, "--dry-run"]).await;
    assert!(
        dry.contains("would import into 'garden' (created)"),
        "{dry}"
    );
    assert_eq!(b.count("artifacts").await, 0);
    let done = kgnode(&b.database, &["import", &file_arg]).await;
    assert!(done.contains("artifacts: 2 created"), "{done}");
    assert!(done.contains("relationships: 1 created"), "{done}");
    let again = kgnode(&b.database, &["import", &file_arg]).await;
    assert!(
        again.contains("artifacts: 0 created, 0 updated, 2 unchanged"),
        "{again}"
    );
    let listed = b
        .get("/api/v1/convergences/garden/artifacts")
        .await
        .expect(200);
    assert_eq!(listed.body["items"][0]["id"], first.as_str());
    std::fs::remove_file(file).unwrap();
}
