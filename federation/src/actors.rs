//! Actor documents: a convergence is a `Group`, the node an `Application`, an author a `Person`.
//!
//! [`ActorDocument`] is also what remote actors are read as, so it accepts what Mastodon, Lemmy
//! and others send (unknown fields ignored, most fields optional).

use activitypub_federation::protocol::public_key::PublicKey;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

/// ActivityStreams actor types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActorKind {
    /// A community; here, a convergence.
    Group,
    /// A software instance; here, the node itself.
    Application,
    /// A human; here, an artifact's author.
    Person,
    /// An automated service (Mastodon's instance actor, bots).
    Service,
    /// An organisation.
    Organization,
}

impl ActorKind {
    /// The type name as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Group => "Group",
            ActorKind::Application => "Application",
            ActorKind::Person => "Person",
            ActorKind::Service => "Service",
            ActorKind::Organization => "Organization",
        }
    }
}

/// Where an instance collects deliveries for all its actors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// The shared inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_inbox: Option<Url>,
}

/// An actor as served and as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActorDocument {
    /// Actor type.
    #[serde(rename = "type")]
    pub kind: ActorKind,
    /// The actor's URL.
    pub id: Url,
    /// Short handle (`slug` for a convergence), used in WebFinger's `acct:` names.
    #[serde(default)]
    pub preferred_username: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Where activities for this actor are posted.
    pub inbox: Url,
    /// Its outbox collection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox: Option<Url>,
    /// Its followers collection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followers: Option<Url>,
    /// Instance-wide endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
    /// The key its signatures are checked against.
    pub public_key: PublicKey,
    /// Whether follows need manual approval (never, for a public convergence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manually_approves_followers: Option<bool>,
    /// When the actor was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<DateTime<Utc>>,
}

impl ActorDocument {
    /// The shared inbox when the actor names one, else its own inbox.
    pub fn delivery_inbox(&self) -> &Url {
        self.endpoints
            .as_ref()
            .and_then(|endpoints| endpoints.shared_inbox.as_ref())
            .unwrap_or(&self.inbox)
    }
}

/// The public key block of an actor at `owner`, with the conventional `#main-key` id.
pub fn main_key(owner: &Url, public_key_pem: &str) -> PublicKey {
    PublicKey {
        id: format!("{owner}#main-key"),
        owner: owner.clone(),
        public_key_pem: public_key_pem.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A Mastodon person actor as served (see fixtures/README.md).
    const MASTODON_PERSON: &str = include_str!("../fixtures/mastodon_person.json");
    /// A Lemmy community (`Group`) actor.
    const LEMMY_GROUP: &str = include_str!("../fixtures/lemmy_group.json");

    #[test]
    fn reads_mastodon_and_lemmy_actors() {
        let person: ActorDocument = serde_json::from_str(MASTODON_PERSON).unwrap();
        assert_eq!(person.kind, ActorKind::Person);
        assert_eq!(person.preferred_username, "felix");
        assert_eq!(
            person.delivery_inbox().as_str(),
            "https://mastodon.madrid/inbox"
        );
        let group: ActorDocument = serde_json::from_str(LEMMY_GROUP).unwrap();
        assert_eq!(group.kind, ActorKind::Group);
        assert_eq!(
            group.inbox.as_str(),
            "https://enterprise.lemmy.ml/c/tenforward/inbox"
        );
    }
}
