//! Typed, weighted, directed relationships between artifacts.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::schema::artifact_relationships;
use crate::db::{ChangeEvent, ChangeOperation, DbRelationship, EdgeChange, Outbox, stored_value};
use crate::domain::{Direction, EdgeWeight, RelationshipKind};
use crate::error::{Error, Result};

use super::artifacts::{self, RowLock};
use crate::audit::{self, AuditAction, AuditEvent};

/// Rows per multi-row INSERT of relationships (6 parameters each).
const RELATIONSHIP_CHUNK: usize = 8_000;

/// A relationship to create between two existing, live artifacts.
#[derive(Debug, Clone, Copy)]
pub struct NewRelationship {
    /// The artifact the edge starts at.
    pub source: Uuid,
    /// The artifact the edge points to.
    pub target: Uuid,
    /// How the source relates to the target.
    pub kind: RelationshipKind,
    /// Strength in (0, 1].
    pub weight: EdgeWeight,
}

/// The change-log entry for a relationship write; `convergence_id` is the source's convergence.
pub(crate) fn relationship_change(
    row: &DbRelationship,
    convergence_id: Uuid,
    op: ChangeOperation,
) -> QueryResult<ChangeEvent> {
    let edge = EdgeChange {
        source: row.source_id,
        target: row.target_id,
        kind: stored_value(&row.kind)?,
        weight: row.weight,
    };
    Ok(match op {
        ChangeOperation::Insert | ChangeOperation::Update => ChangeEvent::RelationshipUpserted {
            id: row.id,
            convergence: convergence_id,
            created: op == ChangeOperation::Insert,
            edge,
        },
        ChangeOperation::Delete => ChangeEvent::RelationshipDeleted {
            id: row.id,
            convergence: convergence_id,
            edge,
        },
    })
}

/// Inserts relationships whose endpoints the caller has already checked, recording them in
/// `outbox`. `source_convergences[i]` is the convergence of `items[i].source`; `created_by` is
/// the participant making them, if one is.
pub(crate) async fn insert_many(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    items: &[(NewRelationship, Uuid)],
    created_by: Option<Uuid>,
    now: DateTime<Utc>,
) -> QueryResult<Vec<DbRelationship>> {
    let rows: Vec<DbRelationship> = items
        .iter()
        .map(|(item, _)| DbRelationship {
            id: Uuid::now_v7(),
            source_id: item.source,
            target_id: item.target,
            kind: item.kind.as_str().to_owned(),
            weight: item.weight.get(),
            created_at: now,
            contribution_id: None,
            created_by,
        })
        .collect();
    for chunk in rows.chunks(RELATIONSHIP_CHUNK) {
        diesel::insert_into(artifact_relationships::table)
            .values(chunk)
            .execute(conn)
            .await?;
    }
    for (row, (_, convergence)) in rows.iter().zip(items) {
        outbox.push(relationship_change(
            row,
            *convergence,
            ChangeOperation::Insert,
        )?);
    }
    Ok(rows)
}

/// Creates one relationship. The caller must be able to write in the source's convergence and
/// read the target.
pub async fn create(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    new: NewRelationship,
) -> Result<DbRelationship> {
    if new.source == new.target {
        return Err(Error::Unprocessable(
            "a relationship cannot link an artifact to itself".into(),
        ));
    }
    conn.transaction(async move |conn| {
        let (source, source_convergence) =
            artifacts::find_readable(conn, caller, new.source, RowLock::Share).await?;
        let (target, _) =
            artifacts::find_readable(conn, caller, new.target, RowLock::Share).await?;
        caller.require_write(&source_convergence)?;
        for endpoint in [&source, &target] {
            if endpoint.deleted_at.is_some() {
                return Err(Error::Deleted(endpoint.id));
            }
        }
        let mut outbox = Outbox::default();
        let mut rows = insert_many(
            conn,
            &mut outbox,
            &[(new, source.convergence_id)],
            caller.participant_id(),
            crate::db::now(),
        )
        .await
        .map_err(|error| duplicate_edge(error, &new))?;
        outbox.flush(conn).await?;
        rows.pop()
            .ok_or_else(|| Error::not_found("relationship", new.source))
    })
    .await
}

/// Turns a unique violation into a conflict that names the edge.
pub(crate) fn duplicate_edge(error: diesel::result::Error, edge: &NewRelationship) -> Error {
    match Error::from(error) {
        Error::Conflict(_) => Error::Conflict(format!(
            "a '{}' relationship from {} to {} already exists",
            edge.kind, edge.source, edge.target
        )),
        other => other,
    }
}

/// Deletes a relationship; the caller must be able to change it in its source's convergence
/// (its creator, or a moderator).
pub async fn delete(conn: &mut AsyncPgConnection, caller: &Caller, id: Uuid) -> Result<()> {
    conn.transaction(async move |conn| {
        let row: DbRelationship = artifact_relationships::table
            .find(id)
            .select(DbRelationship::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| Error::not_found("relationship", id))?;
        // A caller deletes only an edge it can see: both of its ends readable.
        let (_, source_convergence) =
            artifacts::find_readable(conn, caller, row.source_id, RowLock::None)
                .await
                .map_err(|_| Error::not_found("relationship", id))?;
        artifacts::find_readable(conn, caller, row.target_id, RowLock::None)
            .await
            .map_err(|_| Error::not_found("relationship", id))?;
        caller.require_change(&source_convergence, row.created_by)?;
        diesel::delete(artifact_relationships::table.find(id))
            .execute(conn)
            .await?;
        let mut outbox = Outbox::default();
        outbox.push(relationship_change(
            &row,
            source_convergence.id,
            ChangeOperation::Delete,
        )?);
        outbox.flush(conn).await?;
        if caller.moderates(source_convergence.id, row.created_by) {
            let event = AuditEvent::new(AuditAction::RelationshipDeletedByModerator, id)
                .in_convergence(source_convergence.id)
                .with_detail(serde_json::json!({ "kind": row.kind }));
            audit::record(conn, caller, event).await?;
        }
        Ok(())
    })
    .await
}

/// Deletes every relationship that starts or ends at `artifact`, recording each deletion.
pub(crate) async fn delete_touching(
    conn: &mut AsyncPgConnection,
    outbox: &mut Outbox,
    artifact: Uuid,
) -> Result<()> {
    #[derive(QueryableByName)]
    struct Deleted {
        #[diesel(embed)]
        relationship: DbRelationship,
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        source_convergence: Uuid,
    }
    let deleted: Vec<Deleted> = diesel::sql_query(
        "WITH gone AS (DELETE FROM artifact_relationships \
                       WHERE source_id = $1 OR target_id = $1 RETURNING *) \
         SELECT gone.*, a.convergence_id AS source_convergence \
         FROM gone JOIN artifacts a ON a.id = gone.source_id ORDER BY gone.id",
    )
    .bind::<diesel::sql_types::Uuid, _>(artifact)
    .load(conn)
    .await?;
    for row in &deleted {
        outbox.push(relationship_change(
            &row.relationship,
            row.source_convergence,
            ChangeOperation::Delete,
        )?);
    }
    Ok(())
}

/// Lists the relationships of a readable artifact whose other end the caller may also read,
/// in id order after `after`.
pub async fn list_for_artifact(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    artifact: Uuid,
    direction: Direction,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DbRelationship>> {
    let (row, _) = artifacts::find_readable(conn, caller, artifact, RowLock::None).await?;
    if row.deleted_at.is_some() {
        return Err(Error::Deleted(artifact));
    }
    let readable = caller.readable();
    let outgoing = matches!(direction, Direction::Out | Direction::Both);
    let incoming = matches!(direction, Direction::In | Direction::Both);
    let rows = diesel::sql_query(
        "SELECT r.id, r.source_id, r.target_id, r.kind, r.weight, r.created_at, r.contribution_id, \
         r.created_by \
         FROM artifact_relationships r \
         JOIN artifacts o ON o.id = CASE WHEN r.source_id = $1 THEN r.target_id ELSE r.source_id END \
         JOIN convergences c ON c.id = o.convergence_id \
         WHERE (($2 AND r.source_id = $1) OR ($3 AND r.target_id = $1)) \
           AND ($4::uuid IS NULL OR r.id > $4) \
           AND (c.visibility = 'public' OR $5 OR c.id = ANY($6)) \
         ORDER BY r.id LIMIT $7",
    )
    .bind::<diesel::sql_types::Uuid, _>(artifact)
    .bind::<Bool, _>(outgoing)
    .bind::<Bool, _>(incoming)
    .bind::<Nullable<diesel::sql_types::Uuid>, _>(after)
    .bind::<Bool, _>(readable.is_all())
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(readable.granted())
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load::<DbRelationship>(conn)
    .await?;
    Ok(rows)
}

/// Reads a relationship whose two ends the caller may read.
pub async fn get(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<DbRelationship> {
    let row: DbRelationship = artifact_relationships::table
        .find(id)
        .select(DbRelationship::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::not_found("relationship", id))?;
    for end in [row.source_id, row.target_id] {
        artifacts::find_readable(conn, caller, end, RowLock::None)
            .await
            .map_err(|_| Error::not_found("relationship", id))?;
    }
    Ok(row)
}
