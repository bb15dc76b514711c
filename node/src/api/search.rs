//! `GET /api/v1/search`: ranked full-text search over the artifacts the caller may read.

use std::collections::BTreeMap;
use std::time::Instant;

use actix_web::web;
use kg_search::{Access, FacetCount, SearchIndex, SearchRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Caller, Readable};
use crate::db::DbPool;
use crate::domain::{ArtifactKind, DimensionName};
use crate::error::{Error, ErrorBody, Result};
use crate::indexing::SearchReadiness;
use crate::service::convergences as convergence_service;

/// Largest page of hits.
const MAX_SEARCH_LIMIT: usize = 100;
/// Page size when none is given.
const DEFAULT_SEARCH_LIMIT: usize = 20;

/// Query of `GET /api/v1/search`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// The query: words (all must match), `"phrases"`, `-excluded`, `OR`, `AND`. Blank matches
    /// everything.
    #[serde(default)]
    pub q: String,
    /// Only this convergence (slug).
    pub convergence: Option<String>,
    /// Only these kinds, comma-separated (any of them).
    pub kind: Option<String>,
    /// Only artifacts tagged with all these dimensions, comma-separated; their weights raise
    /// the score.
    pub dimension: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// Hits to skip (offset + limit at most 10,000).
    pub offset: Option<usize>,
    /// Count facets (default true; exact, over all matches). `false` leaves `facets` empty
    /// and lets the search skip matches that cannot make the page: faster for common words.
    pub facets: Option<bool>,
}

/// One hit.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHitResponse {
    /// The artifact's id.
    pub id: Uuid,
    /// Its title.
    pub title: String,
    /// Its kind.
    pub kind: String,
    /// Its convergence's slug.
    pub convergence: String,
    /// Relevance (BM25, title weighted ×3); comparable within one result list.
    pub score: f32,
    /// HTML-escaped excerpt with matches in `<b>…</b>`.
    pub snippet: String,
}

/// Facet counts over all matching artifacts.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchFacets {
    /// Matching artifacts per kind.
    pub kind: BTreeMap<String, u64>,
    /// Matching artifacts per dimension.
    pub dimension: BTreeMap<String, u64>,
}

/// A page of search results.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    /// Best first; equal scores by id.
    pub hits: Vec<SearchHitResponse>,
    /// How many artifacts match: exact, except for a one-word query with `facets=false`,
    /// exact up to 10,000 matches per index segment and estimated (within a few percent) beyond.
    pub estimated_total: u64,
    /// Counts by kind and dimension over all matches (empty with `facets=false`).
    pub facets: SearchFacets,
    /// Time spent searching, in milliseconds.
    pub took_ms: f64,
}

fn counts(values: Vec<FacetCount>) -> BTreeMap<String, u64> {
    values.into_iter().map(|f| (f.value, f.count)).collect()
}

fn split(list: Option<&str>) -> impl Iterator<Item = String> + '_ {
    list.into_iter()
        .flat_map(|text| text.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
}

fn access(caller: &Caller) -> Access {
    match caller.readable() {
        Readable::All => Access::All,
        Readable::PublicAnd(ids) => Access::PublicAnd(ids),
    }
}

/// Searches the artifacts the caller may read.
#[utoipa::path(get, path = "/api/v1/search", tag = "search",
    params(SearchQuery),
    responses((status = 200, body = SearchResponse),
        (status = 400, description = "Malformed query or parameter", body = ErrorBody),
        (status = 404, description = "Unknown or unreadable convergence", body = ErrorBody),
        (status = 503, description = "The search index is being built", body = ErrorBody)))]
pub async fn search(
    pool: web::Data<DbPool>,
    index: web::Data<SearchIndex>,
    readiness: web::Data<SearchReadiness>,
    caller: Caller,
    query: web::Query<SearchQuery>,
) -> Result<web::Json<SearchResponse>> {
    if !readiness.is_built() {
        return Err(Error::IndexBuilding);
    }
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
    if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
        return Err(Error::InvalidParameter(format!(
            "limit {limit} is out of range: use 1 to {MAX_SEARCH_LIMIT}"
        )));
    }
    let kinds = split(query.kind.as_deref())
        .map(|kind| {
            kind.parse::<ArtifactKind>()
                .map(|k| k.as_str().to_owned())
                .map_err(|e| Error::InvalidParameter(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let dimensions = split(query.dimension.as_deref())
        .map(|name| {
            DimensionName::try_from(name)
                .map(String::from)
                .map_err(|e| Error::InvalidParameter(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let convergence = match &query.convergence {
        None => None,
        Some(slug) => {
            let mut conn = pool.get().await?;
            Some(
                convergence_service::find_readable(&mut conn, &caller, slug)
                    .await?
                    .id,
            )
        }
    };
    let request = SearchRequest {
        convergence,
        kinds,
        dimensions,
        limit,
        offset: query.offset.unwrap_or(0),
        facets: query.facets.unwrap_or(true),
        ..SearchRequest::new(query.q, access(&caller))
    };
    let started = Instant::now();
    let index = index.into_inner();
    let results = web::block(move || index.search(&request))
        .await
        .map_err(|_| Error::Http(actix_web::http::StatusCode::SERVICE_UNAVAILABLE))??;
    let took_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(web::Json(SearchResponse {
        hits: results
            .hits
            .into_iter()
            .map(|hit| SearchHitResponse {
                id: hit.id,
                title: hit.title,
                kind: hit.kind,
                convergence: hit.convergence_slug,
                score: hit.score,
                snippet: hit.snippet,
            })
            .collect(),
        estimated_total: results.estimated_total,
        facets: SearchFacets {
            kind: counts(results.facets.kind),
            dimension: counts(results.facets.dimension),
        },
        took_ms,
    }))
}
