//! NodeInfo 2.1 (<https://nodeinfo.diaspora.software/>): what software a node runs and how
//! much it holds, discovered through `/.well-known/nodeinfo`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

/// The schema URI of NodeInfo 2.1, the `rel` of its discovery link.
pub const SCHEMA_2_1: &str = "http://nodeinfo.diaspora.software/ns/schema/2.1";

/// Media type of a NodeInfo 2.1 document.
pub const MEDIA_TYPE_2_1: &str =
    "application/json; profile=\"http://nodeinfo.diaspora.software/ns/schema/2.1#\"";

/// `/.well-known/nodeinfo`: where the documents are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    /// One link per supported schema version.
    pub links: Vec<DiscoveryLink>,
}

/// A link of [`Discovery`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryLink {
    /// The schema URI.
    pub rel: String,
    /// The document's URL.
    pub href: Url,
}

impl Discovery {
    /// Discovery pointing at the 2.1 document at `href`.
    pub fn version_2_1(href: Url) -> Self {
        Discovery {
            links: vec![DiscoveryLink {
                rel: SCHEMA_2_1.to_owned(),
                href,
            }],
        }
    }
}

/// A NodeInfo 2.1 document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// Always `2.1`.
    pub version: String,
    /// The software.
    pub software: Software,
    /// Always `["activitypub"]`.
    pub protocols: Vec<String>,
    /// Third-party services (none).
    pub services: Services,
    /// Whether anyone may sign up (a node hands out tokens through its admin only).
    pub open_registrations: bool,
    /// How much the node holds.
    pub usage: Usage,
    /// Free-form facts: node name, convergence and relationship counts.
    pub metadata: Value,
}

/// The software a node runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Software {
    /// Canonical name, `[a-z0-9-]`.
    pub name: String,
    /// Version.
    pub version: String,
    /// Source repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
}

/// Third-party services a node connects to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Services {
    /// Services it reads from.
    pub inbound: Vec<String>,
    /// Services it writes to.
    pub outbound: Vec<String>,
}

/// Usage figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Authors.
    pub users: Users,
    /// Local, live artifacts.
    pub local_posts: i64,
}

/// Author counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Users {
    /// Distinct authors of local artifacts.
    pub total: i64,
    /// Of them, those who wrote in the last 180 days.
    pub active_halfyear: i64,
    /// Of them, those who wrote in the last 30 days.
    pub active_month: i64,
}

impl NodeInfo {
    /// A 2.1 document for this software with the given figures.
    pub fn new(version: &str, repository: Option<&str>, usage: Usage, metadata: Value) -> Self {
        NodeInfo {
            version: "2.1".to_owned(),
            software: Software {
                name: "kgnode".to_owned(),
                version: version.to_owned(),
                repository: repository.map(str::to_owned),
            },
            protocols: vec!["activitypub".to_owned()],
            services: Services::default(),
            open_registrations: false,
            usage,
            metadata,
        }
    }
}
