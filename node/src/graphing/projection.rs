//! The graph projection: loads the graph, then applies change-log batches to it.

use std::collections::HashMap;
use std::sync::Arc;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kg_graph::{Artifact, GraphStore, Mutation, Relationship};
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::load::load_graph;
use super::{GraphingError, artifact_kind};
use crate::config::Settings;
use crate::db::schema::artifacts;
use crate::db::{ChangeEvent, ChangeFeed, ChangeRecord, ConnectError};
use crate::workers::{Stopped, Worker, WorkerJob, spawn_worker};

/// Changes read per batch.
const FOLLOW_BATCH: i64 = 2_000;

/// Creates the (empty) graph store and starts the follower that loads and maintains it. The
/// store reports no applied position until the load has finished.
pub fn start_graph(settings: &Settings) -> Result<(Arc<GraphStore>, Worker), GraphingError> {
    let store = Arc::new(GraphStore::new());
    let job = GraphJob {
        url: settings.database.url.expose_secret().to_owned(),
        store: Arc::clone(&store),
    };
    Ok((store, spawn_worker("graph-projection", job)?))
}

struct GraphJob {
    url: String,
    store: Arc<GraphStore>,
}

impl WorkerJob for GraphJob {
    type Error = GraphingError;

    async fn run(&mut self, mut stopped: Stopped) -> Result<(), GraphingError> {
        let mut conn = crate::db::establish(&self.url)
            .await
            .map_err(ConnectError::from)?;
        let position = match self.store.applied_seq() {
            Some(position) => position,
            None => {
                let (graph, position) = load_graph(&mut conn).await?;
                self.store.replace(graph, Some(position));
                position
            }
        };
        let mut feed = ChangeFeed::open(&self.url, position, FOLLOW_BATCH).await?;
        while let Some(changes) = stopped.next_changes(&mut feed).await? {
            let Some(last) = changes.last().map(|change| change.seq) else {
                continue;
            };
            let mutations = mutations(&mut conn, &changes).await?;
            let outcome = self.store.apply(mutations, Some(last));
            for rejected in outcome.rejected {
                tracing::warn!(error = %rejected.error, "graph projection skipped a change");
            }
        }
        Ok(())
    }

    fn finish(self) {}
}

/// Turns changes into graph mutations, in log order. Artifacts are read as they are now (the
/// change log carries no titles), so a replayed or late change never moves the graph back.
async fn mutations(
    conn: &mut AsyncPgConnection,
    changes: &[ChangeRecord],
) -> Result<Vec<Mutation>, GraphingError> {
    let artifact_ids: Vec<Uuid> = changes
        .iter()
        .filter_map(|change| match change.event {
            ChangeEvent::ArtifactUpserted { id, .. } => Some(id),
            ChangeEvent::ConvergenceChanged { .. }
            | ChangeEvent::ArtifactDeleted { .. }
            | ChangeEvent::RelationshipUpserted { .. }
            | ChangeEvent::RelationshipDeleted { .. }
            | ChangeEvent::ContributionChanged { .. } => None,
        })
        .collect();
    let current = live_artifacts(conn, &artifact_ids).await?;
    Ok(changes
        .iter()
        .filter_map(|change| {
            Some(match &change.event {
                ChangeEvent::ConvergenceChanged { id, visibility, .. } => {
                    Mutation::UpsertConvergence {
                        id: *id,
                        visibility: *visibility,
                    }
                }
                ChangeEvent::ArtifactUpserted { id, .. } => match current.get(id) {
                    Some(artifact) => Mutation::UpsertArtifact(artifact.clone()),
                    None => Mutation::RemoveArtifact(*id),
                },
                ChangeEvent::ArtifactDeleted { id, .. } => Mutation::RemoveArtifact(*id),
                ChangeEvent::RelationshipUpserted { id, edge, .. } => {
                    Mutation::UpsertRelationship(Relationship {
                        id: *id,
                        source: edge.source,
                        target: edge.target,
                        kind: edge.kind,
                        weight: edge.weight,
                    })
                }
                ChangeEvent::RelationshipDeleted { id, .. } => Mutation::RemoveRelationship(*id),
                // Contributions are not in the graph; their artifacts have changes of their own.
                ChangeEvent::ContributionChanged { .. } => return None,
            })
        })
        .collect())
}

async fn live_artifacts(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Artifact>, GraphingError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, Uuid, String, String)> = artifacts::table
        .filter(artifacts::id.eq_any(ids))
        .filter(artifacts::deleted_at.is_null())
        .select((
            artifacts::id,
            artifacts::convergence_id,
            artifacts::kind,
            artifacts::title,
        ))
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|(id, convergence, kind, title)| {
            Ok((
                id,
                Artifact {
                    id,
                    convergence,
                    kind: artifact_kind(&kind)?,
                    title,
                },
            ))
        })
        .collect()
}
