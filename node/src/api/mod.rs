//! The HTTP API: routes, extractors, wire types and the OpenAPI document.

mod artifacts;
mod batch;
mod convergences;
mod dimensions;
mod fallback;
mod health;
mod json;
mod openapi;
mod pagination;
mod relationships;
mod state;

use actix_web::web;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::HttpSettings;
use crate::error::Error;

pub use fallback::{json_error_fallback, route_not_found};
pub use json::BodyLimit;
pub use openapi::ApiDoc;
pub use pagination::{MAX_LIMIT, Page};
pub use state::NodeInfo;

/// Registers every route of the node, with its extractor settings and body limits.
pub fn configure(cfg: &mut web::ServiceConfig, http: &HttpSettings) {
    cfg.app_data(web::QueryConfig::default().error_handler(|error, _| {
        Error::InvalidParameter(format!("invalid query string: {error}")).into()
    }))
    .app_data(web::PathConfig::default().error_handler(|error, _| {
        Error::InvalidParameter(format!("invalid path segment: {error}")).into()
    }))
    .app_data(BodyLimit(http.max_body_bytes))
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .service(SwaggerUi::new("/docs/{_:.*}").url("/api/v1/openapi.json", ApiDoc::openapi()))
    .service(
        web::scope("/api/v1")
            .service(
                web::resource("/convergences")
                    .post(convergences::create_convergence)
                    .get(convergences::list_convergences),
            )
            .service(
                web::resource("/convergences/{slug}")
                    .get(convergences::get_convergence)
                    .patch(convergences::update_convergence),
            )
            .service(
                web::resource("/convergences/{slug}/artifacts")
                    .post(artifacts::create_artifact)
                    .get(artifacts::list_artifacts),
            )
            .service(
                web::resource("/convergences/{slug}/batch")
                    .app_data(BodyLimit(http.max_batch_body_bytes))
                    .post(batch::apply_batch),
            )
            .service(
                web::resource("/convergences/{slug}/dimensions").get(dimensions::list_dimensions),
            )
            .service(
                web::resource("/artifacts/{id}")
                    .get(artifacts::get_artifact)
                    .patch(artifacts::update_artifact)
                    .delete(artifacts::delete_artifact),
            )
            .service(
                web::resource("/artifacts/{id}/relationships")
                    .get(relationships::list_artifact_relationships),
            )
            .service(web::resource("/relationships").post(relationships::create_relationship))
            .service(
                web::resource("/relationships/{id}")
                    .get(relationships::get_relationship)
                    .delete(relationships::delete_relationship),
            ),
    );
}
