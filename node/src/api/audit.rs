//! `GET /api/v1/admin/audit`: the audit log, newest first (node administrators).

use actix_web::web;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::audit::{self as service, AuditEntry, AuditFilter};
use crate::auth::Writer;
use crate::db::DbPool;
use crate::error::{ErrorBody, Result};
use crate::service::convergences as convergence_service;

use super::pagination::{Page, decode_cursor, page_limit, paginate};

/// Filters and page of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this action, e.g. `member.set_role`.
    pub action: Option<String>,
    /// Only this actor: a username, `token <id>` or `kgnode` (the command line).
    pub actor: Option<String>,
    /// Only this convergence (slug).
    pub convergence: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists audited actions, newest first.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin",
    params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<AuditEntry>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_audit(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<Page<AuditEntry>>> {
    caller.require_node_admin("the audit log")?;
    let limit = page_limit(query.limit)?;
    let before: Option<i64> = decode_cursor(query.cursor.as_deref())?;
    let mut conn = pool.get().await?;
    let convergence = match &query.convergence {
        Some(slug) => Some(
            convergence_service::find_readable(&mut conn, &caller, slug)
                .await?
                .id,
        ),
        None => None,
    };
    let filter = AuditFilter {
        action: query.action.clone(),
        actor: query.actor.clone(),
        convergence,
    };
    let rows = service::list(&mut conn, &filter, before, limit + 1).await?;
    Ok(web::Json(paginate(rows, limit, |row| row.id, |row| row)))
}
