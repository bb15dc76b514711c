//! Convergences: the tenant boundary.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::auth::{Caller, Role};
use crate::db::schema::convergences;
use crate::db::{ChangeEvent, DbConvergence, Outbox, stored_value};
use crate::domain::{Description, Name, Slug, Visibility, names_convergence};
use crate::error::{Error, Result};

use super::visibility::readable_by;
use crate::audit::{self, AuditAction, AuditEvent};

/// A convergence to create.
#[derive(Debug, Clone)]
pub struct NewConvergence {
    /// Unique URL-safe slug.
    pub slug: Slug,
    /// Display name.
    pub name: Name,
    /// Free-text description.
    pub description: Description,
    /// Who may read it.
    pub visibility: Visibility,
}

/// Changes to a convergence; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ConvergencePatch {
    /// New display name.
    pub name: Option<Name>,
    /// New description.
    pub description: Option<Description>,
    /// New visibility.
    pub visibility: Option<Visibility>,
}

#[derive(AsChangeset)]
#[diesel(table_name = convergences)]
struct ConvergenceChangeset {
    name: Option<String>,
    description: Option<String>,
    visibility: Option<&'static str>,
}

/// The change-log entry for a convergence write (`created` or changed).
pub(crate) fn convergence_change(row: &DbConvergence, created: bool) -> QueryResult<ChangeEvent> {
    Ok(ChangeEvent::ConvergenceChanged {
        id: row.id,
        created,
        slug: row.slug.clone(),
        visibility: stored_value(&row.visibility)?,
    })
}

/// Creates a convergence (node administrators and node-wide write tokens); a taken slug is a
/// conflict.
pub async fn create(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    new: NewConvergence,
) -> Result<DbConvergence> {
    caller.require_node_write("creating a convergence")?;
    let now = crate::db::now();
    let row = DbConvergence {
        id: Uuid::now_v7(),
        slug: new.slug.to_string(),
        name: new.name.into_inner(),
        description: new.description.into_inner(),
        visibility: new.visibility.as_str().to_owned(),
        created_at: now,
        updated_at: now,
        origin_url: None,
    };
    conn.transaction(async |conn| {
        let inserted = diesel::insert_into(convergences::table)
            .values(&row)
            .on_conflict_do_nothing()
            .returning(DbConvergence::as_returning())
            .get_result(conn)
            .await
            .optional()?
            .ok_or_else(|| Error::Conflict(format!("slug '{}' is already taken", row.slug)))?;
        let mut outbox = Outbox::default();
        outbox.push(convergence_change(&inserted, true)?);
        outbox.flush(conn).await?;
        let event = AuditEvent::new(AuditAction::ConvergenceCreated, &inserted.slug)
            .in_convergence(inserted.id);
        audit::record(conn, caller, event).await?;
        Ok(inserted)
    })
    .await
}

/// Lists the convergences the caller may read, by slug, after `after`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<DbConvergence>> {
    let mut query = convergences::table
        .filter(readable_by(caller))
        .select(DbConvergence::as_select())
        .order(convergences::slug.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(convergences::slug.gt(after.to_owned()));
    }
    Ok(query.load(conn).await?)
}

/// The convergence `id` (for a row that names it), without an access check.
pub(crate) async fn find_by_id(conn: &mut AsyncPgConnection, id: Uuid) -> Result<DbConvergence> {
    Ok(convergences::table
        .find(id)
        .select(DbConvergence::as_select())
        .first(conn)
        .await?)
}

/// Finds a convergence by slug; 404 when it does not exist or the caller may not read it.
pub async fn find_readable(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    slug: &str,
) -> Result<DbConvergence> {
    // A text that is no valid name names no convergence (and never reaches the database).
    if !names_convergence(slug) {
        return Err(Error::not_found("convergence", slug.escape_debug()));
    }
    let row = convergences::table
        .filter(convergences::slug.eq(slug))
        .select(DbConvergence::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::not_found("convergence", slug))?;
    caller.require_read(&row)?;
    Ok(row)
}

/// Applies a patch (the convergence's admins).
pub async fn update(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    slug: &str,
    patch: ConvergencePatch,
) -> Result<DbConvergence> {
    if patch.name.is_none() && patch.description.is_none() && patch.visibility.is_none() {
        return Err(Error::Unprocessable(
            "the patch changes nothing: give name, description or visibility".into(),
        ));
    }
    conn.transaction(async |conn| {
        let current = find_readable(conn, caller, slug).await?;
        caller.require_role(&current, Role::Admin)?;
        let changes = ConvergenceChangeset {
            name: patch.name.map(Name::into_inner),
            description: patch.description.map(Description::into_inner),
            visibility: patch.visibility.map(Visibility::as_str),
        };
        let updated = diesel::update(convergences::table.find(current.id))
            .set((changes, convergences::updated_at.eq(crate::db::now())))
            .returning(DbConvergence::as_returning())
            .get_result(conn)
            .await?;
        let mut outbox = Outbox::default();
        outbox.push(convergence_change(&updated, false)?);
        outbox.flush(conn).await?;
        let event = AuditEvent::new(AuditAction::ConvergenceUpdated, &updated.slug)
            .in_convergence(updated.id)
            .with_detail(serde_json::json!({ "visibility": updated.visibility }));
        audit::record(conn, caller, event).await?;
        Ok(updated)
    })
    .await
}
