//! The current rows behind a batch of changes, loaded in a constant number of queries, for the
//! projections: a change names what changed, the snapshot says what it is now.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::change_event::ChangeEvent;
use super::change_log::ChangeRecord;
use super::models::{DbArtifact, DbConvergence, DbRelationship};
use super::reads::{ContributionRecord, load_contributions, load_dimensions};
use super::schema::{artifact_relationships, artifacts, convergences};

/// Whether [`Snapshot::of_artifacts`] loads dimension tags (relationship ends need none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tags {
    /// Load the live artifacts' tags.
    Load,
    /// Rows and convergences only.
    Skip,
}

/// Artifacts (deleted ones included, as relationship ends), their convergences and dimension
/// tags, and the relationships, as they are now.
#[derive(Debug, Default)]
pub struct Snapshot {
    artifacts: HashMap<Uuid, DbArtifact>,
    convergences: HashMap<Uuid, DbConvergence>,
    dimensions: HashMap<Uuid, Vec<(String, f64)>>,
    /// Each relationship, and whether it was made on this node (not copied from a peer).
    relationships: HashMap<Uuid, (DbRelationship, bool)>,
    contributions: HashMap<Uuid, ContributionRecord>,
}

impl Snapshot {
    /// Loads what `changes` name, with a constant number of queries whatever their number: the
    /// relationships, the artifacts they and the changes name with their convergences, the live
    /// artifacts' tags, the convergences that convergence and contribution changes name, and
    /// the contributions with their products.
    pub async fn load(conn: &mut AsyncPgConnection, changes: &[ChangeRecord]) -> QueryResult<Self> {
        let mut artifact_ids = HashSet::new();
        let mut relationship_ids = Vec::new();
        let mut convergence_ids = Vec::new();
        let mut contribution_ids = Vec::new();
        for change in changes {
            match &change.event {
                ChangeEvent::ArtifactUpserted { id, .. }
                | ChangeEvent::ArtifactDeleted { id, .. } => {
                    artifact_ids.insert(*id);
                }
                ChangeEvent::RelationshipUpserted { id, edge, .. } => {
                    relationship_ids.push(*id);
                    artifact_ids.extend([edge.source, edge.target]);
                }
                ChangeEvent::RelationshipDeleted { edge, .. } => {
                    artifact_ids.extend([edge.source, edge.target]);
                }
                ChangeEvent::ConvergenceChanged { id, .. } => convergence_ids.push(*id),
                ChangeEvent::ContributionChanged {
                    id, convergence, ..
                } => {
                    contribution_ids.push(*id);
                    convergence_ids.push(*convergence);
                }
            }
        }
        let relationships: Vec<(DbRelationship, Option<String>)> = if relationship_ids.is_empty() {
            Vec::new()
        } else {
            artifact_relationships::table
                .filter(artifact_relationships::id.eq_any(&relationship_ids))
                .select((
                    DbRelationship::as_select(),
                    artifact_relationships::origin_url,
                ))
                .load(conn)
                .await?
        };
        let artifact_ids: Vec<Uuid> = artifact_ids.into_iter().collect();
        let mut snapshot = Self::of_artifacts(conn, &artifact_ids, Tags::Load).await?;
        snapshot.relationships = relationships
            .into_iter()
            .map(|(row, origin)| (row.id, (row, origin.is_none())))
            .collect();
        snapshot.contributions = load_contributions(conn, &contribution_ids).await?;
        if !convergence_ids.is_empty() {
            let rows: Vec<DbConvergence> = convergences::table
                .filter(convergences::id.eq_any(&convergence_ids))
                .select(DbConvergence::as_select())
                .load(conn)
                .await?;
            snapshot
                .convergences
                .extend(rows.into_iter().map(|row| (row.id, row)));
        }
        Ok(snapshot)
    }

    /// Loads the artifacts `ids` (deleted ones included) with their convergences in one query,
    /// and with [`Tags::Load`] the live ones' tags in a second.
    pub async fn of_artifacts(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
        tags: Tags,
    ) -> QueryResult<Self> {
        let rows: Vec<(DbArtifact, DbConvergence)> = if ids.is_empty() {
            Vec::new()
        } else {
            artifacts::table
                .inner_join(convergences::table)
                .filter(artifacts::id.eq_any(ids))
                .select((DbArtifact::as_select(), DbConvergence::as_select()))
                .load(conn)
                .await?
        };
        let live: Vec<Uuid> = rows
            .iter()
            .filter(|(artifact, _)| artifact.deleted_at.is_none())
            .map(|(artifact, _)| artifact.id)
            .collect();
        let dimensions = if live.is_empty() || tags == Tags::Skip {
            HashMap::new()
        } else {
            load_dimensions(conn, &live).await?
        };
        let mut snapshot = Snapshot {
            dimensions,
            ..Snapshot::default()
        };
        for (artifact, convergence) in rows {
            snapshot.convergences.insert(convergence.id, convergence);
            snapshot.artifacts.insert(artifact.id, artifact);
        }
        Ok(snapshot)
    }

    /// The live artifacts with their convergences.
    pub fn live_artifacts(&self) -> impl Iterator<Item = (&DbArtifact, &DbConvergence)> {
        self.artifacts
            .values()
            .filter(|artifact| artifact.deleted_at.is_none())
            .filter_map(|artifact| {
                Some((artifact, self.convergences.get(&artifact.convergence_id)?))
            })
    }

    /// The artifact `id` unless it is deleted (or unknown).
    pub fn live_artifact(&self, id: Uuid) -> Option<&DbArtifact> {
        self.artifacts
            .get(&id)
            .filter(|artifact| artifact.deleted_at.is_none())
    }

    /// The artifact `id` with its convergence, deleted or not.
    pub fn artifact_with_convergence(&self, id: Uuid) -> Option<(&DbArtifact, &DbConvergence)> {
        let artifact = self.artifacts.get(&id)?;
        Some((artifact, self.convergences.get(&artifact.convergence_id)?))
    }

    /// The dimension tags of the live artifact `id`, by name.
    pub fn dimensions(&self, id: Uuid) -> Vec<(String, f64)> {
        self.dimensions.get(&id).cloned().unwrap_or_default()
    }

    /// The relationship `id` if it still exists and was made on this node.
    pub fn local_relationship(&self, id: Uuid) -> Option<&DbRelationship> {
        self.relationships
            .get(&id)
            .filter(|(_, local)| *local)
            .map(|(row, _)| row)
    }

    /// The relationship `id` if it still exists, made here or copied from a peer.
    pub fn relationship(&self, id: Uuid) -> Option<&DbRelationship> {
        self.relationships.get(&id).map(|(row, _)| row)
    }

    /// The contribution `id` with its products, if a change named it.
    pub fn contribution(&self, id: Uuid) -> Option<&ContributionRecord> {
        self.contributions.get(&id)
    }

    /// The convergence `id`, if a change or an artifact named it.
    pub fn convergence(&self, id: Uuid) -> Option<&DbConvergence> {
        self.convergences.get(&id)
    }
}
