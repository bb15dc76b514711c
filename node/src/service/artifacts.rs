//! Artifacts and their dimension sets.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::schema::{artifact_dimensions, artifacts, convergences};
use crate::db::{
    ChangeEvent, ChangeOperation, DbArtifact, DbConvergence, DbDimension, Outbox, load_dimensions,
    stored_value,
};
use crate::domain::{ArtifactKind, Author, Body, DimensionName, Dimensions, Title};
use crate::error::{Error, Result};

use super::{convergences as convergence_service, relationships};
use crate::audit::{self, AuditAction, AuditEvent};

/// Rows per multi-row INSERT of dimension tags (3 parameters each).
const DIMENSION_CHUNK: usize = 10_000;
/// Rows per multi-row INSERT of artifacts (10 parameters each).
const ARTIFACT_CHUNK: usize = 5_000;

/// An artifact to create.
#[derive(Debug, Clone)]
pub struct NewArtifact {
    /// What it is.
    pub kind: ArtifactKind,
    /// Its title.
    pub title: Title,
    /// Its Markdown body.
    pub body: Body,
    /// Who wrote it, free-form.
    pub author: Option<Author>,
    /// Its dimension tags.
    pub dimensions: Dimensions,
}

/// Changes to an artifact; `None` leaves a field as it is. `dimensions` replaces the whole set.
#[derive(Debug, Clone, Default)]
pub struct ArtifactPatch {
    /// New kind.
    pub kind: Option<ArtifactKind>,
    /// New title.
    pub title: Option<Title>,
    /// New body.
    pub body: Option<Body>,
    /// New author.
    pub author: Option<Author>,
    /// New dimension set.
    pub dimensions: Option<Dimensions>,
}

impl ArtifactPatch {
    fn is_empty(&self) -> bool {
        self.kind.is_none()
            && self.title.is_none()
            && self.body.is_none()
            && self.author.is_none()
            && self.dimensions.is_none()
    }
}

/// Filters for listing the artifacts of a convergence.
#[derive(Debug, Clone, Default)]
pub struct ArtifactFilter {
    /// Only this kind.
    pub kind: Option<ArtifactKind>,
    /// Only artifacts tagged with this dimension.
    pub dimension: Option<DimensionName>,
}

/// An artifact with its convergence's slug and its dimension tags.
#[derive(Debug, Clone)]
pub struct ArtifactWithDimensions {
    /// The stored row.
    pub artifact: DbArtifact,
    /// Slug of its convergence.
    pub convergence: String,
    /// Its tags, by name.
    pub dimensions: Vec<(String, f64)>,
}

#[derive(AsChangeset)]
#[diesel(table_name = artifacts)]
struct ArtifactChangeset {
    kind: Option<&'static str>,
    title: Option<String>,
    body: Option<String>,
    author: Option<String>,
}

/// The change-log entry for an artifact write.
pub(crate) fn artifact_change(
    row: &DbArtifact,
    operation: ChangeOperation,
) -> QueryResult<ChangeEvent> {
    let kind = stored_value(&row.kind)?;
    Ok(match operation {
        ChangeOperation::Insert | ChangeOperation::Update => ChangeEvent::ArtifactUpserted {
            id: row.id,
            convergence: row.convergence_id,
            created: operation == ChangeOperation::Insert,
            version: row.version,
            kind,
        },
        ChangeOperation::Delete => ChangeEvent::ArtifactDeleted {
            id: row.id,
            convergence: row.convergence_id,
            version: row.version,
            kind,
        },
    })
}

pub(crate) fn dimension_rows(artifact_id: Uuid, dimensions: &Dimensions) -> Vec<DbDimension> {
    dimensions
        .iter()
        .map(|(name, weight)| DbDimension {
            artifact_id,
            dimension: name.as_str().to_owned(),
            weight: weight.get(),
        })
        .collect()
}

pub(crate) async fn insert_dimensions(
    conn: &mut AsyncPgConnection,
    rows: &[DbDimension],
) -> QueryResult<()> {
    for chunk in rows.chunks(DIMENSION_CHUNK) {
        diesel::insert_into(artifact_dimensions::table)
            .values(chunk)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Inserts artifacts with their tags into `convergence` and records them in `outbox`; the
/// participant `created_by`, if one, made them. The caller owns the transaction and has checked
/// access. Returns the rows in input order.
pub(crate) async fn insert_many(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    convergence: &DbConvergence,
    items: Vec<NewArtifact>,
    created_by: Option<Uuid>,
    now: DateTime<Utc>,
) -> QueryResult<Vec<DbArtifact>> {
    let mut rows = Vec::with_capacity(items.len());
    let mut tags = Vec::new();
    for item in items {
        let id = Uuid::now_v7();
        tags.extend(dimension_rows(id, &item.dimensions));
        rows.push(DbArtifact {
            id,
            convergence_id: convergence.id,
            kind: item.kind.as_str().to_owned(),
            title: item.title.into_inner(),
            body: item.body.into_inner(),
            author: item.author.map(Author::into_inner),
            version: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            origin_url: None,
            contribution_id: None,
            created_by,
        });
    }
    for chunk in rows.chunks(ARTIFACT_CHUNK) {
        diesel::insert_into(artifacts::table)
            .values(chunk)
            .execute(conn)
            .await?;
    }
    insert_dimensions(conn, &tags).await?;
    outbox.count_dimensions(
        convergence.id,
        tags.iter().map(|t| (t.dimension.as_str(), t.weight)),
        1,
    );
    for row in &rows {
        outbox.push(artifact_change(row, ChangeOperation::Insert)?);
    }
    Ok(rows)
}

/// Creates one artifact in the convergence `slug`.
pub async fn create(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    slug: &str,
    new: NewArtifact,
) -> Result<ArtifactWithDimensions> {
    let convergence = convergence_service::find_readable(conn, caller, slug).await?;
    caller.require_write(&convergence)?;
    let dimensions = sorted_tags(&new.dimensions);
    let artifact = conn
        .transaction(async |conn| {
            let mut outbox = Outbox::default();
            let mut rows = insert_many(
                conn,
                &mut outbox,
                &convergence,
                vec![new],
                caller.participant_id(),
                crate::db::now(),
            )
            .await?;
            outbox.flush(conn).await?;
            rows.pop()
                .ok_or(Error::Database(diesel::result::Error::NotFound))
        })
        .await?;
    Ok(ArtifactWithDimensions {
        artifact,
        convergence: convergence.slug,
        dimensions,
    })
}

fn sorted_tags(dimensions: &Dimensions) -> Vec<(String, f64)> {
    dimensions
        .iter()
        .map(|(name, weight)| (name.as_str().to_owned(), weight.get()))
        .collect()
}

/// Lists live artifacts of a convergence in id (creation) order, after the id `after`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    slug: &str,
    filter: &ArtifactFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ArtifactWithDimensions>> {
    let convergence = convergence_service::find_readable(conn, caller, slug).await?;
    let mut query = artifacts::table
        .filter(artifacts::convergence_id.eq(convergence.id))
        .filter(artifacts::deleted_at.is_null())
        .select(DbArtifact::as_select())
        .order(artifacts::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(kind) = filter.kind {
        query = query.filter(artifacts::kind.eq(kind.as_str()));
    }
    if let Some(after) = after {
        query = query.filter(artifacts::id.gt(after));
    }
    if let Some(dimension) = &filter.dimension {
        let tagged = artifact_dimensions::table
            .filter(artifact_dimensions::dimension.eq(dimension.as_str().to_owned()))
            .select(artifact_dimensions::artifact_id);
        query = query.filter(artifacts::id.eq_any(tagged));
    }
    let rows = query.load(conn).await?;
    with_dimensions(conn, rows, &convergence.slug).await
}

async fn with_dimensions(
    conn: &mut AsyncPgConnection,
    rows: Vec<DbArtifact>,
    convergence: &str,
) -> Result<Vec<ArtifactWithDimensions>> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let mut tags = load_dimensions(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|artifact| ArtifactWithDimensions {
            dimensions: tags.remove(&artifact.id).unwrap_or_default(),
            convergence: convergence.to_owned(),
            artifact,
        })
        .collect())
}

/// How [`find_readable`] locks the artifact row until the transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowLock {
    /// Plain read.
    None,
    /// `FOR SHARE`: the row may not change or disappear, other readers proceed (new edges).
    Share,
    /// `FOR UPDATE`: this transaction will change the row.
    Update,
}

/// Loads an artifact (deleted or not) and its convergence, if the caller may read it.
pub(crate) async fn find_readable(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    lock: RowLock,
) -> Result<(DbArtifact, DbConvergence)> {
    let query = artifacts::table.find(id).select(DbArtifact::as_select());
    let artifact = match lock {
        RowLock::None => query.first(conn).await,
        RowLock::Share => query.for_share().first(conn).await,
        RowLock::Update => query.for_update().first(conn).await,
    }
    .optional()?
    .ok_or_else(|| Error::not_found("artifact", id))?;
    let convergence = convergences::table
        .find(artifact.convergence_id)
        .select(DbConvergence::as_select())
        .first(conn)
        .await?;
    match (artifact, convergence) {
        (artifact, convergence) if caller.can_read(convergence.id, &convergence.visibility) => {
            Ok((artifact, convergence))
        }
        _ => Err(Error::not_found("artifact", id)),
    }
}

/// Loads a live artifact; 404 when unknown or invisible, 410 when deleted.
pub async fn get(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<ArtifactWithDimensions> {
    let (artifact, convergence) = find_readable(conn, caller, id, RowLock::None).await?;
    if artifact.deleted_at.is_some() {
        return Err(Error::Deleted(id));
    }
    let mut all = with_dimensions(conn, vec![artifact], &convergence.slug).await?;
    all.pop().ok_or_else(|| Error::not_found("artifact", id))
}

/// Loads, locks and checks a live artifact for an optimistic write.
async fn lock_for_write(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    expected_version: Option<i32>,
) -> Result<(DbArtifact, DbConvergence)> {
    let (artifact, convergence) = find_readable(conn, caller, id, RowLock::Update).await?;
    caller.require_change(&convergence, artifact.created_by)?;
    if artifact.deleted_at.is_some() {
        return Err(Error::Deleted(id));
    }
    if let Some(expected) = expected_version
        && expected != artifact.version
    {
        return Err(Error::StaleVersion {
            expected,
            current: artifact.version,
        });
    }
    Ok((artifact, convergence))
}

/// Replaces an artifact's dimension set, moving the counters of its convergence.
pub(crate) async fn replace_dimensions(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    convergence_id: Uuid,
    id: Uuid,
    dimensions: &Dimensions,
) -> QueryResult<()> {
    let old: Vec<DbDimension> =
        diesel::delete(artifact_dimensions::table.filter(artifact_dimensions::artifact_id.eq(id)))
            .returning(DbDimension::as_returning())
            .get_results(conn)
            .await?;
    outbox.count_dimensions(
        convergence_id,
        old.iter().map(|t| (t.dimension.as_str(), t.weight)),
        -1,
    );
    let new = dimension_rows(id, dimensions);
    insert_dimensions(conn, &new).await?;
    outbox.count_dimensions(
        convergence_id,
        new.iter().map(|t| (t.dimension.as_str(), t.weight)),
        1,
    );
    Ok(())
}

/// Applies a patch if `expected_version` is still current; bumps the version by one.
pub async fn update(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    expected_version: i32,
    patch: ArtifactPatch,
) -> Result<ArtifactWithDimensions> {
    if patch.is_empty() {
        return Err(Error::Unprocessable(
            "the patch changes nothing: give kind, title, body, author or dimensions".into(),
        ));
    }
    conn.transaction(async move |conn| {
        let (current, convergence) =
            lock_for_write(conn, caller, id, Some(expected_version)).await?;
        let mut outbox = Outbox::default();
        if let Some(dimensions) = &patch.dimensions {
            replace_dimensions(conn, &mut outbox, convergence.id, id, dimensions).await?;
        }
        let changes = ArtifactChangeset {
            kind: patch.kind.map(ArtifactKind::as_str),
            title: patch.title.map(Title::into_inner),
            body: patch.body.map(Body::into_inner),
            author: patch.author.map(Author::into_inner),
        };
        let updated: DbArtifact = diesel::update(artifacts::table.find(id))
            .set((
                changes,
                artifacts::version.eq(current.version + 1),
                artifacts::updated_at.eq(crate::db::now()),
            ))
            .returning(DbArtifact::as_returning())
            .get_result(conn)
            .await?;
        outbox.push(artifact_change(&updated, ChangeOperation::Update)?);
        outbox.flush(conn).await?;
        if caller.moderates(convergence.id, current.created_by) {
            let event = AuditEvent::new(AuditAction::ArtifactModerated, id)
                .in_convergence(convergence.id)
                .with_detail(serde_json::json!({ "version": updated.version }));
            audit::record(conn, caller, event).await?;
        }
        let mut all = with_dimensions(conn, vec![updated], &convergence.slug).await?;
        all.pop().ok_or_else(|| Error::not_found("artifact", id))
    })
    .await
}

/// Soft-deletes an artifact (bumping its version), removes its relationships and its counts.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
    expected_version: Option<i32>,
) -> Result<()> {
    conn.transaction(async move |conn| {
        let (current, convergence) = lock_for_write(conn, caller, id, expected_version).await?;
        let mut outbox = Outbox::default();
        soft_delete(conn, &mut outbox, &current, current.version + 1).await?;
        outbox.flush(conn).await?;
        if caller.moderates(convergence.id, current.created_by) {
            let event = AuditEvent::new(AuditAction::ArtifactDeletedByModerator, id)
                .in_convergence(convergence.id)
                .with_detail(serde_json::json!({ "title": current.title }));
            audit::record(conn, caller, event).await?;
        }
        Ok(())
    })
    .await
}

/// Marks a locked, live artifact deleted at `version`, removing its relationships and its
/// counts. The caller owns the transaction and flushes `outbox`.
pub(crate) async fn soft_delete(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    current: &DbArtifact,
    version: i32,
) -> Result<()> {
    let tags: Vec<DbDimension> = artifact_dimensions::table
        .filter(artifact_dimensions::artifact_id.eq(current.id))
        .select(DbDimension::as_select())
        .load(conn)
        .await?;
    outbox.count_dimensions(
        current.convergence_id,
        tags.iter().map(|t| (t.dimension.as_str(), t.weight)),
        -1,
    );
    relationships::delete_touching(conn, outbox, current.id).await?;
    let deleted: DbArtifact = diesel::update(artifacts::table.find(current.id))
        .set((
            artifacts::version.eq(version),
            artifacts::deleted_at.eq(Some(crate::db::now())),
        ))
        .returning(DbArtifact::as_returning())
        .get_result(conn)
        .await?;
    outbox.push(artifact_change(&deleted, ChangeOperation::Delete)?);
    Ok(())
}
