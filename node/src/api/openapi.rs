//! The OpenAPI 3 document, generated from the handlers' annotations.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::domain::Direction;

use super::{
    accounts, admin, artifacts, audit, batch, contributions, convergences, dimensions, graph,
    health, jobs, members, portability, relationships, search,
};

/// The node's API description, served at `/api/v1/openapi.json` and rendered at `/docs/`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "kgnode",
        description = "A federated knowledge-graph node: convergences, artifacts with weighted \
                       dimensions, and typed weighted relationships. Writes need \
                       `Authorization: Bearer <token>`: a session token from `POST /api/v1/sessions`, \
                       or a service token (`kgnode token create`).",
        license(name = "AGPL-3.0-or-later", identifier = "AGPL-3.0-or-later")
    ),
    paths(
        health::healthz,
        health::readyz,
        accounts::register,
        accounts::login,
        accounts::logout,
        accounts::me,
        members::create_invite,
        members::list_invites,
        members::revoke_invite,
        members::list_members,
        members::set_role,
        members::remove_member,
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
        contributions::create_contribution,
        contributions::list_contributions,
        contributions::get_contribution,
        contributions::retry_contribution,
        portability::export_convergence,
        portability::import_file,
        jobs::list_jobs,
        jobs::retry_job,
        jobs::discard_job,
        relationships::create_relationship,
        relationships::get_relationship,
        relationships::delete_relationship,
        relationships::list_artifact_relationships,
        search::search,
        graph::neighborhood,
        graph::shortest_path,
        graph::centrality,
        graph::components,
        graph::subgraph,
        graph::export,
        admin::overview,
        admin::projections,
        admin::follow,
        admin::list_follows,
        admin::unfollow,
        admin::block,
        admin::list_blocks,
        admin::unblock,
        admin::list_parked,
        admin::retry_parked,
        admin::discard_parked,
        audit::list_audit,
    ),
    components(schemas(Direction)),
    modifiers(&BearerAuth, &CommonResponses),
    tags(
        (name = "accounts", description = "Registration, sessions, who is asking"),
        (name = "members", description = "A convergence's members, roles and invites"),
        (name = "convergences", description = "Community spaces: the tenant boundary"),
        (name = "artifacts", description = "Knowledge artifacts and atomic batches"),
        (name = "relationships", description = "Typed, weighted edges between artifacts"),
        (name = "search", description = "Ranked full-text search"),
        (name = "portability", description = "A convergence as JSON-LD: export and import"),
        (name = "graph", description = "Traversals and analytics on the in-memory graph"),
        (name = "health", description = "Liveness and readiness"),
        (name = "admin", description = "Node administration: federation, jobs, projections, audit log"),
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

/// Adds the error responses every operation can give, so each handler documents only its own:
/// 400 (malformed parameters or JSON) and 503 (database unavailable) everywhere; 413 and 415 where
/// there is a request body.
struct CommonResponses;

impl CommonResponses {
    fn add(operation: &mut Operation) {
        let mut common = vec![
            ("400", "Malformed JSON, parameter or path segment"),
            ("503", "The database is unavailable"),
        ];
        if operation.request_body.is_some() {
            common.push(("413", "The body is larger than allowed"));
            common.push(("415", "The body is not JSON"));
        }
        for (status, description) in common {
            operation
                .responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| {
                    RefOr::T(
                        ResponseBuilder::new()
                            .description(description)
                            .content(
                                "application/json",
                                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                            )
                            .build(),
                    )
                });
        }
    }
}

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                Self::add(operation);
            }
        }
    }
}
