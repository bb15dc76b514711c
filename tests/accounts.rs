//! Participants: registration and invites, sessions, roles, service-token roles, the audit log.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{As, TestNode, spawn_node, spawn_node_with};

/// An invite to `slug` with `role`, made with the node's admin token; returns its code.
pub async fn invite(node: &TestNode, slug: &str, role: &str, max_uses: u32) -> String {
    node.post(
        &format!("/api/v1/convergences/{slug}/invites"),
        json!({"role": role, "max_uses": max_uses}),
    )
    .await
    .expect(201)
    .body["code"]
        .as_str()
        .expect("code")
        .to_owned()
}

/// Registers `username` (with `invite` when given) and returns the reply.
pub async fn register(
    node: &TestNode,
    username: &str,
    invite: Option<&str>,
) -> crate::harness::Reply {
    let mut body = json!({"username": username, "password": "correct horse battery"});
    if let Some(code) = invite {
        body["invite"] = json!(code);
    }
    node.send(Method::POST, "/api/v1/accounts", As::Anonymous, Some(&body))
        .await
}

/// Signs `username` in and returns the session token.
pub async fn login(node: &TestNode, username: &str) -> String {
    let body = json!({"username": username, "password": "correct horse battery"});
    let reply = node
        .send(Method::POST, "/api/v1/sessions", As::Anonymous, Some(&body))
        .await
        .expect(201);
    reply.body["token"].as_str().expect("token").to_owned()
}

/// A participant with `role` in `slug` (through an invite), signed in; returns the session token.
pub async fn member(node: &TestNode, slug: &str, role: &str, username: &str) -> String {
    let code = invite(node, slug, role, 1).await;
    register(node, username, Some(&code)).await.expect(201);
    login(node, username).await
}

#[tokio::test]
async fn registration_follows_the_invite_rules() {
    let node = spawn_node().await;
    node.convergence("club", "private").await;
    register(&node, "nobody", None)
        .await
        .expect_error(403, "forbidden");
    register(&node, "nobody", Some("kgi_made_up"))
        .await
        .expect_error(422, "invalid_body");
    let code = invite(&node, "club", "contributor", 1).await;
    let registered = register(&node, "alice", Some(&code)).await.expect(201);
    assert_eq!(registered.body["participant"]["username"], "alice");
    assert_eq!(registered.body["membership"]["convergence"], "club");
    assert_eq!(registered.body["membership"]["role"], "contributor");
    // Single use: the code is spent.
    register(&node, "bob", Some(&code))
        .await
        .expect_error(422, "invalid_body");
    let code = invite(&node, "club", "viewer", 5).await;
    register(&node, "alice", Some(&code))
        .await
        .expect_error(409, "conflict");
    register(&node, "Not-Valid", Some(&code))
        .await
        .expect_error(422, "invalid_body");
    let short = json!({"username": "carol", "password": "short", "invite": code});
    let reply = node
        .send(
            Method::POST,
            "/api/v1/accounts",
            As::Anonymous,
            Some(&short),
        )
        .await
        .expect_error(422, "invalid_body");
    assert_eq!(reply.body["error"]["field"], "password");
    // An expired invite is refused; nothing was stored by any refusal.
    run_sql(
        &node,
        "UPDATE invites SET expires_at = now() - interval '1 second'",
    )
    .await;
    register(&node, "dave", Some(&code))
        .await
        .expect_error(422, "invalid_body");
    assert_eq!(node.count("participants").await, 1);

    let closed = spawn_node_with(|settings| {
        settings.accounts.registration = kgnode::config::Registration::Closed;
    })
    .await;
    register(&closed, "erin", None)
        .await
        .expect_error(403, "forbidden");
    let open = spawn_node_with(|settings| {
        settings.accounts.registration = kgnode::config::Registration::Open;
    })
    .await;
    let reply = register(&open, "frank", None).await.expect(201);
    assert!(reply.body["membership"].is_null());
}

/// Runs one SQL statement on the node's database.
async fn run_sql(node: &TestNode, statement: &str) {
    use diesel_async::RunQueryDsl;
    let mut conn = node.database.connect().await;
    diesel::sql_query(statement)
        .execute(&mut conn)
        .await
        .expect("statement");
}

#[tokio::test]
async fn sessions_sign_in_expire_and_sign_out() {
    let node = spawn_node().await;
    node.convergence("club", "private").await;
    let code = invite(&node, "club", "contributor", 1).await;
    register(&node, "alice", Some(&code)).await.expect(201);
    let wrong = json!({"username": "alice", "password": "wrong password!"});
    let unknown = json!({"username": "zed", "password": "correct horse battery"});
    for body in [wrong, unknown] {
        node.send(Method::POST, "/api/v1/sessions", As::Anonymous, Some(&body))
            .await
            .expect_error(401, "invalid_credentials");
    }
    let session = login(&node, "alice").await;
    assert!(session.starts_with("kgs_"));
    let me = node
        .get_as("/api/v1/me", As::Token(&session))
        .await
        .expect(200);
    assert_eq!(me.body["kind"], "participant");
    assert_eq!(me.body["participant"]["username"], "alice");
    assert_eq!(
        me.body["memberships"],
        json!([{"convergence": "club", "role": "contributor"}])
    );
    let me = node.get_as("/api/v1/me", As::Admin).await.expect(200);
    assert_eq!(me.body["kind"], "token");
    assert_eq!(me.body["role"], "admin");
    node.get("/api/v1/me")
        .await
        .expect_error(401, "unauthenticated");
    // Only a digest of the session is stored.
    let stored = node.count("sessions").await;
    assert_eq!(stored, 1);

    node.send(
        Method::DELETE,
        "/api/v1/sessions/current",
        As::Token(&session),
        None,
    )
    .await
    .expect(204);
    node.get_as("/api/v1/me", As::Token(&session))
        .await
        .expect_error(401, "invalid_token");

    // An expired session is refused (made to expire before its first use: a session in use
    // is remembered with its expiry, which passes by itself).
    let session = login(&node, "alice").await;
    run_sql(
        &node,
        "UPDATE sessions SET expires_at = now() - interval '1 second'",
    )
    .await;
    node.get_as("/api/v1/me", As::Token(&session))
        .await
        .expect_error(401, "invalid_token");
}

#[tokio::test]
async fn contributors_change_their_own_work_and_moderators_anyones() {
    let node = spawn_node().await;
    node.convergence("club", "private").await;
    let alice = member(&node, "club", "contributor", "alice").await;
    let mod_token = member(&node, "club", "moderator", "maud").await;
    let theirs = node
        .artifact("club", json!({"kind": "idea", "title": "The admin's"}))
        .await;
    node.get_as(&format!("/api/v1/artifacts/{theirs}"), As::Token(&alice))
        .await
        .expect(200);
    node.get(&format!("/api/v1/artifacts/{theirs}"))
        .await
        .expect_error(404, "not_found");
    let created = node
        .send(
            Method::POST,
            "/api/v1/convergences/club/artifacts",
            As::Token(&alice),
            Some(&json!({"kind": "claim", "title": "Alice's"})),
        )
        .await
        .expect(201);
    let own = created.id();
    let edit = json!({"title": "Alice's, edited", "version": 1});
    node.send(
        Method::PATCH,
        &format!("/api/v1/artifacts/{own}"),
        As::Token(&alice),
        Some(&edit),
    )
    .await
    .expect(200);
    node.send(
        Method::PATCH,
        &format!("/api/v1/artifacts/{theirs}"),
        As::Token(&alice),
        Some(&edit),
    )
    .await
    .expect_error(403, "forbidden");
    node.send(
        Method::DELETE,
        &format!("/api/v1/artifacts/{own}"),
        As::Token(&mod_token),
        None,
    )
    .await
    .expect(204);
    // The moderator's delete of someone else's artifact is audited; alice's own edit is not.
    let audit = node
        .get_as(
            "/api/v1/admin/audit?action=artifact.moderate_delete",
            As::Admin,
        )
        .await
        .expect(200);
    let items = audit.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", audit.body);
    assert_eq!(items[0]["actor_name"], "maud");
    assert_eq!(items[0]["target"], own);
    assert_eq!(items[0]["convergence"], "club");
    assert!(
        items[0]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(
        node.count("audit_log WHERE action = 'artifact.moderate'")
            .await,
        0
    );
}

#[tokio::test]
async fn token_roles_and_expiry_limit_what_tokens_do() {
    use kgnode::auth::{TokenRequest, TokenRole, create_token};
    let node = spawn_node().await;
    node.convergence("club", "private").await;
    let mut conn = node.database.connect().await;
    let slug = kgnode::domain::Slug::try_from("club".to_owned()).unwrap();
    let (_, reader) = create_token(
        &mut conn,
        &TokenRequest::convergence(slug.clone(), TokenRole::Read, "reader"),
    )
    .await
    .unwrap();
    let (_, writer) = create_token(
        &mut conn,
        &TokenRequest::convergence(slug.clone(), TokenRole::Write, "writer"),
    )
    .await
    .unwrap();
    let expired = TokenRequest {
        expires_at: Some(chrono::Utc::now() - chrono::Duration::seconds(1)),
        ..TokenRequest::node_admin("expired")
    };
    let (_, expired) = create_token(&mut conn, &expired).await.unwrap();
    let artifact = json!({"kind": "idea", "title": "T"});
    node.get_as("/api/v1/convergences/club", As::Token(&reader))
        .await
        .expect(200);
    node.send(
        Method::POST,
        "/api/v1/convergences/club/artifacts",
        As::Token(&reader),
        Some(&artifact),
    )
    .await
    .expect_error(403, "forbidden");
    node.send(
        Method::POST,
        "/api/v1/convergences/club/artifacts",
        As::Token(&writer),
        Some(&artifact),
    )
    .await
    .expect(201);
    // A write token may not change the convergence's settings (an admin token may).
    node.send(
        Method::PATCH,
        "/api/v1/convergences/club",
        As::Token(&writer),
        Some(&json!({"name": "C"})),
    )
    .await
    .expect_error(403, "forbidden");
    node.get_as("/api/v1/convergences/club", As::Token(&expired))
        .await
        .expect_error(401, "invalid_token");
}

#[tokio::test]
async fn admins_manage_members_and_every_action_is_audited_once() {
    let node = spawn_node().await;
    node.convergence("club", "private").await;
    let boss = member(&node, "club", "admin", "boss").await;
    let _ = member(&node, "club", "viewer", "vera").await;
    let as_boss = As::Token(&boss);
    let invite = node
        .send(
            Method::POST,
            "/api/v1/convergences/club/invites",
            as_boss,
            Some(&json!({})),
        )
        .await
        .expect(201);
    assert_eq!(invite.body["role"], "contributor");
    assert_eq!(invite.body["max_uses"], 1);
    let invite_id = invite.id();
    let listed = node
        .get_as("/api/v1/convergences/club/invites", as_boss)
        .await
        .expect(200);
    assert!(
        listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i.get("code").is_none())
    );
    node.send(
        Method::DELETE,
        &format!("/api/v1/convergences/club/invites/{invite_id}"),
        as_boss,
        None,
    )
    .await
    .expect(204);
    node.send(
        Method::PUT,
        "/api/v1/convergences/club/members/vera",
        as_boss,
        Some(&json!({"role": "moderator"})),
    )
    .await
    .expect(204);
    let members = node
        .get_as("/api/v1/convergences/club/members", as_boss)
        .await
        .expect(200);
    let vera: Vec<&Value> = members
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["username"] == "vera")
        .collect();
    assert_eq!(vera[0]["role"], "moderator");
    node.send(
        Method::PUT,
        "/api/v1/convergences/club/members/vera",
        as_boss,
        Some(&json!({"role": "owner"})),
    )
    .await
    .expect_error(422, "invalid_body");
    node.send(
        Method::DELETE,
        "/api/v1/convergences/club/members/vera",
        as_boss,
        None,
    )
    .await
    .expect(204);
    node.send(
        Method::DELETE,
        "/api/v1/convergences/club/members/vera",
        as_boss,
        None,
    )
    .await
    .expect_error(404, "not_found");
    node.send(
        Method::PATCH,
        "/api/v1/convergences/club",
        as_boss,
        Some(&json!({"name": "The club"})),
    )
    .await
    .expect(200);
    node.post("/api/v1/admin/blocks", json!({"host": "spam.example"}))
        .await
        .expect(201);
    // A convergence admin is no node administrator.
    node.get_as("/api/v1/admin/audit", as_boss)
        .await
        .expect_error(403, "forbidden");

    let audit = node
        .get_as("/api/v1/admin/audit?limit=500", As::Admin)
        .await
        .expect(200);
    let actions: Vec<(&str, &str)> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor_name"].as_str().unwrap(),
            )
        })
        .collect();
    let count = |action: &str| actions.iter().filter(|(a, _)| *a == action).count();
    // Newest first.
    assert_eq!(actions[0].0, "block.add");
    assert_eq!(count("block.add"), 1);
    assert_eq!(count("convergence.update"), 1);
    assert_eq!(count("member.set_role"), 1);
    assert_eq!(count("member.remove"), 1);
    assert_eq!(count("invite.revoke"), 1);
    // Three invites by the node's token (boss's and vera's, in the helper) and boss's own.
    assert_eq!(count("invite.create"), 3);
    assert_eq!(count("convergence.create"), 1);
    assert!(
        actions
            .iter()
            .any(|(a, who)| *a == "member.set_role" && *who == "boss")
    );
    // Keyset pages and filters.
    let page = node
        .get_as("/api/v1/admin/audit?limit=2", As::Admin)
        .await
        .expect(200);
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let next = node
        .get_as(
            &format!("/api/v1/admin/audit?limit=2&cursor={cursor}"),
            As::Admin,
        )
        .await
        .expect(200);
    assert_eq!(next.body["items"][0]["action"], actions[2].0);
    let filtered = node
        .get_as("/api/v1/admin/audit?actor=boss&convergence=club", As::Admin)
        .await
        .expect(200);
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 5);
}
