//! URLs of this node's actors and objects, and their reverse: what federation, exports and
//! imports name them by.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;
use uuid::Uuid;

/// The node's own actor (`Application`).
pub const NODE_ACTOR_PATH: &str = "/actor";
/// The shared inbox.
pub const SHARED_INBOX_PATH: &str = "/inbox";

/// Builds absolute URLs under the node's public base URL.
#[derive(Debug, Clone)]
pub struct LocalUrls {
    base: Url,
}

impl LocalUrls {
    /// URLs under `base`.
    pub fn new(base: Url) -> Self {
        Self { base }
    }

    /// The public base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(path);
        url
    }

    /// Path of a convergence's `Group` actor.
    pub fn group_path(slug: &str) -> String {
        format!("/c/{slug}")
    }

    /// Path of an author's `Person` actor (the name percent-encoded as one segment).
    pub fn person_path(name: &str) -> String {
        format!("/people/{}", utf8_percent_encode(name, NON_ALPHANUMERIC))
    }

    /// A local artifact's object URL.
    pub fn artifact(&self, id: Uuid) -> Url {
        self.url(&format!("/artifacts/{id}"))
    }

    /// A local relationship's object URL.
    pub fn relationship(&self, id: Uuid) -> Url {
        self.url(&format!("/relationships/{id}"))
    }

    /// A fresh activity URL.
    pub fn new_activity(&self) -> Url {
        self.url(&format!("/activities/{}", Uuid::now_v7()))
    }

    /// A contribution's URL (its API resource: contributions are not ActivityPub objects).
    pub fn contribution(&self, id: Uuid) -> Url {
        self.url(&format!("/api/v1/contributions/{id}"))
    }

    /// The id of the local artifact `url` names, if it names one.
    pub fn local_artifact(&self, url: &Url) -> Option<Uuid> {
        self.local_id(url, "/artifacts/")
    }

    /// The id of the local relationship `url` names, if it names one.
    pub fn local_relationship(&self, url: &Url) -> Option<Uuid> {
        self.local_id(url, "/relationships/")
    }

    /// The id of the local contribution `url` names, if it names one.
    pub fn local_contribution(&self, url: &Url) -> Option<Uuid> {
        self.local_id(url, "/api/v1/contributions/")
    }

    fn local_id(&self, url: &Url, prefix: &str) -> Option<Uuid> {
        if !kg_federation::origin::same_origin(url, &self.base) {
            return None;
        }
        url.path().strip_prefix(prefix)?.parse().ok()
    }

    /// The slug of the local convergence whose `Group` is `url`, if it is one.
    pub fn local_group(&self, url: &Url) -> Option<String> {
        if !kg_federation::origin::same_origin(url, &self.base) {
            return None;
        }
        let slug = url.path().strip_prefix("/c/")?;
        (!slug.is_empty() && !slug.contains('/')).then(|| slug.to_owned())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn local_urls_round_trip() {
        let urls = LocalUrls::new(Url::parse("http://localhost:8080").unwrap());
        let id = Uuid::now_v7();
        assert_eq!(urls.local_artifact(&urls.artifact(id)), Some(id));
        assert_eq!(urls.local_relationship(&urls.relationship(id)), Some(id));
        assert_eq!(urls.local_relationship(&urls.artifact(id)), None);
        assert_eq!(urls.local_contribution(&urls.contribution(id)), Some(id));
        assert_eq!(
            urls.local_group(&urls.url(&LocalUrls::group_path("ideas")))
                .as_deref(),
            Some("ideas")
        );
        let elsewhere = Url::parse(&format!("http://localhost:9/artifacts/{id}")).unwrap();
        assert_eq!(urls.local_artifact(&elsewhere), None);
        assert_eq!(
            LocalUrls::person_path("Ada Lovelace"),
            "/people/Ada%20Lovelace"
        );
        assert_eq!(LocalUrls::person_path("a/b"), "/people/a%2Fb");
    }
}
