//! # kg-federation
//!
//! The ActivityPub vocabulary a kgnode speaks with its peers, free of storage and HTTP serving:
//!
//! - [`context`]: the JSON-LD `@context` of our extension terms (kind, dimensions, weights,
//!   version) that every node serves, and the context list objects are sent with;
//! - [`actors`]: actor documents (`Group` for a convergence, `Application` for the node,
//!   `Person` for an author), tolerant enough to read Mastodon's and Lemmy's;
//! - [`objects`]: an artifact as an `Article`, a relationship as a `Relationship`;
//! - [`activities`]: Follow, Accept, Undo, Announce and the Create/Update/Delete they carry;
//! - [`nodeinfo`]: NodeInfo 2.1 documents and their discovery;
//! - [`origin`]: instance names (`host[:port]`), same-origin checks, block-list matching;
//! - [`backoff`]: the retry schedule of the persisted delivery queue.
//!
//! The node crate stores these things and serves them; this crate only says what they are.

pub mod activities;
pub mod actors;
pub mod backoff;
pub mod context;
pub mod nodeinfo;
pub mod objects;
pub mod origin;

pub use activitypub_federation::FEDERATION_CONTENT_TYPE;

/// Media types under which actors and objects are served (and which `Accept` headers ask for).
pub const ACTIVITY_MEDIA_TYPES: [&str; 2] = [
    "application/activity+json",
    "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"",
];

/// The ActivityStreams public collection, the audience of everything that federates.
pub const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";
