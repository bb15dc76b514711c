//! Knowledge objects: an artifact is an `Article`, a relationship a `Relationship`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

/// The `type` of an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArticleType {
    /// ActivityStreams `Article`.
    Article,
}

/// The `type` of a relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelationshipType {
    /// ActivityStreams `Relationship`.
    Relationship,
}

/// The `type` of a dimension tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DimensionType {
    /// `kg:Dimension`.
    Dimension,
}

/// One weighted dimension tag of an artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DimensionTag {
    /// Always `Dimension`.
    #[serde(rename = "type")]
    pub kind: DimensionType,
    /// The dimension's name.
    pub name: String,
    /// Its weight in [0, 1].
    pub weight: f64,
}

/// An artifact as an ActivityStreams `Article` with kgnode's terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactObject {
    /// Always `Article`.
    #[serde(rename = "type")]
    pub kind: ArticleType,
    /// The artifact's URL on its origin.
    pub id: Url,
    /// Title.
    pub name: String,
    /// Body text.
    #[serde(default)]
    pub content: String,
    /// `text/plain`: bodies are plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Kind of knowledge (`idea`, `question`, ...).
    pub artifact_kind: String,
    /// Weighted dimension tags.
    #[serde(default)]
    pub dimensions: Vec<DimensionTag>,
    /// Version on the origin; a copy only ever moves to a higher one.
    pub version: i32,
    /// The convergence (`Group`) it belongs to.
    pub audience: Url,
    /// The author's `Person` actor, or the convergence when the author is unknown.
    pub attributed_to: Url,
    /// The author's name as given when it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    /// Addressing: the public collection.
    #[serde(default)]
    pub to: Vec<Url>,
    /// Addressing: the convergence's followers.
    #[serde(default)]
    pub cc: Vec<Url>,
    /// Creation time.
    pub published: DateTime<Utc>,
    /// Last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<DateTime<Utc>>,
}

/// A relationship between two artifacts as an ActivityStreams `Relationship`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelationshipObject {
    /// Always `Relationship`.
    #[serde(rename = "type")]
    pub kind: RelationshipType,
    /// The relationship's URL on its origin.
    pub id: Url,
    /// The source artifact.
    pub subject: Url,
    /// The target artifact.
    pub object: Url,
    /// Its kind as `kg:<kind>` (see [`crate::context::relationship_iri`]).
    pub relationship: String,
    /// Weight in (0, 1].
    pub weight: f64,
    /// The convergence of the source artifact.
    pub audience: Url,
    /// Addressing: the public collection.
    #[serde(default)]
    pub to: Vec<Url>,
    /// Creation time.
    pub published: DateTime<Utc>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn artifacts_keep_their_terms_and_tolerate_missing_optional_ones() {
        let object: ArtifactObject = serde_json::from_value(json!({
            "@context": ["https://www.w3.org/ns/activitystreams"],
            "type": "Article",
            "id": "https://a.example/artifacts/1",
            "name": "Title",
            "artifactKind": "idea",
            "dimensions": [{"type": "Dimension", "name": "ethics", "weight": 0.5}],
            "version": 2,
            "audience": "https://a.example/c/x",
            "attributedTo": "https://a.example/c/x",
            "published": "2026-01-01T00:00:00Z",
            "somethingElse": true
        }))
        .unwrap();
        assert_eq!(object.dimensions[0].weight, 0.5);
        assert_eq!(object.content, "");
        let back = serde_json::to_value(&object).unwrap();
        assert_eq!(back["artifactKind"], "idea");
        assert!(back.get("authorName").is_none());
        assert!(
            serde_json::from_value::<ArtifactObject>(
                json!({"type": "Note", "id": "https://a.example/1"})
            )
            .is_err()
        );
    }
}
