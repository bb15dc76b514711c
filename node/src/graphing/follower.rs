//! The graph follower: loads the graph, then applies change-log batches to it.

use std::collections::HashMap;
use std::sync::Arc;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kg_graph::{Artifact, GraphStore, Mutation, Relationship};
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::load::load_graph;
use super::{GraphingError, artifact_kind, relationship_kind, visibility};
use crate::config::Settings;
use crate::db::schema::artifacts;
use crate::db::{ChangeFeed, ChangeRecord, ConnectError};
use crate::followers::{Follower, FollowerJob, Stopped, spawn_follower};

/// Changes read per batch.
const FOLLOW_BATCH: i64 = 2_000;

/// Creates the (empty) graph store and starts the follower that loads and maintains it. The
/// store reports no applied position until the load has finished.
pub fn start_graph(settings: &Settings) -> Result<(Arc<GraphStore>, Follower), GraphingError> {
    let store = Arc::new(GraphStore::new());
    let job = GraphJob {
        url: settings.database.url.expose_secret().to_owned(),
        store: Arc::clone(&store),
    };
    Ok((store, spawn_follower("graph-follower", job)?))
}

struct GraphJob {
    url: String,
    store: Arc<GraphStore>,
}

impl FollowerJob for GraphJob {
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
                tracing::warn!(error = %rejected.error, "graph follower skipped a change");
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
        .filter(|c| c.entity == "artifact" && c.operation != "delete")
        .map(|c| c.entity_id)
        .collect();
    let current = live_artifacts(conn, &artifact_ids).await?;
    let mut out = Vec::with_capacity(changes.len());
    for change in changes {
        let payload = &change.payload;
        let text = |key: &str| payload[key].as_str().unwrap_or_default().to_owned();
        let id_of = |key: &str| payload[key].as_str().and_then(|s| Uuid::parse_str(s).ok());
        let mutation = match (change.entity.as_str(), change.operation.as_str()) {
            ("convergence", _) => Mutation::UpsertConvergence {
                id: change.entity_id,
                visibility: visibility(&text("visibility")),
            },
            ("artifact", "delete") => Mutation::RemoveArtifact(change.entity_id),
            ("artifact", _) => match current.get(&change.entity_id) {
                Some(artifact) => Mutation::UpsertArtifact(artifact.clone()),
                None => Mutation::RemoveArtifact(change.entity_id),
            },
            ("relationship", "delete") => Mutation::RemoveRelationship(change.entity_id),
            ("relationship", _) => match (id_of("source"), id_of("target")) {
                (Some(source), Some(target)) => Mutation::UpsertRelationship(Relationship {
                    id: change.entity_id,
                    source,
                    target,
                    kind: relationship_kind(&text("kind"))?,
                    weight: payload["weight"].as_f64().unwrap_or(1.0),
                }),
                _ => {
                    tracing::warn!(seq = change.seq, "relationship change without endpoints");
                    continue;
                }
            },
            (entity, operation) => {
                tracing::warn!(seq = change.seq, entity, operation, "unknown change");
                continue;
            }
        };
        out.push(mutation);
    }
    Ok(out)
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
