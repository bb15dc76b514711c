//! `GET /api/v1/convergences/{slug}/export` and `POST /api/v1/import`.

use std::time::Duration;

use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::db::DbPool;
use crate::domain::Slug;
use crate::error::{Error, ErrorBody, Result};
use crate::portability::read::{read_document, read_ndjson};
use crate::service::export::{ExportFormat, export};
use crate::service::import::{ImportOptions, ImportReport, import};

use super::consistency::ReadDb;
use super::json::{BodyLimit, BodyTimeout, read_body};
use super::state::NodeInfo;

/// Query of an export.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `jsonld` (one document, the default) or `ndjson` (one object per line).
    pub format: Option<ExportFormat>,
}

/// The whole convergence (its live artifacts and the relationships touching them) as JSON-LD,
/// streamed; the same access rules as reads.
#[utoipa::path(get, path = "/api/v1/convergences/{slug}/export", tag = "portability",
    params(("slug" = String, Path, description = "Convergence slug"), ExportQuery),
    responses((status = 200, description = "The export (application/ld+json or application/x-ndjson)"),
        (status = 404, body = ErrorBody)))]
pub async fn export_convergence(
    db: ReadDb,
    node: web::Data<NodeInfo>,
    caller: Caller,
    slug: web::Path<String>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse> {
    let format = query.format.unwrap_or(ExportFormat::Jsonld);
    let chunks = export(db.conn().await?, caller, &slug, format, &node.public_url).await?;
    let extension = match format {
        ExportFormat::Jsonld => "jsonld",
        ExportFormat::Ndjson => "ndjson",
    };
    Ok(HttpResponse::Ok()
        .content_type(format.media_type())
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{slug}.{extension}\""),
        ))
        .streaming(chunks))
}

/// Query of an import.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// Import into this convergence (created when missing) instead of the file's.
    #[serde(rename = "as")]
    pub into: Option<String>,
    /// Check and count everything, write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Imports an export file (JSON-LD as `application/ld+json` or `application/json`, NDJSON as
/// `application/x-ndjson`) in one transaction; node token only.
#[utoipa::path(post, path = "/api/v1/import", tag = "portability", params(ImportQuery),
    request_body(content = String, description = "An export file",
        content_type = "application/ld+json"),
    security(("bearer" = [])),
    responses((status = 200, body = ImportReport), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn import_file(
    request: HttpRequest,
    payload: web::Payload,
    pool: web::Data<DbPool>,
    caller: Caller,
    query: web::Query<ImportQuery>,
) -> Result<web::Json<ImportReport>> {
    // Checked again by the import itself; here so that nobody else can make the node read a
    // body of up to `http.max_import_bytes`.
    caller.require_node_admin("importing")?;
    let into = query
        .into
        .clone()
        .map(Slug::try_from)
        .transpose()
        .map_err(|error| Error::InvalidParameter(format!("as: {error}")))?;
    let read = match request.content_type() {
        "application/x-ndjson" => read_ndjson,
        "application/ld+json" | "application/json" => read_document,
        _ => return Err(Error::UnsupportedMediaType),
    };
    let limit = request
        .app_data::<BodyLimit>()
        .map_or(usize::MAX, |limit| limit.0);
    let idle = request
        .app_data::<BodyTimeout>()
        .map_or(Duration::from_secs(10), |timeout| timeout.0);
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    let body = read_body(payload.into_inner(), declared, limit, idle).await?;
    let file = read(&body)?;
    let mut conn = pool.get().await?;
    let options = ImportOptions {
        into,
        dry_run: query.dry_run,
    };
    Ok(web::Json(import(&mut conn, &caller, file, options).await?))
}
