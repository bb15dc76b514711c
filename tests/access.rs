use reqwest::Method;
use serde_json::json;

use crate::harness::{As, spawn_node};

#[tokio::test]
async fn private_convergences_are_invisible_without_a_token_for_them() {
    let node = spawn_node().await;
    node.convergence("open", "public").await;
    node.convergence("secret", "private").await;
    node.convergence("other-secret", "private").await;
    let token = node.convergence_token("secret").await;
    let other = node.convergence_token("other-secret").await;

    let public_artifact = node
        .artifact("open", json!({"kind": "idea", "title": "public"}))
        .await;
    let hidden = node
        .artifact("secret", json!({"kind": "idea", "title": "hidden"}))
        .await;
    let edge = node
        .post(
            "/api/v1/relationships",
            json!({"source": public_artifact, "target": hidden, "kind": "relates_to"}),
        )
        .await
        .expect(201)
        .id();
    // A token that may write where the edge starts but cannot read where it ends cannot see the
    // edge, so it cannot delete it either.
    let open = node.convergence_token("open").await;
    let path = format!("/api/v1/relationships/{edge}");
    node.get_as(&path, As::Token(&open)).await.expect(404);
    node.send(Method::DELETE, &path, As::Token(&open), None)
        .await
        .expect(404);
    node.get_as(&path, As::Admin).await.expect(200);

    for who in [As::Anonymous, As::Token(&other)] {
        node.get_as("/api/v1/convergences/secret", who)
            .await
            .expect_error(404, "not_found");
        node.get_as("/api/v1/convergences/secret/artifacts", who)
            .await
            .expect(404);
        node.get_as("/api/v1/convergences/secret/dimensions", who)
            .await
            .expect(404);
        node.get_as(&format!("/api/v1/artifacts/{hidden}"), who)
            .await
            .expect(404);
        node.get_as(&format!("/api/v1/artifacts/{hidden}/relationships"), who)
            .await
            .expect(404);
        // The edge from a public artifact to a private one is hidden too.
        let edges = node
            .get_as(
                &format!("/api/v1/artifacts/{public_artifact}/relationships"),
                who,
            )
            .await
            .expect(200)
            .body;
        assert_eq!(edges["items"], json!([]));
        let list = node
            .get_as("/api/v1/convergences", who)
            .await
            .expect(200)
            .body;
        let slugs: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["slug"].as_str().unwrap())
            .collect();
        assert!(!slugs.contains(&"secret"), "{slugs:?}");
        // Writing there: without a token 401 (as for any write); with another token it looks
        // like writing to nothing.
        let expected = if matches!(who, As::Anonymous) {
            401
        } else {
            404
        };
        node.send(
            Method::POST,
            "/api/v1/convergences/secret/artifacts",
            who,
            Some(&json!({"kind": "idea", "title": "x"})),
        )
        .await
        .expect(expected);
    }

    // The convergence's own token and node-wide tokens see everything.
    for who in [As::Token(&token), As::Admin] {
        node.get_as("/api/v1/convergences/secret", who)
            .await
            .expect(200);
        node.get_as(&format!("/api/v1/artifacts/{hidden}"), who)
            .await
            .expect(200);
        let edges = node
            .get_as(
                &format!("/api/v1/artifacts/{public_artifact}/relationships"),
                who,
            )
            .await
            .expect(200)
            .body;
        assert_eq!(edges["items"].as_array().unwrap().len(), 1);
    }
    let list = node
        .get_as("/api/v1/convergences", As::Token(&token))
        .await
        .expect(200)
        .body;
    let slugs: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["open", "secret"]);

    // Making a convergence private hides what was public.
    node.patch(
        "/api/v1/convergences/open",
        json!({"visibility": "private"}),
    )
    .await
    .expect(200);
    node.get(&format!("/api/v1/artifacts/{public_artifact}"))
        .await
        .expect(404);
}
