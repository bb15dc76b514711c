//! Read-only facts about the node that handlers need.

use url::Url;

/// The node's public identity and the schema version it expects.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Base URL under which the node is reachable.
    pub public_url: Url,
    /// Migration versions compiled into this binary.
    pub expected_migrations: Vec<String>,
}

impl NodeInfo {
    /// The absolute URL of a path on this node.
    pub fn url(&self, path: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }
}
