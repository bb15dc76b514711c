//! One change-log record as a stream event: its type name, the convergences a reader must be
//! allowed to read, and its `data` line, rendered once per process whatever the number of
//! subscribers.

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::api::{
    ArtifactResponse, ContributionResponse, ConvergenceResponse, RelationshipResponse,
};
use crate::auth::Caller;
use crate::db::{ChangeEvent, ChangeRecord, Snapshot};
use crate::domain::Visibility;
use crate::service::ArtifactWithDimensions;

/// Every event type a stream sends, besides `ready`.
pub const EVENT_TYPES: [&str; 10] = [
    "artifact.created",
    "artifact.updated",
    "artifact.deleted",
    "relationship.created",
    "relationship.updated",
    "relationship.deleted",
    "convergence.created",
    "convergence.updated",
    "contribution.created",
    "contribution.updated",
];

/// A convergence an event concerns, and whether anyone may read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Concerned {
    id: Uuid,
    public: bool,
}

/// A change as subscribers receive it.
#[derive(Debug)]
pub struct StreamEvent {
    /// Its change-log sequence number, the SSE `id`.
    pub seq: i64,
    /// Its type, the SSE `event`: one of [`EVENT_TYPES`].
    pub name: &'static str,
    /// The `data` line: `seq`, `convergence` (slug), `id`, and (but for deletes) `entity`, the
    /// entity as `GET` shows it now, null when it no longer exists.
    pub data: String,
    /// The convergences it concerns (a relationship: both ends'); a reader must be allowed to
    /// read each of them.
    concerns: Vec<Concerned>,
}

impl StreamEvent {
    /// True when it belongs to the stream of convergence `id`.
    pub fn concerns(&self, id: Uuid) -> bool {
        self.concerns.iter().any(|concerned| concerned.id == id)
    }

    /// True when `caller` may read everything it concerns.
    pub fn visible_to(&self, caller: &Caller) -> bool {
        self.concerns
            .iter()
            .all(|concerned| concerned.public || caller.role_in(concerned.id).is_some())
    }
}

/// What an event says about its entity.
enum Entity<T> {
    /// A delete: the id only.
    Omitted,
    /// The entity as it is now (`None`: it no longer exists).
    Current(Option<T>),
}

/// Renders `changes` with the rows `snapshot` holds for them.
pub fn render(changes: &[ChangeRecord], snapshot: &Snapshot) -> Vec<StreamEvent> {
    changes
        .iter()
        .map(|change| render_one(change, snapshot))
        .collect()
}

fn render_one(change: &ChangeRecord, snapshot: &Snapshot) -> StreamEvent {
    let seq = change.seq;
    match &change.event {
        ChangeEvent::ConvergenceChanged {
            id,
            created,
            slug,
            visibility,
        } => {
            let entity = snapshot
                .convergence(*id)
                .cloned()
                .map(ConvergenceResponse::from);
            StreamEvent {
                seq,
                name: if *created {
                    "convergence.created"
                } else {
                    "convergence.updated"
                },
                data: data(seq, Some(slug), *id, Entity::Current(entity)),
                concerns: vec![Concerned {
                    id: *id,
                    public: *visibility == Visibility::Public,
                }],
            }
        }
        ChangeEvent::ArtifactUpserted {
            id,
            convergence,
            created,
            ..
        } => {
            let entity = snapshot.live_artifact(*id).and_then(|artifact| {
                Some(ArtifactResponse::from(ArtifactWithDimensions {
                    artifact: artifact.clone(),
                    convergence: snapshot.convergence(*convergence)?.slug.clone(),
                    dimensions: snapshot.dimensions(*id),
                }))
            });
            let name = if *created {
                "artifact.created"
            } else {
                "artifact.updated"
            };
            artifact_event(
                seq,
                name,
                *id,
                *convergence,
                Entity::Current(entity),
                snapshot,
            )
        }
        ChangeEvent::ArtifactDeleted {
            id, convergence, ..
        } => artifact_event(
            seq,
            "artifact.deleted",
            *id,
            *convergence,
            Entity::<()>::Omitted,
            snapshot,
        ),
        ChangeEvent::RelationshipUpserted {
            id,
            convergence,
            created,
            edge,
        } => {
            let entity = snapshot
                .relationship(*id)
                .cloned()
                .map(RelationshipResponse::from);
            let name = if *created {
                "relationship.created"
            } else {
                "relationship.updated"
            };
            let ends = [edge.source, edge.target];
            relationship_event(
                seq,
                name,
                *id,
                *convergence,
                ends,
                Entity::Current(entity),
                snapshot,
            )
        }
        ChangeEvent::RelationshipDeleted {
            id,
            convergence,
            edge,
        } => {
            let ends = [edge.source, edge.target];
            let entity = Entity::<()>::Omitted;
            relationship_event(
                seq,
                "relationship.deleted",
                *id,
                *convergence,
                ends,
                entity,
                snapshot,
            )
        }
        ChangeEvent::ContributionChanged {
            id,
            convergence,
            created,
            ..
        } => {
            let (slug, concerned) = convergence_of(*convergence, snapshot);
            let entity = snapshot
                .contribution(*id)
                .cloned()
                .map(|record| ContributionResponse::new(record, slug.unwrap_or_default()));
            StreamEvent {
                seq,
                name: if *created {
                    "contribution.created"
                } else {
                    "contribution.updated"
                },
                data: data(seq, slug, *id, Entity::Current(entity)),
                concerns: vec![concerned],
            }
        }
    }
}

fn artifact_event<T: Serialize>(
    seq: i64,
    name: &'static str,
    id: Uuid,
    convergence: Uuid,
    entity: Entity<T>,
    snapshot: &Snapshot,
) -> StreamEvent {
    let (slug, concerned) = convergence_of(convergence, snapshot);
    StreamEvent {
        seq,
        name,
        data: data(seq, slug, id, entity),
        concerns: vec![concerned],
    }
}

fn relationship_event<T: Serialize>(
    seq: i64,
    name: &'static str,
    id: Uuid,
    convergence: Uuid,
    ends: [Uuid; 2],
    entity: Entity<T>,
    snapshot: &Snapshot,
) -> StreamEvent {
    let (slug, _) = convergence_of(convergence, snapshot);
    let concerns = ends
        .iter()
        .map(|end| match snapshot.artifact_with_convergence(*end) {
            Some((_, convergence)) => concerned(convergence.id, &convergence.visibility),
            // An end the node does not hold: only node-wide tokens see the edge.
            None => Concerned {
                id: *end,
                public: false,
            },
        })
        .collect();
    StreamEvent {
        seq,
        name,
        data: data(seq, slug, id, entity),
        concerns,
    }
}

/// The slug and visibility of convergence `id`; unknown ones are treated as private.
fn convergence_of(id: Uuid, snapshot: &Snapshot) -> (Option<&str>, Concerned) {
    match snapshot.convergence(id) {
        Some(row) => (Some(row.slug.as_str()), concerned(id, &row.visibility)),
        None => (None, Concerned { id, public: false }),
    }
}

fn concerned(id: Uuid, visibility: &str) -> Concerned {
    Concerned {
        id,
        public: visibility == Visibility::Public.as_str(),
    }
}

fn data<T: Serialize>(seq: i64, convergence: Option<&str>, id: Uuid, entity: Entity<T>) -> String {
    let mut fields = Map::new();
    fields.insert("seq".to_owned(), seq.into());
    fields.insert("convergence".to_owned(), convergence.into());
    fields.insert("id".to_owned(), id.to_string().into());
    if let Entity::Current(entity) = entity {
        let value = serde_json::to_value(entity).unwrap_or(Value::Null);
        fields.insert("entity".to_owned(), value);
    }
    Value::Object(fields).to_string()
}
