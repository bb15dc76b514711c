//! The initial load: the whole graph from one consistent snapshot of PostgreSQL.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use kg_graph::{Artifact, KnowledgeGraph, Mutation, Relationship};
use uuid::Uuid;

use super::{GraphingError, artifact_kind, relationship_kind, visibility};
use crate::db::schema::{artifact_relationships, artifacts, convergences};
use crate::db::snapshot_position;

/// Rows read per query while loading.
const LOAD_PAGE: i64 = 50_000;

/// Builds the graph of every live artifact and relationship, off any lock, and returns it with
/// the change-log position it reflects.
pub(super) async fn load_graph(
    conn: &mut AsyncPgConnection,
) -> Result<(KnowledgeGraph, i64), GraphingError> {
    conn.build_transaction()
        .repeatable_read()
        .read_only()
        .run(async |conn| {
            let position = snapshot_position(conn).await?;
            let mut graph = KnowledgeGraph::new();
            let all: Vec<(Uuid, String)> = convergences::table
                .select((convergences::id, convergences::visibility))
                .load(conn)
                .await?;
            for (id, stored) in all {
                apply(
                    &mut graph,
                    Mutation::UpsertConvergence {
                        id,
                        visibility: visibility(&stored),
                    },
                );
            }
            let artifacts = load_artifacts(conn, &mut graph).await?;
            let relationships = load_relationships(conn, &mut graph).await?;
            let memory = graph.memory_usage();
            tracing::info!(
                artifacts,
                relationships,
                position,
                memory = ?memory,
                "graph loaded"
            );
            Ok((graph, position))
        })
        .await
}

fn apply(graph: &mut KnowledgeGraph, mutation: Mutation) {
    if let Err(error) = graph.apply(mutation) {
        tracing::warn!(%error, "skipped a row while loading the graph");
    }
}

async fn load_artifacts(
    conn: &mut AsyncPgConnection,
    graph: &mut KnowledgeGraph,
) -> Result<u64, GraphingError> {
    let mut after: Option<Uuid> = None;
    let mut loaded = 0_u64;
    loop {
        let mut query = artifacts::table
            .filter(artifacts::deleted_at.is_null())
            .select((
                artifacts::id,
                artifacts::convergence_id,
                artifacts::kind,
                artifacts::title,
            ))
            .order(artifacts::id.asc())
            .limit(LOAD_PAGE)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(artifacts::id.gt(after));
        }
        let page: Vec<(Uuid, Uuid, String, String)> = query.load(conn).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.0);
        loaded += page.len() as u64;
        for (id, convergence, kind, title) in page {
            let kind = artifact_kind(&kind)?;
            apply(
                graph,
                Mutation::UpsertArtifact(Artifact {
                    id,
                    convergence,
                    kind,
                    title,
                }),
            );
        }
        tracing::info!(artifacts = loaded, "loading the graph");
    }
    Ok(loaded)
}

async fn load_relationships(
    conn: &mut AsyncPgConnection,
    graph: &mut KnowledgeGraph,
) -> Result<u64, GraphingError> {
    let mut after: Option<Uuid> = None;
    let mut loaded = 0_u64;
    loop {
        let mut query = artifact_relationships::table
            .select((
                artifact_relationships::id,
                artifact_relationships::source_id,
                artifact_relationships::target_id,
                artifact_relationships::kind,
                artifact_relationships::weight,
            ))
            .order(artifact_relationships::id.asc())
            .limit(LOAD_PAGE * 2)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(artifact_relationships::id.gt(after));
        }
        let page: Vec<(Uuid, Uuid, Uuid, String, f64)> = query.load(conn).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.0);
        loaded += page.len() as u64;
        for (id, source, target, kind, weight) in page {
            let kind = relationship_kind(&kind)?;
            apply(
                graph,
                Mutation::UpsertRelationship(Relationship {
                    id,
                    source,
                    target,
                    kind,
                    weight,
                }),
            );
        }
        tracing::info!(relationships = loaded, "loading the graph");
    }
    Ok(loaded)
}
