//! Extraction: the job that turns a contribution into artifacts with dimensions and
//! relationships. The extractor's answer is resolved against existing artifacts (through the
//! search index), checked, and written in one transaction that also completes the contribution
//! and its job: the graph never holds half a contribution, and a retried job never writes twice.

mod builtin;
mod extractor;
mod openai;
mod resolution;

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use kg_search::{Access, Language, SearchIndex, SearchRequest};
use uuid::Uuid;

use crate::auth::Caller;
use crate::config::{ExtractionSettings, ExtractorChoice};
use crate::db::schema::{contributions, dimension_counters};
use crate::db::{DbContribution, DbConvergence, DbPool};
use crate::domain::{Author, Body, ContributionStatus, Dimensions, EdgeWeight, Title, Weight};
use crate::jobs::{Attempt, DbJob, Failure, JobError, JobHandler, JobKind};
use crate::service::artifacts::NewArtifact;
use crate::service::batch::{self, BatchArtifact, BatchRelationship};
use crate::service::contributions::{ExtractionPayload, set_status};
use crate::service::convergences::find_by_id;

pub use builtin::BuiltinExtractor;
pub use extractor::{Candidate, End, Extraction, ExtractionInput, Extractor, Link, Unit};
pub use openai::{OpenAiExtractor, OpenAiSetupError};
use resolution::{Resolved, Thresholds, resolve};

/// Existing dimension names an extractor is shown.
const DIMENSIONS_SHOWN: i64 = 50;
/// Existing artifacts looked at per unit.
const CANDIDATES_PER_UNIT: usize = 5;
/// Existing artifacts an extractor is shown for a whole contribution...
const CANDIDATES_SHOWN: usize = 20;
/// ...found through this many of its most frequent key terms.
const CONTRIBUTION_TERMS: usize = 12;

/// Runs extraction jobs.
pub struct ExtractionHandler {
    extractor: Box<dyn Extractor>,
    index: SearchIndex,
    language: Language,
    thresholds: Thresholds,
}

impl ExtractionHandler {
    /// The handler for `settings`, finding existing artifacts through `index`.
    pub fn new(
        settings: &ExtractionSettings,
        index: SearchIndex,
        language: Language,
    ) -> Result<Self, OpenAiSetupError> {
        let extractor: Box<dyn Extractor> = match settings.extractor {
            ExtractorChoice::Builtin => Box::new(BuiltinExtractor::new(language)),
            ExtractorChoice::Openai => Box::new(OpenAiExtractor::new(&settings.openai)?),
        };
        Ok(Self {
            extractor,
            index,
            language,
            thresholds: Thresholds {
                duplicate: settings.duplicate_similarity,
                related: settings.related_similarity,
            },
        })
    }

    /// Existing artifacts of `convergence` that may say what `text` says: those matching any
    /// of its `terms` most frequent key terms, best first, at most `limit`.
    fn similar(
        &self,
        convergence: Uuid,
        text: &str,
        terms: usize,
        limit: usize,
    ) -> Result<Vec<Candidate>, JobError> {
        let terms: Vec<String> = kg_search::key_terms(text, self.language)
            .into_iter()
            .take(terms)
            .map(|term| term.word)
            .collect();
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = SearchRequest::new(terms.join(" OR "), Access::All);
        request.convergence = Some(convergence);
        request.limit = limit;
        request.facets = false;
        let results = self
            .index
            .search(&request)
            .map_err(|error| JobError::new(format!("search index: {error}")))?;
        Ok(results
            .hits
            .into_iter()
            .map(|hit| Candidate {
                id: hit.id,
                title: hit.title,
            })
            .collect())
    }

    /// Existing artifacts of `convergence` that may say what each unit says.
    fn candidates(
        &self,
        convergence: Uuid,
        units: &[Unit],
    ) -> Result<Vec<Vec<Candidate>>, JobError> {
        units
            .iter()
            .map(|unit| self.similar(convergence, &unit.title, usize::MAX, CANDIDATES_PER_UNIT))
            .collect()
    }
}

impl JobHandler for ExtractionHandler {
    const KIND: JobKind = JobKind::EXTRACTION;

    async fn run(&self, pool: &DbPool, attempt: &Attempt) -> Result<(), JobError> {
        let payload: ExtractionPayload = attempt
            .job
            .payload()
            .map_err(|error| JobError::new(format!("invalid job payload: {error}")))?;
        let mut conn = pool
            .get()
            .await
            .map_err(|error| JobError::new(format!("database unavailable: {error}")))?;
        let contribution: DbContribution = contributions::table
            .find(payload.contribution)
            .select(DbContribution::as_select())
            .first(&mut conn)
            .await?;
        let convergence = find_by_id(&mut conn, contribution.convergence_id)
            .await
            .map_err(|error| JobError::new(error.to_string()))?;
        let attempts = attempt.job.attempts;
        let previous_error = contribution.error.clone();
        conn.transaction(async |conn| {
            set_status(
                conn,
                contribution.id,
                ContributionStatus::Processing,
                attempts,
                previous_error.as_deref(),
            )
            .await
        })
        .await?;
        let input = ExtractionInput {
            existing: self.similar(
                convergence.id,
                &contribution.text,
                CONTRIBUTION_TERMS,
                CANDIDATES_SHOWN,
            )?,
            text: contribution.text.clone(),
            dimensions: dimension_names(&mut conn, convergence.id).await?,
        };
        let extraction = self.extractor.extract(&input).await?;
        let candidates = self.candidates(convergence.id, &extraction.units)?;
        let resolved = resolve(extraction, &candidates, self.thresholds, self.language);
        let (artifacts, relationships) = batch_items(&resolved, contribution.author.as_deref())?;
        conn.transaction(async |conn| {
            write(
                conn,
                &convergence,
                &contribution,
                &resolved,
                artifacts,
                relationships,
            )
            .await?;
            set_status(
                conn,
                contribution.id,
                ContributionStatus::Complete,
                attempts,
                None,
            )
            .await?;
            attempt.succeed(conn).await?;
            Ok::<_, JobError>(())
        })
        .await
    }

    async fn failed(
        &self,
        conn: &mut AsyncPgConnection,
        job: &DbJob,
        failure: Failure,
        error: &str,
    ) -> QueryResult<()> {
        let Ok(payload) = job.payload::<ExtractionPayload>() else {
            return Ok(());
        };
        let status = match failure {
            Failure::Retrying(_) => ContributionStatus::Pending,
            Failure::Exhausted => ContributionStatus::Failed,
        };
        set_status(
            conn,
            payload.contribution,
            status,
            job.attempts,
            Some(error),
        )
        .await?;
        Ok(())
    }
}

/// The convergence's dimension names, most used first.
async fn dimension_names(
    conn: &mut AsyncPgConnection,
    convergence: Uuid,
) -> Result<Vec<String>, JobError> {
    Ok(dimension_counters::table
        .filter(dimension_counters::convergence_id.eq(convergence))
        .order((
            dimension_counters::artifact_count.desc(),
            dimension_counters::dimension,
        ))
        .limit(DIMENSIONS_SHOWN)
        .select(dimension_counters::dimension)
        .load(conn)
        .await?)
}

/// The batch that writes `resolved`; an invalid unit or link fails the attempt.
fn batch_items(
    resolved: &Resolved,
    author: Option<&str>,
) -> Result<(Vec<BatchArtifact>, Vec<BatchRelationship>), JobError> {
    let invalid = |what: String| JobError::new(format!("the extraction is invalid: {what}"));
    let author = author
        .map(|author| Author::try_from(author.to_owned()))
        .transpose()
        .map_err(|error| invalid(format!("author: {error}")))?;
    let artifacts = resolved
        .extraction
        .units
        .iter()
        .enumerate()
        .map(|(index, unit)| {
            let at = |error: crate::domain::InvalidValue| invalid(format!("unit {index}: {error}"));
            let tags = unit
                .dimensions
                .iter()
                .map(|(name, weight)| Ok((name.clone(), Weight::try_from(*weight).map_err(at)?)))
                .collect::<Result<HashMap<_, _>, JobError>>()?;
            Ok(BatchArtifact {
                key: unit_key(index),
                artifact: NewArtifact {
                    kind: unit.kind,
                    title: Title::try_from(unit.title.clone()).map_err(at)?,
                    body: Body::try_from(unit.body.clone()).map_err(at)?,
                    author: author.clone(),
                    dimensions: Dimensions::try_from(tags).map_err(at)?,
                },
            })
        })
        .collect::<Result<Vec<_>, JobError>>()?;
    let reference = |end: End| match end {
        End::Unit(index) => unit_key(index),
        End::Existing(id) => id.to_string(),
    };
    let relationships = resolved
        .extraction
        .links
        .iter()
        .enumerate()
        .map(|(index, link)| {
            Ok(BatchRelationship {
                source: reference(link.source),
                target: reference(link.target),
                kind: link.kind,
                weight: EdgeWeight::try_from(link.weight)
                    .map_err(|error| invalid(format!("link {index}: {error}")))?,
            })
        })
        .collect::<Result<Vec<_>, JobError>>()?;
    Ok((artifacts, relationships))
}

fn unit_key(index: usize) -> String {
    format!("unit-{index}")
}

/// Writes the batch and marks what it created as the contribution's, in the caller's
/// transaction.
async fn write(
    conn: &mut AsyncPgConnection,
    convergence: &DbConvergence,
    contribution: &DbContribution,
    resolved: &Resolved,
    artifacts: Vec<BatchArtifact>,
    relationships: Vec<BatchRelationship>,
) -> Result<(), JobError> {
    if !artifacts.is_empty() || !relationships.is_empty() {
        let system = Caller::system();
        let outcome = batch::apply(conn, &system, &convergence.slug, artifacts, relationships)
            .await
            .map_err(|error| JobError::new(format!("cannot write the extraction: {error}")))?;
        let artifact_ids: Vec<Uuid> = outcome.artifacts.iter().map(|(_, id)| *id).collect();
        // What is extracted from a participant's contribution is theirs: they may edit it.
        diesel::sql_query(
            "UPDATE artifacts SET contribution_id = $1, created_by = $3 WHERE id = ANY($2)",
        )
        .bind::<SqlUuid, _>(contribution.id)
        .bind::<Array<SqlUuid>, _>(&artifact_ids)
        .bind::<Nullable<SqlUuid>, _>(contribution.created_by)
        .execute(conn)
        .await?;
        diesel::sql_query(
            "UPDATE artifact_relationships SET contribution_id = $1, created_by = $3 \
             WHERE id = ANY($2)",
        )
        .bind::<SqlUuid, _>(contribution.id)
        .bind::<Array<SqlUuid>, _>(&outcome.relationships)
        .bind::<Nullable<SqlUuid>, _>(contribution.created_by)
        .execute(conn)
        .await?;
    }
    diesel::update(contributions::table.find(contribution.id))
        .set(
            contributions::reused.eq(resolved
                .reused
                .iter()
                .copied()
                .map(Some)
                .collect::<Vec<_>>()),
        )
        .execute(conn)
        .await?;
    Ok(())
}
