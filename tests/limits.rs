//! Rate limits (429 with Retry-After, per bucket, per client) and CORS.

use reqwest::Method;
use serde_json::json;

use crate::harness::{As, spawn_node_with};

fn limits(settings: &mut kgnode::config::Settings, per_minute: u32) {
    settings.limits.anonymous_reads_per_minute = per_minute;
    settings.limits.anonymous_searches_per_minute = per_minute;
    settings.limits.reads_per_minute = per_minute;
    settings.limits.writes_per_minute = per_minute;
    settings.limits.logins_per_minute_per_username = per_minute;
    settings.limits.logins_per_minute_per_ip = per_minute * 10;
    settings.http.cors_origins = vec!["https://app.example".to_owned()];
}

#[tokio::test]
async fn over_a_limit_answers_429_with_retry_after_and_a_spoofed_header_changes_nothing() {
    let node = spawn_node_with(|settings| limits(settings, 3)).await;
    for _ in 0..3 {
        node.get("/api/v1/convergences").await.expect(200);
    }
    let refused = node
        .client
        .get(node.url("/api/v1/convergences"))
        .header("Origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(
        refused.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // The peer is not a trusted proxy: claiming another address is ignored.
    let spoofed = node
        .client
        .get(node.url("/api/v1/convergences"))
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 429);
    // Searches, and callers with a token, have buckets of their own.
    node.get("/api/v1/search?q=x").await.expect(200);
    node.get_as("/api/v1/convergences", As::Admin)
        .await
        .expect(200);
    for n in 0..3 {
        node.post(
            "/api/v1/convergences",
            json!({"slug": format!("c{n}"), "name": "C"}),
        )
        .await
        .expect(201);
    }
    node.post("/api/v1/convergences", json!({"slug": "c9", "name": "C"}))
        .await
        .expect_error(429, "rate_limited");
    assert_eq!(node.count("convergences").await, 3);
}

#[tokio::test]
async fn trusted_proxies_name_the_client_and_logins_are_limited_per_username() {
    let node = spawn_node_with(|settings| {
        limits(settings, 2);
        settings.http.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let from = |client: &'static str| {
        node.client
            .get(node.url("/api/v1/convergences"))
            .header("X-Forwarded-For", format!("198.51.100.7, {client}"))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(from("192.0.2.1").await.unwrap().status(), 200);
    }
    assert_eq!(from("192.0.2.1").await.unwrap().status(), 429);
    // Another client behind the same proxy is counted apart; the spoofed first hop is not
    // what decides.
    assert_eq!(from("192.0.2.2").await.unwrap().status(), 200);

    let attempt = json!({"username": "mallory", "password": "guess guess guess"});
    for _ in 0..2 {
        node.send(
            Method::POST,
            "/api/v1/sessions",
            As::Anonymous,
            Some(&attempt),
        )
        .await
        .expect_error(401, "invalid_credentials");
    }
    node.send(
        Method::POST,
        "/api/v1/sessions",
        As::Anonymous,
        Some(&attempt),
    )
    .await
    .expect_error(429, "rate_limited");
}

#[tokio::test]
async fn cors_preflights_are_answered_for_configured_origins_only() {
    let node = spawn_node_with(|settings| limits(settings, 100)).await;
    let preflight = |origin: &'static str| {
        node.client
            .request(
                Method::OPTIONS,
                node.url("/api/v1/convergences/x/artifacts"),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // A simple request from the allowed origin can read the answer and its request id.
    let reply = node
        .client
        .get(node.url("/api/v1/convergences"))
        .header("Origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let exposed = reply.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("x-request-id") && exposed.contains("retry-after"));
}
