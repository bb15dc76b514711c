//! Atomic batches: many artifacts plus relationships among them and to existing artifacts.
//!
//! Everything is validated before anything is written, and everything is written in one
//! transaction: one bad item rejects the whole batch with an error naming the item.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::schema::{artifacts, convergences};
use crate::db::{DbConvergence, Outbox};
use crate::domain::{EdgeWeight, RelationshipKind};
use crate::error::{Error, Result};

use super::artifacts::{self as artifact_service, NewArtifact};
use super::convergences as convergence_service;
use super::relationships::{self as relationship_service, NewRelationship};

/// Most artifacts one batch may hold.
pub const MAX_BATCH_ARTIFACTS: usize = 1_000;
/// Most relationships one batch may hold.
pub const MAX_BATCH_RELATIONSHIPS: usize = 5_000;
/// Longest client-side key, in characters.
const MAX_KEY_LENGTH: usize = 200;

/// An artifact of a batch, with the client's key for it.
#[derive(Debug, Clone)]
pub struct BatchArtifact {
    /// Client-side key, unique within the batch.
    pub key: String,
    /// The artifact.
    pub artifact: NewArtifact,
}

/// A relationship of a batch; each end is a key of the batch or the id of an existing artifact.
#[derive(Debug, Clone)]
pub struct BatchRelationship {
    /// Key or artifact id of the source.
    pub source: String,
    /// Key or artifact id of the target.
    pub target: String,
    /// How the source relates to the target.
    pub kind: RelationshipKind,
    /// Strength in (0, 1].
    pub weight: EdgeWeight,
}

/// What a batch created: artifact ids by key, in input order, and relationship ids.
#[derive(Debug, Clone)]
pub struct BatchOutcome {
    /// `(key, id)` for each artifact, in input order.
    pub artifacts: Vec<(String, Uuid)>,
    /// The id of each relationship, in input order.
    pub relationships: Vec<Uuid>,
}

/// One end of a batch relationship, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum End {
    /// The artifact at this index of the batch.
    New(usize),
    /// An artifact that already exists.
    Existing(Uuid),
}

/// A live existing artifact referenced by the batch.
struct ExistingArtifact {
    convergence: DbConvergence,
    deleted: bool,
}

/// Validates and writes a batch into the convergence `slug`, atomically.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    slug: &str,
    artifacts: Vec<BatchArtifact>,
    relationships: Vec<BatchRelationship>,
) -> Result<BatchOutcome> {
    check_sizes(&artifacts, &relationships)?;
    let convergence = convergence_service::find_readable(conn, caller, slug).await?;
    caller.require_write(&convergence)?;
    let keys = index_keys(&artifacts)?;
    let ends = resolve_ends(&relationships, &keys)?;
    conn.transaction(async move |conn| {
        let existing = load_existing(conn, &ends).await?;
        let edges = check_edges(caller, &convergence, &relationships, &ends, &existing)?;
        check_existing_edges(conn, &edges).await?;
        let now = crate::db::now();
        let creator = caller.participant_id();
        let mut outbox = Outbox::default();
        let keys: Vec<String> = artifacts.iter().map(|a| a.key.clone()).collect();
        let items = artifacts.into_iter().map(|a| a.artifact).collect();
        let created =
            artifact_service::insert_many(conn, &mut outbox, &convergence, items, creator, now)
                .await?;
        let ids: Vec<Uuid> = created.iter().map(|row| row.id).collect();
        let resolved: Vec<(NewRelationship, Uuid)> = edges
            .iter()
            .map(|edge| {
                let id_of = |end: End| match end {
                    End::New(index) => ids[index],
                    End::Existing(id) => id,
                };
                let new = NewRelationship {
                    source: id_of(edge.source),
                    target: id_of(edge.target),
                    kind: edge.kind,
                    weight: edge.weight,
                };
                (new, edge.source_convergence)
            })
            .collect();
        let inserted =
            relationship_service::insert_many(conn, &mut outbox, &resolved, creator, now).await?;
        outbox.flush(conn).await?;
        Ok(BatchOutcome {
            artifacts: keys.into_iter().zip(ids).collect(),
            relationships: inserted.into_iter().map(|row| row.id).collect(),
        })
    })
    .await
}

fn check_sizes(artifacts: &[BatchArtifact], relationships: &[BatchRelationship]) -> Result<()> {
    if artifacts.len() > MAX_BATCH_ARTIFACTS {
        return Err(Error::TooManyItems(format!(
            "a batch holds at most {MAX_BATCH_ARTIFACTS} artifacts, this one has {}",
            artifacts.len()
        )));
    }
    if relationships.len() > MAX_BATCH_RELATIONSHIPS {
        return Err(Error::TooManyItems(format!(
            "a batch holds at most {MAX_BATCH_RELATIONSHIPS} relationships, this one has {}",
            relationships.len()
        )));
    }
    if artifacts.is_empty() && relationships.is_empty() {
        return Err(Error::Unprocessable(
            "the batch is empty: give artifacts, relationships or both".into(),
        ));
    }
    Ok(())
}

fn index_keys(artifacts: &[BatchArtifact]) -> Result<HashMap<&str, usize>> {
    let mut keys = HashMap::with_capacity(artifacts.len());
    for (index, item) in artifacts.iter().enumerate() {
        let name = || format!("artifacts[{index}]");
        let length = item.key.chars().count();
        if item.key.trim().is_empty() || length > MAX_KEY_LENGTH {
            return Err(Error::Unprocessable(format!(
                "key must have 1 to {MAX_KEY_LENGTH} characters"
            ))
            .in_item(name()));
        }
        // Relationships name an end by key or by artifact id: a key that reads as an id would
        // make a reference ambiguous.
        if Uuid::parse_str(&item.key).is_ok() {
            return Err(Error::Unprocessable(format!(
                "key '{}' reads as an artifact id; relationships could not tell them apart",
                item.key
            ))
            .in_item(name()));
        }
        if let Some(first) = keys.insert(item.key.as_str(), index) {
            return Err(Error::Unprocessable(format!(
                "key '{}' is already used by artifacts[{first}]",
                item.key
            ))
            .in_item(name()));
        }
    }
    Ok(keys)
}

fn resolve_ends(
    relationships: &[BatchRelationship],
    keys: &HashMap<&str, usize>,
) -> Result<Vec<(End, End)>> {
    let resolve = |reference: &str, index: usize, side: &str| -> Result<End> {
        if let Some(position) = keys.get(reference) {
            return Ok(End::New(*position));
        }
        Uuid::parse_str(reference).map(End::Existing).map_err(|_| {
            Error::Unprocessable(format!(
                "{side} '{reference}' is neither a key of this batch nor an artifact id"
            ))
            .in_item(format!("relationships[{index}]"))
        })
    };
    relationships
        .iter()
        .enumerate()
        .map(|(index, rel)| {
            Ok((
                resolve(&rel.source, index, "source")?,
                resolve(&rel.target, index, "target")?,
            ))
        })
        .collect()
}

async fn load_existing(
    conn: &mut AsyncPgConnection,
    ends: &[(End, End)],
) -> Result<HashMap<Uuid, ExistingArtifact>> {
    let ids: HashSet<Uuid> = ends
        .iter()
        .flat_map(|(a, b)| [*a, *b])
        .filter_map(|end| match end {
            End::Existing(id) => Some(id),
            End::New(_) => None,
        })
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<Uuid> = ids.into_iter().collect();
    let rows: Vec<(Uuid, Uuid, bool)> = artifacts::table
        .filter(artifacts::id.eq_any(&ids))
        .select((
            artifacts::id,
            artifacts::convergence_id,
            artifacts::deleted_at.is_not_null(),
        ))
        .for_share()
        .load(conn)
        .await?;
    let convergence_ids: Vec<Uuid> = rows.iter().map(|(_, c, _)| *c).collect();
    let by_id: HashMap<Uuid, DbConvergence> = convergences::table
        .filter(convergences::id.eq_any(&convergence_ids))
        .select(DbConvergence::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|(id, convergence_id, deleted)| {
            let convergence = by_id.get(&convergence_id)?.clone();
            Some((
                id,
                ExistingArtifact {
                    convergence,
                    deleted,
                },
            ))
        })
        .collect())
}

/// A batch edge whose ends are checked.
struct CheckedEdge {
    source: End,
    target: End,
    kind: RelationshipKind,
    weight: EdgeWeight,
    source_convergence: Uuid,
    index: usize,
}

fn check_edges(
    caller: &Caller,
    convergence: &DbConvergence,
    relationships: &[BatchRelationship],
    ends: &[(End, End)],
    existing: &HashMap<Uuid, ExistingArtifact>,
) -> Result<Vec<CheckedEdge>> {
    let mut seen = HashSet::with_capacity(relationships.len());
    let mut edges = Vec::with_capacity(relationships.len());
    for (index, (rel, (source, target))) in relationships.iter().zip(ends).enumerate() {
        let item = || format!("relationships[{index}]");
        if source == target {
            return Err(Error::Unprocessable(
                "a relationship cannot link an artifact to itself".into(),
            )
            .in_item(item()));
        }
        let mut source_convergence = convergence.id;
        for (end, is_source) in [(source, true), (target, false)] {
            let End::Existing(id) = end else { continue };
            let found = existing
                .get(id)
                .filter(|a| caller.can_read(a.convergence.id, &a.convergence.visibility))
                .ok_or_else(|| Error::not_found("artifact", id).in_item(item()))?;
            if found.deleted {
                return Err(Error::Deleted(*id).in_item(item()));
            }
            if is_source {
                caller
                    .require_write(&found.convergence)
                    .map_err(|e| e.in_item(item()))?;
                source_convergence = found.convergence.id;
            }
        }
        if !seen.insert((*source, *target, rel.kind)) {
            return Err(Error::Conflict(format!(
                "the same '{}' relationship from '{}' to '{}' appears twice in this batch",
                rel.kind, rel.source, rel.target
            ))
            .in_item(item()));
        }
        edges.push(CheckedEdge {
            source: *source,
            target: *target,
            kind: rel.kind,
            weight: rel.weight,
            source_convergence,
            index,
        });
    }
    Ok(edges)
}

/// Rejects edges between two existing artifacts that are already stored (one query).
async fn check_existing_edges(conn: &mut AsyncPgConnection, edges: &[CheckedEdge]) -> Result<()> {
    let candidates: Vec<&CheckedEdge> = edges
        .iter()
        .filter(|e| matches!((e.source, e.target), (End::Existing(_), End::Existing(_))))
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let id = |end: End| match end {
        End::Existing(id) => id,
        End::New(_) => Uuid::nil(),
    };
    let sources: Vec<Uuid> = candidates.iter().map(|e| id(e.source)).collect();
    let targets: Vec<Uuid> = candidates.iter().map(|e| id(e.target)).collect();
    let kinds: Vec<&str> = candidates.iter().map(|e| e.kind.as_str()).collect();
    #[derive(QueryableByName)]
    struct Taken {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        position: i32,
    }
    let taken: Option<Taken> = diesel::sql_query(
        "SELECT (t.n - 1)::int4 AS position \
         FROM unnest($1, $2, $3) WITH ORDINALITY AS t(s, g, k, n) \
         JOIN artifact_relationships r ON r.source_id = t.s AND r.target_id = t.g AND r.kind = t.k \
         ORDER BY t.n LIMIT 1",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(&sources)
    .bind::<Array<diesel::sql_types::Uuid>, _>(&targets)
    .bind::<Array<Text>, _>(&kinds)
    .get_result(conn)
    .await
    .optional()?;
    let Some(edge) = taken.and_then(|t| candidates.get(usize::try_from(t.position).ok()?).copied())
    else {
        return Ok(());
    };
    Err(Error::Conflict(format!(
        "a '{}' relationship from {} to {} already exists",
        edge.kind,
        id(edge.source),
        id(edge.target)
    ))
    .in_item(format!("relationships[{}]", edge.index)))
}
