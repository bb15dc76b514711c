//! JSON bodies: the request extractor (content type, size limit and error reporting with JSON
//! paths) and large responses serialized into one buffer.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, ContentType};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// Body size limit for the requests of a scope, set with `app_data`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Limit used when a scope sets none.
const DEFAULT_LIMIT: usize = 1024 * 1024;

/// Longest wait for the next chunk of a body, set with `app_data`: a client that declares a
/// body and stops sending it would otherwise hold a connection and a worker's attention.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// Idle time used when the app sets none.
const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A 200 response with `value` as JSON, serialized into a buffer of `size_hint` bytes to start
/// with: for large answers, where growing the buffer step by step would copy it several times.
pub fn json_response<T: Serialize>(value: &T, size_hint: usize) -> Result<HttpResponse, Error> {
    let mut body = Vec::with_capacity(size_hint);
    serde_json::to_writer(&mut body, value).map_err(Error::Encoding)?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body))
}

/// A JSON request body, deserialised with the path of any offending value reported.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<BodyLimit>()
            .map_or(DEFAULT_LIMIT, |limit| limit.0);
        let idle = req
            .app_data::<BodyTimeout>()
            .map_or(DEFAULT_BODY_TIMEOUT, |timeout| timeout.0);
        let is_json = {
            let essence = req.content_type();
            essence == "application/json" || essence.ends_with("+json")
        };
        let declared_length = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<usize>().ok());
        let payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(Error::UnsupportedMediaType);
            }
            let body = read_body(payload, declared_length, limit, idle).await?;
            parse(&body).map(ApiJson)
        })
    }
}

/// Reads a whole request body of at most `limit` bytes (413 above, before reading when the
/// declared length says so), waiting at most `idle` for each chunk.
pub async fn read_body(
    mut payload: Payload,
    declared_length: Option<usize>,
    limit: usize,
    idle: Duration,
) -> Result<Vec<u8>, Error> {
    if declared_length.is_some_and(|length| length > limit) {
        return Err(Error::PayloadTooLarge { limit });
    }
    let mut body = Vec::with_capacity(declared_length.unwrap_or(0).min(limit));
    loop {
        let next = tokio::time::timeout(idle, payload.next()).await;
        let Ok(next) = next else {
            return Err(Error::BodyTimeout {
                seconds: idle.as_secs(),
            });
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| Error::MalformedJson(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(Error::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub use crate::input::parse;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        n: u8,
    }

    #[test]
    fn errors_name_the_path_and_category() {
        let wrong_type = parse::<Probe>(br#"{"items": [{"n": 1}, {"n": "x"}]}"#);
        assert!(
            matches!(wrong_type, Err(Error::InvalidBody { ref field, .. }) if field == "items[1].n")
        );
        let unknown = parse::<Probe>(br#"{"items": [], "extra": 1}"#);
        assert!(matches!(unknown, Err(Error::UnknownField { .. })));
        assert!(matches!(
            parse::<Probe>(b"{\"items\": ["),
            Err(Error::MalformedJson(_))
        ));
        assert!(matches!(
            parse::<Probe>(b"{\"items\": []} x"),
            Err(Error::MalformedJson(_))
        ));
    }
}
