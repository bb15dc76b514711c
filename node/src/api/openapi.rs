//! The OpenAPI 3 document, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{artifacts, batch, convergences, dimensions, health, relationships};

/// The node's API description, served at `/api/v1/openapi.json` and rendered at `/docs/`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "kgnode",
        description = "A federated knowledge-graph node: convergences, artifacts with weighted \
                       dimensions, and typed weighted relationships. Writes need \
                       `Authorization: Bearer <token>` (see `kgnode token create`).",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later")
    ),
    paths(
        health::healthz,
        health::readyz,
        convergences::create_convergence,
        convergences::list_convergences,
        convergences::get_convergence,
        convergences::update_convergence,
        dimensions::list_dimensions,
        artifacts::create_artifact,
        artifacts::list_artifacts,
        artifacts::get_artifact,
        artifacts::update_artifact,
        artifacts::delete_artifact,
        batch::apply_batch,
        relationships::create_relationship,
        relationships::get_relationship,
        relationships::delete_relationship,
        relationships::list_artifact_relationships,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "convergences", description = "Community spaces: the tenant boundary"),
        (name = "artifacts", description = "Knowledge artifacts and atomic batches"),
        (name = "relationships", description = "Typed, weighted edges between artifacts"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer-token security scheme the write endpoints use.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}
