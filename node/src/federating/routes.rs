//! The federation endpoints peers and other fediverse software talk to: WebFinger, NodeInfo,
//! our JSON-LD context, actor and object documents, inboxes and collections.
//!
//! Documents answer unsigned GETs (everything served is public) and ignore signatures on GETs,
//! so signed fetches without a `Digest` header (as Mastodon sends them) work as well.

use activitypub_federation::actix_web::inbox::receive_activity;
use activitypub_federation::actix_web::response::create_http_response;
use activitypub_federation::config::{Data, FederationConfig};
use activitypub_federation::fetch::webfinger::{
    build_webfinger_response_with_type, extract_webfinger_name,
};
use activitypub_federation::protocol::context::WithContext;
use activitypub_federation::traits::Object;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::DefaultHeaders;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use diesel::dsl::{count_star, exists, sql};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use kg_federation::context::{CONTEXT_PATH, context_document, object_context};
use kg_federation::nodeinfo::{Discovery, MEDIA_TYPE_2_1, NodeInfo, Usage, Users};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::db::schema::{
    artifact_relationships, artifacts, change_log, convergences, federation_activities,
    federation_followers,
};
use crate::db::{DbConvergence, DbRelationship};
use crate::domain::Visibility;

use super::FederationContext;
use super::actors::{
    ActorRecord, federated_convergence, find_local_actor, node_actor, node_actor_name, person_actor,
};
use super::error::FederationError;
use super::inbox::InboxActivity;
use super::objects::{StoredArtifact, relationship_object};
use crate::urls::LocalUrls;

type Config = web::Data<FederationConfig<FederationContext>>;
type Answer = Result<HttpResponse, FederationError>;

/// Registers the federation endpoints; inbox bodies are limited to `max_inbox_bytes`.
pub fn configure(cfg: &mut web::ServiceConfig, max_inbox_bytes: usize) {
    let inbox = |path: &str| {
        web::resource(path)
            .app_data(web::PayloadConfig::new(max_inbox_bytes))
            .route(web::post().to(post_inbox))
    };
    cfg.service(inbox("/inbox"))
        .service(inbox("/c/{slug}/inbox"))
        .service(
            web::resource("/.well-known/webfinger")
                // RFC 7033 §5: browsers' scripts may look names up too, errors included.
                .wrap(DefaultHeaders::new().add(("Access-Control-Allow-Origin", "*")))
                .route(web::get().to(webfinger)),
        )
        .route("/.well-known/nodeinfo", web::get().to(nodeinfo_discovery))
        .route("/nodeinfo/2.1", web::get().to(nodeinfo))
        .route(CONTEXT_PATH, web::get().to(context))
        .route("/actor", web::get().to(get_actor))
        .route("/actor/outbox", web::get().to(node_outbox))
        .route("/c/{slug}", web::get().to(get_actor))
        .route("/c/{slug}/outbox", web::get().to(outbox))
        .route("/c/{slug}/followers", web::get().to(followers))
        .route("/people/{name}", web::get().to(get_actor))
        .route("/people/{name}/outbox", web::get().to(person_outbox))
        .route("/artifacts/{id}", web::get().to(get_artifact))
        .route("/relationships/{id}", web::get().to(get_relationship))
        .route("/activities/{id}", web::get().to(get_activity));
}

fn activity_json(body: impl serde::Serialize, data: &Data<FederationContext>) -> Answer {
    Ok(create_http_response(
        body,
        &object_context(data.urls.base()),
    )?)
}

fn not_found(what: &str) -> Answer {
    Ok(HttpResponse::NotFound().json(json!({
        "error": {"code": "not_found", "message": format!("{what} not found")}
    })))
}

/// WebFinger's relation of a human-readable profile page.
const PROFILE_PAGE: &str = "http://webfinger.net/rel/profile-page";

/// Query of a WebFinger lookup.
#[derive(Debug, Deserialize)]
struct WebfingerQuery {
    resource: String,
}

/// `acct:slug@host` → a convergence's `Group`; `acct:name@host` → an author's `Person` (a
/// convergence wins over an author of the same name); `acct:host@host` (the node's host without
/// its port) → the node's `Application`. Anything else is an unknown resource (404).
async fn webfinger(query: web::Query<WebfingerQuery>, config: Config) -> Answer {
    let data = config.to_request_data();
    let unknown = || not_found(&format!("resource {}", query.resource));
    let Ok(name) = extract_webfinger_name(&query.resource, &data) else {
        return unknown();
    };
    let mut conn = data.pool.get().await?;
    let (url, kind) = if name == node_actor_name(&data.urls) {
        (data.urls.url(crate::urls::NODE_ACTOR_PATH), "Application")
    } else if let Some(convergence) = federated_convergence(&mut conn, name).await? {
        (
            data.urls.url(&LocalUrls::group_path(&convergence.slug)),
            "Group",
        )
    } else if let Some(person) = person_actor(&mut conn, &data.urls, name).await? {
        (person.url().clone(), "Person")
    } else {
        return unknown();
    };
    let mut document =
        build_webfinger_response_with_type(query.resource.clone(), vec![(url, Some(kind))]);
    // The actor URLs answer ActivityPub JSON only: no HTML profile page to point to.
    document
        .links
        .retain(|link| link.rel.as_deref() != Some(PROFILE_PAGE));
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/jrd+json"))
        .json(document))
}

async fn nodeinfo_discovery(config: Config) -> HttpResponse {
    let data = config.to_request_data();
    HttpResponse::Ok().json(Discovery::version_2_1(data.urls.url("/nodeinfo/2.1")))
}

/// NodeInfo 2.1 with the node's real figures.
async fn nodeinfo(config: Config) -> Answer {
    let data = config.to_request_data();
    let mut conn = data.pool.get().await?;
    // Anonymous readers learn what is public only.
    let public = Visibility::Public.as_str();
    let local_live = artifacts::table
        .inner_join(convergences::table)
        .filter(convergences::visibility.eq(public))
        .filter(artifacts::origin_url.is_null())
        .filter(artifacts::deleted_at.is_null());
    let posts: i64 = local_live.count().get_result(&mut conn).await?;
    let authors = |days: i64| {
        local_live
            .filter(artifacts::author.is_not_null())
            .filter(artifacts::updated_at.gt(chrono::Utc::now() - chrono::Duration::days(days)))
            .select(sql::<BigInt>("count(DISTINCT author)"))
    };
    let total: i64 = local_live
        .filter(artifacts::author.is_not_null())
        .select(sql::<BigInt>("count(DISTINCT author)"))
        .get_result(&mut conn)
        .await?;
    let active_halfyear: i64 = authors(180).get_result(&mut conn).await?;
    let active_month: i64 = authors(30).get_result(&mut conn).await?;
    let convergence_count: i64 = convergences::table
        .filter(convergences::origin_url.is_null())
        .filter(convergences::visibility.eq(public))
        .select(count_star())
        .get_result(&mut conn)
        .await?;
    let (sources, targets) = diesel::alias!(artifacts as sources, artifacts as targets);
    let (source_convergences, target_convergences) = diesel::alias!(
        convergences as source_convergences,
        convergences as target_convergences
    );
    let relationship_count: i64 = artifact_relationships::table
        .inner_join(
            sources.on(sources
                .field(artifacts::id)
                .eq(artifact_relationships::source_id)),
        )
        .inner_join(
            targets.on(targets
                .field(artifacts::id)
                .eq(artifact_relationships::target_id)),
        )
        .inner_join(
            source_convergences.on(source_convergences
                .field(convergences::id)
                .eq(sources.field(artifacts::convergence_id))),
        )
        .inner_join(
            target_convergences.on(target_convergences
                .field(convergences::id)
                .eq(targets.field(artifacts::convergence_id))),
        )
        .filter(artifact_relationships::origin_url.is_null())
        .filter(
            source_convergences
                .field(convergences::visibility)
                .eq(public),
        )
        .filter(
            target_convergences
                .field(convergences::visibility)
                .eq(public),
        )
        .select(count_star())
        .get_result(&mut conn)
        .await?;
    let document = NodeInfo::new(
        env!("CARGO_PKG_VERSION"),
        Some(env!("CARGO_PKG_REPOSITORY")).filter(|repository| !repository.is_empty()),
        Usage {
            users: Users {
                total,
                active_halfyear,
                active_month,
            },
            local_posts: posts,
        },
        json!({
            "nodeName": kg_federation::origin::instance(data.urls.base()),
            "convergences": convergence_count,
            "relationships": relationship_count,
        }),
    );
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, MEDIA_TYPE_2_1))
        .json(document))
}

async fn context() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/ld+json"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .json(context_document())
}

/// The node's, a convergence's or an author's actor document.
async fn get_actor(request: HttpRequest, config: Config) -> Answer {
    let data = config.to_request_data();
    let url = data.urls.url(request.path());
    let mut conn = data.pool.get().await?;
    let actor = if request.path() == crate::urls::NODE_ACTOR_PATH {
        Some(node_actor(&mut conn, &data.urls).await?)
    } else {
        find_local_actor(&mut conn, &data.urls, &url).await?
    };
    match actor {
        Some(actor) => activity_json(actor.document, &data),
        None => not_found("actor"),
    }
}

/// Shared and per-convergence inboxes.
async fn post_inbox(request: HttpRequest, body: Bytes, config: Config) -> Answer {
    super::signature_headers::check(&request, std::time::SystemTime::now())?;
    let data = config.to_request_data();
    receive_activity::<WithContext<InboxActivity>, ActorRecord, FederationContext>(
        request, body, &data,
    )
    .await
}

async fn public_convergence(
    data: &Data<FederationContext>,
    slug: &str,
) -> Result<Option<DbConvergence>, FederationError> {
    let mut conn = data.pool.get().await?;
    federated_convergence(&mut conn, slug).await
}

/// The convergence's outbox: how many artifacts it holds (pages are not served).
async fn outbox(path: web::Path<String>, config: Config) -> Answer {
    let data = config.to_request_data();
    let Some(convergence) = public_convergence(&data, &path).await? else {
        return not_found("convergence");
    };
    let mut conn = data.pool.get().await?;
    let total: i64 = artifacts::table
        .filter(artifacts::convergence_id.eq(convergence.id))
        .filter(artifacts::deleted_at.is_null())
        .count()
        .get_result(&mut conn)
        .await?;
    counted_outbox(
        &data,
        &format!("{}/outbox", LocalUrls::group_path(&path)),
        total,
    )
}

/// An `OrderedCollection` at `path` with `total` items (pages are not served).
fn counted_outbox(data: &Data<FederationContext>, path: &str, total: i64) -> Answer {
    activity_json(
        json!({"type": "OrderedCollection", "id": data.urls.url(path), "totalItems": total}),
        data,
    )
}

/// The node actor's outbox: it publishes nothing itself (ActivityPub requires every actor to
/// have one).
async fn node_outbox(request: HttpRequest, config: Config) -> Answer {
    let data = config.to_request_data();
    counted_outbox(&data, request.path(), 0)
}

/// An author's outbox: how many live public artifacts they wrote here.
async fn person_outbox(request: HttpRequest, path: web::Path<String>, config: Config) -> Answer {
    let data = config.to_request_data();
    let mut conn = data.pool.get().await?;
    if person_actor(&mut conn, &data.urls, &path).await?.is_none() {
        return not_found("actor");
    }
    let total: i64 = artifacts::table
        .inner_join(convergences::table)
        .filter(artifacts::author.eq(path.as_str()))
        .filter(artifacts::origin_url.is_null())
        .filter(artifacts::deleted_at.is_null())
        .filter(convergences::visibility.eq(Visibility::Public.as_str()))
        .filter(convergences::origin_url.is_null())
        .count()
        .get_result(&mut conn)
        .await?;
    counted_outbox(&data, request.path(), total)
}

/// The convergence's followers: how many there are (members are not listed).
async fn followers(path: web::Path<String>, config: Config) -> Answer {
    let data = config.to_request_data();
    let Some(convergence) = public_convergence(&data, &path).await? else {
        return not_found("convergence");
    };
    let mut conn = data.pool.get().await?;
    let total: i64 = federation_followers::table
        .filter(federation_followers::convergence_id.eq(convergence.id))
        .count()
        .get_result(&mut conn)
        .await?;
    let id = data
        .urls
        .url(&format!("{}/followers", LocalUrls::group_path(&path)));
    activity_json(
        json!({"type": "Collection", "id": id, "totalItems": total}),
        &data,
    )
}

/// Whether the convergence `id` is local and public (only those federate).
async fn federates(
    data: &Data<FederationContext>,
    convergence: Uuid,
) -> Result<bool, FederationError> {
    let mut conn = data.pool.get().await?;
    Ok(diesel::select(exists(
        convergences::table
            .find(convergence)
            .filter(convergences::visibility.eq("public"))
            .filter(convergences::origin_url.is_null()),
    ))
    .get_result(&mut conn)
    .await?)
}

/// An artifact as an `Article`; 410 with a `Tombstone` once deleted; a copy of a remote one
/// redirects to its origin.
async fn get_artifact(path: web::Path<Uuid>, config: Config) -> Answer {
    let data = config.to_request_data();
    let url = data.urls.artifact(*path);
    let Some(artifact) = StoredArtifact::read_from_id(url, &data).await? else {
        return not_found("artifact");
    };
    let public = match &artifact.row.origin_url {
        Some(origin) => {
            return Ok(HttpResponse::PermanentRedirect()
                .insert_header(("Location", origin.as_str()))
                .finish());
        }
        None => federates(&data, artifact.row.convergence_id).await?,
    };
    if !public {
        return not_found("artifact");
    }
    artifact
        .http_response(&object_context(data.urls.base()), &data)
        .await
}

/// A relationship as a `Relationship`; 410 with a `Tombstone` once deleted.
async fn get_relationship(path: web::Path<Uuid>, config: Config) -> Answer {
    let data = config.to_request_data();
    let id = *path;
    let mut conn = data.pool.get().await?;
    let row: Option<DbRelationship> = artifact_relationships::table
        .find(id)
        .filter(artifact_relationships::origin_url.is_null())
        .select(DbRelationship::as_select())
        .first(&mut conn)
        .await
        .optional()?;
    let Some(row) = row else {
        let deleted: Option<Uuid> = change_log::table
            .filter(change_log::entity_id.eq(id))
            .filter(change_log::entity.eq("relationship"))
            .filter(change_log::operation.eq("delete"))
            .select(change_log::convergence_id)
            .first(&mut conn)
            .await
            .optional()?;
        return match deleted {
            Some(convergence) if federates(&data, convergence).await? => {
                let tombstone = json!({"type": "Tombstone", "id": data.urls.relationship(id), "formerType": "Relationship"});
                Ok(HttpResponse::Gone()
                    .insert_header((CONTENT_TYPE, kg_federation::FEDERATION_CONTENT_TYPE))
                    .json(WithContext::new(
                        tombstone,
                        object_context(data.urls.base()),
                    )))
            }
            _ => not_found("relationship"),
        };
    };
    let convergence: DbConvergence = convergences::table
        .inner_join(artifacts::table.on(artifacts::convergence_id.eq(convergences::id)))
        .filter(artifacts::id.eq(row.source_id))
        .select(DbConvergence::as_select())
        .first(&mut conn)
        .await?;
    if convergence.visibility != "public" || convergence.origin_url.is_some() {
        return not_found("relationship");
    }
    match relationship_object(&mut conn, &data.urls, &row, &convergence).await? {
        Some(object) => activity_json(object, &data),
        None => not_found("relationship"),
    }
}

/// An activity this node queued, as it was sent; or the content activity inside one of its
/// Announces (with the Announce's context).
async fn get_activity(request: HttpRequest, config: Config) -> Answer {
    let data = config.to_request_data();
    let url = data.urls.url(request.path());
    let mut conn = data.pool.get().await?;
    let payload: Option<serde_json::Value> = federation_activities::table
        .filter(federation_activities::activity_url.eq(url.as_str()))
        .filter(federation_activities::retry_of.is_null())
        .select(federation_activities::payload)
        .first(&mut conn)
        .await
        .optional()?;
    let payload = match payload {
        Some(payload) => Some(payload),
        None => inner_activity(&mut conn, &url).await?,
    };
    match payload {
        Some(payload) => Ok(HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, kg_federation::FEDERATION_CONTENT_TYPE))
            .body(payload.to_string())),
        None => not_found("activity"),
    }
}

/// The content activity with id `url` inside a queued Announce, with the Announce's context.
async fn inner_activity(
    conn: &mut diesel_async::AsyncPgConnection,
    url: &url::Url,
) -> Result<Option<serde_json::Value>, FederationError> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Jsonb)]
        payload: serde_json::Value,
    }
    // Spelled as the index federation_activities_by_inner_id is.
    let row: Option<Row> = diesel::sql_query(
        "SELECT payload FROM federation_activities \
         WHERE (payload -> 'object' ->> 'id') = $1 \
           AND retry_of IS NULL AND payload ->> 'type' = 'Announce' LIMIT 1",
    )
    .bind::<diesel::sql_types::Text, _>(url.as_str())
    .get_result(conn)
    .await
    .optional()?;
    Ok(row.and_then(|Row { mut payload }| {
        let context = payload.get("@context").cloned();
        let mut inner = payload.get_mut("object")?.take();
        if let (Some(context), Some(object)) = (context, inner.as_object_mut()) {
            object.insert("@context".to_owned(), context);
        }
        Some(inner)
    }))
}
