//! `GET /api/v1/events` and `GET /api/v1/convergences/{slug}/events`: Server-Sent Events.

use std::time::Duration;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, Responder, web};
use actix_web_lab::sse::Sse;
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

use crate::auth::{Caller, bearer_secret, caller_from_secret};
use crate::error::{Error, ErrorBody, Result};
use crate::service::convergences::find_readable;

use super::event::EVENT_TYPES;
use super::hub::EventHub;
use super::subscription::{Filter, Reader, Subscription};

/// How long a client waits before reconnecting, sent as the stream's `retry` field.
const RECONNECT_AFTER: Duration = Duration::from_secs(3);

/// The stream routes' OpenAPI description, merged into the node's.
#[derive(OpenApi)]
#[openapi(paths(node_events, convergence_events))]
pub struct EventsDoc;

/// Registers the stream routes (under `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/events").get(node_events))
        .service(web::resource("/convergences/{slug}/events").get(convergence_events));
}

/// Query of the stream routes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Replay every event after this change-log sequence number first (`Last-Event-ID` wins
    /// when both are given).
    after: Option<i64>,
    /// Comma-separated event types to send (default: all).
    types: Option<String>,
    /// A token, for clients that cannot send `Authorization` (browsers' `EventSource`). It is
    /// redacted in logs.
    access_token: Option<String>,
}

/// Every change the caller may read, as Server-Sent Events.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventsQuery),
    responses(
        (status = 200, description = "`text/event-stream`: `id` is the change-log sequence \
            number, `event` the type, `data` a JSON line with `seq`, `convergence`, `id` and \
            `entity`; `event: ready` once live; heartbeat comments", content_type = "text/event-stream"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn node_events(
    req: HttpRequest,
    hub: web::Data<EventHub>,
    query: web::Query<EventsQuery>,
) -> Result<impl Responder> {
    let query = query.into_inner();
    let reader = reader(&req, &hub, query.access_token.as_deref()).await?;
    stream(&req, &hub, reader, query, None)
}

/// The changes of one convergence (relationships: either end's), as Server-Sent Events.
#[utoipa::path(get, path = "/api/v1/convergences/{slug}/events", tag = "events",
    params(("slug" = String, Path, description = "Convergence slug"), EventsQuery),
    responses(
        (status = 200, description = "`text/event-stream`, as `/api/v1/events`",
            content_type = "text/event-stream"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn convergence_events(
    req: HttpRequest,
    hub: web::Data<EventHub>,
    slug: web::Path<String>,
    query: web::Query<EventsQuery>,
) -> Result<impl Responder> {
    let query = query.into_inner();
    let reader = reader(&req, &hub, query.access_token.as_deref()).await?;
    let convergence = {
        let mut conn = hub.pool().get().await?;
        find_readable(&mut conn, &reader.caller, &slug).await?
    };
    stream(&req, &hub, reader, query, Some(convergence.id))
}

/// The caller, from `Authorization` or (for `EventSource`) `access_token`.
async fn reader(req: &HttpRequest, hub: &EventHub, access_token: Option<&str>) -> Result<Reader> {
    let header = match req.headers().get(AUTHORIZATION) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| Error::InvalidToken)?),
    };
    let secret = match (header, access_token) {
        (Some(header), _) => Some(bearer_secret(header)?.to_owned()),
        (None, Some(token)) => Some(token.trim().to_owned()),
        (None, None) => None,
    };
    let caller = match &secret {
        Some(secret) => caller_from_secret(hub.pool(), secret).await?,
        None => Caller::anonymous(),
    };
    Ok(Reader { caller, secret })
}

fn stream(
    req: &HttpRequest,
    hub: &EventHub,
    reader: Reader,
    query: EventsQuery,
    convergence: Option<uuid::Uuid>,
) -> Result<impl Responder + use<>> {
    let after = match req.headers().get("last-event-id") {
        Some(value) => Some(position(
            value
                .to_str()
                .ok()
                .and_then(|value| value.trim().parse().ok()),
            "Last-Event-ID",
        )?),
        None => query
            .after
            .map(|after| position(Some(after), "after"))
            .transpose()?,
    };
    let filter = Filter {
        convergence,
        types: query.types.as_deref().map(parse_types).transpose()?,
    };
    let slot = hub.take_slot().ok_or(Error::TooManySubscribers)?;
    let subscription = Subscription::new(hub.clone(), slot, reader, filter, after);
    Ok(Sse::from_stream(subscription.into_stream()).with_retry_duration(RECONNECT_AFTER))
}

/// A change-log position: a whole number, 0 or more.
fn position(seq: Option<i64>, what: &str) -> Result<i64> {
    seq.filter(|seq| *seq >= 0).ok_or_else(|| {
        Error::InvalidParameter(format!(
            "{what} must be a change-log sequence number (0 or more)"
        ))
    })
}

fn parse_types(list: &str) -> Result<Vec<&'static str>> {
    let types: Vec<&'static str> = list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            EVENT_TYPES
                .iter()
                .find(|known| **known == name)
                .copied()
                .ok_or_else(|| {
                    Error::InvalidParameter(format!(
                        "unknown event type '{name}'; known: {}",
                        EVENT_TYPES.join(", ")
                    ))
                })
        })
        .collect::<Result<_>>()?;
    if types.is_empty() {
        return Err(Error::InvalidParameter(format!(
            "types names no event type; known: {}",
            EVENT_TYPES.join(", ")
        )));
    }
    Ok(types)
}
