//! The JSON-LD context of kgnode's extension terms.
//!
//! Objects are sent with `@context: [ActivityStreams, security, <node>/ns/context.jsonld]`; the
//! last document is served by every node (see [`context_document`]) so that standard JSON-LD
//! processors expand `artifactKind`, `dimensions`, `weight` and `version` to full IRIs under
//! [`NAMESPACE`] instead of dropping them.

use serde_json::{Value, json};

/// IRI prefix of every kgnode term (`kg:` in compact form).
pub const NAMESPACE: &str = "https://kgnode.org/ns#";

/// Path under which a node serves [`context_document`].
pub const CONTEXT_PATH: &str = "/ns/context.jsonld";

/// The ActivityStreams 2.0 context.
pub const ACTIVITY_STREAMS: &str = "https://www.w3.org/ns/activitystreams";

/// The W3C security vocabulary (for `publicKey`).
pub const SECURITY: &str = "https://w3id.org/security/v1";

/// The context document itself.
pub fn context_document() -> Value {
    json!({
        "@context": {
            "kg": NAMESPACE,
            "as": "https://www.w3.org/ns/activitystreams#",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
            // Not in the ActivityStreams context document, though every actor uses it.
            "manuallyApprovesFollowers": {
                "@id": "as:manuallyApprovesFollowers",
                "@type": "xsd:boolean"
            },
            "artifactKind": {"@id": "kg:artifactKind"},
            "authorName": {"@id": "kg:authorName"},
            "dimensions": {"@id": "kg:dimensions", "@container": "@set"},
            "Dimension": "kg:Dimension",
            "weight": {"@id": "kg:weight", "@type": "xsd:double"},
            "version": {"@id": "kg:version", "@type": "xsd:integer"},
            // Exports of a convergence (see the node's portability module).
            "Export": "kg:Export",
            "formatVersion": {"@id": "kg:formatVersion", "@type": "xsd:integer"},
            "exportedFrom": {"@id": "kg:exportedFrom", "@type": "@id"},
            "logPosition": {"@id": "kg:logPosition", "@type": "xsd:integer"},
            "convergence": {"@id": "kg:convergence"},
            "visibility": {"@id": "kg:visibility"},
            "artifacts": {"@id": "kg:artifacts", "@container": "@set"},
            "relationships": {"@id": "kg:relationships", "@container": "@set"},
            "contributions": {"@id": "kg:contributions", "@container": "@set"},
            "Contribution": "kg:Contribution",
            "status": {"@id": "kg:status"},
            "attempts": {"@id": "kg:attempts", "@type": "xsd:integer"},
            "error": {"@id": "kg:error"},
            "reused": {"@id": "kg:reused", "@type": "@id", "@container": "@set"},
            "completed": {"@id": "kg:completed", "@type": "xsd:dateTime"},
            "origin": {"@id": "kg:origin", "@type": "@id"},
            "contribution": {"@id": "kg:contribution", "@type": "@id"}
        }
    })
}

/// The `@context` value objects and activities of the node at `base` are sent with.
pub fn object_context(base: &url::Url) -> Value {
    let own = format!("{}{}", base.as_str().trim_end_matches('/'), CONTEXT_PATH);
    json!([ACTIVITY_STREAMS, SECURITY, own])
}

/// A relationship kind as the IRI `kg:<kind>` (the value of `relationship`).
pub fn relationship_iri(kind: &str) -> String {
    format!("kg:{kind}")
}

/// The kind named by `kg:<kind>` or its expanded form; `None` for anything else.
pub fn relationship_kind(iri: &str) -> Option<&str> {
    iri.strip_prefix("kg:")
        .or_else(|| iri.strip_prefix(NAMESPACE))
        .filter(|kind| !kind.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relationship_kinds_round_trip_in_both_forms() {
        assert_eq!(
            relationship_kind(&relationship_iri("supports")),
            Some("supports")
        );
        assert_eq!(
            relationship_kind("https://kgnode.org/ns#extends"),
            Some("extends")
        );
        assert_eq!(relationship_kind("supports"), None);
        assert_eq!(relationship_kind("kg:"), None);
    }
}
