//! The route × role table: every operation of the OpenAPI document, called by every kind of
//! caller, answers as the README's table says. A route missing from the table fails the test,
//! so a new route cannot ship without a decision about who may call it.

use reqwest::Method;
use serde_json::{Value, json};

use crate::accounts::{invite, member};
use crate::harness::{TestNode, spawn_node};

/// The least a caller must be to use a route (each level may do what the ones before may).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    /// Anyone, without credentials.
    Anyone,
    /// Any signed-in participant or token.
    SignedIn,
    /// A viewer of the private convergence the request is about.
    Viewer,
    /// A contributor there.
    Contributor,
    /// A moderator there (the targets were made by someone else).
    Moderator,
    /// An admin of the convergence.
    ConvergenceAdmin,
    /// A node administrator.
    NodeAdmin,
}

/// Who may call each operation. Targets are in the private convergence `p` where a route has
/// one; `absent` marks admin routes whose made-up target may legitimately be missing (404).
const TABLE: &[(&str, &str, Level, bool)] = &[
    ("GET", "/healthz", Level::Anyone, false),
    ("GET", "/readyz", Level::Anyone, false),
    ("POST", "/api/v1/accounts", Level::Anyone, false),
    ("POST", "/api/v1/sessions", Level::Anyone, false),
    ("GET", "/api/v1/me", Level::SignedIn, false),
    ("GET", "/api/v1/convergences", Level::Anyone, false),
    ("POST", "/api/v1/convergences", Level::NodeAdmin, false),
    ("GET", "/api/v1/convergences/{slug}", Level::Viewer, false),
    (
        "PATCH",
        "/api/v1/convergences/{slug}",
        Level::ConvergenceAdmin,
        false,
    ),
    (
        "GET",
        "/api/v1/convergences/{slug}/artifacts",
        Level::Viewer,
        false,
    ),
    (
        "POST",
        "/api/v1/convergences/{slug}/artifacts",
        Level::Contributor,
        false,
    ),
    (
        "POST",
        "/api/v1/convergences/{slug}/batch",
        Level::Contributor,
        false,
    ),
    (
        "GET",
        "/api/v1/convergences/{slug}/contributions",
        Level::Viewer,
        false,
    ),
    (
        "POST",
        "/api/v1/convergences/{slug}/contributions",
        Level::Contributor,
        false,
    ),
    (
        "GET",
        "/api/v1/convergences/{slug}/dimensions",
        Level::Viewer,
        false,
    ),
    (
        "GET",
        "/api/v1/convergences/{slug}/events",
        Level::Viewer,
        false,
    ),
    (
        "GET",
        "/api/v1/convergences/{slug}/export",
        Level::Viewer,
        false,
    ),
    (
        "GET",
        "/api/v1/convergences/{slug}/invites",
        Level::ConvergenceAdmin,
        false,
    ),
    (
        "POST",
        "/api/v1/convergences/{slug}/invites",
        Level::ConvergenceAdmin,
        false,
    ),
    (
        "DELETE",
        "/api/v1/convergences/{slug}/invites/{id}",
        Level::ConvergenceAdmin,
        false,
    ),
    (
        "GET",
        "/api/v1/convergences/{slug}/members",
        Level::ConvergenceAdmin,
        false,
    ),
    (
        "PUT",
        "/api/v1/convergences/{slug}/members/{username}",
        Level::ConvergenceAdmin,
        false,
    ),
    (
        "DELETE",
        "/api/v1/convergences/{slug}/members/{username}",
        Level::ConvergenceAdmin,
        false,
    ),
    ("GET", "/api/v1/artifacts/{id}", Level::Viewer, false),
    ("PATCH", "/api/v1/artifacts/{id}", Level::Moderator, false),
    ("DELETE", "/api/v1/artifacts/{id}", Level::Moderator, false),
    (
        "GET",
        "/api/v1/artifacts/{id}/relationships",
        Level::Viewer,
        false,
    ),
    ("GET", "/api/v1/contributions/{id}", Level::Viewer, false),
    (
        "POST",
        "/api/v1/contributions/{id}/retry",
        Level::Contributor,
        false,
    ),
    ("POST", "/api/v1/relationships", Level::Contributor, false),
    ("GET", "/api/v1/relationships/{id}", Level::Viewer, false),
    (
        "DELETE",
        "/api/v1/relationships/{id}",
        Level::Moderator,
        false,
    ),
    ("GET", "/api/v1/search", Level::Viewer, false),
    ("GET", "/api/v1/events", Level::Anyone, false),
    (
        "GET",
        "/api/v1/graph/neighborhood/{id}",
        Level::Viewer,
        false,
    ),
    ("GET", "/api/v1/graph/path", Level::Viewer, false),
    ("GET", "/api/v1/graph/centrality", Level::Viewer, false),
    ("GET", "/api/v1/graph/components", Level::Anyone, false),
    ("GET", "/api/v1/graph/subgraph", Level::Anyone, false),
    ("GET", "/api/v1/graph/export", Level::Anyone, false),
    ("POST", "/api/v1/import", Level::NodeAdmin, false),
    ("GET", "/api/v1/admin/audit", Level::NodeAdmin, false),
    ("GET", "/api/v1/admin/projections", Level::NodeAdmin, false),
    ("GET", "/api/v1/admin/jobs", Level::NodeAdmin, false),
    ("DELETE", "/api/v1/admin/jobs/{id}", Level::NodeAdmin, true),
    (
        "POST",
        "/api/v1/admin/jobs/{id}/retry",
        Level::NodeAdmin,
        true,
    ),
    ("GET", "/api/v1/admin/federation", Level::NodeAdmin, false),
    (
        "GET",
        "/api/v1/admin/federation/parked",
        Level::NodeAdmin,
        false,
    ),
    (
        "DELETE",
        "/api/v1/admin/federation/parked/{id}",
        Level::NodeAdmin,
        true,
    ),
    (
        "POST",
        "/api/v1/admin/federation/parked/{id}/retry",
        Level::NodeAdmin,
        true,
    ),
    ("GET", "/api/v1/admin/follows", Level::NodeAdmin, false),
    ("POST", "/api/v1/admin/follows", Level::NodeAdmin, false),
    (
        "DELETE",
        "/api/v1/admin/follows/{convergence}",
        Level::NodeAdmin,
        true,
    ),
    ("GET", "/api/v1/admin/blocks", Level::NodeAdmin, false),
    ("POST", "/api/v1/admin/blocks", Level::NodeAdmin, false),
    (
        "DELETE",
        "/api/v1/admin/blocks/{host}",
        Level::NodeAdmin,
        true,
    ),
    // Last: it ends the caller's session.
    ("DELETE", "/api/v1/sessions/current", Level::SignedIn, false),
];

/// One kind of caller: its credentials and the level it acts at in `p`.
struct Role {
    name: &'static str,
    token: Option<String>,
    level: Level,
}

/// Things in `p` (made by the node's admin token, so nobody else's own) the routes are
/// called on.
struct Fixtures {
    artifact: String,
    other: String,
    relationship: String,
    contribution: String,
}

async fn fresh_artifact(node: &TestNode) -> String {
    node.artifact("p", json!({"kind": "idea", "title": "Target"}))
        .await
}

async fn fixtures(node: &TestNode) -> Fixtures {
    let artifact = fresh_artifact(node).await;
    let other = fresh_artifact(node).await;
    let relationship = node
        .post(
            "/api/v1/relationships",
            json!({"source": artifact, "target": other, "kind": "supports"}),
        )
        .await
        .expect(201)
        .id();
    let contribution = node
        .post(
            "/api/v1/convergences/p/contributions",
            json!({"text": "Roles decide what people may do."}),
        )
        .await
        .expect(202)
        .id();
    Fixtures {
        artifact,
        other,
        relationship,
        contribution,
    }
}

/// The concrete path, query and body for one call of `template` by `method`. Routes that
/// consume their target get a fresh one.
async fn request_for(
    node: &TestNode,
    fixtures: &Fixtures,
    method: &str,
    template: &str,
    call: usize,
) -> (String, Option<Value>) {
    let fresh = matches!(method, "PATCH" | "DELETE");
    let artifact = if fresh && template == "/api/v1/artifacts/{id}" {
        fresh_artifact(node).await
    } else {
        fixtures.artifact.clone()
    };
    let relationship = if fresh && template == "/api/v1/relationships/{id}" {
        let source = fresh_artifact(node).await;
        node.post(
            "/api/v1/relationships",
            json!({"source": source, "target": fixtures.other, "kind": "supports"}),
        )
        .await
        .expect(201)
        .id()
    } else {
        fixtures.relationship.clone()
    };
    let id = match template {
        t if t.starts_with("/api/v1/artifacts/") || t.starts_with("/api/v1/graph/") => artifact,
        t if t.starts_with("/api/v1/relationships/") => relationship,
        t if t.starts_with("/api/v1/contributions/") => fixtures.contribution.clone(),
        t if t.starts_with("/api/v1/convergences/{slug}/invites/") => node
            .post("/api/v1/convergences/p/invites", json!({}))
            .await
            .expect(201)
            .id(),
        t if t.starts_with("/api/v1/admin/federation/parked/") => "1".to_owned(),
        _ => uuid::Uuid::now_v7().to_string(),
    };
    if template == "/api/v1/convergences/{slug}/members/{username}" && method == "DELETE" {
        node.send(
            Method::PUT,
            "/api/v1/convergences/p/members/target",
            crate::harness::As::Admin,
            Some(&json!({"role": "viewer"})),
        )
        .await
        .expect(204);
    }
    let path = template
        .replace("{slug}", "p")
        .replace("{id}", &id)
        .replace("{username}", "target")
        .replace("{convergence}", "gone@localhost")
        .replace("{host}", "blocked.example");
    let query = match template {
        "/api/v1/search" => "?q=target&convergence=p".to_owned(),
        "/api/v1/graph/path" => format!("?from={}&to={}", fixtures.artifact, fixtures.other),
        "/api/v1/graph/centrality" => "?convergence=p".to_owned(),
        "/api/v1/graph/subgraph" => format!("?ids={},{}", fixtures.artifact, fixtures.other),
        _ => String::new(),
    };
    let body = match (method, template) {
        ("POST", "/api/v1/accounts") => Some(json!({
            "username": format!("new_{call}"),
            "password": "correct horse battery",
            "invite": invite(node, "p", "viewer", 1).await,
        })),
        ("POST", "/api/v1/sessions") => {
            Some(json!({"username": "target", "password": "correct horse battery"}))
        }
        ("POST", "/api/v1/convergences") => Some(json!({"slug": format!("c-{call}"), "name": "C"})),
        ("PATCH", "/api/v1/convergences/{slug}") => Some(json!({"description": "changed"})),
        ("POST", "/api/v1/convergences/{slug}/artifacts") => {
            Some(json!({"kind": "idea", "title": "New"}))
        }
        ("POST", "/api/v1/convergences/{slug}/batch") => {
            Some(json!({"artifacts": [{"key": "a", "kind": "idea", "title": "New"}]}))
        }
        ("POST", "/api/v1/convergences/{slug}/contributions") => {
            Some(json!({"text": "Another thought."}))
        }
        ("POST", "/api/v1/convergences/{slug}/invites") => Some(json!({})),
        ("PUT", _) => Some(json!({"role": "viewer"})),
        ("PATCH", "/api/v1/artifacts/{id}") => Some(json!({"title": "Edited", "version": 1})),
        ("POST", "/api/v1/relationships") => Some(json!({
            "source": fixtures.other, "target": fixtures.artifact, "kind": "relates_to",
        })),
        ("POST", "/api/v1/import") => Some(json!({})),
        ("POST", "/api/v1/admin/follows") => Some(json!({"target": "nobody@localhost"})),
        ("POST", "/api/v1/admin/blocks") => Some(json!({"host": "blocked.example"})),
        _ => None,
    };
    (format!("{path}{query}"), body)
}

/// The operations of the OpenAPI document, as (method, path) pairs.
async fn operations(node: &TestNode) -> Vec<(String, String)> {
    let document = node.get("/api/v1/openapi.json").await.expect(200).body;
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_table_says() {
    let node = spawn_node().await;
    node.convergence("p", "private").await;
    let target_code = invite(&node, "p", "viewer", 1).await;
    crate::accounts::register(&node, "target", Some(&target_code))
        .await
        .expect(201);
    let fixtures = fixtures(&node).await;
    node.settle().await;

    let documented = operations(&node).await;
    for (method, path) in &documented {
        assert!(
            TABLE.iter().any(|(m, p, ..)| m == method && p == path),
            "{method} {path} is in the OpenAPI document but not in the route × role table"
        );
    }
    for (method, path, ..) in TABLE {
        assert!(
            documented.iter().any(|(m, p)| m == method && p == path),
            "{method} {path} is in the table but not in the OpenAPI document"
        );
    }

    let mut roles = vec![
        Role {
            name: "anonymous",
            token: None,
            level: Level::Anyone,
        },
        Role {
            name: "stranger",
            token: Some(crate::accounts::member(&node, "p", "viewer", "stranger").await),
            level: Level::SignedIn,
        },
    ];
    // The stranger's membership is taken away again: signed in, with no role in p.
    node.send(
        Method::DELETE,
        "/api/v1/convergences/p/members/stranger",
        crate::harness::As::Admin,
        None,
    )
    .await
    .expect(204);
    for (name, role, level) in [
        ("viewer", "viewer", Level::Viewer),
        ("contributor", "contributor", Level::Contributor),
        ("moderator", "moderator", Level::Moderator),
        ("convergence_admin", "admin", Level::ConvergenceAdmin),
    ] {
        let token = member(&node, "p", role, name).await;
        roles.push(Role {
            name,
            token: Some(token),
            level,
        });
    }
    roles.push(Role {
        name: "node_admin",
        token: Some(node_admin_session(&node).await),
        level: Level::NodeAdmin,
    });
    roles.push(Role {
        name: "node_read_token",
        token: Some(service_token(&node, None, kgnode::auth::TokenRole::Read).await),
        level: Level::Viewer,
    });
    roles.push(Role {
        name: "p_write_token",
        token: Some(service_token(&node, Some("p"), kgnode::auth::TokenRole::Write).await),
        level: Level::Moderator,
    });

    let mut failures = Vec::new();
    let mut call = 0;
    for role in &roles {
        for (method, template, needed, absent) in TABLE {
            call += 1;
            let (path, body) = request_for(&node, &fixtures, method, template, call).await;
            let mut request = node
                .client
                .request(method.parse().expect("method"), node.url(&path));
            if let Some(token) = &role.token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            // Only the status matters; event streams would never end, so bodies are not read.
            let status = request.send().await.expect("request").status().as_u16();
            let allowed = role.level >= *needed;
            let refused = matches!(status, 401 | 403) || (status == 404 && !absent);
            let ok = if allowed {
                !refused && status < 500
            } else {
                refused
            };
            if !ok {
                failures.push(format!(
                    "{} {method} {path}: {status} (expected {})",
                    role.name,
                    if allowed { "allowed" } else { "refused" }
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "route × role mismatches:\n{}",
        failures.join("\n")
    );
}

/// A node administrator participant, made on the command line as an operator would, signed in.
async fn node_admin_session(node: &TestNode) -> String {
    use kgnode::auth::{Caller, PasswordHashing};
    let settings = kgnode::config::Settings::defaults().expect("defaults");
    let hashing = PasswordHashing::new(&settings.accounts).expect("hashing");
    let mut conn = node.database.connect().await;
    kgnode::service::accounts::create_by_admin(
        &mut conn,
        &Caller::system(),
        &hashing,
        &kgnode::domain::Username::try_from("root_admin".to_owned()).expect("username"),
        &kgnode::domain::Password::try_from("correct horse battery".to_owned()).expect("password"),
        true,
    )
    .await
    .expect("admin account");
    crate::accounts::login(node, "root_admin").await
}

async fn service_token(
    node: &TestNode,
    slug: Option<&str>,
    role: kgnode::auth::TokenRole,
) -> String {
    use kgnode::auth::{TokenRequest, create_token};
    let request = TokenRequest {
        convergence: slug.map(|s| kgnode::domain::Slug::try_from(s.to_owned()).expect("slug")),
        role,
        ..TokenRequest::node_admin("roles")
    };
    let mut conn = node.database.connect().await;
    create_token(&mut conn, &request).await.expect("token").1
}
