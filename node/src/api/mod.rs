//! The HTTP API: routes, extractors, wire types and the OpenAPI document.

mod accounts;
mod admin;
mod artifacts;
mod audit;
mod batch;
mod consistency;
mod contributions;
mod convergences;
mod cors;
mod dimensions;
mod fallback;
mod graph;
mod health;
mod jobs;
mod json;
mod members;
mod openapi;
mod pagination;
mod portability;
mod query_string;
mod relationships;
mod search;
mod state;

use actix_web::web;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::HttpSettings;
use crate::error::Error;
use cors::cors;

pub use accounts::Accounts;
pub use artifacts::ArtifactResponse;
pub use contributions::ContributionResponse;
pub use convergences::ConvergenceResponse;
pub use cors::{InvalidOrigin, check_origins};
use fallback::method_not_allowed;
pub use fallback::{json_error_fallback, route_not_found};
pub use json::{BodyLimit, BodyTimeout};
pub use openapi::ApiDoc;
pub use pagination::{MAX_LIMIT, Page};
pub use relationships::RelationshipResponse;
pub use state::{NodeInfo, SlugCache};

/// A resource whose unmatched methods answer 405 with `Allow: allowed`.
fn resource(path: &str, allowed: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(method_not_allowed(allowed))
}

/// Routes that another module serves under `/api/v1` (the event streams), with their part of
/// the OpenAPI document.
pub struct ApiExtension {
    /// Registers the routes, relative to `/api/v1`.
    pub routes: fn(&mut web::ServiceConfig),
    /// Their OpenAPI paths.
    pub openapi: utoipa::openapi::OpenApi,
}

/// Registers every route of the node, with its extractor settings and body limits.
pub fn configure(cfg: &mut web::ServiceConfig, http: &HttpSettings, extension: ApiExtension) {
    let mut openapi = ApiDoc::openapi();
    openapi.merge(extension.openapi);
    cfg.app_data(web::QueryConfig::default().error_handler(|error, _| {
        Error::InvalidParameter(format!("invalid query string: {error}")).into()
    }))
    .app_data(web::PathConfig::default().error_handler(|error, _| {
        Error::InvalidParameter(format!("invalid path segment: {error}")).into()
    }))
    .app_data(BodyLimit(http.max_body_bytes))
    .app_data(BodyTimeout(std::time::Duration::from_secs(
        http.body_timeout_secs.max(1),
    )))
    .service(resource("/healthz", "GET").get(health::healthz))
    .service(resource("/readyz", "GET").get(health::readyz))
    .service(web::redirect("/docs", "/docs/"))
    .service(SwaggerUi::new("/docs/{_:.*}").url("/api/v1/openapi.json", openapi))
    .service(
        web::scope("/api/v1")
            .wrap(actix_web::middleware::from_fn(consistency::stamp_writes))
            .wrap(actix_web::middleware::from_fn(
                query_string::require_utf8_query,
            ))
            .wrap(actix_web::middleware::from_fn(crate::limits::limit_rate))
            .wrap(actix_web::middleware::from_fn(crate::auth::authenticate))
            .wrap(cors(&http.cors_origins))
            .configure(extension.routes)
            .service(resource("/accounts", "POST").post(accounts::register))
            .service(resource("/sessions", "POST").post(accounts::login))
            .service(resource("/sessions/current", "DELETE").delete(accounts::logout))
            .service(resource("/me", "GET").get(accounts::me))
            .service(
                resource("/convergences/{slug}/invites", "GET, POST")
                    .get(members::list_invites)
                    .post(members::create_invite),
            )
            .service(
                resource("/convergences/{slug}/invites/{id}", "DELETE")
                    .delete(members::revoke_invite),
            )
            .service(resource("/convergences/{slug}/members", "GET").get(members::list_members))
            .service(
                resource("/convergences/{slug}/members/{username}", "PUT, DELETE")
                    .put(members::set_role)
                    .delete(members::remove_member),
            )
            .service(resource("/admin/audit", "GET").get(audit::list_audit))
            .service(
                resource("/convergences", "GET, POST")
                    .post(convergences::create_convergence)
                    .get(convergences::list_convergences),
            )
            .service(
                resource("/convergences/{slug}", "GET, PATCH")
                    .get(convergences::get_convergence)
                    .patch(convergences::update_convergence),
            )
            .service(
                resource("/convergences/{slug}/artifacts", "GET, POST")
                    .post(artifacts::create_artifact)
                    .get(artifacts::list_artifacts),
            )
            .service(
                resource("/convergences/{slug}/export", "GET").get(portability::export_convergence),
            )
            .service(
                resource("/import", "POST")
                    .app_data(BodyLimit(http.max_import_bytes))
                    .post(portability::import_file),
            )
            .service(
                resource("/convergences/{slug}/batch", "POST")
                    .app_data(BodyLimit(http.max_batch_body_bytes))
                    .post(batch::apply_batch),
            )
            .service(
                resource("/convergences/{slug}/dimensions", "GET").get(dimensions::list_dimensions),
            )
            .service(
                resource("/convergences/{slug}/contributions", "GET, POST")
                    .post(contributions::create_contribution)
                    .get(contributions::list_contributions),
            )
            .service(resource("/contributions/{id}", "GET").get(contributions::get_contribution))
            .service(
                resource("/contributions/{id}/retry", "POST")
                    .post(contributions::retry_contribution),
            )
            .service(
                resource("/artifacts/{id}", "GET, PATCH, DELETE")
                    .get(artifacts::get_artifact)
                    .patch(artifacts::update_artifact)
                    .delete(artifacts::delete_artifact),
            )
            .service(
                resource("/artifacts/{id}/relationships", "GET")
                    .get(relationships::list_artifact_relationships),
            )
            .service(resource("/search", "GET").get(search::search))
            .service(resource("/admin/projections", "GET").get(admin::projections))
            .service(resource("/admin/jobs", "GET").get(jobs::list_jobs))
            .service(resource("/admin/jobs/{id}", "DELETE").delete(jobs::discard_job))
            .service(resource("/admin/jobs/{id}/retry", "POST").post(jobs::retry_job))
            .service(resource("/admin/federation", "GET").get(admin::overview))
            .service(resource("/admin/federation/parked", "GET").get(admin::list_parked))
            .service(
                resource("/admin/federation/parked/{id}", "DELETE").delete(admin::discard_parked),
            )
            .service(
                resource("/admin/federation/parked/{id}/retry", "POST").post(admin::retry_parked),
            )
            .service(
                resource("/admin/follows", "GET, POST")
                    .get(admin::list_follows)
                    .post(admin::follow),
            )
            .service(resource("/admin/follows/{convergence}", "DELETE").delete(admin::unfollow))
            .service(
                resource("/admin/blocks", "GET, POST")
                    .get(admin::list_blocks)
                    .post(admin::block),
            )
            .service(resource("/admin/blocks/{host}", "DELETE").delete(admin::unblock))
            .service(resource("/graph/neighborhood/{id}", "GET").get(graph::neighborhood))
            .service(resource("/graph/path", "GET").get(graph::shortest_path))
            .service(resource("/graph/centrality", "GET").get(graph::centrality))
            .service(resource("/graph/components", "GET").get(graph::components))
            .service(resource("/graph/subgraph", "GET").get(graph::subgraph))
            .service(resource("/graph/export", "GET").get(graph::export))
            .service(resource("/relationships", "POST").post(relationships::create_relationship))
            .service(
                resource("/relationships/{id}", "GET, DELETE")
                    .get(relationships::get_relationship)
                    .delete(relationships::delete_relationship),
            ),
    );
}
