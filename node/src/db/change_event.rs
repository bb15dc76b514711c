//! The typed events of the change log. Each row stores one [`ChangeEvent`]: its `entity` and
//! `operation` columns and its JSON payload are derived from the event when it is written, and
//! the event is rebuilt from them when it is read, so every consumer matches on a closed enum
//! (a new variant fails to compile in each of them until it is handled).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{ArtifactKind, ContributionStatus, RelationshipKind, Visibility};

/// One change of the knowledge graph, as its consumers (search, graph, federation) see it.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeEvent {
    /// A convergence was created (`created`) or changed: its name, description or visibility.
    ConvergenceChanged {
        /// The convergence.
        id: Uuid,
        /// Created by this change, rather than changed.
        created: bool,
        /// Its slug.
        slug: String,
        /// Its visibility after the change.
        visibility: Visibility,
    },
    /// An artifact was created (`created`) or changed, its dimension set included.
    ArtifactUpserted {
        /// The artifact.
        id: Uuid,
        /// Its convergence.
        convergence: Uuid,
        /// Created by this change, rather than changed.
        created: bool,
        /// Its version after the change.
        version: i32,
        /// Its kind.
        kind: ArtifactKind,
    },
    /// An artifact was (soft-)deleted, with its relationships (each has its own event).
    ArtifactDeleted {
        /// The artifact.
        id: Uuid,
        /// Its convergence.
        convergence: Uuid,
        /// Its last version.
        version: i32,
        /// Its kind.
        kind: ArtifactKind,
    },
    /// A relationship was created (`created`) or changed.
    RelationshipUpserted {
        /// The relationship.
        id: Uuid,
        /// Its source's convergence.
        convergence: Uuid,
        /// Created by this change, rather than changed.
        created: bool,
        /// Its ends, kind and weight.
        edge: EdgeChange,
    },
    /// A relationship was deleted.
    RelationshipDeleted {
        /// The relationship.
        id: Uuid,
        /// Its source's convergence.
        convergence: Uuid,
        /// What it was, so that a consumer can undo it.
        edge: EdgeChange,
    },
    /// A contribution was received (`created`) or its extraction moved on.
    ContributionChanged {
        /// The contribution.
        id: Uuid,
        /// Its convergence.
        convergence: Uuid,
        /// Received by this change, rather than changed.
        created: bool,
        /// Its status after the change.
        status: ContributionStatus,
    },
}

/// A relationship as a change describes it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EdgeChange {
    /// The source artifact.
    pub source: Uuid,
    /// The target artifact.
    pub target: Uuid,
    /// Its kind.
    pub kind: RelationshipKind,
    /// Its weight.
    pub weight: f64,
}

/// The payload of a convergence change.
#[derive(Serialize, Deserialize)]
struct ConvergencePayload {
    slug: String,
    visibility: Visibility,
}

/// The payload of a contribution change.
#[derive(Serialize, Deserialize)]
struct ContributionPayload {
    status: ContributionStatus,
}

/// The payload of an artifact change.
#[derive(Serialize, Deserialize)]
struct ArtifactPayload {
    version: i32,
    kind: ArtifactKind,
}

/// A stored row that is no event of this version of the node.
#[derive(Debug, thiserror::Error)]
#[error("change-log row ({entity}, {operation}) is not a known event: {reason}")]
pub struct UndecodableChange {
    entity: String,
    operation: String,
    reason: String,
}

/// The columns a [`ChangeEvent`] is stored as.
pub(crate) struct StoredEvent {
    pub entity: &'static str,
    pub operation: &'static str,
    pub entity_id: Uuid,
    pub convergence_id: Uuid,
    pub payload: serde_json::Value,
}

const INSERT: &str = "insert";
const UPDATE: &str = "update";
const DELETE: &str = "delete";

fn operation(created: bool) -> &'static str {
    if created { INSERT } else { UPDATE }
}

impl ChangeEvent {
    /// The convergence the change belongs to (a relationship's: its source's).
    pub fn convergence(&self) -> Uuid {
        match self {
            ChangeEvent::ConvergenceChanged { id, .. } => *id,
            ChangeEvent::ArtifactUpserted { convergence, .. }
            | ChangeEvent::ArtifactDeleted { convergence, .. }
            | ChangeEvent::RelationshipUpserted { convergence, .. }
            | ChangeEvent::RelationshipDeleted { convergence, .. }
            | ChangeEvent::ContributionChanged { convergence, .. } => *convergence,
        }
    }

    /// The row this event is stored as.
    pub(crate) fn stored(&self) -> StoredEvent {
        let payload = |value: Result<serde_json::Value, serde_json::Error>| {
            value.unwrap_or(serde_json::Value::Null)
        };
        match self {
            ChangeEvent::ConvergenceChanged {
                id,
                created,
                slug,
                visibility,
            } => StoredEvent {
                entity: "convergence",
                operation: operation(*created),
                entity_id: *id,
                convergence_id: *id,
                payload: payload(serde_json::to_value(ConvergencePayload {
                    slug: slug.clone(),
                    visibility: *visibility,
                })),
            },
            ChangeEvent::ArtifactUpserted {
                id,
                convergence,
                created,
                version,
                kind,
            } => StoredEvent {
                entity: "artifact",
                operation: operation(*created),
                entity_id: *id,
                convergence_id: *convergence,
                payload: payload(serde_json::to_value(ArtifactPayload {
                    version: *version,
                    kind: *kind,
                })),
            },
            ChangeEvent::ArtifactDeleted {
                id,
                convergence,
                version,
                kind,
            } => StoredEvent {
                entity: "artifact",
                operation: DELETE,
                entity_id: *id,
                convergence_id: *convergence,
                payload: payload(serde_json::to_value(ArtifactPayload {
                    version: *version,
                    kind: *kind,
                })),
            },
            ChangeEvent::RelationshipUpserted {
                id,
                convergence,
                created,
                edge,
            } => StoredEvent {
                entity: "relationship",
                operation: operation(*created),
                entity_id: *id,
                convergence_id: *convergence,
                payload: payload(serde_json::to_value(edge)),
            },
            ChangeEvent::RelationshipDeleted {
                id,
                convergence,
                edge,
            } => StoredEvent {
                entity: "relationship",
                operation: DELETE,
                entity_id: *id,
                convergence_id: *convergence,
                payload: payload(serde_json::to_value(edge)),
            },
            ChangeEvent::ContributionChanged {
                id,
                convergence,
                created,
                status,
            } => StoredEvent {
                entity: "contribution",
                operation: operation(*created),
                entity_id: *id,
                convergence_id: *convergence,
                payload: payload(serde_json::to_value(ContributionPayload {
                    status: *status,
                })),
            },
        }
    }

    /// Rebuilds the event a row stores.
    pub(crate) fn decode(
        entity: &str,
        operation: &str,
        entity_id: Uuid,
        convergence_id: Uuid,
        payload: serde_json::Value,
    ) -> Result<Self, UndecodableChange> {
        let undecodable = |reason: String| UndecodableChange {
            entity: entity.to_owned(),
            operation: operation.to_owned(),
            reason,
        };
        let created = match operation {
            INSERT => Some(true),
            UPDATE => Some(false),
            DELETE => None,
            other => return Err(undecodable(format!("unknown operation '{other}'"))),
        };
        let parse = |what| undecodable(format!("payload: {what}"));
        match (entity, created) {
            ("convergence", Some(created)) => {
                let ConvergencePayload { slug, visibility } =
                    serde_json::from_value(payload).map_err(parse)?;
                Ok(ChangeEvent::ConvergenceChanged {
                    id: entity_id,
                    created,
                    slug,
                    visibility,
                })
            }
            ("artifact", created) => {
                let ArtifactPayload { version, kind } =
                    serde_json::from_value(payload).map_err(parse)?;
                Ok(match created {
                    Some(created) => ChangeEvent::ArtifactUpserted {
                        id: entity_id,
                        convergence: convergence_id,
                        created,
                        version,
                        kind,
                    },
                    None => ChangeEvent::ArtifactDeleted {
                        id: entity_id,
                        convergence: convergence_id,
                        version,
                        kind,
                    },
                })
            }
            ("relationship", created) => {
                let edge: EdgeChange = serde_json::from_value(payload).map_err(parse)?;
                Ok(match created {
                    Some(created) => ChangeEvent::RelationshipUpserted {
                        id: entity_id,
                        convergence: convergence_id,
                        created,
                        edge,
                    },
                    None => ChangeEvent::RelationshipDeleted {
                        id: entity_id,
                        convergence: convergence_id,
                        edge,
                    },
                })
            }
            ("contribution", Some(created)) => {
                let ContributionPayload { status } =
                    serde_json::from_value(payload).map_err(parse)?;
                Ok(ChangeEvent::ContributionChanged {
                    id: entity_id,
                    convergence: convergence_id,
                    created,
                    status,
                })
            }
            (other, _) => Err(undecodable(format!("unknown entity '{other}'"))),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_event_survives_its_row() {
        let id = Uuid::now_v7();
        let convergence = Uuid::now_v7();
        let edge = EdgeChange {
            source: Uuid::now_v7(),
            target: Uuid::now_v7(),
            kind: RelationshipKind::Supports,
            weight: 0.5,
        };
        let events = [
            ChangeEvent::ConvergenceChanged {
                id: convergence,
                created: true,
                slug: "c".to_owned(),
                visibility: Visibility::Private,
            },
            ChangeEvent::ArtifactUpserted {
                id,
                convergence,
                created: false,
                version: 3,
                kind: ArtifactKind::Claim,
            },
            ChangeEvent::ArtifactDeleted {
                id,
                convergence,
                version: 4,
                kind: ArtifactKind::Claim,
            },
            ChangeEvent::RelationshipUpserted {
                id,
                convergence,
                created: true,
                edge,
            },
            ChangeEvent::RelationshipDeleted {
                id,
                convergence,
                edge,
            },
            ChangeEvent::ContributionChanged {
                id,
                convergence,
                created: false,
                status: ContributionStatus::Complete,
            },
        ];
        for event in events {
            let row = event.stored();
            let decoded = ChangeEvent::decode(
                row.entity,
                row.operation,
                row.entity_id,
                row.convergence_id,
                row.payload,
            )
            .unwrap();
            assert_eq!(decoded, event);
        }
        assert!(ChangeEvent::decode("artifact", "merge", id, id, serde_json::json!({})).is_err());
        assert!(
            ChangeEvent::decode("convergence", "delete", id, id, serde_json::json!({})).is_err()
        );
    }
}
