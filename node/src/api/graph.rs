//! `/api/v1/graph/*`: traversals and analytics on the in-memory graph.
//!
//! Every endpoint sees only the artifacts the caller may read (private convergences need a token
//! for them), and relationships only when both their ends are visible.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use kg_graph::{
    Access, DegreeOrder, Direction, EdgeView, ExportFormat, GraphStore, NeighborhoodQuery,
    NodeView, PageRankParams, PathQuery, RelationshipKind, RelationshipKindSet,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::json::json_response;
use super::state::SlugCache;
use crate::auth::{Caller, Readable};
use crate::db::DbPool;
use crate::error::{Error, ErrorBody, Result};
use crate::service::convergences as convergence_service;

/// Largest neighbourhood, in artifacts.
const MAX_NEIGHBORHOOD: usize = 10_000;
/// Largest `top` of the centrality endpoint.
const MAX_TOP: usize = 1_000;
/// Largest page of components.
const MAX_COMPONENTS_PAGE: usize = 1_000;

/// The caller's view of the graph. Holds the readable convergences so that [`Access`] can
/// borrow them.
struct Viewer {
    readable: Readable,
}

impl Viewer {
    fn new(caller: &Caller) -> Self {
        Self {
            readable: caller.readable(),
        }
    }

    fn access(&self) -> Access<'_> {
        match &self.readable {
            Readable::All => Access::All,
            Readable::PublicAnd(ids) => Access::PublicAnd(ids),
        }
    }
}

fn graph_error(error: kg_graph::Error) -> Error {
    match error {
        kg_graph::Error::ArtifactNotFound(id) => Error::not_found("artifact", id),
        other => Error::InvalidParameter(other.to_string()),
    }
}

fn parse_list<T: std::str::FromStr>(list: Option<&str>, what: &str) -> Result<Vec<T>> {
    list.into_iter()
        .flat_map(|text| text.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse()
                .map_err(|_| Error::InvalidParameter(format!("unknown {what} '{item}'")))
        })
        .collect()
}

fn parse_one<T: std::str::FromStr>(value: Option<&str>, what: &str, default: T) -> Result<T> {
    match value {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| Error::InvalidParameter(format!("unknown {what} '{text}'"))),
    }
}

/// The convergence named by `slug`, if any and readable.
async fn convergence_id(
    pool: &DbPool,
    caller: &Caller,
    slug: Option<&str>,
) -> Result<Option<Uuid>> {
    let Some(slug) = slug else { return Ok(None) };
    let mut conn = pool.get().await?;
    Ok(Some(
        convergence_service::find_readable(&mut conn, caller, slug)
            .await?
            .id,
    ))
}

/// An artifact in a graph result (borrowing its texts from the answer it describes).
#[derive(Debug, Serialize, ToSchema)]
pub struct GraphNode<'a> {
    /// Its id.
    pub id: Uuid,
    /// Its title.
    pub title: &'a str,
    /// Its kind.
    pub kind: &'static str,
    /// Its convergence's slug.
    pub convergence: &'a str,
    /// Steps from the centre (neighbourhoods only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<u8>,
}

/// A relationship in a graph result.
#[derive(Debug, Serialize, ToSchema)]
pub struct GraphEdge {
    /// Its id.
    pub id: Uuid,
    /// The artifact it starts at.
    pub source: Uuid,
    /// The artifact it points to.
    pub target: Uuid,
    /// Its kind.
    pub kind: &'static str,
    /// Its weight.
    pub weight: f64,
}

impl From<&EdgeView> for GraphEdge {
    fn from(edge: &EdgeView) -> Self {
        Self {
            id: edge.id,
            source: edge.source,
            target: edge.target,
            kind: edge.kind.as_str(),
            weight: edge.weight,
        }
    }
}

fn node<'a>(
    view: &'a NodeView,
    depth: Option<u8>,
    slugs: &'a HashMap<Uuid, String>,
) -> GraphNode<'a> {
    GraphNode {
        convergence: slugs.get(&view.convergence).map_or("", String::as_str),
        id: view.id,
        title: &view.title,
        kind: view.kind.as_str(),
        depth,
    }
}

/// Bytes of JSON a graph answer of `nodes` artifacts and `edges` relationships takes, about:
/// the response buffer is allocated once.
fn json_size_hint(nodes: usize, edges: usize) -> usize {
    256 * nodes + 192 * edges + 64
}

/// Query of the neighbourhood endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NeighborhoodParams {
    /// Steps from the centre, 1 to 4 (default 1).
    #[param(minimum = 1, maximum = 4)]
    pub depth: Option<u8>,
    /// `out`, `in` or `both` (default).
    pub direction: Option<String>,
    /// Relationship kinds to follow, comma-separated (default all).
    pub kinds: Option<String>,
    /// Most artifacts returned, centre included (default 100, at most 10,000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
}

/// A neighbourhood: the reached artifacts and the relationships among them.
#[derive(Debug, Serialize, ToSchema)]
pub struct NeighborhoodResponse<'a> {
    /// Reached artifacts by depth, then id; the centre first.
    pub nodes: Vec<GraphNode<'a>>,
    /// Relationships among them, by id.
    pub edges: Vec<GraphEdge>,
    /// Whether `limit` cut the result short.
    pub truncated: bool,
}

/// The subgraph around an artifact.
#[utoipa::path(get, path = "/api/v1/graph/neighborhood/{id}", tag = "graph",
    params(("id" = Uuid, Path, description = "Centre artifact"), NeighborhoodParams),
    responses((status = 200, body = NeighborhoodResponse), (status = 404, body = ErrorBody)))]
pub async fn neighborhood(
    pool: web::Data<DbPool>,
    cache: web::Data<SlugCache>,
    graph: web::Data<GraphStore>,
    caller: Caller,
    id: web::Path<Uuid>,
    params: web::Query<NeighborhoodParams>,
) -> Result<HttpResponse> {
    let limit = params.limit.unwrap_or(100);
    if !(1..=MAX_NEIGHBORHOOD).contains(&limit) {
        return Err(Error::InvalidParameter(format!(
            "limit {limit} is out of range: use 1 to {MAX_NEIGHBORHOOD}"
        )));
    }
    let mut kinds = RelationshipKindSet::empty();
    for kind in parse_list::<RelationshipKind>(params.kinds.as_deref(), "relationship kind")? {
        kinds.insert(kind);
    }
    let query = NeighborhoodQuery {
        center: *id,
        depth: params.depth.unwrap_or(1),
        direction: parse_one(params.direction.as_deref(), "direction", Direction::Both)?,
        kinds: if kinds.is_empty() {
            RelationshipKindSet::all()
        } else {
            kinds
        },
        limit,
    };
    let viewer = Viewer::new(&caller);
    let found = graph
        .neighborhood(&viewer.access(), &query)
        .map_err(graph_error)?;
    let slugs = cache
        .slugs(&pool, found.nodes.iter().map(|n| n.node.convergence))
        .await?;
    let response = NeighborhoodResponse {
        nodes: found
            .nodes
            .iter()
            .map(|reached| node(&reached.node, Some(reached.depth), &slugs))
            .collect(),
        edges: found.edges.iter().map(GraphEdge::from).collect(),
        truncated: found.truncated,
    };
    json_response(
        &response,
        json_size_hint(found.nodes.len(), found.edges.len()),
    )
}

/// Largest number of ids of the subgraph endpoint.
const MAX_SUBGRAPH: usize = 1_000;

/// Query of the subgraph endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SubgraphParams {
    /// Comma-separated artifact ids, 1 to 1,000 (e.g. a centrality ranking's).
    pub ids: String,
}

/// Artifacts and the relationships among them.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubgraphResponse<'a> {
    /// The readable artifacts of `ids`, in their order (unknown and unreadable ones left out).
    pub nodes: Vec<GraphNode<'a>>,
    /// The relationships whose two ends are among them.
    pub edges: Vec<GraphEdge>,
}

/// The artifacts given and the relationships among them: with the centrality ranking, a
/// convergence's overview ("its top artifacts and the edges among them").
#[utoipa::path(get, path = "/api/v1/graph/subgraph", tag = "graph",
    params(SubgraphParams),
    responses((status = 200, body = SubgraphResponse), (status = 400, body = ErrorBody)))]
pub async fn subgraph(
    pool: web::Data<DbPool>,
    cache: web::Data<SlugCache>,
    graph: web::Data<GraphStore>,
    caller: Caller,
    params: web::Query<SubgraphParams>,
) -> Result<HttpResponse> {
    let ids = parse_list::<Uuid>(Some(&params.ids), "artifact id")?;
    if !(1..=MAX_SUBGRAPH).contains(&ids.len()) {
        return Err(Error::InvalidParameter(format!(
            "{} ids: give 1 to {MAX_SUBGRAPH}",
            ids.len()
        )));
    }
    let viewer = Viewer::new(&caller);
    let (nodes, edges) = graph.subgraph(&viewer.access(), &ids);
    let slugs = cache
        .slugs(&pool, nodes.iter().map(|n| n.convergence))
        .await?;
    let response = SubgraphResponse {
        nodes: nodes.iter().map(|view| node(view, None, &slugs)).collect(),
        edges: edges.iter().map(GraphEdge::from).collect(),
    };
    json_response(&response, json_size_hint(nodes.len(), edges.len()))
}

/// Query of the path endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PathParams {
    /// Where the path starts.
    pub from: Uuid,
    /// Where it ends.
    pub to: Uuid,
    /// `out` (default), `in` or `both`.
    pub direction: Option<String>,
    /// `false` (default): fewest hops; `true`: least total cost, an edge costing `1 / weight`.
    pub weighted: Option<bool>,
}

/// A shortest path.
#[derive(Debug, Serialize, ToSchema)]
pub struct PathResponse<'a> {
    /// Relationships crossed.
    pub hops: usize,
    /// Sum of `1 / weight` over the relationships crossed.
    pub cost: f64,
    /// The artifacts along the path, `from` first.
    pub nodes: Vec<GraphNode<'a>>,
    /// The relationships crossed, in order.
    pub edges: Vec<GraphEdge>,
}

/// A shortest path between two artifacts, or 404 when there is none.
#[utoipa::path(get, path = "/api/v1/graph/path", tag = "graph",
    params(PathParams),
    responses((status = 200, body = PathResponse),
        (status = 404, description = "Unknown artifact, or no path", body = ErrorBody)))]
pub async fn shortest_path(
    pool: web::Data<DbPool>,
    cache: web::Data<SlugCache>,
    graph: web::Data<GraphStore>,
    caller: Caller,
    params: web::Query<PathParams>,
) -> Result<HttpResponse> {
    let query = PathQuery {
        from: params.from,
        to: params.to,
        direction: parse_one(params.direction.as_deref(), "direction", Direction::Out)?,
        weighted: params.weighted.unwrap_or(false),
    };
    let viewer = Viewer::new(&caller);
    let path = graph
        .shortest_path(&viewer.access(), &query)
        .map_err(graph_error)?
        .ok_or_else(|| Error::not_found("path", format!("from {} to {}", query.from, query.to)))?;
    let slugs = cache
        .slugs(&pool, path.nodes.iter().map(|n| n.convergence))
        .await?;
    let response = PathResponse {
        hops: path.hops,
        cost: path.cost,
        nodes: path.nodes.iter().map(|n| node(n, None, &slugs)).collect(),
        edges: path.edges.iter().map(GraphEdge::from).collect(),
    };
    json_response(
        &response,
        json_size_hint(path.nodes.len(), path.edges.len()),
    )
}

/// Query of the centrality endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CentralityParams {
    /// Only this convergence's artifacts (slug); the whole visible graph when omitted.
    pub convergence: Option<String>,
    /// `pagerank` (default) or `degree`.
    pub algorithm: Option<String>,
    /// How many artifacts to return, 1 to 1,000 (default 20).
    #[param(minimum = 1, maximum = 1000)]
    pub top: Option<usize>,
    /// PageRank: use relationship weights as transition weights (default false).
    pub weighted: Option<bool>,
    /// Degree: rank by `in`, `out` or `total` (default).
    pub order: Option<String>,
}

/// One ranked artifact.
#[derive(Debug, Serialize, ToSchema)]
pub struct CentralityEntry {
    /// The artifact.
    pub id: Uuid,
    /// PageRank score (pagerank only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Incoming relationships (degree only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_degree: Option<u32>,
    /// Outgoing relationships (degree only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_degree: Option<u32>,
    /// Both (degree only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_degree: Option<u32>,
}

/// Centrality results.
#[derive(Debug, Serialize, ToSchema)]
pub struct CentralityResponse {
    /// `pagerank` or `degree`.
    pub algorithm: String,
    /// Artifacts in the subgraph.
    pub artifacts: usize,
    /// PageRank parameters used (pagerank only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damping: Option<f64>,
    /// Convergence tolerance (pagerank only): iteration stops after the first iteration whose
    /// L1 change `Σ |x' - x|` is below `artifacts × tolerance`, networkx's rule, i.e. once the
    /// mean absolute change per artifact is below it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    /// Iterations run (pagerank only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterations: Option<usize>,
    /// The top artifacts, best first.
    pub top: Vec<CentralityEntry>,
}

/// PageRank (damping 0.85, tolerance 1e-6, networkx's convergence test and dangling-node
/// handling) or degree centrality over the visible (sub)graph.
///
/// Stopping rule: power iteration from the uniform vector, stopping after the first iteration
/// whose L1 change `Σ |x' - x|` is below `n × 1e-6` (`n` artifacts in the subgraph), exactly
/// networkx's `pagerank` test, so the scores agree with networkx's to its own tolerance. The
/// threshold grows with `n`: at a million artifacts it is an L1 change of 1, which the first
/// iteration usually meets (`iterations` reports how many ran), so on large graphs the scores
/// are a coarse approximation of the fixed point; a strict total change below 1e-6 takes about
/// 25 iterations (about 0.7 s at a million artifacts and five million relationships, see the
/// README's benchmark).
#[utoipa::path(get, path = "/api/v1/graph/centrality", tag = "graph",
    params(CentralityParams),
    responses((status = 200, body = CentralityResponse), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn centrality(
    pool: web::Data<DbPool>,
    graph: web::Data<GraphStore>,
    caller: Caller,
    params: web::Query<CentralityParams>,
) -> Result<web::Json<CentralityResponse>> {
    let params = params.into_inner();
    let top = params.top.unwrap_or(20);
    if !(1..=MAX_TOP).contains(&top) {
        return Err(Error::InvalidParameter(format!(
            "top {top} is out of range: use 1 to {MAX_TOP}"
        )));
    }
    let algorithm = params.algorithm.unwrap_or_else(|| "pagerank".to_owned());
    let order = parse_one(params.order.as_deref(), "degree order", DegreeOrder::Total)?;
    if algorithm != "pagerank" && algorithm != "degree" {
        return Err(Error::InvalidParameter(format!(
            "unknown algorithm '{algorithm}': use pagerank or degree"
        )));
    }
    let convergence = convergence_id(&pool, &caller, params.convergence.as_deref()).await?;
    let weighted = params.weighted.unwrap_or(false);
    let response = web::block(move || {
        let viewer = Viewer::new(&caller);
        let snapshot = graph.snapshot(&viewer.access(), convergence);
        if algorithm == "degree" {
            let degrees = snapshot.degree_centrality();
            return Ok::<_, Error>(CentralityResponse {
                algorithm,
                artifacts: degrees.len(),
                damping: None,
                tolerance: None,
                iterations: None,
                top: degrees
                    .top(top, order)
                    .into_iter()
                    .map(|d| CentralityEntry {
                        id: d.id,
                        score: None,
                        in_degree: Some(d.in_degree),
                        out_degree: Some(d.out_degree),
                        total_degree: Some(d.in_degree + d.out_degree),
                    })
                    .collect(),
            });
        }
        let parameters = PageRankParams {
            weighted,
            ..PageRankParams::default()
        };
        let ranks = snapshot.pagerank(&parameters).map_err(graph_error)?;
        Ok(CentralityResponse {
            algorithm,
            artifacts: ranks.len(),
            damping: Some(parameters.damping),
            tolerance: Some(parameters.tolerance),
            iterations: Some(ranks.iterations()),
            top: ranks
                .top(top)
                .into_iter()
                .map(|r| CentralityEntry {
                    id: r.id,
                    score: Some(r.score),
                    in_degree: None,
                    out_degree: None,
                    total_degree: None,
                })
                .collect(),
        })
    })
    .await
    .map_err(|_| Error::Http(actix_web::http::StatusCode::SERVICE_UNAVAILABLE))??;
    Ok(web::Json(response))
}

/// Query of the components endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ComponentsParams {
    /// Only this convergence's artifacts (slug).
    pub convergence: Option<String>,
    /// Components to skip (they are ordered by size, largest first).
    pub offset: Option<usize>,
    /// Components per page, 1 to 1,000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// Weakly connected components.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentsResponse {
    /// How many components there are.
    pub count: usize,
    /// Every component's size, largest first.
    pub sizes: Vec<usize>,
    /// The members of components `offset .. offset + limit`, each sorted by id.
    pub components: Vec<Vec<Uuid>>,
    /// Offset of the next page, null on the last.
    pub next_offset: Option<usize>,
}

/// Weakly connected components of the visible (sub)graph, largest first.
#[utoipa::path(get, path = "/api/v1/graph/components", tag = "graph",
    params(ComponentsParams),
    responses((status = 200, body = ComponentsResponse), (status = 404, body = ErrorBody)))]
pub async fn components(
    pool: web::Data<DbPool>,
    graph: web::Data<GraphStore>,
    caller: Caller,
    params: web::Query<ComponentsParams>,
) -> Result<web::Json<ComponentsResponse>> {
    let limit = params.limit.unwrap_or(50);
    if !(1..=MAX_COMPONENTS_PAGE).contains(&limit) {
        return Err(Error::InvalidParameter(format!(
            "limit {limit} is out of range: use 1 to {MAX_COMPONENTS_PAGE}"
        )));
    }
    let offset = params.offset.unwrap_or(0);
    let convergence = convergence_id(&pool, &caller, params.convergence.as_deref()).await?;
    let response = web::block(move || {
        let viewer = Viewer::new(&caller);
        let found = graph.weakly_connected_components(&viewer.access(), convergence);
        let end = offset.saturating_add(limit);
        ComponentsResponse {
            count: found.count(),
            sizes: found.sizes().collect(),
            components: found.page(offset, limit).map(<[Uuid]>::to_vec).collect(),
            next_offset: (end < found.count()).then_some(end),
        }
    })
    .await
    .map_err(|_| Error::Http(actix_web::http::StatusCode::SERVICE_UNAVAILABLE))?;
    Ok(web::Json(response))
}

/// Query of the export endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// Only this convergence's artifacts (slug).
    pub convergence: Option<String>,
    /// `graphml` (default), `json` (networkx node-link), `csv` (edge list) or `csv_nodes`.
    pub format: Option<String>,
}

/// The visible (sub)graph for other tools: GraphML (networkx, igraph, Gephi), node-link JSON, or
/// CSV.
#[utoipa::path(get, path = "/api/v1/graph/export", tag = "graph",
    params(ExportParams),
    responses((status = 200, description = "The graph in the requested format", body = String),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn export(
    pool: web::Data<DbPool>,
    graph: web::Data<GraphStore>,
    cache: web::Data<SlugCache>,
    caller: Caller,
    params: web::Query<ExportParams>,
) -> Result<HttpResponse> {
    let format = parse_one(
        params.format.as_deref(),
        "export format",
        ExportFormat::GraphMl,
    )?;
    let convergence = convergence_id(&pool, &caller, params.convergence.as_deref()).await?;
    let unavailable = |_| Error::Http(actix_web::http::StatusCode::SERVICE_UNAVAILABLE);
    let mut export = web::block(move || {
        let viewer = Viewer::new(&caller);
        graph.export(&viewer.access(), convergence)
    })
    .await
    .map_err(unavailable)?;
    // Convergences are named by slug, as everywhere in the API.
    export.name_convergences(cache.slugs(&pool, export.convergences()).await?);
    let body = web::block(move || {
        let mut out = Vec::new();
        export.write(format, &mut out).map(|()| out)
    })
    .await
    .map_err(unavailable)?
    .map_err(|_| Error::Http(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR))?;
    Ok(HttpResponse::Ok()
        .content_type(format.media_type())
        .body(body))
}
