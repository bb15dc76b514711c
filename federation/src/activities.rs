//! Activities exchanged between nodes.
//!
//! Following: `Follow` (a node's `Application` actor → a convergence's `Group`), answered by
//! `Accept` (or `Reject`, for an actor that cannot be followed); `Undo` of the `Follow` (embedded
//! or by id) ends it. Content: the `Group` sends `Announce` wrapping a
//! `Create`, `Update` or `Delete` of an artifact or relationship, as Lemmy communities do.
//! An actor whose own document changed (a convergence renamed, a key replaced) sends `Update`
//! of itself, as Mastodon does for profiles.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::actors::ActorDocument;
use crate::objects::{ArtifactObject, RelationshipObject};

/// `Follow` type tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FollowType {
    /// `Follow`.
    Follow,
}

/// `Accept` type tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AcceptType {
    /// `Accept`.
    Accept,
}

/// `Reject` type tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectType {
    /// `Reject`.
    Reject,
}

/// `Undo` type tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UndoType {
    /// `Undo`.
    Undo,
}

/// `Announce` type tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnnounceType {
    /// `Announce`.
    Announce,
}

/// `Update` type tag, for an actor's update of its own document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateType {
    /// `Update`.
    Update,
}

/// `Tombstone` type tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TombstoneType {
    /// `Tombstone`.
    Tombstone,
}

/// What a content activity does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContentType {
    /// The object is new.
    Create,
    /// The object changed.
    Update,
    /// The object is gone.
    Delete,
}

/// A request to receive a convergence's activities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Follow {
    /// Always `Follow`.
    #[serde(rename = "type")]
    pub kind: FollowType,
    /// The activity's URL.
    pub id: Url,
    /// Who follows.
    pub actor: Url,
    /// What is followed (a `Group`).
    pub object: Url,
}

/// A `Follow` embedded in full, or named by its id (both are seen in the wild).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FollowRef {
    /// The whole `Follow`.
    Embedded(Follow),
    /// Its id only.
    Id(Url),
}

impl FollowRef {
    /// The `Follow`'s id.
    pub fn id(&self) -> &Url {
        match self {
            FollowRef::Embedded(follow) => &follow.id,
            FollowRef::Id(id) => id,
        }
    }
}

/// The followed actor's consent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accept {
    /// Always `Accept`.
    #[serde(rename = "type")]
    pub kind: AcceptType,
    /// The activity's URL.
    pub id: Url,
    /// The followed actor.
    pub actor: Url,
    /// The accepted `Follow`.
    pub object: FollowRef,
}

/// The followed actor's refusal (an author or the node itself: only convergences can be
/// followed), so that the follower does not wait forever.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reject {
    /// Always `Reject`.
    #[serde(rename = "type")]
    pub kind: RejectType,
    /// The activity's URL.
    pub id: Url,
    /// The actor that was to be followed.
    pub actor: Url,
    /// The refused `Follow`.
    pub object: FollowRef,
}

/// Withdraws a `Follow`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Undo {
    /// Always `Undo`.
    #[serde(rename = "type")]
    pub kind: UndoType,
    /// The activity's URL.
    pub id: Url,
    /// Who stops following.
    pub actor: Url,
    /// The `Follow` being undone.
    pub object: FollowRef,
}

/// A deleted object, as the object of a `Delete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TombstoneObject {
    /// Always `Tombstone`.
    #[serde(rename = "type")]
    pub kind: TombstoneType,
    /// The deleted object's URL.
    pub id: Url,
    /// `Article` or `Relationship`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub former_type: Option<String>,
}

/// The object of a content activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ContentObject {
    /// An artifact.
    Artifact(Box<ArtifactObject>),
    /// A relationship.
    Relationship(Box<RelationshipObject>),
    /// A deleted object.
    Tombstone(TombstoneObject),
    /// An object named by its URL (as `Delete` usually does).
    Id(Url),
}

impl ContentObject {
    /// The object's URL.
    pub fn id(&self) -> &Url {
        match self {
            ContentObject::Artifact(artifact) => &artifact.id,
            ContentObject::Relationship(relationship) => &relationship.id,
            ContentObject::Tombstone(tombstone) => &tombstone.id,
            ContentObject::Id(id) => id,
        }
    }
}

/// Create, Update or Delete of an artifact or a relationship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentActivity {
    /// What it does.
    #[serde(rename = "type")]
    pub kind: ContentType,
    /// The activity's URL.
    pub id: Url,
    /// Who did it (the convergence's `Group`).
    pub actor: Url,
    /// The object.
    pub object: ContentObject,
    /// The convergence it happened in.
    pub audience: Url,
    /// Addressing: the public collection.
    #[serde(default)]
    pub to: Vec<Url>,
    /// Addressing: the convergence's followers.
    #[serde(default)]
    pub cc: Vec<Url>,
}

/// A convergence passing a content activity on to its followers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Announce {
    /// Always `Announce`.
    #[serde(rename = "type")]
    pub kind: AnnounceType,
    /// The activity's URL.
    pub id: Url,
    /// The convergence's `Group`.
    pub actor: Url,
    /// The announced activity.
    pub object: ContentActivity,
    /// Addressing: the public collection.
    #[serde(default)]
    pub to: Vec<Url>,
    /// Addressing: the convergence's followers.
    #[serde(default)]
    pub cc: Vec<Url>,
}

/// An actor sending its own, changed document to those who follow it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateActor {
    /// Always `Update`.
    #[serde(rename = "type")]
    pub kind: UpdateType,
    /// The activity's URL.
    pub id: Url,
    /// The actor that changed.
    pub actor: Url,
    /// Its new document (its `id` is `actor`).
    pub object: ActorDocument,
    /// Addressing: the public collection.
    #[serde(default)]
    pub to: Vec<Url>,
    /// Addressing: the actor's followers.
    #[serde(default)]
    pub cc: Vec<Url>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_mastodon_undo_follow() {
        let undo: Undo =
            serde_json::from_str(include_str!("../fixtures/mastodon_undo_follow.json")).unwrap();
        let FollowRef::Embedded(follow) = &undo.object else {
            panic!("the Follow is embedded");
        };
        assert_eq!(follow.object.as_str(), "https://ds9.lemmy.ml/c/testcom");
        assert_eq!(undo.actor, follow.actor);
    }

    #[test]
    fn reads_a_mastodon_profile_update() {
        let person: serde_json::Value =
            serde_json::from_str(include_str!("../fixtures/mastodon_person.json")).unwrap();
        let actor = person["id"].as_str().unwrap().to_owned();
        let update: UpdateActor = serde_json::from_value(serde_json::json!({
            "@context": ["https://www.w3.org/ns/activitystreams"],
            "id": format!("{actor}#updates/1700000000"),
            "type": "Update",
            "actor": actor,
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "object": person,
        }))
        .unwrap();
        assert_eq!(update.object.id, update.actor);
        assert!(!update.object.public_key.public_key_pem.is_empty());
    }

    #[test]
    fn delete_objects_may_be_ids_or_tombstones() {
        let by_id: ContentObject =
            serde_json::from_str("\"https://a.example/artifacts/1\"").unwrap();
        assert!(matches!(by_id, ContentObject::Id(_)));
        let tombstone: ContentObject = serde_json::from_str(
            r#"{"type":"Tombstone","id":"https://a.example/artifacts/1","formerType":"Article"}"#,
        )
        .unwrap();
        assert_eq!(tombstone.id().as_str(), "https://a.example/artifacts/1");
    }
}
