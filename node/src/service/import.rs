//! Importing an export file into a convergence, in one transaction (all of it lands or none),
//! through the change log like every write.
//!
//! Identity, so that importing the same file twice changes nothing: an object keeps the id of
//! its IRI on the exporting node (`…/artifacts/{uuid}`) unless that id is taken here by an
//! object of another convergence; then, and for IRIs of another form, its id is the UUIDv5 of
//! the IRI (URL namespace). A row moves only to a higher version (the federation rule); a row
//! deleted here stays deleted. Every artifact is placed before any relationship, so references
//! forward in the file resolve; an end that is neither in the file nor on this node is reported
//! in `unresolved` and its relationship is not stored.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use url::Url;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::schema::{artifact_relationships, artifacts, contributions, convergences};
use crate::db::{
    ChangeOperation, DbArtifact, DbContribution, DbConvergence, DbRelationship, Outbox,
};
use crate::domain::{ContributionStatus, Slug};
use crate::error::{Error, Result};
use crate::portability::read::{FileArtifact, FileRelationship, ImportFile};
use crate::urls::LocalUrls;

use super::artifacts::{artifact_change, dimension_rows, insert_dimensions, replace_dimensions};
use super::contributions::change as contribution_change;
use super::convergences::convergence_change;
use super::relationships::relationship_change;
use crate::audit::{self, AuditAction, AuditEvent};

/// Rows inserted per statement.
const CHUNK: usize = 1000;

/// What an import did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ImportReport {
    /// The convergence imported into.
    pub convergence: String,
    /// Whether it was created by the import.
    pub convergence_created: bool,
    /// Contributions created, left as they were.
    pub contributions: Counts,
    /// Artifacts created, updated, left as they were.
    pub artifacts: Counts,
    /// Relationships created, left as they were.
    pub relationships: Counts,
    /// Items left out, and why.
    pub skipped: Vec<Skipped>,
    /// Relationships not stored because an end is neither in the file nor on this node.
    pub unresolved: Vec<Unresolved>,
    /// Nothing was written (`dry_run`).
    pub dry_run: bool,
}

/// Counts per outcome.
#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct Counts {
    /// New rows.
    pub created: u64,
    /// Rows moved to the file's higher version.
    pub updated: u64,
    /// Rows already as new or newer.
    pub unchanged: u64,
}

/// An item of the file that was not written.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Skipped {
    /// Its IRI in the file.
    pub item: String,
    /// Why.
    pub reason: String,
}

/// A relationship with an end that could not be found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Unresolved {
    /// The relationship's IRI in the file.
    pub relationship: String,
    /// The end that is nowhere.
    pub end: String,
}

/// Where to import, and whether to write.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The convergence to import into (default: the file's slug); created when missing.
    pub into: Option<Slug>,
    /// Check and count everything, write nothing.
    pub dry_run: bool,
}

/// Imports `file` (node token only).
pub async fn import(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    file: ImportFile,
    options: ImportOptions,
) -> Result<ImportReport> {
    caller.require_node_admin("importing")?;
    let outcome = conn
        .transaction(async |conn| {
            let report = apply(conn, &file, &options).await?;
            if options.dry_run {
                // Rolls the transaction back; the report is handed out below.
                return Err(DryRun::Done(Box::new(report)));
            }
            let event = AuditEvent::new(AuditAction::Imported, &report.convergence).with_detail(
                serde_json::json!({
                    "artifacts": report.artifacts,
                    "relationships": report.relationships,
                    "contributions": report.contributions,
                }),
            );
            audit::record(conn, caller, event).await?;
            Ok(report)
        })
        .await;
    match outcome {
        Ok(report) => Ok(report),
        Err(DryRun::Done(report)) => Ok(*report),
        Err(DryRun::Failed(error)) => Err(error),
    }
}

/// A dry run's way out of its transaction, or a real failure.
enum DryRun {
    Done(Box<ImportReport>),
    Failed(Error),
}

impl<E: Into<Error>> From<E> for DryRun {
    fn from(error: E) -> Self {
        DryRun::Failed(error.into())
    }
}

async fn apply(
    conn: &mut AsyncPgConnection,
    file: &ImportFile,
    options: &ImportOptions,
) -> Result<ImportReport> {
    let mut outbox = Outbox::default();
    let (convergence, created) = target_convergence(conn, &mut outbox, file, options).await?;
    let mut report = ImportReport {
        convergence: convergence.slug.clone(),
        convergence_created: created,
        dry_run: options.dry_run,
        ..ImportReport::default()
    };
    let origin = LocalUrls::new(file.exported_from.clone());
    let contributions =
        place_contributions(conn, &mut outbox, &convergence, file, &origin, &mut report).await?;
    let placed = place_artifacts(
        conn,
        &mut outbox,
        &convergence,
        file,
        &origin,
        &contributions,
        &mut report,
    )
    .await?;
    link_reused(conn, file, &contributions, &placed).await?;
    place_relationships(
        conn,
        &mut outbox,
        &convergence,
        file,
        &origin,
        Placed {
            artifacts: &placed,
            contributions: &contributions,
        },
        &mut report,
    )
    .await?;
    outbox.flush(conn).await?;
    Ok(report)
}

/// The convergence named by the options or the file; created (local, as the file describes it)
/// when there is none. A read-only mirror cannot be imported into.
async fn target_convergence(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    file: &ImportFile,
    options: &ImportOptions,
) -> Result<(DbConvergence, bool)> {
    let slug = options.into.as_ref().unwrap_or(&file.slug).to_string();
    let existing: Option<DbConvergence> = convergences::table
        .filter(convergences::slug.eq(&slug))
        .select(DbConvergence::as_select())
        .first(conn)
        .await
        .optional()?;
    if let Some(existing) = existing {
        if existing.origin_url.is_some() {
            return Err(Error::Forbidden(format!(
                "'{slug}' mirrors a remote convergence and is read-only"
            )));
        }
        return Ok((existing, false));
    }
    let row = DbConvergence {
        id: Uuid::now_v7(),
        slug,
        name: file.name.clone(),
        description: file.description.clone(),
        visibility: file.visibility.as_str().to_owned(),
        created_at: file.published,
        updated_at: file.updated,
        origin_url: None,
    };
    diesel::insert_into(convergences::table)
        .values(&row)
        .execute(conn)
        .await?;
    outbox.push(convergence_change(&row, true)?);
    Ok((row, true))
}

/// The id an object of the file gets here: its id on the exporting node when it is free or
/// already ours, else the UUIDv5 of its IRI.
fn local_id(iri: &Url, exported: Option<Uuid>, taken_elsewhere: &HashSet<Uuid>) -> Uuid {
    match exported {
        Some(id) if !taken_elsewhere.contains(&id) => id,
        _ => Uuid::new_v5(&Uuid::NAMESPACE_URL, iri.as_str().as_bytes()),
    }
}

/// Creates or updates the file's artifacts; answers the local id of each IRI of the file that
/// is live here (all in `convergence`).
async fn place_artifacts(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    convergence: &DbConvergence,
    file: &ImportFile,
    origin: &LocalUrls,
    contributions: &Contributions,
    report: &mut ImportReport,
) -> Result<HashMap<String, Uuid>> {
    let exported: Vec<Option<Uuid>> = file
        .artifacts
        .iter()
        .map(|artifact| origin.local_artifact(&artifact.iri))
        .collect();
    let candidates: Vec<Uuid> = exported.iter().flatten().copied().collect();
    let elsewhere: HashSet<Uuid> = artifacts::table
        .filter(artifacts::id.eq_any(&candidates))
        .filter(artifacts::convergence_id.ne(convergence.id))
        .select(artifacts::id)
        .load(conn)
        .await?
        .into_iter()
        .collect();
    let ids: Vec<Uuid> = file
        .artifacts
        .iter()
        .zip(&exported)
        .map(|(artifact, exported)| local_id(&artifact.iri, *exported, &elsewhere))
        .collect();
    let mut stored: HashMap<Uuid, DbArtifact> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let rows: Vec<DbArtifact> = artifacts::table
            .filter(artifacts::id.eq_any(chunk))
            .select(DbArtifact::as_select())
            .for_update()
            .load(conn)
            .await?;
        stored.extend(rows.into_iter().map(|row| (row.id, row)));
    }
    let (mut new_rows, mut new_files) = (Vec::new(), Vec::new());
    let mut placed = HashMap::new();
    for (artifact, id) in file.artifacts.iter().zip(ids) {
        let contribution = contributions.of(artifact.contribution.as_ref());
        match stored.get(&id) {
            None => {
                new_rows.push(new_row(artifact, id, convergence.id, contribution));
                new_files.push(artifact);
            }
            Some(row) if row.deleted_at.is_some() => {
                report.skipped.push(Skipped {
                    item: artifact.iri.to_string(),
                    reason: "deleted on this node".to_owned(),
                });
                continue;
            }
            Some(row) if row.version >= artifact.version => report.artifacts.unchanged += 1,
            Some(row) => {
                update_row(conn, outbox, row, artifact).await?;
                report.artifacts.updated += 1;
            }
        }
        placed.insert(artifact.iri.to_string(), id);
    }
    for chunk in new_rows.chunks(CHUNK) {
        diesel::insert_into(artifacts::table)
            .values(chunk)
            .execute(conn)
            .await?;
    }
    let mut all_tags = Vec::new();
    for (row, artifact) in new_rows.iter().zip(new_files) {
        let tags = dimension_rows(row.id, &artifact.dimensions);
        outbox.count_dimensions(
            row.convergence_id,
            tags.iter().map(|tag| (tag.dimension.as_str(), tag.weight)),
            1,
        );
        all_tags.extend(tags);
        outbox.push(artifact_change(row, ChangeOperation::Insert)?);
    }
    insert_dimensions(conn, &all_tags).await?;
    report.artifacts.created += new_rows.len() as u64;
    Ok(placed)
}

/// The local ids of the file's contributions (by IRI), and of those it names that this node
/// holds already.
struct Contributions {
    placed: HashMap<String, Uuid>,
    here: HashSet<Uuid>,
    origin: LocalUrls,
}

impl Contributions {
    /// The local contribution `iri` names, if there is one (provenance is kept only then).
    fn of(&self, iri: Option<&Url>) -> Option<Uuid> {
        let iri = iri?;
        self.placed.get(iri.as_str()).copied().or_else(|| {
            self.origin
                .local_contribution(iri)
                .filter(|id| self.here.contains(id))
        })
    }
}

/// Creates the file's contributions (each only once: an id present here is left as it is). One
/// whose extraction had not finished is imported as failed, to be retried here: its job did not
/// travel with it.
async fn place_contributions(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    convergence: &DbConvergence,
    file: &ImportFile,
    origin: &LocalUrls,
    report: &mut ImportReport,
) -> Result<Contributions> {
    let named: Vec<Uuid> = file
        .contributions
        .iter()
        .map(|c| &c.iri)
        .chain(
            file.artifacts
                .iter()
                .filter_map(|a| a.contribution.as_ref()),
        )
        .chain(
            file.relationships
                .iter()
                .filter_map(|r| r.contribution.as_ref()),
        )
        .filter_map(|iri| origin.local_contribution(iri))
        .collect();
    let stored: HashMap<Uuid, Uuid> = contributions::table
        .filter(contributions::id.eq_any(&named))
        .select((contributions::id, contributions::convergence_id))
        .load(conn)
        .await?
        .into_iter()
        .collect();
    let elsewhere: HashSet<Uuid> = stored
        .iter()
        .filter(|(_, in_convergence)| **in_convergence != convergence.id)
        .map(|(id, _)| *id)
        .collect();
    let mut placed = HashMap::new();
    for contribution in &file.contributions {
        let id = local_id(
            &contribution.iri,
            origin.local_contribution(&contribution.iri),
            &elsewhere,
        );
        placed.insert(contribution.iri.to_string(), id);
        if stored.get(&id) == Some(&convergence.id) {
            report.contributions.unchanged += 1;
            continue;
        }
        let unfinished = matches!(
            contribution.status,
            ContributionStatus::Pending | ContributionStatus::Processing
        );
        let row = DbContribution {
            id,
            convergence_id: convergence.id,
            author: contribution.author.as_ref().map(|a| a.as_str().to_owned()),
            text: contribution.text.as_str().to_owned(),
            status: if unfinished {
                ContributionStatus::Failed
            } else {
                contribution.status
            }
            .as_str()
            .to_owned(),
            attempts: contribution.attempts,
            error: if unfinished {
                Some("imported before its extraction finished: retry it".to_owned())
            } else {
                contribution.error.clone()
            },
            job_id: None,
            reused: Vec::new(),
            created_at: contribution.published,
            updated_at: contribution.updated,
            completed_at: contribution.completed,
            created_by: None,
        };
        let inserted = diesel::insert_into(contributions::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 0 {
            report.contributions.unchanged += 1;
            continue;
        }
        outbox.push(contribution_change(&row, true));
        report.contributions.created += 1;
    }
    Ok(Contributions {
        placed,
        here: stored.keys().copied().collect(),
        origin: origin.clone(),
    })
}

/// Records, for each contribution of the file, the artifacts it reused that are here now.
async fn link_reused(
    conn: &mut AsyncPgConnection,
    file: &ImportFile,
    contributions: &Contributions,
    placed: &HashMap<String, Uuid>,
) -> Result<()> {
    for contribution in file.contributions.iter().filter(|c| !c.reused.is_empty()) {
        let Some(id) = contributions.placed.get(contribution.iri.as_str()) else {
            continue;
        };
        let reused: Vec<Option<Uuid>> = contribution
            .reused
            .iter()
            .filter_map(|iri| placed.get(iri.as_str()).copied())
            .map(Some)
            .collect();
        diesel::update(contributions::table.find(id))
            .filter(contributions::reused.eq(Vec::<Option<Uuid>>::new()))
            .set(contributions::reused.eq(reused))
            .execute(conn)
            .await?;
    }
    Ok(())
}

fn new_row(
    artifact: &FileArtifact,
    id: Uuid,
    convergence: Uuid,
    contribution: Option<Uuid>,
) -> DbArtifact {
    DbArtifact {
        id,
        convergence_id: convergence,
        kind: artifact.kind.as_str().to_owned(),
        title: artifact.title.as_str().to_owned(),
        body: artifact.body.as_str().to_owned(),
        author: artifact.author.as_ref().map(|a| a.as_str().to_owned()),
        version: artifact.version,
        created_at: artifact.published,
        updated_at: artifact.updated,
        deleted_at: None,
        origin_url: artifact.origin.clone(),
        contribution_id: contribution,
        created_by: None,
    }
}

async fn update_row(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    row: &DbArtifact,
    artifact: &FileArtifact,
) -> Result<()> {
    replace_dimensions(
        conn,
        outbox,
        row.convergence_id,
        row.id,
        &artifact.dimensions,
    )
    .await?;
    let updated: DbArtifact = diesel::update(artifacts::table.find(row.id))
        .set((
            artifacts::kind.eq(artifact.kind.as_str()),
            artifacts::title.eq(artifact.title.as_str()),
            artifacts::body.eq(artifact.body.as_str()),
            artifacts::author.eq(artifact.author.as_ref().map(|a| a.as_str())),
            artifacts::version.eq(artifact.version),
            artifacts::updated_at.eq(artifact.updated),
        ))
        .returning(DbArtifact::as_returning())
        .get_result(conn)
        .await?;
    outbox.push(artifact_change(&updated, ChangeOperation::Update)?);
    Ok(())
}

/// What the import placed before its relationships.
#[derive(Clone, Copy)]
struct Placed<'a> {
    /// Local ids of the file's live artifacts, by IRI.
    artifacts: &'a HashMap<String, Uuid>,
    /// Local ids of contributions.
    contributions: &'a Contributions,
}

/// Creates the file's relationships whose ends are placed or live here.
async fn place_relationships(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    target: &DbConvergence,
    file: &ImportFile,
    origin: &LocalUrls,
    placed: Placed<'_>,
    report: &mut ImportReport,
) -> Result<()> {
    let exported: Vec<Uuid> = file
        .relationships
        .iter()
        .filter_map(|relationship| origin.local_relationship(&relationship.iri))
        .collect();
    let mut stored: HashMap<Uuid, (Uuid, Uuid)> = HashMap::new();
    for chunk in exported.chunks(CHUNK) {
        let rows: Vec<(Uuid, Uuid, Uuid)> = artifact_relationships::table
            .filter(artifact_relationships::id.eq_any(chunk))
            .select((
                artifact_relationships::id,
                artifact_relationships::source_id,
                artifact_relationships::target_id,
            ))
            .load(conn)
            .await?;
        stored.extend(
            rows.into_iter()
                .map(|(id, source, target)| (id, (source, target))),
        );
    }
    let mut rows = Vec::new();
    for relationship in &file.relationships {
        let ends = Ends {
            origin,
            placed: placed.artifacts,
            target,
            relationship,
        };
        let Some((source, source_convergence)) =
            ends.resolve(conn, &relationship.subject, report).await?
        else {
            continue;
        };
        let Some((target_id, _)) = ends.resolve(conn, &relationship.object, report).await? else {
            continue;
        };
        let exported = origin.local_relationship(&relationship.iri);
        // An id taken here by another edge is not this relationship's.
        let elsewhere: HashSet<Uuid> = exported
            .filter(|id| {
                stored
                    .get(id)
                    .is_some_and(|ends| *ends != (source, target_id))
            })
            .into_iter()
            .collect();
        let row = DbRelationship {
            id: local_id(&relationship.iri, exported, &elsewhere),
            source_id: source,
            target_id,
            kind: relationship.kind.as_str().to_owned(),
            weight: relationship.weight.get(),
            created_at: relationship.published,
            contribution_id: placed.contributions.of(relationship.contribution.as_ref()),
            created_by: None,
        };
        rows.push((row, relationship.origin.clone(), source_convergence));
    }
    for chunk in rows.chunks(CHUNK) {
        let values: Vec<_> = chunk
            .iter()
            .map(|(row, origin_url, _)| (row, artifact_relationships::origin_url.eq(origin_url)))
            .collect();
        // An edge already here (this id, or the same ends and kind) is left as it is.
        let inserted: HashSet<Uuid> = diesel::insert_into(artifact_relationships::table)
            .values(values)
            .on_conflict_do_nothing()
            .returning(artifact_relationships::id)
            .get_results(conn)
            .await?
            .into_iter()
            .collect();
        for (row, _, source_convergence) in chunk {
            if !inserted.contains(&row.id) {
                report.relationships.unchanged += 1;
                continue;
            }
            outbox.push(relationship_change(
                row,
                *source_convergence,
                ChangeOperation::Insert,
            )?);
            report.relationships.created += 1;
        }
    }
    Ok(())
}

/// Finds the ends of one relationship of the file.
struct Ends<'a> {
    origin: &'a LocalUrls,
    placed: &'a HashMap<String, Uuid>,
    target: &'a DbConvergence,
    relationship: &'a FileRelationship,
}

impl Ends<'_> {
    /// The live artifact `end` names, with its convergence: one placed by this import (no
    /// query), one this node holds by that id or as the copy of that origin URL; `None`
    /// (reported as unresolved) otherwise.
    async fn resolve(
        &self,
        conn: &mut AsyncPgConnection,
        end: &Url,
        report: &mut ImportReport,
    ) -> Result<Option<(Uuid, Uuid)>> {
        if let Some(id) = self.placed.get(end.as_str()) {
            return Ok(Some((*id, self.target.id)));
        }
        let mut query = artifacts::table
            .filter(artifacts::deleted_at.is_null())
            .select((artifacts::id, artifacts::convergence_id))
            .into_boxed();
        query = match self.origin.local_artifact(end) {
            Some(id) => query.filter(artifacts::id.eq(id)),
            None => query.filter(artifacts::origin_url.eq(end.as_str())),
        };
        let found = query.first(conn).await.optional()?;
        if found.is_none() {
            report.unresolved.push(Unresolved {
                relationship: self.relationship.iri.to_string(),
                end: end.to_string(),
            });
        }
        Ok(found)
    }
}
