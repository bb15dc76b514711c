use reqwest::Method;
use serde_json::json;

use crate::harness::{As, TestNode, reply, spawn_node};

const ARTIFACTS: &str = "/api/v1/convergences/c1/artifacts";
const JSON: &str = "application/json";

/// A body sent with the admin token, the status and code expected, and the `field` expected
/// when the body was at fault.
struct BodyCase {
    path: &'static str,
    content_type: &'static str,
    body: String,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

fn case(body: &str, status: u16, code: &'static str, field: Option<&'static str>) -> BodyCase {
    BodyCase {
        path: ARTIFACTS,
        content_type: JSON,
        body: body.to_owned(),
        status,
        code,
        field,
    }
}

async fn send_raw(node: &TestNode, case: &BodyCase) -> crate::harness::Reply {
    reply(
        node.client
            .post(node.url(case.path))
            .bearer_auth(&node.admin_token)
            .header("content-type", case.content_type)
            .body(case.body.clone()),
    )
    .await
}

fn body_cases() -> Vec<BodyCase> {
    let huge_body = format!(
        r#"{{"kind": "idea", "title": "t", "body": "{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let long_body = json!({"kind": "idea", "title": "t", "body": "y".repeat(100_001)}).to_string();
    vec![
        case(r#"{"kind": "idea","#, 400, "malformed_json", None),
        case("", 400, "malformed_json", None),
        case(
            r#"{"kind": "idea", "title": "t"} trailing"#,
            400,
            "malformed_json",
            None,
        ),
        BodyCase {
            content_type: "text/plain",
            ..case("{}", 415, "unsupported_media_type", None)
        },
        case(
            r#"{"kind": "idea", "title": 5}"#,
            422,
            "invalid_body",
            Some("title"),
        ),
        case(
            r#"{"kind": "idea", "title": "t", "colour": "red"}"#,
            400,
            "unknown_field",
            Some("colour"),
        ),
        case(
            r#"{"kind": "memo", "title": "t"}"#,
            422,
            "invalid_body",
            Some("kind"),
        ),
        case(
            r#"{"kind": "idea", "title": ""}"#,
            422,
            "invalid_body",
            Some("title"),
        ),
        case(
            r#"{"kind": "idea", "title": "nul\u0000byte"}"#,
            422,
            "invalid_body",
            Some("title"),
        ),
        case(
            r#"{"kind": "idea", "title": "t", "dimensions": {"a": -0.1}}"#,
            422,
            "invalid_body",
            Some("dimensions.a"),
        ),
        case(
            r#"{"kind": "idea", "title": "t", "dimensions": {"A": 0.1, "a ": 0.2}}"#,
            422,
            "invalid_body",
            Some("dimensions"),
        ),
        case(&long_body, 422, "invalid_body", Some("body")),
        case(&huge_body, 413, "payload_too_large", None),
        BodyCase {
            path: "/api/v1/relationships",
            ..case(
                r#"{"source": "x", "target": "y", "kind": "supports"}"#,
                422,
                "invalid_body",
                Some("source"),
            )
        },
        BodyCase {
            path: "/api/v1/convergences",
            ..case(
                r#"{"slug": "Not A Slug", "name": "n"}"#,
                422,
                "invalid_body",
                Some("slug"),
            )
        },
        BodyCase {
            path: "/api/v1/convergences",
            ..case(
                r#"{"slug": "ok", "name": "n", "visibility": "secret"}"#,
                422,
                "invalid_body",
                Some("visibility"),
            )
        },
    ]
}

#[tokio::test]
async fn bad_bodies_get_a_clear_4xx_and_store_nothing() {
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    let before = node.count("change_log").await;
    for case in body_cases() {
        let reply = send_raw(&node, &case).await;
        let preview: String = case.body.chars().take(80).collect();
        assert_eq!(
            reply.status.as_u16(),
            case.status,
            "{preview}: {}",
            reply.body
        );
        assert_eq!(
            reply.body["error"]["code"], case.code,
            "{preview}: {}",
            reply.body
        );
        if let Some(field) = case.field {
            assert_eq!(
                reply.body["error"]["field"], field,
                "{preview}: {}",
                reply.body
            );
        }
    }
    assert_eq!(node.count("artifacts").await, 0);
    assert_eq!(node.count("change_log").await, before);
}

#[tokio::test]
async fn bad_paths_and_parameters_get_a_clear_4xx() {
    let node = spawn_node().await;
    node.convergence("c1", "public").await;
    let missing = uuid::Uuid::now_v7();
    let cases = [
        (
            "/api/v1/artifacts/not-a-uuid".to_owned(),
            400,
            "invalid_parameter",
        ),
        (format!("/api/v1/artifacts/{missing}"), 404, "not_found"),
        (
            "/api/v1/convergences/%00/artifacts".to_owned(),
            404,
            "not_found",
        ),
        (
            format!("{ARTIFACTS}?dimension=%00"),
            400,
            "invalid_parameter",
        ),
        (format!("{ARTIFACTS}?limit=0"), 400, "invalid_parameter"),
        (format!("{ARTIFACTS}?limit=501"), 400, "invalid_parameter"),
        (format!("{ARTIFACTS}?limit=ten"), 400, "invalid_parameter"),
        (format!("{ARTIFACTS}?kind=memo"), 400, "invalid_parameter"),
        (
            format!("{ARTIFACTS}?cursor=garbage"),
            400,
            "invalid_parameter",
        ),
        (format!("{ARTIFACTS}?colour=red"), 400, "invalid_parameter"),
        ("/api/v1/nothing-here".to_owned(), 404, "route_not_found"),
    ];
    for (path, status, code) in cases {
        let reply = node.get(&path).await;
        assert_eq!(reply.status.as_u16(), status, "{path}: {}", reply.body);
        assert_eq!(reply.body["error"]["code"], code, "{path}: {}", reply.body);
    }
    // An empty cursor is no cursor.
    node.get("/api/v1/convergences?cursor=").await.expect(200);
    node.delete("/api/v1/relationships/123")
        .await
        .expect_error(400, "invalid_parameter");

    let wrong_method = node
        .send(Method::PUT, "/api/v1/convergences", As::Admin, None)
        .await
        .expect_error(405, "method_not_allowed");
    assert_eq!(wrong_method.header("allow"), Some("GET, POST"));
    node.send(Method::DELETE, "/healthz", As::Anonymous, None)
        .await
        .expect_error(405, "method_not_allowed");

    let bad_if_match = reply(
        node.client
            .patch(node.url(&format!("/api/v1/artifacts/{missing}")))
            .bearer_auth(&node.admin_token)
            .header("If-Match", "*")
            .json(&json!({"title": "x"})),
    )
    .await;
    bad_if_match.expect_error(400, "invalid_parameter");

    // Without a token, a write is refused before its body or target is looked at.
    let anonymous = reply(
        node.client
            .post(node.url("/api/v1/convergences/nowhere/batch"))
            .header("content-type", JSON)
            .body("{not json"),
    )
    .await;
    anonymous.expect_error(401, "unauthenticated");
}
