//! `/api/v1/admin/...`: federation administration (node-wide tokens only).

use activitypub_federation::config::FederationConfig;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Writer;
use crate::db::DbPool;
use crate::error::{Error, ErrorBody, Result};
use crate::federating::admin::{self, BlockedInstance, FollowView, PeerQueue};
use crate::federating::parked::{self, ParkedActivity};
use crate::federating::{FederationContext, FederationError};
use crate::workers::Projections;

use super::json::ApiJson;
use super::pagination::{MAX_LIMIT, Page, decode_cursor, page_limit, paginate};

type Federation = Option<web::Data<FederationConfig<FederationContext>>>;

fn enabled(federation: Federation) -> Result<web::Data<FederationConfig<FederationContext>>> {
    federation.ok_or_else(|| Error::NotFound {
        resource: "feature",
        key: "federation (disabled in this node's settings)".to_owned(),
    })
}

/// Makes this process's federation read the block list again at its next check.
fn blocks_changed(federation: Federation) {
    if let Some(config) = federation {
        config.to_request_data().blocks.invalidate();
    }
}

/// Maps a federation failure to the node's error shape.
fn node_error(error: FederationError) -> Error {
    match error {
        FederationError::Node(error) => error,
        FederationError::Invalid(message) | FederationError::Unauthenticated(message) => {
            Error::Unprocessable(message)
        }
        FederationError::Rejected(message) => Error::Forbidden(message),
        FederationError::Disabled => Error::NotFound {
            resource: "feature",
            key: "federation".to_owned(),
        },
        FederationError::Protocol(error) => {
            Error::Unprocessable(format!("the remote convergence cannot be reached: {error}"))
        }
    }
}

/// The federation state of this node.
#[derive(Debug, Serialize, ToSchema)]
pub struct FederationOverview {
    /// Delivery state per receiving inbox, largest backlog first.
    pub peers: Vec<PeerQueue>,
    /// Activities not yet delivered, over all inboxes.
    pub total_backlog: i64,
    /// Activities parked after repeated refusals, over all inboxes.
    pub total_parked: i64,
    /// Remote convergences this node follows (the first 500 by name; all of them through
    /// `GET /admin/follows`).
    pub follows: Vec<FollowView>,
    /// Blocked instances (the first 500; all through `GET /admin/blocks`).
    pub blocked: Vec<BlockedInstance>,
}

/// Follows and blocks shown in the overview.
const OVERVIEW_LIMIT: i64 = MAX_LIMIT;

/// Query of the admin lists: a page size and the previous page's cursor.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AdminListQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The delivery queue (per-peer backlog and last error), follows and blocks.
#[utoipa::path(get, path = "/api/v1/admin/federation", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = FederationOverview),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn overview(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
) -> Result<web::Json<FederationOverview>> {
    caller.require_node_admin("federation administration")?;
    let mut conn = pool.get().await?;
    let peers = admin::queue_state(&mut conn).await.map_err(node_error)?;
    Ok(web::Json(FederationOverview {
        total_backlog: peers.iter().map(|peer| peer.backlog).sum(),
        total_parked: peers.iter().map(|peer| peer.parked).sum(),
        peers,
        follows: admin::list_follows(&mut conn, None, OVERVIEW_LIMIT)
            .await
            .map_err(node_error)?,
        blocked: admin::list_blocks(&mut conn, None, OVERVIEW_LIMIT)
            .await
            .map_err(node_error)?,
    }))
}

/// Body of `POST /api/v1/admin/follows`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowRequest {
    /// The remote convergence: its actor URL (`https://peer/c/slug`) or `slug@peer`.
    #[schema(example = "https://peer.example/c/ideas")]
    pub target: String,
}

/// Follows a remote public convergence; its artifacts and relationships then arrive as they
/// change, in a read-only local convergence named `slug@host[:port]`.
#[utoipa::path(post, path = "/api/v1/admin/follows", tag = "admin",
    request_body = FollowRequest, security(("bearer" = [])),
    responses(
        (status = 202, description = "Follow sent", body = FollowView),
        (status = 200, description = "Already following", body = FollowView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, description = "Not a reachable convergence", body = ErrorBody)))]
pub async fn follow(
    federation: Federation,
    Writer(caller): Writer,
    ApiJson(body): ApiJson<FollowRequest>,
) -> Result<HttpResponse> {
    caller.require_node_admin("following a remote convergence")?;
    let config = enabled(federation)?;
    let data = config.to_request_data();
    let (view, created) = admin::follow_remote(&data, &caller, &body.target)
        .await
        .map_err(node_error)?;
    Ok(if created {
        HttpResponse::Accepted().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Stops following a remote convergence (by its local name `slug@host`); what was received
/// stays, read-only.
#[utoipa::path(delete, path = "/api/v1/admin/follows/{convergence}", tag = "admin",
    params(("convergence" = String, Path, description = "Local name of the mirror, slug@host")),
    security(("bearer" = [])),
    responses((status = 204, description = "Undo sent"), (status = 404, body = ErrorBody)))]
pub async fn unfollow(
    federation: Federation,
    Writer(caller): Writer,
    convergence: web::Path<String>,
) -> Result<HttpResponse> {
    caller.require_node_admin("unfollowing a remote convergence")?;
    let config = enabled(federation)?;
    let data = config.to_request_data();
    if admin::unfollow_remote(&data, &caller, &convergence)
        .await
        .map_err(node_error)?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(Error::not_found("follow", convergence.as_str()))
    }
}

/// Remote convergences this node follows, by local name.
#[utoipa::path(get, path = "/api/v1/admin/follows", tag = "admin",
    params(AdminListQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<FollowView>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn list_follows(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    query: web::Query<AdminListQuery>,
) -> Result<web::Json<Page<FollowView>>> {
    caller.require_node_admin("federation administration")?;
    let limit = page_limit(query.limit)?;
    let after: Option<String> = decode_cursor(query.cursor.as_deref())?;
    let mut conn = pool.get().await?;
    let rows = admin::list_follows(&mut conn, after.as_deref(), limit + 1)
        .await
        .map_err(node_error)?;
    Ok(web::Json(paginate(
        rows,
        limit,
        |row| row.convergence.clone(),
        |row| row,
    )))
}

/// Body of `POST /api/v1/admin/blocks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// `host` (also blocks its subdomains, any port), `host:port`, or a base URL.
    #[schema(example = "spam.example")]
    pub host: String,
    /// Why (shown to admins).
    #[serde(default)]
    pub reason: String,
}

/// Blocks an instance: nothing is fetched from, accepted from or delivered to it.
#[utoipa::path(post, path = "/api/v1/admin/blocks", tag = "admin",
    request_body = BlockRequest, security(("bearer" = [])),
    responses((status = 201, body = BlockedInstance), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn block(
    pool: web::Data<DbPool>,
    federation: Federation,
    Writer(caller): Writer,
    ApiJson(body): ApiJson<BlockRequest>,
) -> Result<HttpResponse> {
    caller.require_node_admin("federation administration")?;
    let mut conn = pool.get().await?;
    let blocked = admin::block(&mut conn, &caller, &body.host, body.reason.trim())
        .await
        .map_err(node_error)?;
    blocks_changed(federation);
    Ok(HttpResponse::Created().json(blocked))
}

/// Blocked instances, by host.
#[utoipa::path(get, path = "/api/v1/admin/blocks", tag = "admin",
    params(AdminListQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<BlockedInstance>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn list_blocks(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    query: web::Query<AdminListQuery>,
) -> Result<web::Json<Page<BlockedInstance>>> {
    caller.require_node_admin("federation administration")?;
    let limit = page_limit(query.limit)?;
    let after: Option<String> = decode_cursor(query.cursor.as_deref())?;
    let mut conn = pool.get().await?;
    let rows = admin::list_blocks(&mut conn, after.as_deref(), limit + 1)
        .await
        .map_err(node_error)?;
    Ok(web::Json(paginate(
        rows,
        limit,
        |row| row.host.clone(),
        |row| row,
    )))
}

/// Lifts a block.
#[utoipa::path(delete, path = "/api/v1/admin/blocks/{host}", tag = "admin",
    params(("host" = String, Path, description = "The blocked entry")),
    security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn unblock(
    pool: web::Data<DbPool>,
    federation: Federation,
    Writer(caller): Writer,
    host: web::Path<String>,
) -> Result<HttpResponse> {
    caller.require_node_admin("federation administration")?;
    let mut conn = pool.get().await?;
    let lifted = admin::unblock(&mut conn, &caller, &host)
        .await
        .map_err(node_error)?;
    blocks_changed(federation);
    if lifted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(Error::not_found("blocked instance", host.as_str()))
    }
}

/// Query of `GET /api/v1/admin/federation/parked`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ParkedQuery {
    /// Only the activities parked for this inbox.
    pub inbox: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Activities that peers kept refusing, parked so that their queues moved on; oldest first.
#[utoipa::path(get, path = "/api/v1/admin/federation/parked", tag = "admin",
    params(ParkedQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<ParkedActivity>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn list_parked(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    query: web::Query<ParkedQuery>,
) -> Result<web::Json<Page<ParkedActivity>>> {
    caller.require_node_admin("federation administration")?;
    let limit = page_limit(query.limit)?;
    let after: Option<i64> = decode_cursor(query.cursor.as_deref())?;
    let mut conn = pool.get().await?;
    let rows = parked::list_parked(&mut conn, query.inbox.as_deref(), after, limit)
        .await
        .map_err(node_error)?;
    Ok(web::Json(paginate(rows, limit, |row| row.id, |row| row)))
}

/// Sends a parked activity again: it is queued for its inbox behind what is queued now.
#[utoipa::path(post, path = "/api/v1/admin/federation/parked/{id}/retry", tag = "admin",
    params(("id" = i64, Path, description = "The parked entry")),
    security(("bearer" = [])),
    responses((status = 202, description = "Queued again"), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn retry_parked(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    id: web::Path<i64>,
) -> Result<HttpResponse> {
    settle_parked(&pool, &caller, *id, Settle::Retry).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Forgets a parked activity without sending it again.
#[utoipa::path(delete, path = "/api/v1/admin/federation/parked/{id}", tag = "admin",
    params(("id" = i64, Path, description = "The parked entry")),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn discard_parked(
    pool: web::Data<DbPool>,
    Writer(caller): Writer,
    id: web::Path<i64>,
) -> Result<HttpResponse> {
    settle_parked(&pool, &caller, *id, Settle::Discard).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What the administrator does with a parked activity.
enum Settle {
    Retry,
    Discard,
}

/// Retries or discards the parked entry `id`; 404 when there is none.
async fn settle_parked(
    pool: &DbPool,
    caller: &crate::auth::Caller,
    id: i64,
    settle: Settle,
) -> Result<()> {
    caller.require_node_admin("federation administration")?;
    let mut conn = pool.get().await?;
    let found = match settle {
        Settle::Retry => parked::retry_parked(&mut conn, caller, id).await,
        Settle::Discard => parked::discard_parked(&mut conn, caller, id).await,
    }
    .map_err(node_error)?;
    if found {
        Ok(())
    } else {
        Err(Error::not_found("parked activity", id.to_string()))
    }
}

/// How far one projection has applied the change log.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectionState {
    /// `search`, `graph` or `federation`.
    pub name: &'static str,
    /// The last change it has applied; null until it reads the log (while it loads).
    pub applied: Option<i64>,
    /// Changes committed that it has not applied yet; null until it reads the log.
    pub lag: Option<i64>,
}

/// The change log's head and each projection's position.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectionsOverview {
    /// The newest change committed.
    pub log_head: i64,
    /// The search index, the graph and (when on) the federation outbox.
    pub projections: Vec<ProjectionState>,
}

/// Where each projection of the change log is: applied position and lag behind the log's head.
#[utoipa::path(get, path = "/api/v1/admin/projections", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = ProjectionsOverview), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn projections(
    pool: web::Data<DbPool>,
    projections: web::Data<Projections>,
    Writer(caller): Writer,
) -> Result<web::Json<ProjectionsOverview>> {
    caller.require_node_admin("the projections' state")?;
    let mut conn = pool.get().await?;
    let log_head = crate::db::snapshot_position(&mut conn).await?;
    Ok(web::Json(ProjectionsOverview {
        log_head,
        projections: projections
            .applied()
            .map(|(name, applied)| ProjectionState {
                name,
                applied,
                lag: applied.map(|applied| (log_head - applied).max(0)),
            })
            .collect(),
    }))
}
