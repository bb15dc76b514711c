//! Writing a convergence out, page by page: memory stays flat whatever its size.
//!
//! The export reads in one `REPEATABLE READ` transaction (one snapshot, named by the change-log
//! position it reflects) on a connection of its own, taken out of its pool (the caller's
//! choice: a replica's serves as well as the primary's): a reader that goes away mid-export
//! drops the connection, and PostgreSQL ends the transaction with it.

use std::collections::HashMap;

use bytes::Bytes;
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Nullable, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::Stream;
use kg_federation::context::relationship_iri;
use kg_federation::objects::{DimensionTag, DimensionType};
use url::Url;
use uuid::Uuid;

use super::convergences::find_readable;
use crate::auth::Caller;
use crate::db::schema::{artifact_dimensions, artifacts, contributions};
use crate::db::{
    DbArtifact, DbConn, DbContribution, DbConvergence, DbRelationship, snapshot_position,
};
use crate::error::{Error, Result};
use crate::urls::LocalUrls;

use crate::portability::format::{
    ArticleType, ArtifactEntry, ContributionEntry, ContributionType, ConvergenceEntry,
    ExportDocument, ExportType, FORMAT_VERSION, GroupType, RelationshipEntry, RelationshipType,
    context,
};

/// Rows read per query.
const PAGE: i64 = 500;

/// How the export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One JSON-LD document.
    Jsonld,
    /// The header, then one object per line.
    Ndjson,
}

impl ExportFormat {
    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            ExportFormat::Jsonld => "application/ld+json",
            ExportFormat::Ndjson => "application/x-ndjson",
        }
    }
}

/// The live relationships of the artifacts `$4` (of the convergence `$1`): those they start,
/// and those into them from other convergences, whose other end `caller` may read ($2: every
/// convergence; $3: a private one it is granted). Both go through an index on one end, so a
/// page costs the same however large the convergence.
const RELATIONSHIPS: &str = "SELECT r.id, r.source_id, r.target_id, r.kind, r.weight, r.created_at, \
            r.origin_url, r.contribution_id, r.created_by \
     FROM artifact_relationships r \
     JOIN artifacts s ON s.id = r.source_id JOIN convergences cs ON cs.id = s.convergence_id \
     JOIN artifacts t ON t.id = r.target_id JOIN convergences ct ON ct.id = t.convergence_id \
     WHERE (r.source_id = ANY($4) OR (r.target_id = ANY($4) AND s.convergence_id <> $1)) \
       AND s.deleted_at IS NULL AND t.deleted_at IS NULL \
       AND ($2 OR cs.visibility = 'public' OR cs.id = ANY($3)) \
       AND ($2 OR ct.visibility = 'public' OR ct.id = ANY($3)) \
     ORDER BY r.id";

/// Where the writer is.
enum Step {
    Header,
    Contributions(Option<Uuid>),
    Artifacts(Option<Uuid>),
    Relationships(Option<Uuid>),
    Footer,
    Done,
}

struct Writer {
    conn: AsyncPgConnection,
    caller: Caller,
    format: ExportFormat,
    urls: LocalUrls,
    convergence: DbConvergence,
    step: Step,
    /// Items written into the current array of the JSON-LD document.
    written: u64,
}

/// The export of the convergence `slug` as `caller` may read it, as a stream of chunks, read on
/// `conn`.
pub async fn export(
    conn: DbConn,
    caller: Caller,
    slug: &str,
    format: ExportFormat,
    base: &Url,
) -> Result<impl Stream<Item = Result<Bytes>> + use<>> {
    let mut conn = DbConn::take(conn);
    diesel::sql_query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut conn)
        .await?;
    let convergence = find_readable(&mut conn, &caller, slug).await?;
    let writer = Writer {
        conn,
        caller,
        format,
        urls: LocalUrls::new(base.clone()),
        convergence,
        step: Step::Header,
        written: 0,
    };
    Ok(futures_util::stream::try_unfold(
        writer,
        |mut writer| async move {
            let chunk = writer.next_chunk().await?;
            Ok(chunk.map(|chunk| (chunk, writer)))
        },
    ))
}

impl Writer {
    /// The next chunk; `None` once everything is written.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        loop {
            let chunk = match self.step {
                Step::Header => {
                    self.step = Step::Contributions(None);
                    self.header().await?
                }
                Step::Contributions(after) => match self.contributions(after).await? {
                    Some((last, chunk)) => {
                        self.step = Step::Contributions(Some(last));
                        chunk
                    }
                    None => {
                        self.step = Step::Artifacts(None);
                        self.next_array("artifacts")
                    }
                },
                Step::Artifacts(after) => match self.artifacts(after).await? {
                    Some((last, chunk)) => {
                        self.step = Step::Artifacts(Some(last));
                        chunk
                    }
                    None => {
                        self.step = Step::Relationships(None);
                        self.next_array("relationships")
                    }
                },
                Step::Relationships(after) => match self.relationships(after).await? {
                    Some((last, chunk)) => {
                        self.step = Step::Relationships(Some(last));
                        chunk
                    }
                    None => {
                        self.step = Step::Footer;
                        continue;
                    }
                },
                Step::Footer => {
                    self.step = Step::Done;
                    diesel::sql_query("COMMIT").execute(&mut self.conn).await?;
                    match self.format {
                        ExportFormat::Jsonld => "]}\n".to_owned(),
                        ExportFormat::Ndjson => continue,
                    }
                }
                Step::Done => return Ok(None),
            };
            if !chunk.is_empty() {
                return Ok(Some(Bytes::from(chunk)));
            }
        }
    }

    async fn header(&mut self) -> Result<String> {
        let row = &self.convergence;
        let document = ExportDocument {
            context: context(self.urls.base()),
            kind: ExportType::Export,
            format_version: FORMAT_VERSION,
            exported_from: self.urls.base().clone(),
            log_position: snapshot_position(&mut self.conn).await?,
            convergence: ConvergenceEntry {
                kind: GroupType::Group,
                id: self.urls.url(&LocalUrls::group_path(&row.slug)),
                preferred_username: row.slug.clone(),
                name: row.name.clone(),
                summary: row.description.clone(),
                visibility: row.visibility.clone(),
                published: row.created_at,
                updated: row.updated_at,
                origin: row.origin_url.clone(),
            },
            contributions: Vec::new(),
            artifacts: Vec::new(),
            relationships: Vec::new(),
        };
        let header = serde_json::to_string(&document).map_err(Error::Encoding)?;
        Ok(match self.format {
            ExportFormat::Ndjson => format!("{header}\n"),
            // Opened again without its closing brace, so the arrays follow.
            ExportFormat::Jsonld => {
                let open = header.strip_suffix('}').unwrap_or(&header);
                format!("{open},\"contributions\":[")
            }
        })
    }

    /// Closes the document's current array and opens `name`.
    fn next_array(&mut self, name: &str) -> String {
        self.written = 0;
        match self.format {
            ExportFormat::Jsonld => format!("],\"{name}\":["),
            ExportFormat::Ndjson => String::new(),
        }
    }

    /// One page of contributions after `after`, with the last id.
    async fn contributions(&mut self, after: Option<Uuid>) -> Result<Option<(Uuid, String)>> {
        let rows: Vec<DbContribution> = contributions::table
            .filter(contributions::convergence_id.eq(self.convergence.id))
            .filter(contributions::id.gt(after.unwrap_or(Uuid::nil())))
            .order(contributions::id)
            .limit(PAGE)
            .select(DbContribution::as_select())
            .load(&mut self.conn)
            .await?;
        let Some(last) = rows.last().map(|row| row.id) else {
            return Ok(None);
        };
        let mut chunk = String::new();
        for row in rows {
            let entry = ContributionEntry {
                context: self.line_context(),
                kind: ContributionType::Contribution,
                id: self.urls.contribution(row.id),
                content: row.text,
                author_name: row.author,
                status: row.status,
                attempts: row.attempts,
                error: row.error,
                reused: row
                    .reused
                    .into_iter()
                    .flatten()
                    .map(|id| self.urls.artifact(id))
                    .collect(),
                published: row.created_at,
                updated: row.updated_at,
                completed: row.completed_at,
            };
            self.push(&mut chunk, &entry)?;
        }
        Ok(Some((last, chunk)))
    }

    /// One page of artifacts after `after`, with the last id; `None` when there are no more.
    async fn artifacts(&mut self, after: Option<Uuid>) -> Result<Option<(Uuid, String)>> {
        let rows: Vec<DbArtifact> = artifacts::table
            .filter(artifacts::convergence_id.eq(self.convergence.id))
            .filter(artifacts::deleted_at.is_null())
            .filter(artifacts::id.gt(after.unwrap_or(Uuid::nil())))
            .order(artifacts::id)
            .limit(PAGE)
            .select(DbArtifact::as_select())
            .load(&mut self.conn)
            .await?;
        let Some(last) = rows.last().map(|row| row.id) else {
            return Ok(None);
        };
        let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
        let mut tags: HashMap<Uuid, Vec<DimensionTag>> = HashMap::new();
        let dimensions: Vec<(Uuid, String, f64)> = artifact_dimensions::table
            .filter(artifact_dimensions::artifact_id.eq_any(&ids))
            .order((
                artifact_dimensions::artifact_id,
                artifact_dimensions::dimension,
            ))
            .select((
                artifact_dimensions::artifact_id,
                artifact_dimensions::dimension,
                artifact_dimensions::weight,
            ))
            .load(&mut self.conn)
            .await?;
        for (id, name, weight) in dimensions {
            tags.entry(id).or_default().push(DimensionTag {
                kind: DimensionType::Dimension,
                name,
                weight,
            });
        }
        let mut chunk = String::new();
        for row in rows {
            let entry = ArtifactEntry {
                context: self.line_context(),
                kind: ArticleType::Article,
                id: self.urls.artifact(row.id),
                artifact_kind: row.kind,
                name: row.title,
                content: row.body,
                author_name: row.author,
                dimensions: tags.remove(&row.id).unwrap_or_default(),
                version: row.version,
                published: row.created_at,
                updated: row.updated_at,
                origin: row.origin_url,
                contribution: row.contribution_id.map(|id| self.urls.contribution(id)),
            };
            self.push(&mut chunk, &entry)?;
        }
        Ok(Some((last, chunk)))
    }

    /// The relationships of the next page of artifacts after `after` (by artifact id), with
    /// the page's last artifact id; `None` when no artifacts are left.
    async fn relationships(&mut self, after: Option<Uuid>) -> Result<Option<(Uuid, String)>> {
        let readable = self.caller.readable();
        let page: Vec<Uuid> = artifacts::table
            .filter(artifacts::convergence_id.eq(self.convergence.id))
            .filter(artifacts::deleted_at.is_null())
            .filter(artifacts::id.gt(after.unwrap_or(Uuid::nil())))
            .order(artifacts::id)
            .limit(PAGE)
            .select(artifacts::id)
            .load(&mut self.conn)
            .await?;
        let Some(last) = page.last().copied() else {
            return Ok(None);
        };
        let rows: Vec<DbRelationshipRow> = diesel::sql_query(RELATIONSHIPS)
            .bind::<SqlUuid, _>(self.convergence.id)
            .bind::<Bool, _>(readable.is_all())
            .bind::<Array<SqlUuid>, _>(readable.granted())
            .bind::<Array<SqlUuid>, _>(&page)
            .load(&mut self.conn)
            .await?;
        let mut chunk = String::new();
        for DbRelationshipRow {
            relationship: row,
            origin_url,
        } in rows
        {
            let entry = RelationshipEntry {
                context: self.line_context(),
                kind: RelationshipType::Relationship,
                id: self.urls.relationship(row.id),
                subject: self.urls.artifact(row.source_id),
                object: self.urls.artifact(row.target_id),
                relationship: relationship_iri(&row.kind),
                weight: row.weight,
                published: row.created_at,
                origin: origin_url,
                contribution: row.contribution_id.map(|id| self.urls.contribution(id)),
            };
            self.push(&mut chunk, &entry)?;
        }
        Ok(Some((last, chunk)))
    }

    fn line_context(&self) -> Option<serde_json::Value> {
        (self.format == ExportFormat::Ndjson).then(|| context(self.urls.base()))
    }

    fn push(&mut self, chunk: &mut String, entry: &impl serde::Serialize) -> Result<()> {
        let json = serde_json::to_string(entry).map_err(Error::Encoding)?;
        match self.format {
            ExportFormat::Jsonld => {
                if self.written > 0 {
                    chunk.push(',');
                }
                chunk.push_str(&json);
            }
            ExportFormat::Ndjson => {
                chunk.push_str(&json);
                chunk.push('\n');
            }
        }
        self.written += 1;
        Ok(())
    }
}

/// A relationship row with its origin (which [`DbRelationship`] leaves out).
#[derive(QueryableByName)]
struct DbRelationshipRow {
    #[diesel(embed)]
    relationship: DbRelationship,
    #[diesel(sql_type = Nullable<diesel::sql_types::Text>)]
    origin_url: Option<String>,
}
