//! The export format: JSON-LD with the node's served context (every term maps to an absolute
//! IRI: ActivityStreams where it has one, `kg:` otherwise), as one document or as NDJSON (the
//! header first, then one artifact or relationship per line, each with its `@context`).
//!
//! Objects are named by their IRI on the exporting node (`{exportedFrom}artifacts/{uuid}`);
//! `origin` keeps the IRI of a federated copy's original.

use chrono::{DateTime, Utc};
use kg_federation::context::{ACTIVITY_STREAMS, CONTEXT_PATH};
use kg_federation::objects::DimensionTag;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

/// The format version this node writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The `@context` of an export made at `base`.
pub fn context(base: &Url) -> Value {
    json!([
        ACTIVITY_STREAMS,
        format!("{}{CONTEXT_PATH}", base.as_str().trim_end_matches('/'))
    ])
}

/// `Export` type tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportType {
    /// `kg:Export`.
    Export,
}

/// `Group` type tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupType {
    /// ActivityStreams `Group`.
    Group,
}

/// `Article` type tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArticleType {
    /// ActivityStreams `Article`.
    Article,
}

/// `Contribution` type tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContributionType {
    /// `kg:Contribution`.
    Contribution,
}

/// `Relationship` type tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelationshipType {
    /// ActivityStreams `Relationship`.
    Relationship,
}

/// The whole document; in NDJSON, its first line (without `artifacts` and `relationships`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportDocument {
    /// The JSON-LD context.
    #[serde(rename = "@context")]
    pub context: Value,
    /// Always `Export`.
    #[serde(rename = "type")]
    pub kind: ExportType,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The exporting node's public URL.
    pub exported_from: Url,
    /// The change-log position the export reflects.
    pub log_position: i64,
    /// The convergence.
    pub convergence: ConvergenceEntry,
    /// Its contributions, in id order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contributions: Vec<ContributionEntry>,
    /// Its live artifacts, in id order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactEntry>,
    /// Relationships with an end among them: those of each page of artifacts, by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relationships: Vec<RelationshipEntry>,
}

/// A convergence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConvergenceEntry {
    /// Always `Group`.
    #[serde(rename = "type")]
    pub kind: GroupType,
    /// Its IRI on the exporting node.
    pub id: Url,
    /// Its slug.
    pub preferred_username: String,
    /// Display name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub summary: String,
    /// `public` or `private`.
    pub visibility: String,
    /// Creation time.
    pub published: DateTime<Utc>,
    /// Last change.
    pub updated: DateTime<Utc>,
    /// The original `Group` of a federated mirror.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// An artifact, every field of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactEntry {
    /// Present on NDJSON lines.
    #[serde(rename = "@context", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// Always `Article`.
    #[serde(rename = "type")]
    pub kind: ArticleType,
    /// Its IRI on the exporting node.
    pub id: Url,
    /// `idea`, `question`, ...
    pub artifact_kind: String,
    /// Title.
    pub name: String,
    /// Body.
    #[serde(default)]
    pub content: String,
    /// The author's name as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    /// Weighted dimension tags, by name.
    #[serde(default)]
    pub dimensions: Vec<DimensionTag>,
    /// Version.
    pub version: i32,
    /// Creation time.
    pub published: DateTime<Utc>,
    /// Last change.
    pub updated: DateTime<Utc>,
    /// The original of a federated copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The contribution it was extracted from (its IRI on the exporting node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contribution: Option<Url>,
}

/// A contribution: the text people gave, and how its extraction went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContributionEntry {
    /// Present on NDJSON lines.
    #[serde(rename = "@context", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// Always `Contribution`.
    #[serde(rename = "type")]
    pub kind: ContributionType,
    /// Its IRI on the exporting node.
    pub id: Url,
    /// The text.
    pub content: String,
    /// Its author's name as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    /// `pending`, `processing`, `complete` or `failed`.
    pub status: String,
    /// Extraction attempts made.
    pub attempts: i32,
    /// The last failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Existing artifacts it was linked to instead of duplicated (IRIs).
    #[serde(default)]
    pub reused: Vec<Url>,
    /// When it was received.
    pub published: DateTime<Utc>,
    /// Its last status change.
    pub updated: DateTime<Utc>,
    /// When its extraction completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<DateTime<Utc>>,
}

/// A relationship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RelationshipEntry {
    /// Present on NDJSON lines.
    #[serde(rename = "@context", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// Always `Relationship`.
    #[serde(rename = "type")]
    pub kind: RelationshipType,
    /// Its IRI on the exporting node.
    pub id: Url,
    /// The source artifact's IRI.
    pub subject: Url,
    /// The target artifact's IRI.
    pub object: Url,
    /// `kg:<kind>`.
    pub relationship: String,
    /// Weight in (0, 1].
    pub weight: f64,
    /// Creation time.
    pub published: DateTime<Utc>,
    /// The original of a federated copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The contribution it was extracted from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contribution: Option<Url>,
}
